//! A bounded writer over a caller-provided byte buffer.
//!
//! Every write is all-or-nothing: when the bytes do not fit, nothing is written and
//! [`Full`] is returned, so a renderer can stop, let the caller flush the buffer, and
//! retry the same piece into a fresh one. Multi-part writers use [`Writer::mark`] and
//! [`Writer::rollback`] to give the same guarantee for a whole piece.

/// The buffer has no room for the requested write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Appends bytes to a fixed slice, never past its end.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// Starts writing at the beginning of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Total size of the underlying buffer.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Free bytes left.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.len)
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Consumes the writer, returning the written part of the buffer.
    pub fn into_written(self) -> &'a [u8] {
        let len = self.len;
        let buf: &'a [u8] = self.buf;
        buf.get(..len).unwrap_or(&[])
    }

    /// Current position, to [`rollback`](Self::rollback) to if a larger piece fails.
    pub fn mark(&self) -> usize {
        self.len
    }

    /// Forgets everything written after `mark` (a no-op for a mark past the end).
    pub fn rollback(&mut self, mark: usize) {
        if mark < self.len {
            self.len = mark;
        }
    }

    /// Discards everything written.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `bytes`, or nothing if they do not all fit.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), Full> {
        let end = self.len.checked_add(bytes.len()).ok_or(Full)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(Full)?;
        copy(dst, bytes);
        self.len = end;
        Ok(())
    }

    /// Appends a string.
    pub fn push_str(&mut self, s: &str) -> Result<(), Full> {
        self.push(s.as_bytes())
    }

    /// Appends one byte.
    pub fn byte(&mut self, b: u8) -> Result<(), Full> {
        self.push(&[b])
    }

    /// Appends `n` in decimal.
    pub fn dec(&mut self, n: u64) -> Result<(), Full> {
        let mut tmp = [0u8; 20];
        let start = fill_digits(n, 10, &mut tmp);
        self.push(tmp.get(start..).unwrap_or(&[]))
    }

    /// Appends `n` in decimal, left-padded with zeros to at least `width` digits
    /// (`width` is capped at 20).
    pub fn dec_padded(&mut self, n: u64, width: usize) -> Result<(), Full> {
        let mut tmp = [b'0'; 20];
        let start = fill_digits(n, 10, &mut tmp);
        let start = start.min(tmp.len().saturating_sub(width));
        self.push(tmp.get(start..).unwrap_or(&[]))
    }

    /// Appends `n` in lower-case hexadecimal without leading zeros.
    pub fn hex(&mut self, n: u64) -> Result<(), Full> {
        let mut tmp = [0u8; 20];
        let start = fill_digits(n, 16, &mut tmp);
        self.push(tmp.get(start..).unwrap_or(&[]))
    }
}

/// Copies `min(dst.len(), src.len())` bytes. Used instead of `copy_from_slice`, whose
/// length check is a panic path the optimiser does not always remove.
pub(crate) fn copy(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// Writes the digits of `n` right-aligned into `tmp`, returning where they start.
fn fill_digits(mut n: u64, radix: u64, tmp: &mut [u8; 20]) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut i = tmp.len();
    loop {
        let d = (n % radix) as usize;
        n /= radix;
        if let (Some(i1), Some(&c)) = (i.checked_sub(1), DIGITS.get(d)) {
            i = i1;
            if let Some(slot) = tmp.get_mut(i) {
                *slot = c;
            }
        }
        if n == 0 || i == 0 {
            return i;
        }
    }
}

/// For `write!`; unlike the methods above, a formatted write that fails part-way may leave
/// its first pieces written, so wrap it in [`Writer::mark`]/[`Writer::rollback`].
impl core::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.push_str(s).map_err(|_| core::fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_is_all_or_nothing() {
        let mut buf = [0u8; 5];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.push(b"abc"), Ok(()));
        assert_eq!(w.push(b"def"), Err(Full));
        assert_eq!(w.written(), b"abc");
        assert_eq!(w.remaining(), 2);
        assert_eq!(w.push(b"de"), Ok(()));
        assert_eq!(w.byte(b'x'), Err(Full));
        assert_eq!(w.into_written(), b"abcde");
    }

    #[test]
    fn numbers() {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        w.dec(0).unwrap();
        w.byte(b' ').unwrap();
        w.dec(u64::MAX).unwrap();
        w.byte(b' ').unwrap();
        w.hex(0).unwrap();
        w.byte(b' ').unwrap();
        w.hex(0xdead_beef).unwrap();
        w.byte(b' ').unwrap();
        w.hex(u64::MAX).unwrap();
        w.byte(b' ').unwrap();
        w.dec_padded(7, 2).unwrap();
        w.byte(b' ').unwrap();
        w.dec_padded(1994, 2).unwrap();
        w.byte(b' ').unwrap();
        w.dec_padded(5, 4).unwrap();
        assert_eq!(
            w.written(),
            b"0 18446744073709551615 0 deadbeef ffffffffffffffff 07 1994 0005"
        );
    }

    #[test]
    fn number_that_does_not_fit_writes_nothing() {
        let mut buf = [0u8; 3];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.dec(1234), Err(Full));
        assert!(w.is_empty());
        assert_eq!(w.dec(123), Ok(()));
    }

    #[test]
    fn mark_and_rollback() {
        let mut buf = [0u8; 16];
        let mut w = Writer::new(&mut buf);
        w.push(b"keep").unwrap();
        let m = w.mark();
        w.push(b"drop").unwrap();
        w.rollback(m);
        assert_eq!(w.written(), b"keep");
        w.rollback(100);
        assert_eq!(w.written(), b"keep");
        w.clear();
        assert!(w.is_empty());
        assert_eq!(w.capacity(), 16);
    }

    #[test]
    fn fmt_write() {
        use core::fmt::Write as _;
        let mut buf = [0u8; 8];
        let mut w = Writer::new(&mut buf);
        assert!(write!(w, "{}-{}", 12, "ab").is_ok());
        assert_eq!(w.written(), b"12-ab");
        assert!(write!(w, "{}", "toolong").is_err());
    }
}
