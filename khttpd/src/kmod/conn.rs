//! One HTTP connection: read requests, answer them in order, stream bodies.
//!
//! All I/O is non-blocking; the connection's work item runs when the socket has data or
//! room (see `common`). Output is a byte queue (`out`) plus, for files, a streamed body
//! read in bounded chunks: the head and the first chunk go out in one scatter-gather
//! send. Bodies from `SPLICE_FROM` bytes up are instead spliced from the page cache into
//! the socket (no copy; the `sendfile` parameter), after the head. Requests pipelined
//! behind the current one wait in the input buffer until its response is fully queued.

use super::content::{self, Reply};
use crate::http::parser::{self, Status};
use common::{Handler, Step};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::error::code::{EAGAIN, EINVAL};
use kernel::crypto::Deflate;
use kernel::fs::File;
use kernel::sync::TryLock;
use kernel::net::{Shutdown, TcpStream};
use kernel::prelude::*;

/// Input buffer limit: larger than the parser's limits (8 KiB request line, 16 KiB of
/// headers), so an oversized request is reported by the parser (414/431).
const IN_CAP: usize = 26 * 1024;
/// Initial input buffer; grown (doubling, up to IN_CAP) only for large requests, so a
/// connection costs little memory while it waits.
const IN_START: usize = 2048;
/// File data read per chunk.
const FILE_CHUNK: usize = 32 * 1024;
/// Bodies at least this large are spliced (when enabled): below it, one copy into the
/// head's send is cheaper than a second send call.
const SPLICE_FROM: u64 = 16 * 1024;
/// Most bytes spliced per call, so one fast client cannot hold a worker for long.
const SPLICE_MAX: u64 = 512 * 1024;
/// Loop rounds per run before yielding the worker to other connections.
const BUDGET: usize = 16;
/// Unread request bytes discarded before closing after an error (so the close is a FIN,
/// not a reset that could destroy the error response in flight).
const DRAIN_MAX: usize = 64 * 1024;

/// The handler shared by all connections.
pub struct Http {
    pub(super) root: File,
    pub(super) listings: bool,
    pub(super) sendfile: bool,
    /// Deflate compressors, each used by one request at a time; empty when compression
    /// is off. A request that finds all busy is answered uncompressed.
    pub(super) compressors: Vec<TryLock<Deflate>>,
    requests: AtomicU64,
}

impl Http {
    pub fn new(root: File, listings: bool, sendfile: bool, compressors: Vec<TryLock<Deflate>>) -> Self {
        Http { root, listings, sendfile, compressors, requests: AtomicU64::new(0) }
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// A file body being streamed: `buf[off..len]` is read but not yet sent (copy mode),
/// or the rest goes straight from the page cache (`splice`).
pub struct FileBody {
    pub file: File,
    pub pos: u64,
    pub remaining: u64,
    splice: bool,
    buf: Vec<u8>,
    off: usize,
    len: usize,
}

impl FileBody {
    pub fn new(file: File, size: u64, sendfile: bool) -> Self {
        let splice = sendfile && size >= SPLICE_FROM;
        FileBody { file, pos: 0, remaining: size, splice, buf: Vec::new(), off: 0, len: 0 }
    }

    /// Reads the next chunk when the previous one is sent (copy mode; nothing to do
    /// when splicing). `Ok(false)` at the end.
    fn refill(&mut self) -> Result<bool> {
        if self.off < self.len {
            return Ok(true);
        }
        if self.splice {
            return Ok(self.remaining > 0);
        }
        if self.remaining == 0 {
            return Ok(false);
        }
        if self.buf.is_empty() {
            // Small files need a small buffer; large ones get FILE_CHUNK.
            let size = self.remaining.min(FILE_CHUNK as u64) as usize;
            self.buf = kernel::allocator::try_vec(size, 0u8)?;
        }
        let want = (self.remaining.min(self.buf.len() as u64)) as usize;
        let Some(dst) = self.buf.get_mut(..want) else { return Err(EINVAL) };
        let n = self.file.read_at(dst, self.pos)?;
        if n == 0 {
            // The file shrank after we sent its length: the response cannot be
            // completed, so the connection must close.
            return Err(kernel::error::code::EIO);
        }
        self.pos += n as u64;
        self.remaining -= n as u64;
        self.off = 0;
        self.len = n;
        Ok(true)
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.off..self.len).unwrap_or(&[])
    }
}

/// Per-connection state.
pub struct Conn {
    input: Vec<u8>,
    in_len: usize,
    out: Vec<u8>,
    out_off: usize,
    body: Option<FileBody>,
    /// Close once the queued output is sent.
    close_after: bool,
    /// After the last response of a closing connection: bytes of input discarded since
    /// the write side was shut (`None` until then).
    draining: Option<usize>,
}

enum Flush {
    Done,
    WouldBlock,
    Failed,
}

impl Conn {
    fn flush(&mut self, stream: &TcpStream) -> Flush {
        loop {
            // Read the next chunk before sending, even with the head still queued, so
            // that the head and a small body leave in one send.
            if let Some(b) = self.body.as_mut() {
                match b.refill() {
                    Ok(true) => {}
                    Ok(false) => {
                        self.body = None;
                        continue;
                    }
                    Err(_) => return Flush::Failed,
                }
            }
            let head_sent = self.out_off >= self.out.len();
            if head_sent && self.body.as_ref().is_none_or(|b| b.pending().is_empty()) {
                if let Some(b) = self.body.as_mut().filter(|b| b.splice) {
                    match splice_some(b, stream) {
                        Ok(()) => continue,
                        Err(e) => return e,
                    }
                }
                self.out.clear();
                self.out_off = 0;
                return Flush::Done;
            }
            let head = self.out.get(self.out_off..).unwrap_or(&[]);
            let body = self.body.as_ref().map(|b| b.pending()).unwrap_or(&[]);
            let more = self.body.as_ref().is_some_and(|b| b.remaining > 0);
            match stream.write_vectored(&[head, body], false, more) {
                Ok(mut n) => {
                    let from_head = n.min(head.len());
                    self.out_off += from_head;
                    n -= from_head;
                    if let Some(b) = self.body.as_mut() {
                        b.off += n;
                    }
                }
                Err(e) if e == EAGAIN => return Flush::WouldBlock,
                Err(_) => return Flush::Failed,
            }
        }
    }

