//! Runs the htstress binary against a tiny HTTP server living in the test.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_htstress");

#[derive(Clone, Copy, PartialEq)]
enum Body {
    /// Content-Length framed.
    Length,
    /// Chunked, written in small pieces.
    Chunked,
    /// Content-Length and chunked on alternate requests.
    Alternate,
    /// No length: the body ends when the server closes.
    UntilClose,
    /// These exact bytes, then close.
    Raw(&'static [u8]),
}

#[derive(Clone, Copy)]
struct Behaviour {
    status: u16,
    body: Body,
    /// Serve more than one request per connection when the client asks.
    keep_alive: bool,
    /// Answer `Connection: close` on the n-th response of a connection.
    close_after: Option<u64>,
    /// Close silently (no header) after n responses on a connection.
    drop_after: Option<u64>,
    /// Reset every n-th accepted connection after reading its request.
    reset_every: Option<u64>,
    /// How HTTP/1.0 requests are answered.
    http10: Http10Reply,
}

#[derive(Clone, Copy, PartialEq)]
enum Http10Reply {
    /// `Connection: close`, then close.
    Close,
    /// No Connection header, then close (as many HTTP/1.1 servers do).
    Bare,
    /// `Connection: keep-alive`, and keep the connection open.
    KeepAlive,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: 200,
            body: Body::Length,
            keep_alive: true,
            close_after: None,
            drop_after: None,
            reset_every: None,
            http10: Http10Reply::Close,
        }
    }
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    /// Most requests seen on one connection.
    max_per_conn: AtomicU64,
    last_head: Mutex<String>,
}

struct Server {
    counters: Arc<Counters>,
    url: String,
}

impl Server {
    fn tcp(b: Behaviour) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/index.html", l.local_addr().unwrap());
        Self::tcp_on(l, url, b)
    }

    fn tcp_on(l: TcpListener, url: String, b: Behaviour) -> Server {
        Self::start(b, url, move || l.accept().map(|(s, _)| Conn::Tcp(s)).ok())
    }

    fn unix(b: Behaviour, path: &std::path::Path) -> Server {
        let l = UnixListener::bind(path).unwrap();
        Self::start(b, "http://localhost/u".into(), move || l.accept().map(|(s, _)| Conn::Unix(s)).ok())
    }

    fn start(b: Behaviour, url: String, mut accept: impl FnMut() -> Option<Conn> + Send + 'static) -> Server {
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        // The accept thread lives until the test process exits.
        std::thread::spawn(move || {
            while let Some(conn) = accept() {
                let n = c.connections.fetch_add(1, Ordering::SeqCst) + 1;
                let c = c.clone();
                let reset = b.reset_every.is_some_and(|k| n % k == 0);
                std::thread::spawn(move || serve(conn, b, &c, reset));
            }
        });
        Server { counters, url }
    }

    fn connections(&self) -> u64 {
        self.counters.connections.load(Ordering::SeqCst)
    }

    fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::SeqCst)
    }
}

enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Conn {
    fn stream(&mut self) -> &mut dyn ReadWrite {
        match self {
            Conn::Tcp(s) => s,
            Conn::Unix(s) => s,
        }
    }

    fn reset(self) {
        if let Conn::Tcp(s) = self {
            // Dropped here: a reset instead of a FIN.
            let _ = user::net::reset_on_close(&s);
        }
    }

    fn finish(&mut self) {
        match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write).ok(),
            Conn::Unix(s) => s.shutdown(Shutdown::Write).ok(),
        };
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Reads one request head; None at EOF or error.
fn read_head(s: &mut dyn ReadWrite, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return Some(head);
        }
        let mut tmp = [0u8; 4096];
        match s.read(&mut tmp) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

