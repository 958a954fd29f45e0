//! slowclient: the clients a server must survive, for the guest tests.
//!
//!   slowclient trickle --addr A -n 300 --interval-ms 1000 --max-secs 30
//!       N connections each send a request head one byte per interval, never finishing
//!       it (slowloris). Reports when the server answered or closed each one.
//!   slowclient hold --addr A -n 50 --secs 5 [--path /hello.txt [--http10] [--then X]]
//!       N connections (each with one keep-alive request answered first, if --path),
//!       held open; reports how many the server closed meanwhile. --http10: the request
//!       is HTTP/1.0 without keep-alive, the client's last; --then: bytes sent right
//!       after the request, in the same write.
//!
//!   slowclient uniform --addr A -c 100 -n 4000 --path /f.txt
//!       C keep-alive clients fetch a file N times in all; every body must be one byte
//!       repeated (the test rewrites the file with versions AAAA.., BBBB..): a body
//!       mixing versions is counted as mixed.
//!
//!   slowclient flood --addr A --secs 60 --threads 2 --probe /small.txt --target /big.bin
//!       Rounds of: one connection sending pipelined requests for --burst-ms without
//!       reading a byte, then a reset or a close; --wide connections each sending a
//!       batch, then dropped (half reset); a batch followed by a half-close, never read.
//!       After every round a fresh connection must get --probe (200, whole body) within
//!       --probe-timeout seconds (retried every 200 ms meanwhile: a 503 or a reset from a
//!       server at its connection limit is no failure). Exits 1 if a probe failed. Runs beside the server
//!       (in the guest): through QEMU's user-mode network such floods crash QEMU.
//!
//! Output is `key: value` lines the test scripts grep.

use clap::{Parser, Subcommand};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Slow and idle HTTP clients (slowloris, held connections) for the guest tests")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send request heads one byte per interval, never completing them.
    Trickle {
        #[arg(long, default_value = "127.0.0.1:8081")]
        addr: SocketAddr,
        #[arg(short, default_value_t = 300)]
        n: usize,
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Give up (report what is still open) after this long.
        #[arg(long, default_value_t = 60)]
        max_secs: u64,
    },
    /// Open connections and keep them open.
    Hold {
        #[arg(long, default_value = "127.0.0.1:8081")]
        addr: SocketAddr,
        #[arg(short, default_value_t = 50)]
        n: usize,
        #[arg(long, default_value_t = 5)]
        secs: u64,
        /// Ask for this path once on each connection (keep-alive) before holding it.
        #[arg(long)]
        path: Option<String>,
        /// Ask in HTTP/1.0 without keep-alive (the connection's last request).
        #[arg(long, requires = "path")]
        http10: bool,
        /// Bytes to send right after the request, in the same write.
        #[arg(long, requires = "path", default_value = "")]
        then: String,
    },
    /// Fetch a file many times; each body must be one repeated byte.
    Uniform {
        #[arg(long, default_value = "127.0.0.1:8081")]
        addr: SocketAddr,
        #[arg(short, default_value_t = 100)]
        c: usize,
        #[arg(short, default_value_t = 4000)]
        n: usize,
        #[arg(long)]
        path: String,
    },
    /// Pipelined requests never read, then resets and closes; probes in between.
    Flood {
        #[arg(long, default_value = "127.0.0.1:8081")]
        addr: SocketAddr,
        #[arg(long, default_value_t = 60)]
        secs: u64,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Paths requested in the flood (repeatable; default the probe's).
        #[arg(long)]
        target: Vec<String>,
        /// Path fetched by the probe after every round.
        #[arg(long, default_value = "/hello.txt")]
        probe: String,
        #[arg(long, default_value_t = 20)]
        probe_timeout: u64,
        #[arg(long, default_value_t = 1500)]
        burst_ms: u64,
        #[arg(long, default_value_t = 200)]
        wide: usize,
    },
}

