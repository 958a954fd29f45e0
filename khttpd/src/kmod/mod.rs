//! The kernel module: parameters, start-up checks, and the server on `common`.

mod body;
mod cache;
mod conn;
mod content;
mod stats;

use common::{Server, ServerConfig};
use kernel::cred::Credential;
use kernel::fs::{File, FileKind};
use kernel::net::SocketAddr;
use kernel::proc::ReadFile;
use kernel::prelude::*;
use kernel::crypto::Deflate;
use kernel::sync::Pool;
use kernel::workqueue::QueueFlags;

struct Khttpd {
    /// Removed first: it shows the server's counters.
    _status: ReadFile<stats::StatusFile>,
    server: Server<conn::Http>,
}

impl Module for Khttpd {
    fn init() -> Result<Self> {
        let port = params::port.get();
        let backlog = params::backlog.get();
        let root_path = params::root.get();
        if backlog <= 0 {
            pr_err!("backlog must be positive (got {})", backlog);
            return Err(EINVAL);
        }
        let defer_accept_s = params::defer_accept_s.get();
        if defer_accept_s > 600 {
            pr_err!("defer_accept_s must be 0 to 600 (got {})", defer_accept_s);
            return Err(EINVAL);
        }
        let per_cpu = params::per_cpu.get();
        let max_active = match params::max_active.get() {
            // Sockets never block a worker, so more running workers than CPUs only add
            // switching: with the kernel's default (256) a 1,000-client listing load ran
            // at a third of the rate it reaches with 4 to 16 (docs/bench-http). A bound
            // queue's max_active counts per CPU.
            0 if per_cpu => 4,
            0 => (4 * kernel::cpu::online_cpus()).clamp(8, 512) as i32,
            n @ 1..=512 => n,
            n => {
                pr_err!("max_active must be 0 (automatic: 4 per CPU) or 1 to 512 (got {})", n);
                return Err(EINVAL);
            }
        };
        let root_str = root_path.to_str().unwrap_or("<not UTF-8>");
        if !root_path.to_bytes().starts_with(b"/") {
            pr_err!("root must be an absolute path (got \"{}\")", root_str);
            return Err(EINVAL);
        }
        let root = File::open_dir(root_path).inspect_err(|e| {
            pr_err!("cannot open root directory \"{}\": {:?}", root_str, e);
        })?;
        match root.stat() {
            Ok(st) if st.kind == FileKind::Directory => {}
            Ok(_) => {
                pr_err!("root \"{}\" is not a directory", root_str);
                return Err(ENOTDIR);
            }
            Err(e) => {
                pr_err!("cannot stat root \"{}\": {:?}", root_str, e);
                return Err(e);
            }
        }
        let config = ServerConfig {
            queue_name: c"khttpd_wq",
            thread_name: c"khttpd_accept",
            cpu_thread_name: c"khttpd_acc",
            addr: SocketAddr::any_v6(port),
            backlog,
            queue_flags: if per_cpu { QueueFlags::BOUND } else { QueueFlags::UNBOUND },
            max_active,
            max_connections: params::max_connections.get(),
            per_cpu,
            defer_accept_s,
            send_files: true,
        };
        let (uid, gid) = (params::uid.get(), params::gid.get());
        let cred = Credential::unprivileged(uid, gid).inspect_err(|e| {
            pr_err!("cannot make credentials for uid {} gid {}: {:?}", uid, gid, e);
        })?;
        let timeouts = conn::Timeouts {
            head_ms: params::header_timeout_ms.get(),
            send_ms: params::send_timeout_ms.get(),
            idle_ms: params::timeout_ms.get(),
        };
        // Threads that may serve (and compress) at once: max_active workers on each CPU,
        // and with per-CPU accept threads those too (they serve a connection's first run).
        let cpus = kernel::cpu::online_cpus() as i32;
        let workers = if per_cpu { max_active.saturating_add(1).saturating_mul(cpus) } else { max_active };
        let compressors = if params::compress.get() { compressors(workers) } else { Pool::empty() };
        let compress_note = if compressors.is_empty() { "off" } else { "gzip/deflate" };
        let http_stats = kernel::allocator::try_arc(stats::HttpStats::try_new()?)?;
        let cache = params::cache.get().then(|| cache::Settings {
            ttl_ms: params::cache_ttl_ms.get().max(1),
            max_bytes: (params::cache_max_kb.get() as usize).saturating_mul(1024),
            body_max: (params::cache_body_kb.get() as usize).saturating_mul(1024),
        });
        let handler = conn::Http::new(
            root,
            cred,
            timeouts,
            params::listings.get(),
            params::sendfile.get(),
            compressors,
            cache,
            http_stats.clone(),
            usize::try_from(workers).unwrap_or(0),
        )
        .inspect_err(|e| pr_err!("cannot set the cache up: {:?}", e))?;
        let server = Server::start(config, handler).inspect_err(|e| {
            pr_err!("cannot listen on port {}: {:?}", port, e);
        })?;
        pr_info!(
            "serving {} on port {} ({}) as uid {} gid {} ({} listener(s), backlog {}, {} workers at most{}, {} connections at most, time-outs: head {} ms, send {} ms, idle {} ms; accept deferred {} s; sendfile {}, compression {})",
            root_str,
            port,
            server.reach(),
            uid,
            gid,
            server.listeners(),
            backlog,
            max_active,
            if per_cpu { " per CPU" } else { "" },
            params::max_connections.get(),
            timeouts.head_ms,
            timeouts.send_ms,
            timeouts.idle_ms,
            defer_accept_s,
            if params::sendfile.get() { "on" } else { "off" },
            compress_note
        );
        let status = stats::StatusFile {
            server: server.stats(),
            http: http_stats,
            cache: server.handler().site.cache.clone(),
        };
        let status = ReadFile::create(c"khttpd", kernel::allocator::try_arc(status)?)?;
        Ok(Khttpd { _status: status, server })
    }
}

