//! One HTTP connection: read requests, answer them in order, stream bodies.
//!
//! All I/O is non-blocking; the connection's work item runs when the socket has data or
//! room (see `common`). Output is a byte queue (`out`) plus, for files, a streamed body
//! (`body.rs`) read in bounded chunks: the head and the first chunk go out in one
//! scatter-gather send. Bodies from `SPLICE_FROM` bytes up are instead spliced from the
//! page cache into the socket (no copy; the `sendfile` parameter), after the head;
//! from `CORK_FROM` up the socket is corked until the body's end.
//! Requests pipelined behind the current one wait in the input buffer until its response
//! is fully queued. What to answer is decided below this file, in `content.rs`.
//!
//! Deadlines: a connection is always in one [`Phase`], which has a time limit counted
//! from the phase's start (or, while sending, from the last progress). The server's
//! per-connection timer serves the connection when it passes (see `common`).

use super::body::{FileBody, Flush, CORK_FROM, SPLICE_FROM};
use super::cache::{self, Cache};
use super::content::{self, Reply, Scratch, Site};
use super::stats::{self, HttpStats};
use crate::http::parser::{self, Status};
use crate::http::status::StatusCode;
use common::{Handler, Step};
use kernel::error::code::EAGAIN;
use kernel::cred::Credential;
use kernel::crypto::Deflate;
use kernel::fs::File;
use kernel::sync::Pool;
use kernel::net::{Shutdown, TcpStream};
use kernel::kthread::{self, Thread};
use kernel::prelude::*;

/// Input buffer limit: larger than the parser's limits (8 KiB request line, 16 KiB of
/// headers), so an oversized request is reported by the parser (414/431).
const IN_CAP: usize = 26 * 1024;
/// Initial input buffer; grown (doubling, up to IN_CAP) only for large requests, so a
/// connection costs little memory while it waits.
const IN_START: usize = 2048;
/// Loop rounds per run before yielding the worker to other connections.
const BUDGET: usize = 16;
/// Scratch buffer sets beyond one per worker (a run that finds none allocates).
const SCRATCH_EXTRA: usize = 2;
/// Unread request bytes discarded before closing after an error (so the close is a FIN,
/// not a reset that could destroy the error response in flight).
const DRAIN_MAX: usize = 64 * 1024;
/// How long a closing connection waits for the client to close its side after the last
/// response (then closes anyway; like nginx's lingering_timeout), counted again from
/// each time the client is seen to have acknowledged more of what was sent.
const LINGER_MS: u32 = 5000;

/// A last request's answer is closed at once (left to the kernel) only while at most
/// this much of it is unacknowledged (see the close in `serve_run`): every file up to
/// 64 KiB, and larger ones whose client keeps up.
const CLOSE_AT_ONCE_UNACKED: u32 = 128 * 1024;

/// Time limits of the phases of a connection (ms; 0: none).
#[derive(Clone, Copy)]
pub struct Timeouts {
    /// A request head must be complete this long after its first byte (or after the
    /// accept, for the first request).
    pub head_ms: u32,
    /// A response must make progress (some bytes sent) at least this often.
    pub send_ms: u32,
    /// A keep-alive connection may wait this long for its next request.
    pub idle_ms: u32,
}

/// What a connection is doing, for its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Receiving a request head (`since`: its first byte, or the accept).
    Head,
    /// Keep-alive, between requests (`since`: the end of the last response).
    Idle,
    /// Sending a response (`since`: the last progress).
    Send,
    /// After the last response of a closing connection, discarding input until the
    /// client closes (`since`: the end of that response).
    Linger,
}

/// The handler shared by all connections.
pub struct Http {
    /// What is served and how: all that answers depend on (see `content`).
    pub(super) site: Site,
    /// Who requests are served as: lookups, listings and opens are checked by the kernel
    /// against these credentials.
    cred: Credential,
    timeouts: Timeouts,
    /// The cache's maintenance thread.
    maintainer: Option<Thread>,
    /// Buffers lent to a connection while its work item runs (one per worker that can
    /// run at once, a few more for luck): a request answered at once, from the cache,
    /// allocates nothing and clears nothing. A connection keeps a buffer past its run
    /// only while it holds part of a request or of a response.
    scratch: Pool<ConnScratch>,
}

