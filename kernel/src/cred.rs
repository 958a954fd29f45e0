//! Credentials (`struct cred`) to act with less privilege than the loading root.
//!
//! Module code runs with the credentials of whoever runs it: `insmod`'s root at load,
//! and root with every capability in kernel workers. A server that opens files on a
//! client's behalf should instead be checked by the kernel like an unprivileged user:
//! [`Credential::unprivileged`] makes such credentials and [`Credential::act_as`]
//! runs code under them, so directory search and read permission, ACLs and security
//! modules decide what that code may look up and open.

use crate::error::{from_err_ptr, code::EINVAL, Result};

/// A reference to a set of credentials; dropping it puts the reference.
///
/// # Invariants
/// `ptr` is a valid `struct cred` on which we own one reference; it is never modified
/// after creation (credentials are immutable once shared).
pub struct Credential {
    ptr: *const bindings::cred,
}

// SAFETY: credential references are counted atomically and the credentials themselves
// are immutable, so they may be used and released from any thread.
unsafe impl Send for Credential {}
// SAFETY: as above; `&Credential` only gives read access.
unsafe impl Sync for Credential {}

impl Credential {
    /// Credentials of the user `uid` in the group `gid` (initial user namespace), with no
    /// supplementary groups and no capabilities (not even in the bounding set), so root
    /// privileges cannot come back through them. `EINVAL` for an id that cannot exist
    /// (`u32::MAX`).
    pub fn unprivileged(uid: u32, gid: u32) -> Result<Credential> {
        if uid == u32::MAX || gid == u32::MAX {
            return Err(EINVAL);
        }
        // SAFETY: no preconditions; returns new credentials with one reference, or an
        // error pointer.
        let ptr = unsafe { bindings::rust_helper_unprivileged_cred(uid, gid) };
        // INVARIANT: a new reference on credentials no one else can write.
        Ok(Credential { ptr: from_err_ptr(ptr.cast_mut(), EINVAL)?.cast_const() })
    }

    /// Runs `f` with these as the current task's subjective credentials (what the kernel
    /// checks for file access), then restores the previous ones. Nests.
    pub fn act_as<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: `ptr` is valid (invariant); override_creds takes its own reference and
        // returns the previous credentials, which stay referenced until revert.
        let old = unsafe { bindings::rust_helper_override_creds(self.ptr) };
        let r = f();
        // SAFETY: restores on the same task (we have not left this function) the
        // credentials override_creds returned; module code cannot unwind past here.
        unsafe { bindings::rust_helper_revert_creds(old) };
        r
    }
}

impl Drop for Credential {
    fn drop(&mut self) {
        // SAFETY: puts the reference we own (invariant).
        unsafe { bindings::rust_helper_put_cred(self.ptr) };
    }
}
