//! Lexical helpers for header values and tokens (RFC 9110 §5.6): optional whitespace,
//! token characters, ASCII-case-insensitive affixes. They know no header: every parser
//! here builds on them, so they import nothing.

/// RFC 9110 tchar.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Removes spaces and tabs at both ends.
pub fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Removes spaces and tabs at the start.
pub fn skip_ows(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    s.get(n..).unwrap_or(&[])
}

/// `s` after `prefix`, compared ignoring ASCII case; `None` when `s` does not start so.
pub fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Whether `s` ends with `suffix`, ignoring ASCII case.
pub fn ends_with_ci(s: &[u8], suffix: &[u8]) -> bool {
    s.len()
        .checked_sub(suffix.len())
        .and_then(|start| s.get(start..))
        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ows() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b" \t "), b"");
        assert_eq!(skip_ows(b" \ta "), b"a ");
        assert_eq!(skip_ows(b""), b"");
    }

    #[test]
    fn affixes_ignore_case() {
        assert_eq!(strip_prefix_ci(b"HTTP://h/", b"http://"), Some(&b"h/"[..]));
        assert_eq!(strip_prefix_ci(b"htt", b"http://"), None);
        assert_eq!(strip_prefix_ci(b"q=1", b"q="), Some(&b"1"[..]));
        assert!(ends_with_ci(b"application/LD+JSON", b"+json"));
        assert!(!ends_with_ci(b"json", b"+json"));
    }

    #[test]
    fn tokens() {
        assert!(b"GET".iter().all(|&b| is_tchar(b)));
        assert!(!is_tchar(b' ') && !is_tchar(b':') && !is_tchar(b'"') && !is_tchar(0x80));
    }
}
