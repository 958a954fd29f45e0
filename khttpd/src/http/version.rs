//! The HTTP versions khttpd speaks. Vocabulary shared by `parser` (which reads it from
//! the request line) and `response` (whose body framing depends on it), so it imports
//! nothing.

/// Protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    /// HTTP/1.1, or a later HTTP/1.x treated as 1.1.
    Http11,
}
