//! drop-tcp-socket: drops chosen TCP sockets (mainly TIME_WAIT) through
//! `/proc/net/drop_tcp_sock`.
//!
//! Without the `kmod` feature this crate is only the write-format parser in
//! [`tuple`], shared by the kernel module and the `droptw` user tool and
//! testable on the host. With it, [`kmod`] is the kernel module.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![cfg_attr(feature = "kmod", feature(used_with_arg))]

pub mod tuple;

#[cfg(feature = "kmod")]
pub mod kmod;
