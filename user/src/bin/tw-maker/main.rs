//! tw-maker: test helper for the drop-tcp-socket module. Makes TCP sockets in chosen
//! states on a local listener (TIME_WAIT by active close, held ESTABLISHED pairs,
//! half-closed FIN_WAIT2/CLOSE_WAIT pairs), prints their tuples, and after a go signal
//! checks which of the held connections still work. Also does single write(2) calls
//! with an exact errno report.
//!
//! Output of `make` (stdout, one item per line; tuples as the module reads them):
//! ```text
//! listen ADDR:PORT
//! tw LOCAL REMOTE        client side, in TIME_WAIT
//! est LOCAL REMOTE       client side of a held ESTABLISHED pair
//! est-srv LOCAL REMOTE   server side of that pair
//! fw2 LOCAL REMOTE       client side of a half-closed pair (closed by the client)
//! cw LOCAL REMOTE        server side of it (CLOSE_WAIT, still open)
//! ready
//! check est LOCAL REMOTE ok | error WHAT ERRNO      (after the go file appears)
//! check cw LOCAL REMOTE ok | error WHAT ERRNO
//! check listener ok | error WHAT ERRNO
//! ```
//! Exit status: 0 when it ran (check results are in the output), 1 when setting up
//! failed, 2 on bad usage.

mod procnet;

use clap::{Parser, Subcommand};
use drop_tcp_socket::tuple::Tuple;
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(name = "tw-maker", version, about = "Makes TCP sockets in chosen states for the drop-tcp-socket tests")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Make connections to a new local listener and print their tuples
    Make {
        /// Listener address (127.0.0.1, ::1, ::ffff:127.0.0.1, ...)
        #[arg(long, default_value = "127.0.0.1")]
        addr: IpAddr,
        /// Listener port (0: any free port)
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Connections closed by the client first: the client side ends in TIME_WAIT
        #[arg(long, default_value_t = 0)]
        time_wait: u32,
        /// Connections kept ESTABLISHED until the checks
        #[arg(long, default_value_t = 0)]
        established: u32,
        /// Connections closed by the client only (FIN_WAIT2 / CLOSE_WAIT)
        #[arg(long, default_value_t = 0)]
        half_closed: u32,
        /// Created once every socket is in its state
        #[arg(long, value_name = "PATH")]
        ready: Option<PathBuf>,
        /// Wait for this file, then check the held connections and the listener
        #[arg(long, value_name = "PATH")]
        go: Option<PathBuf>,
        /// Seconds to wait for the go file
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Open a file for writing and do exactly one write(2); prints `write ok N` or
    /// `write error ERRNO` (exit 0 / 1)
    Write {
        #[arg(long, value_name = "PATH", default_value = "/proc/net/drop_tcp_sock")]
        path: PathBuf,
        /// Bytes to write (taken literally)
        #[arg(long, conflicts_with_all = ["file", "bad_pointer"])]
        data: Option<String>,
        /// Write this file's whole content in the one call
        #[arg(long, value_name = "PATH", conflicts_with = "bad_pointer")]
        file: Option<PathBuf>,
        /// Pass an invalid buffer address with this length
        #[arg(long, value_name = "LEN")]
        bad_pointer: Option<usize>,
        /// After opening, create this file ...
        #[arg(long, value_name = "PATH", requires = "go")]
        ready: Option<PathBuf>,
        /// ... and wait for this one before writing
        #[arg(long, value_name = "PATH")]
        go: Option<PathBuf>,
        /// Seconds to wait for the go file
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
}

fn main() -> ExitCode {
    let res = match Cli::parse().cmd {
        Cmd::Make { addr, port, time_wait, established, half_closed, ready, go, timeout } => make(&Make {
            addr: SocketAddr::new(addr, port),
            time_wait,
            established,
            half_closed,
            ready,
            go,
            timeout: Duration::from_secs(timeout),
        }),
        Cmd::Write { path, data, file, bad_pointer, ready, go, timeout } => {
            let body = match (data, file, bad_pointer) {
                (Some(d), _, _) => Body::Bytes(d.into_bytes()),
                (_, Some(f), _) => match fs::read(&f) {
                    Ok(b) => Body::Bytes(b),
                    Err(e) => {
                        eprintln!("tw-maker: cannot read {}: {e}", f.display());
                        return ExitCode::from(2);
                    }
                },
                (_, _, Some(len)) => Body::BadPointer(len),
                _ => Body::Bytes(Vec::new()),
            };
            return write_once(&path, &body, ready.as_deref(), go.as_deref(), Duration::from_secs(timeout));
        }
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error {e}");
            ExitCode::FAILURE
        }
    }
}

