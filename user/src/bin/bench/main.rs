//! kecho bench client: for every target and round, N connections start together, each
//! sends one message and times the echo. Reports latency statistics and errors, writes
//! raw samples (CSV), the course's `i avg_us` text format, and PNG/SVG charts.

use user::net;
mod plot;
mod run;
mod samples;

use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use run::{ErrKind, Outcome};
use samples::{Sample, Samples};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    version,
    about = "Concurrent echo latency benchmark (kecho bench client)",
    after_help = "Example: bench --target kecho=127.0.0.1:12345 --target user=127.0.0.1:12346 \
                  --csv out.csv --plot out.png"
)]
struct Args {
    /// Server to measure, as NAME=HOST:PORT (or HOST:PORT); repeat to compare several
    #[arg(short, long = "target", value_name = "NAME=HOST:PORT",
          required_unless_present = "plot_from")]
    targets: Vec<String>,
    /// Concurrent connections per round
    #[arg(short = 'n', long, default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    conns: u32,
    /// Rounds per target
    #[arg(short, long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Message each connection sends (the echo must match it byte for byte)
    #[arg(short, long, default_value = "dummy message")]
    message: String,
    /// Per-operation timeout (connect, send, receive) in seconds
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Write raw samples as CSV: target,round,conn,us
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write the original bench format (`i avg_us` per connection) for the first target
    #[arg(long, value_name = "FILE")]
    txt: Option<PathBuf>,
    /// Draw a PNG chart (one series per target)
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
    /// Draw an SVG chart (one series per target)
    #[arg(long, value_name = "FILE.svg")]
    svg: Option<PathBuf>,
    /// Chart title
    #[arg(long, default_value = "kecho concurrent performance")]
    title: String,
    /// Do not measure: read a CSV written earlier and only draw charts / the txt file
    #[arg(long, value_name = "FILE.csv", conflicts_with_all = ["targets", "csv"])]
    plot_from: Option<PathBuf>,
    /// Show a progress bar even when stderr is not a terminal
    #[arg(long)]
    progress: bool,
    /// Exit 0 even if some connections failed
    #[arg(long)]
    allow_errors: bool,
}

struct Target {
    name: String,
    addr: SocketAddr,
}

fn parse_target(s: &str) -> Result<Target, String> {
    let (name, addr) = match s.split_once('=') {
        Some((n, a)) => (n.to_string(), a),
        None => (s.to_string(), s),
    };
    if name.is_empty() || name.contains([',', '\n', '\r']) {
        return Err(format!("bad target name '{name}' (must be non-empty, no commas)"));
    }
    Ok(Target { name, addr: net::resolve(addr)? })
}

fn main() -> ExitCode {
    let args = Args::parse();
    match real_main(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main(args: &Args) -> Result<ExitCode, String> {
    if let Some(csv) = &args.plot_from {
        if args.plot.is_none() && args.svg.is_none() && args.txt.is_none() {
            return Err("--plot-from needs at least one of --plot, --svg, --txt".into());
        }
        let s = Samples::read_csv(csv)?;
        for (i, name) in s.targets.iter().enumerate() {
            let lat: Vec<u64> = s.rows.iter().filter(|r| r.target == i).map(|r| r.us).collect();
            println!("target {name}: samples {}", lat.len());
            print_latency(&lat);
        }
        write_outputs(args, &s)?;
        return Ok(ExitCode::SUCCESS);
    }

    let targets = args.targets.iter().map(|t| parse_target(t)).collect::<Result<Vec<_>, _>>()?;
    if !(args.timeout > 0.0 && args.timeout.is_finite()) {
        return Err("--timeout must be a positive number of seconds".into());
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    match net::raise_nofile_limit() {
        Ok(lim) if lim < args.conns as u64 + 32 => eprintln!(
            "bench: warning: open file limit {lim} is below {} connections",
            args.conns
        ),
        Ok(_) => {}
        Err(e) => eprintln!("bench: warning: cannot raise RLIMIT_NOFILE: {e}"),
    }

    let total = targets.len() as u64 * args.rounds as u64 * args.conns as u64;
    let pb = if args.progress || std::io::stderr().is_terminal() {
        let pb = ProgressBar::with_draw_target(
            Some(total),
            ProgressDrawTarget::term_like_with_hz(Box::new(console_term()), 5),
        );
        pb.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {elapsed_precise}")
                .map_err(|e| e.to_string())?
                .progress_chars("=> "),
        );
        Some(pb)
    } else {
        None
    };

    let msg: Arc<[u8]> = Arc::from(args.message.as_bytes());
    let mut data = Samples { targets: Vec::new(), rows: Vec::new() };
    let mut any_error = false;
    let mut reports = Vec::new();
    for (ti, t) in targets.iter().enumerate() {
        data.targets.push(t.name.clone());
        let mut errors: BTreeMap<ErrKind, u64> = BTreeMap::new();
        let mut ok = 0u64;
        for round in 0..args.rounds {
            if let Some(pb) = &pb {
                pb.set_message(format!("{} round {}/{}", t.name, round + 1, args.rounds));
            }
            let outcomes = run::round(t.addr, args.conns as usize, &msg, timeout, pb.as_ref());
            for (conn, o) in outcomes.into_iter().enumerate() {
                match o {
                    Outcome::Ok(us) => {
                        ok += 1;
                        data.rows.push(Sample { target: ti, round, conn: conn as u32, us });
                    }
                    Outcome::Err(k) => *errors.entry(k).or_default() += 1,
                }
            }
        }
        any_error |= !errors.is_empty();
        reports.push((ti, ok, errors));
    }
    if let Some(pb) = &pb {
        pb.finish_and_clear();
    }

    for (ti, ok, errors) in &reports {
        let t = &targets[*ti];
        let nerr: u64 = errors.values().sum();
        println!("target {} ({})", t.name, t.addr);
        println!(
            "  connections {}, rounds {}, ok {ok}, errors {nerr}",
            args.conns, args.rounds
        );
        let lat: Vec<u64> = data.rows.iter().filter(|r| r.target == *ti).map(|r| r.us).collect();
        print_latency(&lat);
        for (k, n) in errors {
            println!("  error {}: {n}", k.label());
        }
    }

    if let Some(path) = &args.csv {
        data.write_csv(path)?;
    }
    write_outputs(args, &data)?;

    if any_error && !args.allow_errors {
        eprintln!("bench: some connections failed (use --allow-errors to exit 0 anyway)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn console_term() -> console::Term {
    console::Term::stderr()
}

fn print_latency(lat: &[u64]) {
    match samples::Summary::of(lat) {
        Some(s) => println!(
            "  latency us: min {}, median {}, p99 {}, max {}, mean {}",
            s.min, s.median, s.p99, s.max, s.mean
        ),
        None => println!("  latency us: no successful samples"),
    }
}

fn write_outputs(args: &Args, data: &Samples) -> Result<(), String> {
    if let Some(path) = &args.txt {
        data.write_txt(path)?;
    }
    if args.plot.is_some() || args.svg.is_some() {
        let series = data.per_conn_averages();
        if let Some(path) = &args.plot {
            plot::png(path, &args.title, &series)?;
        }
        if let Some(path) = &args.svg {
            plot::svg(path, &args.title, &series)?;
        }
    }
    Ok(())
}
