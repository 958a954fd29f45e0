//! One thread's event loop: `concurrency` connection slots driven by epoll.
//!
//! Each slot holds at most one connection. In HTTP/1.0 mode a connection
//! carries one request and the server closes it; in keep-alive mode it carries
//! requests one after another until the per-connection limit, the server's
//! `Connection: close`, or the end of the run.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::parser::ResponseParser;
use crate::sys::{self, Connect, Epoll, RawAddr};

/// Everything the workers share, read-only.
pub struct Config {
    pub addr: RawAddr,
    pub tcp: bool,
    /// The request for a connection that stays open.
    pub request: Vec<u8>,
    /// The same request with `Connection: close` (last one on a keep-alive connection).
    pub request_close: Vec<u8>,
    /// None: HTTP/1.0, one request per connection. Some(0): keep-alive, unlimited.
    pub keep_alive: Option<u64>,
    pub concurrency: usize,
    pub debug: bool,
    pub deadline: Option<Instant>,
    pub stop_fd: RawFd,
    pub progress: Option<Progress>,
}

/// Progress lines every tenth of a known request count.
pub struct Progress {
    pub total: u64,
    pub step: u64,
    pub done: AtomicU64,
}

impl Progress {
    fn note(&self) {
        let d = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if d % self.step == 0 {
            eprintln!("progress: {}% done", d * 100 / self.total);
        }
    }
}

pub struct Stats {
    pub good: u64,
    pub bad: u64,
    pub errors: u64,
    pub connections: u64,
    /// Bytes read from servers (heads and bodies, of finished responses or not).
    pub bytes: u64,
    /// Whether any connection got as far as sending its request.
    pub connected: bool,
    /// Latency in nanoseconds.
    pub hist: Histogram<u64>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            good: 0,
            bad: 0,
            errors: 0,
            connections: 0,
            bytes: 0,
            connected: false,
            // 1 ns .. 1 hour at 3 significant digits.
            hist: Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("histogram bounds"),
        }
    }

    pub fn merge(&mut self, other: &Stats) {
        self.good += other.good;
        self.bad += other.bad;
        self.errors += other.errors;
        self.connections += other.connections;
        self.bytes += other.bytes;
        self.connected |= other.connected;
        self.hist.add(&other.hist).expect("same histogram bounds");
    }
}

const STOP_TOKEN: u64 = u64::MAX;
const READ_BUF: usize = 64 * 1024;
const CONN_EVENTS: u32 =
    (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
const READABLE: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
const HUP: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    Writing,
    Reading,
    /// Response counted; waiting for the server's close.
    Draining,
}

struct Slot {
    fd: RawFd,
    /// Bumped on every new connection so stale events are recognised.
    gen: u32,
    phase: Phase,
    sent: usize,
    /// Requests started on this connection, the current one included.
    on_conn: u64,
    last_on_conn: bool,
    got_bytes: bool,
    start: Instant,
    parser: ResponseParser,
}

pub struct Worker<'a> {
    cfg: &'a Config,
    id: usize,
    ep: Epoll,
    slots: Vec<Slot>,
    /// Requests not yet started; None runs until stopped.
    remaining: Option<u64>,
    open: usize,
    /// Slots to connect again after the next epoll_wait (so failing connects
    /// cannot starve Ctrl-C and the deadline).
    retry_connect: Vec<usize>,
    /// A unix listener's backlog was full: wait a little before retrying.
    backlog_full: bool,
    stopping: bool,
    buf: Vec<u8>,
    stats: Stats,
}

