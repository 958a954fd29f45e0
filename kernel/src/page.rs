//! [`Pages`]: bytes in whole pages of the module's own, which a socket can send by
//! reference instead of copying ([`crate::net::TcpStream::send_pages`]).

use crate::error::code::{EINVAL, ENOMEM};
use crate::fs::File;
use crate::prelude::*;
use core::ptr::NonNull;

const PAGE_SIZE: usize = 4096;
/// Largest block asked for: 2^4 pages (64 KiB), one send of up to a TCP segment's
/// worth; smaller blocks are used when no such block is free.
const MAX_ORDER: u32 = 4;

/// One block of 2^order contiguous pages.
///
/// # Invariants
/// `page` is the first page of a block from `rust_helper_alloc_block(order)` (a compound
/// page if `order > 0`, never highmem) on which we own one reference.
struct Block {
    page: NonNull<bindings::page>,
    order: u32,
}

impl Block {
    fn size(&self) -> usize {
        PAGE_SIZE << self.order
    }

    fn addr(&self) -> *mut u8 {
        // SAFETY: the block is ours and not highmem (invariant), so it has a permanent
        // kernel address.
        unsafe { bindings::rust_helper_page_address(self.page.as_ptr()).cast() }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: we own one reference (invariant). Sockets that still send from the
        // block hold their own; the last reference frees all of its pages.
        unsafe { bindings::rust_helper_put_page(self.page.as_ptr()) };
    }
}

/// `len` bytes in pages, written once when made and never again: the network stack may
/// reference them (taking page references of its own) after this value is gone, and
/// readers on other CPUs see the same bytes for as long as any reference lasts.
///
/// # Invariants
/// The blocks hold `len` initialised bytes in order (all of every block but the last,
/// which holds the rest); nothing writes to them after construction.
pub struct Pages {
    blocks: Vec<Block>,
    len: usize,
}

// SAFETY: the blocks are plain memory owned through page references, released by
// put_page from any context that may sleep or not; after construction they are only
// read.
unsafe impl Send for Pages {}
// SAFETY: shared access only reads (invariant).
unsafe impl Sync for Pages {}

impl Pages {
    /// The first `len` bytes of `file` read into new pages; `Ok(None)` if the file has
    /// fewer now. May sleep.
    pub fn read_file(file: &File, len: usize) -> Result<Option<Pages>> {
        let mut pages = Pages { blocks: Vec::new(), len: 0 };
        let mut order = MAX_ORDER;
        while pages.len < len {
            let rest = len - pages.len;
            // The smallest block that holds the rest, or the largest there is.
            while order > 0 && (PAGE_SIZE << (order - 1)) >= rest {
                order -= 1;
            }
            let block = loop {
                // SAFETY: any order up to MAX_ORDER may be asked for; NULL on failure.
                match NonNull::new(unsafe { bindings::rust_helper_alloc_block(order) }) {
                    // INVARIANT: a new block of this order, with our one reference.
                    Some(page) => break Block { page, order },
                    None if order > 0 => order -= 1,
                    None => return Err(ENOMEM),
                }
            };
            pages.blocks.try_reserve(1)?;
            let want = rest.min(block.size());
            let base = block.addr();
            // Kept in `pages` before it is written, so that every exit frees it.
            pages.blocks.push_within_capacity(block).map_err(|_| ENOMEM)?;
            let mut got = 0;
            while got < want {
                // SAFETY: `base..base + want` lies in the block, which is ours alone
                // (not shared yet, never sent); the file only writes into it.
                let n = unsafe { file.read_raw(base.add(got), want - got, (pages.len + got) as u64) }?;
                if n == 0 {
                    return Ok(None);
                }
                got += n.min(want - got);
            }
            // INVARIANT: `want` more bytes are initialised, in order.
            pages.len += want;
        }
        Ok(Some(pages))
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block holding byte `pos`, as (block, offset in it, bytes of it from there).
    fn locate(&self, pos: usize) -> Option<(&Block, usize, usize)> {
        let mut start = 0;
        for b in &self.blocks {
            let held = b.size().min(self.len - start);
            if pos < start + held {
                return Some((b, pos - start, start + held - pos));
            }
            start += held;
        }
        None
    }

    /// Queues up to `len` bytes from `pos` on `sock` by reference; see
    /// [`crate::net::TcpStream::send_pages`].
    ///
    /// # Safety
    /// `sock` must be a live socket for the call.
    pub(crate) unsafe fn send(&self, sock: *mut bindings::socket, pos: usize, len: usize, more: bool) -> Result<usize> {
        let end = pos.checked_add(len).filter(|&e| e <= self.len).ok_or(EINVAL)?;
        let mut at = pos;
        while at < end {
            let Some((block, off, avail)) = self.locate(at) else { return Err(EINVAL) };
            let n = avail.min(end - at);
            let more_here = more || at + n < end;
            // SAFETY: `sock` is live (the caller's promise); bytes
            // `off..off + n` of the block are initialised and never written again
            // (invariant); the stack takes its own references on the pages it keeps.
            let r = unsafe {
                bindings::rust_helper_sock_send_page(sock, block.page.as_ptr(), off as u32, n, more_here)
            };
            if r < 0 {
                if at > pos {
                    break;
                }
                return Err(crate::error::Error::from_errno(r));
            }
            let sent = (r as usize).min(n);
            at += sent;
            if sent < n {
                break;
            }
        }
        Ok(at - pos)
    }
}
