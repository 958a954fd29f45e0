//! Byte range requests: the `Range` header field (RFC 9110 §14) evaluated against a
//! representation of known length.
//!
//! [`parse`] turns a `Range` field value and the representation's length into a
//! [`Ranges`] decision. Policy decisions:
//! - Only the `bytes` unit is understood (case-insensitive). Another unit, a missing
//!   `=`, or a syntactically invalid range set (`bytes=5-1`, `bytes=a-b`, `bytes=1 - 2`,
//!   `bytes=`, …) makes the whole field ignored ([`Ranges::Ignore`]: serve 200 with the
//!   whole representation), as RFC 9110 §14.2 allows. One bad range spec spoils the
//!   whole set.
//! - List syntax follows RFC 9110 §5.6.1: optional whitespace around the commas and
//!   empty list elements (`bytes=0-1,,2-3`) are accepted. Whitespace inside a range
//!   spec and around `=` is not.
//! - `first-last` is clamped to the end of the representation; `first-` runs to the
//!   end; `-n` is the last `n` bytes, or the whole representation when it is shorter.
//!   A spec is unsatisfiable when `first` is at or past the end, or for `-0`. Numbers
//!   larger than `u64::MAX` are handled exactly (they are past any end).
//! - Several ranges: the satisfiable ones are sorted and coalesced when they overlap
//!   or touch (`0-99,100-199` or `-10,0-`). If that leaves one range, it is served like
//!   a single range ([`Ranges::Single`]; the 206 then carries exactly the bytes asked
//!   for, once). Otherwise the answer is [`Ranges::Multiple`], meaning serve 200 with
//!   the whole representation: khttpd does not generate `multipart/byteranges`, and
//!   RFC 9110 §14.2 lets a server ignore Range. Unsatisfiable specs in a set are
//!   dropped; only when none is satisfiable is the set [`Ranges::Unsatisfiable`] (416).
//! - Bounded work: at most [`MAX_RANGES`] non-empty specs are looked at; a field with
//!   more is answered with [`Ranges::Multiple`] (whole representation) without reading
//!   further. Everything else is a single pass over the value.
//! - Zero-length representation: no range can be expressed in a Content-Range
//!   (`first <= last < 0` is impossible), so `first-…` specs are unsatisfiable (416 with
//!   `bytes */0`); a suffix `-n` with `n > 0` makes the set satisfiable by RFC 9110
//!   §14.1.1 and means "the whole representation", so it gives [`Ranges::Ignore`]
//!   (200 with the empty body).
//!
//! Range applies to GET only and is subject to If-Range: see [`super::conditional`],
//! which combines all of this with the other preconditions.

use super::syntax::trim_ows;

/// Most range specs examined in one Range field.
pub const MAX_RANGES: usize = 16;

/// An inclusive byte range `first..=last` of a representation, with
/// `first <= last < size` whenever it comes from [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    /// Number of bytes in the range (the Content-Length of a 206).
    pub fn len(&self) -> u64 {
        self.last.saturating_sub(self.first).saturating_add(1)
    }

    /// Never true for a range from [`parse`]; here for API completeness.
    pub fn is_empty(&self) -> bool {
        self.last < self.first
    }
}

/// What a Range field asks for, relative to a representation of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranges {
    /// No usable Range: unknown unit or invalid syntax, or (zero-length
    /// representation) a suffix range covering everything. Serve 200, whole.
    Ignore,
    /// One range, possibly coalesced from several. Serve 206 with it.
    Single(ByteRange),
    /// Several disjoint ranges, or more than [`MAX_RANGES`] specs. Serve 200, whole.
    Multiple,
    /// Valid, but no range overlaps the representation. Serve 416 with
    /// `Content-Range: bytes */size`.
    Unsatisfiable,
}

/// A decimal number from the field: its value saturated to `u64::MAX`, and its
/// significant digits so that huge values still compare exactly.
#[derive(Clone, Copy)]
struct Num<'a> {
    value: u64,
    digits: &'a [u8],
}

impl<'a> Num<'a> {
    /// One or more ASCII digits and nothing else.
    fn parse(s: &'a [u8]) -> Option<Num<'a>> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let value = s.iter().fold(0u64, |acc, &b| {
            acc.saturating_mul(10).saturating_add(u64::from(b.wrapping_sub(b'0')))
        });
        let zeros = s.iter().take_while(|&&b| b == b'0').count();
        let digits = s.get(zeros..).unwrap_or(&[]);
        Some(Num { value, digits })
    }

    /// `self < other`, exact for any number of digits.
    fn less_than(&self, other: &Num<'_>) -> bool {
        match self.digits.len().cmp(&other.digits.len()) {
            core::cmp::Ordering::Less => true,
            core::cmp::Ordering::Greater => false,
            core::cmp::Ordering::Equal => self.digits < other.digits,
        }
    }
}

