//! conns: many concurrent keep-alive connections, each answered once, then held.
//!
//! The C100K benchmark client (`make bench-conns`). One thread, one epoll set:
//! 1. connect: opens --count connections to --addr, at most --batch connects in
//!    flight, each socket bound to 127.0.0.(1 + i % --sources) with port 0 and
//!    IP_BIND_ADDRESS_NO_PORT, so every source address has its own ephemeral ports;
//! 2. answer: on every connection one request (HTTP/1.1 GET, keep-alive, checked: 200,
//!    Content-Length, the whole body, optionally equal to --expect-file) or one echo
//!    (--payload bytes, read back and compared), at most --batch unanswered at once;
//! 3. hold: keeps them all open for --hold seconds and until --wait-file exists,
//!    counting those the server closes; SIGUSR1 marks the moment the server is being
//!    stopped (closes before it are premature, after it expected).
//! After phase 2 it writes --ready-file (one line: counts, its RSS, its pid), so a
//! script can measure memory and stop the server while everything is held.
//!
//! Output: a human summary on stderr; with --json one JSON object on stdout.
//! Exit status: 0 when every connection connected and got a correct answer (closes
//! during the hold are reported, not failures); 1 otherwise; 2 for usage errors and
//! when the open-file limit cannot reach --count descriptors.

mod proto;
mod run;
mod sys;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use run::{Config, Mode, Phase, Report};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Http,
    Echo,
}

#[derive(Parser, Debug)]
#[command(name = "conns", version, about = "Open many keep-alive connections, answer each once, hold them all")]
struct Cli {
    /// Server address, IPv4 HOST:PORT
    #[arg(long)]
    addr: String,
    /// Connections to open
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    count: u64,
    /// Source addresses 127.0.0.1 .. 127.0.0.K, in rotation (each has its own ephemeral ports)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=254))]
    sources: u8,
    /// What to send on each connection
    #[arg(long, value_enum, default_value_t = ModeArg::Http)]
    mode: ModeArg,
    /// Path to GET (http)
    #[arg(long, default_value = "/")]
    path: String,
    /// Bytes to send and get back (echo)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    payload: u64,
    /// The body every HTTP answer must have, byte for byte (http)
    #[arg(long, value_name = "PATH")]
    expect_file: Option<PathBuf>,
    /// Most connects (phase 1) and unanswered requests (phase 2) in flight; 0: no limit
    #[arg(long, default_value_t = 1000)]
    batch: u64,
    /// Seconds to hold the connections after all are answered
    #[arg(long, default_value_t = 0.0, value_parser = parse_secs)]
    hold: f64,
    /// After --hold, keep holding until this file exists
    #[arg(long, value_name = "PATH")]
    wait_file: Option<PathBuf>,
    /// Give up waiting for --wait-file after this many seconds
    #[arg(long, default_value_t = 3600.0, value_parser = parse_secs)]
    wait_timeout: f64,
    /// Written when all are answered and the hold begins (one line: counts, RSS, pid)
    #[arg(long, value_name = "PATH")]
    ready_file: Option<PathBuf>,
    /// A phase gives up on what is in flight after this many seconds without progress
    #[arg(long, default_value_t = 120.0, value_parser = parse_secs)]
    stall_timeout: f64,
    /// One JSON object on stdout
    #[arg(long)]
    json: bool,
    /// No progress lines on stderr (the summary is still printed)
    #[arg(short, long)]
    quiet: bool,
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..1e9).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds")),
    }
}

