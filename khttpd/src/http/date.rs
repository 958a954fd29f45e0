//! HTTP dates (RFC 9110 §5.6.7) to and from unix seconds.
//!
//! Output is always IMF-fixdate; input accepts the three formats recipients must
//! understand. Calendar arithmetic is proleptic Gregorian on day counts (Howard
//! Hinnant's civil-from-days method), exact for any year, without tables or loops.

use super::syntax::trim_ows;
use core::sync::atomic::{fence, AtomicI64, AtomicU32, AtomicU64, Ordering};

/// First instant we format: 0000-01-01T00:00:00Z (IMF-fixdate needs a 4-digit year).
pub const MIN_TIME: i64 = -62_167_219_200;
/// Last instant we format: 9999-12-31T23:59:59Z.
pub const MAX_TIME: i64 = 253_402_300_799;

/// Length of an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const IMF_LEN: usize = 29;

const DAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const LONG_DAYS: [&[u8]; 7] = [
    b"Sunday",
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12, day 1..=31).
/// Meant for years within ±10^9; callers here stay within 0..=9999.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March-based month [0, 11]
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01.
/// Meant for |days| within ±10^11; callers here stay within the formatable range.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tm {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Sunday.
    pub weekday: u32,
}

impl Tm {
    /// Splits unix seconds, clamped to [`MIN_TIME`]..=[`MAX_TIME`].
    pub fn from_unix(t: i64) -> Tm {
        let t = t.clamp(MIN_TIME, MAX_TIME);
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Tm {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs / 60 % 60,
            second: secs % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }
}

/// Two ASCII digits of `n % 100`.
fn two(n: u32) -> [u8; 2] {
    [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]
}

/// Four ASCII digits of a year in 0..=9999.
fn four(y: i64) -> [u8; 4] {
    let y = y.clamp(0, 9999) as u32;
    let [a, b] = two(y / 100);
    let [c, d] = two(y % 100);
    [a, b, c, d]
}

/// IMF-fixdate of unix seconds `t` (clamped to the 4-digit-year range).
pub fn imf_fixdate(t: i64) -> [u8; IMF_LEN] {
    let tm = Tm::from_unix(t);
    let wd = DAYS.get(tm.weekday as usize).copied().unwrap_or(b"Sun");
    let mon = MONTHS
        .get((tm.month as usize).wrapping_sub(1))
        .copied()
        .unwrap_or(b"Jan");
    let [d0, d1] = two(tm.day);
    let [y0, y1, y2, y3] = four(tm.year);
    let [h0, h1] = two(tm.hour);
    let [m0, m1] = two(tm.minute);
    let [s0, s1] = two(tm.second);
    [
        wd[0], wd[1], wd[2], b',', b' ', d0, d1, b' ', mon[0], mon[1], mon[2], b' ', y0, y1, y2,
        y3, b' ', h0, h1, b':', m0, m1, b':', s0, s1, b' ', b'G', b'M', b'T',
    ]
}

/// Writes the IMF-fixdate of `t`.
pub fn write_imf_fixdate(t: i64, w: &mut super::Writer<'_>) -> Result<(), super::Full> {
    w.push(&imf_fixdate(t))
}

/// The `Date` header's value, formatted once per second and shared by every response
/// (a seqlock over atomics: readers never wait, and a reader that races with the once-
/// a-second update formats the date itself).
pub struct DateCache {
    /// Even: `sec`/`words` are consistent; odd: being updated.
    seq: AtomicU32,
    sec: AtomicI64,
    words: [AtomicU64; 4],
}

/// The cache `write_head` uses.
pub static DATE_CACHE: DateCache = DateCache::new();

impl DateCache {
    pub const fn new() -> Self {
        DateCache {
            seq: AtomicU32::new(0),
            sec: AtomicI64::new(i64::MIN),
            words: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// `imf_fixdate(now)`, from the cache when it holds that second.
    pub fn get(&self, now: i64) -> [u8; IMF_LEN] {
        let s1 = self.seq.load(Ordering::Acquire);
        if s1 & 1 == 0 && self.sec.load(Ordering::Relaxed) == now {
            let words: [u64; 4] = core::array::from_fn(|i| self.words.get(i).map_or(0, |w| w.load(Ordering::Relaxed)));
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return unpack(&words);
            }
        }
        let text = imf_fixdate(now);
        // One updater at a time; the others just use their own copy.
        if s1 & 1 == 0 && self.seq.compare_exchange(s1, s1.wrapping_add(1), Ordering::Acquire, Ordering::Relaxed).is_ok() {
            fence(Ordering::Release);
            for (w, v) in self.words.iter().zip(pack(&text)) {
                w.store(v, Ordering::Relaxed);
            }
            self.sec.store(now, Ordering::Relaxed);
            self.seq.store(s1.wrapping_add(2), Ordering::Release);
        }
        text
    }
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

fn pack(text: &[u8; IMF_LEN]) -> [u64; 4] {
    let mut bytes = [0u8; 32];
    for (d, s) in bytes.iter_mut().zip(text.iter()) {
        *d = *s;
    }
    core::array::from_fn(|i| {
        let mut w = [0u8; 8];
        for (j, b) in w.iter_mut().enumerate() {
            *b = bytes.get(i * 8 + j).copied().unwrap_or(0);
        }
        u64::from_le_bytes(w)
    })
}

fn unpack(words: &[u64; 4]) -> [u8; IMF_LEN] {
    let mut out = [0u8; IMF_LEN];
    for (i, b) in out.iter_mut().enumerate() {
        let w = words.get(i / 8).copied().unwrap_or(0);
        *b = w.to_le_bytes().get(i % 8).copied().unwrap_or(0);
    }
    out
}

/// Writes `YYYY-MM-DD HH:MM` (UTC), the compact form used in directory listings.
pub fn write_short(t: i64, w: &mut super::Writer<'_>) -> Result<(), super::Full> {
    let tm = Tm::from_unix(t);
    let [y0, y1, y2, y3] = four(tm.year);
    let [mo0, mo1] = two(tm.month);
    let [d0, d1] = two(tm.day);
    let [h0, h1] = two(tm.hour);
    let [mi0, mi1] = two(tm.minute);
    w.push(&[
        y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b' ', h0, h1, b':', mi0, mi1,
    ])
}

/// A tiny forward-only reader over the date text.
struct Cursor<'a> {
    s: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn lit(&mut self, l: &[u8]) -> Option<()> {
        self.s = self.s.strip_prefix(l)?;
        Some(())
    }

    /// Exactly `n` digits (n ≤ 4).
    fn digits(&mut self, n: usize) -> Option<u32> {
        let d = self.s.get(..n)?;
        let mut v = 0u32;
        for &c in d {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.s = self.s.get(n..)?;
        Some(v)
    }

    /// One of `names`, returning its index.
    fn one_of(&mut self, names: &[&[u8]]) -> Option<usize> {
        let i = names.iter().position(|n| self.s.starts_with(n))?;
        let n = names.get(i)?;
        self.s = self.s.get(n.len()..)?;
        Some(i)
    }

    fn month(&mut self) -> Option<u32> {
        let names: [&[u8]; 12] = MONTHS.map(|m| &m[..]);
        self.one_of(&names).map(|i| i as u32 + 1)
    }

    /// `HH:MM:SS` as seconds of the day (a leap second 60 is allowed and rolls over).
    fn time(&mut self) -> Option<i64> {
        let h = self.digits(2)?;
        self.lit(b":")?;
        let m = self.digits(2)?;
        self.lit(b":")?;
        let s = self.digits(2)?;
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        Some(i64::from(h * 3600 + m * 60 + s))
    }

    fn end(&self) -> Option<()> {
        self.s.is_empty().then_some(())
    }
}

fn to_unix(year: i64, month: u32, day: u32, secs: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + secs)
}

/// Parses an HTTP date in IMF-fixdate, RFC 850 or asctime format to unix seconds.
///
/// The weekday must be a valid name but is not checked against the date (RFC 9110
/// lets recipients ignore it). RFC 850's two-digit year maps 70..=99 to 19xx and
/// 00..=69 to 20xx. Anything after a `;` is ignored, for old clients that appended
/// `; length=N` to If-Modified-Since. Returns `None` for anything malformed.
pub fn parse_http_date(s: &[u8]) -> Option<i64> {
    let s = s.split(|&b| b == b';').next().unwrap_or(&[]);
    let s = trim_ows(s);
    let days: [&[u8]; 7] = DAYS.map(|d| &d[..]);
    match s.get(3) {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        Some(b',') => {
            let mut c = Cursor { s };
            c.one_of(&days)?;
            c.lit(b", ")?;
            let day = c.digits(2)?;
            c.lit(b" ")?;
            let month = c.month()?;
            c.lit(b" ")?;
            let year = c.digits(4)?;
            c.lit(b" ")?;
            let secs = c.time()?;
            c.lit(b" GMT")?;
            c.end()?;
            to_unix(i64::from(year), month, day, secs)
        }
        // asctime: Sun Nov  6 08:49:37 1994
        Some(b' ') => {
            let mut c = Cursor { s };
            c.one_of(&days)?;
            c.lit(b" ")?;
            let month = c.month()?;
            c.lit(b" ")?;
            // The day is space-padded; accept a zero-padded one too.
            let day = if c.lit(b" ").is_some() { c.digits(1)? } else { c.digits(2)? };
            c.lit(b" ")?;
            let secs = c.time()?;
            c.lit(b" ")?;
            let year = c.digits(4)?;
            c.end()?;
            to_unix(i64::from(year), month, day, secs)
        }
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        Some(_) => {
            let mut c = Cursor { s };
            c.one_of(&LONG_DAYS)?;
            c.lit(b", ")?;
            let day = c.digits(2)?;
            c.lit(b"-")?;
            let month = c.month()?;
            c.lit(b"-")?;
            let yy = c.digits(2)?;
            c.lit(b" ")?;
            let secs = c.time()?;
            c.lit(b" GMT")?;
            c.end()?;
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            to_unix(i64::from(year), month, day, secs)
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_cache_matches_formatting() {
        let c = DateCache::new();
        for t in [0i64, 784_111_777, 784_111_777, 784_111_778, 1_700_000_000, 784_111_777, 253_402_300_799] {
            assert_eq!(c.get(t), imf_fixdate(t), "second {}", t);
            assert_eq!(c.get(t), imf_fixdate(t), "cached second {}", t);
        }
    }

    #[test]
    fn date_cache_from_threads() {
        let c = std::sync::Arc::new(DateCache::new());
        let threads: Vec<_> = (0..4)
            .map(|k| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000i64 {
                        let t = 1_700_000_000 + (i / 7 + k) % 5;
                        assert_eq!(c.get(t), imf_fixdate(t));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
    use crate::http::Writer;

    const EXAMPLE: i64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn formats_known_instants() {
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&imf_fixdate(EXAMPLE), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&imf_fixdate(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(&imf_fixdate(1_700_000_000), b"Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(&imf_fixdate(2_147_483_647), b"Tue, 19 Jan 2038 03:14:07 GMT");
        assert_eq!(&imf_fixdate(-1), b"Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(&imf_fixdate(4_107_542_400), b"Mon, 01 Mar 2100 00:00:00 GMT");
    }

    #[test]
    fn clamps_out_of_range() {
        assert_eq!(&imf_fixdate(i64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(&imf_fixdate(i64::MIN), b"Sat, 01 Jan 0000 00:00:00 GMT");
        assert_eq!(parse_http_date(b"Fri, 31 Dec 9999 23:59:59 GMT"), Some(MAX_TIME));
        assert_eq!(parse_http_date(b"Sat, 01 Jan 0000 00:00:00 GMT"), Some(MIN_TIME));
    }

    #[test]
    fn civil_round_trip_over_many_days() {
        // Every day over ±2000 years maps back to itself and dates advance by one.
        let mut prev = civil_from_days(-730_500 - 1);
        for days in -730_500..730_500 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!(d >= 1 && d <= days_in_month(y, m));
            let next_of_prev = if prev.2 < days_in_month(prev.0, prev.1) {
                (prev.0, prev.1, prev.2 + 1)
            } else if prev.1 < 12 {
                (prev.0, prev.1 + 1, 1)
            } else {
                (prev.0 + 1, 1, 1)
            };
            assert_eq!((y, m, d), next_of_prev);
            prev = (y, m, d);
        }
    }

    #[test]
    fn three_formats() {
        assert_eq!(parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT"), Some(EXAMPLE));
        assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT"), Some(EXAMPLE));
        assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994"), Some(EXAMPLE));
        assert_eq!(parse_http_date(b"Sun Nov 06 08:49:37 1994"), Some(EXAMPLE));
        assert_eq!(parse_http_date(b"Wed Nov 16 08:49:37 1994"), Some(EXAMPLE + 10 * 86_400));
        // RFC 850 two-digit year pivot.
        assert_eq!(
            parse_http_date(b"Thursday, 01-Jan-70 00:00:00 GMT"),
            Some(0)
        );
        assert_eq!(
            parse_http_date(b"Tuesday, 14-Nov-23 22:13:20 GMT"),
            Some(1_700_000_000)
        );
        // Surrounding whitespace and the legacy length parameter.
        assert_eq!(
            parse_http_date(b" Sun, 06 Nov 1994 08:49:37 GMT ; length=1234"),
            Some(EXAMPLE)
        );
    }

    #[test]
    fn round_trips() {
        let mut t: i64 = -5_000_000_000;
        while t < 200_000_000_000 {
            let s = imf_fixdate(t);
            assert_eq!(parse_http_date(&s), Some(t), "{}", String::from_utf8_lossy(&s));
            t += 9_876_543;
        }
        for t in [0, 1, 59, 60, 86_399, 86_400, EXAMPLE, MAX_TIME, MIN_TIME] {
            assert_eq!(parse_http_date(&imf_fixdate(t)), Some(t));
        }
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            &b""[..],
            b"Sun",
            b"Sun, 06 Nov 1994 08:49:37",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun, 06 nov 1994 08:49:37 GMT",
            b"Xyz, 06 Nov 1994 08:49:37 GMT",
            b"Sun, 31 Nov 1994 08:49:37 GMT",
            b"Sun, 29 Feb 1900 08:49:37 GMT",
            b"Sun, 00 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Sun, 06 Nov 1994 08:60:00 GMT",
            b"Sun, 06 Nov 1994 08:49:61 GMT",
            b"Sun, 06 Nov 1994 08:49:37 GMTx",
            b"Sun, 06 Nov 94 08:49:37 GMT",
            b"Sun, 06 Nov 1994 8:49:37 GMT",
            b"Sun, 06 Nov +994 08:49:37 GMT",
            b"Sunday, 06-Nov-1994 08:49:37 GMT",
            b"Sundae, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 94",
            b"Sun Nov 6 08:49:37 1994",
            b"Sun Nov  6 08:49:37 1994 GMT",
            b"1994-11-06T08:49:37Z",
        ] {
            assert_eq!(parse_http_date(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        // Leap days and leap seconds are accepted.
        assert!(parse_http_date(b"Tue, 29 Feb 2000 00:00:00 GMT").is_some());
        assert_eq!(
            parse_http_date(b"Sat, 31 Dec 2016 23:59:60 GMT"),
            parse_http_date(b"Sun, 01 Jan 2017 00:00:00 GMT")
        );
    }

    #[test]
    fn writers() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf);
        write_imf_fixdate(EXAMPLE, &mut w).unwrap();
        w.byte(b'|').unwrap();
        write_short(EXAMPLE, &mut w).unwrap();
        assert_eq!(w.written(), b"Sun, 06 Nov 1994 08:49:37 GMT|1994-11-06 08:49");
        let mut small = [0u8; 28];
        let mut w = Writer::new(&mut small);
        assert!(write_imf_fixdate(0, &mut w).is_err());
        assert!(w.is_empty());
    }
}
