//! HTTP/1.x protocol logic for khttpd, independent of the kernel.
//!
//! Rules every module here follows, because the code runs in a kernel worker on bytes
//! straight from the network:
//! - no heap: requests are parsed into borrowed slices and everything is written into
//!   caller-provided buffers through [`Writer`], which reports [`Full`] instead of growing;
//! - no panics on any input: no unwrap, no unchecked indexing of network data, checked
//!   arithmetic (the tests run with overflow checks and fuzz every entry point);
//! - bounded work per call and no recursion.
//!
//! Typical flow for one request (see each module for details):
//! [`parser::parse`] → [`path::resolve`] → for a file, [`conditional::evaluate`] with
//! its [`etag::ETag`] (304, 200, 206 with a [`range`], or 416) → [`response::write_head`]
//! (or [`response::write_status_page`]) → file data, or a listing from [`html`] framed by
//! [`chunked`], optionally compressed with the framing from [`compress`].
//! (Connection deadlines are kernel timers, one per connection: see `common`.)
//!
//! Each module imports only modules below it (`scripts/check-layers.py` checks it; the
//! order is in docs/ARCHITECTURE.md): shared vocabulary ([`status`], [`version`]) and
//! lexical helpers ([`syntax`]) sit at the bottom and import nothing.
#![forbid(unsafe_code)]

pub mod chunked;
pub mod compress;
pub mod conditional;
pub mod date;
pub mod etag;
pub mod html;
pub mod mime;
pub mod parser;
pub mod path;
pub mod range;
pub mod response;
pub mod status;
pub mod syntax;
pub mod version;
pub mod writer;

pub use writer::{Full, Writer};