struct Make {
    addr: SocketAddr,
    time_wait: u32,
    established: u32,
    half_closed: u32,
    ready: Option<PathBuf>,
    go: Option<PathBuf>,
    timeout: Duration,
}

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

// Kernel TCP states as /proc/net/tcp prints them.
const ESTABLISHED: u8 = 0x01;
const FIN_WAIT2: u8 = 0x05;
const TIME_WAIT: u8 = 0x06;
const CLOSE_WAIT: u8 = 0x08;

fn make(m: &Make) -> Result<(), String> {
    // Held pairs cost two descriptors each; best effort.
    let _ = user::net::raise_nofile_limit();
    let listener = TcpListener::bind(m.addr).map_err(|e| format!("bind {}: {}", m.addr, errno(&e)))?;
    let laddr = listener.local_addr().map_err(|e| format!("getsockname: {e}"))?;
    println!("listen {}", netaddr::SocketAddr::from(laddr));

    let mut want: Vec<(Tuple, u8)> = Vec::new();
    let mut held = Vec::new();
    for _ in 0..m.established {
        let (c, s) = pair(&listener, laddr)?;
        let (tc, ts) = (tuple(&c)?, tuple(&s)?);
        println!("est {tc}");
        println!("est-srv {ts}");
        want.push((tc, ESTABLISHED));
        want.push((ts, ESTABLISHED));
        held.push((tc, c, s));
    }
    let mut half = Vec::new();
    for _ in 0..m.half_closed {
        let (c, mut s) = pair(&listener, laddr)?;
        let (tc, ts) = (tuple(&c)?, tuple(&s)?);
        drop(c);
        let mut b = [0u8; 1];
        match s.read(&mut b) {
            Ok(0) => {}
            other => return Err(format!("half-closed {ts}: expected end of file, got {other:?}")),
        }
        println!("fw2 {tc}");
        println!("cw {ts}");
        want.push((tc, FIN_WAIT2));
        want.push((ts, CLOSE_WAIT));
        half.push((ts, s));
    }
    // TIME_WAIT last: a later connect may take over a TIME_WAIT tuple (tcp_tw_reuse,
    // on for loopback by default, once the socket is a second old), which would leave
    // a reported TIME_WAIT socket ESTABLISHED or gone. A tuple a new connection took
    // over is counted once. A socket the kernel closed without TIME_WAIT (seen rarely
    // on a busy guest) is replaced, with a note on stderr; both a bounded number of times.
    let mut made: HashSet<Tuple> = HashSet::new();
    let (mut replaced, mut reused) = (0u32, 0u32);
    while (made.len() as u32) < m.time_wait {
        let mut batch: Vec<Tuple> = Vec::new();
        while ((made.len() + batch.len()) as u32) < m.time_wait {
            let (c, s) = pair(&listener, laddr)?;
            let t = tuple(&c)?;
            // Active close by the client: FIN first from its side ...
            drop(c);
            // ... the server sees end of file and closes too; the client ends in TIME_WAIT.
            expect_eof(s)?;
            if made.contains(&t) || batch.contains(&t) {
                reused = reused.saturating_add(1);
                if reused > m.time_wait.max(10) {
                    return Err(format!("{reused} connections took over a TIME_WAIT tuple already made; giving up"));
                }
            } else {
                batch.push(t);
            }
        }
        let gone = settle_time_wait(&batch)?;
        if !gone.is_empty() {
            eprintln!(
                "tw-maker: note: {} socket(s) closed without TIME_WAIT ({}), made again; TCP counters: {}",
                gone.len(),
                gone.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", "),
                procnet::tw_counters()
            );
        }
        replaced = replaced.saturating_add(gone.len() as u32);
        if replaced > m.time_wait.max(10) {
            return Err(format!("{replaced} sockets closed without TIME_WAIT; giving up"));
        }
        for t in batch.into_iter().filter(|t| !gone.contains(t)) {
            println!("tw {t}");
            want.push((t, TIME_WAIT));
            made.insert(t);
        }
    }
    if reused > 0 {
        eprintln!("tw-maker: note: {reused} connection(s) took over a TIME_WAIT tuple already made (tcp_tw_reuse); made others");
    }
    wait_states(&want)?;
    println!("ready");
    flush();
    if let Some(r) = &m.ready {
        fs::write(r, b"ready\n").map_err(|e| format!("cannot create {}: {e}", r.display()))?;
    }
    let Some(go) = &m.go else { return Ok(()) };
    wait_file(go, m.timeout)?;

    for (t, mut c, mut s) in held {
        match exchange(&mut c, &mut s) {
            Ok(()) => println!("check est {t} ok"),
            Err(e) => println!("check est {t} error {e}"),
        }
    }
    for (t, mut s) in half {
        match s.write_all(b"x") {
            Ok(()) => println!("check cw {t} ok"),
            Err(e) => println!("check cw {t} error server write {}", errno(&e)),
        }
    }
    match pair(&listener, laddr).and_then(|(mut c, mut s)| exchange(&mut c, &mut s)) {
        Ok(()) => println!("check listener ok"),
        Err(e) => println!("check listener error {e}"),
    }
    flush();
    Ok(())
}

