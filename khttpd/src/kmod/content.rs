//! What to answer: status pages, redirects, files (with 304), directory listings.
//!
//! A request path resolves to a cache [`Entry`] (the open file and its attributes, a
//! small file's bytes, or a rendered listing): from the cache when it has a fresh one,
//! else made here (and cached, unless `cache=0`). Responses are then made from the
//! entry; see `cache.rs`.

use super::body::{FileBody, SPLICE_FROM};
use super::cache::{Cache, Content, Entry, Held, Lookup, Part, Variant};
use super::stats::{self, HttpStats};
use crate::http::html::{Entry as ListingEntry, Listing};
use crate::http::parser::Request;
use crate::http::conditional::{self, Outcome};
use crate::http::etag::ETag;
use crate::http::response::{self, Body, ContentRange, Head};
use crate::http::status::StatusCode;
use crate::http::compress::{self, Encoding, Framing};
use crate::http::{mime, path, Writer};
use kernel::crypto::Deflate;
use kernel::error::code::*;
use kernel::fs::{File, FileKind, PathRef, Stat};
use kernel::page::Pages;
use kernel::sync::{OnceBox, Pool};
use kernel::prelude::*;

/// Most entries listed for one directory (bounds the memory of a listing).
const MAX_ENTRIES: usize = 10_000;
/// Heads and status pages are built in a buffer of this size (on the heap: kernel
/// stacks are 16 KiB, and deep file system calls run below us). The connection layer
/// lends one, reused from request to request (`conn.rs`).
pub const HEAD_BUF: usize = 1024;
/// The buffer a request path is resolved into: the longest path and a trailing slash.
pub const PATH_BUF: usize = path::MAX_PATH + 1;
/// Largest file compressed: the kernel's compressor is one-shot, so the file is read
/// whole into memory (as is its compressed copy) for this.
const COMPRESS_MAX: u64 = 1024 * 1024;
/// Listing pieces are rendered into chunks of this size.
const LISTING_CHUNK: usize = 8192;
/// Times a small file is read again when it changed while being read.
const READ_TRIES: usize = 3;

/// What is served and how: the settings answers depend on (the handler, `conn.rs`,
/// holds it).
pub struct Site {
    pub root: File,
    pub listings: bool,
    pub sendfile: bool,
    /// Deflate compressors, each used by one request at a time; empty when compression
    /// is off. A request that finds all busy is answered uncompressed.
    pub compressors: Pool<Deflate>,
    /// The content cache (`None` with `cache=0`).
    pub cache: Option<Arc<Cache>>,
    /// Files smaller than this are read into memory (the cache's setting, or the
    /// splice threshold without a cache).
    pub body_max: usize,
    /// Live statistics (`/proc/net/khttpd`).
    pub stats: Arc<HttpStats>,
}

/// A complete answer to one request: the head (plus any small body) to send, an
/// optional file body streamed after it, and whether the connection stays open.
pub struct Reply {
    /// The head is `head[..head_len]`; the buffer may be longer (it is reused, not
    /// cleared, for later heads).
    pub head: Vec<u8>,
    pub head_len: usize,
    pub body: Option<FileBody>,
    pub keep_open: bool,
}

impl Reply {
    /// The head's bytes.
    pub fn head(&self) -> &[u8] {
        self.head.get(..self.head_len).unwrap_or(&[])
    }
}

/// The buffers a request is answered in, lent by the caller and kept for the next
/// request: a head buffer (`HEAD_BUF` bytes, taken by the reply) and the buffer the
/// path is resolved into (`PATH_BUF`). Either may be empty: it is then allocated here
/// (and the path buffer kept in `Scratch` for next time). Their old contents are never
/// read: everything sent is written first, so they need no clearing.
#[derive(Default)]
pub struct Scratch {
    pub head: Vec<u8>,
    pub path: Vec<u8>,
}

/// A buffer of at least `len` bytes for a head: `spare` if it is that large (taken,
/// not cleared), else a new one.
fn head_buf(spare: &mut Vec<u8>, len: usize) -> Result<Vec<u8>> {
    if spare.len() >= len {
        Ok(core::mem::take(spare))
    } else {
        kernel::allocator::try_vec(len, 0u8)
    }
}

