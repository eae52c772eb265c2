//! The HTTP/1.1 side of `/metrics`, sans-IO: parse a request head with
//! `httparse`, decide the reply, encode it. Every response closes the
//! connection (`Connection: close`), so a connection carries one request.

use std::fmt::Write;

/// Bytes of request head accepted; a longer one is answered 431 and closed.
pub const MAX_HTTP_REQUEST: usize = 8 * 1024;

/// HTTP connections at once; more are accepted and closed at once (counted).
pub const MAX_HTTP_CONNS: usize = 16;

/// A connection that has not sent a whole request (or read its reply)
/// within this is closed, so a slow client cannot hold a slot.
pub const HTTP_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

/// Headers parsed at most.
const MAX_HEADERS: usize = 32;

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Metrics,
    Health,
    NotFound,
    /// Not GET or HEAD.
    BadMethod,
}

/// A parsed request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub route: Route,
    /// HEAD: the reply carries headers only.
    pub head: bool,
}

/// Why the bytes are not a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Over [`MAX_HTTP_REQUEST`] without a complete head.
    TooLarge,
    Invalid(String),
}

/// Parses the request head in `buf`; `Ok(None)` while it is incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<Request>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) if buf.len() > MAX_HTTP_REQUEST => {
            return Err(HttpError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Invalid(e.to_string())),
    }
    let method = req.method.unwrap_or("");
    let path = req.path.unwrap_or("");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let head = method == "HEAD";
    let route = if method != "GET" && !head {
        Route::BadMethod
    } else {
        match path {
            "/metrics" => Route::Metrics,
            "/healthz" => Route::Health,
            _ => Route::NotFound,
        }
    };
    Ok(Some(Request { route, head }))
}

/// Content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A complete response; `body` is left out for HEAD.
pub fn response(status: u16, content_type: &str, body: &str, head: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut h = String::with_capacity(160);
    let _ = write!(
        h,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut out = h.into_bytes();
    if !head {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let get = |p: &str| parse(format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert_eq!(get("/metrics").unwrap().unwrap().route, Route::Metrics);
        assert_eq!(get("/metrics?x=1").unwrap().unwrap().route, Route::Metrics);
        assert_eq!(get("/healthz").unwrap().unwrap().route, Route::Health);
        assert_eq!(get("/").unwrap().unwrap().route, Route::NotFound);
        let post = parse(b"POST /metrics HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!(post.route, Route::BadMethod);
        let head = parse(b"HEAD /healthz HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(head.head);
    }

    #[test]
    fn incomplete_oversized_and_garbage() {
        assert_eq!(parse(b"GET /metrics HTTP/1.1\r\nHost"), Ok(None));
        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HTTP_REQUEST + 1, b'a');
        assert_eq!(parse(&big), Err(HttpError::TooLarge));
        assert!(matches!(
            parse(b"\x00\x01garbage\r\n\r\n"),
            Err(HttpError::Invalid(_))
        ));
    }

    #[test]
    fn responses_have_length_and_close() {
        let r = String::from_utf8(response(200, "text/plain", "hi", false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 2\r\n") && r.contains("Connection: close"));
        assert!(r.ends_with("\r\n\r\nhi"));
        let h = String::from_utf8(response(404, "text/plain", "nope", true)).unwrap();
        assert!(h.contains("Content-Length: 4") && h.ends_with("\r\n\r\n"));
    }
}
