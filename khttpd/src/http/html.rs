//! HTML escaping and directory listings.
//!
//! A listing is rendered piece by piece so the kernel can stream it chunked from a
//! small buffer: [`render_header`], one [`render_entry`] per entry, [`render_footer`],
//! each atomic. [`Listing`] drives those pieces over a sorted entry array and resumes
//! where the previous buffer ended; the header's path text is resumable per character,
//! so it never needs a buffer larger than [`MIN_FILL_BUFFER`].
//!
//! File names are arbitrary bytes: in links they are percent-encoded
//! ([`super::path::encode_path_segment`]), in text HTML-escaped with invalid UTF-8
//! shown as U+FFFD.

use super::path::encode_path_segment;
use super::{date, Full, Writer};
use core::cmp::Ordering;

/// One directory entry to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'n> {
    /// Name as stored on disk (no `/`).
    pub name: &'n [u8],
    pub is_dir: bool,
    /// Size in bytes (ignored for directories).
    pub size: u64,
    /// Modification time, unix seconds.
    pub mtime: i64,
}

/// Directories first, then names byte-wise.
fn order(a: &Entry<'_>, b: &Entry<'_>) -> Ordering {
    b.is_dir.cmp(&a.is_dir).then_with(|| a.name.cmp(b.name))
}

