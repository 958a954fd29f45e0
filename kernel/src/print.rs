//! Printing to the kernel log: `pr_info!` and friends, with Rust formatting.
//!
//! `printk`'s `%pA` (Rust formatting) exists only in kernels built with CONFIG_RUST, so
//! the message is formatted into a bounded stack buffer here and printed as `%.*s`. Lines
//! are prefixed with the module's name, read from the module's own `struct module`.

use core::fmt::{self, Write};

/// Kernel log levels (`KERN_EMERG` .. `KERN_DEBUG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Level {
    /// System is unusable.
    Emerg = 0,
    /// Action must be taken immediately.
    Alert = 1,
    /// Critical conditions.
    Crit = 2,
    /// Error conditions.
    Err = 3,
    /// Warning conditions.
    Warning = 4,
    /// Normal but significant condition.
    Notice = 5,
    /// Informational.
    Info = 6,
    /// Debug-level messages.
    Debug = 7,
}

/// Longest message printed; longer ones are cut and end in "...".
pub const MAX_LINE: usize = 400;

/// A `fmt::Write` sink over a fixed buffer that records whether anything was cut.
pub struct BufWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    truncated: bool,
}

impl<'a> BufWriter<'a> {
    /// Creates an empty writer over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0, truncated: false }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Number of bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if some output did not fit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl Write for BufWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len() - self.len;
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), s.as_bytes().get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        if n < s.len() {
            self.truncated = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Prints one formatted line at `level`; used by the `pr_*!` macros.
pub fn print_fmt(level: Level, args: fmt::Arguments<'_>) {
    let mut buf = [0u8; MAX_LINE];
    let mut w = BufWriter::new(&mut buf);
    let _ = w.write_fmt(args);
    let mut len = w.len();
    if w.truncated() {
        // A pattern, not `buf[len - 3..len]`: no index or length check that could panic.
        if let Some([a, b, c]) = len.checked_sub(3).and_then(|start| buf.get_mut(start..len)) {
            (*a, *b, *c) = (b'.', b'.', b'.');
        }
    }
    len = len.min(MAX_LINE);
    let prefix = crate::owner::this_module_name();
    // SAFETY: `prefix` is NUL-terminated; `buf[..len]` is initialised and printed with an
    // explicit length, so it needs no terminator.
    unsafe { bindings::rust_helper_printk(level as i32, prefix.as_ptr(), buf.as_ptr().cast(), len) };
}

/// Prints an emergency message (`KERN_EMERG`).
#[macro_export]
macro_rules! pr_emerg { ($($arg:tt)*) => { $crate::print::print_fmt($crate::print::Level::Emerg, format_args!($($arg)*)) } }
/// Prints a critical message (`KERN_CRIT`).
#[macro_export]
macro_rules! pr_crit { ($($arg:tt)*) => { $crate::print::print_fmt($crate::print::Level::Crit, format_args!($($arg)*)) } }
/// Prints an error message (`KERN_ERR`).
#[macro_export]
macro_rules! pr_err { ($($arg:tt)*) => { $crate::print::print_fmt($crate::print::Level::Err, format_args!($($arg)*)) } }
/// Prints a warning (`KERN_WARNING`).
#[macro_export]
macro_rules! pr_warn { ($($arg:tt)*) => { $crate::print::print_fmt($crate::print::Level::Warning, format_args!($($arg)*)) } }
/// Prints a notice (`KERN_NOTICE`).
#[macro_export]
macro_rules! pr_notice { ($($arg:tt)*) => { $crate::print::print_fmt($crate::print::Level::Notice, format_args!($($arg)*)) } }
/// Prints an informational message (`KERN_INFO`).
#[macro_export]
macro_rules! pr_info { ($($arg:tt)*) => { $crate::print::print_fmt($crate::print::Level::Info, format_args!($($arg)*)) } }
/// Prints a debug message (`KERN_DEBUG`).
#[macro_export]
macro_rules! pr_debug { ($($arg:tt)*) => { $crate::print::print_fmt($crate::print::Level::Debug, format_args!($($arg)*)) } }
