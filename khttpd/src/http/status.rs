//! The status codes khttpd sends, their numbers and reason phrases, and which of them
//! end the connection. Vocabulary shared by the parsers (the status an error maps to)
//! and by `response` (which writes them), so it imports nothing.

/// The statuses khttpd sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCode {
    Ok,
    PartialContent,
    MovedPermanently,
    NotModified,
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    ContentTooLarge,
    UriTooLong,
    RangeNotSatisfiable,
    RequestHeaderFieldsTooLarge,
    InternalServerError,
    NotImplemented,
    ServiceUnavailable,
    HttpVersionNotSupported,
}

pub(crate) const ALL_STATUSES: [StatusCode; 17] = [
    StatusCode::Ok,
    StatusCode::PartialContent,
    StatusCode::MovedPermanently,
    StatusCode::NotModified,
    StatusCode::BadRequest,
    StatusCode::Forbidden,
    StatusCode::NotFound,
    StatusCode::MethodNotAllowed,
    StatusCode::RequestTimeout,
    StatusCode::ContentTooLarge,
    StatusCode::UriTooLong,
    StatusCode::RangeNotSatisfiable,
    StatusCode::RequestHeaderFieldsTooLarge,
    StatusCode::InternalServerError,
    StatusCode::NotImplemented,
    StatusCode::ServiceUnavailable,
    StatusCode::HttpVersionNotSupported,
];

impl StatusCode {
    pub fn code(self) -> u16 {
        match self {
            StatusCode::Ok => 200,
            StatusCode::PartialContent => 206,
            StatusCode::MovedPermanently => 301,
            StatusCode::NotModified => 304,
            StatusCode::BadRequest => 400,
            StatusCode::Forbidden => 403,
            StatusCode::NotFound => 404,
            StatusCode::MethodNotAllowed => 405,
            StatusCode::RequestTimeout => 408,
            StatusCode::ContentTooLarge => 413,
            StatusCode::UriTooLong => 414,
            StatusCode::RangeNotSatisfiable => 416,
            StatusCode::RequestHeaderFieldsTooLarge => 431,
            StatusCode::InternalServerError => 500,
            StatusCode::NotImplemented => 501,
            StatusCode::ServiceUnavailable => 503,
            StatusCode::HttpVersionNotSupported => 505,
        }
    }

    /// Reason phrase as registered by RFC 9110 / RFC 6585.
    pub fn reason(self) -> &'static str {
        match self {
            StatusCode::Ok => "OK",
            StatusCode::PartialContent => "Partial Content",
            StatusCode::MovedPermanently => "Moved Permanently",
            StatusCode::NotModified => "Not Modified",
            StatusCode::BadRequest => "Bad Request",
            StatusCode::Forbidden => "Forbidden",
            StatusCode::NotFound => "Not Found",
            StatusCode::MethodNotAllowed => "Method Not Allowed",
            StatusCode::RequestTimeout => "Request Timeout",
            StatusCode::ContentTooLarge => "Content Too Large",
            StatusCode::UriTooLong => "URI Too Long",
            StatusCode::RangeNotSatisfiable => "Range Not Satisfiable",
            StatusCode::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            StatusCode::InternalServerError => "Internal Server Error",
            StatusCode::NotImplemented => "Not Implemented",
            StatusCode::ServiceUnavailable => "Service Unavailable",
            StatusCode::HttpVersionNotSupported => "HTTP Version Not Supported",
        }
    }

    pub fn from_code(code: u16) -> Option<StatusCode> {
        ALL_STATUSES.iter().copied().find(|s| s.code() == code)
    }

    /// Statuses after which the connection is always closed: the request stream could
    /// not be framed (400, 413, 414, 431, 505), the client was too slow (408), or the
    /// server is in trouble (500, 503).
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            StatusCode::BadRequest
                | StatusCode::RequestTimeout
                | StatusCode::ContentTooLarge
                | StatusCode::UriTooLong
                | StatusCode::RequestHeaderFieldsTooLarge
                | StatusCode::InternalServerError
                | StatusCode::ServiceUnavailable
                | StatusCode::HttpVersionNotSupported
        )
    }

    /// 405 and 501 list the methods we do serve.
    pub fn needs_allow(self) -> bool {
        matches!(self, StatusCode::MethodNotAllowed | StatusCode::NotImplemented)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_reasons() {
        let expected = [
            (200, "OK"),
            (206, "Partial Content"),
            (301, "Moved Permanently"),
            (304, "Not Modified"),
            (400, "Bad Request"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (413, "Content Too Large"),
            (414, "URI Too Long"),
            (416, "Range Not Satisfiable"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
            (505, "HTTP Version Not Supported"),
        ];
        for (code, reason) in expected {
            let s = StatusCode::from_code(code).unwrap();
            assert_eq!(s.code(), code);
            assert_eq!(s.reason(), reason);
        }
        assert_eq!(StatusCode::from_code(418), None);
        assert_eq!(ALL_STATUSES.len(), expected.len());
    }
}
