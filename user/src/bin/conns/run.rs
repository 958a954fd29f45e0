//! The event loop: one thread, one edge-triggered epoll set, every connection in it
//! from its connect to the end. Three phases one after the other: connect all, one
//! request (or echo) on each, hold them all.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::proto::{self, Bad, EchoCheck, HttpCheck, Progress};
use crate::sys;

/// What each connection sends and expects back.
pub enum Mode {
    Http { request: Vec<u8>, expect: Option<Vec<u8>> },
    Echo { len: u64 },
}

pub struct Config {
    pub addr: SocketAddr,
    pub count: u64,
    pub sources: u8,
    /// Most connects (phase 1) or requests (phase 2) in flight at once.
    pub batch: u64,
    pub mode: Mode,
    pub hold: Duration,
    pub wait_file: Option<PathBuf>,
    pub wait_timeout: Duration,
    pub ready_file: Option<PathBuf>,
    /// A phase gives up on what is still in flight after this long without progress.
    pub stall: Duration,
    pub progress: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Connecting,
    /// Connected, nothing sent yet.
    Connected,
    /// Part of the request sent; the rest waits for write space.
    Sending,
    /// Request sent, answer not complete yet.
    Waiting,
    /// Answer complete and correct; held open.
    Answered,
    /// The server closed (or reset) an answered connection.
    ServerClosed,
    /// Failed somewhere; its socket is closed.
    Failed,
}

/// One connection: 16 bytes, so 100,000 of them take 1.6 MB of the client's memory.
struct Conn {
    fd: RawFd,
    st: St,
    /// Microseconds since the phase started, when this connection's step started.
    t0: u32,
    /// Bytes of the request sent.
    sent: u32,
}

enum Check {
    Http(HttpCheck),
    Echo(EchoCheck),
}

impl Check {
    fn received(&self) -> u64 {
        match self {
            Check::Http(c) => c.received(),
            Check::Echo(c) => c.received(),
        }
    }
}

/// Per-phase figures.
#[derive(Default)]
pub struct Phase {
    pub attempted: u64,
    pub ok: u64,
    pub failed: u64,
    pub errors: BTreeMap<String, u64>,
    pub seconds: f64,
    pub latency: Option<Histogram<u64>>,
    /// The phase gave up after `stall` without progress.
    pub stalled: bool,
}

impl Phase {
    fn new() -> Phase {
        Phase { latency: Histogram::new_with_bounds(1, 24 * 3_600_000_000, 3).ok(), ..Phase::default() }
    }

    fn fail(&mut self, kind: &str) {
        self.failed += 1;
        *self.errors.entry(kind.to_string()).or_default() += 1;
    }

    fn record(&mut self, us: u64) {
        if let Some(h) = self.latency.as_mut() {
            let _ = h.record(us.max(1));
        }
    }
}

/// The hold phase.
#[derive(Default)]
pub struct Hold {
    /// Answered connections open when the hold began.
    pub open_at_start: u64,
    pub seconds: f64,
    /// Server closes (FIN) and resets of held connections, before and after SIGUSR1.
    pub closed_before_mark: u64,
    pub closed_after_mark: u64,
    pub reset: u64,
    pub unexpected_data: u64,
    /// From SIGUSR1 (the stop of the server) to the last close seen.
    pub mark_to_last_close: Option<f64>,
    /// CLOCK_BOOTTIME of the mark and of the last close (as /proc/uptime counts).
    pub mark_uptime: Option<f64>,
    pub last_close_uptime: Option<f64>,
    pub still_open: u64,
    /// --wait-file did not appear within --wait-timeout.
    pub wait_timed_out: bool,
}

pub struct Report {
    pub connect: Phase,
    pub answer: Phase,
    /// Answered connections the server closed between their answer and the hold.
    pub closed_before_hold: u64,
    pub hold: Hold,
    pub rss_kb_at_ready: Option<u64>,
    pub ready_uptime: f64,
}

const EV_ALL: u32 = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
const EV_READ: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
const SIGNAL_TOKEN: u64 = u64::MAX;
const TICK: Duration = Duration::from_millis(100);

