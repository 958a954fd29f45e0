//! droptw: lists TCP sockets (TIME_WAIT by default) through sock_diag and
//! drops them through the drop-tcp-socket module's `/proc/net/drop_tcp_sock`.

mod batch;
mod diag;
mod filter;

use clap::Parser;
use diag::{Family, Sock};
use drop_tcp_socket::tuple::{Tuple, MAX_WRITE};
use filter::{AddrFilter, Filter, State};
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit status when the writes succeeded but some sockets are still there.
const EXIT_STILL_PRESENT: u8 = 3;

const AFTER_HELP: &str = "\
Output: one socket per line, `LOCAL REMOTE STATE`; the first two columns are
exactly the tuple format the module reads.

Dropping writes the tuples to the proc file in batches of whole lines, each
at most 65536 bytes (the module's limit; it parses every write on its own and
applies it all-or-none), then looks again and prints
`dropped N of M (K still present)`.

Exit status: 0 success; 1 error (module not loaded, write refused, ...);
2 usage error; 3 written but some sockets are still present.";

#[derive(Parser, Debug)]
#[command(
    name = "droptw",
    version,
    about = "List TCP TIME_WAIT sockets and drop them via /proc/net/drop_tcp_sock",
    after_help = AFTER_HELP
)]
struct Args {
    /// Only list the matching sockets
    #[arg(short, long)]
    list: bool,
    /// Print what would be dropped; write nothing
    #[arg(short = 'n', long, conflicts_with = "list")]
    dry_run: bool,
    /// Local port
    #[arg(long = "sport", visible_alias = "local-port", value_name = "PORT")]
    sport: Option<u16>,
    /// Remote port
    #[arg(long = "dport", visible_alias = "remote-port", value_name = "PORT")]
    dport: Option<u16>,
    /// Local address or prefix
    #[arg(long = "src", visible_alias = "local-addr", value_name = "ADDR[/LEN]")]
    src: Option<AddrFilter>,
    /// Remote address or prefix
    #[arg(long = "dst", visible_alias = "remote-addr", value_name = "ADDR[/LEN]")]
    dst: Option<AddrFilter>,
    /// IPv4 sockets only
    #[arg(short = '4', conflicts_with = "ipv6")]
    ipv4: bool,
    /// IPv6 sockets only
    #[arg(short = '6')]
    ipv6: bool,
    /// TCP states to select (comma-separated or repeated)
    #[arg(long, value_enum, value_delimiter = ',', default_value = "time-wait")]
    state: Vec<State>,
    /// The module's control file
    #[arg(long = "proc", value_name = "PATH", default_value = "/proc/net/drop_tcp_sock")]
    proc_path: PathBuf,
    /// Also print the dropped sockets and each write
    #[arg(short, long)]
    verbose: bool,
    /// Largest single write in bytes (testing aid; clamped to the module's limit)
    #[arg(long, hide = true, default_value_t = MAX_WRITE)]
    max_write: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("droptw: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    let families: &[Family] = match (args.ipv4, args.ipv6) {
        (true, _) => &[Family::V4],
        (_, true) => &[Family::V6],
        _ => &[Family::V4, Family::V6],
    };
    let lenient = !(args.ipv4 || args.ipv6);
    let states = args.state.iter().fold(0, |m, s| m | s.mask());
    let filter = Filter {
        sport: args.sport,
        dport: args.dport,
        src: args.src,
        dst: args.dst,
    };

    let dropping = !(args.list || args.dry_run);
    // Fail before looking at sockets if the module is not there.
    let mut proc_file = if dropping {
        Some(open_proc(&args.proc_path)?)
    } else {
        None
    };

    let socks = select(families, states, lenient, &filter)?;

