//! The kernel module: `/proc/net/drop_tcp_sock` in every network namespace.
//!
//! A write is checked whole first ([`tuple::validate`]): one malformed token refuses it
//! with `EINVAL` and a kernel log line naming the token, and nothing of it is applied.
//! Otherwise every tuple is looked up in the namespace the file belongs to and its socket
//! dropped ([`kernel::tcp::drop_connection`]: TIME_WAIT sockets freed, other connections
//! closed without a reset, request sockets left alone, listeners never found). Tuples
//! that match nothing are logged, not errors. A summary line per write says what
//! happened; per-tuple lines are capped at [`DETAIL_LINES`] per write.

use crate::tuple::{self, Reason, Tuple, TupleError};
use core::fmt;
use kernel::kthread::cond_resched;
use kernel::pernet::{Namespace, PernetOperations, Registration};
use kernel::prelude::*;
use kernel::proc::{NetFile, NetWriteFile};
use kernel::tcp::{self, Outcome};

/// Per-tuple kernel log lines (closed, skipped, unmatched) printed for one write; the
/// rest are only counted in the write's summary line.
pub const DETAIL_LINES: usize = 16;

/// Bytes of a refused token shown in the log line.
const TOKEN_SHOWN: usize = 64;

/// The proc file's behaviour.
struct DropFile;

impl NetWriteFile for DropFile {
    const NAME: &'static CStr = c"drop_tcp_sock";
    const MODE: u16 = 0o600;
    const MAX_WRITE: usize = tuple::MAX_WRITE;

    fn write(net: &Namespace, data: &[u8]) -> Result<usize> {
        apply(net, data)
    }
}

fn apply(net: &Namespace, data: &[u8]) -> Result<usize> {
    let count = match tuple::validate(data) {
        Ok(n) => n,
        Err(e) => return Err(refuse(net, data, &e)),
    };
    if count == 0 {
        return Ok(data.len());
    }
    let mut report = Report::new(net.inum());
    for t in tuple::tuples(data) {
        // `validate` found no error, so every item is a tuple.
        let Ok(t) = t else { break };
        let outcome = tcp::drop_connection(net, t.local, t.remote);
        report.add(&t, outcome);
        cond_resched();
    }
    report.finish();
    Ok(data.len())
}

/// Logs why a write is refused and picks its errno.
fn refuse(net: &Namespace, data: &[u8], e: &TupleError) -> Error {
    if e.reason == Reason::WriteTooLarge {
        // The proc layer refuses these before copying; kept for completeness.
        return EFBIG;
    }
    pr_warn!(
        "netns {}: write refused, nothing applied: token {} \"{}\": {}",
        net.inum(),
        e.index,
        tuple::escaped(e.token(data), TOKEN_SHOWN),
        e.reason.as_str()
    );
    EINVAL
}

/// Counts and capped log lines for one write.
struct Report {
    netns: u32,
    tuples: usize,
    time_wait: usize,
    closed: usize,
    skipped: usize,
    missing: usize,
    details: usize,
}

impl Report {
    fn new(netns: u32) -> Self {
        Self { netns, tuples: 0, time_wait: 0, closed: 0, skipped: 0, missing: 0, details: 0 }
    }

    fn add(&mut self, t: &Tuple, outcome: Outcome) {
        self.tuples = self.tuples.saturating_add(1);
        match outcome {
            Outcome::TimeWaitDropped => self.time_wait = self.time_wait.saturating_add(1),
            Outcome::Closed(state) => {
                self.closed = self.closed.saturating_add(1);
                self.detail(format_args!("closed {} (was {}) without a reset", t, tcp::state_name(state)));
            }
            Outcome::NotFound => {
                self.missing = self.missing.saturating_add(1);
                self.detail(format_args!("no socket for {}", t));
            }
            Outcome::SkippedRequest => {
                self.skipped = self.skipped.saturating_add(1);
                self.detail(format_args!("skipped {}: handshake in progress (request socket)", t));
            }
            Outcome::SkippedClosed => {
                self.skipped = self.skipped.saturating_add(1);
                self.detail(format_args!("skipped {}: already closed", t));
            }
        }
    }

    fn detail(&mut self, line: fmt::Arguments<'_>) {
        if self.details < DETAIL_LINES {
            pr_notice!("netns {}: {}", self.netns, line);
        }
        self.details = self.details.saturating_add(1);
    }

    fn finish(&self) {
        let hidden = self.details.saturating_sub(DETAIL_LINES);
        pr_info!(
            "netns {}: {} tuple(s): {} TIME_WAIT dropped, {} closed, {} skipped, {} not found{}",
            self.netns,
            self.tuples,
            self.time_wait,
            self.closed,
            self.skipped,
            self.missing,
            Hidden(hidden)
        );
    }
}

/// `; N more tuple line(s) not shown` when the detail lines were capped.
struct Hidden(usize);

impl fmt::Display for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 0 {
            write!(f, "; {} more tuple line(s) not shown", self.0)?;
        }
        Ok(())
    }
}

static PERNET: PernetOperations = PernetOperations::new::<NetFile<DropFile>>();

struct DropTcpSocket {
    _files: Registration,
}

impl Module for DropTcpSocket {
    fn init() -> Result<Self> {
        let files = Registration::register(&PERNET).inspect_err(|e| {
            pr_err!("cannot create /proc/net/drop_tcp_sock: {:?}", e);
        })?;
        pr_info!("loaded: /proc/net/drop_tcp_sock in every network namespace");
        Ok(Self { _files: files })
    }
}

impl Drop for DropTcpSocket {
    fn drop(&mut self) {
        // Dropping the registration removes the file from every namespace, after the
        // writes in progress.
        pr_info!("unloading");
    }
}

kernel::module! {
    type: DropTcpSocket,
    name: "drop_tcp_socket",
    author: "The kmods-rs developers",
    description: "Drops chosen TCP sockets (TIME_WAIT first of all) through /proc/net/drop_tcp_sock",
    license: "Dual MIT/GPL",
}
