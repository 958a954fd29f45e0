//! Shared server layer (placeholder).
#![no_std]
