//! Files in `/proc/net/`: write-only ones in every network namespace ([`NetFile`]),
//! and read-only ones in the initial namespace whose text is made at each read
//! ([`ReadFile`], e.g. statistics).
//!
//! A [`NetWriteFile`] handler describes the file; [`NetFile<H>`] is the
//! [`PernetSubsys`](crate::pernet::PernetSubsys) that creates it in every namespace
//! (`/proc/net/NAME` as seen from inside the namespace) and removes it when the namespace
//! goes away or the registration is dropped:
//!
//! ```ignore
//! struct Ctl;
//! impl NetWriteFile for Ctl {
//!     const NAME: &'static CStr = c"my_ctl";
//!     const MODE: u16 = 0o600;
//!     const MAX_WRITE: usize = 4096;
//!     fn write(net: &Namespace, data: &[u8]) -> Result<usize> { Ok(data.len()) }
//! }
//! static OPS: PernetOperations = PernetOperations::new::<NetFile<Ctl>>();
//! let reg = Registration::register(&OPS)?;
//! ```
//!
//! Each write reaches the handler whole: the bytes are copied in first (a write longer
//! than `MAX_WRITE` fails with `EFBIG` before anything is copied; a bad buffer with
//! `EFAULT`), together with the namespace the file belongs to. Writing needs
//! `CAP_NET_ADMIN` over that namespace (its user namespace), judged by the credentials
//! the file was opened with, as for other network configuration; `EPERM` otherwise.
//! Opening the file for reading fails with `EPERM`.
//!
//! Lifetime: the proc layer does not start a write once removal has begun and
//! `remove_proc_entry` waits for the writes in progress, so a handler never runs after
//! its namespace's `exit` or after the registration is dropped (a file still open then
//! fails further writes with `EIO`). The namespace outlives its proc files, so the
//! handler's `&Namespace` is always valid.

use crate::error::{code::*, Result};
use crate::pernet::{Namespace, PernetSubsys};
use crate::uaccess::UserSlice;
use core::ffi::{c_char, c_int, CStr};
use core::marker::PhantomData;

/// A write-only file in every namespace's `/proc/net/`.
pub trait NetWriteFile: 'static {
    /// File name in `/proc/net/`.
    const NAME: &'static CStr;
    /// Permission bits (for example `0o600`).
    const MODE: u16;
    /// Longest write accepted; longer ones fail with `EFBIG` before anything is copied.
    const MAX_WRITE: usize;

    /// Handles one write of `data` (the whole write) to the file of namespace `net`.
    /// Returns how many bytes were consumed (normally `data.len()`; returning 0 for a
    /// non-empty write makes writers retry forever). Process context, may sleep.
    fn write(net: &Namespace, data: &[u8]) -> Result<usize>;
}

/// The [`PernetSubsys`] that keeps `H`'s file in every namespace.
pub struct NetFile<H>(PhantomData<H>);

impl<H: NetWriteFile> NetFile<H> {
    const OPS: bindings::proc_ops = {
        // SAFETY: all-zero is a valid `proc_ops`: no flags, no callbacks.
        let mut ops: bindings::proc_ops = unsafe { core::mem::zeroed() };
        ops.proc_open = Some(open_trampoline);
        ops.proc_write = Some(write_trampoline::<H>);
        ops
    };
}

impl<H: NetWriteFile> PernetSubsys for NetFile<H> {
    fn init(net: &Namespace) -> Result {
        crate::pernet::check_layout()?;
        let ops: &'static bindings::proc_ops = &Self::OPS;
        // SAFETY: `net` is live during init and its proc directory exists (proc_net is
        // set up before any module's pernet init). The entry's data is the namespace,
        // which outlives the entry (`exit` removes it). The name is NUL-terminated and
        // `ops` static; proc keeps pointers to both, and both outlive the entry because
        // the entry is removed before the module can be unloaded (the registration's drop).
        let pde = unsafe {
            bindings::proc_create_data(
                H::NAME.as_ptr(),
                H::MODE,
                bindings::rust_helper_net_proc_dir(net.as_ptr()),
                ops,
                net.as_ptr().cast(),
            )
        };
        if pde.is_null() {
            // Quoted by hand: `{:?}` of a CStr goes through core's Unicode escaping, whose
            // table lookups can panic. Names are ASCII constants, so the text is the same.
            let name = H::NAME.to_str().unwrap_or("?");
            crate::pr_err!("cannot create /proc/net/\"{}\" (exists already, or out of memory)", name);
            return Err(ENOMEM);
        }
        Ok(())
    }

    fn exit(net: &Namespace) {
        // SAFETY: `init` created the entry in this namespace's proc directory (exit runs
        // only after a successful init), and nothing else removes it. remove_proc_entry
        // waits for the writes in progress and makes later ones fail.
        unsafe { bindings::remove_proc_entry(H::NAME.as_ptr(), bindings::rust_helper_net_proc_dir(net.as_ptr())) };
    }
}

unsafe extern "C" fn open_trampoline(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: the VFS passes the file being opened.
    if unsafe { bindings::rust_helper_file_readable(file) } {
        return EPERM.to_errno();
    }
    0
}

