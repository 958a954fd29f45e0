//! khttpd-stat: what khttpd (or kecho) is doing, once a second, like `vmstat`.
//!
//!   khttpd-stat [INTERVAL [COUNT]]        reads /proc/net/khttpd
//!   khttpd-stat --kecho [INTERVAL [COUNT]] reads /proc/net/kecho
//!   khttpd-stat --file PATH ...           any file in that format
//!
//! The file holds `name value` lines (see the README). Gauges (connections open,
//! reading, writing, waiting, cache entries and bytes) are printed as they are; every
//! other counter as a rate per second over the interval; the first line shows the
//! totals since the module was loaded instead.

use clap::Parser;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Live statistics of khttpd or kecho (/proc/net/khttpd, /proc/net/kecho), once per interval")]
struct Args {
    /// Seconds between lines
    #[arg(default_value_t = 1.0)]
    interval: f64,
    /// Lines to print (0: until interrupted)
    #[arg(default_value_t = 0)]
    count: u64,
    /// Show kecho's file instead of khttpd's
    #[arg(long)]
    kecho: bool,
    /// Read this file instead
    #[arg(long)]
    file: Option<String>,
}

/// Parses `name value` lines; other lines are skipped.
fn parse(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (k, v) = (it.next()?, it.next()?);
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// One column: header, and how its value is made from the previous and current
/// readings over `secs`.
struct Column {
    header: &'static str,
    width: usize,
    value: fn(&BTreeMap<String, u64>, Option<&BTreeMap<String, u64>>, f64) -> String,
}

fn get(m: &BTreeMap<String, u64>, k: &str) -> u64 {
    m.get(k).copied().unwrap_or(0)
}

/// The counter's rate per second (or its total on the first line).
fn rate(cur: &BTreeMap<String, u64>, prev: Option<&BTreeMap<String, u64>>, secs: f64, k: &str) -> f64 {
    match prev {
        Some(p) => get(cur, k).saturating_sub(get(p, k)) as f64 / secs.max(1e-9),
        None => get(cur, k) as f64,
    }
}

fn fmt_num(v: f64) -> String {
    if v >= 10_000_000.0 {
        format!("{:.0}M", v / 1e6)
    } else if v >= 100_000.0 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{:.0}", v)
    }
}

macro_rules! gauge {
    ($h:expr, $w:expr, $k:expr) => {
        Column { header: $h, width: $w, value: |c, _, _| get(c, $k).to_string() }
    };
}
macro_rules! counter {
    ($h:expr, $w:expr, $k:expr) => {
        Column { header: $h, width: $w, value: |c, p, s| fmt_num(rate(c, p, s, $k)) }
    };
}

fn khttpd_columns() -> Vec<Column> {
    vec![
        gauge!("open", 7, "connections_open"),
        gauge!("rd", 5, "reading"),
        gauge!("wr", 5, "writing"),
        gauge!("wt", 6, "waiting"),
        counter!("acc/s", 7, "accepted"),
        counter!("ref/s", 6, "refused"),
        counter!("req/s", 8, "requests"),
        counter!("2xx/s", 8, "responses_2xx"),
        counter!("3xx/s", 6, "responses_3xx"),
        counter!("4xx/s", 6, "responses_4xx"),
        counter!("5xx/s", 6, "responses_5xx"),
        Column {
            header: "MB/s",
            width: 8,
            value: |c, p, s| format!("{:.1}", rate(c, p, s, "bytes_sent") / 1e6),
        },
        Column {
            header: "spl%",
            width: 5,
            value: |c, p, s| {
                let sent = rate(c, p, s, "bytes_sent");
                if sent > 0.0 { format!("{:.0}", 100.0 * rate(c, p, s, "bytes_spliced") / sent) } else { "-".into() }
            },
        },
        counter!("gz/s", 6, "compressed"),
        Column {
            header: "hit%",
            width: 5,
            value: |c, p, s| {
                let (h, m) = (rate(c, p, s, "cache_hits"), rate(c, p, s, "cache_misses"));
                if h + m > 0.0 { format!("{:.0}", 100.0 * h / (h + m)) } else { "-".into() }
            },
        },
        gauge!("cached", 7, "cache_entries"),
    ]
}

fn kecho_columns() -> Vec<Column> {
    vec![
        gauge!("open", 7, "connections_open"),
        counter!("acc/s", 7, "accepted"),
        counter!("ref/s", 6, "refused"),
        Column { header: "MB/s", width: 8, value: |c, p, s| format!("{:.2}", rate(c, p, s, "bytes_echoed") / 1e6) },
    ]
}

fn line(cols: &[Column], cur: &BTreeMap<String, u64>, prev: Option<&BTreeMap<String, u64>>, secs: f64) -> String {
    cols.iter().map(|c| format!("{:>w$}", (c.value)(cur, prev, secs), w = c.width)).collect::<Vec<_>>().join(" ")
}

fn main() {
    let args = Args::parse();
    let path = args.file.clone().unwrap_or_else(|| {
        if args.kecho { "/proc/net/kecho" } else { "/proc/net/khttpd" }.to_string()
    });
    let cols = if args.kecho { kecho_columns() } else { khttpd_columns() };
    let read = || std::fs::read_to_string(&path);
    let mut prev: Option<(BTreeMap<String, u64>, Instant)> = None;
    let mut printed = 0u64;
    loop {
        let text = match read() {
            Ok(t) => t,
            Err(e) => {
                eprintln!("khttpd-stat: cannot read {}: {} (is the module loaded?)", path, e);
                std::process::exit(1);
            }
        };
        let cur = parse(&text);
        let now = Instant::now();
        if printed % 20 == 0 {
            println!("{}", cols.iter().map(|c| format!("{:>w$}", c.header, w = c.width)).collect::<Vec<_>>().join(" "));
        }
        let secs = prev.as_ref().map_or(1.0, |(_, t)| now.duration_since(*t).as_secs_f64());
        println!("{}", line(&cols, &cur, prev.as_ref().map(|(m, _)| m), secs));
        printed += 1;
        if args.count > 0 && printed >= args.count {
            break;
        }
        prev = Some((cur, now));
        std::thread::sleep(Duration::from_secs_f64(args.interval.max(0.05)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_value_lines() {
        let m = parse("connections_open 3\nrequests 10\ngarbage\nbytes_sent 12345\n");
        assert_eq!(get(&m, "connections_open"), 3);
        assert_eq!(get(&m, "requests"), 10);
        assert_eq!(get(&m, "bytes_sent"), 12345);
        assert_eq!(get(&m, "missing"), 0);
    }

    #[test]
    fn rates_and_gauges() {
        let a = parse("requests 100\nreading 2\ncache_hits 0\ncache_misses 0\n");
        let b = parse("requests 300\nreading 5\ncache_hits 90\ncache_misses 10\n");
        let cols = khttpd_columns();
        let l = line(&cols, &b, Some(&a), 2.0);
        // req/s = 200 / 2 s; reading is a gauge
        assert!(l.split_whitespace().any(|v| v == "100"), "{}", l);
        assert!(l.split_whitespace().any(|v| v == "5"), "{}", l);
        assert!(l.split_whitespace().any(|v| v == "90"), "hit% in {}", l);
        // first line: totals
        let first = line(&cols, &b, None, 1.0);
        assert!(first.split_whitespace().any(|v| v == "300"), "{}", first);
    }
}
