//! khttpd: an HTTP/1.1 file server inside the kernel.
//!
//! The protocol logic in [`http`] is plain `no_std`, allocation-free Rust so that it can
//! be unit tested on the host; the kernel glue (feature `kmod`) owns sockets, files and
//! buffers and calls into it.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![cfg_attr(feature = "kmod", feature(used_with_arg))]

pub mod http;

#[cfg(feature = "kmod")]
mod kmod;
