//! The UDP data channel against a real hub: STATUS with no loss, with
//! MISSING, with the last packet lost (closed by timeout), with `CYCLE:`,
//! and malformed input counted and survived.

mod common;

use std::time::Duration;

use common::{HubProc, Sensor};

#[test]
fn a_full_cycle_gets_ten_of_ten_twice() {
    let hub = HubProc::start(&[]);
    let s = Sensor::new(hub.udp);
    for _ in 0..2 {
        for seq in 1..=10 {
            s.reading("Sensor01", seq, None);
        }
        assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    }
    hub.stop();
}

#[test]
fn missing_packets_are_listed() {
    let hub = HubProc::start(&[]);
    let s = Sensor::new(hub.udp);
    for seq in [1, 2, 4, 5, 6, 8, 9, 10] {
        s.reading("Sensor01", seq, None);
    }
    assert_eq!(
        s.recv_status(),
        "STATUS RECEIVED 8/10 PACKETS; MISSING: [3, 7]"
    );
    let st = hub.stats();
    assert_eq!(st["udp"]["packets_missing"], 2);
    assert_eq!(st["udp"]["closed_last_seq"], 1);
    hub.stop();
}

#[test]
fn a_lost_last_packet_still_gets_a_status_by_timeout() {
    let hub = HubProc::start(&["--cycle-timeout", "400ms"]);
    let s = Sensor::new(hub.udp);
    for seq in 1..=9 {
        s.reading("Sensor01", seq, None);
    }
    assert!(
        s.silent_for(Duration::from_millis(200)),
        "no STATUS before the timeout"
    );
    assert_eq!(
        s.recv_status(),
        "STATUS RECEIVED 9/10 PACKETS; MISSING: [10]"
    );
    assert_eq!(hub.stats()["udp"]["closed_timeout"], 1);
    hub.stop();
}

#[test]
fn cycle_numbers_close_the_old_cycle_and_mark_late_packets() {
    let hub = HubProc::start(&[]);
    let s = Sensor::new(hub.udp);
    for seq in 1..=5 {
        s.reading("Cyc", seq, Some(1));
    }
    s.reading("Cyc", 1, Some(2)); // a newer cycle closes cycle 1
    assert_eq!(
        s.recv_status(),
        "STATUS RECEIVED 5/10 PACKETS; MISSING: [6, 7, 8, 9, 10]"
    );
    s.reading("Cyc", 6, Some(1)); // late: belongs to the closed cycle
    s.reading("Cyc", 1, Some(2)); // duplicate
    for seq in 2..=10 {
        s.reading("Cyc", seq, Some(2));
    }
    assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    let u = &hub.stats()["udp"];
    assert_eq!(
        (u["late"].as_u64(), u["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(u["closed_newer_cycle"], 1);
    hub.stop();
}

#[test]
fn malformed_datagrams_are_counted_and_never_answered() {
    let hub = HubProc::start(&[]);
    let s = Sensor::new(hub.udp);
    let bad: &[&[u8]] = &[
        b"",
        b"hello",
        b"Sensor01,ts,temperature,NaN,SEQ:1",
        b"Sensor01,ts,temperature,1.0,SEQ:0",
        b"Sensor01,ts,temperature,1.0,SEQ:11",
        b"Sensor01,ts,temperature,abc,SEQ:1",
        b"Sen,sor01,ts,temperature,1.0,SEQ:1",
        &[0xff; 1400],
    ];
    for b in bad {
        s.send(b);
    }
    assert!(s.silent_for(Duration::from_millis(300)));
    let u = &hub.stats()["udp"];
    assert_eq!(u["malformed"], bad.len() as u64);
    // The hub still serves.
    for seq in 1..=10 {
        s.reading("Fine", seq, None);
    }
    assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    hub.stop();
}