/// `head` written into `spare` (or a new buffer), ready to send.
fn head_reply(spare: &mut Vec<u8>, head: &Head<'_>, body: Option<FileBody>) -> Result<Reply> {
    let mut buf = head_buf(spare, HEAD_BUF)?;
    let mut w = Writer::new(&mut buf);
    response::write_head(head, &mut w).map_err(|_| EINVAL)?;
    let head_len = w.len();
    Ok(Reply { head: buf, head_len, body, keep_open: head.keeps_alive() })
}

fn page(spare: &mut Vec<u8>, status: StatusCode, keep_alive: bool, now: i64, head_only: bool) -> Result<Reply> {
    let mut buf = head_buf(spare, HEAD_BUF)?;
    let mut w = Writer::new(&mut buf);
    let keep_open = response::write_status_page(status, keep_alive, Some(now), head_only, &mut w).map_err(|_| EINVAL)?;
    let head_len = w.len();
    Ok(Reply { head: buf, head_len, body: None, keep_open })
}

/// The answer to a request that could not be parsed (`head_only`: it was a `HEAD`, so
/// the page's body is left out); the connection closes after it. Written into `spare`
/// if that is large enough.
pub fn error_reply(spare: &mut Vec<u8>, status: StatusCode, now: i64, head_only: bool) -> Result<Reply> {
    page(spare, status, false, now, head_only)
}

/// Maps a lookup/open error to the status the client sees.
fn status_for(e: Error) -> StatusCode {
    if e == ENOENT || e == ENOTDIR {
        StatusCode::NotFound
    } else if e == ENAMETOOLONG {
        StatusCode::UriTooLong
    } else if e == ENOMEM {
        StatusCode::ServiceUnavailable
    } else if e == EACCES || e == EPERM || e == ELOOP || e == EXDEV {
        // EXDEV: the path (through a symlink) leaves the root.
        StatusCode::Forbidden
    } else {
        StatusCode::InternalServerError
    }
}

/// Answers one parsed request, in the buffers of `scratch` (see [`Scratch`]).
pub fn respond(site: &Site, req: &Request<'_>, now: i64, scratch: &mut Scratch) -> Result<Reply> {
    let ka = req.keep_alive();
    let head_only = req.is_head();
    let spare = &mut scratch.head;
    if let Some(status) = req.method().rejection() {
        return page(spare, status, ka, now, false);
    }
    // The resolved path is never longer than the target (decoding and normalising
    // only shrink it) nor than MAX_PATH, plus the key's trailing slash: PATH_BUF.
    if scratch.path.len() < PATH_BUF {
        scratch.path = kernel::allocator::try_vec(PATH_BUF, 0u8)?;
    }
    let pbuf = &mut scratch.path;
    let (rel, trailing_slash) = match path::resolve(req.target(), pbuf) {
        Ok(r) => (r.rel.len(), r.trailing_slash),
        Err(e) => return page(spare, e.status(), ka, now, head_only),
    };
    // The cache key: the resolved path, with its trailing slash ("dir/" lists or serves
    // an index, "dir" redirects).
    let key_len = rel + usize::from(trailing_slash);
    if trailing_slash {
        if let Some(b) = pbuf.get_mut(rel) {
            *b = b'/';
        }
    }
    let Some(key) = pbuf.get(..key_len) else { return Err(EINVAL) };
    let Some(rel) = pbuf.get(..rel) else { return Err(EINVAL) };
    let now_ms = kernel::time::monotonic_ms();
    if let Some(cache) = site.cache.as_deref() {
        match cache.lookup(key, now_ms) {
            Lookup::Fresh(e) => return entry_reply(site, Some(cache), e, req, now, spare),
            Lookup::Stale(e) => {
                if still_valid(site, &e, rel, trailing_slash) {
                    cache.revalidated(&e, now_ms);
                    return entry_reply(site, Some(cache), e, req, now, spare);
                }
                cache.remove(&e);
            }
            Lookup::Miss => {}
        }
    }
    match resolve(site, rel, trailing_slash, key, req, now, now_ms, spare)? {
        Resolved::Entry(e) => {
            if let Some(cache) = site.cache.as_deref() {
                cache.insert(&e);
            }
            entry_reply(site, site.cache.as_deref(), e, req, now, spare)
        }
        Resolved::Reply(r) => Ok(r),
    }
}

