//! kecho: a TCP echo server inside the kernel.
//!
//! Every byte a client sends comes back, binary-safe, until the client closes. Each
//! connection is a work item on a CMWQ workqueue, run only when its socket is ready
//! (see the `common` crate), so thousands of connections can be open at once.
#![no_std]
#![deny(unsafe_code)]
#![feature(used_with_arg)]

mod echo;

use common::{Server, ServerConfig};
use kernel::net::SocketAddr;
use kernel::prelude::*;
use kernel::workqueue::QueueFlags;

struct Kecho {
    /// Removed first: it shows the server's counters.
    _status: kernel::proc::ReadFile<echo::StatusFile>,
    server: Server<echo::Echo>,
}

impl Module for Kecho {
    fn init() -> Result<Self> {
        let port = params::port.get();
        let backlog = params::backlog.get();
        let bench = params::bench.get();
        if backlog <= 0 {
            pr_err!("backlog must be positive (got {})", backlog);
            return Err(EINVAL);
        }
        let per_cpu = params::per_cpu.get();
        let queue_flags = if bench || per_cpu { QueueFlags::BOUND } else { QueueFlags::UNBOUND };
        let config = ServerConfig {
            queue_name: c"kecho_wq",
            thread_name: c"kecho_accept",
            cpu_thread_name: c"kecho_acc",
            addr: SocketAddr::any_v6(port),
            backlog,
            queue_flags,
            max_active: 0,
            max_connections: params::max_connections.get(),
            per_cpu,
            // A connection that has sent nothing yet (a user at a terminal) is served too.
            defer_accept_s: 0,
            // Echo only reads and writes: no file per socket.
            send_files: false,
        };
        let timeout_ms = params::timeout_ms.get();
        let bytes = kernel::allocator::try_arc(kernel::cpu::Counters::try_new()?)?;
        let server = Server::start(config, echo::Echo::new(timeout_ms, bytes.clone())?).inspect_err(|e| {
            pr_err!("cannot listen on port {}: {:?}", port, e);
        })?;
        pr_info!(
            "listening on port {} ({}; {} listener(s), backlog {}, {} workqueue, idle timeout {} ms, at most {} connections)",
            port,
            server.reach(),
            server.listeners(),
            backlog,
            if bench || per_cpu { "bound per-CPU" } else { "unbound" },
            timeout_ms,
            params::max_connections.get()
        );
        let status = echo::StatusFile { server: server.stats(), bytes };
        let status = kernel::proc::ReadFile::create(c"kecho", kernel::allocator::try_arc(status)?)?;
        Ok(Kecho { _status: status, server })
    }
}

impl Drop for Kecho {
    fn drop(&mut self) {
        let accepted = self.server.accepted();
        let open = self.server.open_connections();
        pr_info!(
            "stopping: {} connection(s) served, {} refused, {} still open",
            accepted,
            self.server.refused(),
            open
        );
        // Dropping the server closes every connection and waits for every work item.
    }
}

module! {
    type: Kecho,
    name: "kecho",
    author: "The kmods-rs developers",
    description: "TCP echo server inside the kernel (connections are CMWQ work items)",
    license: "Dual MIT/GPL",
    params: {
        port: u16 { default: 12345, permissions: 0o444, description: "TCP port to listen on (all IPv6 and IPv4 addresses; IPv4 only on a kernel without IPv6)" },
        backlog: i32 { default: 128, permissions: 0o444, description: "Listen backlog" },
        timeout_ms: u32 { default: 600000, permissions: 0o444, description: "Close connections with no byte received or sent for this many milliseconds (default 10 minutes); 0 = never" },
        max_connections: u32 { default: 16384, permissions: 0o444, description: "Most connections open at once; more are closed at accept (logged at most every 5 s); 0 = no limit" },
        bench: bool { default: false, permissions: 0o444, description: "0: unbound CMWQ workqueue; 1: bound per-CPU workqueue (locality, as the system queue)" },
        per_cpu: bool { default: false, permissions: 0o444, description: "1: a listener and accept thread per online CPU (SO_REUSEPORT, SO_INCOMING_CPU) and a bound workqueue, so a connection is accepted and served on the CPU its packets arrive on; 0: one accept thread" },
    },
}