struct Runner<'a> {
    cfg: &'a Config,
    ep: sys::Epoll,
    sig_fd: RawFd,
    target: sys::RawAddr,
    conns: Vec<Conn>,
    checks: HashMap<u32, Check>,
    buf: Vec<u8>,
    events: Vec<libc::epoll_event>,
    phase_start: Instant,
    inflight: u64,
    last_progress: Instant,
    mark: Option<Instant>,
    /// The hold has begun (closes count as closes during the hold).
    holding: bool,
    report: Report,
}

pub fn run(cfg: &Config) -> Result<Report, String> {
    let ep = sys::Epoll::new().map_err(|e| format!("epoll_create1: {e}"))?;
    let sig_fd = sys::sigusr1_fd().map_err(|e| format!("signalfd: {e}"))?;
    ep.add(sig_fd, libc::EPOLLIN as u32, SIGNAL_TOKEN).map_err(|e| format!("epoll_ctl: {}", sys::errno_name(e)))?;
    let now = Instant::now();
    let mut r = Runner {
        cfg,
        ep,
        sig_fd,
        target: sys::RawAddr::new(cfg.addr),
        conns: Vec::with_capacity(cfg.count as usize),
        checks: HashMap::new(),
        buf: vec![0u8; 64 * 1024],
        events: vec![libc::epoll_event { events: 0, u64: 0 }; 1024],
        phase_start: now,
        inflight: 0,
        last_progress: now,
        mark: None,
        holding: false,
        report: Report {
            connect: Phase::new(),
            answer: Phase::new(),
            closed_before_hold: 0,
            hold: Hold::default(),
            rss_kb_at_ready: None,
            ready_uptime: 0.0,
        },
    };
    r.connect_all();
    r.answer_all();
    r.ready();
    r.hold();
    Ok(r.report)
}

fn limit(batch: u64) -> u64 {
    if batch == 0 { u64::MAX } else { batch }
}

