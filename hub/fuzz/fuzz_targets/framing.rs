//! TCP framing: arbitrary bytes cut into arbitrary chunks. The framer never
//! panics, never holds more than `max_line + 1` bytes of an unfinished line,
//! never returns a line over the cap, and returns the same lines however the
//! stream is chunked (until the first error).
#![no_main]

use hub::protocol::LineFramer;
use libfuzzer_sys::fuzz_target;

const MAX: usize = 32;

/// Feeds `data` in chunks of the given sizes; returns the lines and whether
/// the framer refused the stream.
fn run(data: &[u8], sizes: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let mut f = LineFramer::new(MAX);
    let mut lines = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let n = (usize::from(sizes.get(i % sizes.len().max(1)).copied().unwrap_or(1)) % 64)
            .max(1)
            .min(data.len() - at);
        i += 1;
        f.push(&data[at..at + n]);
        at += n;
        loop {
            match f.next_line() {
                Ok(Some(l)) => {
                    assert!(l.len() <= MAX);
                    lines.push(l.to_vec());
                }
                Ok(None) => break,
                Err(_) => return (lines, true),
            }
        }
        assert!(f.pending() <= MAX + 1, "pending {}", f.pending());
    }
    if let Some(rest) = f.take_unterminated() {
        assert!(rest.len() <= MAX);
    }
    (lines, false)
}

fuzz_target!(|input: &[u8]| {
    let split = input.first().copied().unwrap_or(0) as usize % 8;
    let (sizes, data) = input.get(1..).unwrap_or(&[]).split_at(split.min(input.len().saturating_sub(1)));
    let (a, a_err) = run(data, sizes);
    let (b, b_err) = run(data, &[63]);
    assert_eq!(a_err, b_err);
    assert_eq!(a, b);
});
