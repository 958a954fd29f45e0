//! Files and directories: open a directory as a root, look paths up beneath it, read
//! files, list directories, stat.
//!
//! Lookups beneath a root use `vfs_path_lookup` with `LOOKUP_BENEATH`: `..`, absolute
//! symlinks and symlinks that climb out of the root fail with `EXDEV` instead of being
//! followed, and `/proc`-style magic links are refused. Nothing is opened before its
//! type is known, so device nodes and FIFOs are never opened by accident.

use crate::error::{code::*, from_err_ptr, to_result, Result};
use crate::allocator::VecExt;
use alloc::vec::Vec;
use core::ffi::{c_char, c_int, c_uint, CStr};

/// Longest path accepted by [`Dir::lookup`] (bytes, without the NUL).
pub const PATH_MAX: usize = 4095;

/// The type of a file system object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link (only seen in directory listings; lookups follow links).
    Symlink,
    /// A device node, FIFO or socket.
    Special,
}

impl FileKind {
    /// The type an inode mode (`i_mode`, `st_mode`) says.
    fn from_mode(mode: u32) -> FileKind {
        match mode & bindings::KMODS_S_IFMT {
            m if m == bindings::KMODS_S_IFREG => FileKind::Regular,
            m if m == bindings::KMODS_S_IFDIR => FileKind::Directory,
            m if m == bindings::KMODS_S_IFLNK => FileKind::Symlink,
            _ => FileKind::Special,
        }
    }
}

/// The attributes [`PathRef::stat`] reports.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    /// Object type.
    pub kind: FileKind,
    /// Permission bits (`0o7777`).
    pub perm: u32,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds part of the modification time.
    pub mtime_nsec: u32,
    /// Status change time (seconds, nanoseconds): changes with permissions, links,
    /// renames and writes.
    pub ctime: (i64, u32),
    /// Inode number and device: which object this is.
    pub ino: u64,
    /// Device the object is on (the kernel's `dev_t`).
    pub dev: u32,
}

impl Stat {
    /// True if `other` describes the same object, unchanged as far as its type, size,
    /// times and identity can tell.
    pub fn same_version(&self, other: &Stat) -> bool {
        self.kind == other.kind
            && self.perm == other.perm
            && self.size == other.size
            && self.mtime == other.mtime
            && self.mtime_nsec == other.mtime_nsec
            && self.ctime == other.ctime
            && self.ino == other.ino
            && self.dev == other.dev
    }
}

/// A reference to a looked-up file system object (`struct path`); dropping it puts it.
///
/// # Invariants
/// `path` holds references on its mount and dentry, released once in `Drop`.
pub struct PathRef {
    path: bindings::path,
}

// SAFETY: a `struct path` reference may be used and released from any thread.
unsafe impl Send for PathRef {}
// SAFETY: all methods only read through the references.
unsafe impl Sync for PathRef {}

impl PathRef {
    /// Attributes of the object.
    pub fn stat(&self) -> Result<Stat> {
        // SAFETY: kstat is plain data; vfs_getattr fills it.
        let mut st: bindings::kstat = unsafe { core::mem::zeroed() };
        // SAFETY: `self.path` is a valid referenced path (invariant).
        to_result(unsafe {
            bindings::vfs_getattr(
                &self.path,
                &mut st,
                bindings::KMODS_STATX_BASIC_STATS,
                bindings::KMODS_AT_STATX_SYNC_AS_STAT,
            )
        })?;
        Ok(Stat {
            kind: FileKind::from_mode(st.mode as u32),
            perm: st.mode as u32 & 0o7777,
            size: st.size.max(0) as u64,
            mtime: st.mtime.tv_sec,
            mtime_nsec: st.mtime.tv_nsec.clamp(0, 999_999_999) as u32,
            ctime: (st.ctime.tv_sec, st.ctime.tv_nsec.clamp(0, 999_999_999) as u32),
            ino: st.ino,
            dev: st.dev,
        })
    }

    /// Opens the object for reading, if the current task's credentials may read it (as
    /// `open(2)` checks: mode bits, ACLs, security modules; `EACCES` otherwise). Refuses
    /// anything but regular files and directories (`EACCES`), so special files are never
    /// opened.
    pub fn open(&self) -> Result<File> {
        // The type from the inode itself: a referenced dentry's inode does not change
        // type, and this saves a second getattr after `stat`.
        // SAFETY: `self.path` is a valid referenced path (invariant), so its dentry is
        // live; the helper reads the type bits of its inode (0 for a negative dentry).
        let mode = unsafe { bindings::rust_helper_path_mode(&self.path) };
        let mut flags = bindings::KMODS_O_RDONLY | bindings::KMODS_O_LARGEFILE;
        match FileKind::from_mode(mode) {
            FileKind::Regular => {}
            FileKind::Directory => flags |= bindings::KMODS_O_DIRECTORY,
            _ => return Err(EACCES),
        }
        // dentry_open itself checks only the security modules' file_open hook.
        // SAFETY: `self.path` is a valid referenced path (invariant).
        to_result(unsafe {
            bindings::rust_helper_path_permission(&self.path, bindings::KMODS_MAY_READ | bindings::KMODS_MAY_OPEN)
        })?;
        // SAFETY: `self.path` is valid; dentry_open takes its own references; the
        // current task's credentials are valid for the call.
        let f = unsafe { bindings::dentry_open(&self.path, flags, bindings::rust_helper_current_cred()) };
        Ok(File { ptr: from_err_ptr(f, ENOMEM)? })
    }

