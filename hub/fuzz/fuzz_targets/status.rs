//! STATUS: `Status::parse` never panics on any bytes; the capped encoder
//! never exceeds its cap, keeps exact counts, and its output parses back.
#![no_main]

use hub::protocol::status::STATUS_BUF;
use hub::protocol::Status;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Status::parse(data);
    if data.len() < 10 {
        return;
    }
    let bits = u64::from_le_bytes(data[..8].try_into().unwrap());
    let total = u32::from(data[8] % 64) + 1;
    let cap = usize::from(data[9]) * 2;
    let s = Status::from_bits(bits, total);
    let mut buf = [0u8; STATUS_BUF];
    if let Some(n) = s.encode_capped(&mut buf, cap) {
        assert!(n <= cap);
        let back = Status::parse(&buf[..n]).expect("encoded STATUS parses");
        assert_eq!((back.received, back.total), (s.received, s.total));
        assert_eq!(back.missing & !s.missing, 0);
        // Under a tight cap the list may be cut (`...`) or left out whole;
        // the counts in the header stay exact either way.
        let listed = buf[..n].windows(8).any(|w| w == b"MISSING:");
        if listed && !back.truncated {
            assert_eq!(back.missing, s.missing);
        }
        if !listed {
            assert_eq!(back.missing, 0);
        }
    }
});
