//! Live statistics: per-CPU counters on the hot path, summed into `/proc/net/khttpd`.
//!
//! The file's format (one `name value` pair per line, values decimal, in this order;
//! new names may be added at the end, so parse by name):
//!
//! ```text
//! connections_open 12          connections open now (= reading + writing + waiting,
//! reading 1                      except for refused ones being turned away)
//! writing 3                    sending a response
//! waiting 8                    keep-alive between requests, or closing
//! accepted 1000                connections accepted since load (refused included)
//! refused 0                    turned away by max_connections
//! requests 5000                requests answered (errors and 408 included)
//! responses_1xx 0
//! responses_2xx 4900           by status class
//! responses_3xx 50
//! responses_4xx 50
//! responses_5xx 0
//! bytes_sent 123456            response bytes sent (heads and bodies)
//! bytes_spliced 100000         of which sent without copying (spliced from the page
//!                                cache, or from the pages the cache holds)
//! compressed 20                responses sent gzip or deflate
//! cache_hits 4000              answers from the cache (0 with cache=0)
//! cache_misses 100
//! cache_entries 50
//! cache_bytes 1234             memory the cache is charged
//! accepted_cpu0 500            per_cpu=1 only: accepted by each CPU's listener
//! accepted_cpu1 500
//! allocations 20000            blocks khttpd's code asked the kernel allocator for
//! ```

use super::cache::{self, Cache};
use common::ServerStats;
use core::fmt::Write;
use kernel::cpu::Counters;
use kernel::prelude::*;
use kernel::proc::{SeqOut, Show};

/// Counter indices.
pub const READING: usize = 0;
pub const WRITING: usize = 1;
pub const WAITING: usize = 2;
pub const REQUESTS: usize = 3;
/// `RESPONSES + class - 1` for classes 1 to 5.
pub const RESPONSES: usize = 4;
pub const BYTES_SENT: usize = 9;
pub const BYTES_SPLICED: usize = 10;
pub const COMPRESSED: usize = 11;
const COUNT: usize = 12;

/// The HTTP side's counters. Gauges (reading, writing, waiting) go up and down on
/// different CPUs: each CPU's slot wraps, the sum is right.
pub struct HttpStats {
    c: Counters<COUNT>,
}

impl HttpStats {
    pub fn try_new() -> Result<HttpStats> {
        Ok(HttpStats { c: Counters::try_new()? })
    }

    pub fn add(&self, i: usize, v: u64) {
        self.c.add(i, v);
    }

    /// Gauge `i` up by one.
    pub fn inc(&self, i: usize) {
        self.c.add(i, 1);
    }

    /// Gauge `i` down by one.
    pub fn dec(&self, i: usize) {
        self.c.add(i, u64::MAX);
    }

    pub fn get(&self, i: usize) -> u64 {
        self.c.sum(i)
    }

    /// Counts a response by the status code in its head (`HTTP/1.1 NNN ...`).
    pub fn response(&self, head: &[u8]) {
        if let Some(d @ b'1'..=b'5') = head.get(9) {
            self.c.add(RESPONSES + usize::from(d - b'1'), 1);
        }
    }
}

/// What `/proc/net/khttpd` shows.
pub struct StatusFile {
    pub server: Arc<ServerStats>,
    pub http: Arc<HttpStats>,
    pub cache: Option<Arc<Cache>>,
}

impl Show for StatusFile {
    fn show(&self, out: &mut SeqOut<'_>) -> core::fmt::Result {
        let h = &self.http;
        // Gauges are sums of wrapping per-CPU slots: show them signed, clamped at 0
        // (a read between one CPU's +1 and another's -1 can be off by a little).
        let gauge = |i| (h.get(i) as i64).max(0);
        writeln!(out, "connections_open {}", self.server.open())?;
        writeln!(out, "reading {}", gauge(READING))?;
        writeln!(out, "writing {}", gauge(WRITING))?;
        writeln!(out, "waiting {}", gauge(WAITING))?;
        writeln!(out, "accepted {}", self.server.accepted())?;
        writeln!(out, "refused {}", self.server.refused())?;
        writeln!(out, "requests {}", h.get(REQUESTS))?;
        for class in 1..=5 {
            writeln!(out, "responses_{}xx {}", class, h.get(RESPONSES + class - 1))?;
        }
        writeln!(out, "bytes_sent {}", h.get(BYTES_SENT))?;
        writeln!(out, "bytes_spliced {}", h.get(BYTES_SPLICED))?;
        writeln!(out, "compressed {}", h.get(COMPRESSED))?;
        let (hits, misses, entries, bytes) = match self.cache.as_ref() {
            Some(c) => (c.counters.sum(cache::stat::HITS), c.counters.sum(cache::stat::MISSES), c.entries(), c.bytes()),
            None => (0, 0, 0, 0),
        };
        writeln!(out, "cache_hits {}", hits)?;
        writeln!(out, "cache_misses {}", misses)?;
        writeln!(out, "cache_entries {}", entries)?;
        writeln!(out, "cache_bytes {}", bytes)?;
        for (cpu, n) in self.server.accepted_per_cpu() {
            writeln!(out, "accepted_cpu{} {}", cpu, n)?;
        }
        writeln!(out, "allocations {}", kernel::allocator::calls())?;
        Ok(())
    }
}