    /// Looks `rel` up beneath this directory; see [`lookup_beneath`].
    pub fn lookup(&self, rel: &[u8]) -> Result<PathRef> {
        lookup_beneath(&self.path, rel)
    }

    /// The entry `name` (one component: no `/`, not `.` or `..`) of this directory, from
    /// the dentry cache without a path walk or a name buffer: much cheaper than
    /// [`PathRef::lookup`] for each entry of a listing. Symbolic links are not followed
    /// and mount points are not crossed: both give `EXDEV`, so that the caller can use a
    /// full lookup for them. `ENOENT` if there is no such entry.
    pub fn child(&self, name: &[u8]) -> Result<PathRef> {
        if name.is_empty() || name.contains(&b'/') || name.contains(&0) || name == b"." || name == b".." {
            return Err(EINVAL);
        }
        let len = c_int::try_from(name.len()).map_err(|_| ENAMETOOLONG)?;
        // SAFETY: `self.path` is referenced (invariant); the name is `len` valid bytes
        // (lookup_one_len_unlocked takes a length, no NUL needed) and outlives the call.
        // It takes the parent's lock itself when the entry is not cached.
        let d = unsafe { bindings::lookup_one_len_unlocked(name.as_ptr().cast(), self.path.dentry, len) };
        let d = from_err_ptr(d, ENOENT)?;
        // SAFETY: `d` is a dentry we hold a reference on (lookup succeeded).
        let flags = unsafe { bindings::rust_helper_dentry_flags(d) };
        if flags & (bindings::KMODS_DENTRY_NEGATIVE | bindings::KMODS_DENTRY_SYMLINK | bindings::KMODS_DENTRY_MOUNTPOINT) != 0 {
            // SAFETY: drops the reference the lookup gave us.
            unsafe { bindings::dput(d) };
            return Err(if flags & bindings::KMODS_DENTRY_NEGATIVE != 0 { ENOENT } else { EXDEV });
        }
        // INVARIANT: the dentry reference from the lookup and a new one on the mount
        // (the child is on the parent's mount: it is not a mount point).
        // SAFETY: `self.path.mnt` is referenced (invariant), so taking another is valid.
        let mnt = unsafe { bindings::mntget(self.path.mnt) };
        Ok(PathRef { path: bindings::path { mnt, dentry: d } })
    }
}

impl Drop for PathRef {
    fn drop(&mut self) {
        // SAFETY: releases the references taken by the lookup (invariant).
        unsafe { bindings::path_put(&self.path) };
    }
}

/// Looks up `rel` (a relative path, `/`-separated, no NUL) beneath `root`, following
/// symlinks only while they stay beneath it. An empty `rel` is the root itself.
fn lookup_beneath(root: &bindings::path, rel: &[u8]) -> Result<PathRef> {
    if rel.len() > PATH_MAX || rel.contains(&0) {
        return Err(ENAMETOOLONG);
    }
    let rel = if rel.is_empty() { &b"."[..] } else { rel };
    let mut name: Vec<u8> = Vec::new();
    name.try_reserve_exact(rel.len() + 1)?;
    name.try_extend_from_slice(rel)?;
    name.try_push(0)?;
    // SAFETY: path is plain data, filled by the lookup on success.
    let mut out: bindings::path = unsafe { core::mem::zeroed() };
    let flags = bindings::KMODS_LOOKUP_FOLLOW | bindings::KMODS_LOOKUP_BENEATH | bindings::KMODS_LOOKUP_NO_MAGICLINKS;
    // SAFETY: `root` is a valid referenced path (held by the caller); `name` is
    // NUL-terminated and outlives the call; `out` receives new references on success.
    to_result(unsafe { bindings::vfs_path_lookup(root.dentry, root.mnt, name.as_ptr().cast(), flags, &mut out) })?;
    // INVARIANT: the lookup succeeded and took references.
    Ok(PathRef { path: out })
}

/// An open file (`struct file`); dropping it closes it.
///
/// # Invariants
/// `ptr` is an open file on which we own one reference.
pub struct File {
    ptr: *mut bindings::file,
}

// SAFETY: an open file may be used and closed from any thread. Through `&File` only
// position-free operations are offered (kernel_read with our own offset, stat, lookup);
// `read_dir`, which moves `f_pos`, takes `&mut File`.
unsafe impl Send for File {}
// SAFETY: as above.
unsafe impl Sync for File {}

