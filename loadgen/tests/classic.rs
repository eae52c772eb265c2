//! `loadgen classic`: the seed's `tcp_client.py` and `udp_client.py`
//! transcripts, line for line, against a real (embedded) hub.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hub::config::HubConfig;
use hub::ops::client::{typed, Admin};
use hub::ops::wire::{ClosedReply, SentReply, WaveDone};
use hub::server::{Hub, HubHandle};

fn hub() -> (HubHandle, std::path::PathBuf) {
    let log = std::env::temp_dir().join(format!(
        "classic-{}-{:?}.log",
        std::process::id(),
        std::thread::current().id()
    ));
    let h = Hub::bind(HubConfig::embedded(log.clone()))
        .unwrap()
        .spawn()
        .unwrap();
    (h, log)
}

#[test]
fn the_tcp_client_transcript_line_for_line() {
    let (h, log) = hub();
    let child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "classic",
            "tcp",
            "--tcp-port",
            &h.tcp_addr.port().to_string(),
            "--idle-timeout",
            "20s",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut admin = Admin::connect(h.admin_addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin.stats().unwrap().registered == 0 {
        assert!(Instant::now() < deadline, "Sensor01 never registered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let reply_by = || Instant::now() + Duration::from_secs(10);
    for c in ["SET_INTERVAL 3", "ACTIVATE_ALARM"] {
        let sent: SentReply =
            typed(&admin.request(&format!("send Sensor01 {c}")).unwrap()).unwrap();
        assert_eq!(sent.reached, 1);
        let done: WaveDone = typed(&admin.next_json(reply_by(), "done").unwrap()).unwrap();
        assert_eq!(done.acked, 1, "{c} was ACKed");
    }
    let closed: ClosedReply = typed(&admin.request("quit Sensor01").unwrap()).unwrap();
    assert_eq!(closed.closed, 1);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let want = format!(
        "[Sensor01] Connected to Smart Hub at {}\n\
         [Sensor01] Sent registration: DEVICE Sensor01 TYPE temperature\n\
         [Sensor01] Received command: SET_INTERVAL 3\n\
         [Sensor01] Changing reporting interval to 3 seconds (simulated).\n\
         [Sensor01] Sent ACK.\n\
         [Sensor01] Received command: ACTIVATE_ALARM\n\
         [Sensor01] Alarm activated (simulated).\n\
         [Sensor01] Sent ACK.\n\
         [Sensor01] Server closed connection.\n\
         [Sensor01] Closing connection.\n",
        h.tcp_addr
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    h.shutdown().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches(" ACK device=Sensor01 ").count(), 2, "{text}");
    let _ = std::fs::remove_file(log);
}

/// Checks one cycle's lines: 10 sends with readings 20.0–30.0, then the
/// STATUS line (or the timeout line), then the cycle-complete line.
fn check_cycle(lines: &[&str], status: &str) {
    for (i, line) in lines[..10].iter().enumerate() {
        let prefix = format!("[Sensor01] Sending packet SEQ:{} - temperature=", i + 1);
        let value: f64 = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line}"))
            .parse()
            .unwrap();
        assert!((20.0..=30.0).contains(&value), "{line}");
    }
    assert_eq!(lines[10], status);
    assert_eq!(
        lines[11],
        "[Sensor01] Cycle complete. Starting a new cycle..."
    );
    assert_eq!(lines[12], "");
}

#[test]
fn the_udp_client_transcript_line_for_line() {
    let (h, _log) = hub();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "classic",
            "udp",
            "--udp-port",
            &h.udp_addr.port().to_string(),
            "--packet-gap",
            "1ms",
            "--cycle-pause",
            "10ms",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "[Sensor01] UDP client sending to Smart Hub at {}",
            h.udp_addr
        )
    );
    assert_eq!(lines.len(), 1 + 2 * 13, "{text}");
    check_cycle(&lines[1..14], "[Sensor01] STATUS RECEIVED 10/10 PACKETS");
    check_cycle(&lines[14..27], "[Sensor01] STATUS RECEIVED 10/10 PACKETS");
    h.shutdown().unwrap();
}

#[test]
fn a_silent_hub_gives_the_timeout_line() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args([
            "classic",
            "udp",
            "--cycles",
            "1",
            "--packet-gap",
            "0ms",
            "--status-timeout",
            "200ms",
        ])
        .args([
            "--udp-port",
            &silent.local_addr().unwrap().port().to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    check_cycle(&lines[1..14], "[Sensor01] No status received (timeout).");
}
