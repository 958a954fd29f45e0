//! The raw results and their aggregation into cells (mode x file x concurrency).

use serde_json::Value;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// One htstress run against one server (a line of runs.jsonl).
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub server: String,
    pub file: String,
    pub mode: String,
    pub conc: u64,
    pub exit: i64,
    pub tcp: Tcp,
    /// None when htstress printed no result.
    pub result: Option<Result_>,
}

/// The kernel's TCP counters' increase during a run (only those the report uses).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tcp {
    pub estab_resets: u64,
    pub out_rsts: u64,
    pub listen_overflows: u64,
    /// Segments retransmitted and receive queues pruned: signs of TCP memory pressure.
    pub retrans_segs: u64,
    pub prune_called: u64,
}

/// What htstress --json reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Result_ {
    pub requests: u64,
    pub bad: u64,
    pub socket_errors: u64,
    pub seconds: f64,
    pub p99_us: f64,
}

fn field<'a>(v: &'a Value, k: &str) -> Result<&'a Value, String> {
    v.get(k).ok_or_else(|| format!("no \"{k}\""))
}
fn u64_of(v: &Value, k: &str) -> Result<u64, String> {
    field(v, k)?.as_u64().ok_or_else(|| format!("\"{k}\" is not a count"))
}
fn f64_of(v: &Value, k: &str) -> Result<f64, String> {
    field(v, k)?.as_f64().ok_or_else(|| format!("\"{k}\" is not a number"))
}
fn str_of(v: &Value, k: &str) -> Result<String, String> {
    Ok(field(v, k)?.as_str().ok_or_else(|| format!("\"{k}\" is not a string"))?.to_string())
}

fn read_lines<T>(path: &Path, parse: impl Fn(&Value) -> Result<T, String>) -> Result<Vec<T>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
        out.push(parse(&v).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?);
    }
    Ok(out)
}

impl Run {
    pub fn from_json(v: &Value) -> Result<Run, String> {
        let count = |k: &str| v.get("tcp").and_then(|t| t.get(k)).and_then(Value::as_u64).unwrap_or(0);
        let result = match field(v, "htstress")? {
            Value::Null => None,
            h => Some(Result_ {
                requests: u64_of(h, "requests")?,
                bad: u64_of(h, "bad")?,
                socket_errors: u64_of(h, "socket_errors")?,
                seconds: f64_of(h, "seconds")?,
                p99_us: f64_of(field(h, "latency_us")?, "p99")?,
            }),
        };
        Ok(Run {
            server: str_of(v, "server")?,
            file: str_of(v, "file")?,
            mode: str_of(v, "mode")?,
            conc: u64_of(v, "conc")?,
            exit: field(v, "exit")?.as_i64().ok_or("\"exit\" is not a number")?,
            tcp: Tcp {
                estab_resets: count("EstabResets"),
                out_rsts: count("OutRsts"),
                listen_overflows: count("ListenOverflows"),
                retrans_segs: count("RetransSegs"),
                prune_called: count("PruneCalled"),
            },
            result,
        })
    }

    pub fn read_jsonl(path: &Path) -> Result<Vec<Run>, String> {
        read_lines(path, Run::from_json)
    }
}

/// One client run of the htstress-vs-wrk comparison (a line of wrk.jsonl).
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRun {
    pub tool: String,
    pub server: String,
    pub file: String,
    pub conc: u64,
    pub exit: i64,
    pub requests: u64,
    pub seconds: f64,
    pub p99_us: f64,
    pub errors: u64,
    /// CPU time of the client process as its parent saw it (cutime + cstime).
    pub cpu_seconds: f64,
    /// htstress's own count (getrusage), for comparison; None for wrk.
    pub own_cpu_seconds: Option<f64>,
}

impl ClientRun {
    pub fn from_json(v: &Value) -> Result<ClientRun, String> {
        Ok(ClientRun {
            tool: str_of(v, "tool")?,
            server: str_of(v, "server")?,
            file: str_of(v, "file")?,
            conc: u64_of(v, "conc")?,
            exit: field(v, "exit")?.as_i64().ok_or("\"exit\" is not a number")?,
            requests: u64_of(v, "requests")?,
            seconds: f64_of(v, "seconds")?,
            p99_us: f64_of(v, "p99_us")?,
            errors: u64_of(v, "errors")?,
            cpu_seconds: f64_of(v, "cpu_seconds")?,
            own_cpu_seconds: v.get("own_cpu_seconds").and_then(Value::as_f64),
        })
    }

