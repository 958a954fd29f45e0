//! Content-coding negotiation and the gzip/zlib framing around raw deflate data.
//!
//! The kernel's compression API produces raw deflate (RFC 1951). HTTP's `gzip` coding
//! wraps it in a gzip member (RFC 1952: 10-byte header, CRC-32 and length trailer) and
//! HTTP's `deflate` coding in a zlib stream (RFC 1950: 2-byte header, Adler-32 trailer).
//! [`Framing`] produces those wrappers while the kernel streams the compressed body;
//! both checksums are over the *uncompressed* bytes.

use super::syntax::{ends_with_ci, strip_prefix_ci, trim_ows};

/// gzip member header: deflate, no flags, no mtime, no extra flags, OS = Unix.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

/// zlib header: deflate with a 32 KiB window (an upper bound for any compressor's
/// window, so always valid), default level, no dictionary; 0x789c is a multiple of 31.
pub const ZLIB_HEADER: [u8; 2] = [0x78, 0x9c];

/// Bodies smaller than this are not worth the compression set-up and framing overhead.
pub const MIN_COMPRESS_SIZE: u64 = 256;

/// A content coding the server can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    /// HTTP's "deflate" is the zlib format, not raw deflate.
    Deflate,
}

impl Encoding {
    /// Value for the Content-Encoding header; `None` for identity (no header).
    pub fn content_coding(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Deflate => Some("deflate"),
        }
    }
}

/// Parsed Accept-Encoding: the q-value (in thousandths, 0..=1000) given to each coding
/// the server knows, `None` when the coding was not listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcceptEncoding {
    present: bool,
    gzip: Option<u16>,
    deflate: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl AcceptEncoding {
    /// Parses one Accept-Encoding field value.
    pub fn parse(value: &[u8]) -> Self {
        let mut ae = AcceptEncoding::default();
        ae.add(value);
        ae
    }

    /// Merges another Accept-Encoding field line (repeated lines form one list).
    /// Unknown codings and elements with a malformed q-value are ignored.
    pub fn add(&mut self, value: &[u8]) {
        self.present = true;
        for element in value.split(|&b| b == b',') {
            let mut parts = element.split(|&b| b == b';');
            let coding = trim_ows(parts.next().unwrap_or(&[]));
            let mut q = Some(1000u16);
            for param in parts {
                let param = trim_ows(param);
                if let Some(v) = strip_prefix_ci(param, b"q=") {
                    q = parse_qvalue(v);
                }
            }
            let Some(q) = q else { continue };
            let is = |name: &[u8]| coding.eq_ignore_ascii_case(name);
            let slot = if is(b"gzip") || is(b"x-gzip") {
                &mut self.gzip
            } else if is(b"deflate") {
                &mut self.deflate
            } else if is(b"identity") {
                &mut self.identity
            } else if coding == b"*" {
                &mut self.any
            } else {
                continue;
            };
            *slot = Some(q);
        }
    }

    /// True when at least one Accept-Encoding field was seen.
    pub fn is_present(&self) -> bool {
        self.present
    }

    /// Effective q-value (thousandths) of `enc` under RFC 9110 §12.5.3: an explicit entry
    /// wins, else `*`; codings other than identity are refused when neither is given,
    /// identity is acceptable unless refused explicitly or through `*;q=0`.
    pub fn q(&self, enc: Encoding) -> u16 {
        match enc {
            Encoding::Identity => self.identity.or(self.any).unwrap_or(1000),
            Encoding::Gzip => self.gzip.or(self.any).unwrap_or(0),
            Encoding::Deflate => self.deflate.or(self.any).unwrap_or(0),
        }
    }

    /// True when the client accepts `enc` (q > 0).
    pub fn accepts(&self, enc: Encoding) -> bool {
        self.q(enc) > 0
    }
}

