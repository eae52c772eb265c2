//! Property tests of the wire protocol (no sockets): round trips of every
//! message type, and the framer's caps and chunking independence on
//! arbitrary input. The fuzz targets in `hub/fuzz` check the same
//! invariants coverage-guided; these run on stable in every `cargo test`.

use hub::limits::{MAX_DATAGRAM, MAX_INTERVAL_SECS};
use hub::protocol::status::STATUS_BUF;
use hub::protocol::{Command, Datagram, DeviceMsg, LineFramer, Status};
use proptest::prelude::*;

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.:-]{1,64}"
}

/// Printable ASCII without commas, as the datagram timestamp allows.
fn timestamp() -> impl Strategy<Value = String> {
    "[ -+\\--~]{0,64}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn registrations_round_trip(name in ident(), kind in ident()) {
        let m = DeviceMsg::Register { name: &name, kind: &kind };
        let text = m.to_string();
        prop_assert_eq!(DeviceMsg::parse(text.as_bytes()), Ok(m));
    }

    /// Valid device lines, then each one with a byte replaced: the valid
    /// ones must parse, and whatever parses (valid or mutated) must survive
    /// a round trip through `Display`, so the property runs on every case.
    #[test]
    fn device_messages_parse_and_reparse(
        name in ident(),
        kind in ident(),
        ack_text in proptest::option::of("[ -~]{0,40}"),
        register in any::<bool>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let line = match (register, &ack_text) {
            (true, _) => format!("DEVICE {name} TYPE {kind}"),
            (false, None) => "ACK".to_string(),
            (false, Some(t)) => format!("ACK {t}"),
        };
        let m = DeviceMsg::parse(line.as_bytes());
        prop_assert!(m.is_ok(), "valid line {:?} refused: {:?}", line, m);
        let m = m.unwrap();
        let text = m.to_string();
        prop_assert_eq!(DeviceMsg::parse(text.as_bytes()), Ok(m));
        let mut mutated = line.clone().into_bytes();
        let i = at.index(mutated.len());
        mutated[i] = byte;
        if let Ok(m) = DeviceMsg::parse(&mutated) {
            let text = m.to_string();
            prop_assert_eq!(DeviceMsg::parse(text.as_bytes()), Ok(m));
        } else {
            // Only a change the grammar cares about can make it fail.
            prop_assert_ne!(&mutated, line.as_bytes());
        }
    }

    #[test]
    fn device_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = DeviceMsg::parse(&bytes);
    }

    #[test]
    fn commands_round_trip(n in 1..=MAX_INTERVAL_SECS, text in "[ -~]{1,256}") {
        for c in [Command::SetInterval(n), Command::ActivateAlarm] {
            prop_assert_eq!(Command::parse(&c.to_string()), Ok(c));
        }
        if let Ok(c) = Command::parse(&text) {
            prop_assert_eq!(Command::parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn datagrams_round_trip(
        name in ident(),
        ts in timestamp(),
        kind in ident(),
        value in -1.0e9f64..1.0e9,
        seq in 1..=u32::MAX,
        cycle in proptest::option::of(any::<u64>()),
    ) {
        let d = Datagram { name: &name, timestamp: &ts, kind: &kind, value, seq, cycle };
        let mut buf = [0u8; MAX_DATAGRAM];
        let n = d.encode(&mut buf).unwrap();
        let text = d.to_string();
        prop_assert_eq!(&buf[..n], text.as_bytes());
        let back = Datagram::parse(&buf[..n]);
        if value.to_string().len() <= 32 {
            prop_assert_eq!(back, Ok(d));
        }
        // A trailing newline (or CRLF) is allowed.
        let mut nl = buf[..n].to_vec();
        nl.extend_from_slice(b"\r\n");
        prop_assert_eq!(Datagram::parse(&nl), back);
    }

    /// Valid datagrams with one byte replaced: whatever still parses is a
    /// well-formed reading (finite value, SEQ ≥ 1) that re-encodes to bytes
    /// which parse back to the same reading.
    #[test]
    fn mutated_datagrams_parse_to_valid_readings(
        name in ident(),
        ts in timestamp(),
        kind in ident(),
        value in -1.0e6f64..1.0e6,
        seq in 1..=u32::MAX,
        cycle in proptest::option::of(any::<u64>()),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let d = Datagram { name: &name, timestamp: &ts, kind: &kind, value, seq, cycle };
        let mut bytes = d.to_string().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(d) = Datagram::parse(&bytes) {
            prop_assert!(d.value.is_finite() && d.seq >= 1);
            let text = d.to_string();
            let back = Datagram::parse(text.as_bytes());
            if d.value.to_string().len() <= 32 {
                prop_assert_eq!(back, Ok(d));
            }
        }
    }

    #[test]
    fn datagram_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(d) = Datagram::parse(&bytes) {
            prop_assert!(d.value.is_finite() && d.seq >= 1);
        }
    }

    #[test]
    fn statuses_round_trip_and_respect_their_cap(
        bits in any::<u64>(),
        total in 1u32..=64,
        cap in 0usize..STATUS_BUF,
    ) {
        let s = Status::from_bits(bits, total);
        prop_assert_eq!(Status::parse(s.to_string().as_bytes()), Ok(s));
        let mut buf = [0u8; STATUS_BUF];
        if let Some(n) = s.encode_capped(&mut buf, cap) {
            prop_assert!(n <= cap);
            let back = Status::parse(&buf[..n]).unwrap();
            prop_assert_eq!((back.received, back.total), (s.received, s.total));
            prop_assert_eq!(back.missing & !s.missing, 0);
        } else {
            let header = format!("STATUS RECEIVED {}/{} PACKETS", s.received, s.total);
            prop_assert!(cap < header.len(), "only a cap below the header refuses");
        }
    }

    #[test]
    fn status_parse_never_panics(text in "STATUS RECEIVED [0-9/]{0,8} PACKETS(; MISSING: \\[[0-9, .]{0,40}\\])?") {
        let _ = Status::parse(text.as_bytes());
    }

    #[test]
    fn framing_is_bounded_and_chunking_does_not_matter(
        lines in proptest::collection::vec(("[ -~]{0,40}", any::<bool>()), 0..20),
        chunks in proptest::collection::vec(1usize..50, 1..20),
    ) {
        const MAX: usize = 32;
        let mut stream = Vec::new();
        for (l, crlf) in &lines {
            stream.extend_from_slice(l.as_bytes());
            stream.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
        }
        let mut f = LineFramer::new(MAX);
        let mut got: Vec<String> = Vec::new();
        let mut failed = false;
        let (mut at, mut i) = (0, 0);
        'feed: while at < stream.len() {
            let n = chunks[i % chunks.len()].min(stream.len() - at);
            i += 1;
            f.push(&stream[at..at + n]);
            at += n;
            loop {
                match f.next_line() {
                    Ok(Some(l)) => got.push(String::from_utf8(l.to_vec()).unwrap()),
                    Ok(None) => break,
                    Err(_) => { failed = true; break 'feed; }
                }
            }
            prop_assert!(f.pending() <= MAX + 1);
        }
        // The lines up to the first overlong one come out whole, in order.
        let want: Vec<String> = lines.iter().map(|(l, _)| l.clone())
            .take_while(|l| l.len() <= MAX).collect();
        prop_assert_eq!(failed, want.len() < lines.len());
        prop_assert_eq!(got, want);
    }
}