/// One compressor per worker that may run at once (at most 16: each holds zlib's
/// workspace); none, with a log line, when the kernel has no deflate.
fn compressors(max_active: i32) -> Pool<Deflate> {
    let mut made = 0usize;
    let pool = Pool::new(max_active.clamp(1, 16) as usize, || match Deflate::new() {
        Ok(d) => {
            made += 1;
            Some(d)
        }
        Err(e) => {
            if made == 0 {
                pr_warn!("compression off: no deflate in the kernel's crypto API ({:?})", e);
            }
            None
        }
    });
    // Without room for the slot table: no compression rather than no server.
    pool.unwrap_or_else(|_| Pool::empty())
}

impl Drop for Khttpd {
    fn drop(&mut self) {
        pr_info!(
            "stopping: {} connection(s), {} request(s) served, {} connection(s) refused, {} still open",
            self.server.accepted(),
            self.server.handler().requests(),
            self.server.refused(),
            self.server.open_connections()
        );
    }
}

kernel::module! {
    type: Khttpd,
    name: "khttpd",
    author: "The kmods-rs developers",
    description: "HTTP/1.1 static file server inside the kernel (connections are CMWQ work items)",
    license: "Dual MIT/GPL",
    params: {
        port: u16 { default: 8081, permissions: 0o444, description: "TCP port to listen on (all IPv6 and IPv4 addresses; IPv4 only on a kernel without IPv6)" },
        backlog: i32 { default: 100, permissions: 0o444, description: "Listen backlog" },
        root: str { default: "/var/www/html", permissions: 0o444, description: "Directory to serve (absolute path; must exist at load time)" },
        max_active: i32 { default: 0, permissions: 0o444, description: "Connections served at the same instant (workqueue max_active, 1-512, per CPU with per_cpu=1; 0: 4 per online CPU, at least 8); others wait their turn" },
        timeout_ms: u32 { default: 10000, permissions: 0o444, description: "Keep-alive: close a connection that sends no new request for this many milliseconds after a response; 0 = never" },
        header_timeout_ms: u32 { default: 10000, permissions: 0o444, description: "A request head must arrive whole within this many milliseconds of its first byte (of the accept, for a connection's first request), else 408 and close; trickling bytes do not extend it; 0 = never" },
        send_timeout_ms: u32 { default: 30000, permissions: 0o444, description: "Close a connection whose response makes no progress (client not reading) for this many milliseconds; 0 = never" },
        max_connections: u32 { default: 16384, permissions: 0o444, description: "Most connections open at once; beyond it a new connection gets 503 and is closed (logged at most every 5 s); 0 = no limit" },
        cache: bool { default: true, permissions: 0o444, description: "Keep what paths resolved to (open files, small bodies, compressed variants, listings) in a cache read without locks (RCU); 0: look up, open and read on every request" },
        cache_ttl_ms: u32 { default: 1000, permissions: 0o444, description: "A cached answer is used this many milliseconds, then checked against the file system (changed files are reloaded, deleted ones dropped)" },
        cache_max_kb: u32 { default: 65536, permissions: 0o444, description: "Memory the cache may use (KiB); least recently used entries are evicted beyond it" },
        cache_body_kb: u32 { default: 2048, permissions: 0o444, description: "Files smaller than this (KiB, at most 1/8 of cache_max_kb) are held in memory, from 16 KiB up in pages sent by reference; larger ones are spliced from the page cache" },
        uid: u32 { default: 65534, permissions: 0o444, description: "User whose permissions decide what is served (path lookup, listing, open); default nobody" },
        gid: u32 { default: 65534, permissions: 0o444, description: "Group of that user (no supplementary groups); default nogroup" },
        listings: bool { default: true, permissions: 0o444, description: "Send an HTML listing for directories without index.html (0: 403 instead)" },
        compress: bool { default: true, permissions: 0o444, description: "gzip/deflate for text-like files of 256 bytes to 1 MiB when the client accepts it (kernel crypto API); 0: never" },
        per_cpu: bool { default: true, permissions: 0o444, description: "1 (default): a listener and accept thread per online CPU (SO_REUSEPORT, SO_INCOMING_CPU) and a bound workqueue (max_active per CPU), so a connection is accepted and served on the CPU its packets arrive on; 0: one accept thread and an unbound workqueue" },
        defer_accept_s: u32 { default: 1, permissions: 0o444, description: "A new connection is handed to khttpd when its first bytes arrive, or after this many seconds (rounded up to the kernel's SYN-ACK retransmission times) if it stays silent (TCP_DEFER_ACCEPT); 0-600, 0 = at the end of the handshake" },
        sendfile: bool { default: true, permissions: 0o444, description: "Splice file bodies of 16 KiB and more from the page cache into the socket without copying (0: copy through a buffer)" },
    },
}
