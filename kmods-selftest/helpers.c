// SPDX-License-Identifier: MIT OR GPL-2.0-only
/* Compiles the shared C helpers with this module's Kbuild flags. */
#include "../kernel/helpers/helpers.c"