/// How one connection ended.
#[derive(Default, Clone)]
struct Outcome {
    /// Seconds after the start when the server closed it.
    closed_at: Option<f64>,
    /// The status code of the first answer, if any.
    status: Option<u16>,
    /// Bytes received.
    received: Vec<u8>,
}

/// The status code of an HTTP/1.x status line at the start of `buf`.
fn status_of(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|&b| b == b'\r' || b == b'\n').next()?;
    let mut parts = line.split(|&b| b == b' ');
    let version = parts.next()?;
    if !version.starts_with(b"HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    std::str::from_utf8(code).ok()?.parse().ok()
}

/// The whole response at the start of `buf` (head and Content-Length body), if complete.
fn response_len(buf: &[u8]) -> Option<usize> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(buf.get(..end)?).ok()?;
    let len = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let total = end + len;
    (buf.len() >= total).then_some(total)
}

/// Reads what is there without blocking; true if the peer closed (EOF or reset).
fn drain(s: &mut TcpStream, into: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

fn connect_all(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                v.push(s);
            }
            Err(e) => {
                eprintln!("slowclient: connection {} of {}: {}", i + 1, n, e);
                break;
            }
        }
    }
    v
}

fn trickle(addr: SocketAddr, n: usize, interval: Duration, max: Duration) -> i32 {
    // A head that never ends: a header line that grows by one byte per interval.
    let prefix = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let connecting = Instant::now();
    let mut conns = connect_all(addr, n);
    println!("connected: {}", conns.len());
    // The server's head deadline runs from each accept: the first connection waited
    // this long for its first byte before the trickle began.
    println!("connecting all took: {:.2} s", connecting.elapsed().as_secs_f64());
    for s in &conns {
        let _ = s.set_nonblocking(true);
    }
    let start = Instant::now();
    let mut out = vec![Outcome::default(); conns.len()];
    let mut sent = 0usize;
    let mut next_send = start;
    while start.elapsed() < max && out.iter().any(|o| o.closed_at.is_none()) {
        let now = Instant::now();
        if now >= next_send {
            let byte = prefix.get(sent).copied().unwrap_or(b'a');
            for (s, o) in conns.iter_mut().zip(out.iter_mut()) {
                if o.closed_at.is_none() && o.status.is_none() {
                    let _ = s.write(&[byte]);
                }
            }
            sent += 1;
            next_send += interval;
        }
        for (s, o) in conns.iter_mut().zip(out.iter_mut()).filter(|(_, o)| o.closed_at.is_none()) {
            let eof = drain(s, &mut o.received);
            if o.status.is_none() && !o.received.is_empty() {
                o.status = status_of(&o.received);
            }
            if eof {
                o.closed_at = Some(start.elapsed().as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    report(&out, sent);
    0
}

fn report(out: &[Outcome], sent: usize) {
    let closed: Vec<f64> = out.iter().filter_map(|o| o.closed_at).collect();
    let first = closed.iter().copied().fold(f64::INFINITY, f64::min);
    let last = closed.iter().copied().fold(0.0, f64::max);
    println!("bytes sent per connection: {}", sent);
    println!("closed: {} of {}", closed.len(), out.len());
    let mut by_status = std::collections::BTreeMap::new();
    for o in out {
        *by_status.entry(o.status.map_or("none".to_string(), |s| s.to_string())).or_insert(0) += 1;
    }
    for (s, n) in &by_status {
        println!("answered {}: {}", s, n);
    }
    if !closed.is_empty() {
        println!("first closed after: {:.2} s", first);
        println!("last closed after: {:.2} s", last);
    }
}

/// What `hold` asks on each connection before holding it.
struct HoldRequest<'a> {
    path: &'a str,
    http10: bool,
    then: &'a str,
}

fn hold(addr: SocketAddr, n: usize, secs: u64, request: Option<HoldRequest>) -> i32 {
    let mut conns = connect_all(addr, n);
    let mut out = vec![Outcome::default(); conns.len()];
    if let Some(HoldRequest { path, http10, then }) = request {
        let req = if http10 {
            format!("GET {} HTTP/1.0\r\n\r\n{}", path, then)
        } else {
            format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n{}", path, then)
        };
        for s in &mut conns {
            let _ = s.write_all(req.as_bytes());
        }
        for s in &conns {
            let _ = s.set_nonblocking(true);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let mut pending = 0;
            for (s, o) in conns.iter_mut().zip(out.iter_mut()) {
                if o.closed_at.is_some() || response_len(&o.received).is_some() {
                    continue;
                }
                if drain(s, &mut o.received) {
                    o.closed_at = Some(0.0);
                }
                pending += 1;
            }
            if pending == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for o in &mut out {
            o.status = status_of(&o.received);
        }
    }
    for s in &conns {
        let _ = s.set_nonblocking(true);
    }
    println!("connected: {}", conns.len());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        for (s, o) in conns.iter_mut().zip(out.iter_mut()).filter(|(_, o)| o.closed_at.is_none()) {
            let mut extra = Vec::new();
            if drain(s, &mut extra) {
                o.closed_at = Some(start.elapsed().as_secs_f64());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    report(&out, 0);
    0
}

/// Reads one whole response (head and Content-Length body) from a blocking stream,
/// keeping what follows in `buf`. `None` on EOF or error.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(Option<u16>, Vec<u8>)> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(total) = response_len(buf) {
            let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
            let status = status_of(buf);
            let body = buf.get(end..total)?.to_vec();
            buf.drain(..total);
            return Some((status, body));
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// True if `body` is one byte repeated (or empty).
fn uniform(body: &[u8]) -> bool {
    body.first().is_none_or(|&b0| body.iter().all(|&b| b == b0))
}

fn fetch_uniform(addr: SocketAddr, c: usize, n: usize, path: &str) -> i32 {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let (ok, mixed, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let per = n.div_ceil(c.max(1));
    let req = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", path);
    let threads: Vec<_> = (0..c.max(1))
        .map(|_| {
            let (ok, mixed, errors, req) = (ok.clone(), mixed.clone(), errors.clone(), req.clone());
            std::thread::spawn(move || {
                let mut done = 0;
                while done < per {
                    let Ok(mut s) = TcpStream::connect(addr) else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        done += 1;
                        continue;
                    };
                    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                    let mut buf = Vec::new();
                    while done < per {
                        done += 1;
                        if s.write_all(req.as_bytes()).is_err() {
                            errors.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        match read_response(&mut s, &mut buf) {
                            Some((Some(200), body)) if uniform(&body) => ok.fetch_add(1, Ordering::Relaxed),
                            Some((Some(200), _)) => mixed.fetch_add(1, Ordering::Relaxed),
                            _ => {
                                errors.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        };
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    println!("uniform: {}", ok.load(Ordering::Relaxed));
    println!("mixed: {}", mixed.load(Ordering::Relaxed));
    println!("errors: {}", errors.load(Ordering::Relaxed));
    0
}

/// Drops a connection with a reset rather than a FIN.
fn reset(s: TcpStream) {
    let _ = user::net::reset_on_close(&s);
}

/// A batch of pipelined requests: plain, HEAD, ranges, keep-alive and not, for `targets`.
fn flood_batch(targets: &[String], round: usize) -> Vec<u8> {
    let mut b = Vec::new();
    for i in 0..64 {
        let path = &targets[(round + i) % targets.len()];
        let req = match i % 4 {
            0 => format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", path),
            1 => format!("HEAD {} HTTP/1.1\r\nHost: x\r\n\r\n", path),
            2 => format!("GET {} HTTP/1.1\r\nHost: x\r\nRange: bytes={}-\r\nAccept-Encoding: gzip\r\n\r\n", path, i),
            _ => format!("GET {} HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"x\"\r\n\r\n", path),
        };
        b.extend_from_slice(req.as_bytes());
    }
    b
}

/// Writes `batch` over and over without reading for `burst`, or until the server has
/// stopped taking bytes for a while (its input and our send buffer full); bytes sent.
fn pipeline_unread(s: &mut TcpStream, batch: &[u8], burst: Duration) -> usize {
    let _ = s.set_nonblocking(true);
    let (start, mut sent, mut off, mut stuck_since) = (Instant::now(), 0, 0, None);
    while start.elapsed() < burst {
        match s.write(&batch[off..]) {
            Ok(n) => {
                sent += n;
                off = (off + n) % batch.len();
                stuck_since = None;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let t = *stuck_since.get_or_insert_with(Instant::now);
                if t.elapsed() > Duration::from_millis(300) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => break,
        }
    }
    sent
}

/// Fresh HTTP/1.0 requests for `path`, one every 200 ms until a 200 with its whole
/// body comes back (Ok: how many answers before it were something else, e.g. a 503
/// while another thread's round fills `max_connections`), for at most `timeout`.
fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<usize, String> {
    let deadline = Instant::now() + timeout;
    let mut tries = 0;
    loop {
        match probe_once(addr, path, timeout) {
            Ok(()) => return Ok(tries),
            Err(e) if Instant::now() >= deadline => return Err(format!("{} (after {} tries)", e, tries + 1)),
            Err(_) => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// One fresh HTTP/1.0 request for `path`: Ok if a 200 with its whole body came back.
fn probe_once(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {}", e))?;
    let _ = s.set_read_timeout(Some(timeout));
    s.write_all(format!("GET {} HTTP/1.0\r\n\r\n", path).as_bytes()).map_err(|e| format!("send: {}", e))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("receive after {} bytes: {}", buf.len(), e))?;
    match (status_of(&buf), response_len(&buf)) {
        (Some(200), Some(n)) if n == buf.len() => Ok(()),
        (status, _) => Err(format!("status {:?}, {} bytes, not one whole response", status, buf.len())),
    }
}

struct FloodSettings {
    addr: SocketAddr,
    secs: u64,
    targets: Vec<String>,
    probe: String,
    probe_timeout: Duration,
    burst: Duration,
    wide: usize,
}

#[derive(Default)]
struct FloodCounts {
    rounds: usize,
    connections: usize,
    resets: usize,
    bytes: usize,
    probes_ok: usize,
    /// Answers other than the 200 before a probe got it.
    probes_retried: usize,
    probes_failed: usize,
}

fn flood_thread(f: &FloodSettings, id: usize) -> FloodCounts {
    let mut c = FloodCounts::default();
    let start = Instant::now();
    let mut round = id;
    while start.elapsed() < Duration::from_secs(f.secs) {
        let batch = flood_batch(&f.targets, round);
        match round % 3 {
            0 => {
                if let Ok(mut s) = TcpStream::connect(f.addr) {
                    c.connections += 1;
                    c.bytes += pipeline_unread(&mut s, &batch, f.burst);
                    if (round / 3) % 2 == 0 {
                        reset(s);
                        c.resets += 1;
                    }
                }
            }
            1 => {
                let mut conns = connect_all(f.addr, f.wide);
                c.connections += conns.len();
                for s in &mut conns {
                    let _ = s.set_nonblocking(true);
                    c.bytes += s.write(&batch).unwrap_or(0);
                }
                std::thread::sleep(Duration::from_millis(500));
                for (i, s) in conns.into_iter().enumerate() {
                    if i % 2 == 0 {
                        reset(s);
                        c.resets += 1;
                    }
                }
            }
            _ => {
                if let Ok(mut s) = TcpStream::connect(f.addr) {
                    c.connections += 1;
                    c.bytes += s.write(&batch).unwrap_or(0);
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    std::thread::sleep(Duration::from_millis(1000));
                }
            }
        }
        c.rounds += 1;
        match probe(f.addr, &f.probe, f.probe_timeout) {
            Ok(retried) => {
                c.probes_ok += 1;
                c.probes_retried += retried;
            }
            Err(e) => {
                c.probes_failed += 1;
                println!("probe failed: round {} (kind {}): {}", round, round % 3, e);
            }
        }
        round += 1;
    }
    c
}

fn flood(f: FloodSettings, threads: usize) -> i32 {
    let f = std::sync::Arc::new(f);
    let handles: Vec<_> = (0..threads.max(1))
        .map(|id| {
            let f = f.clone();
            std::thread::spawn(move || flood_thread(&f, id))
        })
        .collect();
    let mut all = FloodCounts::default();
    for h in handles {
        let c = h.join().unwrap_or_default();
        all.rounds += c.rounds;
        all.connections += c.connections;
        all.resets += c.resets;
        all.bytes += c.bytes;
        all.probes_ok += c.probes_ok;
        all.probes_retried += c.probes_retried;
        all.probes_failed += c.probes_failed;
    }
    println!("rounds: {}", all.rounds);
    println!("connections: {}", all.connections);
    println!("resets: {}", all.resets);
    println!("bytes sent unread: {}", all.bytes);
    println!("probes ok: {}", all.probes_ok);
    println!("probe answers before the 200: {}", all.probes_retried);
    println!("probes failed: {}", all.probes_failed);
    if all.probes_failed == 0 && all.probes_ok > 0 { 0 } else { 1 }
}

fn main() {
    let args = Args::parse();
    let rc = match args.cmd {
        Cmd::Trickle { addr, n, interval_ms, max_secs } => {
            trickle(addr, n, Duration::from_millis(interval_ms.max(1)), Duration::from_secs(max_secs))
        }
        Cmd::Hold { addr, n, secs, path, http10, then } => {
            let request = path.as_deref().map(|path| HoldRequest { path, http10, then: &then });
            hold(addr, n, secs, request)
        }
        Cmd::Uniform { addr, c, n, path } => fetch_uniform(addr, c, n, &path),
        Cmd::Flood { addr, secs, threads, target, probe, probe_timeout, burst_ms, wide } => {
            let targets = if target.is_empty() { vec![probe.clone()] } else { target };
            let probe_timeout = Duration::from_secs(probe_timeout.max(1));
            let burst = Duration::from_millis(burst_ms);
            flood(FloodSettings { addr, secs, targets, probe, probe_timeout, burst, wide }, threads)
        }
    };
    std::process::exit(rc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_of(b"HTTP/1.1 408 Request Timeout\r\n"), Some(408));
        assert_eq!(status_of(b"HTTP/1.0 200 OK\r\n"), Some(200));
        assert_eq!(status_of(b"HTTP/1.1 20"), None);
        assert_eq!(status_of(b"SSH-2.0 x"), None);
    }

    #[test]
    fn flood_batches_are_whole_requests() {
        let targets = vec!["/a".to_string(), "/b".to_string()];
        let b = flood_batch(&targets, 1);
        let heads = b.windows(4).filter(|w| w == b"\r\n\r\n").count();
        assert_eq!(heads, 64);
        assert!(b.starts_with(b"GET /b HTTP/1.1\r\n"));
        assert!(b.ends_with(b"\r\n\r\n"));
    }

    #[test]
    fn uniform_bodies() {
        assert!(uniform(b""));
        assert!(uniform(b"AAAA"));
        assert!(!uniform(b"AABA"));
    }

    #[test]
    fn whole_responses() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(response_len(r), Some(r.len()));
        assert_eq!(response_len(&r[..r.len() - 1]), None);
        assert_eq!(response_len(b"HTTP/1.1 304 Not Modified\r\n\r\n"), Some(29));
    }
}
