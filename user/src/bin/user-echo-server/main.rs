//! User-space reference echo server: non-blocking, edge-triggered epoll, optionally one
//! loop per thread on SO_REUSEPORT listeners. Used to compare against the kecho module.

mod socket;
mod worker;

use user::net;

use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "user-echo-server",
    version,
    about = "Epoll echo server (user-space counterpart of kecho)"
)]
struct Args {
    /// TCP port to listen on (0 picks a free port, printed at start)
    #[arg(short, long, default_value_t = 12345)]
    port: u16,
    /// Address to bind
    #[arg(short, long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// listen(2) backlog
    #[arg(long, default_value_t = 128)]
    backlog: i32,
    /// Number of epoll loops, each on its own SO_REUSEPORT listener
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
    /// Log every accept/close to stderr (off by default: nothing is printed per event)
    #[arg(short, long)]
    verbose: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("user-echo-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    // Block the stop signals before any thread exists so that every thread inherits the
    // mask and only the main thread's sigwait() receives them.
    let sigs = socket::block_stop_signals().map_err(|e| format!("sigprocmask: {e}"))?;
    if let Err(e) = net::raise_nofile_limit() {
        eprintln!("user-echo-server: warning: cannot raise RLIMIT_NOFILE: {e}");
    }

    let reuseport = args.threads > 1;
    let first = socket::listen(SocketAddr::new(args.bind, args.port), args.backlog, reuseport)
        .map_err(|e| format!("cannot listen on {}:{}: {e}", args.bind, args.port))?;
    // With port 0 the other listeners must join the port the kernel picked.
    let local = socket::local_addr(first.raw()).map_err(|e| format!("getsockname: {e}"))?;
    let mut listeners = vec![first];
    for _ in 1..args.threads {
        listeners.push(
            socket::listen(local, args.backlog, true)
                .map_err(|e| format!("cannot listen on {local}: {e}"))?,
        );
    }
    let stop = socket::Fd::eventfd().map_err(|e| format!("eventfd: {e}"))?;

    println!(
        "user-echo-server: listening on {local} ({} thread{})",
        args.threads,
        if args.threads == 1 { "" } else { "s" }
    );

    let mut handles = Vec::new();
    for (i, l) in listeners.into_iter().enumerate() {
        let stop_fd = stop.raw();
        let verbose = args.verbose;
        let h = std::thread::Builder::new()
            .name(format!("echo-{i}"))
            .spawn(move || worker::run(l, stop_fd, verbose))
            .map_err(|e| format!("cannot spawn worker: {e}"))?;
        handles.push(h);
    }

    let sig = socket::wait_signal(&sigs).map_err(|e| format!("sigwait: {e}"))?;
    if args.verbose {
        eprintln!("user-echo-server: signal {sig}, stopping");
    }
    stop.signal().map_err(|e| format!("eventfd write: {e}"))?;

    let mut failed = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e),
            Err(_) => failed = Some("worker thread panicked".to_string()),
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
