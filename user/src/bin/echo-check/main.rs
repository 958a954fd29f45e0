//! Test client for the guest tests of the kernel echo server. Each subcommand prints one
//! line and exits 0 on success, 1 with a one-line reason on failure, 2 on bad usage.

mod conns;
use user::net;
mod payload;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "echo-check",
    version,
    about = "Checks an echo server (kecho) from the client side"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Send a pseudo-random binary payload on one connection and verify its echo
    Payload {
        #[arg(long, value_name = "HOST:PORT")]
        addr: String,
        /// Payload size in bytes
        #[arg(long)]
        size: usize,
        /// Seed of the pseudo-random payload
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Give up after this many seconds without progress
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Keep N connections open at once and verify a distinct echo on each, R rounds
    Many {
        #[arg(long, value_name = "HOST:PORT")]
        addr: String,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        conns: u32,
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        rounds: u32,
        /// Per-operation timeout (connect, or no echo progress) in seconds
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
    /// Open N verified connections, write READY-FILE, then wait for the server to close
    /// all of them (e.g. on module unload)
    Hold {
        #[arg(long, value_name = "HOST:PORT")]
        addr: String,
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        conns: u32,
        /// Written once all connections are open and verified
        #[arg(long, value_name = "PATH")]
        ready_file: PathBuf,
        /// Seconds to wait for the server to close the connections
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Per-operation timeout while connecting and verifying, in seconds
        #[arg(long, default_value_t = 10)]
        op_timeout: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (name, res) = match cli.cmd {
        Cmd::Payload { addr, size, seed, timeout } => (
            "payload",
            net::resolve(&addr).and_then(|a| payload::run(a, size, seed, secs(timeout))),
        ),
        Cmd::Many { addr, conns, rounds, timeout } => {
            raise_limit(conns);
            ("many", net::resolve(&addr).and_then(|a| conns::many(a, conns, rounds, secs(timeout))))
        }
        Cmd::Hold { addr, conns, ready_file, timeout, op_timeout } => {
            raise_limit(conns);
            (
                "hold",
                net::resolve(&addr).and_then(|a| {
                    conns::hold(a, conns, &ready_file, secs(timeout), secs(op_timeout))
                }),
            )
        }
    };
    match res {
        Ok(msg) => {
            println!("{name}: OK: {msg}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            println!("{name}: FAIL: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s.max(1))
}

fn raise_limit(conns: u32) {
    match net::raise_nofile_limit() {
        Ok(lim) if lim < conns as u64 + 16 => {
            eprintln!("echo-check: warning: open file limit {lim} is below {conns} connections")
        }
        Ok(_) => {}
        Err(e) => eprintln!("echo-check: warning: cannot raise RLIMIT_NOFILE: {e}"),
    }
}