/// What one run of a connection's work item borrows: the input buffer and the answer's
/// buffers (`content::Scratch`). Empty until first used.
#[derive(Default)]
struct ConnScratch {
    input: Vec<u8>,
    answer: Scratch,
}

impl Drop for Http {
    fn drop(&mut self) {
        // Before the cache goes: the thread holds a reference and may be reclaiming.
        if let Some(t) = self.maintainer.take() {
            t.stop();
        }
        if let Some(c) = self.site.cache.as_ref() {
            let n = &c.counters;
            pr_info!(
                "cache: {} hit(s) ({} after a check), {} miss(es), {} replaced, {} evicted, {} expired; {} entries, {} KiB at stop",
                n.sum(cache::stat::HITS),
                n.sum(cache::stat::REVALIDATED),
                n.sum(cache::stat::MISSES),
                n.sum(cache::stat::REPLACED),
                n.sum(cache::stat::EVICTED),
                n.sum(cache::stat::EXPIRED),
                c.entries(),
                c.bytes() / 1024
            );
        }
    }
}

/// The cache's maintenance thread: upkeep every quarter ttl (at least every second).
fn maintain_loop(cache: Arc<Cache>) -> i32 {
    let tick = (cache.settings().ttl_ms / 4).clamp(50, 1000);
    while !kthread::should_stop() {
        kernel::time::msleep(tick);
        cache.maintain(kernel::time::monotonic_ms());
    }
    0
}

impl Http {
    pub fn new(
        root: File,
        cred: Credential,
        timeouts: Timeouts,
        listings: bool,
        sendfile: bool,
        compressors: Pool<Deflate>,
        cache: Option<cache::Settings>,
        stats: Arc<HttpStats>,
        workers: usize,
    ) -> Result<Self> {
        let cache = match cache {
            Some(settings) => Some(kernel::allocator::try_arc(Cache::new(settings)?)?),
            None => None,
        };
        let maintainer = match cache.as_ref() {
            Some(c) => {
                let c = c.clone();
                Some(Thread::spawn(c"khttpd_cache", move || maintain_loop(c))?)
            }
            None => None,
        };
        let body_max = cache.as_ref().map_or(SPLICE_FROM as usize, |c| c.settings().body_max);
        let scratch = Pool::new(workers.saturating_add(SCRATCH_EXTRA), || Some(ConnScratch::default()))?;
        Ok(Http {
            site: Site { root, listings, sendfile, compressors, cache, body_max, stats },
            cred,
            timeouts,
            maintainer,
            scratch,
        })
    }

    fn limit_ms(&self, phase: Phase) -> u32 {
        match phase {
            Phase::Head => self.timeouts.head_ms,
            Phase::Idle => self.timeouts.idle_ms,
            Phase::Send => self.timeouts.send_ms,
            Phase::Linger => LINGER_MS,
        }
    }