/// What a path resolved to: something to cache, or an answer that is not cached
/// (errors, redirects, files that kept changing while read).
enum Resolved {
    Entry(Arc<Entry>),
    Reply(Reply),
}

/// The file a key names now: the target itself, or a directory's `index.html`.
fn current_file(site: &Site, rel: &[u8], trailing_slash: bool) -> Result<(PathRef, Stat)> {
    let p = site.root.lookup(rel)?;
    let st = p.stat()?;
    if st.kind == FileKind::Directory && trailing_slash {
        if let Ok(index) = p.lookup(b"index.html") {
            if let Ok(ist) = index.stat() {
                if ist.kind == FileKind::Regular {
                    return Ok((index, ist));
                }
            }
        }
    }
    Ok((p, st))
}

/// Whether a stale entry still says what the file system says (with the serving
/// credentials: a path that became unreachable is not valid). Listings are always
/// made again: their entries' sizes and times change without the directory changing.
fn still_valid(site: &Site, e: &Entry, rel: &[u8], trailing_slash: bool) -> bool {
    if matches!(e.content, Content::Listing { .. }) {
        return false;
    }
    // (Called inside `act_as`: see conn.rs.)
    match current_file(site, rel, trailing_slash) {
        Ok((_, st)) => st.same_version(&e.stat),
        Err(_) => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn resolve(
    site: &Site,
    rel: &[u8],
    trailing_slash: bool,
    key: &[u8],
    req: &Request<'_>,
    now: i64,
    now_ms: u64,
    spare: &mut Vec<u8>,
) -> Result<Resolved> {
    let ka = req.keep_alive();
    let head_only = req.is_head();
    let (p, st) = match site.root.lookup(rel).and_then(|p| p.stat().map(|st| (p, st))) {
        Ok(v) => v,
        Err(e) => return Ok(Resolved::Reply(page(spare, status_for(e), ka, now, head_only)?)),
    };
    match st.kind {
        FileKind::Regular => file_entry(site, &p, st, rel, key, req, now, now_ms, spare),
        FileKind::Directory => {
            if !trailing_slash {
                // The location is the path percent-encoded: up to three times as long.
                let mut buf = head_buf(spare, HEAD_BUF + path::MAX_PATH * 3)?;
                let mut w = Writer::new(&mut buf);
                let keep_open = response::write_redirect_to_dir(rel, ka, Some(now), head_only, &mut w)
                    .map_err(|_| ENAMETOOLONG)?;
                let head_len = w.len();
                return Ok(Resolved::Reply(Reply { head: buf, head_len, body: None, keep_open }));
            }
            if let Ok(index) = p.lookup(b"index.html") {
                if let Ok(ist) = index.stat() {
                    if ist.kind == FileKind::Regular {
                        return file_entry(site, &index, ist, b"index.html", key, req, now, now_ms, spare);
                    }
                }
            }
            if !site.listings {
                return Ok(Resolved::Reply(page(spare, StatusCode::Forbidden, ka, now, head_only)?));
            }
            let html = match render_listing(site, &p, rel) {
                Ok(html) => html,
                Err(e) if e == ENOMEM => return Err(e),
                Err(e) => return Ok(Resolved::Reply(page(spare, status_for(e), ka, now, head_only)?)),
            };
            Ok(Resolved::Entry(Entry::new(key, st, Content::Listing { html }, now_ms)?))
        }
        // Devices, FIFOs, sockets: never opened.
        _ => Ok(Resolved::Reply(page(spare, StatusCode::Forbidden, ka, now, head_only)?)),
    }
}

/// Opens the file and, if it is small, reads it whole: an entry. The bytes are kept
/// only if the file's attributes were the same before and after the read (a file
/// rewritten meanwhile is read again, a few times, then answered uncached).
#[allow(clippy::too_many_arguments)]
fn file_entry(
    site: &Site,
    p: &PathRef,
    st: Stat,
    name: &[u8],
    key: &[u8],
    req: &Request<'_>,
    now: i64,
    now_ms: u64,
    spare: &mut Vec<u8>,
) -> Result<Resolved> {
    let (ka, head_only) = (req.keep_alive(), req.is_head());
    let file = match p.open() {
        Ok(f) => f,
        Err(e) => return Ok(Resolved::Reply(page(spare, status_for(e), ka, now, head_only)?)),
    };
    let content_type = mime::content_type(name);
    let mut st = st;
    // Small bodies are held as bytes (copied into the head's send); from the splice
    // threshold up, with sendfile, in pages the socket references.
    let in_pages = site.sendfile && st.size >= SPLICE_FROM;
    let body = if (st.size as usize) < site.body_max && (in_pages || st.size < COMPRESS_MAX) {
        let mut got = None;
        for _ in 0..READ_TRIES {
            let held = read_whole(&file, st.size, in_pages)?;
            match p.stat() {
                Ok(after) if held.is_some() && after.same_version(&st) => {
                    got = held;
                    break;
                }
                Ok(after) => st = after,
                Err(e) => return Ok(Resolved::Reply(page(spare, status_for(e), ka, now, head_only)?)),
            }
        }
        match got {
            Some(b) => Some(b),
            // Still changing: answer from the file as it is now, without caching.
            None => {
                let e = Entry::new(key, st, file_content(file, content_type, None), now_ms)?;
                let reply = entry_reply(site, None, e, req, now, spare)?;
                return Ok(Resolved::Reply(reply));
            }
        }
    } else {
        None
    };
    Ok(Resolved::Entry(Entry::new(key, st, file_content(file, content_type, body), now_ms)?))
}

fn file_content(file: File, content_type: &'static str, body: Option<Held>) -> Content {
    Content::File { file, content_type, body, gzip: OnceBox::new(), zlib: OnceBox::new() }
}

/// The file's first `size` bytes, as bytes or in pages; `None` if it has fewer now.
fn read_whole(file: &File, size: u64, in_pages: bool) -> Result<Option<Held>> {
    let size = usize::try_from(size).map_err(|_| EFBIG)?;
    if in_pages {
        return Ok(Pages::read_file(file, size)?.map(Held::Pages));
    }
    Ok(read_bytes(file, size)?.map(Held::Bytes))
}

/// The file's first `size` bytes; `None` if it has fewer now.
fn read_bytes(file: &File, size: usize) -> Result<Option<Vec<u8>>> {
    let mut buf = kernel::allocator::try_vec(size, 0u8)?;
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        match file.read_at(rest, got as u64)? {
            0 => return Ok(None),
            n => got += n,
        }
    }
    Ok(Some(buf))
}

/// The answer to `req` from entry `e`. `cache` (if `e` is cached there) is charged for
/// a compressed variant made here. Never inlined: a symbol of its own for
/// kprobe-timer and `make trace` (one call per file or listing answered).
#[inline(never)]
fn entry_reply(
    site: &Site,
    cache: Option<&Cache>,
    e: Arc<Entry>,
    req: &Request<'_>,
    now: i64,
    spare: &mut Vec<u8>,
) -> Result<Reply> {
    let head_only = req.is_head();
    let ka = req.keep_alive();
    let (content_type, size, part) = match &e.content {
        Content::Listing { html } => (mime::HTML_TYPE, html.len() as u64, Part::Listing),
        Content::File { content_type, body, .. } => {
            let part = match body {
                Some(Held::Bytes(_)) => Part::Body,
                Some(Held::Pages(_)) => Part::Pages,
                None => Part::File,
            };
            (*content_type, e.stat.size, part)
        }
    };
    let mut head = Head::new(StatusCode::Ok, Body::Length(size));
    head.date = Some(now);
    head.content_type = Some(content_type);
    head.keep_alive = ka;
    if part == Part::Listing {
        let body = (!head_only && size > 0).then(|| FileBody::new(e.clone(), part, 0, size, site.sendfile));
        return head_reply(spare, &head, body);
    }
    head.last_modified = Some(e.stat.mtime);
    let compressible = !site.compressors.is_empty() && compress::worth_compressing(content_type, size) && size <= COMPRESS_MAX;
    // Another client may get this compressed: caches must key on Accept-Encoding.
    head.vary_accept_encoding = compressible;
    let enc = if compressible { compress::negotiate(req.accept_encoding(), true) } else { Encoding::Identity };
    let tag = ETag::for_file(e.stat.ino, e.stat.size, e.stat.mtime, e.stat.mtime_nsec, now);
    match conditional::evaluate(req, &tag, e.stat.mtime, size, now) {
        Outcome::NotModified => {
            head.status = StatusCode::NotModified;
            head.body = Body::None;
            head.content_type = None;
            head.etag = Some(tag.for_encoding(enc));
            head_reply(spare, &head, None)
        }
        Outcome::Unsatisfiable => {
            let mut buf = head_buf(spare, HEAD_BUF)?;
            let mut w = Writer::new(&mut buf);
            let keep_open =
                response::write_range_not_satisfiable(size, ka, Some(now), head_only, &mut w).map_err(|_| EINVAL)?;
            let head_len = w.len();
            Ok(Reply { head: buf, head_len, body: None, keep_open })
        }
        // Ranges are of the file itself, never compressed.
        Outcome::Partial(r) => {
            head.status = StatusCode::PartialContent;
            head.body = Body::Length(r.len());
            head.content_range = Some(ContentRange::Bytes { range: r, complete_length: size });
            head.etag = Some(tag);
            head.accept_ranges = true;
            let body = (!head_only && r.len() > 0).then(|| FileBody::new(e.clone(), part, r.first, r.len(), site.sendfile));
            head_reply(spare, &head, body)
        }
        Outcome::Full => {
            let (mut part, mut len) = (part, size);
            let mut used = Encoding::Identity;
            if enc != Encoding::Identity {
                if let Some((vpart, vlen)) = variant(site, cache, &e, enc)? {
                    (part, len, used) = (vpart, vlen, enc);
                }
            }
            head.encoding = used;
            if used != Encoding::Identity {
                site.stats.inc(stats::COMPRESSED);
            }
            head.body = Body::Length(len);
            head.etag = Some(tag.for_encoding(used));
            head.accept_ranges = used == Encoding::Identity;
            let body = (!head_only && len > 0).then(|| FileBody::new(e.clone(), part, 0, len, site.sendfile));
            head_reply(spare, &head, body)
        }
    }
}

/// The entry's body compressed with `enc` (made now if the entry has none yet): which
/// part of the entry and its length. `None` to answer uncompressed: identity asked,
/// every compressor busy, the file changed, or compression does not make it smaller.
fn variant(site: &Site, cache: Option<&Cache>, e: &Entry, enc: Encoding) -> Result<Option<(Part, u64)>> {
    let Content::File { file, body, gzip, zlib, .. } = &e.content else { return Ok(None) };
    let (cell, part) = match enc {
        Encoding::Gzip => (gzip, Part::Gzip),
        Encoding::Deflate => (zlib, Part::Zlib),
        Encoding::Identity => return Ok(None),
    };
    if let Some(v) = cell.get() {
        return Ok(Some((part, v.0.len() as u64)));
    }
    let read;
    let src: &[u8] = match body {
        Some(Held::Bytes(b)) => b,
        _ => {
            // Read the file as the entry describes it: if it changed, not now.
            let size = usize::try_from(e.stat.size).map_err(|_| EFBIG)?;
            let Some(bytes) = read_bytes(file, size)? else { return Ok(None) };
            if !file.stat().is_ok_and(|st| st.same_version(&e.stat)) {
                return Ok(None);
            }
            read = bytes;
            &read
        }
    };
    let Some(framed) = compress_framed(site, src, enc)? else { return Ok(None) };
    let len = framed.len();
    match cell.set(kernel::allocator::try_box(Variant(framed))?) {
        Ok(()) => {
            if let Some(c) = cache {
                c.charge_variant(e, len);
            }
        }
        // Another request made it first: theirs is as good.
        Err(_) => {}
    }
    Ok(cell.get().map(|v| (part, v.0.len() as u64)))
}

/// `src` compressed with `enc` (gzip or zlib framing around the kernel's raw deflate).
/// `None` if every compressor is busy or the result would not be smaller.
fn compress_framed(site: &Site, src: &[u8], enc: Encoding) -> Result<Option<Vec<u8>>> {
    let Some(mut z) = site.compressors.take() else { return Ok(None) };
    let size = src.len();
    let mut framing = Framing::new(enc);
    framing.update(src);
    let (hdr, trailer) = (framing.header(), framing.trailer());
    // The compressed body must come out smaller than the file, or it is not worth it.
    let mut body = kernel::allocator::try_vec(size, 0u8)?;
    let room_end = size.saturating_sub(trailer.as_bytes().len());
    let Some(room) = body.get_mut(hdr.len()..room_end) else { return Ok(None) };
    let Ok(n) = z.compress(src, room) else { return Ok(None) };
    drop(z);
    let len = hdr.len() + n;
    body.get_mut(..hdr.len()).ok_or(EINVAL)?.copy_from_slice(hdr);
    body.get_mut(len..len + trailer.as_bytes().len()).ok_or(EINVAL)?.copy_from_slice(trailer.as_bytes());
    body.truncate(len + trailer.as_bytes().len());
    Ok(Some(body))
}

/// A directory's listing as HTML. Names are read first (the directory is locked while
/// iterating: no lookups in there), then each entry's size and time. Never inlined (a
/// symbol for kprobe-timer and `make trace`).
#[inline(never)]
fn render_listing(site: &Site, dir: &PathRef, rel: &[u8]) -> Result<Vec<u8>> {
    let mut arena: Vec<u8> = Vec::new();
    let mut names: Vec<(usize, usize, Option<FileKind>)> = Vec::new();
    let mut failed = false;
    let mut d = dir.open()?;
    d.read_dir(&mut |name, kind| {
        if names.len() >= MAX_ENTRIES {
            return false;
        }
        let start = arena.len();
        if arena.try_extend_from_slice(name).is_err() || names.try_push((start, name.len(), kind)).is_err() {
            failed = true;
            return false;
        }
        true
    })?;
    if failed {
        return Err(ENOMEM);
    }
    drop(d);

    // Then sizes and times, looked up from the root like any request.
    let mut full: Vec<u8> = Vec::new();
    let mut entries: Vec<ListingEntry<'_>> = Vec::new();
    entries.try_reserve_exact(names.len())?;
    for &(start, len, kind) in names.iter() {
        let Some(name) = arena.get(start..start + len) else { continue };
        full.clear();
        full.try_extend_from_slice(rel)?;
        if !rel.is_empty() {
            full.try_push(b'/')?;
        }
        full.try_extend_from_slice(name)?;
        // From the dentry cache; symlinks (followed only while they stay beneath the
        // root) and mount points take the full lookup from the root, like a request.
        let st = match dir.child(name) {
            Err(e) if e == EXDEV => site.root.lookup(&full).and_then(|p| p.stat()),
            r => r.and_then(|p| p.stat()),
        };
        let (is_dir, size, mtime) = match st {
            Ok(st) => (st.kind == FileKind::Directory, st.size, st.mtime),
            Err(_) => (kind == Some(FileKind::Directory), 0, 0),
        };
        entries.try_push(ListingEntry { name, is_dir, size, mtime })?;
    }

    let mut listing = Listing::new(rel, &mut entries);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = kernel::allocator::try_vec(LISTING_CHUNK, 0u8)?;
    while !listing.is_done() {
        let mut w = Writer::new(&mut chunk);
        listing.fill(&mut w).map_err(|_| EINVAL)?;
        out.try_extend_from_slice(w.written())?;
    }
    Ok(out)
}