/// Chooses the coding for a response whose content type is `compressible`: the accepted
/// coding with the highest q, gzip winning ties (some old clients sent raw deflate for
/// "deflate"), and identity when the client explicitly rates it strictly higher or
/// nothing else is acceptable. Identity is returned even if refused: we have nothing
/// better to offer.
pub fn negotiate(ae: &AcceptEncoding, compressible: bool) -> Encoding {
    if !compressible {
        return Encoding::Identity;
    }
    let gzip = ae.q(Encoding::Gzip);
    let deflate = ae.q(Encoding::Deflate);
    let (best, q) = if gzip >= deflate {
        (Encoding::Gzip, gzip)
    } else {
        (Encoding::Deflate, deflate)
    };
    // Identity competes only when rated explicitly (directly or through `*`): when
    // unlisted it is merely acceptable, not preferred.
    let identity = ae.identity.or(ae.any).unwrap_or(0);
    if q == 0 || identity > q {
        Encoding::Identity
    } else {
        best
    }
}

/// True for content types that deflate shrinks well: text, JSON, JavaScript, XML and
/// SVG, WebAssembly, uncompressed fonts; false for images, audio, video and archives,
/// which are compressed already.
pub fn is_compressible(content_type: &str) -> bool {
    let bytes = content_type.as_bytes();
    let mime = trim_ows(bytes.split(|&b| b == b';').next().unwrap_or(&[]));
    if strip_prefix_ci(mime, b"text/").is_some()
        || ends_with_ci(mime, b"+json")
        || ends_with_ci(mime, b"+xml")
    {
        return true;
    }
    const LIST: &[&[u8]] = &[
        b"application/json",
        b"application/javascript",
        b"application/xml",
        b"application/wasm",
        b"font/ttf",
        b"font/otf",
        b"image/x-icon",
        b"image/bmp",
    ];
    LIST.iter().any(|m| mime.eq_ignore_ascii_case(m))
}

/// [`is_compressible`] and at least [`MIN_COMPRESS_SIZE`] bytes long.
pub fn worth_compressing(content_type: &str, len: u64) -> bool {
    len >= MIN_COMPRESS_SIZE && is_compressible(content_type)
}

