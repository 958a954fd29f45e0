//! bench-http-report: turns the raw results of `make bench-http` (runs.jsonl: one
//! htstress run per line; wrk.jsonl: the htstress-vs-wrk client runs) into markdown
//! tables, a CSV of the cells and a chart of requests per second.

mod data;
mod plot;

use clap::Parser;
use data::{Cell, ClientRun, Run};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "bench-http-report",
    version,
    about = "Tables and charts from make bench-http's runs.jsonl (and wrk.jsonl)",
    after_help = "Example: bench-http-report --runs runs.jsonl --clients wrk.jsonl \
                  --csv cells.csv --plot http.png > table.md"
)]
struct Args {
    /// htstress runs, one JSON object per line (scripts/guest/bench-http.sh)
    #[arg(long, value_name = "FILE")]
    runs: PathBuf,
    /// htstress-vs-wrk client runs, one JSON object per line (may be missing or empty)
    #[arg(long, value_name = "FILE")]
    clients: Option<PathBuf>,
    /// The two servers compared, as A,B: ratios are A's req/s divided by B's
    #[arg(long, default_value = "khttpd,nginx")]
    pair: String,
    /// Write one row per cell and server as CSV
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Draw a PNG chart: req/s per concurrency, one panel per mode and file
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
    /// The same chart as SVG
    #[arg(long, value_name = "FILE.svg")]
    svg: Option<PathBuf>,
    /// Chart title
    #[arg(long, default_value = "khttpd vs nginx, requests per second")]
    title: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match real_main(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-http-report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(args: &Args) -> Result<(), String> {
    let (a, b) = args
        .pair
        .split_once(',')
        .filter(|(a, b)| !a.is_empty() && !b.is_empty() && a != b)
        .ok_or_else(|| format!("--pair wants two different names as A,B, got '{}'", args.pair))?;
    let runs = Run::read_jsonl(&args.runs)?;
    if runs.is_empty() {
        return Err(format!("{}: no runs", args.runs.display()));
    }
    let cells = data::cells(&runs);
    let clients = match &args.clients {
        Some(p) if p.exists() => ClientRun::read_jsonl(p)?,
        _ => Vec::new(),
    };

    let mut out = String::new();
    cell_table(&mut out, &cells, a, b);
    out.push('\n');
    ratio_table(&mut out, &cells, a, b);
    if !clients.is_empty() {
        out.push('\n');
        client_table(&mut out, &clients);
    }
    print!("{out}");

    if let Some(p) = &args.csv {
        data::write_csv(p, &cells)?;
    }
    let panels = plot::panels(&cells, a, b);
    if let Some(p) = &args.plot {
        plot::png(p, &args.title, a, b, &panels)?;
    }
    if let Some(p) = &args.svg {
        plot::svg(p, &args.title, a, b, &panels)?;
    }
    Ok(())
}

/// Human-friendly numbers: about three significant digits, no exponent.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ratio(x: Option<f64>, y: Option<f64>) -> Option<f64> {
    match (x, y) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), num)
}

fn errors(c: Option<&data::Agg>) -> String {
    match c {
        None => "-".into(),
        Some(g) if g.failed_runs > 0 => format!("{} ({} run(s) failed)", g.errors, g.failed_runs),
        Some(g) => g.errors.to_string(),
    }
}

fn cell_table(out: &mut String, cells: &[Cell], a: &str, b: &str) {
    let _ = writeln!(
        out,
        "| mode | file | conns | {a} req/s | {b} req/s | {a}/{b} | {a} p99 ms | {b} p99 ms | {a} errors | {b} errors |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for c in cells {
        let (x, y) = (c.get(a), c.get(b));
        let rps = |g: Option<&data::Agg>| g.and_then(|g| g.rps());
        let p99 = |g: Option<&data::Agg>| g.and_then(|g| g.p99_us()).map(|us| us / 1000.0);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.mode,
            c.file,
            c.conc,
            opt(rps(x)),
            opt(rps(y)),
            opt(ratio(rps(x), rps(y))),
            opt(p99(x)),
            opt(p99(y)),
            errors(x),
            errors(y),
        );
    }
}

/// The ratios alone: one row per mode and file, one column per concurrency.
fn ratio_table(out: &mut String, cells: &[Cell], a: &str, b: &str) {
    let concs = data::concurrencies(cells);
    let _ = writeln!(out, "{a} req/s divided by {b} req/s:");
    out.push('\n');
    let _ = write!(out, "| mode | file |");
    for c in &concs {
        let _ = write!(out, " {c} conn{} |", if *c == 1 { "" } else { "s" });
    }
    let _ = write!(out, "\n| --- | --- |");
    for _ in &concs {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for (mode, file) in data::rows(cells) {
        let _ = write!(out, "| {mode} | {file} |");
        for conc in &concs {
            let r = cells
                .iter()
                .find(|c| c.mode == mode && c.file == file && c.conc == *conc)
                .and_then(|c| ratio(c.get(a).and_then(|g| g.rps()), c.get(b).and_then(|g| g.rps())));
            let _ = write!(out, " {} |", opt(r));
        }
        out.push('\n');
    }
}

fn client_table(out: &mut String, clients: &[ClientRun]) {
    let _ = writeln!(
        out,
        "| server | file | conns | client | req/s | p99 ms | client CPU s | req per client CPU-s | errors |"
    );
    let _ = writeln!(out, "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in clients {
        let cpu = if let Some(own) = r.own_cpu_seconds {
            format!("{} (own count {})", num(r.cpu_seconds), num(own))
        } else {
            num(r.cpu_seconds)
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.server,
            r.file,
            r.conc,
            r.tool,
            opt(r.rps()),
            num(r.p99_us / 1000.0),
            cpu,
            opt(r.per_cpu()),
            r.errors + u64::from(r.exit != 0),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables() {
        let l = |s: &str, c: u64, r: u64| {
            format!(r#"{{"server":"{s}","file":"12b","mode":"close","conc":{c},"exit":0,"tcp":{{}},"htstress":{{"bad":0,"socket_errors":0,"requests":{r},"seconds":2.0,"latency_us":{{"p99":1500}}}}}}"#)
        };
        let runs: Vec<Run> = [l("khttpd", 1, 300), l("nginx", 1, 200), l("nginx", 20, 100)]
            .iter()
            .map(|x| Run::from_json(&serde_json::from_str(x).unwrap()).unwrap())
            .collect();
        let cells = data::cells(&runs);
        let mut out = String::new();
        cell_table(&mut out, &cells, "khttpd", "nginx");
        assert!(out.contains("| close | 12b | 1 | 150 | 100 | 1.50 | 1.50 | 1.50 | 0 | 0 |"), "{out}");
        assert!(out.contains("| close | 12b | 20 | - | 50.0 | - | - | 1.50 | - | 0 |"), "{out}");
        let mut out = String::new();
        ratio_table(&mut out, &cells, "khttpd", "nginx");
        assert!(out.contains("| mode | file | 1 conn | 20 conns |"), "{out}");
        assert!(out.contains("| close | 12b | 1.50 | - |"), "{out}");
    }

    #[test]
    fn numbers() {
        assert_eq!(num(12345.6), "12346");
        assert_eq!(num(45.67), "45.7");
        assert_eq!(num(0.456), "0.46");
        assert_eq!(num(f64::NAN), "-");
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
    }
}
