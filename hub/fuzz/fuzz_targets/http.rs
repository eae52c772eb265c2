//! HTTP request heads: `metrics::http::parse` never panics on any bytes,
//! and whatever it accepts is answered with a well-formed response.
#![no_main]

use hub::metrics::http::{parse, response, MAX_HTTP_REQUEST};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(MAX_HTTP_REQUEST + 1)];
    if let Ok(Some(req)) = parse(data) {
        let r = response(200, "text/plain", "x", req.head);
        assert!(r.starts_with(b"HTTP/1.1 200 OK\r\n"));
    }
});
