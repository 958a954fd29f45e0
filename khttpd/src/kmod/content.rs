//! What to answer: status pages, redirects, files (with 304), directory listings.

use super::conn::{FileBody, Http};
use crate::http::html::{Entry, Listing};
use crate::http::parser::Request;
use crate::http::response::{self, Body, Head, StatusCode};
use crate::http::compress::{self, Encoding, Framing};
use crate::http::{chunked, mime, path, Writer};
use kernel::error::code::*;
use kernel::fs::{FileKind, PathRef, Stat};
use kernel::prelude::*;

/// Most entries listed for one directory (bounds the memory of a listing).
const MAX_ENTRIES: usize = 10_000;
/// Heads and status pages are built in a buffer of this size (on the heap: kernel
/// stacks are 16 KiB, and deep file system calls run below us).
const HEAD_BUF: usize = 1024;
/// Largest file compressed: the kernel's compressor is one-shot, so the file is read
/// whole into memory (as is its compressed copy) for this.
const COMPRESS_MAX: u64 = 1024 * 1024;
/// Listing pieces are rendered into chunks of this size.
const LISTING_CHUNK: usize = 8192;

/// A complete answer to one request: the head (plus any small body) to send, an
/// optional file body streamed after it, and whether the connection stays open.
pub struct Reply {
    pub head: Vec<u8>,
    pub body: Option<FileBody>,
    pub keep_open: bool,
}

fn to_vec(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    v.try_extend_from_slice(bytes)?;
    Ok(v)
}

/// `buf` cut to its first `n` bytes: a head written into its buffer is sent from
/// there, without a second allocation and copy.
fn written(mut buf: Vec<u8>, n: usize) -> Vec<u8> {
    buf.truncate(n);
    buf
}

/// `head` written into a buffer of its own, ready to send.
fn head_bytes(head: &Head<'_>) -> Result<Vec<u8>> {
    let mut buf = kernel::allocator::try_vec(HEAD_BUF, 0u8)?;
    let mut w = Writer::new(&mut buf);
    response::write_head(head, &mut w).map_err(|_| EINVAL)?;
    let n = w.len();
    Ok(written(buf, n))
}

/// The head of a 200 response carrying (a coding of) the file `st` describes.
fn file_head(st: &Stat, body: Body, content_type: &'static str, req: &Request<'_>, now: i64) -> Head<'static> {
    let mut head = Head::new(StatusCode::Ok, body);
    head.date = Some(now);
    head.content_type = Some(content_type);
    head.last_modified = Some(st.mtime);
    head.keep_alive = req.keep_alive();
    head
}

fn page(status: StatusCode, keep_alive: bool, now: i64, head_only: bool) -> Result<Reply> {
    let mut buf = kernel::allocator::try_vec(HEAD_BUF, 0u8)?;
    let mut w = Writer::new(&mut buf);
    let keep_open = response::write_status_page(status, keep_alive, Some(now), head_only, &mut w).map_err(|_| EINVAL)?;
    let n = w.len();
    Ok(Reply { head: written(buf, n), body: None, keep_open })
}

