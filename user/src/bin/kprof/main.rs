//! kprof: where the kernel spends its time while a command runs, Rust modules included.
//!
//! ftrace's function tracer and tracefs kprobe events cannot see functions of a Rust
//! module: rustc emits no `__fentry__` call, so they have no ftrace location, and
//! kernels without CONFIG_KPROBE_EVENTS_ON_NOTRACE (Debian's) refuse kprobe events on
//! such functions. kprof uses perf_event_open(2) instead:
//!   - CPU-clock sampling on every CPU with kernel call chains (ORC unwinding works
//!     through the module), giving for each kernel symbol the samples in which it was
//!     running (self) or on the call chain (inclusive), over all samples and over the
//!     samples that have a frame of `--module`;
//!   - hardware execution breakpoints (debug registers, at most 4 per CPU) counting
//!     exactly how often chosen functions run (`--count`).
//! Writes a JSON summary (`--json`); scripts/trace-report.py turns it into tables.

mod perf;
mod syms;

use clap::Parser;
use perf::{Breakpoint, Sampler};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use syms::Table;

#[derive(Parser, Debug)]
#[command(
    name = "kprof",
    version,
    about = "Kernel CPU profile (perf sampling with call chains) and exact function hit counts \
             (hardware breakpoints) while a command runs",
    after_help = "Example: kprof --module khttpd --count run_work --json prof.json -- htstress -k -c 20 --duration 3 http://127.0.0.1:8081/\n\
                  Needs root (or CAP_PERFMON) and a kernel with perf events."
)]
struct Args {
    /// Samples per second and CPU (CPU clock); 0: no sampling
    #[arg(long, default_value_t = 1000)]
    freq: u64,
    /// Module whose functions --count names and whose share of the samples is reported
    #[arg(long, default_value = "khttpd")]
    module: String,
    /// Count calls of the module function whose demangled name contains this (up to 4)
    #[arg(long = "count", value_name = "PATTERN")]
    counts: Vec<String>,
    /// Seconds to run when no command is given
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Write the summary here (default: standard output)
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Ring buffer data pages per CPU (a power of two)
    #[arg(long, default_value_t = 256)]
    pages: usize,
    /// Command to run while profiling
    #[arg(last = true)]
    command: Vec<String>,
}

/// User space ends below this on x86-64 (canonical lower half).
const KERNEL_START: u64 = 0xffff_8000_0000_0000;

#[derive(Default)]
struct Profile {
    samples: u64,
    idle: u64,
    user: u64,
    module_samples: u64,
    self_: HashMap<usize, u64>,
    incl: HashMap<usize, u64>,
    module_self: HashMap<usize, u64>,
    module_incl: HashMap<usize, u64>,
    /// comm -> (kernel samples, user samples)
    by_comm: HashMap<String, (u64, u64)>,
    comms: HashMap<u32, String>,
}

fn comm_of(tid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{tid}/comm")).map(|s| s.trim().to_string()).unwrap_or_else(|_| "?".into())
}

impl Profile {
    fn add(&mut self, t: &Table, module: &str, s: perf::Sample) {
        self.samples += 1;
        if s.tid == 0 {
            self.idle += 1;
            return;
        }
        let comm = self.comms.entry(s.tid).or_insert_with(|| comm_of(s.tid)).clone();
        let c = self.by_comm.entry(comm).or_default();
        if s.chain.first().is_none_or(|&ip| ip < KERNEL_START) {
            self.user += 1;
            c.1 += 1;
            return;
        }
        c.0 += 1;
        let mut frames: Vec<usize> = Vec::with_capacity(s.chain.len());
        for &ip in s.chain.iter().filter(|&&ip| ip >= KERNEL_START) {
            if let Some(i) = t.find(ip) {
                if !frames.contains(&i) {
                    frames.push(i);
                }
            }
        }
        let Some(&top) = frames.first() else { return };
        *self.self_.entry(top).or_default() += 1;
        for &f in &frames {
            *self.incl.entry(f).or_default() += 1;
        }
        if frames.iter().any(|&f| t.get(f).module == module) {
            self.module_samples += 1;
            *self.module_self.entry(top).or_default() += 1;
            for &f in &frames {
                *self.module_incl.entry(f).or_default() += 1;
            }
        }
    }
}