/// Descriptors needed besides the connections: stdio, epoll, signalfd, files.
const SPARE_FDS: u64 = 32;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let addr = match user::net::resolve(&cli.addr) {
        Ok(a @ SocketAddr::V4(_)) => a,
        Ok(a) => {
            eprintln!("conns: {a}: only IPv4 (the source addresses are 127.0.0.x)");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("conns: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = match cli.mode {
        ModeArg::Http => {
            if cli.path.is_empty() || !cli.path.starts_with('/') || cli.path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
                eprintln!("conns: --path must start with / and contain no spaces or control characters");
                return ExitCode::from(2);
            }
            let expect = match &cli.expect_file {
                None => None,
                Some(p) => match std::fs::read(p) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        eprintln!("conns: {}: {e}", p.display());
                        return ExitCode::from(2);
                    }
                },
            };
            Mode::Http { request: proto::http_request(&cli.path), expect }
        }
        ModeArg::Echo => {
            if cli.expect_file.is_some() {
                eprintln!("conns: --expect-file is for --mode http");
                return ExitCode::from(2);
            }
            Mode::Echo { len: cli.payload }
        }
    };

    let want = cli.count + SPARE_FDS;
    let nofile = match sys::raise_nofile(want) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("conns: cannot read or raise RLIMIT_NOFILE: {e}");
            return ExitCode::from(2);
        }
    };
    if nofile < want {
        eprintln!(
            "conns: the open-file limit is {nofile} descriptors and cannot be raised to {want} \
             ({} connections + {SPARE_FDS}): raise the hard limit (ulimit -Hn as root, fs.nr_open)",
            cli.count
        );
        return ExitCode::from(2);
    }
    if cli.count > u64::from(cli.sources) * 64_000 {
        eprintln!(
            "conns: warning: {} connections from {} source address(es) need more than the ~64,000 \
             ephemeral ports one address has; expect EADDRNOTAVAIL (use --sources)",
            cli.count, cli.sources
        );
    }

    let cfg = Config {
        addr,
        count: cli.count,
        sources: cli.sources,
        batch: cli.batch,
        mode,
        hold: Duration::from_secs_f64(cli.hold),
        wait_file: cli.wait_file.clone(),
        wait_timeout: Duration::from_secs_f64(cli.wait_timeout),
        ready_file: cli.ready_file.clone(),
        stall: Duration::from_secs_f64(cli.stall_timeout),
        progress: !cli.quiet,
    };
    let cpu0 = sys::cpu_time();
    let report = match run::run(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conns: {e}");
            return ExitCode::from(1);
        }
    };
    let cpu1 = sys::cpu_time();
    let cpu = (
        cpu1.0.saturating_sub(cpu0.0).as_secs_f64(),
        cpu1.1.saturating_sub(cpu0.1).as_secs_f64(),
    );

    let all_good = report.connect.ok == cli.count && report.answer.ok == cli.count;
    eprint!("{}", summary(&cli, addr, &report, nofile, cpu));
    if cli.json {
        println!("{}", to_json(&cli, addr, &report, nofile, cpu, all_good));
    }
    if all_good {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn latency_json(h: &Option<Histogram<u64>>) -> Value {
    match h {
        Some(h) if !h.is_empty() => json!({
            "p50": h.value_at_quantile(0.5),
            "p90": h.value_at_quantile(0.9),
            "p99": h.value_at_quantile(0.99),
            "max": h.max(),
        }),
        _ => Value::Null,
    }
}

fn phase_json(p: &Phase) -> Value {
    json!({
        "attempted": p.attempted,
        "ok": p.ok,
        "failed": p.failed,
        "errors": p.errors,
        "seconds": p.seconds,
        "per_second": rate(p.ok, p.seconds),
        "latency_us": latency_json(&p.latency),
        "stalled": p.stalled,
    })
}

fn to_json(cli: &Cli, addr: SocketAddr, r: &Report, nofile: u64, cpu: (f64, f64), ok: bool) -> Value {
    let h = &r.hold;
    json!({
        "target": addr.to_string(),
        "mode": match cli.mode { ModeArg::Http => "http", ModeArg::Echo => "echo" },
        "path": (cli.mode == ModeArg::Http).then_some(cli.path.as_str()),
        "payload": (cli.mode == ModeArg::Echo).then_some(cli.payload),
        "expect_file": cli.expect_file.as_ref().map(|p| p.display().to_string()),
        "count": cli.count,
        "sources": cli.sources,
        "batch": cli.batch,
        "nofile_limit": nofile,
        "connect": phase_json(&r.connect),
        "answer": phase_json(&r.answer),
        "closed_before_hold": r.closed_before_hold,
        "hold": {
            "open_at_start": h.open_at_start,
            "seconds": h.seconds,
            "closed_before_mark": h.closed_before_mark,
            "closed_after_mark": h.closed_after_mark,
            "closed_by_server": h.closed_before_mark + h.closed_after_mark,
            "reset": h.reset,
            "unexpected_data": h.unexpected_data,
            "still_open": h.still_open,
            "mark_uptime": h.mark_uptime,
            "last_close_uptime": h.last_close_uptime,
            "mark_to_last_close_seconds": h.mark_to_last_close,
            "wait_timed_out": h.wait_timed_out,
        },
        "ready_uptime": r.ready_uptime,
        "client_rss_kb_at_ready": r.rss_kb_at_ready,
        "client_cpu_user_seconds": cpu.0,
        "client_cpu_sys_seconds": cpu.1,
        "ok": ok,
    })
}

fn errors_str(p: &Phase) -> String {
    if p.errors.is_empty() {
        return String::new();
    }
    let v: Vec<String> = p.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!(" ({})", v.join(", "))
}

fn lat_str(p: &Phase) -> String {
    match &p.latency {
        Some(h) if !h.is_empty() => format!(
            "; latency p50 {} us, p99 {} us, max {} us",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        ),
        _ => String::new(),
    }
}

fn summary(cli: &Cli, addr: SocketAddr, r: &Report, nofile: u64, cpu: (f64, f64)) -> String {
    let (c, a, h) = (&r.connect, &r.answer, &r.hold);
    let what = match cli.mode {
        ModeArg::Http => format!("GET {}", cli.path),
        ModeArg::Echo => format!("echo of {} bytes", cli.payload),
    };
    let mut s = format!(
        "conns: {addr}, {} connections from {} source address(es), {} in flight, open-file limit {nofile}\n",
        cli.count,
        cli.sources,
        if cli.batch == 0 { "no limit".to_string() } else { format!("at most {}", cli.batch) }
    );
    s += &format!(
        "  connect: {} of {} in {:.3} s ({:.0}/s), {} failed{}{}{}\n",
        c.ok, c.attempted, c.seconds, rate(c.ok, c.seconds), c.failed, errors_str(c), lat_str(c),
        if c.stalled { "; STALLED" } else { "" }
    );
    s += &format!(
        "  answer ({what}): {} of {} correct in {:.3} s ({:.0}/s), {} failed{}{}{}\n",
        a.ok, a.attempted, a.seconds, rate(a.ok, a.seconds), a.failed, errors_str(a), lat_str(a),
        if a.stalled { "; STALLED" } else { "" }
    );
    if r.closed_before_hold > 0 {
        s += &format!("  closed by the server right after their answer: {}\n", r.closed_before_hold);
    }
    s += &format!(
        "  hold: {} open for {:.1} s; closed by the server {} before the mark (SIGUSR1), {} after{}; {} reset, {} with unexpected data; {} still open at the end\n",
        h.open_at_start,
        h.seconds,
        h.closed_before_mark,
        h.closed_after_mark,
        h.mark_to_last_close.map_or(String::new(), |t| format!(" (last {t:.3} s after the mark)")),
        h.reset,
        h.unexpected_data,
        h.still_open
    );
    s += &format!(
        "  client: RSS {} KiB when all were answered, CPU user {:.2} s, sys {:.2} s\n",
        r.rss_kb_at_ready.map_or("?".to_string(), |k| k.to_string()),
        cpu.0,
        cpu.1
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_defaults_and_limits() {
        let cli = Cli::try_parse_from(["conns", "--addr", "127.0.0.1:8081"]).unwrap();
        assert_eq!((cli.count, cli.sources, cli.batch, cli.mode), (1000, 1, 1000, ModeArg::Http));
        assert!(Cli::try_parse_from(["conns", "--addr", "a:1", "--sources", "0"]).is_err());
        assert!(Cli::try_parse_from(["conns", "--addr", "a:1", "--sources", "255"]).is_err());
        assert!(Cli::try_parse_from(["conns", "--addr", "a:1", "--count", "0"]).is_err());
        assert!(Cli::try_parse_from(["conns", "--addr", "a:1", "--hold", "-1"]).is_err());
        let cli = Cli::try_parse_from(["conns", "--addr", "a:1", "--mode", "echo", "--payload", "13"]).unwrap();
        assert_eq!((cli.mode, cli.payload), (ModeArg::Echo, 13));
    }
}