    pub fn read_jsonl(path: &Path) -> Result<Vec<ClientRun>, String> {
        read_lines(path, ClientRun::from_json)
    }

    pub fn rps(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.requests as f64 / self.seconds)
    }

    pub fn per_cpu(&self) -> Option<f64> {
        (self.cpu_seconds > 0.0).then(|| self.requests as f64 / self.cpu_seconds)
    }
}

/// One server's runs in one cell, summed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Agg {
    pub runs: u64,
    /// Runs without a result or with a non-zero exit status.
    pub failed_runs: u64,
    pub requests: u64,
    pub seconds: f64,
    /// Bad responses + socket errors.
    pub errors: u64,
    /// p99 of every run that completed requests.
    pub p99s: Vec<f64>,
    pub tcp: Tcp,
}

impl Agg {
    fn add(&mut self, r: &Run) {
        self.runs += 1;
        self.tcp.estab_resets += r.tcp.estab_resets;
        self.tcp.out_rsts += r.tcp.out_rsts;
        self.tcp.listen_overflows += r.tcp.listen_overflows;
        self.tcp.retrans_segs += r.tcp.retrans_segs;
        self.tcp.prune_called += r.tcp.prune_called;
        match &r.result {
            Some(h) => {
                if r.exit != 0 {
                    self.failed_runs += 1;
                }
                self.requests += h.requests;
                self.seconds += h.seconds;
                self.errors += h.bad + h.socket_errors;
                if h.requests > 0 {
                    self.p99s.push(h.p99_us);
                }
            }
            None => self.failed_runs += 1,
        }
    }

    /// All requests of the runs over all their seconds.
    pub fn rps(&self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.requests as f64 / self.seconds)
    }

    /// The mean of the runs' 99th percentiles.
    pub fn p99_us(&self) -> Option<f64> {
        (!self.p99s.is_empty()).then(|| self.p99s.iter().sum::<f64>() / self.p99s.len() as f64)
    }
}

/// One cell: every server's runs at one mode, file and concurrency.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub mode: String,
    pub file: String,
    pub conc: u64,
    /// In order of first appearance.
    pub servers: Vec<(String, Agg)>,
}

impl Cell {
    pub fn get(&self, server: &str) -> Option<&Agg> {
        self.servers.iter().find(|(s, _)| s == server).map(|(_, a)| a)
    }
}

/// Cells ordered by mode and file as they first appear in the runs, then concurrency.
pub fn cells(runs: &[Run]) -> Vec<Cell> {
    let mut modes: Vec<&str> = Vec::new();
    let mut files: Vec<&str> = Vec::new();
    for r in runs {
        if !modes.contains(&r.mode.as_str()) {
            modes.push(&r.mode);
        }
        if !files.contains(&r.file.as_str()) {
            files.push(&r.file);
        }
    }
    let mut cells: Vec<Cell> = Vec::new();
    for r in runs {
        let i = match cells.iter().position(|c| c.mode == r.mode && c.file == r.file && c.conc == r.conc) {
            Some(i) => i,
            None => {
                cells.push(Cell { mode: r.mode.clone(), file: r.file.clone(), conc: r.conc, servers: Vec::new() });
                cells.len() - 1
            }
        };
        let c = &mut cells[i];
        let j = match c.servers.iter().position(|(s, _)| *s == r.server) {
            Some(j) => j,
            None => {
                c.servers.push((r.server.clone(), Agg::default()));
                c.servers.len() - 1
            }
        };
        c.servers[j].1.add(r);
    }
    let pos = |v: &[&str], x: &str| v.iter().position(|y| *y == x).unwrap_or(usize::MAX);
    cells.sort_by_key(|c| (pos(&modes, &c.mode), pos(&files, &c.file), c.conc));
    cells
}

/// The concurrencies present, ascending.
pub fn concurrencies(cells: &[Cell]) -> Vec<u64> {
    let mut v: Vec<u64> = cells.iter().map(|c| c.conc).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The servers of `wanted` that have at least one run in the cells, in `wanted`'s order
/// (results from before a server was added simply lack it).
pub fn present<'a>(cells: &[Cell], wanted: &[&'a str]) -> Vec<&'a str> {
    wanted.iter().copied().filter(|w| cells.iter().any(|c| c.get(w).is_some())).collect()
}