    /// Called where the connection would wait for its socket: `Some(Wait)` normally,
    /// `Some(Close)` when the phase's time is up, `None` when a 408 was queued instead
    /// (serve on to send it).
    fn wait(&self, c: &mut Conn, stream: &TcpStream, now: u64, scratch: &mut ConnScratch) -> Option<Step> {
        let limit = self.limit_ms(c.phase);
        if limit > 0 && now.saturating_sub(c.since) >= u64::from(limit) {
            if c.phase == Phase::Linger {
                // Still delivering the answer (the client acknowledged more since the
                // last look): keep the socket, do not hand it to the kernel as an orphan
                // with data queued (see the close in `serve_run`).
                let unacked = stream.unacked();
                if unacked > 0 && unacked < c.unacked {
                    c.unacked = unacked;
                    c.since = now;
                    return Some(Step::Wait);
                }
            }
            // A head was started but not finished in time: say so (RFC 9110 15.5.9).
            // A connection that never sent a byte (e.g. a browser's preconnect), an idle
            // keep-alive one, a stalled reader: close without a word.
            if c.phase == Phase::Head && c.in_len > 0 {
                let head_only = c.input.get(..c.in_len).is_some_and(parser::is_head_request);
                let now_s = kernel::time::real_seconds();
                let reply = content::error_reply(&mut scratch.answer.head, StatusCode::RequestTimeout, now_s, head_only);
                let Ok(reply) = reply else { return Some(Step::Close) };
                self.site.stats.add(stats::REQUESTS, 1);
                c.in_len = 0;
                c.start_reply(reply, false, now);
                return None;
            }
            return Some(Step::Close);
        }
        Some(Step::Wait)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.site.stats.get(stats::REQUESTS)
    }
}

/// The gauge a phase counts in.
fn gauge_of(p: Phase) -> usize {
    match p {
        Phase::Head => stats::READING,
        Phase::Send => stats::WRITING,
        Phase::Idle | Phase::Linger => stats::WAITING,
    }
}

impl Drop for Conn {
    /// Leaves its gauge exactly once, however the connection ended (or never started).
    fn drop(&mut self) {
        self.stats.dec(gauge_of(self.phase));
    }
}

/// Per-connection state.
pub struct Conn {
    input: Vec<u8>,
    in_len: usize,
    /// The head being sent: `out[out_off..out_len]` is left.
    out: Vec<u8>,
    out_off: usize,
    out_len: usize,
    body: Option<FileBody>,
    /// Close once the queued output is sent.
    close_after: bool,
    /// The current response answers a request the client sent as its last
    /// (`Connection: close`, or HTTP/1.0 without keep-alive), parsed whole.
    last_request: bool,
    /// The socket is corked for the current body (see `CORK_FROM`).
    corked: bool,
    /// After the last response of a closing connection: bytes of input discarded since
    /// the write side was shut (`None` until then).
    draining: Option<usize>,
    /// While lingering: bytes sent and not yet acknowledged at the last look (the
    /// linger's time limit restarts while this falls).
    unacked: u32,
    phase: Phase,
    stats: Arc<HttpStats>,
    /// Start of the phase's time limit (monotonic ms).
    since: u64,
}

impl Conn {
    /// Moves to phase `p`, keeping the reading/writing/waiting gauges right.
    fn set_phase(&mut self, p: Phase) {
        if p != self.phase {
            self.stats.dec(gauge_of(self.phase));
            self.stats.inc(gauge_of(p));
            self.phase = p;
        }
    }

    /// Starts sending `reply`; `last_request`: it answers the request the client sent as
    /// its last (see `Conn::last_request`).
    fn start_reply(&mut self, reply: Reply, last_request: bool, now: u64) {
        self.stats.response(reply.head());
        self.out_len = reply.head_len.min(reply.head.len());
        self.out = reply.head;
        self.out_off = 0;
        self.body = reply.body;
        self.close_after = !reply.keep_open;
        self.last_request = last_request;
        self.set_phase(Phase::Send);
        self.since = now;
    }

    /// Sends what is queued; any bytes sent move the send deadline.
    fn flush(&mut self, stream: &TcpStream, now: u64) -> Flush {
        let left_before = self.bytes_left();
        let r = self.flush_inner(stream);
        if self.corked && matches!(r, Flush::Done) {
            // Uncorking sends the held tail. Before a close or half-close it stays held:
            // the FIN that follows at once sends it, in the same segment.
            if !self.close_after {
                stream.set_cork(false);
            }
            self.corked = false;
        }
        let left = self.bytes_left();
        if left != left_before {
            self.since = now;
            self.stats.add(stats::BYTES_SENT, left_before.saturating_sub(left));
        }
        r
    }