/// One range spec, syntax only.
#[derive(Clone, Copy)]
enum Spec<'a> {
    /// `first-` or `first-last`.
    Int(Num<'a>, Option<Num<'a>>),
    /// `-length`.
    Suffix(Num<'a>),
}

fn parse_spec(s: &[u8]) -> Option<Spec<'_>> {
    if let Some(len) = s.strip_prefix(b"-") {
        return Num::parse(len).map(Spec::Suffix);
    }
    let dash = s.iter().position(|&b| b == b'-')?;
    let first = Num::parse(s.get(..dash)?)?;
    let rest = s.get(dash.checked_add(1)?..)?;
    if rest.is_empty() {
        return Some(Spec::Int(first, None));
    }
    let last = Num::parse(rest)?;
    // RFC 9110 §14.1.1: last-pos below first-pos makes the spec (and set) invalid.
    if last.less_than(&first) {
        return None;
    }
    Some(Spec::Int(first, Some(last)))
}

/// What one satisfiable-or-not spec means for a representation of `size` bytes.
enum Resolved {
    Range(ByteRange),
    /// Satisfiable, but the (empty) whole representation: only for `size == 0`.
    EmptyWhole,
    Unsatisfiable,
}

fn resolve(spec: Spec<'_>, size: u64) -> Resolved {
    let Some(end) = size.checked_sub(1) else {
        // Zero length: only a non-zero suffix is satisfiable (RFC 9110 §14.1.1).
        return match spec {
            Spec::Suffix(n) if n.value > 0 => Resolved::EmptyWhole,
            _ => Resolved::Unsatisfiable,
        };
    };
    match spec {
        Spec::Int(first, last) => {
            if first.value > end {
                return Resolved::Unsatisfiable;
            }
            let last = last.map_or(end, |l| l.value.min(end));
            Resolved::Range(ByteRange { first: first.value, last })
        }
        Spec::Suffix(n) => {
            if n.value == 0 {
                return Resolved::Unsatisfiable;
            }
            let len = n.value.min(size);
            Resolved::Range(ByteRange { first: size.saturating_sub(len), last: end })
        }
    }
}

/// Evaluates a `Range` field value for a representation of `size` bytes (see the
/// module documentation for the rules). `value` is the field value as the parser gives
/// it (surrounding whitespace already trimmed; trimmed again here).
pub fn parse(value: &[u8], size: u64) -> Ranges {
    let value = trim_ows(value);
    let Some(eq) = value.iter().position(|&b| b == b'=') else { return Ranges::Ignore };
    let unit = value.get(..eq).unwrap_or(&[]);
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return Ranges::Ignore;
    }
    let set = value.get(eq.saturating_add(1)..).unwrap_or(&[]);

    let mut found = [ByteRange { first: 0, last: 0 }; MAX_RANGES];
    let mut n_found = 0usize;
    let mut n_specs = 0usize;
    let mut empty_whole = false;
    for element in set.split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        if n_specs >= MAX_RANGES {
            return Ranges::Multiple;
        }
        n_specs = n_specs.saturating_add(1);
        let Some(spec) = parse_spec(element) else { return Ranges::Ignore };
        match resolve(spec, size) {
            Resolved::Range(r) => {
                if let Some(slot) = found.get_mut(n_found) {
                    *slot = r;
                    n_found = n_found.saturating_add(1);
                }
            }
            Resolved::EmptyWhole => empty_whole = true,
            Resolved::Unsatisfiable => {}
        }
    }
    if n_specs == 0 {
        // `bytes=` or `bytes=,`: a range set needs at least one spec.
        return Ranges::Ignore;
    }
    if empty_whole {
        return Ranges::Ignore;
    }
    let ranges = found.get_mut(..n_found).unwrap_or(&mut []);
    match coalesce(ranges) {
        0 => Ranges::Unsatisfiable,
        1 => ranges.first().map_or(Ranges::Unsatisfiable, |&r| Ranges::Single(r)),
        _ => Ranges::Multiple,
    }
}

/// Insertion sort by `first`: at most [`MAX_RANGES`] elements, and unlike the library
/// sorts it has no panic paths (the kernel build rejects any).
fn sort_by_first(ranges: &mut [ByteRange]) {
    for i in 1..ranges.len() {
        let mut j = i;
        while let Some(pair @ [_, _]) = j.checked_sub(1).and_then(|k| ranges.get_mut(k..=j)) {
            let [a, b] = pair else { break };
            if a.first <= b.first {
                break;
            }
            core::mem::swap(a, b);
            j = j.saturating_sub(1);
        }
    }
}

