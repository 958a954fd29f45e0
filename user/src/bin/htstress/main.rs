//! htstress: a small, fast HTTP load generator.
//!
//! One epoll event loop per thread, each keeping `-c` connections busy.
//! Default mode: a new connection per `HTTP/1.0` request, read until the
//! server closes. `-k`: HTTP/1.1 keep-alive with response framing.
//!
//! `requests` counts finished requests (good + bad + socket errors); ones cut
//! off by Ctrl-C or the end of `--duration` are not counted. `received` counts
//! every byte read from the servers, of unfinished responses too: throughput
//! where requests/sec depends on which responses happen to finish in the run. Latency: connect
//! to last byte (HTTP/1.0), send to last byte (keep-alive). Exit status: 0
//! after a run, 1 if no connection could be made or the host does not
//! resolve, 2 for usage errors. There are no I/O timeouts: a server that
//! never answers holds its connection until Ctrl-C.

mod parser;
mod sys;
mod worker;

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use clap::{ArgAction, Parser};

use worker::{Config, Progress, Stats, Worker};

const AFTER_HELP: &str = "\
URL: [http://]host[:port]/path (with -u the host only fills the Host header).

Responses with status 2xx/3xx are good, others (and malformed ones) bad.
Failed connects, reads and writes, resets and connections closed before a
complete response are socket errors; they never stop the run.
Ctrl-C stops the run early and still prints the summary.

Exit status: 0 after a run (whatever the responses), 1 when no connection
could be made at all or the host cannot be resolved, 2 for usage errors.";

#[derive(Parser, Debug)]
#[command(
    name = "htstress",
    version,
    about = "HTTP load generator",
    disable_help_flag = true,
    after_help = AFTER_HELP
)]
struct Cli {
    /// Total number of requests; 0 runs until Ctrl-C
    #[arg(short = 'n', value_name = "requests", default_value_t = 1)]
    requests: u64,

    /// Connections kept in flight by each thread
    #[arg(short = 'c', value_name = "concurrency", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    concurrency: u64,

    /// Number of threads, each with its own event loop
    #[arg(short = 't', value_name = "threads", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    threads: u64,

    /// Connect to this unix socket instead of TCP
    #[arg(short = 'u', value_name = "unix-socket-path")]
    unix: Option<PathBuf>,

    /// Host header to send (default: host[:port] from the URL)
    #[arg(short = 'h', value_name = "host-header")]
    host_header: Option<String>,

    /// Debug: show what goes on, responses included
    #[arg(short = 'd')]
    debug: bool,

    /// Use IPv4 only
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,

    /// Use IPv6 only
    #[arg(short = '6')]
    ipv6: bool,

    /// HTTP/1.1 keep-alive, N requests per connection (none or 0: unlimited)
    #[arg(short = 'k', long = "keep-alive", value_name = "N", num_args = 0..=1,
          require_equals = true, default_missing_value = "0")]
    keep_alive: Option<u64>,

    /// Run for this many seconds instead of a request count
    #[arg(long, value_name = "SECS", conflicts_with = "requests", value_parser = parse_secs)]
    duration: Option<f64>,

    /// Print one JSON object instead of the text report
    #[arg(long)]
    json: bool,

    /// Also report CPU time used and requests per CPU-second
    #[arg(long)]
    cpu: bool,

    /// Print help (-h is the Host header)
    #[arg(long, action = ArgAction::Help)]
    help: Option<bool>,

    /// [http://]host[:port]/path
    url: String,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

/// `-k` takes an optional count, which a parser cannot tell from the URL
/// that may follow; a following all-digit argument is the count.
fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut it = args.into_iter().peekable();
    let digits = |s: &OsString| {
        s.to_str().is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    };
    while let Some(arg) = it.next() {
        if arg == "--" {
            out.push(arg);
            out.extend(it);
            break;
        }
        if arg == "-k" || arg == "--keep-alive" {
            match it.peek() {
                Some(next) if digits(next) => {
                    let mut a = OsString::from("--keep-alive=");
                    a.push(it.next().unwrap());
                    out.push(a);
                }
                _ => out.push("--keep-alive=0".into()),
            }
            continue;
        }
        if let Some(n) = arg.to_str().and_then(|s| s.strip_prefix("-k")) {
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                out.push(format!("--keep-alive={n}").into());
                continue;
            }
        }
        out.push(arg);
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
struct Url {
    host: String,
    port: u16,
    /// host[:port] as the Host header wants it.
    authority: String,
    path: String,
}