    /// Bytes of the current response not sent yet (a measure of progress).
    fn bytes_left(&self) -> u64 {
        let head = self.out_len.saturating_sub(self.out_off) as u64;
        let body = self.body.as_ref().map_or(0, |b| b.left());
        head.saturating_add(body)
    }

    fn flush_inner(&mut self, stream: &TcpStream) -> Flush {
        loop {
            // Read the next chunk before sending, even with the head still queued, so
            // that the head and a small body leave in one send.
            if let Some(b) = self.body.as_mut() {
                match b.refill() {
                    Ok(true) => {}
                    Ok(false) => {
                        self.body = None;
                        continue;
                    }
                    Err(_) => return Flush::Failed,
                }
            }
            self.update_cork(stream);
            let head_sent = self.out_off >= self.out_len;
            if head_sent && self.body.as_ref().is_none_or(|b| b.pending().is_empty()) {
                if let Some(b) = self.body.as_mut().filter(|b| b.splices()) {
                    match b.splice_some(stream, &self.stats, self.close_after) {
                        Ok(()) => continue,
                        Err(e) => return e,
                    }
                }
                return Flush::Done;
            }
            let head = self.out.get(self.out_off..self.out_len).unwrap_or(&[]);
            let body = self.body.as_ref().map(|b| b.pending()).unwrap_or(&[]);
            // The last response is held back (corked) until the close or half-close that
            // follows it at once: its last segment then carries the FIN, one packet fewer
            // each way.
            let more = self.close_after || self.body.as_ref().is_some_and(|b| b.more_after_pending());
            match stream.write_vectored(&[head, body], false, more) {
                Ok(mut n) => {
                    let from_head = n.min(head.len());
                    self.out_off += from_head;
                    n -= from_head;
                    if let Some(b) = self.body.as_mut() {
                        b.consume(n);
                    }
                }
                Err(e) if e == EAGAIN => return Flush::WouldBlock,
                Err(_) => return Flush::Failed,
            }
        }
    }

    /// Corks the socket for a body that leaves in more than one send (`CORK_FROM`), but
    /// not while TCP is short of memory: under `tcp_mem` pressure receivers dropped the
    /// full segments far more often (measured, 1,000 clients of a 1 MiB file: 15-19
    /// out-of-order drops per response corked, 1-3 not) and throughput fell 9-18 %.
    fn update_cork(&mut self, stream: &TcpStream) {
        if self.corked {
            if stream.under_memory_pressure() {
                stream.set_cork(false);
                self.corked = false;
            }
        } else if self.body.as_ref().is_some_and(|b| b.left() >= CORK_FROM) && !stream.under_memory_pressure() {
            stream.set_cork(true);
            self.corked = true;
        }
    }

    /// Gives the buffers it no longer needs back to the run's scratch set (or frees
    /// them): an idle connection holds none. Grown buffers are freed, not kept.
    fn return_scratch(&mut self, s: &mut ConnScratch) {
        if self.in_len == 0 {
            let buf = core::mem::take(&mut self.input);
            if s.input.is_empty() && buf.len() == IN_START {
                s.input = buf;
            }
        }
        self.recycle_head(s);
    }

    /// Gives a sent head's buffer back to the scratch set (so that the next response,
    /// in the same run or a later one, is written there), or frees it.
    fn recycle_head(&mut self, s: &mut ConnScratch) {
        if self.out_off >= self.out_len {
            let buf = core::mem::take(&mut self.out);
            (self.out_off, self.out_len) = (0, 0);
            if s.answer.head.is_empty() && buf.len() == content::HEAD_BUF {
                s.answer.head = buf;
            }
        }
    }

    fn consume_input(&mut self, n: usize) {
        // `in_len <= input.len()` always holds; `get_mut` lets the compiler see it, so
        // `copy_within` keeps no range check that could panic.
        let Some(live) = self.input.get_mut(..self.in_len) else {
            self.in_len = 0;
            return;
        };
        let n = n.min(live.len());
        live.copy_within(n.., 0);
        self.in_len -= n;
    }
}

