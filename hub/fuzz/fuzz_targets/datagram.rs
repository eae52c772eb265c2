//! UDP datagrams: `Datagram::parse` never panics on any bytes; what parses
//! encodes back to bytes that parse to the same reading, except that a tiny
//! or huge value written in exponent form (`1e-40`) is printed by `Display`
//! in plain digits, which may exceed the 32-byte value field or the
//! datagram cap (see HOSTILE.md).
#![no_main]

use hub::limits::MAX_DATAGRAM;
use hub::protocol::{Datagram, DatagramError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(d) = Datagram::parse(data) else {
        return;
    };
    assert!(d.value.is_finite());
    assert!(d.seq >= 1);
    let mut buf = [0u8; MAX_DATAGRAM * 2];
    let n = d.encode(&mut buf).expect("a parsed datagram re-encodes");
    assert_eq!(d.to_string().as_bytes(), &buf[..n]);
    match Datagram::parse(&buf[..n]) {
        Ok(again) => assert_eq!(again, d),
        Err(DatagramError::BadValue) => assert!(d.value.to_string().len() > 32),
        Err(DatagramError::TooLong) => assert!(n > MAX_DATAGRAM),
        Err(e) => panic!("{d:?} re-encoded to {:?}: {e}", &buf[..n]),
    }
});