fn parse_url(s: &str) -> Result<Url, String> {
    let rest = if s.len() >= 7 && s[..7].eq_ignore_ascii_case("http://") {
        &s[7..]
    } else if s.contains("://") {
        return Err(format!("unsupported URL scheme in '{s}' (only http)"));
    } else {
        s
    };
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(format!("path '{path}' contains spaces or control characters"));
    }
    let bad_port = |p: &str| format!("invalid port '{p}' in '{s}'");
    let (host, port) = if let Some(v6) = auth.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(|| format!("unclosed '[' in '{s}'"))?;
        let port = match &v6[end + 1..] {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| bad_port(p))?),
        };
        (&v6[..end], port)
    } else if auth.matches(':').count() == 1 {
        let (h, p) = auth.split_once(':').unwrap();
        (h, Some(p))
    } else {
        // No port, or a bare IPv6 address.
        (auth, None)
    };
    if host.is_empty() {
        return Err(format!("no host in '{s}'"));
    }
    let port = match port {
        None => 80,
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| bad_port(p))?,
    };
    let bracketed = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    let authority = if port == 80 { bracketed } else { format!("{bracketed}:{port}") };
    Ok(Url { host: host.to_string(), port, authority, path: path.to_string() })
}

#[derive(Clone, Copy, PartialEq)]
enum Family {
    Any,
    V4,
    V6,
}

