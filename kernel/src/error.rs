//! Kernel error codes as a Rust type: [`Error`] wraps a negative errno.

use core::fmt;
use core::num::NonZeroI32;

/// A kernel error: a negative errno value such as `-EINVAL`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error(NonZeroI32);

/// The result type of fallible kernel operations.
pub type Result<T = ()> = core::result::Result<T, Error>;

/// Errno constants as [`Error`] values.
pub mod code {
    use super::Error;
    macro_rules! declare {
        ($($name:ident = $val:expr, $doc:literal;)*) => {
            $( #[doc = $doc] pub const $name: Error = Error::from_const(-$val); )*
        };
    }
    declare! {
        EPERM = 1, "Operation not permitted.";
        ENOENT = 2, "No such file or directory.";
        EINTR = 4, "Interrupted system call.";
        EIO = 5, "I/O error.";
        E2BIG = 7, "Argument list too long.";
        EBADF = 9, "Bad file number.";
        EAGAIN = 11, "Try again.";
        ENOMEM = 12, "Out of memory.";
        EACCES = 13, "Permission denied.";
        EFAULT = 14, "Bad address.";
        EBUSY = 16, "Device or resource busy.";
        EEXIST = 17, "File exists.";
        EXDEV = 18, "Cross-device link.";
        ENOTDIR = 20, "Not a directory.";
        EISDIR = 21, "Is a directory.";
        EINVAL = 22, "Invalid argument.";
        EFBIG = 27, "File too large.";
        ENOSPC = 28, "No space left on device.";
        EPIPE = 32, "Broken pipe.";
        ERANGE = 34, "Result out of range.";
        ENAMETOOLONG = 36, "File name too long.";
        ELOOP = 40, "Too many symbolic links.";
        ENODATA = 61, "No data available.";
        EOVERFLOW = 75, "Value too large for defined data type.";
        EAFNOSUPPORT = 97, "Address family not supported by protocol.";
        EADDRINUSE = 98, "Address already in use.";
        ENETDOWN = 100, "Network is down.";
        ECONNABORTED = 103, "Software caused connection abort.";
        ECONNRESET = 104, "Connection reset by peer.";
        ENOTCONN = 107, "Transport endpoint is not connected.";
        ESHUTDOWN = 108, "Cannot send after transport endpoint shutdown.";
        ETIMEDOUT = 110, "Connection timed out.";
        ECONNREFUSED = 111, "Connection refused.";
        ERESTARTSYS = 512, "Interrupted; restart the system call.";
    }
}

impl Error {
    const fn from_const(errno: i32) -> Self {
        match NonZeroI32::new(errno) {
            Some(v) => Error(v),
            None => panic!("errno 0 is not an error"),
        }
    }

    /// Turns a negative errno into an `Error`; anything outside `-4095..0` becomes `EINVAL`
    /// (it would be a bug in the caller, and must not be passed on as a pointer or length).
    pub fn from_errno(errno: i32) -> Self {
        match NonZeroI32::new(errno) {
            Some(v) if (-4095..0).contains(&errno) => Error(v),
            _ => code::EINVAL,
        }
    }

    /// The negative errno, for returning to C.
    pub fn to_errno(self) -> i32 {
        self.0.get()
    }

    /// The errno's symbolic name, when it is one of the codes above.
    pub fn name(self) -> Option<&'static str> {
        use code::*;
        Some(match self {
            e if e == EPERM => "EPERM",
            e if e == ENOENT => "ENOENT",
            e if e == EINTR => "EINTR",
            e if e == EIO => "EIO",
            e if e == EAGAIN => "EAGAIN",
            e if e == ENOMEM => "ENOMEM",
            e if e == EACCES => "EACCES",
            e if e == EFAULT => "EFAULT",
            e if e == EBUSY => "EBUSY",
            e if e == EEXIST => "EEXIST",
            e if e == EXDEV => "EXDEV",
            e if e == ENOTDIR => "ENOTDIR",
            e if e == EISDIR => "EISDIR",
            e if e == EINVAL => "EINVAL",
            e if e == EFBIG => "EFBIG",
            e if e == EPIPE => "EPIPE",
            e if e == ENAMETOOLONG => "ENAMETOOLONG",
            e if e == ELOOP => "ELOOP",
            e if e == EAFNOSUPPORT => "EAFNOSUPPORT",
            e if e == EADDRINUSE => "EADDRINUSE",
            e if e == ECONNRESET => "ECONNRESET",
            e if e == ENOTCONN => "ENOTCONN",
            e if e == ETIMEDOUT => "ETIMEDOUT",
            e if e == ERESTARTSYS => "ERESTARTSYS",
            _ => return None,
        })
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{}", n),
            None => write!(f, "errno {}", -self.0.get()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl From<core::alloc::AllocError> for Error {
    fn from(_: core::alloc::AllocError) -> Self {
        code::ENOMEM
    }
}

impl From<alloc::collections::TryReserveError> for Error {
    fn from(_: alloc::collections::TryReserveError) -> Self {
        code::ENOMEM
    }
}

/// Converts a C return value (negative errno on failure) into a `Result`.
pub fn to_result(ret: core::ffi::c_int) -> Result<core::ffi::c_int> {
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(ret)
    }
}

/// Converts a C pointer that may be an `ERR_PTR` (or NULL, reported as `fallback`) into a
/// `Result`.
pub fn from_err_ptr<T>(ptr: *mut T, fallback: Error) -> Result<*mut T> {
    if ptr.is_null() {
        return Err(fallback);
    }
    // SAFETY: IS_ERR/PTR_ERR only inspect the pointer value.
    if unsafe { bindings::rust_helper_IS_ERR(ptr.cast()) } {
        // SAFETY: as above.
        let e = unsafe { bindings::rust_helper_PTR_ERR(ptr.cast()) };
        return Err(Error::from_errno(e as i32));
    }
    Ok(ptr)
}