fn top(t: &Table, m: &HashMap<usize, u64>, n: usize) -> serde_json::Value {
    let mut v: Vec<(&usize, &u64)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .take(n)
        .map(|(&i, &c)| {
            let s = t.get(i);
            json!({"sym": s.pretty(), "module": s.module, "samples": c})
        })
        .collect()
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kprof: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    if args.counts.len() > 4 {
        return Err("at most 4 --count functions (x86 has 4 debug registers)".into());
    }
    if !args.pages.is_power_of_two() {
        return Err("--pages must be a power of two".into());
    }
    let table = Table::load()?;
    // SAFETY: plain query.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as i32;

    let mut counters: Vec<(String, Option<usize>, Vec<Breakpoint>, Option<String>)> = Vec::new();
    for pat in &args.counts {
        let found = table.matching(&args.module, pat);
        let Some(&i) = found.first() else {
            counters.push((pat.clone(), None, Vec::new(), Some(format!("no {} function matches", args.module))));
            continue;
        };
        let bps: Result<Vec<_>, _> = (0..cpus).map(|c| Breakpoint::new(table.get(i).addr, c)).collect();
        match bps {
            Ok(b) => counters.push((pat.clone(), Some(i), b, None)),
            Err(e) => counters.push((pat.clone(), Some(i), Vec::new(), Some(format!("breakpoint: {e}")))),
        }
    }
    let mut samplers: Vec<Sampler> = if args.freq > 0 {
        (0..cpus)
            .map(|c| Sampler::new(c, args.freq, args.pages))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("perf_event_open (CPU clock): {e} (root? perf_event_paranoid?)"))?
    } else {
        Vec::new()
    };

    let mut prof = Profile::default();
    let start = Instant::now();
    for (_, _, bps, _) in &counters {
        for b in bps {
            b.enable().map_err(|e| e.to_string())?;
        }
    }
    for s in &samplers {
        s.enable().map_err(|e| e.to_string())?;
    }
    let mut child = match args.command.split_first() {
        Some((cmd, rest)) => Some(Command::new(cmd).args(rest).spawn().map_err(|e| format!("{cmd}: {e}"))?),
        None => None,
    };
    let deadline = start + Duration::from_secs_f64(args.duration);
    let mut status = None;
    loop {
        std::thread::sleep(Duration::from_millis(10));
        for s in &mut samplers {
            s.drain(|x| prof.add(&table, &args.module, x));
        }
        match &mut child {
            Some(c) => {
                if let Some(st) = c.try_wait().map_err(|e| e.to_string())? {
                    status = Some(st);
                    break;
                }
            }
            None if Instant::now() >= deadline => break,
            None => {}
        }
    }
    for s in &samplers {
        let _ = s.disable();
    }
    for (_, _, bps, _) in &counters {
        for b in bps {
            let _ = b.disable();
        }
    }
    for s in &mut samplers {
        s.drain(|x| prof.add(&table, &args.module, x));
    }
    let seconds = start.elapsed().as_secs_f64();

    let counts: Vec<serde_json::Value> = counters
        .iter()
        .map(|(pat, sym, bps, err)| {
            let hits: Result<u64, String> =
                bps.iter().map(|b| b.count().map_err(|e| e.to_string())).sum();
            json!({
                "pattern": pat,
                "sym": sym.map(|i| table.get(i).pretty()),
                "hits": if err.is_none() { hits.as_ref().ok().copied() } else { None },
                "error": err.clone().or(hits.err()),
            })
        })
        .collect();
    let mut by_comm: Vec<(&String, &(u64, u64))> = prof.by_comm.iter().collect();
    by_comm.sort_by(|a, b| (b.1 .0 + b.1 .1).cmp(&(a.1 .0 + a.1 .1)));
    let out = json!({
        "freq": args.freq,
        "cpus": cpus,
        "seconds": seconds,
        "module": args.module,
        "samples": prof.samples,
        "idle": prof.idle,
        "user": prof.user,
        "lost": samplers.iter().map(|s| s.lost).sum::<u64>(),
        "module_samples": prof.module_samples,
        "self": top(&table, &prof.self_, 60),
        "inclusive": top(&table, &prof.incl, 200),
        "module_self": top(&table, &prof.module_self, 40),
        "module_inclusive": top(&table, &prof.module_incl, 80),
        "by_comm": by_comm.into_iter().map(|(c, &(k, u))| json!({"comm": c, "kernel": k, "user": u})).collect::<Vec<_>>(),
        "counts": counts,
        "command_status": status.and_then(|s| s.code()),
    });
    let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
    match &args.json {
        Some(p) => std::fs::write(p, text + "\n").map_err(|e| format!("{}: {e}", p.display()))?,
        None => println!("{text}"),
    }
    Ok(match status {
        Some(s) if !s.success() => ExitCode::from(s.code().unwrap_or(1).clamp(1, 255) as u8),
        _ => ExitCode::SUCCESS,
    })
}