    if !dropping {
        print_socks(&socks);
        if args.dry_run {
            eprintln!(
                "dry run: would drop {} socket{} via {}; nothing written",
                socks.len(),
                plural(socks.len()),
                args.proc_path.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }

    // A tuple with port 0 cannot be written (the module refuses it).
    let targets: Vec<Tuple> = socks
        .iter()
        .map(|s| s.tuple)
        .filter(|t| t.local.port() != 0 && t.remote.port() != 0)
        .collect();
    if args.verbose {
        print_socks(&socks);
    }
    if let Some(f) = proc_file.as_mut() {
        write_batches(f, &args.proc_path, &targets, args.max_write, args.verbose)?;
    }

    // Look again, in any state: a dropped socket must be gone entirely.
    let after: BTreeSet<Tuple> = diag::query(families, diag::ALL_STATES, lenient)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|s| s.tuple)
        .collect();
    let still = targets.iter().filter(|t| after.contains(t)).count();
    let total = targets.len();
    println!(
        "dropped {} of {} ({} still present)",
        total - still,
        total,
        still
    );
    Ok(if still == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_STILL_PRESENT)
    })
}

/// Matching sockets, sorted and without duplicates.
fn select(
    families: &[Family],
    states: u32,
    lenient: bool,
    filter: &Filter,
) -> Result<Vec<Sock>, String> {
    let mut socks: Vec<Sock> = diag::query(families, states, lenient)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|s| filter.matches(s))
        .collect();
    socks.sort_by_key(|s| s.tuple);
    socks.dedup_by_key(|s| s.tuple);
    Ok(socks)
}

fn open_proc(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => format!(
                "module drop-tcp-socket not loaded (no {})",
                path.display()
            ),
            io::ErrorKind::PermissionDenied => format!(
                "{}: permission denied (run as root)",
                path.display()
            ),
            _ => format!("cannot open {}: {e}", path.display()),
        })
}

fn write_batches(
    f: &mut File,
    path: &Path,
    targets: &[Tuple],
    max_write: usize,
    verbose: bool,
) -> Result<(), String> {
    let batches = batch::batches(targets, max_write);
    let n = batches.len();
    for (i, b) in batches.iter().enumerate() {
        let lines = b.iter().filter(|&&c| c == b'\n').count();
        if verbose {
            eprintln!("write {}/{n}: {} bytes, {lines} tuples", i + 1, b.len());
        }
        // Exactly one write(2) per batch: the module parses each on its own.
        let written = loop {
            match f.write(b) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        let applied = if i == 0 {
            String::new()
        } else {
            format!(" (writes 1..{i} were applied)")
        };
        match written {
            Ok(w) if w == b.len() => {}
            Ok(w) => {
                return Err(format!(
                    "short write {}/{n} to {}: {w} of {} bytes{applied}",
                    i + 1,
                    path.display(),
                    b.len()
                ))
            }
            Err(e) => {
                let hint = match e.raw_os_error() {
                    Some(libc::EINVAL) => "; the module refused a tuple (see dmesg for the token)",
                    Some(libc::EFBIG) => "; write larger than the module's limit",
                    _ => "",
                };
                return Err(format!(
                    "write {}/{n} to {} ({} bytes, {lines} tuples) failed: {e}{hint}{applied}",
                    i + 1,
                    path.display(),
                    b.len()
                ));
            }
        }
    }
    Ok(())
}

fn print_socks(socks: &[Sock]) {
    let cols: Vec<(String, String)> = socks
        .iter()
        .map(|s| (s.tuple.local.to_string(), s.tuple.remote.to_string()))
        .collect();
    let lw = cols.iter().map(|c| c.0.len()).max().unwrap_or(0);
    let rw = cols.iter().map(|c| c.1.len()).max().unwrap_or(0);
    let mut out = io::stdout().lock();
    for (s, (l, r)) in socks.iter().zip(&cols) {
        let state = diag::state_name(s.state);
        // Broken pipe (e.g. `| head`) is not worth an error.
        if writeln!(out, "{l:<lw$} {r:<rw$} {state}").is_err() {
            return;
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