    fn consume_input(&mut self, n: usize) {
        // `in_len <= input.len()` always holds; `get_mut` lets the compiler see it, so
        // `copy_within` keeps no range check that could panic.
        let Some(live) = self.input.get_mut(..self.in_len) else {
            self.in_len = 0;
            return;
        };
        let n = n.min(live.len());
        live.copy_within(n.., 0);
        self.in_len -= n;
    }
}

/// Splices the next piece of a body into the socket.
fn splice_some(b: &mut FileBody, stream: &TcpStream) -> core::result::Result<(), Flush> {
    let want = b.remaining.min(SPLICE_MAX);
    match stream.send_file(&b.file, &mut b.pos, want as usize, b.remaining > want) {
        Ok(n) if n > 0 => {
            b.remaining -= (n as u64).min(b.remaining);
            Ok(())
        }
        // Nothing read: the file shrank after its length was sent.
        Ok(_) => Err(Flush::Failed),
        Err(e) if e == EAGAIN => Err(Flush::WouldBlock),
        // A file system that cannot splice: copy through a buffer instead.
        Err(e) if e == EINVAL && b.pos == 0 => {
            b.splice = false;
            Ok(())
        }
        Err(_) => Err(Flush::Failed),
    }
}

impl Handler for Http {
    type State = Conn;

    fn new_state(&self) -> Result<Conn> {
        Ok(Conn {
            input: kernel::allocator::try_vec(IN_START, 0u8)?,
            in_len: 0,
            out: Vec::new(),
            out_off: 0,
            body: None,
            close_after: false,
            draining: None,
        })
    }

    fn serve(&self, c: &mut Conn, stream: &TcpStream) -> Step {
        for _ in 0..BUDGET {
            match c.flush(stream) {
                Flush::Done => {}
                Flush::WouldBlock => return Step::Wait,
                Flush::Failed => return Step::Close,
            }
            if c.close_after {
                // Everything is sent: half-close, then discard what the client still
                // sends so that our close does not turn into a reset.
                let drained = match c.draining {
                    Some(n) => n,
                    None => {
                        let _ = stream.shutdown(Shutdown::Write);
                        c.in_len = 0;
                        0
                    }
                };
                match stream.read(&mut c.input, false) {
                    Ok(n) if n > 0 && drained + n <= DRAIN_MAX => c.draining = Some(drained + n),
                    Err(e) if e == EAGAIN => {
                        c.draining = Some(drained);
                        return Step::Wait;
                    }
                    // EOF, error, or a client that keeps sending: close now.
                    _ => return Step::Close,
                }
                continue;
            }
            if c.in_len > 0 {
                let Some(input) = c.input.get(..c.in_len) else { return Step::Close };
                let reply = match parser::parse(input) {
                    Ok(Status::Partial) => None,
                    Ok(Status::Complete(req, used)) => {
                        Some((content::respond(self, &req, kernel::time::real_seconds()), used))
                    }
                    Err(e) => Some((content::error_reply(e.status(), kernel::time::real_seconds()), c.in_len)),
                };
                if let Some((reply, used)) = reply {
                    self.requests.fetch_add(1, Ordering::Relaxed);
                    c.consume_input(used);
                    match reply {
                        Ok(Reply { head, body, keep_open }) => {
                            c.out = head;
                            c.out_off = 0;
                            c.body = body;
                            c.close_after = !keep_open;
                        }
                        // Out of memory while building a response: nothing sensible
                        // can be sent.
                        Err(_) => return Step::Close,
                    }
                    continue;
                }
                if c.in_len == c.input.len() {
                    if c.input.len() >= IN_CAP {
                        // Cannot happen with IN_CAP above the parser limits; close safely.
                        return Step::Close;
                    }
                    let new_len = (c.input.len() * 2).min(IN_CAP);
                    if c.input.try_resize(new_len, 0).is_err() {
                        return Step::Close;
                    }
                    continue;
                }
            }
            let Some(free) = c.input.get_mut(c.in_len..) else { return Step::Close };
            match stream.read(free, false) {
                Ok(0) => return Step::Close,
                Ok(n) => c.in_len += n,
                Err(e) if e == EAGAIN => return Step::Wait,
                Err(_) => return Step::Close,
            }
        }
        Step::Yield
    }
}