fn serve(mut conn: Conn, b: Behaviour, c: &Counters, reset: bool) {
    if let Conn::Tcp(s) = &conn {
        s.set_nodelay(true).unwrap();
    }
    let mut buf = Vec::new();
    let mut served = 0u64;
    while let Some(head) = read_head(conn.stream(), &mut buf) {
        c.requests.fetch_add(1, Ordering::SeqCst);
        served += 1;
        c.max_per_conn.fetch_max(served, Ordering::SeqCst);
        let lower = head.to_ascii_lowercase();
        *c.last_head.lock().unwrap() = head;
        if reset {
            return conn.reset();
        }
        let http10 = lower.lines().next().unwrap_or("").ends_with("http/1.0");
        let wants_close = (http10 && b.http10 != Http10Reply::KeepAlive)
            || lower.contains("\r\nconnection: close");
        let close = wants_close || !b.keep_alive || b.close_after.is_some_and(|k| served >= k);
        let chunked = match b.body {
            Body::Chunked => true,
            Body::Alternate => served % 2 == 0,
            _ => false,
        };
        let reason = if b.status == 200 { "OK" } else { "Other" };
        let conn_hdr = match (http10, b.http10) {
            (true, Http10Reply::Bare) => "",
            (true, Http10Reply::KeepAlive) => "Connection: keep-alive\r\n",
            _ if close => "Connection: close\r\n",
            _ => "",
        };
        let s = conn.stream();
        let r = match b.body {
            Body::Raw(bytes) => s.write_all(bytes),
            Body::UntilClose => write!(s, "HTTP/1.0 {} {reason}\r\n\r\nbody until close", b.status),
            _ if chunked => (|| {
                write!(s, "HTTP/1.1 {} {reason}\r\nTransfer-Encoding: chunked\r\n{conn_hdr}\r\n", b.status)?;
                // Small separate writes so the client sees chunks split across reads.
                let pieces =
                    ["5\r", "\nhel", "lo\r\n", "1b;x=y\r\n", "abcdefghijklmnopqrstuvwxyz!", "\r\n0\r\n", "\r\n"];
                for piece in pieces {
                    s.write_all(piece.as_bytes())?;
                }
                Ok(())
            })(),
            _ => write!(s, "HTTP/1.1 {} {reason}\r\nContent-Length: 5\r\n{conn_hdr}\r\nhello", b.status),
        };
        if r.is_err() || close || matches!(b.body, Body::Raw(_) | Body::UntilClose) {
            break;
        }
        if b.drop_after.is_some_and(|k| served >= k) {
            break;
        }
    }
    conn.finish();
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out: Output = Command::new(BIN).args(args).stdin(Stdio::null()).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run_json(args: &[&str]) -> (Value, Run) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let r = run(&a);
    let v: Value = serde_json::from_str(r.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", r.stdout, r.stderr));
    (v, r)
}

/// The text report as prefix -> first number after it.
fn report(stdout: &str) -> HashMap<String, f64> {
    stdout
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let num = v.split_whitespace().next()?.parse().ok()?;
            Some((k.trim().to_string(), num))
        })
        .collect()
}

fn counts(v: &Value) -> (u64, u64, u64, u64) {
    let g = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("missing {k} in {v}"));
    (g("requests"), g("good"), g("bad"), g("socket_errors"))
}