/// The answer to a request that could not be parsed; the connection closes after it.
pub fn error_reply(status: StatusCode, now: i64) -> Result<Reply> {
    page(status, false, now, false)
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

/// Answers one parsed request.
pub fn respond(h: &Http, req: &Request<'_>, now: i64) -> Result<Reply> {
    let ka = req.keep_alive();
    let head_only = req.is_head();
    if let Some(status) = req.method().rejection() {
        return page(status, ka, now, false);
    }
    // The resolved path is never longer than the target (decoding and normalising
    // only shrink it), so that much room is enough.
    let mut pbuf = kernel::allocator::try_vec(req.target().len().clamp(1, path::MAX_PATH), 0u8)?;
    let resolved = match path::resolve(req.target(), &mut pbuf) {
        Ok(r) => r,
        Err(e) => return page(e.status(), ka, now, head_only),
    };
    let found = h.root.lookup(resolved.rel).and_then(|p| p.stat().map(|st| (p, st)));
    let (p, st) = match found {
        Ok(v) => v,
        Err(e) => return page(status_for(e), ka, now, head_only),
    };
    match st.kind {
        FileKind::Regular => file_reply(h, &p, &st, resolved.rel, req, now),
        FileKind::Directory => {
            if !resolved.trailing_slash {
                let mut buf = kernel::allocator::try_vec(HEAD_BUF + path::MAX_PATH * 3, 0u8)?;
                let mut w = Writer::new(&mut buf);
                let keep_open = response::write_redirect_to_dir(resolved.rel, ka, Some(now), head_only, &mut w)
                    .map_err(|_| ENAMETOOLONG)?;
                return Ok(Reply { head: to_vec(w.written())?, body: None, keep_open });
            }
            if let Ok(index) = p.lookup(b"index.html") {
                if let Ok(ist) = index.stat() {
                    if ist.kind == FileKind::Regular {
                        return file_reply(h, &index, &ist, b"index.html", req, now);
                    }
                }
            }
            if !h.listings {
                return page(StatusCode::Forbidden, ka, now, head_only);
            }
            listing_reply(h, &p, resolved.rel, req, now)
        }
        // Devices, FIFOs, sockets: never opened.
        _ => page(StatusCode::Forbidden, ka, now, head_only),
    }
}

fn file_reply(h: &Http, p: &PathRef, st: &Stat, name: &[u8], req: &Request<'_>, now: i64) -> Result<Reply> {
    let ka = req.keep_alive();
    let head_only = req.is_head();
    if response::not_modified(st.mtime, req.if_modified_since_time()) {
        let mut head = Head::new(StatusCode::NotModified, Body::None);
        head.date = Some(now);
        head.last_modified = Some(st.mtime);
        head.keep_alive = ka;
        return Ok(Reply { head: head_bytes(&head)?, body: None, keep_open: head.keeps_alive() });
    }
    let content_type = mime::content_type(name);
    let compressible = !h.compressors.is_empty() && compress::worth_compressing(content_type, st.size);
    if compressible && st.size <= COMPRESS_MAX {
        let enc = compress::negotiate(req.accept_encoding(), true);
        if enc != Encoding::Identity {
            if let Some(reply) = compressed_reply(h, p, st, content_type, enc, req, now)? {
                return Ok(reply);
            }
        }
    }
    let file = if head_only {
        None
    } else {
        match p.open() {
            Ok(f) => Some(f),
            Err(e) => return page(status_for(e), ka, now, head_only),
        }
    };
    let mut head = file_head(st, Body::Length(st.size), content_type, req, now);
    // Another client may get this compressed: caches must key on Accept-Encoding.
    head.vary_accept_encoding = compressible;
    Ok(Reply {
        head: head_bytes(&head)?,
        body: file.map(|f| FileBody::new(f, st.size, h.sendfile)),
        keep_open: head.keeps_alive(),
    })
}

/// The file compressed with `enc` (gzip or zlib framing around the kernel's raw
/// deflate), head and body in one buffer. `None` to answer uncompressed instead: every
/// compressor busy, the file changed size while read, or compression does not shrink it.
fn compressed_reply(
    h: &Http,
    p: &PathRef,
    st: &Stat,
    content_type: &'static str,
    enc: Encoding,
    req: &Request<'_>,
    now: i64,
) -> Result<Option<Reply>> {
    let Some(mut z) = h.compressors.iter().find_map(|c| c.try_lock()) else { return Ok(None) };
    let Ok(file) = p.open() else { return Ok(None) };
    let size = usize::try_from(st.size).map_err(|_| EFBIG)?;
    let mut src = kernel::allocator::try_vec(size, 0u8)?;
    let mut got = 0;
    while let Some(rest) = src.get_mut(got..).filter(|r| !r.is_empty()) {
        match file.read_at(rest, got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    if got != size {
        return Ok(None);
    }
    let mut framing = Framing::new(enc);
    framing.update(&src);
    let (hdr, trailer) = (framing.header(), framing.trailer());
    // The compressed body must come out smaller than the file, or it is not worth it.
    let mut body = kernel::allocator::try_vec(size, 0u8)?;
    let room_end = size.saturating_sub(trailer.as_bytes().len());
    let Some(room) = body.get_mut(hdr.len()..room_end) else { return Ok(None) };
    let Ok(n) = z.compress(&src, room) else { return Ok(None) };
    drop(z);
    drop(src);
    let len = hdr.len() + n;
    body.get_mut(..hdr.len()).ok_or(EINVAL)?.copy_from_slice(hdr);
    body.get_mut(len..len + trailer.as_bytes().len()).ok_or(EINVAL)?.copy_from_slice(trailer.as_bytes());
    body.truncate(len + trailer.as_bytes().len());

    let mut head = file_head(st, Body::Length(body.len() as u64), content_type, req, now);
    head.encoding = enc;
    let mut out = head_bytes(&head)?;
    if !req.is_head() {
        out.try_extend_from_slice(&body)?;
    }
    Ok(Some(Reply { head: out, body: None, keep_open: head.keeps_alive() }))
}

fn listing_reply(h: &Http, dir: &PathRef, rel: &[u8], req: &Request<'_>, now: i64) -> Result<Reply> {
    let ka = req.keep_alive();
    let head_only = req.is_head();
    let mut head = Head::new(StatusCode::Ok, Body::streaming(req.version()));
    head.date = Some(now);
    head.content_type = Some(mime::HTML_TYPE);
    head.keep_alive = ka;
    let mut out = head_bytes(&head)?;
    let keep_open = head.keeps_alive();
    if head_only {
        return Ok(Reply { head: out, body: None, keep_open });
    }

    // Names first (the directory is locked while iterating: no lookups in there).
    let mut arena: Vec<u8> = Vec::new();
    let mut names: Vec<(usize, usize, Option<FileKind>)> = Vec::new();
    let mut failed = false;
    let mut d = match dir.open() {
        Ok(d) => d,
        Err(e) => return page(status_for(e), ka, now, head_only),
    };
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
    let mut entries: Vec<Entry<'_>> = Vec::new();
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
            Err(e) if e == EXDEV => h.root.lookup(&full).and_then(|p| p.stat()),
            r => r.and_then(|p| p.stat()),
        };
        let (is_dir, size, mtime) = match st {
            Ok(st) => (st.kind == FileKind::Directory, st.size, st.mtime),
            Err(_) => (kind == Some(FileKind::Directory), 0, 0),
        };
        entries.try_push(Entry { name, is_dir, size, mtime })?;
    }

    let chunked_body = head.body == Body::Chunked;
    let mut listing = Listing::new(rel, &mut entries);
    let mut chunk = kernel::allocator::try_vec(LISTING_CHUNK, 0u8)?;
    while !listing.is_done() {
        let area = chunked::payload_area(&mut chunk);
        let mut pw = Writer::new(area);
        listing.fill(&mut pw).map_err(|_| EINVAL)?;
        let n = pw.len();
        if chunked_body {
            let range = chunked::frame_in_place(&mut chunk, n).map_err(|_| EINVAL)?;
            out.try_extend_from_slice(chunk.get(range).unwrap_or(&[]))?;
        } else {
            let payload = chunk.get(chunked::HEADROOM..chunked::HEADROOM + n).unwrap_or(&[]);
            out.try_extend_from_slice(payload)?;
        }
    }
    if chunked_body {
        out.try_extend_from_slice(chunked::LAST_CHUNK)?;
    }
    Ok(Reply { head: out, body: None, keep_open })
}