impl File {
    /// Opens the directory at the absolute path `path` (e.g. a module parameter).
    pub fn open_dir(path: &CStr) -> Result<File> {
        let flags = bindings::KMODS_O_RDONLY | bindings::KMODS_O_DIRECTORY | bindings::KMODS_O_LARGEFILE;
        // SAFETY: `path` is NUL-terminated.
        let f = unsafe { bindings::filp_open(path.as_ptr(), flags, 0) };
        Ok(File { ptr: from_err_ptr(f, ENOENT)? })
    }

    /// The `struct file`, for other abstractions of this crate; valid while `self` is.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.ptr
    }

    fn path(&self) -> &bindings::path {
        // SAFETY: the file is open (invariant), so f_path is valid while we hold it.
        unsafe { &(*self.ptr).f_path }
    }

    /// Attributes of the open file.
    pub fn stat(&self) -> Result<Stat> {
        self.path_ref_borrowed(|p| p.stat())
    }

    fn path_ref_borrowed<R>(&self, f: impl FnOnce(&PathRef) -> R) -> R {
        // Borrow f_path as a PathRef without taking references: wrap it in
        // ManuallyDrop so path_put is never called for it.
        let p = core::mem::ManuallyDrop::new(PathRef { path: *self.path() });
        f(&p)
    }

    /// Looks `rel` up beneath this directory (see the module documentation).
    pub fn lookup(&self, rel: &[u8]) -> Result<PathRef> {
        lookup_beneath(self.path(), rel)
    }

    /// Reads up to `buf.len()` bytes at `pos`; `Ok(0)` at end of file. May sleep.
    pub fn read_at(&self, buf: &mut [u8], pos: u64) -> Result<usize> {
        // SAFETY: `buf` is exclusively borrowed and valid for writes of its length.
        unsafe { self.read_raw(buf.as_mut_ptr(), buf.len(), pos) }
    }

    /// Reads up to `len` bytes at `pos` into `base`; `Ok(0)` at end of file. May sleep.
    ///
    /// # Safety
    /// `base..base + len` must be valid for writes for the call and not accessed through
    /// anything else meanwhile (it may be uninitialised).
    pub(crate) unsafe fn read_raw(&self, base: *mut u8, len: usize, pos: u64) -> Result<usize> {
        let mut off = i64::try_from(pos).map_err(|_| EINVAL)?;
        // SAFETY: the file is open; `base` is valid for writes of `len` bytes (the
        // caller's promise); the position is ours (`off`), not the file's.
        let n = unsafe { bindings::kernel_read(self.ptr, base.cast(), len, &mut off) };
        if n < 0 {
            Err(crate::error::Error::from_errno(n as i32))
        } else {
            Ok((n as usize).min(len))
        }
    }

    /// Calls `f(name, kind)` for each entry of this directory (except `.` and `..`),
    /// until `f` returns false. `kind` is what the directory reports (may be `None`
    /// when the file system does not say; stat the entry then).
    ///
    /// Takes `&mut self`: iterating moves the open file's position (`f_pos`), which is
    /// shared by every user of this `File`, so two iterations must not overlap.
    ///
    /// ```compile_fail,E0596
    /// fn list(d: &kernel::fs::File) { let _ = d.read_dir(&mut |_, _| true); }
    /// ```
    pub fn read_dir(&mut self, f: &mut dyn FnMut(&[u8], Option<FileKind>) -> bool) -> Result {
        let mut ctx = DirCtx {
            ctx: bindings::dir_context { actor: Some(dir_actor), pos: 0 },
            f,
        };
        // SAFETY: the file is an open directory; `ctx` starts with the dir_context the
        // actor receives and outlives the call.
        to_result(unsafe { bindings::iterate_dir(self.ptr, &mut ctx.ctx) })?;
        Ok(())
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // SAFETY: we own one reference (invariant); fput releases it.
        unsafe { bindings::fput(self.ptr) };
    }
}

#[repr(C)]
struct DirCtx<'a> {
    // Must stay first: the actor gets a pointer to it and casts back to DirCtx.
    ctx: bindings::dir_context,
    f: &'a mut dyn FnMut(&[u8], Option<FileKind>) -> bool,
}

unsafe extern "C" fn dir_actor(
    ctx: *mut bindings::dir_context,
    name: *const c_char,
    len: c_int,
    _off: bindings::loff_t,
    _ino: u64,
    d_type: c_uint,
) -> bool {
    // SAFETY: `ctx` is the first field of the #[repr(C)] DirCtx built in `read_dir`,
    // which is alive for the whole iterate_dir call; `name` has `len` valid bytes.
    let (dc, name) = unsafe {
        (&mut *ctx.cast::<DirCtx<'_>>(), core::slice::from_raw_parts(name.cast::<u8>(), len.max(0) as usize))
    };
    if name == b"." || name == b".." {
        return true;
    }
    let kind = match d_type as u8 {
        t if t == bindings::KMODS_DT_DIR => Some(FileKind::Directory),
        t if t == bindings::KMODS_DT_REG => Some(FileKind::Regular),
        t if t == bindings::KMODS_DT_LNK => Some(FileKind::Symlink),
        t if t == bindings::KMODS_DT_UNKNOWN => None,
        _ => Some(FileKind::Special),
    };
    (dc.f)(name, kind)
}