/// A connection to the listener: (client, server) ends, with I/O time-outs set.
fn pair(listener: &TcpListener, addr: SocketAddr) -> Result<(TcpStream, TcpStream), String> {
    let c = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| format!("connect {addr}: {}", errno(&e)))?;
    let (s, _) = listener.accept().map_err(|e| format!("accept: {}", errno(&e)))?;
    for x in [&c, &s] {
        x.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
        x.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
    }
    Ok((c, s))
}

fn expect_eof(mut s: TcpStream) -> Result<(), String> {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => Ok(()),
        other => Err(format!("server: expected end of file, got {other:?}")),
    }
}

/// `ping` client -> server, `pong` back.
fn exchange(c: &mut TcpStream, s: &mut TcpStream) -> Result<(), String> {
    c.write_all(b"ping").map_err(|e| format!("client write {}", errno(&e)))?;
    read_word(s, b"ping").map_err(|e| format!("server read {e}"))?;
    s.write_all(b"pong").map_err(|e| format!("server write {}", errno(&e)))?;
    read_word(c, b"pong").map_err(|e| format!("client read {e}"))
}

fn read_word(s: &mut TcpStream, want: &[u8; 4]) -> Result<(), String> {
    let mut b = [0u8; 4];
    match s.read_exact(&mut b) {
        Ok(()) if &b == want => Ok(()),
        Ok(()) => Err(format!("got {b:?}")),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err("EOF".into()),
        Err(e) => Err(errno(&e)),
    }
}

/// Waits until each of `tuples` is in TIME_WAIT or gone (absent from two reads in a
/// row); returns the gone ones.
fn settle_time_wait(tuples: &[Tuple]) -> Result<Vec<Tuple>, String> {
    let end = Instant::now() + STATE_TIMEOUT;
    let mut absent_before: Vec<Tuple> = Vec::new();
    loop {
        let map = procnet::states().map_err(|e| format!("reading /proc/net/tcp: {e}"))?;
        let absent: Vec<Tuple> = tuples.iter().filter(|t| procnet::state_of(&map, t).is_none()).copied().collect();
        let pending = tuples.iter().find(|t| match procnet::state_of(&map, t) {
            Some(st) => st != TIME_WAIT,
            None => !absent_before.contains(t),
        });
        let Some(t) = pending else { return Ok(absent) };
        if Instant::now() >= end {
            return Err(format!(
                "{t} did not reach TIME_WAIT (it is {:?}); TCP counters: {}",
                procnet::state_of(&map, t),
                procnet::tw_counters()
            ));
        }
        absent_before = absent;
        sleep(POLL);
    }
}