impl<'a> Worker<'a> {
    pub fn new(cfg: &'a Config, id: usize, quota: Option<u64>) -> std::io::Result<Worker<'a>> {
        let ep = Epoll::new()?;
        ep.add(cfg.stop_fd, libc::EPOLLIN as u32, STOP_TOKEN).map_err(std::io::Error::from_raw_os_error)?;
        let n = match quota {
            Some(q) => cfg.concurrency.min(q.min(usize::MAX as u64) as usize),
            None => cfg.concurrency,
        };
        let now = Instant::now();
        let slots = (0..n)
            .map(|_| Slot {
                fd: -1,
                gen: 0,
                phase: Phase::Idle,
                sent: 0,
                on_conn: 0,
                last_on_conn: false,
                got_bytes: false,
                start: now,
                parser: ResponseParser::new(),
            })
            .collect();
        Ok(Worker {
            cfg,
            id,
            ep,
            slots,
            remaining: quota,
            open: 0,
            retry_connect: Vec::new(),
            backlog_full: false,
            stopping: false,
            buf: vec![0; READ_BUF],
            stats: Stats::new(),
        })
    }

    pub fn run(mut self) -> Stats {
        for i in 0..self.slots.len() {
            self.start_slot(i);
        }
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        while !self.stopping && (self.open > 0 || !self.retry_connect.is_empty()) {
            let mut timeout = self.cfg.deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !self.retry_connect.is_empty() {
                let ms = if self.backlog_full { 1 } else { 0 };
                let short = std::time::Duration::from_millis(ms);
                timeout = Some(timeout.map_or(short, |t| t.min(short)));
                self.backlog_full = false;
            }
            let n = self.ep.wait(&mut events, timeout);
            if self.cfg.deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            for ev in &events[..n] {
                let (token, flags) = (ev.u64, ev.events);
                if token == STOP_TOKEN {
                    self.stopping = true;
                    break;
                }
                let (i, gen) = ((token & 0xffff_ffff) as usize, (token >> 32) as u32);
                if self.slots[i].gen == gen && self.slots[i].phase != Phase::Idle {
                    self.on_event(i, flags);
                }
            }
            for i in std::mem::take(&mut self.retry_connect) {
                self.start_slot(i);
            }
        }
        // Stopped early: requests still in flight are abandoned, not counted.
        for i in 0..self.slots.len() {
            if self.slots[i].phase != Phase::Idle {
                self.close_slot(i);
            }
        }
        self.stats
    }

    fn debug(&self, i: usize, msg: std::fmt::Arguments) {
        if self.cfg.debug {
            eprintln!("[t{} c{}] {}", self.id, i, msg);
        }
    }

    fn take_request(&mut self) -> bool {
        if self.stopping {
            return false;
        }
        match &mut self.remaining {
            None => true,
            Some(0) => false,
            Some(n) => {
                *n -= 1;
                true
            }
        }
    }

    fn give_back(&mut self) {
        if let Some(n) = &mut self.remaining {
            *n += 1;
        }
    }

    fn note_done(&self) {
        if let Some(p) = &self.cfg.progress {
            p.note();
        }
    }

    fn socket_error(&mut self, i: usize, what: &str, err: i32) {
        self.stats.errors += 1;
        self.debug(i, format_args!("socket error: {what}: {}", sys::strerror(err)));
        self.note_done();
    }

    /// Opens a new connection in slot `i` for the next request, if any is left.
    fn start_slot(&mut self, i: usize) {
        if self.take_request() {
            let start = Instant::now();
            let fd = match sys::socket(&self.cfg.addr) {
                Ok(fd) => fd,
                Err(e) => {
                    self.socket_error(i, "socket", e);
                    return self.retry_connect.push(i);
                }
            };
            if self.cfg.tcp && self.cfg.keep_alive.is_some() {
                sys::set_nodelay(fd);
            }
            self.stats.connections += 1;
            let state = match sys::connect(fd, &self.cfg.addr) {
                Ok(s) => s,
                Err(libc::EAGAIN) if !self.cfg.tcp => {
                    // A unix listener's backlog is full: not an error, try again soon.
                    sys::close(fd);
                    self.stats.connections -= 1;
                    self.give_back();
                    self.backlog_full = true;
                    return self.retry_connect.push(i);
                }
                Err(e) => {
                    sys::close(fd);
                    self.socket_error(i, "connect", e);
                    return self.retry_connect.push(i);
                }
            };
            let slot = &mut self.slots[i];
            slot.gen = slot.gen.wrapping_add(1);
            let token = (u64::from(slot.gen) << 32) | i as u64;
            if let Err(e) = self.ep.add(fd, CONN_EVENTS, token) {
                sys::close(fd);
                self.socket_error(i, "epoll_ctl", e);
                return self.retry_connect.push(i);
            }
            let slot = &mut self.slots[i];
            slot.fd = fd;
            slot.on_conn = 0;
            slot.start = start;
            self.open += 1;
            self.begin_request(i);
            self.debug(i, format_args!("connecting"));
            match state {
                Connect::InProgress => self.slots[i].phase = Phase::Connecting,
                Connect::Done => self.write_request(i),
            }
        }
    }

    /// Prepares slot `i` to send its next request (already taken from the quota).
    fn begin_request(&mut self, i: usize) {
        let keep_alive = self.cfg.keep_alive;
        let slot = &mut self.slots[i];
        slot.on_conn += 1;
        slot.last_on_conn = matches!(keep_alive, Some(n) if n > 0 && slot.on_conn >= n);
        slot.sent = 0;
        slot.got_bytes = false;
        slot.parser.reset();
        slot.phase = Phase::Writing;
    }

    fn on_event(&mut self, i: usize, flags: u32) {
        let gen = self.slots[i].gen;
        if self.slots[i].phase == Phase::Connecting {
            // Connected or failed: the write tells which.
            self.slots[i].phase = Phase::Writing;
            self.write_request(i);
        } else if self.slots[i].phase == Phase::Writing {
            self.write_request(i);
        }
        // A failed write may have put a new connection in the slot: the flags
        // were not about it.
        let phase = self.slots[i].phase;
        let same = self.slots[i].gen == gen;
        if same && (phase == Phase::Reading || phase == Phase::Draining) && flags & READABLE != 0 {
            self.read_response(i, flags & HUP != 0);
        }
    }

    fn write_request(&mut self, i: usize) {
        let cfg = self.cfg;
        let slot = &mut self.slots[i];
        if slot.sent == 0 && cfg.keep_alive.is_some() {
            // Keep-alive latency runs from send to last byte.
            slot.start = Instant::now();
        }
        let req = if slot.last_on_conn { &cfg.request_close } else { &cfg.request };
        while slot.sent < req.len() {
            match sys::send(slot.fd, &req[slot.sent..]) {
                Ok(n) => {
                    slot.sent += n;
                    self.stats.connected = true;
                }
                Err(libc::EAGAIN) => return,
                Err(libc::EINTR) => {}
                Err(e) => {
                    self.fail(i, "write", e);
                    return;
                }
            }
        }
        slot.phase = Phase::Reading;
    }

    fn read_response(&mut self, i: usize, hup: bool) {
        loop {
            let fd = self.slots[i].fd;
            let n = match sys::recv(fd, &mut self.buf) {
                Ok(0) => return self.on_eof(i),
                Ok(n) => n,
                Err(libc::EAGAIN) => return,
                Err(libc::EINTR) => continue,
                Err(e) => return self.fail(i, "read", e),
            };
            self.stats.bytes += n as u64;
            if self.cfg.debug {
                let text = String::from_utf8_lossy(&self.buf[..n]);
                self.debug(i, format_args!("received {n} bytes:\n{text}"));
            }
            let slot = &mut self.slots[i];
            if slot.phase == Phase::Reading {
                slot.got_bytes = true;
                match slot.parser.feed(&self.buf[..n]) {
                    Err(e) => {
                        // Framing is lost: count it bad and drop the connection.
                        self.stats.bad += 1;
                        self.note_done();
                        self.debug(i, format_args!("bad response: {e}"));
                        self.close_slot(i);
                        return self.start_slot(i);
                    }
                    Ok(used) if slot.parser.is_complete() => {
                        // Leftover bytes or a FIN from the server: nothing more can
                        // be read for a next request on this connection.
                        let spent = used < n || hup;
                        if !self.on_complete(i, spent) {
                            return;
                        }
                    }
                    Ok(_) => {}
                }
            }
            // A short read drained the socket; a later arrival brings a new edge.
            if n < self.buf.len() && !hup {
                return;
            }
        }
    }

    /// Counts a finished response; returns whether to keep reading (drain to close).
    /// `spent`: the connection cannot carry another request.
    fn on_complete(&mut self, i: usize, spent: bool) -> bool {
        let slot = &self.slots[i];
        let status = slot.parser.status().unwrap_or(0);
        let server_keeps = if self.cfg.keep_alive.is_some() {
            slot.parser.keep_alive()
        } else {
            slot.parser.keep_alive_http10()
        };
        let last = slot.last_on_conn;
        let ns = slot.start.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.stats.hist.saturating_record(ns.max(1));
        if (200..400).contains(&status) {
            self.stats.good += 1;
        } else {
            self.stats.bad += 1;
        }
        self.note_done();
        self.debug(i, format_args!("response {status}, {} us", ns / 1000));

        if !server_keeps {
            // The server closes; waiting for it leaves TIME_WAIT on its side.
            self.slots[i].phase = Phase::Draining;
            return true;
        }
        let reuse = self.cfg.keep_alive.is_some() && !last && !spent;
        if reuse && self.take_request() {
            self.begin_request(i);
            self.write_request(i);
        } else {
            if spent {
                self.debug(i, format_args!("connection not reusable; closing"));
            }
            self.close_slot(i);
            self.start_slot(i);
        }
        false
    }

    fn on_eof(&mut self, i: usize) {
        if self.slots[i].phase == Phase::Draining {
            self.debug(i, format_args!("closed by server"));
        } else {
            match self.slots[i].parser.eof() {
                Ok(()) => {
                    // Body delimited by close: complete now.
                    self.on_complete(i, false);
                }
                Err(e) if self.retryable(i) => {
                    self.debug(i, format_args!("idle connection closed ({e}); retrying"));
                    self.give_back();
                }
                Err(e) => {
                    self.stats.errors += 1;
                    self.note_done();
                    self.debug(i, format_args!("socket error: {e}"));
                }
            }
        }
        self.close_slot(i);
        self.start_slot(i);
    }

    /// A reused keep-alive connection that died before any byte of the reply:
    /// the server dropped it while idle, so the request is sent again elsewhere.
    fn retryable(&self, i: usize) -> bool {
        let slot = &self.slots[i];
        self.cfg.keep_alive.is_some() && slot.on_conn > 1 && !slot.got_bytes
    }

    fn fail(&mut self, i: usize, what: &str, err: i32) {
        if self.slots[i].phase == Phase::Draining {
            // The response was already counted; a reset at close changes nothing.
            self.debug(i, format_args!("{what} after response: {}", sys::strerror(err)));
        } else if self.retryable(i) {
            self.debug(i, format_args!("idle connection failed ({}); retrying", sys::strerror(err)));
            self.give_back();
        } else {
            self.socket_error(i, what, err);
        }
        self.close_slot(i);
        self.start_slot(i);
    }

    fn close_slot(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        sys::close(slot.fd);
        slot.fd = -1;
        slot.phase = Phase::Idle;
        slot.gen = slot.gen.wrapping_add(1);
        self.open -= 1;
    }
}
