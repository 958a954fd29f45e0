//! kecho: a TCP echo server inside the kernel (bring-up version).
#![no_std]
#![feature(used_with_arg)]

use kernel::prelude::*;

struct Kecho;

impl Module for Kecho {
    fn init() -> Result<Self> {
        pr_info!("loaded, port {}", params::port.get());
        Ok(Kecho)
    }
}

impl Drop for Kecho {
    fn drop(&mut self) {
        pr_info!("unloaded");
    }
}

module! {
    type: Kecho,
    name: "kecho",
    author: "The kmods-rs developers",
    description: "TCP echo server inside the kernel",
    license: "Dual MIT/GPL",
    params: {
        port: u16 { default: 12345, permissions: 0o444, description: "TCP port to listen on" },
        backlog: i32 { default: 128, permissions: 0o444, description: "Listen backlog" },
        bench: bool { default: false, permissions: 0o444, description: "Use a bound (per-CPU) workqueue instead of the unbound one" },
    },
}