unsafe extern "C" fn write_trampoline<H: NetWriteFile>(
    file: *mut bindings::file,
    buf: *const c_char,
    count: usize,
    _pos: *mut bindings::loff_t,
) -> isize {
    // SAFETY: the file is one of our entries, whose data is the namespace (see `init`).
    // The proc layer holds the entry in use for this call, so `exit` (which removes the
    // entry and waits for such calls) has not run and the namespace is alive.
    let net = unsafe { Namespace::from_raw(bindings::rust_helper_file_pde_data(file).cast()) };
    // SAFETY: `file` is open (we are in its write call) and the namespace's user
    // namespace lives as long as the namespace.
    let allowed = unsafe {
        bindings::file_ns_capable(file, bindings::rust_helper_net_user_ns(net.as_ptr()), bindings::KMODS_CAP_NET_ADMIN)
    };
    if !allowed {
        return EPERM.to_errno() as isize;
    }
    let bytes = match UserSlice::new(buf.cast(), count).read_all(H::MAX_WRITE) {
        Ok(b) => b,
        Err(e) => return e.to_errno() as isize,
    };
    match H::write(net, &bytes) {
        // `count` came from a write(2), which the VFS caps well below isize::MAX.
        Ok(n) => n.min(count) as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// What a read-only proc file shows: its whole text, made at each read.
pub trait Show: Send + Sync + 'static {
    /// Writes the file's text. May run more than once for one read (when the text
    /// outgrows the proc layer's buffer, it retries with a bigger one). Process context.
    fn show(&self, out: &mut SeqOut<'_>) -> core::fmt::Result;
}

/// The text of a proc file being made ([`Show::show`]): `write!` into it.
pub struct SeqOut<'a> {
    m: *mut bindings::seq_file,
    _p: PhantomData<&'a mut bindings::seq_file>,
}

impl core::fmt::Write for SeqOut<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // SAFETY: `m` is the seq_file of the show call this SeqOut was made for (it
        // lives as long as the borrow); seq_write copies `s.len()` bytes from `s`. On
        // overflow the proc layer retries the show with a larger buffer.
        if unsafe { bindings::seq_write(self.m, s.as_ptr().cast(), s.len()) } != 0 {
            return Err(core::fmt::Error);
        }
        Ok(())
    }
}

/// A read-only file `/proc/net/NAME` in the initial network namespace, readable by
/// everyone (mode 0444), whose text `T` makes at each read. Dropping it removes the
/// file, waiting for reads in progress, so `T::show` never runs after the drop.
///
/// # Invariants
/// `pde` is the entry made by `proc_create_single_data` with `Arc::as_ptr(&data)` as its
/// data; it is removed (in `Drop`) before `data` can be freed.
pub struct ReadFile<T: Show> {
    pde: *mut bindings::proc_dir_entry,
    data: alloc::sync::Arc<T>,
}

// SAFETY: the entry pointer is only used to remove the entry, which may be done from any
// thread; `T` is `Send + Sync`.
unsafe impl<T: Show> Send for ReadFile<T> {}
// SAFETY: `&ReadFile` gives no access to the entry.
unsafe impl<T: Show> Sync for ReadFile<T> {}

impl<T: Show> ReadFile<T> {
    /// Creates `/proc/net/NAME` (initial namespace) showing `data`.
    pub fn create(name: &'static CStr, data: alloc::sync::Arc<T>) -> Result<Self> {
        let ptr = alloc::sync::Arc::as_ptr(&data);
        // SAFETY: the initial namespace and its /proc/net exist for the kernel's life.
        // `name` is static; the data pointer stays valid until the entry is removed
        // (type invariant, kept by Drop).
        let pde = unsafe {
            bindings::proc_create_single_data(
                name.as_ptr(),
                0o444,
                bindings::rust_helper_net_proc_dir(bindings::rust_helper_init_net()),
                Some(show_trampoline::<T>),
                ptr.cast_mut().cast(),
            )
        };
        if pde.is_null() {
            let name = name.to_str().unwrap_or("?");
            crate::pr_err!("cannot create /proc/net/\"{}\" (exists already, or out of memory)", name);
            return Err(ENOMEM);
        }
        Ok(ReadFile { pde, data })
    }

    /// The data the file shows.
    pub fn data(&self) -> &alloc::sync::Arc<T> {
        &self.data
    }
}

impl<T: Show> Drop for ReadFile<T> {
    fn drop(&mut self) {
        // SAFETY: `pde` is our entry (invariant); proc_remove waits for the reads in
        // progress and makes later ones fail, so the data is not used after this.
        unsafe { bindings::proc_remove(self.pde) };
    }
}

unsafe extern "C" fn show_trampoline<T: Show>(m: *mut bindings::seq_file, _v: *mut core::ffi::c_void) -> c_int {
    // SAFETY: `m` is the seq_file of a read of one of our entries; its private data is
    // the `T` given at creation, alive while the entry exists (ReadFile's invariant), and
    // the proc layer holds the entry for the duration of this call.
    let data = unsafe { &*bindings::rust_helper_seq_private(m).cast::<T>() };
    let mut out = SeqOut { m, _p: PhantomData };
    // An overflowed text is retried by the proc layer; other errors cannot happen.
    let _ = data.show(&mut out);
    0
}
