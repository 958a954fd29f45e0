//! Safe abstractions over the kernel's C API for out-of-tree Rust modules.
//!
//! This crate is the only place where `unsafe` code talks to the kernel: module crates
//! build on the types here (sockets, work items, locks, parameters) and need little or
//! no `unsafe` of their own. It is built for the kernel target only, against bindings
//! generated for the kernel in `KDIR` (see the top-level Makefile).
#![no_std]
#![feature(allocator_api)]
#![feature(vec_push_within_capacity)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;

pub mod allocator;
pub mod cpu;
pub mod cred;
pub mod crypto;
pub mod error;
pub mod fs;
pub mod kprobes;
pub mod kthread;
pub mod layout;
pub mod list;
pub mod module;
pub mod net;
pub mod owner;
pub mod page;
pub mod param;
pub mod print;
pub mod rcu;
pub mod sync;
pub mod time;
pub mod timer;
pub mod workqueue;

// Network namespaces, /proc/net files, user copies, TCP socket dropping (drop-tcp-socket).
pub mod pernet;
pub mod proc;
pub mod tcp;
pub mod uaccess;

pub use bindings;
pub use macros::module;

/// The names most modules need, in one `use kernel::prelude::*;`.
pub mod prelude {
    pub use crate::error::{code::*, Error, Result};
    pub use crate::allocator::VecExt;
    pub use crate::module::Module;
    pub use crate::{pr_crit, pr_debug, pr_err, pr_info, pr_notice, pr_warn};
    pub use alloc::boxed::Box;
    pub use alloc::sync::Arc;
    pub use alloc::vec::Vec;
    pub use core::ffi::CStr;
    pub use macros::module;
}

/// Panics end in `BUG()`: the message is printed first, then the kernel oopses with a
/// normal stack trace. Module code must not panic (a dead worker hangs `rmmod`), so this
/// is a last resort that at least reports where the bug is.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // scripts/kbuild/check-no-panic.py looks for this message's prefix in built modules.
    print::print_fmt(print::Level::Emerg, format_args!("Rust panic: {}", info));
    // SAFETY: `BUG()` has no preconditions; it never returns.
    unsafe { bindings::kmods_helper_bug(true) };
    // Unreachable; gives objtool a visible dead end after the call.
    #[allow(clippy::empty_loop)]
    loop {}
}
