//! Content-Type from a file name's extension.

/// Type for files with no or an unknown extension: browsers download rather than render.
pub const DEFAULT_TYPE: &str = "application/octet-stream";

/// Type of generated HTML (directory listings, error pages).
pub const HTML_TYPE: &str = "text/html; charset=utf-8";

/// Extension (lower case) → Content-Type. Textual types carry a UTF-8 charset so that
/// browsers do not guess; JSON and XML types define their own encoding rules.
const TYPES: &[(&[u8], &str)] = &[
    (b"html", HTML_TYPE),
    (b"htm", HTML_TYPE),
    (b"css", "text/css; charset=utf-8"),
    (b"js", "text/javascript; charset=utf-8"),
    (b"mjs", "text/javascript; charset=utf-8"),
    (b"json", "application/json"),
    (b"map", "application/json"),
    (b"txt", "text/plain; charset=utf-8"),
    (b"md", "text/markdown; charset=utf-8"),
    (b"csv", "text/csv; charset=utf-8"),
    (b"xml", "application/xml"),
    (b"png", "image/png"),
    (b"jpg", "image/jpeg"),
    (b"jpeg", "image/jpeg"),
    (b"gif", "image/gif"),
    (b"svg", "image/svg+xml"),
    (b"ico", "image/x-icon"),
    (b"webp", "image/webp"),
    (b"avif", "image/avif"),
    (b"bmp", "image/bmp"),
    (b"pdf", "application/pdf"),
    (b"mp4", "video/mp4"),
    (b"webm", "video/webm"),
    (b"mp3", "audio/mpeg"),
    (b"ogg", "audio/ogg"),
    (b"wav", "audio/wav"),
    (b"wasm", "application/wasm"),
    (b"woff", "font/woff"),
    (b"woff2", "font/woff2"),
    (b"ttf", "font/ttf"),
    (b"otf", "font/otf"),
    (b"zip", "application/zip"),
    (b"gz", "application/gzip"),
    (b"tar", "application/x-tar"),
];

/// Content-Type for an extension (without the dot), compared case-insensitively.
pub fn for_extension(ext: &[u8]) -> &'static str {
    TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or(DEFAULT_TYPE, |&(_, t)| t)
}

/// Content-Type for a file name or path: the extension is what follows the last `.` of
/// the last path segment; names without one, and dot-files like `.bashrc`, get the
/// default type.
pub fn content_type(path: &[u8]) -> &'static str {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    match name.iter().rposition(|&b| b == b'.') {
        Some(0) | None => DEFAULT_TYPE,
        Some(dot) => name
            .get(dot.saturating_add(1)..)
            .map_or(DEFAULT_TYPE, for_extension),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_types() {
        let cases: &[(&[u8], &str)] = &[
            (b"index.html", "text/html; charset=utf-8"),
            (b"a.htm", "text/html; charset=utf-8"),
            (b"s.css", "text/css; charset=utf-8"),
            (b"app.js", "text/javascript; charset=utf-8"),
            (b"mod.mjs", "text/javascript; charset=utf-8"),
            (b"d.json", "application/json"),
            (b"README.txt", "text/plain; charset=utf-8"),
            (b"feed.xml", "application/xml"),
            (b"p.png", "image/png"),
            (b"p.jpg", "image/jpeg"),
            (b"p.jpeg", "image/jpeg"),
            (b"p.gif", "image/gif"),
            (b"p.svg", "image/svg+xml"),
            (b"favicon.ico", "image/x-icon"),
            (b"p.webp", "image/webp"),
            (b"doc.pdf", "application/pdf"),
            (b"v.mp4", "video/mp4"),
            (b"v.webm", "video/webm"),
            (b"a.mp3", "audio/mpeg"),
            (b"a.ogg", "audio/ogg"),
            (b"m.wasm", "application/wasm"),
            (b"f.woff", "font/woff"),
            (b"f.woff2", "font/woff2"),
            (b"f.ttf", "font/ttf"),
            (b"x.zip", "application/zip"),
            (b"x.tar.gz", "application/gzip"),
            (b"x.tar", "application/x-tar"),
        ];
        for &(name, ty) in cases {
            assert_eq!(content_type(name), ty, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn case_insensitive_and_paths() {
        assert_eq!(content_type(b"INDEX.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type(b"Photo.JpG"), "image/jpeg");
        assert_eq!(content_type(b"dir.d/file"), DEFAULT_TYPE);
        assert_eq!(content_type(b"a/b/c.css"), "text/css; charset=utf-8");
        assert_eq!(for_extension(b"PNG"), "image/png");
    }

    #[test]
    fn unknown_and_odd_names() {
        for name in [
            &b""[..],
            b"Makefile",
            b".bashrc",
            b"file.",
            b"file.unknown",
            b"a/",
            b"x.html.bak",
            b"\xff\xfe.\xc3\xa9",
        ] {
            assert_eq!(content_type(name), DEFAULT_TYPE, "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn text_types_have_charset() {
        for &(ext, ty) in TYPES {
            assert_eq!(ext.to_ascii_lowercase(), ext);
            if ty.starts_with("text/") {
                assert!(ty.ends_with("; charset=utf-8"), "{ty}");
            }
        }
    }
}