/// Parses `0`, `0.5`, `1.000`... into thousandths; `None` when malformed or above 1.
fn parse_qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match v.iter().position(|&b| b == b'.') {
        Some(dot) => (v.get(..dot)?, v.get(dot.checked_add(1)?..)?),
        None => (v, &[][..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths: u16 = 0;
    let mut scale: u16 = 100;
    for &d in frac {
        thousandths = thousandths.checked_add(u16::from(d - b'0').checked_mul(scale)?)?;
        scale /= 10;
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

const fn make_crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            // Reflected CRC-32 polynomial (IEEE 802.3, as used by gzip).
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = make_crc_table();

/// Incremental CRC-32 (gzip's checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc32 {
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    pub const fn new() -> Self {
        Crc32 { state: 0xFFFF_FFFF }
    }

    pub fn update(&mut self, data: &[u8]) {
        let mut c = self.state;
        for &b in data {
            // The mask keeps the index below 256, so this lookup cannot fail.
            let idx = ((c ^ u32::from(b)) & 0xFF) as usize;
            c = CRC_TABLE[idx] ^ (c >> 8);
        }
        self.state = c;
    }

    /// The CRC of everything passed to `update` so far.
    pub fn value(&self) -> u32 {
        !self.state
    }
}

/// CRC-32 of `data` in one go.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = Crc32::new();
    c.update(data);
    c.value()
}

/// Incremental Adler-32 (zlib's checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adler32 {
    a: u32,
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Self {
        Self::new()
    }
}

const ADLER_MOD: u32 = 65521;
/// Largest block for which the sums cannot overflow u32 before reduction (zlib's NMAX).
const ADLER_NMAX: usize = 5552;

impl Adler32 {
    pub const fn new() -> Self {
        Adler32 { a: 1, b: 0 }
    }

    pub fn update(&mut self, data: &[u8]) {
        let (mut a, mut b) = (self.a, self.b);
        for block in data.chunks(ADLER_NMAX) {
            for &byte in block {
                a = a.wrapping_add(u32::from(byte));
                b = b.wrapping_add(a);
            }
            a %= ADLER_MOD;
            b %= ADLER_MOD;
        }
        self.a = a;
        self.b = b;
    }

    pub fn value(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

/// Adler-32 of `data` in one go.
pub fn adler32(data: &[u8]) -> u32 {
    let mut a = Adler32::new();
    a.update(data);
    a.value()
}

/// gzip trailer: CRC-32 then ISIZE (length mod 2^32), both little endian.
pub fn gzip_trailer(crc: u32, isize: u32) -> [u8; 8] {
    let c = crc.to_le_bytes();
    let s = isize.to_le_bytes();
    [c[0], c[1], c[2], c[3], s[0], s[1], s[2], s[3]]
}

/// zlib trailer: Adler-32, big endian.
pub fn zlib_trailer(adler: u32) -> [u8; 4] {
    adler.to_be_bytes()
}

/// The bytes that follow the compressed data (empty for identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    bytes: [u8; 8],
    len: u8,
}

impl Trailer {
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// Tracks what the wrapper of a compressed stream needs while the body is produced.
///
/// Send [`header`](Self::header) before the first compressed byte, pass every
/// *uncompressed* byte to [`update`](Self::update), and send
/// [`trailer`](Self::trailer) after the compressor's final output.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    encoding: Encoding,
    crc: Crc32,
    adler: Adler32,
    size: u32,
}

impl Framing {
    pub fn new(encoding: Encoding) -> Self {
        Framing { encoding, crc: Crc32::new(), adler: Adler32::new(), size: 0 }
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub fn header(&self) -> &'static [u8] {
        match self.encoding {
            Encoding::Identity => &[],
            Encoding::Gzip => &GZIP_HEADER,
            Encoding::Deflate => &ZLIB_HEADER,
        }
    }

    pub fn update(&mut self, uncompressed: &[u8]) {
        match self.encoding {
            Encoding::Identity => {}
            Encoding::Gzip => {
                self.crc.update(uncompressed);
                // ISIZE is defined modulo 2^32; truncating the length is intended.
                self.size = self.size.wrapping_add(uncompressed.len() as u32);
            }
            Encoding::Deflate => self.adler.update(uncompressed),
        }
    }

    pub fn trailer(&self) -> Trailer {
        let mut bytes = [0u8; 8];
        let len = match self.encoding {
            Encoding::Identity => 0,
            Encoding::Gzip => {
                bytes = gzip_trailer(self.crc.value(), self.size);
                8
            }
            Encoding::Deflate => {
                let [a, b, c, d] = zlib_trailer(self.adler.value());
                bytes = [a, b, c, d, 0, 0, 0, 0];
                4
            }
        };
        Trailer { bytes, len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_vectors() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
    }

    #[test]
    fn crc32_incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for split in [0, 1, 2, 255, 256, 5000, 9999, 10_000] {
            let mut c = Crc32::new();
            c.update(&data[..split]);
            c.update(&data[split..]);
            assert_eq!(c.value(), crc32(&data));
        }
    }

    #[test]
    fn adler32_vectors() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b"123456789"), 0x091E_01DE);
        // Long input of 0xff bytes exercises the modular reduction per NMAX block.
        let ones = vec![0xffu8; 100_000];
        let mut a: u64 = 1;
        let mut b: u64 = 0;
        for &x in &ones {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(u64::from(adler32(&ones)), (b << 16) | a);
        let mut inc = Adler32::new();
        for part in ones.chunks(777) {
            inc.update(part);
        }
        assert_eq!(inc.value(), adler32(&ones));
    }

    #[test]
    fn headers_and_trailers() {
        assert_eq!(&GZIP_HEADER[..3], &[0x1f, 0x8b, 8]);
        assert_eq!((u16::from(ZLIB_HEADER[0]) * 256 + u16::from(ZLIB_HEADER[1])) % 31, 0);
        assert_eq!(
            gzip_trailer(0xCBF4_3926, 9),
            [0x26, 0x39, 0xF4, 0xCB, 9, 0, 0, 0]
        );
        assert_eq!(zlib_trailer(0x11E6_0398), [0x11, 0xE6, 0x03, 0x98]);
    }

    #[test]
    fn framing_produces_expected_trailers() {
        let mut g = Framing::new(Encoding::Gzip);
        g.update(b"12345");
        g.update(b"6789");
        assert_eq!(g.header(), &GZIP_HEADER);
        assert_eq!(g.trailer().as_bytes(), &gzip_trailer(0xCBF4_3926, 9));
        let mut z = Framing::new(Encoding::Deflate);
        z.update(b"Wiki");
        z.update(b"pedia");
        assert_eq!(z.header(), &ZLIB_HEADER);
        assert_eq!(z.trailer().as_bytes(), &[0x11, 0xE6, 0x03, 0x98]);
        let mut i = Framing::new(Encoding::Identity);
        i.update(b"abc");
        assert!(i.header().is_empty());
        assert!(i.trailer().as_bytes().is_empty());
        assert_eq!(i.encoding(), Encoding::Identity);
    }

    /// Wraps real raw-deflate output in our framing and decodes it with an independent
    /// gzip/zlib implementation, which verifies headers, CRC-32, ISIZE and Adler-32.
    #[test]
    fn framing_decodes_with_flate2() {
        use flate2::write::DeflateEncoder;
        use flate2::Compression;
        use std::io::{Read, Write};

        let plain: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("line {i} of the body\n").into_bytes())
            .collect();
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&plain).unwrap();
        let raw = enc.finish().unwrap();

        for encoding in [Encoding::Gzip, Encoding::Deflate] {
            let mut f = Framing::new(encoding);
            for part in plain.chunks(4096) {
                f.update(part);
            }
            let mut stream = f.header().to_vec();
            stream.extend_from_slice(&raw);
            stream.extend_from_slice(f.trailer().as_bytes());
            let mut out = Vec::new();
            match encoding {
                Encoding::Gzip => flate2::read::GzDecoder::new(&stream[..]).read_to_end(&mut out),
                _ => flate2::read::ZlibDecoder::new(&stream[..]).read_to_end(&mut out),
            }
            .unwrap();
            assert_eq!(out, plain);

            // A wrong checksum must be detected by the decoder.
            let last = stream.len() - 1;
            stream[last] ^= 1;
            let mut out = Vec::new();
            let res = match encoding {
                Encoding::Gzip => flate2::read::GzDecoder::new(&stream[..]).read_to_end(&mut out),
                _ => flate2::read::ZlibDecoder::new(&stream[..]).read_to_end(&mut out),
            };
            assert!(res.is_err(), "{encoding:?} corruption went unnoticed");
        }
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue(b"0"), Some(0));
        assert_eq!(parse_qvalue(b"0."), Some(0));
        assert_eq!(parse_qvalue(b"0.5"), Some(500));
        assert_eq!(parse_qvalue(b"0.05"), Some(50));
        assert_eq!(parse_qvalue(b"0.001"), Some(1));
        assert_eq!(parse_qvalue(b"0.999"), Some(999));
        assert_eq!(parse_qvalue(b"1"), Some(1000));
        assert_eq!(parse_qvalue(b"1.000"), Some(1000));
        assert_eq!(parse_qvalue(b"1.001"), None);
        assert_eq!(parse_qvalue(b"0.0001"), None);
        assert_eq!(parse_qvalue(b"2"), None);
        assert_eq!(parse_qvalue(b""), None);
        assert_eq!(parse_qvalue(b".5"), None);
        assert_eq!(parse_qvalue(b"0.5x"), None);
        assert_eq!(parse_qvalue(b"-0"), None);
    }

    #[test]
    fn accept_encoding_parsing() {
        let ae = AcceptEncoding::parse(b"gzip, deflate, br");
        assert!(ae.is_present());
        assert_eq!(ae.q(Encoding::Gzip), 1000);
        assert_eq!(ae.q(Encoding::Deflate), 1000);
        assert_eq!(ae.q(Encoding::Identity), 1000);

        let ae = AcceptEncoding::parse(b"GZip;q=0 ,\tdeflate ; q=0.3");
        assert!(!ae.accepts(Encoding::Gzip));
        assert_eq!(ae.q(Encoding::Deflate), 300);

        let ae = AcceptEncoding::parse(b"*;q=0.2, gzip;q=0");
        assert_eq!(ae.q(Encoding::Gzip), 0);
        assert_eq!(ae.q(Encoding::Deflate), 200);
        assert_eq!(ae.q(Encoding::Identity), 200);

        let ae = AcceptEncoding::parse(b"*;q=0");
        assert!(!ae.accepts(Encoding::Identity));
        let ae = AcceptEncoding::parse(b"*;q=0, identity");
        assert!(ae.accepts(Encoding::Identity));

        let ae = AcceptEncoding::parse(b"x-gzip;q=0.5");
        assert_eq!(ae.q(Encoding::Gzip), 500);

        // A malformed weight drops the element rather than guessing.
        let ae = AcceptEncoding::parse(b"gzip;q=high, deflate;q=1.5");
        assert!(!ae.accepts(Encoding::Gzip));
        assert!(!ae.accepts(Encoding::Deflate));

        // No header (or an empty one): identity only.
        let none = AcceptEncoding::default();
        assert!(!none.is_present());
        assert!(!none.accepts(Encoding::Gzip));
        assert!(none.accepts(Encoding::Identity));
        let empty = AcceptEncoding::parse(b"");
        assert!(empty.is_present());
        assert!(!empty.accepts(Encoding::Gzip));

        // Repeated header lines merge.
        let mut ae = AcceptEncoding::parse(b"deflate");
        ae.add(b"gzip;q=0.1");
        assert_eq!(ae.q(Encoding::Deflate), 1000);
        assert_eq!(ae.q(Encoding::Gzip), 100);
    }

    #[test]
    fn negotiation() {
        let n = |h: &[u8]| negotiate(&AcceptEncoding::parse(h), true);
        assert_eq!(n(b"gzip, deflate"), Encoding::Gzip);
        assert_eq!(n(b"deflate, gzip"), Encoding::Gzip);
        assert_eq!(n(b"deflate"), Encoding::Deflate);
        assert_eq!(n(b"gzip;q=0.5, deflate;q=0.8"), Encoding::Deflate);
        assert_eq!(n(b"gzip;q=0, deflate;q=0"), Encoding::Identity);
        assert_eq!(n(b"br"), Encoding::Identity);
        assert_eq!(n(b"*"), Encoding::Gzip);
        assert_eq!(n(b"*;q=0.5, gzip;q=0"), Encoding::Deflate);
        assert_eq!(n(b"gzip;q=0.1, identity;q=0.9"), Encoding::Identity);
        assert_eq!(n(b"gzip;q=0.9, identity;q=0.9"), Encoding::Gzip);
        assert_eq!(n(b""), Encoding::Identity);
        assert_eq!(negotiate(&AcceptEncoding::default(), true), Encoding::Identity);
        assert_eq!(negotiate(&AcceptEncoding::parse(b"gzip"), false), Encoding::Identity);
        assert_eq!(Encoding::Gzip.content_coding(), Some("gzip"));
        assert_eq!(Encoding::Deflate.content_coding(), Some("deflate"));
        assert_eq!(Encoding::Identity.content_coding(), None);
    }

    #[test]
    fn compressibility() {
        for t in [
            "text/html; charset=utf-8",
            "text/plain",
            "TEXT/CSS",
            "text/javascript; charset=utf-8",
            "application/json",
            "application/manifest+json",
            "image/svg+xml",
            "application/xml",
            "application/wasm",
        ] {
            assert!(is_compressible(t), "{t}");
        }
        for t in [
            "image/png",
            "image/jpeg",
            "video/mp4",
            "audio/mpeg",
            "application/zip",
            "application/gzip",
            "application/octet-stream",
            "font/woff2",
            "",
        ] {
            assert!(!is_compressible(t), "{t}");
        }
        assert!(worth_compressing("text/html", 10_000));
        assert!(!worth_compressing("text/html", 10));
        assert!(!worth_compressing("image/png", 10_000));
    }
}