fn resolve(host: &str, port: u16, family: Family) -> Result<SocketAddr, String> {
    let fits = |a: &SocketAddr| match family {
        Family::Any => true,
        Family::V4 => a.is_ipv4(),
        Family::V6 => a.is_ipv6(),
    };
    // Literals and localhost without the resolver: the static binary runs in
    // an initramfs with no NSS libraries.
    let literal = if host.eq_ignore_ascii_case("localhost") {
        Some(match family {
            Family::V6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
            _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
        })
    } else {
        host.parse::<IpAddr>().ok()
    };
    if let Some(ip) = literal {
        let a = SocketAddr::new(ip, port);
        return if fits(&a) { Ok(a) } else { Err(format!("{host} is not of the requested address family")) };
    }
    let addrs = (host, port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?;
    addrs.into_iter().find(fits).ok_or_else(|| format!("{host} has no address of the requested family"))
}

struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

fn latency_us(stats: &Stats) -> Latency {
    let h = &stats.hist;
    let us = |ns: u64| if h.is_empty() { 0.0 } else { ns as f64 / 1000.0 };
    Latency {
        p50: us(h.value_at_quantile(0.50)),
        p90: us(h.value_at_quantile(0.90)),
        p99: us(h.value_at_quantile(0.99)),
        p999: us(h.value_at_quantile(0.999)),
        max: us(h.max()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args(std::env::args_os()));
    let url = match parse_url(&cli.url) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("htstress: {e}");
            return ExitCode::from(2);
        }
    };
    let family = if cli.ipv4 {
        Family::V4
    } else if cli.ipv6 {
        Family::V6
    } else {
        Family::Any
    };
    let (addr, tcp, target) = match &cli.unix {
        Some(path) => match sys::RawAddr::unix(path) {
            Ok(a) => (a, false, format!("unix:{}", path.display())),
            Err(e) => {
                eprintln!("htstress: {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => match resolve(&url.host, url.port, family) {
            Ok(a) => (sys::RawAddr::inet(a), true, a.to_string()),
            Err(e) => {
                eprintln!("htstress: {e}");
                return ExitCode::from(1);
            }
        },
    };

    let host = cli.host_header.clone().unwrap_or_else(|| url.authority.clone());
    let (request, request_close) = if cli.keep_alive.is_some() {
        (
            format!("GET {} HTTP/1.1\r\nHost: {host}\r\n\r\n", url.path),
            format!("GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", url.path),
        )
    } else {
        let r = format!("GET {} HTTP/1.0\r\nHost: {host}\r\n\r\n", url.path);
        (r.clone(), r)
    };

    // High -c needs many sockets; failing to raise the limit only matters if we hit it.
    let _ = user::net::raise_nofile_limit();
    let stop_fd = match sys::stop_on_sigint() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("htstress: cannot set up SIGINT handling: {e}");
            return ExitCode::from(1);
        }
    };

    // None: no request count (until Ctrl-C or the duration ends).
    let total = if cli.duration.is_some() || cli.requests == 0 { None } else { Some(cli.requests) };
    let progress = total
        .filter(|&n| n >= 10)
        .map(|n| Progress { total: n, step: n / 10, done: AtomicU64::new(0) });
    let threads = cli.threads as usize;

    if cli.debug {
        eprintln!("htstress: {target}, {threads} thread(s) x {} connection(s)", cli.concurrency);
        eprint!("request:\n{request}");
    }

    let cpu_before = sys::cpu_time();
    let start = Instant::now();
    let cfg = Config {
        addr,
        tcp,
        request: request.into_bytes(),
        request_close: request_close.into_bytes(),
        keep_alive: cli.keep_alive,
        concurrency: cli.concurrency as usize,
        debug: cli.debug,
        deadline: cli.duration.map(|s| start + Duration::from_secs_f64(s)),
        stop_fd,
        progress,
    };
    let results: Vec<std::io::Result<Stats>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                // Split the total exactly: the first n % t threads get one more.
                let quota = total.map(|n| n / threads as u64 + u64::from((t as u64) < n % threads as u64));
                let cfg = &cfg;
                s.spawn(move || Worker::new(cfg, t, quota).map(Worker::run))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker thread panicked")).collect()
    });
    let elapsed = start.elapsed();
    let cpu_after = sys::cpu_time();

    let mut stats = Stats::new();
    for r in results {
        match r {
            Ok(s) => stats.merge(&s),
            Err(e) => {
                eprintln!("htstress: worker setup failed: {e}");
                return ExitCode::from(1);
            }
        }
    }

    let requests = stats.good + stats.bad + stats.errors;
    let secs = elapsed.as_secs_f64();
    let rps = if secs > 0.0 { requests as f64 / secs } else { 0.0 };
    let lat = latency_us(&stats);
    let user = cpu_after.0.saturating_sub(cpu_before.0).as_secs_f64();
    let sys_t = cpu_after.1.saturating_sub(cpu_before.1).as_secs_f64();
    let cpu = user + sys_t;
    let per_cpu = if cpu > 0.0 { requests as f64 / cpu } else { 0.0 };
    let mib_s = if secs > 0.0 { stats.bytes as f64 / secs / (1024.0 * 1024.0) } else { 0.0 };
    let pct = |x: u64| if requests == 0 { 0 } else { x * 100 / requests };

    if cli.json {
        let mut obj = serde_json::json!({
            "url": cli.url,
            "target": target,
            "threads": cli.threads,
            "concurrency": cli.concurrency,
            "keep_alive": cli.keep_alive.is_some(),
            "keep_alive_requests_per_connection": cli.keep_alive.filter(|&n| n > 0),
            "requests": requests,
            "good": stats.good,
            "bad": stats.bad,
            "socket_errors": stats.errors,
            "connections": stats.connections,
            "seconds": secs,
            "rps": rps,
            "bytes_received": stats.bytes,
            "mib_per_second": mib_s,
            "latency_us": {
                "p50": lat.p50,
                "p90": lat.p90,
                "p99": lat.p99,
                "p99_9": lat.p999,
                "max": lat.max,
            },
        });
        if cli.cpu {
            let o = obj.as_object_mut().unwrap();
            o.insert("cpu_user_seconds".into(), user.into());
            o.insert("cpu_sys_seconds".into(), sys_t.into());
            o.insert("cpu_seconds".into(), cpu.into());
            o.insert("requests_per_cpu_second".into(), per_cpu.into());
        }
        println!("{obj}");
    } else {
        println!();
        println!("requests:      {requests}");
        println!("good requests: {} [{}%]", stats.good, pct(stats.good));
        println!("bad requests:  {} [{}%]", stats.bad, pct(stats.bad));
        println!("socket errors: {} [{}%]", stats.errors, pct(stats.errors));
        println!("seconds:       {secs:.6}");
        println!("requests/sec:  {rps:.3}");
        println!("received:      {} bytes ({mib_s:.3} MiB/s)", stats.bytes);
        println!("connections:   {}", stats.connections);
        println!("latency p50:   {:.1} us", lat.p50);
        println!("latency p90:   {:.1} us", lat.p90);
        println!("latency p99:   {:.1} us", lat.p99);
        println!("latency p99.9: {:.1} us", lat.p999);
        println!("latency max:   {:.1} us", lat.max);
        if cli.cpu {
            println!("cpu seconds:   {cpu:.6} (user {user:.6}, sys {sys_t:.6})");
            println!("requests/cpu-second: {per_cpu:.3}");
        }
    }

    if requests > 0 && !stats.connected {
        eprintln!("htstress: no connection could be made to {target}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn keep_alive_count_is_optional() {
        assert_eq!(normalize_args(args(&["x", "-k", "http://a/"])), args(&["x", "--keep-alive=0", "http://a/"]));
        assert_eq!(normalize_args(args(&["x", "-k", "5", "a/"])), args(&["x", "--keep-alive=5", "a/"]));
        assert_eq!(normalize_args(args(&["x", "-k7", "a/"])), args(&["x", "--keep-alive=7", "a/"]));
        assert_eq!(normalize_args(args(&["x", "a/", "--keep-alive"])), args(&["x", "a/", "--keep-alive=0"]));
        let cli = Cli::try_parse_from(normalize_args(args(&["x", "-k", "3", "-n", "9", "a/"]))).unwrap();
        assert_eq!((cli.keep_alive, cli.requests), (Some(3), 9));
    }

    #[test]
    fn cli_basics() {
        let cli = Cli::try_parse_from(args(&["x", "-h", "example.org", "-t", "2", "a:81/p"])).unwrap();
        assert_eq!(cli.host_header.as_deref(), Some("example.org"));
        assert_eq!((cli.requests, cli.concurrency, cli.threads), (1, 1, 2));
        assert!(Cli::try_parse_from(args(&["x", "-4", "-6", "a/"])).is_err());
        assert!(Cli::try_parse_from(args(&["x", "-c", "0", "a/"])).is_err());
        assert!(Cli::try_parse_from(args(&["x", "--duration", "1", "-n", "5", "a/"])).is_err());
        assert!(Cli::try_parse_from(args(&["x"])).is_err());
    }

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8081/index.html").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.authority.as_str(), u.path.as_str()),
                   ("127.0.0.1", 8081, "127.0.0.1:8081", "/index.html"));
        let u = parse_url("localhost").unwrap();
        assert_eq!((u.port, u.authority.as_str(), u.path.as_str()), (80, "localhost", "/"));
        let u = parse_url("[::1]:8080/").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.authority.as_str()), ("::1", 8080, "[::1]:8080"));
        let u = parse_url("HTTP://[::1]/x").unwrap();
        assert_eq!((u.port, u.authority.as_str()), (80, "[::1]"));
        for bad in ["https://a/", "http:///x", "a:0/", "a:99999/", "a:x/", "[::1/", "a/b c"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolve_literals() {
        assert_eq!(resolve("localhost", 80, Family::V6).unwrap(), "[::1]:80".parse().unwrap());
        assert_eq!(resolve("127.0.0.1", 8, Family::Any).unwrap(), "127.0.0.1:8".parse().unwrap());
        assert!(resolve("127.0.0.1", 8, Family::V6).is_err());
    }
}