impl Handler for Http {
    type State = Conn;

    fn new_state(&self) -> Result<Conn> {
        Ok(Conn {
            input: Vec::new(),
            in_len: 0,
            out: Vec::new(),
            out_off: 0,
            out_len: 0,
            body: None,
            close_after: false,
            last_request: false,
            corked: false,
            draining: None,
            unacked: 0,
            phase: Phase::Head,
            stats: {
                self.site.stats.inc(stats::READING);
                self.site.stats.clone()
            },
            since: kernel::time::monotonic_ms(),
        })
    }

    fn refusal_state(&self) -> Option<Conn> {
        let mut c = self.new_state().ok()?;
        let reply =
            content::error_reply(&mut Vec::new(), StatusCode::ServiceUnavailable, kernel::time::real_seconds(), false)
                .ok()?;
        let now = c.since;
        c.start_reply(reply, false, now);
        Some(c)
    }

    fn deadline(&self, c: &Conn) -> Option<u64> {
        let limit = self.limit_ms(c.phase);
        (limit > 0).then(|| c.since.saturating_add(u64::from(limit)))
    }

    fn serve(&self, c: &mut Conn, stream: &TcpStream) -> Step {
        // Without a free set (more runs at once than workers): buffers of this run only.
        let mut own = ConnScratch::default();
        let mut guard = self.scratch.take();
        let scratch = guard.as_deref_mut().unwrap_or(&mut own);
        let step = self.serve_run(c, stream, scratch);
        c.return_scratch(scratch);
        step
    }
}

