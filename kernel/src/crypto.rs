//! Raw deflate (RFC 1951) through the kernel's crypto API (the "deflate" algorithm).

use crate::error::{code::*, from_err_ptr, to_result, Result};
use core::ffi::c_uint;

/// A deflate compressor (`struct crypto_comp`); freed on drop.
///
/// A transform keeps its compression stream inside, so one must not be used by two
/// threads at once: `compress` takes `&mut self`. Each one holds zlib's workspace
/// (a few hundred KiB), so keep a few and reuse them.
///
/// # Invariants
/// `tfm` is a live transform from `crypto_alloc_comp`, freed once in `Drop`.
pub struct Deflate {
    tfm: *mut bindings::crypto_comp,
}

// SAFETY: a transform may be used from any thread, one at a time (`&mut self`).
unsafe impl Send for Deflate {}

impl Deflate {
    /// Allocates a compressor. `ENOENT` when the kernel has no deflate (it is loaded on
    /// demand where it is a module, e.g. Debian 6.12's `deflate.ko`).
    pub fn new() -> Result<Deflate> {
        // SAFETY: the name is NUL-terminated; the result is a transform or an ERR_PTR.
        let tfm = unsafe { bindings::rust_helper_crypto_alloc_comp(c"deflate".as_ptr()) };
        // INVARIANT: allocation succeeded.
        Ok(Deflate { tfm: from_err_ptr(tfm, ENOENT)? })
    }

    /// Compresses all of `src` into `dst` and returns the bytes written. Fails (`EINVAL`,
    /// as the kernel reports it) when the result does not fit in `dst`.
    pub fn compress(&mut self, src: &[u8], dst: &mut [u8]) -> Result<usize> {
        let slen = c_uint::try_from(src.len()).map_err(|_| EFBIG)?;
        let mut dlen = c_uint::try_from(dst.len()).unwrap_or(c_uint::MAX);
        // SAFETY: the transform is live and used by this thread only (`&mut self`);
        // `src` and `dst` are valid for their lengths and do not overlap.
        to_result(unsafe {
            bindings::crypto_comp_compress(self.tfm, src.as_ptr(), slen, dst.as_mut_ptr(), &mut dlen)
        })?;
        Ok((dlen as usize).min(dst.len()))
    }
}

impl Drop for Deflate {
    fn drop(&mut self) {
        // SAFETY: the transform is live and freed once (invariant).
        unsafe { bindings::rust_helper_crypto_free_comp(self.tfm) };
    }
}
