//! One round: N threads become ready, are released together, and each does
//! connect → send → receive echo → verify → close, timing send→echo.

use indicatif::ProgressBar;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Small stacks: a round runs up to thousands of threads at once.
const STACK_SIZE: usize = 128 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrKind {
    ConnectRefused,
    ConnectTimeout,
    Connect,
    Reset,
    Timeout,
    ShortEcho,
    Mismatch,
    Io,
    Spawn,
}

impl ErrKind {
    pub fn label(self) -> &'static str {
        match self {
            ErrKind::ConnectRefused => "connect refused",
            ErrKind::ConnectTimeout => "connect timeout",
            ErrKind::Connect => "connect failed",
            ErrKind::Reset => "reset",
            ErrKind::Timeout => "timeout",
            ErrKind::ShortEcho => "short echo",
            ErrKind::Mismatch => "mismatching echo",
            ErrKind::Io => "other i/o error",
            ErrKind::Spawn => "thread spawn failed",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Ok(u64),
    Err(ErrKind),
}

/// Start gate: threads report ready, the coordinator opens the gate once all are.
/// Two condvars so that each arrival wakes only the coordinator, not every waiter.
struct Gate {
    state: Mutex<(usize, bool)>,
    ready_cv: Condvar,
    go_cv: Condvar,
}

impl Gate {
    fn arrive_and_wait(&self) {
        let mut st = self.state.lock().unwrap();
        st.0 += 1;
        self.ready_cv.notify_one();
        while !st.1 {
            st = self.go_cv.wait(st).unwrap();
        }
    }

    fn open_when(&self, expected: usize) {
        let mut st = self.state.lock().unwrap();
        while st.0 < expected {
            st = self.ready_cv.wait(st).unwrap();
        }
        st.1 = true;
        self.go_cv.notify_all();
    }
}

fn io_kind(e: &io::Error) -> ErrKind {
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            ErrKind::Reset
        }
        ErrorKind::WouldBlock | ErrorKind::TimedOut => ErrKind::Timeout,
        ErrorKind::UnexpectedEof => ErrKind::ShortEcho,
        _ => ErrKind::Io,
    }
}

/// One connection's whole exchange.
pub fn exchange(addr: SocketAddr, msg: &[u8], timeout: Duration) -> Outcome {
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Err(match e.kind() {
                ErrorKind::ConnectionRefused => ErrKind::ConnectRefused,
                ErrorKind::TimedOut | ErrorKind::WouldBlock => ErrKind::ConnectTimeout,
                _ => ErrKind::Connect,
            })
        }
    };
    if s.set_read_timeout(Some(timeout)).is_err() || s.set_write_timeout(Some(timeout)).is_err() {
        return Outcome::Err(ErrKind::Io);
    }
    let mut echo = vec![0u8; msg.len()];
    let start = Instant::now();
    if let Err(e) = s.write_all(msg) {
        return Outcome::Err(io_kind(&e));
    }
    if let Err(e) = s.read_exact(&mut echo) {
        return Outcome::Err(io_kind(&e));
    }
    let us = start.elapsed().as_micros() as u64;
    if echo != msg {
        return Outcome::Err(ErrKind::Mismatch);
    }
    Outcome::Ok(us)
}

pub fn round(
    addr: SocketAddr,
    n: usize,
    msg: &[u8],
    timeout: Duration,
    pb: Option<&ProgressBar>,
) -> Vec<Outcome> {
    let gate = Gate {
        state: Mutex::new((0, false)),
        ready_cv: Condvar::new(),
        go_cv: Condvar::new(),
    };
    let mut out = vec![Outcome::Err(ErrKind::Spawn); n];
    thread::scope(|sc| {
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let gate = &gate;
            let spawned = thread::Builder::new()
                .stack_size(STACK_SIZE)
                .spawn_scoped(sc, move || {
                    gate.arrive_and_wait();
                    let o = exchange(addr, msg, timeout);
                    if let Some(pb) = pb {
                        pb.inc(1);
                    }
                    o
                });
            match spawned {
                Ok(h) => handles.push((i, h)),
                // Out of threads: the rest count as errors; the gate opens for those we have.
                Err(_) => break,
            }
        }
        gate.open_when(handles.len());
        for (i, h) in handles {
            out[i] = h.join().unwrap_or(Outcome::Err(ErrKind::Io));
        }
    });
    if let Some(pb) = pb {
        let unspawned = out.iter().filter(|o| matches!(o, Outcome::Err(ErrKind::Spawn))).count();
        pb.inc(unspawned as u64);
    }
    out
}
