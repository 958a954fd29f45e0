//! bench-http-report: turns the raw results of `make bench-http` (runs.jsonl: one
//! htstress run per line; wrk.jsonl: the htstress-vs-wrk client runs) into markdown
//! tables, a CSV of the cells and a chart of requests per second. The first server of
//! --servers (khttpd) is compared with each of the others (nginx, and nginx-cache: nginx
//! with open_file_cache); servers the runs lack (older results) are left out.

mod data;
mod plot;

use clap::Parser;
use data::{num, Cell, ClientRun, Run};
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
    /// The servers compared, as A,B[,C...]: ratios are A's req/s divided by each other's
    /// (and, with three or more, C's and further ones' divided by B's). Servers without
    /// any run are left out. --pair is the old name.
    #[arg(long, alias = "pair", default_value = "khttpd,nginx,nginx-cache")]
    servers: String,
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

/// The names of --servers: at least two, all different.
fn server_list(arg: &str) -> Result<Vec<&str>, String> {
    let v: Vec<&str> = arg.split(',').map(str::trim).collect();
    let distinct = v.iter().enumerate().all(|(i, s)| !s.is_empty() && !v[..i].contains(s));
    if v.len() < 2 || !distinct {
        return Err(format!("--servers wants two or more different names as A,B[,C...], got '{arg}'"));
    }
    Ok(v)
}

/// The pairs whose req/s ratio the report shows: the first server against each other,
/// then every further one against the second (what nginx-cache gains over nginx).
fn ratio_pairs<'a>(servers: &[&'a str]) -> Vec<(&'a str, &'a str)> {
    let mut v: Vec<(&str, &str)> = servers[1..].iter().map(|&o| (servers[0], o)).collect();
    if servers.len() > 2 {
        v.extend(servers[2..].iter().map(|&o| (o, servers[1])));
    }
    v
}

