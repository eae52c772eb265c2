//! The report reader: on any bytes, parsing, the report check, the typed
//! reading and every histogram decode return (an error or a value) in
//! bounded memory, never panic. The input is also tried as a histogram string on its own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgen::report::histo::decode_histogram;
use loadgen::tools::reportfile::{check_report, parse_report_bytes, typed};

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = decode_histogram(s.trim());
    }
    let Ok(v) = parse_report_bytes(data) else {
        return;
    };
    if check_report(&v).is_err() {
        return;
    }
    let _ = typed(std::path::Path::new("input"), &v);
    if let Some(lat) = v["latency_us"].as_object() {
        for k in lat.values() {
            if let Some(h) = k["hist"].as_str() {
                let _ = decode_histogram(h);
            }
        }
    }
});