/// Sorts entries for display: directories first, then by name, byte-wise.
///
/// Heapsort: in place, no allocation, no recursion, O(n log n) in the worst case, and
/// without the panic path core's sort keeps for inconsistent orderings.
pub fn sort_entries(entries: &mut [Entry<'_>]) {
    let n = entries.len();
    for root in (0..n / 2).rev() {
        sift_down(entries, root);
    }
    for end in (1..n).rev() {
        swap(entries, 0, end);
        if let Some(heap) = entries.get_mut(..end) {
            sift_down(heap, 0);
        }
    }
}

/// Restores the max-heap property below `root` in `heap`.
fn sift_down(heap: &mut [Entry<'_>], mut root: usize) {
    loop {
        let left = root.saturating_mul(2).saturating_add(1);
        let right = left.saturating_add(1);
        let mut largest = root;
        for child in [left, right] {
            if let (Some(c), Some(l)) = (heap.get(child), heap.get(largest)) {
                if order(c, l) == Ordering::Greater {
                    largest = child;
                }
            }
        }
        if largest == root {
            return;
        }
        swap(heap, root, largest);
        root = largest;
    }
}

/// `slice::swap` without its panic path (indices here are always in range).
fn swap(v: &mut [Entry<'_>], a: usize, b: usize) {
    if a < v.len() && b < v.len() {
        v.swap(a, b);
    }
}

/// The next unit of `s` for escaping: one character, or one invalid UTF-8 sequence.
/// Returns its replacement text and how many bytes of `s` it covers. Only a 4-byte
/// window is examined so escaping stays linear.
fn next_unit(s: &[u8]) -> Option<(Unit, usize)> {
    let window = s.get(..s.len().min(4)).unwrap_or(s);
    let chunk = window.utf8_chunks().next()?;
    match chunk.valid().chars().next() {
        Some(c) => {
            let unit = match c {
                '&' => Unit::Static(b"&amp;"),
                '<' => Unit::Static(b"&lt;"),
                '>' => Unit::Static(b"&gt;"),
                '"' => Unit::Static(b"&quot;"),
                '\'' => Unit::Static(b"&#39;"),
                c => {
                    let mut bytes = [0u8; 4];
                    let len = c.encode_utf8(&mut bytes).len();
                    Unit::Char(bytes, len)
                }
            };
            Some((unit, c.len_utf8()))
        }
        // Invalid sequences are at most 3 bytes and at least 1.
        None => Some((Unit::Static("\u{FFFD}".as_bytes()), chunk.invalid().len().max(1))),
    }
}

enum Unit {
    Static(&'static [u8]),
    Char([u8; 4], usize),
}

impl Unit {
    fn write(&self, w: &mut Writer<'_>) -> Result<(), Full> {
        match self {
            Unit::Static(s) => w.push(s),
            Unit::Char(bytes, len) => w.push(bytes.get(..*len).unwrap_or(&[])),
        }
    }
}

/// Writes as much of the escaped form of `text[from..]` as fits, whole characters
/// only; returns the offset in `text` reached (`text.len()` when finished).
fn escape_resumable(text: &[u8], mut from: usize, w: &mut Writer<'_>) -> usize {
    while let Some(rest) = text.get(from..) {
        let Some((unit, used)) = next_unit(rest) else { break };
        if unit.write(w).is_err() {
            break;
        }
        from = from.saturating_add(used);
    }
    from
}

/// HTML-escapes `text` (`& < > " '`), replacing invalid UTF-8 with U+FFFD. Safe in
/// element content and in quoted attribute values. Atomic.
pub fn escape(text: &[u8], w: &mut Writer<'_>) -> Result<(), Full> {
    let mark = w.mark();
    if escape_resumable(text, 0, w) < text.len() {
        w.rollback(mark);
        return Err(Full);
    }
    Ok(())
}

/// Writes a size for humans: `512 B`, `1.5 KiB`, `3.0 GiB` (rounded to one decimal).
pub fn write_size(size: u64, w: &mut Writer<'_>) -> Result<(), Full> {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if size < 1024 {
        let mark = w.mark();
        let res = w.dec(size).and_then(|()| w.push(b" B"));
        if res.is_err() {
            w.rollback(mark);
        }
        return res;
    }
    let size = u128::from(size);
    let mut unit = 0usize;
    let mut div: u128 = 1024;
    let tenths = loop {
        let tenths = (size * 10 + div / 2) / div;
        // Rounding may reach 1024.0 of this unit: use the next one instead.
        if tenths >= 10_240 && unit + 1 < UNITS.len() {
            unit += 1;
            div *= 1024;
        } else {
            break tenths;
        }
    };
    let mark = w.mark();
    let res = w
        .dec((tenths / 10) as u64)
        .and_then(|()| w.byte(b'.'))
        .and_then(|()| w.dec((tenths % 10) as u64))
        .and_then(|()| w.byte(b' '))
        .and_then(|()| w.push_str(UNITS.get(unit).copied().unwrap_or("EiB")));
    if res.is_err() {
        w.rollback(mark);
    }
    res
}

const HEAD_START: &[u8] = b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Index of /";
const HEAD_STYLE: &[u8] = b"</title>\n<style>\
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}\
h1{font-size:1.4em;font-weight:normal;overflow-wrap:anywhere}\
table{border-collapse:collapse;width:100%}\
th,td{padding:.3em .6em;text-align:left}\
th{border-bottom:1px solid #ccc}\
td:first-child{overflow-wrap:anywhere}\
.s{text-align:right;white-space:nowrap}.t{white-space:nowrap}\
tbody tr:nth-child(even){background:#f5f5f5}\
a{text-decoration:none}a:hover{text-decoration:underline}\
address{color:#777;font-size:.9em;font-style:normal}\
</style></head>\n<body><h1>Index of /";
const HEAD_TABLE: &[u8] = b"</h1>\n<table><thead><tr><th>Name</th><th class=\"s\">Size</th>\
<th class=\"t\">Modified (UTC)</th></tr></thead>\n<tbody>\n";
const PARENT_ROW: &[u8] =
    b"<tr><td><a href=\"../\">../</a></td><td class=\"s\">-</td><td class=\"t\"></td></tr>\n";
const FOOTER: &[u8] = b"</tbody></table>\n<hr><address>khttpd-rs</address>\n</body></html>\n";

/// Smallest buffer [`Listing::fill`] always makes progress with: the largest static
/// header piece, or the largest possible entry row, whichever is bigger.
pub const MIN_FILL_BUFFER: usize = max(HEAD_STYLE.len(), MAX_ENTRY_LEN);

/// Upper bound of one rendered entry: a 255-byte name, percent-encoded (×3) in the
/// link and escaped (at most ×6) in the text, plus markup, size and date.
pub const MAX_ENTRY_LEN: usize = 255 * 3 + 255 * 6 + 200;

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// A piece of the header: fixed markup or the directory path as text.
enum Piece<'d> {
    Static(&'static [u8]),
    Text(&'d [u8]),
}

/// The header as a sequence of pieces, for atomic and resumable rendering alike.
fn header_piece(dir: &[u8], i: usize) -> Option<Piece<'_>> {
    let root = dir.is_empty();
    let slash: &'static [u8] = if root { b"" } else { b"/" };
    Some(match i {
        0 => Piece::Static(HEAD_START),
        1 => Piece::Text(dir),
        2 => Piece::Static(slash),
        3 => Piece::Static(HEAD_STYLE),
        4 => Piece::Text(dir),
        5 => Piece::Static(slash),
        6 => Piece::Static(HEAD_TABLE),
        7 if !root => Piece::Static(PARENT_ROW),
        _ => return None,
    })
}

/// Writes the page start: title and heading `Index of /dir/`, styles, table head, and
/// a `../` row unless `dir` is the root. `dir` is the decoded relative path from
/// [`super::path::resolve`] (empty for the root). Atomic.
pub fn render_header(dir: &[u8], w: &mut Writer<'_>) -> Result<(), Full> {
    let mark = w.mark();
    let mut i = 0;
    while let Some(piece) = header_piece(dir, i) {
        let res = match piece {
            Piece::Static(s) => w.push(s),
            Piece::Text(t) => escape(t, w),
        };
        if res.is_err() {
            w.rollback(mark);
            return res;
        }
        i += 1;
    }
    Ok(())
}

/// True for names that must not be listed (`.`, `..`, empty, or containing `/`).
fn skipped(name: &[u8]) -> bool {
    name.is_empty() || name == b"." || name == b".." || name.contains(&b'/')
}

/// Writes one table row: linked name (directories with a trailing `/`), size,
/// modification time. Writes nothing for names that cannot be listed (`.`, `..`).
/// Atomic; at most [`MAX_ENTRY_LEN`] bytes for names up to 255 bytes.
pub fn render_entry(entry: &Entry<'_>, w: &mut Writer<'_>) -> Result<(), Full> {
    if skipped(entry.name) {
        return Ok(());
    }
    let mark = w.mark();
    let res = (|| {
        w.push(b"<tr><td><a href=\"")?;
        encode_path_segment(entry.name, w)?;
        if entry.is_dir {
            w.byte(b'/')?;
        }
        w.push(b"\">")?;
        escape(entry.name, w)?;
        if entry.is_dir {
            w.byte(b'/')?;
        }
        w.push(b"</a></td><td class=\"s\">")?;
        if entry.is_dir {
            w.byte(b'-')?;
        } else {
            write_size(entry.size, w)?;
        }
        w.push(b"</td><td class=\"t\">")?;
        date::write_short(entry.mtime, w)?;
        w.push(b"</td></tr>\n")
    })();
    if res.is_err() {
        w.rollback(mark);
    }
    res
}

/// Writes the end of the page. Atomic.
pub fn render_footer(w: &mut Writer<'_>) -> Result<(), Full> {
    w.push(FOOTER)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Header piece and byte offset into it (for text pieces).
    Header(usize, usize),
    Entries(usize),
    Footer,
    Done,
}

/// Streams a whole listing through successive buffers.
///
/// ```text
/// let mut listing = Listing::new(dir, &mut entries);
/// while !listing.is_done() {
///     let mut w = Writer::new(chunked::payload_area(&mut buf));
///     listing.fill(&mut w)?;          // as much as fits
///     let n = w.len();
///     send(&buf[chunked::frame_in_place(&mut buf, n)?]);
/// }
/// send(chunked::LAST_CHUNK);
/// ```
#[derive(Debug)]
pub struct Listing<'a, 'n> {
    dir: &'a [u8],
    entries: &'a [Entry<'n>],
    stage: Stage,
}

impl<'a, 'n> Listing<'a, 'n> {
    /// Sorts `entries` ([`sort_entries`]) and starts at the header.
    pub fn new(dir: &'a [u8], entries: &'a mut [Entry<'n>]) -> Self {
        sort_entries(entries);
        Listing { dir, entries, stage: Stage::Header(0, 0) }
    }

    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Renders as much as fits into `w`. Returns `Ok(true)` once the page is complete,
    /// `Ok(false)` when `w` is full (send it and call again with a fresh buffer), and
    /// `Err(Full)` when not even one piece fit: the buffer is too small (less than
    /// [`MIN_FILL_BUFFER`] free), and calling again with the same space cannot help.
    pub fn fill(&mut self, w: &mut Writer<'_>) -> Result<bool, Full> {
        let start = w.len();
        let start_stage = self.stage;
        // Each iteration finishes a piece or stops; pieces are finite, so this ends.
        loop {
            let progressed = match self.stage {
                Stage::Header(i, off) => match header_piece(self.dir, i) {
                    None => {
                        self.stage = Stage::Entries(0);
                        true
                    }
                    Some(Piece::Static(s)) => {
                        let ok = w.push(s).is_ok();
                        if ok {
                            self.stage = Stage::Header(i.saturating_add(1), 0);
                        }
                        ok
                    }
                    Some(Piece::Text(t)) => {
                        let reached = escape_resumable(t, off, w);
                        if reached >= t.len() {
                            self.stage = Stage::Header(i.saturating_add(1), 0);
                            true
                        } else {
                            self.stage = Stage::Header(i, reached);
                            false
                        }
                    }
                },
                Stage::Entries(k) => match self.entries.get(k) {
                    None => {
                        self.stage = Stage::Footer;
                        true
                    }
                    Some(e) => {
                        let ok = render_entry(e, w).is_ok();
                        if ok {
                            self.stage = Stage::Entries(k.saturating_add(1));
                        }
                        ok
                    }
                },
                Stage::Footer => {
                    let ok = render_footer(w).is_ok();
                    if ok {
                        self.stage = Stage::Done;
                    }
                    ok
                }
                Stage::Done => return Ok(true),
            };
            if !progressed {
                if w.len() == start && self.stage == start_stage {
                    return Err(Full);
                }
                return Ok(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(text: &[u8]) -> String {
        let mut buf = vec![0u8; text.len() * 6 + 8];
        let mut w = Writer::new(&mut buf);
        escape(text, &mut w).unwrap();
        String::from_utf8(w.written().to_vec()).unwrap()
    }

    fn size(n: u64) -> String {
        let mut buf = [0u8; 32];
        let mut w = Writer::new(&mut buf);
        write_size(n, &mut w).unwrap();
        String::from_utf8(w.written().to_vec()).unwrap()
    }

    fn entry(name: &[u8], is_dir: bool, size: u64) -> Entry<'_> {
        Entry { name, is_dir, size, mtime: 784_111_777 }
    }

    /// Renders a whole listing with buffers of `cap` bytes.
    fn listing(dir: &[u8], entries: &mut [Entry<'_>], cap: usize) -> String {
        let mut l = Listing::new(dir, entries);
        let mut out = Vec::new();
        let mut rounds = 0;
        while !l.is_done() {
            let mut buf = vec![0u8; cap];
            let mut w = Writer::new(&mut buf);
            l.fill(&mut w).unwrap();
            out.extend_from_slice(w.written());
            rounds += 1;
            assert!(rounds < 100_000);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escaping() {
        assert_eq!(esc(b"plain"), "plain");
        assert_eq!(esc(b"<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
        assert_eq!(esc(b"a & b \"q\""), "a &amp; b &quot;q&quot;");
        assert_eq!(esc("héllo wörld €𝄞".as_bytes()), "héllo wörld €𝄞");
        assert_eq!(esc(b"bad\xff\xfe"), "bad\u{FFFD}\u{FFFD}");
        assert_eq!(esc(b"cut\xe2\x82"), "cut\u{FFFD}");
        assert_eq!(esc(b"\xe2\x82x"), "\u{FFFD}x");
        assert_eq!(esc(b"\xf0\x9d\x84\x9e\xf0"), "𝄞\u{FFFD}");
        assert_eq!(esc(b""), "");
        let mut buf = [0u8; 6];
        let mut w = Writer::new(&mut buf);
        w.byte(b'x').unwrap();
        assert_eq!(escape(b"<<", &mut w), Err(Full));
        assert_eq!(w.written(), b"x");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1024), "1.0 KiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(10 * 1024 + 51), "10.0 KiB");
        assert_eq!(size(10 * 1024 + 52), "10.1 KiB");
        assert_eq!(size(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(size(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn sorting() {
        let mut e = [
            entry(b"b.txt", false, 1),
            entry(b"Zdir", true, 0),
            entry(b"a.txt", false, 1),
            entry(b"adir", true, 0),
            entry(b"B.txt", false, 1),
            entry(b"\xc3\xa9", false, 1),
        ];
        sort_entries(&mut e);
        let names: Vec<&[u8]> = e.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            vec![&b"Zdir"[..], b"adir", b"B.txt", b"a.txt", b"b.txt", b"\xc3\xa9"]
        );
    }

    #[test]
    fn sorting_matches_std_sort() {
        let mut state = 0x0123_4567_89ab_cdefu64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in 0..200 {
            let names: Vec<Vec<u8>> = (0..n)
                .map(|_| (0..rnd() % 4).map(|_| b"ab\xc3Z"[(rnd() % 4) as usize]).collect())
                .collect();
            let mut e: Vec<Entry<'_>> = names.iter().map(|n| entry(n, rnd() % 3 == 0, 0)).collect();
            let mut expected = e.clone();
            expected.sort_by(|a, b| (!a.is_dir, a.name).cmp(&(!b.is_dir, b.name)));
            sort_entries(&mut e);
            assert_eq!(e, expected);
        }
    }

    #[test]
    fn entry_rows() {
        let mut buf = [0u8; 2048];
        let mut w = Writer::new(&mut buf);
        render_entry(&entry(b"a b.txt", false, 1536), &mut w).unwrap();
        render_entry(&entry(b"sub", true, 4096), &mut w).unwrap();
        render_entry(&entry(b".", true, 0), &mut w).unwrap();
        render_entry(&entry(b"..", true, 0), &mut w).unwrap();
        assert_eq!(
            std::str::from_utf8(w.written()).unwrap(),
            "<tr><td><a href=\"a%20b.txt\">a b.txt</a></td><td class=\"s\">1.5 KiB</td><td class=\"t\">1994-11-06 08:49</td></tr>\n\
             <tr><td><a href=\"sub/\">sub/</a></td><td class=\"s\">-</td><td class=\"t\">1994-11-06 08:49</td></tr>\n"
        );
    }

    #[test]
    fn hostile_names_are_escaped() {
        let names: [&[u8]; 9] = [
            b"<script>alert(1)<\\script>",
            b"<img src=x onerror=alert(1)>",
            b"cannot/exist",
            b"a&b",
            b"\"quoted\" 'single'",
            b"with space",
            b"100%",
            "日本語.txt".as_bytes(),
            b"bad\xffutf8",
        ];
        let mut entries: Vec<Entry<'_>> = names.iter().map(|n| entry(n, false, 10)).collect();
        let page = listing(b"sub/<dir>", &mut entries, 4096);
        assert!(!page.contains("<script>") && !page.contains("<img"));
        assert!(page.contains("<a href=\"%3Cscript%3Ealert%281%29%3C%5Cscript%3E\">&lt;script&gt;alert(1)&lt;\\script&gt;</a>"));
        assert!(page.contains("<a href=\"%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E\">&lt;img src=x onerror=alert(1)&gt;</a>"));
        // A name with a slash cannot come from a directory and is not listed.
        assert!(!page.contains("cannot"));
        assert!(page.contains("<a href=\"a%26b\">a&amp;b</a>"));
        assert!(page.contains("<a href=\"%22quoted%22%20%27single%27\">&quot;quoted&quot; &#39;single&#39;</a>"));
        assert!(page.contains("<a href=\"with%20space\">with space</a>"));
        assert!(page.contains("<a href=\"100%25\">100%</a>"));
        assert!(page.contains("<a href=\"%E6%97%A5%E6%9C%AC%E8%AA%9E.txt\">日本語.txt</a>"));
        assert!(page.contains("<a href=\"bad%FFutf8\">bad\u{FFFD}utf8</a>"));
        assert!(page.contains("<title>Index of /sub/&lt;dir&gt;/</title>"));
        assert!(page.contains("<h1>Index of /sub/&lt;dir&gt;/</h1>"));
        // Every href is a single percent-encoded segment: no quotes or markup inside.
        for href in page.split("href=\"").skip(1) {
            let value = &href[..href.find('"').unwrap()];
            assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%/".contains(&b)), "{value}");
        }
    }

    #[test]
    fn whole_page_structure() {
        let mut entries = [
            entry(b"z.html", false, 100),
            entry(b"docs", true, 0),
            entry(b"a.css", false, 2048),
            entry(b".", true, 0),
        ];
        let page = listing(b"", &mut entries, 4096);
        assert!(page.starts_with("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"));
        assert!(page.contains("<title>Index of /</title>"));
        assert!(!page.contains("href=\"../\""), "no parent link at the root");
        let docs = page.find("href=\"docs/\"").unwrap();
        let a = page.find("href=\"a.css\"").unwrap();
        let z = page.find("href=\"z.html\"").unwrap();
        assert!(docs < a && a < z);
        assert!(page.contains("<td class=\"s\">2.0 KiB</td>"));
        assert!(!page.contains("href=\"./\""));
        assert!(page.ends_with("</body></html>\n"));

        let mut none: [Entry<'_>; 0] = [];
        let page = listing(b"a/b", &mut none, 4096);
        assert!(page.contains("<title>Index of /a/b/</title>"));
        assert!(page.contains("<a href=\"../\">../</a>"));
        assert_eq!(page.matches("<tr>").count(), 2, "header row and parent row");
    }

    #[test]
    fn any_buffer_size_gives_the_same_page() {
        let names: Vec<Vec<u8>> = (0..50).map(|i| format!("file <{i}> & 'x'.txt").into_bytes()).collect();
        let long_dir = "d&<é>/".repeat(600);
        let long_dir = long_dir.trim_end_matches('/').as_bytes().to_vec();
        let make = || -> Vec<Entry<'_>> { names.iter().map(|n| entry(n, false, 1)).collect() };
        let reference = {
            let mut e = make();
            listing(&long_dir, &mut e, 1 << 20)
        };
        // The atomic functions give the same bytes as the driver.
        {
            let mut e = make();
            sort_entries(&mut e);
            let mut buf = vec![0u8; 1 << 20];
            let mut w = Writer::new(&mut buf);
            render_header(&long_dir, &mut w).unwrap();
            for x in &e {
                render_entry(x, &mut w).unwrap();
            }
            render_footer(&mut w).unwrap();
            assert_eq!(std::str::from_utf8(w.written()).unwrap(), reference);
        }
        for cap in [MIN_FILL_BUFFER, 4096, 5000] {
            let mut e = make();
            assert_eq!(listing(&long_dir, &mut e, cap), reference, "buffer of {cap}");
        }
        // The header alone is larger than such a buffer, yet it streams.
        let mut buf = vec![0u8; 4096];
        let mut w = Writer::new(&mut buf);
        assert_eq!(render_header(&long_dir, &mut w), Err(Full));
    }

    #[test]
    fn too_small_buffer_is_reported_not_looped() {
        let mut e = [entry(b"x", false, 1)];
        let mut l = Listing::new(b"", &mut e);
        let mut buf = [0u8; 100];
        let mut w = Writer::new(&mut buf);
        assert_eq!(l.fill(&mut w), Err(Full));
        assert!(w.is_empty());
        let mut buf = [0u8; MIN_FILL_BUFFER];
        let mut w = Writer::new(&mut buf);
        assert_eq!(l.fill(&mut w), Ok(true));
        assert!(w.written().ends_with(FOOTER));
        assert!(l.is_done());
    }

    #[test]
    fn max_entry_len_holds() {
        let worst = [b'"'; 255];
        let e = Entry { name: &worst, is_dir: false, size: u64::MAX, mtime: i64::MAX };
        let mut buf = [0u8; MAX_ENTRY_LEN];
        let mut w = Writer::new(&mut buf);
        render_entry(&e, &mut w).unwrap();
        let invalid = [0xffu8; 255];
        let e = Entry { name: &invalid, is_dir: true, size: 0, mtime: i64::MIN };
        let mut w = Writer::new(&mut buf);
        render_entry(&e, &mut w).unwrap();
    }
}