fn real_main(args: &Args) -> Result<(), String> {
    let wanted = server_list(&args.servers)?;
    let runs = Run::read_jsonl(&args.runs)?;
    if runs.is_empty() {
        return Err(format!("{}: no runs", args.runs.display()));
    }
    let cells = data::cells(&runs);
    let servers = data::present(&cells, &wanted);
    if servers.len() < 2 || servers[0] != wanted[0] {
        return Err(format!(
            "{}: need runs of {} and at least one of the others of --servers {}",
            args.runs.display(),
            wanted[0],
            args.servers
        ));
    }
    let clients = match &args.clients {
        Some(p) if p.exists() => ClientRun::read_jsonl(p)?,
        _ => Vec::new(),
    };

    let mut out = String::new();
    cell_table(&mut out, &cells, &servers);
    for (a, b) in ratio_pairs(&servers) {
        out.push('\n');
        ratio_table(&mut out, &cells, a, b);
    }
    if !clients.is_empty() {
        out.push('\n');
        client_table(&mut out, &clients);
    }
    print!("{out}");

    if let Some(p) = &args.csv {
        data::write_csv(p, &cells, &servers)?;
    }
    let panels = plot::panels(&cells, &servers);
    if let Some(p) = &args.plot {
        plot::png(p, &args.title, &servers, &panels)?;
    }
    if let Some(p) = &args.svg {
        plot::svg(p, &args.title, &servers, &panels)?;
    }
    Ok(())
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

/// One row per cell: every server's req/s, the first server's req/s divided by each
/// other's, every server's p99 and errors.
fn cell_table(out: &mut String, cells: &[Cell], servers: &[&str]) {
    let (a, others) = (servers[0], &servers[1..]);
    let mut head = String::from("| mode | file | conns |");
    for s in servers {
        let _ = write!(head, " {s} req/s |");
    }
    for o in others {
        let _ = write!(head, " {a}/{o} |");
    }
    for s in servers {
        let _ = write!(head, " {s} p99 ms |");
    }
    for s in servers {
        let _ = write!(head, " {s} errors |");
    }
    let _ = writeln!(out, "{head}");
    let _ = writeln!(out, "| --- | --- |{}", " ---: |".repeat(1 + 3 * servers.len() + others.len()));
    let rps = |c: &Cell, s: &str| c.get(s).and_then(|g| g.rps());
    for c in cells {
        let mut row = format!("| {} | {} | {} |", c.mode, c.file, c.conc);
        for s in servers {
            let _ = write!(row, " {} |", opt(rps(c, s)));
        }
        for o in others {
            let _ = write!(row, " {} |", opt(ratio(rps(c, a), rps(c, o))));
        }
        for s in servers {
            let _ = write!(row, " {} |", opt(c.get(s).and_then(|g| g.p99_us()).map(|us| us / 1000.0)));
        }
        for s in servers {
            let _ = write!(row, " {} |", errors(c.get(s)));
        }
        let _ = writeln!(out, "{row}");
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

    fn l(s: &str, c: u64, r: u64) -> String {
        format!(r#"{{"server":"{s}","file":"12b","mode":"close","conc":{c},"exit":0,"tcp":{{}},"htstress":{{"bad":0,"socket_errors":0,"requests":{r},"seconds":2.0,"latency_us":{{"p99":1500}}}}}}"#)
    }

    fn cells_of(lines: &[String]) -> Vec<Cell> {
        let runs: Vec<Run> =
            lines.iter().map(|x| Run::from_json(&serde_json::from_str(x).unwrap()).unwrap()).collect();
        data::cells(&runs)
    }

    #[test]
    fn server_lists() {
        assert_eq!(server_list("khttpd,nginx,nginx-cache").unwrap(), ["khttpd", "nginx", "nginx-cache"]);
        assert_eq!(server_list("khttpd, nginx").unwrap(), ["khttpd", "nginx"]);
        assert!(server_list("khttpd").is_err());
        assert!(server_list("khttpd,").is_err());
        assert!(server_list("khttpd,nginx,khttpd").is_err());
        assert_eq!(ratio_pairs(&["k", "n"]), [("k", "n")]);
        assert_eq!(ratio_pairs(&["k", "n", "c"]), [("k", "n"), ("k", "c"), ("c", "n")]);
        // --pair still works.
        let a = Args::try_parse_from(["r", "--runs", "x", "--pair", "khttpd,nginx"]).unwrap();
        assert_eq!(a.servers, "khttpd,nginx");
        let a = Args::try_parse_from(["r", "--runs", "x"]).unwrap();
        assert_eq!(a.servers, "khttpd,nginx,nginx-cache");
    }

    #[test]
    fn three_server_tables() {
        let cells = cells_of(&[
            l("nginx-cache", 1, 250),
            l("khttpd", 1, 300),
            l("nginx", 1, 200),
            l("nginx", 20, 100),
            l("nginx-cache", 20, 0),
        ]);
        let servers = data::present(&cells, &["khttpd", "nginx", "nginx-cache"]);
        let mut out = String::new();
        cell_table(&mut out, &cells, &servers);
        assert!(out.starts_with(
            "| mode | file | conns | khttpd req/s | nginx req/s | nginx-cache req/s | khttpd/nginx | khttpd/nginx-cache \
             | khttpd p99 ms | nginx p99 ms | nginx-cache p99 ms | khttpd errors | nginx errors | nginx-cache errors |\n\
             | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
        ), "{out}");
        assert!(out.contains("| close | 12b | 1 | 150 | 100 | 125 | 1.50 | 1.20 | 1.50 | 1.50 | 1.50 | 0 | 0 | 0 |"), "{out}");
        // nginx-cache completed nothing: 0 req/s, no ratio, no p99.
        assert!(out.contains("| close | 12b | 20 | - | 50.0 | 0.00 | - | - | - | 1.50 | - | - | 0 | 0 |"), "{out}");
        let mut out = String::new();
        for (a, b) in ratio_pairs(&servers) {
            ratio_table(&mut out, &cells, a, b);
        }
        assert!(out.contains("khttpd req/s divided by nginx req/s:\n\n| mode | file | 1 conn | 20 conns |\n| --- | --- | ---: | ---: |\n| close | 12b | 1.50 | - |"), "{out}");
        assert!(out.contains("khttpd req/s divided by nginx-cache req/s:\n\n| mode | file | 1 conn | 20 conns |\n| --- | --- | ---: | ---: |\n| close | 12b | 1.20 | - |"), "{out}");
        assert!(out.contains("nginx-cache req/s divided by nginx req/s:\n\n| mode | file | 1 conn | 20 conns |\n| --- | --- | ---: | ---: |\n| close | 12b | 1.25 | 0.00 |"), "{out}");
    }

    #[test]
    fn tables() {
        // Results of the two-server benchmark read as before.
        let cells = cells_of(&[l("khttpd", 1, 300), l("nginx", 1, 200), l("nginx", 20, 100)]);
        let servers = data::present(&cells, &["khttpd", "nginx", "nginx-cache"]);
        assert_eq!(servers, ["khttpd", "nginx"]);
        let mut out = String::new();
        cell_table(&mut out, &cells, &servers);
        assert!(out.starts_with("| mode | file | conns | khttpd req/s | nginx req/s | khttpd/nginx | khttpd p99 ms | nginx p99 ms | khttpd errors | nginx errors |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"), "{out}");
        assert!(out.contains("| close | 12b | 1 | 150 | 100 | 1.50 | 1.50 | 1.50 | 0 | 0 |"), "{out}");
        assert!(out.contains("| close | 12b | 20 | - | 50.0 | - | - | 1.50 | - | 0 |"), "{out}");
        assert_eq!(ratio_pairs(&servers), [("khttpd", "nginx")]);
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