#[test]
fn http10_counts_and_text_report() {
    let srv = Server::tcp(Behaviour::default());
    let r = run(&["-n", "200", "-c", "10", "-t", "2", &srv.url]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let rep = report(&r.stdout);
    assert_eq!(rep["requests"], 200.0);
    assert_eq!(rep["good requests"], 200.0);
    assert_eq!(rep["bad requests"], 0.0);
    assert_eq!(rep["socket errors"], 0.0);
    for prefix in ["seconds:       ", "requests/sec:  ", "latency p50:", "latency p99.9:", "latency max:"] {
        assert!(r.stdout.lines().any(|l| l.starts_with(prefix)), "no {prefix:?} in {}", r.stdout);
    }
    assert!(r.stdout.contains("good requests: 200 [100%]"));
    // Every byte the server sent, each response whole.
    let one = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".len() as f64;
    assert_eq!(rep["received"], 200.0 * one, "{}", r.stdout);
    assert!(r.stdout.contains(" MiB/s)"), "{}", r.stdout);
    assert_eq!(r.stderr.lines().filter(|l| l.starts_with("progress: ")).count(), 10);
    // One connection per request, HTTP/1.0.
    assert_eq!(srv.connections(), 200);
    assert_eq!(srv.requests(), 200);
    let head = srv.counters.last_head.lock().unwrap().clone();
    assert!(head.starts_with("GET /index.html HTTP/1.0\r\nHost: 127.0.0.1:"), "{head}");
}

#[test]
fn http10_reply_variants() {
    // HTTP/1.1 reply without a Connection header: the server still closes.
    let srv = Server::tcp(Behaviour { http10: Http10Reply::Bare, ..Default::default() });
    let (v, _) = run_json(&["-n", "50", "-c", "5", &srv.url]);
    assert_eq!(counts(&v), (50, 50, 0, 0));
    assert_eq!(srv.connections(), 50);

    // The server keeps the connection: htstress closes it and goes on.
    let srv = Server::tcp(Behaviour { http10: Http10Reply::KeepAlive, ..Default::default() });
    let (v, _) = run_json(&["-n", "50", "-c", "5", &srv.url]);
    assert_eq!(counts(&v), (50, 50, 0, 0));
    assert_eq!(srv.connections(), 50);
}

#[test]
fn not_found_is_bad() {
    let srv = Server::tcp(Behaviour { status: 404, ..Default::default() });
    let (v, r) = run_json(&["-n", "200", "-c", "10", "-t", "2", &srv.url]);
    assert_eq!(r.code, 0);
    assert_eq!(counts(&v), (200, 0, 200, 0));
}

#[test]
fn resets_are_socket_errors_and_run_completes() {
    let srv = Server::tcp(Behaviour { reset_every: Some(5), ..Default::default() });
    let (v, r) = run_json(&["-n", "100", "-c", "4", "-t", "2", &srv.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(counts(&v), (100, 80, 0, 20));
    assert_eq!(srv.connections(), 100);
}

#[test]
fn truncated_and_malformed_responses() {
    let srv = Server::tcp(Behaviour {
        body: Body::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
        ..Default::default()
    });
    let (v, _) = run_json(&["-n", "20", "-c", "3", &srv.url]);
    assert_eq!(counts(&v), (20, 0, 0, 20));

    let srv = Server::tcp(Behaviour { body: Body::Raw(b"SPDY/9 nonsense\r\n\r\n"), ..Default::default() });
    let (v, _) = run_json(&["-n", "20", "-c", "3", &srv.url]);
    assert_eq!(counts(&v), (20, 0, 20, 0));

    let srv = Server::tcp(Behaviour { body: Body::UntilClose, status: 302, ..Default::default() });
    let (v, _) = run_json(&["-n", "20", "-c", "3", &srv.url]);
    assert_eq!(counts(&v), (20, 20, 0, 0));
}

#[test]
fn keep_alive_chunked_and_length() {
    let srv = Server::tcp(Behaviour { body: Body::Alternate, ..Default::default() });
    let (v, r) = run_json(&["-n", "300", "-c", "5", "-t", "2", "-k", &srv.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(counts(&v), (300, 300, 0, 0));
    assert_eq!(v["keep_alive"], true);
    assert_eq!(srv.requests(), 300);
    assert!(srv.connections() < 300);
    assert!(srv.connections() <= 10, "one connection per slot, got {}", srv.connections());
    assert_eq!(v["connections"].as_u64(), Some(srv.connections()));
    let head = srv.counters.last_head.lock().unwrap().clone();
    assert!(head.starts_with("GET /index.html HTTP/1.1\r\n"), "{head}");

    let srv = Server::tcp(Behaviour { body: Body::Chunked, ..Default::default() });
    let (v, _) = run_json(&["-n", "100", "-c", "2", "--keep-alive", &srv.url]);
    assert_eq!(counts(&v), (100, 100, 0, 0));
    // Every byte of every response, framing included.
    let one = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".len()
        + ["5\r", "\nhel", "lo\r\n", "1b;x=y\r\n", "abcdefghijklmnopqrstuvwxyz!", "\r\n0\r\n", "\r\n"].concat().len();
    assert_eq!(v["bytes_received"].as_u64(), Some(100 * one as u64), "{v}");
    assert!(v["mib_per_second"].as_f64().is_some_and(|x| x > 0.0), "{v}");
    assert!(srv.connections() <= 2);
}

#[test]
fn keep_alive_requests_per_connection() {
    let srv = Server::tcp(Behaviour::default());
    let (v, _) = run_json(&["-n", "100", "-c", "2", "-k", "4", &srv.url]);
    assert_eq!(counts(&v), (100, 100, 0, 0));
    assert_eq!(srv.counters.max_per_conn.load(Ordering::SeqCst), 4);
    assert!(srv.connections() >= 25);
    assert_eq!(v["keep_alive_requests_per_connection"], 4);
}

#[test]
fn keep_alive_server_closes() {
    // Server says Connection: close every third response.
    let srv = Server::tcp(Behaviour { close_after: Some(3), body: Body::Alternate, ..Default::default() });
    let (v, _) = run_json(&["-n", "90", "-c", "3", "-k", &srv.url]);
    assert_eq!(counts(&v), (90, 90, 0, 0));
    assert!(srv.connections() >= 30);

    // Server drops connections silently after two responses: the request
    // that finds the connection gone is retried, not counted as an error.
    let srv = Server::tcp(Behaviour { drop_after: Some(2), ..Default::default() });
    let (v, _) = run_json(&["-n", "60", "-c", "3", "-k", &srv.url]);
    assert_eq!(counts(&v), (60, 60, 0, 0));
    assert!(srv.connections() >= 30);

    // Server that ignores keep-alive: every response closes.
    let srv = Server::tcp(Behaviour { keep_alive: false, ..Default::default() });
    let (v, _) = run_json(&["-n", "40", "-c", "4", "-k", &srv.url]);
    assert_eq!(counts(&v), (40, 40, 0, 0));
    assert_eq!(srv.connections(), 40);
}

#[test]
fn json_report() {
    let srv = Server::tcp(Behaviour::default());
    let (v, r) = run_json(&["-n", "50", "-c", "3", "-t", "2", "--cpu", "-h", "example.test", &srv.url]);
    assert_eq!(r.code, 0);
    assert_eq!(counts(&v), (50, 50, 0, 0));
    assert_eq!(v["threads"], 2);
    assert_eq!(v["concurrency"], 3);
    assert_eq!(v["keep_alive"], false);
    assert_eq!(v["url"], srv.url.as_str());
    let secs = v["seconds"].as_f64().unwrap();
    let rps = v["rps"].as_f64().unwrap();
    assert!(secs > 0.0);
    assert!((rps * secs - 50.0).abs() < 1e-6, "rps {rps} secs {secs}");
    let lat = &v["latency_us"];
    let p = |k: &str| lat[k].as_f64().unwrap_or_else(|| panic!("no {k}"));
    assert!(p("p50") > 0.0);
    assert!(p("p50") <= p("p90") && p("p90") <= p("p99") && p("p99") <= p("p99_9") && p("p99_9") <= p("max"));
    assert!(v["cpu_seconds"].as_f64().is_some());
    assert!(v["requests_per_cpu_second"].as_f64().is_some());
    let head = srv.counters.last_head.lock().unwrap().clone();
    assert!(head.contains("\r\nHost: example.test"), "{head}");
    assert!(!r.stdout.contains("requests:"), "text report printed with --json");
}

#[test]
fn unix_socket() {
    let dir = std::env::temp_dir().join(format!("htstress-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("http.sock");
    let _ = std::fs::remove_file(&path);
    let srv = Server::unix(Behaviour { body: Body::Alternate, ..Default::default() }, &path);
    let p = path.to_str().unwrap();
    let (v, r) = run_json(&["-u", p, "-n", "50", "-c", "5", &srv.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(counts(&v), (50, 50, 0, 0));
    assert_eq!(srv.connections(), 50);
    assert!(srv.counters.last_head.lock().unwrap().contains("Host: localhost"));

    let (v, _) = run_json(&["-u", p, "-n", "50", "-c", "5", "-k", &srv.url]);
    assert_eq!(counts(&v), (50, 50, 0, 0));
    assert!(srv.connections() <= 55);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ipv6_loopback() {
    let Ok(l) = TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    let port = l.local_addr().unwrap().port();
    drop(l);
    // -4 cannot reach an IPv6 literal: usage is fine, resolution fails.
    let r = run(&["-4", &format!("http://[::1]:{port}/")]);
    assert_eq!(r.code, 1);
    let l = TcpListener::bind("[::1]:0").unwrap();
    let url = format!("http://localhost:{}/", l.local_addr().unwrap().port());
    let srv = Server::tcp_on(l, url.clone(), Behaviour::default());
    let (v, _) = run_json(&["-6", "-n", "10", "-c", "2", &url]);
    assert_eq!(counts(&v), (10, 10, 0, 0));
    assert_eq!(srv.connections(), 10);
}

#[test]
fn nothing_connects_exits_nonzero() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (v, r) = run_json(&["-n", "7", "-c", "2", &format!("127.0.0.1:{port}/")]);
    assert_eq!(counts(&v), (7, 0, 0, 7));
    assert_eq!(r.code, 1);

    // Connects failing at once must not keep the loop from seeing the deadline.
    let (v, r) = run_json(&["--duration", "0.2", "-c", "3", "-t", "2", &format!("127.0.0.1:{port}/")]);
    let (req, _, _, err) = counts(&v);
    assert!(req > 0 && err == req);
    assert_eq!(r.code, 1);

    let r = run(&["-u", "/nonexistent/htstress.sock", "-n", "3", "localhost/"]);
    assert_eq!(r.code, 1);
    assert_eq!(report(&r.stdout)["socket errors"], 3.0);
}

#[test]
fn usage_errors() {
    for args in [
        &[][..],
        &["-n", "abc", "localhost/"],
        &["-4", "-6", "localhost/"],
        &["-c", "0", "localhost/"],
        &["--duration", "1", "-n", "5", "localhost/"],
        &["https://localhost/"],
        &["--bogus", "localhost/"],
    ] {
        let r = run(args);
        assert_ne!(r.code, 0, "{args:?} was accepted");
        assert!(!r.stderr.is_empty());
    }
    let r = run(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("-h <host-header>"));
}

#[test]
fn until_sigint() {
    let srv = Server::tcp(Behaviour::default());
    let child = Command::new(BIN)
        .args(["--json", "-n", "0", "-c", "4", "-t", "2", "-k", &srv.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let give_up = Instant::now() + Duration::from_secs(60);
    while srv.requests() < 200 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(srv.requests() >= 200, "htstress made no progress");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (req, good, bad, err) = counts(&v);
    assert!(req >= 200);
    assert_eq!((good, bad, err), (req, 0, 0));
    // Requests cut off in flight are not counted.
    assert!(srv.requests() >= req);
    let (secs, rps) = (v["seconds"].as_f64().unwrap(), v["rps"].as_f64().unwrap());
    assert!((rps * secs - req as f64).abs() < 1e-6 * req as f64);
}

#[test]
fn duration_mode() {
    let srv = Server::tcp(Behaviour { body: Body::Chunked, ..Default::default() });
    let (v, r) = run_json(&["--duration", "0.3", "-c", "2", "-k", &srv.url]);
    assert_eq!(r.code, 0);
    let (req, good, bad, err) = counts(&v);
    assert!(req > 0);
    assert_eq!((good, bad, err), (req, 0, 0));
    assert!(srv.requests() >= req);
}

#[test]
fn threads_split_requests_exactly() {
    // 7 requests over 3 threads with big concurrency: exactly 7, no more.
    let srv = Server::tcp(Behaviour::default());
    let (v, _) = run_json(&["-n", "7", "-c", "10", "-t", "3", &srv.url]);
    assert_eq!(counts(&v), (7, 7, 0, 0));
    assert_eq!(srv.requests(), 7);
    let (v, _) = run_json(&["-n", "7", "-c", "10", "-t", "3", "-k", &srv.url]);
    assert_eq!(counts(&v), (7, 7, 0, 0));
    assert_eq!(srv.requests(), 14);
}
