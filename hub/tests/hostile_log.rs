//! The event log under hostile peers and operators (issue 10, item 1): a
//! peer cannot make the hub write without bound, lifecycle lines are never
//! the ones dropped, and no text forges a field. A well-behaved device is
//! served throughout ([`Probe`]).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{Device, HubProc, Probe, WAIT};
use hub::logfield::parse_fields;

/// Every line of the log, split by the documented grammar (panics on a
/// line that breaks it).
fn parsed(log: &str) -> Vec<(String, Vec<(String, String)>)> {
    log.lines()
        .map(|l| {
            let (ts, rest) = l.split_once(' ').unwrap_or_else(|| panic!("{l:?}"));
            assert!(ts.ends_with('Z'), "timestamp {ts:?}");
            parse_fields(rest).unwrap_or_else(|| panic!("line breaks the grammar: {l:?}"))
        })
        .collect()
}

fn read_all(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => return got,
        }
    }
}

/// 30 devices each flood 20 000 unsolicited ACKs (80 KB): each gets one
/// `ERROR` and is disconnected after the limit, writes at most two
/// UNEXPECTED_ACK lines, and no line at all is dropped.
#[test]
fn an_ack_flood_is_folded_and_disconnected() {
    let hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let flood = "ACK\n".repeat(20_000);
    let threads: Vec<_> = (0..30)
        .map(|i| {
            let addr = hub.tcp;
            let flood = flood.clone();
            std::thread::spawn(move || {
                let mut d = Device::register(addr, &format!("Flood{i}"), "t", true);
                // Registration first, so the ACKs are a registered device's.
                std::thread::sleep(std::time::Duration::from_millis(50));
                let _ = d.stream.write_all(flood.as_bytes());
                String::from_utf8_lossy(&read_all(&mut d.stream)).into_owned()
            })
        })
        .collect();
    for t in threads {
        let got = t.join().unwrap();
        assert_eq!(got, "ERROR more than 16 ACKs with no command outstanding\n");
    }
    let st = hub.stats();
    assert_eq!(st["unsolicited_ack_disconnects"], 30, "{st}");
    assert_eq!(st["log"]["dropped"], 0, "{st}");
    probe.finish();
    // The floods ran in parallel: wait until every one's DISCONNECT is in.
    let log = common::eventually(|| {
        let log = hub.log_text();
        (0..30)
            .all(|i| log.contains(&format!("DISCONNECT device=Flood{i} ")))
            .then_some(log)
    })
    .expect("every flood disconnected");
    for i in 0..30 {
        let name = format!("device=Flood{i} ");
        let lines = log
            .lines()
            .filter(|l| l.contains(" UNEXPECTED_ACK ") && l.contains(&name))
            .count();
        assert!((1..=2).contains(&lines), "Flood{i}: {lines} lines");
    }
    // The log is ~30 × 5 lines, not 600 000.
    assert!(log.lines().count() < 1000, "{}", log.lines().count());
    parsed(&log);
    hub.stop();
}

/// Operator text with quotes, backslashes and control-like escapes lands
/// in one field; it can never add `device=` or `reason=` fields.
#[test]
fn operator_text_cannot_forge_a_field() {
    let hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let mut victim = Device::register(hub.tcp, "Victim01", "t", true);
    hub.wait_log("REGISTER device=Victim01");
    let mut admin = hub.admin();
    let evil = r#"x" device=Forged reason="operator quit \" \\"#;
    let v = admin.cmd(&format!("send Victim01 {evil}"));
    assert_eq!(v["ok"], true, "{v}");
    let got = victim.recv_text();
    assert_eq!(got, format!("{evil}\n"));
    victim.send("ACK Command Executed");
    let log = hub.wait_log("ACK device=Victim01");
    let lines = parsed(&log);
    let command = lines
        .iter()
        .find(|(ev, f)| ev == "COMMAND" && f[0].1 == "Victim01")
        .expect("COMMAND line");
    let keys: Vec<&str> = command.1.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["device", "command"], "{command:?}");
    assert_eq!(command.1[1].1, evil);
    assert!(!lines
        .iter()
        .any(|(_, f)| f.iter().any(|(_, v)| v == "Forged")));
    probe.finish();
    hub.stop();
}
