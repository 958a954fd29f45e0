//! The server layer the modules share: a listening socket, an accept thread, and
//! connections served by work items on a CMWQ workqueue.
//!
//! # Design
//! Connection sockets are non-blocking. Their readiness callbacks (`sk_data_ready`,
//! `sk_write_space`, `sk_state_change`; softirq context) queue the connection's work
//! item, so a worker runs only when a socket has something to do, and no worker ever
//! blocks on a socket. The workqueue's `max_active` therefore limits how many
//! connections are *being served at this instant*, not how many are open: thousands of
//! idle connections cost only memory. (The course's C kecho parks one blocked work item
//! per connection and stalls at 256.)
//!
//! Time-outs cost nothing while they do not expire: each connection has one kernel
//! timer, moved to the deadline its handler names after every run (O(1)), which
//! queues the work item when it passes.
//!
//! Every live connection is on a registry list, so `rmmod` can close each socket, wait
//! for every work item and free everything, even with clients connected and under load.
//! See [`Server::drop`] for the shutdown order.
#![no_std]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod server;

pub use server::{Handler, Server, ServerConfig, ServerStats, Step};