/// Sorts `ranges` by start and merges those that overlap or touch, in place; returns
/// how many are left at the front. There are at most [`MAX_RANGES`] of them.
fn coalesce(ranges: &mut [ByteRange]) -> usize {
    sort_by_first(ranges);
    let mut out = 0usize;
    for i in 0..ranges.len() {
        let Some(&r) = ranges.get(i) else { break };
        let merged = match out.checked_sub(1).and_then(|j| ranges.get_mut(j)) {
            Some(prev) if r.first <= prev.last.saturating_add(1) => {
                prev.last = prev.last.max(r.last);
                true
            }
            _ => false,
        };
        if !merged {
            if let Some(slot) = ranges.get_mut(out) {
                *slot = r;
            }
            out = out.saturating_add(1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(first: u64, last: u64) -> Ranges {
        Ranges::Single(ByteRange { first, last })
    }

    #[test]
    fn single_ranges() {
        let cases: &[(&str, u64, Ranges)] = &[
            ("bytes=0-499", 10_000, r(0, 499)),
            ("bytes=500-999", 10_000, r(500, 999)),
            ("bytes=9500-", 10_000, r(9500, 9999)),
            ("bytes=-500", 10_000, r(9500, 9999)),
            ("bytes=0-0", 10_000, r(0, 0)),
            ("bytes=-1", 10_000, r(9999, 9999)),
            ("bytes=9999-9999", 10_000, r(9999, 9999)),
            ("bytes=0-", 10_000, r(0, 9999)),
            // Clamped to the end.
            ("bytes=9000-20000", 10_000, r(9000, 9999)),
            ("bytes=0-18446744073709551615", 10_000, r(0, 9999)),
            ("bytes=0-99999999999999999999999999", 10, r(0, 9)),
            // A suffix longer than the representation is all of it.
            ("bytes=-20000", 10_000, r(0, 9999)),
            ("bytes=-99999999999999999999999999", 10, r(0, 9)),
            // Leading zeros.
            ("bytes=007-0010", 100, r(7, 10)),
            ("bytes=-0005", 100, r(95, 99)),
            // Case-insensitive unit; OWS around commas and the value; empty elements.
            ("BYTES=1-2", 10, r(1, 2)),
            ("Bytes=1-2", 10, r(1, 2)),
            ("  bytes=1-2\t", 10, r(1, 2)),
            ("bytes=1-2 ,", 10, r(1, 2)),
            ("bytes=,1-2", 10, r(1, 2)),
            ("bytes=, ,1-2,,", 10, r(1, 2)),
            // Largest representation.
            ("bytes=-1", u64::MAX, r(u64::MAX - 1, u64::MAX - 1)),
            ("bytes=0-", u64::MAX, r(0, u64::MAX - 1)),
            ("bytes=18446744073709551614-", u64::MAX, r(u64::MAX - 1, u64::MAX - 1)),
            ("bytes=0-0", 1, r(0, 0)),
            ("bytes=-1", 1, r(0, 0)),
        ];
        for &(v, size, want) in cases {
            assert_eq!(parse(v.as_bytes(), size), want, "{v:?} size {size}");
        }
    }

    #[test]
    fn unsatisfiable() {
        let cases: &[(&str, u64)] = &[
            ("bytes=10000-", 10_000),
            ("bytes=10000-20000", 10_000),
            ("bytes=18446744073709551615-", 10_000),
            ("bytes=99999999999999999999999-", 10_000),
            ("bytes=99999999999999999999999-99999999999999999999999", 10_000),
            ("bytes=-0", 10_000),
            ("bytes=-000", 10_000),
            ("bytes=10-20, 30-, -0", 10),
            ("bytes=18446744073709551615-", u64::MAX),
            // Zero length: nothing but a non-zero suffix is satisfiable.
            ("bytes=0-", 0),
            ("bytes=0-0", 0),
            ("bytes=-0", 0),
            ("bytes=0-5, 3-", 0),
        ];
        for &(v, size) in cases {
            assert_eq!(parse(v.as_bytes(), size), Ranges::Unsatisfiable, "{v:?} size {size}");
        }
    }

    #[test]
    fn ignored() {
        let cases: &[&str] = &[
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes= , ,",
            "items=0-5",
            "byte=0-5",
            "bytes 0-5",
            "bytes =0-5",
            "none",
            "bytes=5-1",
            "bytes=99999999999999999999999-99999999999999999999998",
            "bytes=-",
            "bytes=--5",
            "bytes=5--",
            "bytes=1-2-3",
            "bytes=a-b",
            "bytes=0x10-",
            "bytes=+5-",
            "bytes=1 -2",
            "bytes=1- 2",
            "bytes=1-2;q",
            "bytes=0-1, x",
            "bytes=0-1 2-3",
            "bytes=0-1,5-3",
            "bytes=\u{0660}-1",
            "bytes=0-1,bytes=2-3",
        ];
        for &v in cases {
            assert_eq!(parse(v.as_bytes(), 10_000), Ranges::Ignore, "{v:?}");
        }
        // Zero length, a suffix asks for the whole (empty) representation: 200.
        assert_eq!(parse(b"bytes=-5", 0), Ranges::Ignore);
        assert_eq!(parse(b"bytes=0-, -1", 0), Ranges::Ignore);
        // Invalid syntax wins over anything satisfiable before it.
        assert_eq!(parse(b"bytes=0-1, 9-8", 100), Ranges::Ignore);
    }

    #[test]
    fn several_ranges() {
        let cases: &[(&str, u64, Ranges)] = &[
            // Overlapping or touching: one range.
            ("bytes=0-99,100-199", 1000, r(0, 199)),
            ("bytes=100-199, 0-99", 1000, r(0, 199)),
            ("bytes=0-499, 400-", 1000, r(0, 999)),
            ("bytes=-10, 0-", 1000, r(0, 999)),
            ("bytes=0-0,0-0,0-0", 1000, r(0, 0)),
            ("bytes=5-10, 6-7", 1000, r(5, 10)),
            ("bytes=0-0,-1", 1, r(0, 0)),
            ("bytes=990-2000,-5", 1000, r(990, 999)),
            // Unsatisfiable parts are dropped.
            ("bytes=5000-, 0-9", 1000, r(0, 9)),
            ("bytes=-0, 10-", 1000, r(10, 999)),
            // Disjoint: whole representation.
            ("bytes=0-0,2-2", 1000, Ranges::Multiple),
            ("bytes=0-99,200-299", 1000, Ranges::Multiple),
            ("bytes=0-0, -1", 1000, Ranges::Multiple),
            ("bytes=500-600,601-999,0-10", 1000, Ranges::Multiple),
        ];
        for &(v, size, want) in cases {
            assert_eq!(parse(v.as_bytes(), size), want, "{v:?} size {size}");
        }
    }

    #[test]
    fn range_count_is_bounded() {
        let list = |n: usize| {
            let specs: Vec<String> = (0..n).map(|i| format!("{i}-{i}")).collect();
            format!("bytes={}", specs.join(", "))
        };
        // Up to MAX_RANGES: all examined (and touching, so coalesced into one).
        assert_eq!(parse(list(MAX_RANGES).as_bytes(), 1000), r(0, MAX_RANGES as u64 - 1));
        // One more: not examined further, whole representation.
        assert_eq!(parse(list(MAX_RANGES + 1).as_bytes(), 1000), Ranges::Multiple);
        // Even when the extra part would be invalid.
        let mut v = list(MAX_RANGES);
        v.push_str(", garbage");
        assert_eq!(parse(v.as_bytes(), 1000), Ranges::Multiple);
        // Empty elements do not count.
        let mut v = list(MAX_RANGES);
        v.push_str(&",".repeat(1000));
        assert_eq!(parse(v.as_bytes(), 1000), r(0, MAX_RANGES as u64 - 1));
    }

    #[test]
    fn sorts_and_coalesces() {
        let br = |first, last| ByteRange { first, last };
        let mut v = [br(50, 60), br(0, 5), br(7, 9), br(6, 6), br(100, 100), br(0, 1), br(55, 70)];
        let n = coalesce(&mut v);
        assert_eq!(&v[..n], &[br(0, 9), br(50, 70), br(100, 100)]);
        let mut v: Vec<ByteRange> = (0..MAX_RANGES as u64).rev().map(|i| br(i * 2, i * 2)).collect();
        sort_by_first(&mut v);
        assert!(v.windows(2).all(|w| w[0].first < w[1].first));
        assert_eq!(coalesce(&mut []), 0);
        let mut one = [br(u64::MAX, u64::MAX)];
        assert_eq!(coalesce(&mut one), 1);
    }

    #[test]
    fn byte_range_len() {
        assert_eq!(ByteRange { first: 0, last: 0 }.len(), 1);
        assert_eq!(ByteRange { first: 10, last: 19 }.len(), 10);
        assert_eq!(ByteRange { first: 0, last: u64::MAX - 1 }.len(), u64::MAX);
        assert_eq!(ByteRange { first: 0, last: u64::MAX }.len(), u64::MAX);
        assert!(!ByteRange { first: 3, last: 3 }.is_empty());
        assert!(ByteRange { first: 4, last: 3 }.is_empty());
    }
}
