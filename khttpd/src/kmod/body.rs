//! A response body taken from a cache entry and sent in pieces: from the bytes the entry
//! holds, from the pages it holds (by reference, no copy), by reading its open file in
//! bounded chunks, or by splicing the file from the page cache into the socket (no
//! copy; the `sendfile` parameter). The connection
//! (`conn.rs`) decides when to send; this only knows the body.

use super::cache::{Content, Entry, Part};
use super::stats::{self, HttpStats};
use kernel::error::code::{EAGAIN, EINVAL};
use kernel::net::TcpStream;
use kernel::prelude::*;

/// File data read per chunk.
const FILE_CHUNK: usize = 32 * 1024;
/// Bodies at least this large are spliced (when enabled): below it, one copy into the
/// head's send is cheaper than a second send call.
pub const SPLICE_FROM: u64 = 16 * 1024;
/// Bodies at least this large, which leave in more than one send, go out with the
/// socket corked (`TCP_CORK`, as nginx's `tcp_nopush`): only full segments leave until
/// the end. Without it the ACKs that arrive in between push out whatever partial
/// segment is at the tail (the socket has `TCP_NODELAY`), and the FIN of an HTTP/1.0
/// response no longer rides on the last data segment. Measured: a 64 KiB HTTP/1.0
/// exchange took 6 data segments (both ways) instead of 5, a 1 MiB keep-alive response
/// 26 instead of 18, and most 1 MiB HTTP/1.0 responses drew a tail loss probe.
pub const CORK_FROM: u64 = SPLICE_FROM;
/// Most bytes spliced per call, so one fast client cannot hold a worker for long.
const SPLICE_MAX: u64 = 512 * 1024;

/// How a send ended: everything queued is out, the socket is full, or the connection
/// failed.
pub enum Flush {
    Done,
    WouldBlock,
    Failed,
}

/// A response body taken from a cache entry (which the body keeps alive): bytes the
/// entry holds, sent from there, or its open file, streamed. In copy mode
/// `buf[off..len]` is read but not yet sent; when splicing, the rest goes straight from
/// the page cache.
pub struct FileBody {
    entry: Arc<Entry>,
    part: Part,
    /// Where the body starts (a range's first byte).
    start: u64,
    pos: u64,
    remaining: u64,
    splice: bool,
    buf: Vec<u8>,
    off: usize,
    len: usize,
}

impl FileBody {
    /// `len` bytes of `part` of `entry` from offset `start` (for `Part::File`, of the
    /// file as it was when the head was made).
    pub fn new(entry: Arc<Entry>, part: Part, start: u64, len: u64, sendfile: bool) -> Self {
        let splice = (part == Part::File && sendfile && len >= SPLICE_FROM) || part == Part::Pages;
        FileBody { entry, part, start, pos: start, remaining: len, splice, buf: Vec::new(), off: 0, len: 0 }
    }

    /// Reads the next chunk when the previous one is sent (copy mode; nothing to do
    /// when splicing or sending from memory). `Ok(false)` at the end.
    pub fn refill(&mut self) -> Result<bool> {
        if self.part != Part::File || self.splice {
            return Ok(self.remaining > 0);
        }
        if self.off < self.len {
            return Ok(true);
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
        let (entry, buf) = (&self.entry, &mut self.buf);
        let Content::File { file, .. } = &entry.content else { return Err(EINVAL) };
        let Some(dst) = buf.get_mut(..want) else { return Err(EINVAL) };
        let n = file.read_at(dst, self.pos)?;
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

    /// What can be sent now without reading.
    pub fn pending(&self) -> &[u8] {
        if self.part == Part::File {
            return self.buf.get(self.off..self.len).unwrap_or(&[]);
        }
        let bytes = self.entry.bytes(self.part);
        let start = usize::try_from(self.pos).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        bytes.get(start..end).unwrap_or(&[])
    }

    /// `n` bytes of `pending()` were sent.
    pub fn consume(&mut self, n: usize) {
        if self.part == Part::File {
            self.off += n;
        } else {
            self.pos += n as u64;
            self.remaining -= (n as u64).min(self.remaining);
        }
    }

    /// Bytes not sent yet.
    pub fn left(&self) -> u64 {
        if self.part == Part::File {
            self.remaining.saturating_add(self.len.saturating_sub(self.off) as u64)
        } else {
            self.remaining
        }
    }

    /// More bytes will follow what `pending()` holds now.
    pub fn more_after_pending(&self) -> bool {
        matches!(self.part, Part::File | Part::Pages) && self.remaining > 0
    }

    /// Whether the rest goes out without a copy (spliced from the page cache, or the
    /// entry's pages by reference) rather than read.
    pub fn splices(&self) -> bool {
        self.splice
    }

    /// Splices the next piece of a body into the socket; `last_more`: hold the end back
    /// too (a close or half-close follows at once and sends it, with the FIN).
    pub fn splice_some(&mut self, stream: &TcpStream, stats: &HttpStats, last_more: bool) -> core::result::Result<(), Flush> {
        let want = self.remaining.min(SPLICE_MAX);
        let more = last_more || self.remaining > want;
        let (entry, pos) = (&self.entry, &mut self.pos);
        let sent = if self.part == Part::Pages {
            let Some(pages) = entry.pages() else { return Err(Flush::Failed) };
            let at = usize::try_from(*pos).map_err(|_| Flush::Failed)?;
            let r = stream.send_pages(pages, at, want as usize, more);
            if let Ok(n) = r {
                *pos += n as u64;
            }
            r
        } else {
            let Content::File { file, .. } = &entry.content else { return Err(Flush::Failed) };
            stream.send_file(file, pos, want as usize, more)
        };
        match sent {
            Ok(n) if n > 0 => {
                stats.add(stats::BYTES_SPLICED, n as u64);
                self.remaining -= (n as u64).min(self.remaining);
                Ok(())
            }
            // Nothing read: the file shrank after its length was sent.
            Ok(_) => Err(Flush::Failed),
            Err(e) if e == EAGAIN => Err(Flush::WouldBlock),
            // A file system that cannot splice: copy through a buffer instead.
            Err(e) if e == EINVAL && self.part == Part::File && self.pos == self.start => {
                self.splice = false;
                Ok(())
            }
            Err(_) => Err(Flush::Failed),
        }
    }
}
