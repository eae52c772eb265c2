//! Classic mode: the seed's `tcp_server.py` / `udp_server.py` transcripts,
//! with clients written like the originals (no newline, one recv(1024)).

mod common;

use common::{Device, HubProc, Sensor};

const PROMPT: &str = "[Server] Enter command for Sensor01 (e.g., 'SET_INTERVAL 3' or 'ACTIVATE_ALARM', 'quit' to disconnect): ";

#[test]
fn the_tcp_server_transcript_line_for_line() {
    let mut hub = HubProc::start(&["--classic"]);
    let mut dev = Device::register(hub.tcp, "Sensor01", "temperature", false);
    hub.wait_stdout(PROMPT);
    hub.console("SET_INTERVAL 3");
    assert_eq!(dev.ack_one(), "SET_INTERVAL 3");
    hub.wait_stdout("Received ACK from Sensor01: ACK Command Executed\n[Server] Enter");
    hub.console("ACTIVATE_ALARM");
    assert_eq!(dev.ack_one(), "ACTIVATE_ALARM");
    hub.wait_stdout(
        "ACTIVATE_ALARM\n[Server] Received ACK from Sensor01: ACK Command Executed\n[Server] Enter",
    );
    hub.console("quit");
    assert!(dev.recv().is_empty(), "the original client sees the close");
    let out = hub.wait_stdout(") closed.\n");
    let port = dev.stream.local_addr().unwrap().port();
    // With a terminal, the operator's typing would follow each prompt.
    let want = format!(
        "[Server] TCP Smart Hub listening on {tcp}\n\
         [UDP Server] Smart Hub Data Collector listening on {udp}\n\
         [Server] Connected to device at ('127.0.0.1', {port})\n\
         [Server] Received registration: DEVICE Sensor01 TYPE temperature\n\
         [Server] Registered DEVICE=Sensor01 TYPE=temperature\n\
         {PROMPT}[Server] Sent command to Sensor01: SET_INTERVAL 3\n\
         [Server] Received ACK from Sensor01: ACK Command Executed\n\
         {PROMPT}[Server] Sent command to Sensor01: ACTIVATE_ALARM\n\
         [Server] Received ACK from Sensor01: ACK Command Executed\n\
         {PROMPT}[Server] Closing connection with Sensor01\n\
         [Server] Connection to ('127.0.0.1', {port}) closed.\n",
        tcp = hub.tcp,
        udp = hub.udp,
    );
    assert_eq!(out, want);
    hub.wait_log("ACK device=Sensor01 command=\"ACTIVATE_ALARM\" rtt_ms=");
}

#[test]
fn the_udp_client_gets_its_status_in_classic_mode() {
    let hub = HubProc::start(&["--classic"]);
    let s = Sensor::new(hub.udp);
    for _ in 0..2 {
        for seq in 1..=10 {
            s.reading("Sensor01", seq, None);
        }
        assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    }
    // Classic mode logs each reading, as the original did.
    let log = hub.wait_log("SEQ:10");
    assert_eq!(
        log.matches(" DATA reading=\"Sensor01,2025-10-22 18:20:15,temperature,24.8,SEQ:")
            .count(),
        20
    );
}
