//! Control messages: `DeviceMsg::parse` on any bytes and `Command::parse`
//! on any text never panic, and whatever parses prints back to text that
//! parses to the same value.
#![no_main]

use hub::protocol::{Command, DeviceMsg};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = DeviceMsg::parse(data) {
        let text = m.to_string();
        assert_eq!(DeviceMsg::parse(text.as_bytes()), Ok(m));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = Command::parse(text) {
            let again = c.to_string();
            assert_eq!(Command::parse(&again), Ok(c));
        }
    }
});