impl Http {
    /// One run of a connection's work item, with `scratch` lent for the run.
    fn serve_run(&self, c: &mut Conn, stream: &TcpStream, scratch: &mut ConnScratch) -> Step {
        let now = kernel::time::monotonic_ms();
        for _ in 0..BUDGET {
            match c.flush(stream, now) {
                Flush::Done => {}
                Flush::WouldBlock => match self.wait(c, stream, now, scratch) {
                    Some(step) => return step,
                    None => continue,
                },
                Flush::Failed => return Step::Close,
            }
            if c.phase == Phase::Send {
                // The response is out.
                let next = if c.close_after {
                    Phase::Linger
                } else if c.in_len > 0 {
                    Phase::Head
                } else {
                    Phase::Idle
                };
                c.set_phase(next);
                c.since = now;
            }
            if c.close_after {
                // Everything is sent: half-close, then discard what the client still
                // sends so that our close does not turn into a reset.
                let drained = match c.draining {
                    Some(n) => n,
                    None => {
                        // The client said this request was its last and sent nothing
                        // after it: close at once, as nginx does (the kernel still sends
                        // what is queued, then the FIN), and spare the run its FIN would
                        // need. Otherwise (an error, our own decision to close, bytes
                        // after the request) half-close and drain, so that what still
                        // arrives cannot reset the connection before the client has read
                        // the answer (RFC 9112, 9.6).
                        //
                        // Not with much of the answer unacknowledged, or while TCP is
                        // short of memory: a socket closed with data queued becomes an
                        // orphan, and an orphan is reset (`tcp_check_oom`, at the close or
                        // at any retransmit) whenever TCP's memory passes its hard limit,
                        // which under load it may do long after the close. Half-closed,
                        // the socket stays ours until the client has read the answer and
                        // closed.
                        if c.last_request
                            && c.in_len == 0
                            && stream.nothing_to_read()
                            && stream.unacked() <= CLOSE_AT_ONCE_UNACKED
                            && !stream.under_memory_pressure()
                        {
                            return Step::Close;
                        }
                        let _ = stream.shutdown(Shutdown::Write);
                        c.unacked = stream.unacked();
                        c.in_len = 0;
                        0
                    }
                };
                // Nothing came (the usual case right after the answer): wait for the
                // client's close without a read that would say EAGAIN.
                if stream.nothing_to_read() {
                    c.draining = Some(drained);
                    return self.wait(c, stream, now, scratch).unwrap_or(Step::Close);
                }
                if c.input.is_empty() {
                    let Ok(buf) = input_buffer(scratch) else { return Step::Close };
                    c.input = buf;
                }
                match stream.read(&mut c.input, false) {
                    Ok(n) if n > 0 && drained + n <= DRAIN_MAX => c.draining = Some(drained + n),
                    Err(e) if e == EAGAIN => {
                        c.draining = Some(drained);
                        return self.wait(c, stream, now, scratch).unwrap_or(Step::Close);
                    }
                    // EOF, error, or a client that keeps sending: close now.
                    _ => return Step::Close,
                }
                continue;
            }
            if c.in_len > 0 {
                c.recycle_head(scratch);
                let Some(input) = c.input.get(..c.in_len) else { return Step::Close };
                let reply = match parser::parse(input) {
                    Ok(Status::Partial) => None,
                    Ok(Status::Complete(req, used)) => {
                        let now_s = kernel::time::real_seconds();
                        let answer = &mut scratch.answer;
                        let last = !req.keep_alive();
                        Some((self.cred.act_as(|| content::respond(&self.site, &req, now_s, answer)), used, last))
                    }
                    Err(e) => {
                        let now_s = kernel::time::real_seconds();
                        let head_only = parser::is_head_request(input);
                        let reply = content::error_reply(&mut scratch.answer.head, e.status(), now_s, head_only);
                        Some((reply, c.in_len, false))
                    }
                };
                if let Some((reply, used, last)) = reply {
                    self.site.stats.add(stats::REQUESTS, 1);
                    c.consume_input(used);
                    match reply {
                        Ok(reply) => c.start_reply(reply, last, now),
                        // Out of memory while building a response: nothing sensible
                        // can be sent.
                        Err(_) => return Step::Close,
                    }
                    continue;
                }
                if c.in_len == c.input.len() {
                    if c.input.len() >= IN_CAP {
                        // Cannot happen with IN_CAP above the parser limits; close safely.
                        return Step::Close;
                    }
                    let new_len = (c.input.len() * 2).min(IN_CAP);
                    if c.input.try_resize(new_len, 0).is_err() {
                        return Step::Close;
                    }
                    continue;
                }
            }
            // A read that would say EAGAIN (after each answered request, in a run a
            // timer or write space started) is skipped: what arrives later runs the work
            // again (`TcpStream::nothing_to_read`). One `recvmsg` less per request.
            if stream.nothing_to_read() {
                match self.wait(c, stream, now, scratch) {
                    Some(step) => return step,
                    None => continue,
                }
            }
            if c.input.is_empty() {
                let Ok(buf) = input_buffer(scratch) else { return Step::Close };
                c.input = buf;
            }
            let Some(free) = c.input.get_mut(c.in_len..) else { return Step::Close };
            match stream.read(free, false) {
                Ok(0) => return Step::Close,
                Ok(n) => {
                    if c.phase == Phase::Idle {
                        // The next request's first byte: its head's time starts.
                        c.set_phase(Phase::Head);
                        c.since = now;
                    }
                    c.in_len += n;
                }
                Err(e) if e == EAGAIN => match self.wait(c, stream, now, scratch) {
                    Some(step) => return step,
                    None => continue,
                },
                Err(_) => return Step::Close,
            }
        }
        Step::Yield
    }
}

/// An input buffer of `IN_START` bytes: the scratch set's (not cleared: only bytes read
/// into it are ever parsed), or a new one.
fn input_buffer(scratch: &mut ConnScratch) -> Result<Vec<u8>> {
    if scratch.input.len() == IN_START {
        Ok(core::mem::take(&mut scratch.input))
    } else {
        kernel::allocator::try_vec(IN_START, 0u8)
    }
}
