//! The echo protocol: send back every byte received.

use common::{Handler, Step};
use kernel::cpu::Counters;
use kernel::error::code::EAGAIN;
use kernel::net::TcpStream;
use kernel::prelude::*;
use kernel::sync::Pool;

/// Bytes read per receive call; also the most a connection holds unsent.
const BUF_SIZE: usize = 4096;
/// Receive/send rounds per run before yielding the worker to other connections.
const BUDGET: usize = 32;

/// Echo server settings and statistics, shared by all connections.
pub struct Echo {
    /// Bytes echoed, counted per CPU (shared with `/proc/net/kecho`).
    bytes: Arc<Counters<1>>,
    /// Close a connection after this long without a byte in or out (ms; 0: never).
    timeout_ms: u32,
    /// Buffers lent to a run (a few per CPU): a message echoed at once allocates
    /// nothing. A connection keeps a buffer past its run only while bytes are unsent.
    spare: Pool<Vec<u8>>,
}

impl Echo {
    pub fn new(timeout_ms: u32, bytes: Arc<Counters<1>>) -> Result<Self> {
        let slots = (kernel::cpu::online_cpus() as usize).saturating_mul(2).saturating_add(2);
        let spare = Pool::new(slots, || Some(Vec::new()))?;
        Ok(Echo { bytes, timeout_ms, spare })
    }

    /// What to do instead of waiting: close a connection idle for too long.
    fn wait(&self, c: &Conn, now: u64) -> Step {
        if self.timeout_ms > 0 && now.saturating_sub(c.active_ms) >= u64::from(self.timeout_ms) {
            return Step::Close;
        }
        Step::Wait
    }

    /// One run: echo what is pending, then read and echo until the socket has nothing
    /// more (or the budget is spent).
    fn serve_run(&self, c: &mut Conn, stream: &TcpStream) -> Step {
        let now = kernel::time::monotonic_ms();
        if c.buf.capacity() < BUF_SIZE && c.buf.try_reserve_exact(BUF_SIZE - c.buf.len()).is_err() {
            return Step::Close;
        }
        for _ in 0..BUDGET {
            // Echo what is pending before reading more, so a slow reader slows its
            // writer (the socket's receive window) instead of growing our buffer.
            while c.sent < c.buf.len() {
                let Some(pending) = c.buf.get(c.sent..) else { return Step::Close };
                match stream.write(pending, false) {
                    Ok(n) => {
                        c.sent += n;
                        c.active_ms = now;
                        self.bytes.add(0, n as u64);
                    }
                    // Resumed by the socket's write-space callback.
                    Err(e) if e == EAGAIN => return self.wait(c, now),
                    Err(_) => return Step::Close,
                }
            }
            c.sent = 0;
            c.buf.clear();
            if c.eof {
                return Step::Close;
            }
            // Skip a read that would say EAGAIN (after each echo): what arrives later
            // runs the work again (`TcpStream::nothing_to_read`).
            if stream.nothing_to_read() {
                return self.wait(c, now);
            }
            match stream.read_append(&mut c.buf, false) {
                Ok(0) => c.eof = true,
                Ok(_) => c.active_ms = now,
                Err(e) if e == EAGAIN => return self.wait(c, now),
                Err(_) => return Step::Close,
            }
        }
        Step::Yield
    }
}

/// One connection: `buf[sent..]` is received but not yet echoed; `buf` has no
/// allocation while nothing is pending between runs.
pub struct Conn {
    buf: Vec<u8>,
    sent: usize,
    eof: bool,
    /// Monotonic ms of the last byte received or sent (or of the accept).
    active_ms: u64,
}

impl Handler for Echo {
    type State = Conn;

    fn new_state(&self) -> Result<Conn> {
        Ok(Conn { buf: Vec::new(), sent: 0, eof: false, active_ms: kernel::time::monotonic_ms() })
    }

    fn deadline(&self, c: &Conn) -> Option<u64> {
        (self.timeout_ms > 0).then(|| c.active_ms.saturating_add(u64::from(self.timeout_ms)))
    }

    fn serve(&self, c: &mut Conn, stream: &TcpStream) -> Step {
        // Nothing pending: borrow a pooled buffer for the run (or allocate below).
        let mut lent = if c.buf.capacity() == 0 { self.spare.take() } else { None };
        if let Some(slot) = lent.as_deref_mut() {
            core::mem::swap(&mut c.buf, slot);
        }
        let step = self.serve_run(c, stream);
        if c.sent >= c.buf.len() {
            // Nothing pending: the buffer goes back to its slot (one that was empty
            // gains it), or is freed.
            c.buf.clear();
            c.sent = 0;
            match lent.as_deref_mut() {
                Some(slot) if slot.capacity() == 0 => core::mem::swap(&mut c.buf, slot),
                _ => c.buf = Vec::new(),
            }
        }
        step
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        pr_info!("echoed {} bytes", self.bytes.sum(0));
    }
}

/// What `/proc/net/kecho` shows: `name value` lines (`connections_open`, `accepted`,
/// `refused`, `bytes_echoed`, and with per_cpu=1 `accepted_cpuN` per listener; parse by
/// name, more may be added at the end).
pub struct StatusFile {
    pub server: Arc<common::ServerStats>,
    pub bytes: Arc<Counters<1>>,
}

impl kernel::proc::Show for StatusFile {
    fn show(&self, out: &mut kernel::proc::SeqOut<'_>) -> core::fmt::Result {
        use core::fmt::Write;
        writeln!(out, "connections_open {}", self.server.open())?;
        writeln!(out, "accepted {}", self.server.accepted())?;
        writeln!(out, "refused {}", self.server.refused())?;
        writeln!(out, "bytes_echoed {}", self.bytes.sum(0))?;
        for (cpu, n) in self.server.accepted_per_cpu() {
            writeln!(out, "accepted_cpu{} {}", cpu, n)?;
        }
        Ok(())
    }
}
