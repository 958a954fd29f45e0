//! Copying data in from user space ([`UserSlice`]) into kernel memory ([`UserBytes`]).

use crate::error::{code::*, Result};
use core::ffi::c_void;
use core::ops::Deref;
use core::ptr::NonNull;

/// A user-space buffer as a system call handed it over: an address and a length.
/// Nothing is read until [`UserSlice::read_all`].
///
/// Any address is acceptable: the copy checks that the whole range lies in user space
/// (`access_ok`) and handles faults, so a bad pointer is an `EFAULT`, never a kernel
/// memory access.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice {
    addr: *const c_void,
    len: usize,
}

impl UserSlice {
    /// The `len` bytes at user address `addr`.
    pub fn new(addr: *const u8, len: usize) -> Self {
        Self { addr: addr.cast(), len }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the whole buffer into kernel memory. Fails with `EFBIG` before copying
    /// anything if it is longer than `max` bytes, `ENOMEM` if no memory is left and
    /// `EFAULT` if any byte of it cannot be read (unmapped, or not a user address).
    /// May sleep (page faults, allocation).
    pub fn read_all(&self, max: usize) -> Result<UserBytes> {
        if self.len > max {
            return Err(EFBIG);
        }
        if self.len == 0 {
            return Ok(UserBytes { ptr: NonNull::dangling(), len: 0 });
        }
        // SAFETY: kvmalloc has no preconditions; it returns NULL on failure.
        let raw = unsafe { bindings::rust_helper_kvmalloc(self.len, bindings::KMODS_GFP_KERNEL) };
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or(ENOMEM)?;
        // INVARIANT: `ptr` is a kvmalloc'd block of `len` bytes; owned by `bytes` from here.
        let bytes = UserBytes { ptr, len: self.len };
        // SAFETY: the destination is our own block of `len` bytes; copy_from_user checks
        // the source range with access_ok and returns how many bytes it could not copy.
        let left = unsafe { bindings::rust_helper_copy_from_user(ptr.as_ptr().cast(), self.addr, self.len as _) };
        if left != 0 {
            return Err(EFAULT);
        }
        Ok(bytes)
    }
}

/// Bytes copied in from user space by [`UserSlice::read_all`]; freed on drop.
///
/// # Invariants
/// `ptr` is a `kvmalloc` block of `len` fully initialised bytes, or dangling when `len`
/// is 0.
pub struct UserBytes {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: plain owned bytes.
unsafe impl Send for UserBytes {}
// SAFETY: shared access only reads.
unsafe impl Sync for UserBytes {}

impl Deref for UserBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes at `ptr` (or an empty slice at a dangling,
        // well-aligned pointer), owned by `self` (invariant).
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for UserBytes {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: allocated by kvmalloc in `read_all` and freed only here.
            unsafe { bindings::rust_helper_kvfree(self.ptr.as_ptr().cast()) };
        }
    }
}