impl Runner<'_> {
    fn micros(&self) -> u32 {
        self.phase_start.elapsed().as_micros().min(u32::MAX as u128) as u32
    }

    fn note(&self, what: &str, done: u64, total: u64, step: &mut u64) {
        if !self.cfg.progress || total < 10 {
            return;
        }
        let tenth = total.div_ceil(10);
        if done >= *step * tenth {
            eprintln!("conns: {what} {done}/{total} after {:.1} s", self.phase_start.elapsed().as_secs_f64());
            *step = done / tenth + 1;
        }
    }

    /// Waits for events and hands them out; the signalfd sets the mark.
    fn poll(&mut self, timeout: Duration) {
        let n = self.ep.wait(&mut self.events, Some(timeout));
        for k in 0..n {
            let ev = self.events[k];
            let (token, flags) = (ev.u64, ev.events);
            if token == SIGNAL_TOKEN {
                if sys::drain_signalfd(self.sig_fd) > 0 && self.mark.is_none() {
                    self.mark = Some(Instant::now());
                    self.report.hold.mark_uptime = Some(sys::uptime());
                }
                continue;
            }
            self.event(token as u32, flags);
        }
    }

    fn event(&mut self, i: u32, flags: u32) {
        let Some(c) = self.conns.get(i as usize) else { return };
        match c.st {
            St::Connecting => {
                let fd = c.fd;
                let err = sys::so_error(fd);
                if err == 0 && flags & libc::EPOLLOUT as u32 != 0 {
                    let us = self.micros().saturating_sub(c.t0);
                    self.report.connect.ok += 1;
                    self.report.connect.record(u64::from(us));
                    self.conns[i as usize].st = St::Connected;
                    self.inflight -= 1;
                    self.last_progress = Instant::now();
                    if flags & EV_READ != 0 {
                        self.readable(i);
                    }
                } else if err != 0 || flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0 {
                    let kind = if err != 0 { sys::errno_name(err) } else { "hangup".to_string() };
                    self.report.connect.fail(&kind);
                    self.drop_conn(i);
                    self.inflight -= 1;
                    self.last_progress = Instant::now();
                }
            }
            St::Sending => {
                if flags & libc::EPOLLOUT as u32 != 0 {
                    self.send_more(i);
                }
                if flags & EV_READ != 0 {
                    self.readable(i);
                }
            }
            St::Connected | St::Waiting | St::Answered => {
                if flags & EV_READ != 0 {
                    self.readable(i);
                }
            }
            St::ServerClosed | St::Failed => {}
        }
    }

    fn drop_conn(&mut self, i: u32) {
        let c = &mut self.conns[i as usize];
        if c.fd >= 0 {
            sys::close(c.fd);
            c.fd = -1;
        }
        c.st = St::Failed;
        self.checks.remove(&i);
    }

    /// Phase 1: every connection, at most `batch` connects in flight.
    fn connect_all(&mut self) {
        let cfg = self.cfg;
        let start = Instant::now();
        self.phase_start = start;
        self.last_progress = start;
        let mut next = 0u64;
        let mut step = 1;
        loop {
            while self.inflight < limit(cfg.batch) && next < cfg.count {
                self.start_connect(next);
                next += 1;
            }
            let done = self.report.connect.ok + self.report.connect.failed;
            self.note("connected", self.report.connect.ok, cfg.count, &mut step);
            if next == cfg.count && self.inflight == 0 {
                break;
            }
            if self.last_progress.elapsed() > cfg.stall {
                self.give_up(St::Connecting, true);
                self.report.connect.stalled = true;
                eprintln!("conns: connect phase stalled: no connect finished for {} s ({done} of {} done)",
                          cfg.stall.as_secs(), cfg.count);
                break;
            }
            self.poll(TICK);
        }
        self.report.connect.attempted = next;
        self.report.connect.seconds = start.elapsed().as_secs_f64();
    }

    fn start_connect(&mut self, n: u64) {
        let i = self.conns.len() as u32;
        let t0 = self.micros();
        let src = proto::source_addr(n, self.cfg.sources);
        let fd = match sys::bound_socket(src) {
            Ok(fd) => fd,
            Err(e) => {
                self.report.connect.fail(&format!("socket_{}", sys::errno_name(e)));
                self.conns.push(Conn { fd: -1, st: St::Failed, t0, sent: 0 });
                return;
            }
        };
        self.conns.push(Conn { fd, st: St::Connecting, t0, sent: 0 });
        if let Err(e) = self.ep.add(fd, EV_ALL, u64::from(i)) {
            self.report.connect.fail(&format!("epoll_{}", sys::errno_name(e)));
            self.drop_conn(i);
            return;
        }
        match sys::connect(fd, &self.target) {
            Ok(false) => self.inflight += 1,
            Ok(true) => {
                self.report.connect.ok += 1;
                self.report.connect.record(1);
                self.conns[i as usize].st = St::Connected;
            }
            Err(e) => {
                self.report.connect.fail(&sys::errno_name(e));
                self.drop_conn(i);
            }
        }
    }

    /// Fails every connection still in `st` as timed out (phase stalled).
    fn give_up(&mut self, st: St, connect: bool) {
        for i in 0..self.conns.len() as u32 {
            let s = self.conns[i as usize].st;
            if s == st || (!connect && (s == St::Sending || s == St::Waiting)) {
                if connect {
                    self.report.connect.fail("timeout");
                } else {
                    self.report.answer.fail("timeout");
                }
                self.drop_conn(i);
                self.inflight = self.inflight.saturating_sub(1);
            }
        }
    }

    /// Phase 2: one request (or echo) on every connected connection, at most `batch`
    /// unanswered at once; the phase's time runs from the first send to the last answer.
    fn answer_all(&mut self) {
        let cfg = self.cfg;
        let start = Instant::now();
        self.phase_start = start;
        self.last_progress = start;
        self.inflight = 0;
        let total = self.conns.iter().filter(|c| c.st == St::Connected).count() as u64;
        let mut cursor = 0usize;
        let mut step = 1;
        let mut last_answer = start;
        loop {
            while self.inflight < limit(cfg.batch) && cursor < self.conns.len() {
                let i = cursor as u32;
                cursor += 1;
                if self.conns[i as usize].st == St::Connected {
                    self.start_request(i);
                }
            }
            let before = self.report.answer.ok;
            self.note("answered", self.report.answer.ok, total, &mut step);
            if cursor >= self.conns.len() && self.inflight == 0 {
                break;
            }
            if self.last_progress.elapsed() > cfg.stall {
                self.give_up(St::Waiting, false);
                self.report.answer.stalled = true;
                eprintln!("conns: answer phase stalled: nothing answered for {} s", cfg.stall.as_secs());
                break;
            }
            self.poll(TICK);
            if self.report.answer.ok != before {
                last_answer = Instant::now();
            }
        }
        self.report.answer.seconds = last_answer.duration_since(start).as_secs_f64();
    }

    fn start_request(&mut self, i: u32) {
        self.report.answer.attempted += 1;
        self.inflight += 1;
        let check = match &self.cfg.mode {
            Mode::Http { .. } => Check::Http(HttpCheck::new()),
            Mode::Echo { len } => Check::Echo(EchoCheck::new(u64::from(i), *len)),
        };
        self.checks.insert(i, check);
        let t0 = self.micros();
        let c = &mut self.conns[i as usize];
        c.t0 = t0;
        c.sent = 0;
        c.st = St::Sending;
        self.send_more(i);
    }

    fn request_len(&self) -> u64 {
        match &self.cfg.mode {
            Mode::Http { request, .. } => request.len() as u64,
            Mode::Echo { len } => *len,
        }
    }

    /// Sends what is left of connection `i`'s request until done or the socket is full.
    fn send_more(&mut self, i: u32) {
        let total = self.request_len();
        loop {
            let c = &self.conns[i as usize];
            let sent = u64::from(c.sent);
            if sent >= total {
                self.conns[i as usize].st = St::Waiting;
                return;
            }
            let fd = c.fd;
            let res = match &self.cfg.mode {
                Mode::Http { request, .. } => sys::send(fd, &request[sent as usize..]),
                Mode::Echo { .. } => {
                    let n = ((total - sent) as usize).min(self.buf.len());
                    proto::payload_into(u64::from(i), sent, &mut self.buf[..n]);
                    sys::send(fd, &self.buf[..n])
                }
            };
            match res {
                Ok(n) => self.conns[i as usize].sent += n as u32,
                Err(libc::EAGAIN) => return,
                Err(e) => {
                    self.answer_failed(i, &format!("send_{}", sys::errno_name(e)));
                    return;
                }
            }
        }
    }

    fn answer_failed(&mut self, i: u32, kind: &str) {
        self.report.answer.fail(kind);
        self.drop_conn(i);
        self.inflight -= 1;
        self.last_progress = Instant::now();
    }

    /// Reads everything the socket has, by the connection's state.
    fn readable(&mut self, i: u32) {
        loop {
            let c = &self.conns[i as usize];
            let (fd, st) = (c.fd, c.st);
            match sys::recv(fd, &mut self.buf) {
                Ok(0) => {
                    self.eof(i, st, None);
                    return;
                }
                Ok(n) => {
                    if !self.data(i, st, n) {
                        return;
                    }
                }
                Err(libc::EAGAIN) => return,
                Err(e) => {
                    self.eof(i, st, Some(e));
                    return;
                }
            }
        }
    }

    /// `n` bytes arrived in `self.buf`; false when the connection is done with.
    fn data(&mut self, i: u32, st: St, n: usize) -> bool {
        match st {
            St::Sending | St::Waiting => {
                let expect = match &self.cfg.mode {
                    Mode::Http { expect, .. } => expect.as_deref(),
                    Mode::Echo { .. } => None,
                };
                let res = match self.checks.get_mut(&i) {
                    Some(Check::Http(c)) => c.feed(&self.buf[..n], expect),
                    Some(Check::Echo(c)) => c.feed(&self.buf[..n]),
                    None => Err(Bad::Extra),
                };
                match res {
                    Ok(Progress::More) => true,
                    Ok(Progress::Done) if st == St::Waiting => {
                        let us = self.micros().saturating_sub(self.conns[i as usize].t0);
                        self.report.answer.ok += 1;
                        self.report.answer.record(u64::from(us));
                        self.checks.remove(&i);
                        self.conns[i as usize].st = St::Answered;
                        self.inflight -= 1;
                        self.last_progress = Instant::now();
                        true
                    }
                    // A complete answer to a request not yet sent in full.
                    Ok(Progress::Done) => {
                        self.answer_failed(i, "answer_before_request_sent");
                        false
                    }
                    Err(b) => {
                        if self.report.answer.failed == 0 {
                            eprintln!("conns: connection {i}: bad answer: {b}");
                        }
                        self.answer_failed(i, b.kind());
                        false
                    }
                }
            }
            St::Connected => {
                self.report.answer.fail("data_before_request");
                self.drop_conn(i);
                false
            }
            St::Answered => {
                // Nothing more may come after the one answer.
                self.report.hold.unexpected_data += 1;
                self.server_closed(i);
                false
            }
            _ => false,
        }
    }

    /// End of stream (`err` None) or an error on connection `i`.
    fn eof(&mut self, i: u32, st: St, err: Option<i32>) {
        match st {
            St::Sending | St::Waiting => {
                let kind = match err {
                    Some(e) => sys::errno_name(e),
                    None => {
                        let got = self.checks.get(&i).map_or(0, Check::received);
                        Bad::Incomplete(got).kind().to_string()
                    }
                };
                self.answer_failed(i, &kind);
            }
            St::Connected => {
                let kind = match err {
                    Some(e) => format!("before_request_{}", sys::errno_name(e)),
                    None => "closed_before_request".to_string(),
                };
                self.report.answer.fail(&kind);
                self.drop_conn(i);
            }
            St::Answered => {
                if err.is_some() {
                    self.report.hold.reset += 1;
                }
                self.server_closed(i);
            }
            _ => {}
        }
    }

    /// The server ended an answered connection. The socket stays open (closing 100,000
    /// of them would compete with the server's own stop for the CPUs); the process
    /// exit closes them.
    fn server_closed(&mut self, i: u32) {
        self.conns[i as usize].st = St::ServerClosed;
        if !self.holding {
            self.report.closed_before_hold += 1;
            return;
        }
        let h = &mut self.report.hold;
        match self.mark {
            None => h.closed_before_mark += 1,
            Some(m) => {
                h.closed_after_mark += 1;
                h.mark_to_last_close = Some(m.elapsed().as_secs_f64());
            }
        }
        h.last_close_uptime = Some(sys::uptime());
    }

    /// All answered: say so (ready file) for whoever measures the memory now.
    fn ready(&mut self) {
        self.report.rss_kb_at_ready = sys::rss_kb();
        self.report.ready_uptime = sys::uptime();
        let open = self.conns.iter().filter(|c| c.st == St::Answered).count() as u64;
        self.report.hold.open_at_start = open;
        self.holding = true;
        let line = format!(
            "connected {} answered {} open {} rss_kb {} pid {}\n",
            self.report.connect.ok,
            self.report.answer.ok,
            open,
            self.report.rss_kb_at_ready.unwrap_or(0),
            std::process::id()
        );
        if self.cfg.progress {
            eprint!("conns: holding: {line}");
        }
        if let Some(p) = &self.cfg.ready_file {
            // Written under another name and renamed, so a reader never sees half of it.
            let tmp = p.with_extension("tmp");
            if let Err(e) = std::fs::write(&tmp, &line).and_then(|_| std::fs::rename(&tmp, p)) {
                eprintln!("conns: cannot write the ready file {}: {e}", p.display());
            }
        }
    }

    /// Phase 3: hold everything open for `hold`, and until the wait file exists.
    fn hold(&mut self) {
        let cfg = self.cfg;
        let start = Instant::now();
        loop {
            let held = start.elapsed();
            if held >= cfg.hold {
                match &cfg.wait_file {
                    None => break,
                    Some(p) if p.exists() => break,
                    Some(p) if held >= cfg.hold + cfg.wait_timeout => {
                        eprintln!("conns: {} did not appear within {} s; stopping the hold",
                                  p.display(), cfg.wait_timeout.as_secs());
                        self.report.hold.wait_timed_out = true;
                        break;
                    }
                    Some(_) => {}
                }
            }
            let left = cfg.hold.saturating_sub(held);
            self.poll(if left.is_zero() { TICK } else { TICK.min(left) });
        }
        // Closes already queued (e.g. a stop that ended just before the wait file).
        self.poll(Duration::ZERO);
        self.report.hold.seconds = start.elapsed().as_secs_f64();
        self.report.hold.still_open = self.conns.iter().filter(|c| c.st == St::Answered).count() as u64;
    }
}