/// (mode, file) pairs in cell order.
pub fn rows(cells: &[Cell]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = Vec::new();
    for c in cells {
        let k = (c.mode.clone(), c.file.clone());
        if !v.contains(&k) {
            v.push(k);
        }
    }
    v
}

/// One row per cell and server; in every cell the servers of `order` first, in that
/// order (the guest varies the order in which it runs them), then any others.
pub fn write_csv(path: &Path, cells: &[Cell], order: &[&str]) -> Result<(), String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut w = BufWriter::new(fs::File::create(path).map_err(err)?);
    writeln!(
        w,
        "mode,file,conc,server,runs,failed_runs,requests,seconds,rps,p99_us,errors,estab_resets,out_rsts,listen_overflows,retrans_segs,prune_called"
    )
    .map_err(err)?;
    for c in cells {
        let rank = |s: &str| order.iter().position(|o| *o == s).unwrap_or(order.len());
        let mut servers: Vec<&(String, Agg)> = c.servers.iter().collect();
        servers.sort_by_key(|(s, _)| rank(s)); // stable: others stay in appearance order
        for (s, g) in servers {
            let f = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.3}"));
            writeln!(
                w,
                "{},{},{},{},{},{},{},{:.3},{},{},{},{},{},{},{},{}",
                c.mode,
                c.file,
                c.conc,
                s,
                g.runs,
                g.failed_runs,
                g.requests,
                g.seconds,
                f(g.rps()),
                f(g.p99_us()),
                g.errors,
                g.tcp.estab_resets,
                g.tcp.out_rsts,
                g.tcp.listen_overflows,
                g.tcp.retrans_segs,
                g.tcp.prune_called
            )
            .map_err(err)?;
        }
    }
    w.flush().map_err(err)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line(server: &str, file: &str, mode: &str, conc: u64, req: u64, secs: f64, p99: f64) -> String {
        format!(
            r#"{{"server":"{server}","file":"{file}","mode":"{mode}","conc":{conc},"threads":2,"rep":0,"seq":1,"duration":3,"exit":0,"tcp":{{"EstabResets":2,"OutRsts":1,"ListenOverflows":0}},"htstress":{{"bad":1,"socket_errors":2,"requests":{req},"seconds":{secs},"rps":0,"latency_us":{{"p99":{p99}}}}}}}"#
        )
    }

    #[test]
    fn aggregates_runs_per_cell_and_server() {
        let lines = [
            line("khttpd", "12b", "close", 20, 300, 3.0, 1000.0),
            line("nginx", "12b", "close", 20, 150, 3.0, 3000.0),
            line("nginx", "12b", "close", 1, 90, 3.0, 10.0),
            line("khttpd", "12b", "close", 20, 100, 1.0, 3000.0),
            line("khttpd", "1m", "keepalive", 1, 0, 3.0, 0.0),
        ];
        let runs: Vec<Run> =
            lines.iter().map(|l| Run::from_json(&serde_json::from_str(l).unwrap()).unwrap()).collect();
        let cells = cells(&runs);
        let keys: Vec<_> = cells.iter().map(|c| (c.mode.as_str(), c.file.as_str(), c.conc)).collect();
        assert_eq!(keys, [("close", "12b", 1), ("close", "12b", 20), ("keepalive", "1m", 1)]);
        let k = cells[1].get("khttpd").unwrap();
        assert_eq!((k.runs, k.requests, k.errors, k.failed_runs), (2, 400, 6, 0));
        assert_eq!(k.rps(), Some(100.0));
        assert_eq!(k.p99_us(), Some(2000.0));
        assert_eq!(k.tcp.estab_resets, 4);
        assert_eq!(cells[1].get("nginx").unwrap().rps(), Some(50.0));
        // A run that completed nothing: 0 req/s, no p99.
        let z = cells[2].get("khttpd").unwrap();
        assert_eq!((z.rps(), z.p99_us()), (Some(0.0), None));
        assert!(cells[2].get("nginx").is_none());
        assert_eq!(concurrencies(&cells), [1, 20]);
        assert_eq!(rows(&cells).len(), 2);
    }

    fn runs_of(lines: &[String]) -> Vec<Run> {
        lines.iter().map(|l| Run::from_json(&serde_json::from_str(l).unwrap()).unwrap()).collect()
    }

    #[test]
    fn three_servers_in_any_order() {
        // The guest rotates the order; each server's runs still land in its own Agg.
        let runs = runs_of(&[
            line("nginx-cache", "64k", "keepalive", 100, 240, 2.0, 900.0),
            line("khttpd", "64k", "keepalive", 100, 600, 2.0, 300.0),
            line("nginx", "64k", "keepalive", 100, 200, 2.0, 1000.0),
            line("nginx", "64k", "keepalive", 1, 50, 2.0, 40.0),
            line("nginx-cache", "64k", "keepalive", 1, 60, 2.0, 30.0),
            line("khttpd", "64k", "keepalive", 1, 100, 2.0, 20.0),
        ]);
        let cells = cells(&runs);
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].conc, 1);
        let names: Vec<&str> = cells[0].servers.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, ["nginx", "nginx-cache", "khttpd"]);
        let rps = |i: usize, s: &str| cells[i].get(s).unwrap().rps();
        assert_eq!(
            (rps(1, "khttpd"), rps(1, "nginx"), rps(1, "nginx-cache")),
            (Some(300.0), Some(100.0), Some(120.0))
        );
        assert_eq!(cells[1].get("nginx-cache").unwrap().p99_us(), Some(900.0));
        let all = ["khttpd", "nginx", "nginx-cache"];
        assert_eq!(present(&cells, &all), all);
        // Results of the two-server benchmark: nginx-cache is left out.
        let old = cells_of_two();
        assert_eq!(present(&old, &all), ["khttpd", "nginx"]);
    }

    fn cells_of_two() -> Vec<Cell> {
        cells(&runs_of(&[
            line("khttpd", "12b", "close", 1, 30, 3.0, 10.0),
            line("nginx", "12b", "close", 1, 15, 3.0, 20.0),
        ]))
    }

    #[test]
    fn csv_rows_in_server_order() {
        let runs = runs_of(&[
            line("nginx-cache", "12b", "close", 1, 240, 2.0, 900.0),
            line("nginx", "12b", "close", 1, 200, 2.0, 1000.0),
            line("khttpd", "12b", "close", 1, 600, 2.0, 300.0),
        ]);
        let path = std::env::temp_dir().join(format!("bench-http-report-test-{}.csv", std::process::id()));
        write_csv(&path, &cells(&runs), &["khttpd", "nginx", "nginx-cache"]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        fs::remove_file(&path).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows.len(), 4, "{text}");
        assert!(rows[0].starts_with("mode,file,conc,server,runs,"));
        assert!(rows[1].starts_with("close,12b,1,khttpd,1,0,600,2.000,300.000,300.000,3,"), "{text}");
        assert!(rows[2].starts_with("close,12b,1,nginx,1,0,200,2.000,100.000,"), "{text}");
        assert!(rows[3].starts_with("close,12b,1,nginx-cache,1,0,240,2.000,120.000,900.000,"), "{text}");
    }

    #[test]
    fn a_run_without_result_counts_as_failed() {
        let l = r#"{"server":"nginx","file":"dir","mode":"close","conc":1,"exit":1,"tcp":{},"htstress":null}"#;
        let r = Run::from_json(&serde_json::from_str(l).unwrap()).unwrap();
        assert_eq!(r.result, None);
        let cells = cells(&[r]);
        let g = cells[0].get("nginx").unwrap();
        assert_eq!((g.runs, g.failed_runs, g.rps()), (1, 1, None));
    }

    #[test]
    fn client_runs() {
        let l = r#"{"tool":"wrk","server":"nginx","file":"12b","conc":100,"threads":2,"exit":0,"requests":1000,"seconds":5.0,"p99_us":1500.0,"errors":0,"cpu_seconds":2.5,"own_cpu_seconds":null}"#;
        let c = ClientRun::from_json(&serde_json::from_str(l).unwrap()).unwrap();
        assert_eq!((c.rps(), c.per_cpu(), c.own_cpu_seconds), (Some(200.0), Some(400.0), None));
    }
}