fn wait_states(want: &[(Tuple, u8)]) -> Result<(), String> {
    let end = Instant::now() + STATE_TIMEOUT;
    loop {
        let map = procnet::states().map_err(|e| format!("reading /proc/net/tcp: {e}"))?;
        let pending = want.iter().find(|(t, st)| procnet::state_of(&map, t) != Some(*st));
        let Some((t, st)) = pending else { return Ok(()) };
        if Instant::now() >= end {
            return Err(format!(
                "{t} did not reach state {st:02X} (it is {:?}); TCP counters: {}",
                procnet::state_of(&map, t),
                procnet::tw_counters()
            ));
        }
        sleep(POLL);
    }
}

fn wait_file(path: &Path, timeout: Duration) -> Result<(), String> {
    let end = Instant::now() + timeout;
    while !path.exists() {
        if Instant::now() >= end {
            return Err(format!("{} did not appear within {}s", path.display(), timeout.as_secs()));
        }
        sleep(POLL);
    }
    Ok(())
}

fn tuple(s: &TcpStream) -> Result<Tuple, String> {
    let l = s.local_addr().map_err(|e| e.to_string())?;
    let r = s.peer_addr().map_err(|e| e.to_string())?;
    Ok(Tuple { local: l.into(), remote: r.into() })
}

enum Body {
    Bytes(Vec<u8>),
    BadPointer(usize),
}

fn write_once(path: &Path, body: &Body, ready: Option<&Path>, go: Option<&Path>, timeout: Duration) -> ExitCode {
    let f = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) => {
            println!("open error {}", errno(&e));
            return ExitCode::FAILURE;
        }
    };
    if let Some(r) = ready {
        if let Err(e) = fs::write(r, b"ready\n") {
            eprintln!("tw-maker: cannot create {}: {e}", r.display());
            return ExitCode::from(2);
        }
    }
    if let Some(g) = go {
        if let Err(e) = wait_file(g, timeout) {
            eprintln!("tw-maker: {e}");
            return ExitCode::from(2);
        }
    }
    let (ptr, len) = match body {
        Body::Bytes(b) => (b.as_ptr(), b.len()),
        // Page 0 is never mapped.
        Body::BadPointer(len) => (16usize as *const u8, *len),
    };
    // SAFETY: write(2) only reads the buffer; for `Bytes` it is a live slice of `len`
    // bytes, and for `BadPointer` the kernel checks the address and fails with EFAULT
    // instead of reading (no Rust memory is involved).
    let n = unsafe { libc::write(f.as_raw_fd(), ptr.cast(), len) };
    if n < 0 {
        println!("write error {}", errno(&io::Error::last_os_error()));
        ExitCode::FAILURE
    } else {
        println!("write ok {n}");
        ExitCode::SUCCESS
    }
}

/// The errno's symbolic name (`ECONNABORTED`), or the error text.
fn errno(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EPERM) => "EPERM",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::EIO) => "EIO",
        Some(libc::EBADF) => "EBADF",
        Some(libc::EAGAIN) => "EAGAIN",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EFAULT) => "EFAULT",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::EFBIG) => "EFBIG",
        Some(libc::EPIPE) => "EPIPE",
        Some(libc::EADDRINUSE) => "EADDRINUSE",
        Some(libc::ECONNABORTED) => "ECONNABORTED",
        Some(libc::ECONNRESET) => "ECONNRESET",
        Some(libc::ENOTCONN) => "ENOTCONN",
        Some(libc::ETIMEDOUT) => "ETIMEDOUT",
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        _ => return e.to_string(),
    };
    name.to_string()
}

fn flush() {
    let _ = io::stdout().flush();
}
