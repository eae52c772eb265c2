//! Hostile peers on the TCP control channel (issue cases 1–4, 8 and 9),
//! each against a real hub while a well-behaved device keeps registering,
//! ACKing and getting STATUS ([`Probe`]). HOSTILE.md says what each bad
//! input gets; these tests hold the hub to it.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::{assert_serves, eventually, Device, HubProc, Probe, WellBehaved, WAIT};

/// Reads until EOF (or a reset, or [`WAIT`]); returns what arrived and
/// whether the hub closed the connection.
fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (got, true),
            Err(_) => return (got, false),
        }
    }
}

/// Sends `bytes` as the first thing on a new connection and returns the
/// hub's whole answer, asserting that the hub then closed the connection.
fn first_bytes_get(hub: &HubProc, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(hub.tcp).unwrap();
    s.write_all(bytes).unwrap();
    let (got, closed) = read_to_close(&mut s);
    assert!(closed, "the hub kept the connection open after {bytes:?}");
    String::from_utf8(got).unwrap()
}

fn stat(hub: &HubProc, key: &str) -> u64 {
    hub.stats()[key].as_u64().unwrap()
}

/// Case 1: a 1 MiB line with no newline closes the connection; fifty of
/// them leave memory where it was.
#[test]
fn a_one_mib_line_is_cut_off_and_memory_stays_bounded() {
    let hub = HubProc::start(&[]);
    assert_serves(&hub, "Before");
    let rss_before = hub.rss_kib();
    let probe = Probe::start(hub.addrs(), "Probe");
    let line = vec![b'A'; 1024 * 1024];
    for i in 0..50 {
        let mut s = TcpStream::connect(hub.tcp).unwrap();
        if i % 2 == 1 {
            // Half of them register first: the cap holds after registration.
            s.write_all(format!("DEVICE Big{i} TYPE t\n").as_bytes())
                .unwrap();
        }
        // The hub closes mid-write, so the write itself may fail (EPIPE or
        // a reset); that is the point.
        let _ = s.write_all(&line);
        let (got, closed) = read_to_close(&mut s);
        assert!(closed, "attack {i}: connection still open");
        let got = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || got.ends_with("ERROR line longer than 256 bytes\n"),
            "attack {i}: {got:?}"
        );
    }
    probe.finish();
    assert!(
        eventually(|| (stat(&hub, "connections") == 0).then_some(())).is_some(),
        "the attackers' connections were not all dropped"
    );
    assert_eq!(hub.stats()["loop"]["oversize_lines"], 50);
    let growth = hub.rss_kib().saturating_sub(rss_before);
    assert!(
        growth < 20 * 1024,
        "RSS grew {growth} KiB over 50 MiB of attack"
    );
    assert_serves(&hub, "After");
    hub.stop();
}

/// Case 2: a first message that is not a registration, and a second
/// registration on a registered connection, each get `ERROR …` and close.
#[test]
fn wrong_first_message_and_second_registration_are_refused() {
    let hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    assert_eq!(
        first_bytes_get(&hub, b"ACK Command Executed\n"),
        "ERROR first message must be DEVICE <name> TYPE <type>\n"
    );
    assert_eq!(first_bytes_get(&hub, b"HELLO\n"), "ERROR unknown message\n");
    assert_eq!(
        first_bytes_get(&hub, b"DEVICE only-a-name\n"),
        "ERROR registration must be DEVICE <name> TYPE <type>\n"
    );
    assert_eq!(
        first_bytes_get(&hub, b"DEVICE bad/name TYPE t\n"),
        "ERROR device name characters outside A-Z a-z 0-9 _ . : -\n"
    );
    // Bare framing (the original client): the reply has no terminator.
    assert_eq!(first_bytes_get(&hub, b"HELLO"), "ERROR unknown message");

    let mut dev = Device::register(hub.tcp, "Twice", "t", true);
    hub.wait_log("REGISTER device=Twice");
    dev.send("DEVICE Twice TYPE t");
    let (got, closed) = read_to_close(&mut dev.stream);
    assert_eq!(
        String::from_utf8(got).unwrap(),
        "ERROR already registered\n"
    );
    assert!(closed);
    hub.wait_log("DISCONNECT device=Twice");
    let log = hub.log_text();
    assert!(
        log.contains("reason=\"protocol violation: already registered\""),
        "{log}"
    );
    assert_eq!(stat(&hub, "protocol_errors"), 6);
    probe.finish();
    hub.stop();
}

/// Case 3: a takeover; whatever the old connection sends afterwards is
/// never logged as an ACK of the new one.
#[test]
fn after_a_takeover_the_old_connection_never_acks_for_the_new_one() {
    let hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let mut old = Device::register(hub.tcp, "Twin", "t", true);
    hub.wait_log("REGISTER device=Twin");
    let mut admin = hub.admin();
    admin.cmd("send Twin SET_INTERVAL 1");
    assert_eq!(old.recv_text(), "SET_INTERVAL 1\n");

    let mut new = Device::register(hub.tcp, "Twin", "t", true);
    hub.wait_log("TAKEOVER device=Twin");
    assert_eq!(admin.read()["failed"], 1, "the old command fails");
    admin.cmd("send Twin SET_INTERVAL 2");
    assert_eq!(new.recv_text(), "SET_INTERVAL 2\n");
    // The hub closed the old connection at the takeover: wait for its EOF
    // (bounded by the read timeout) rather than for a fixed time.
    let mut closed = false;
    for _ in 0..10 {
        if old.recv().is_empty() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the hub kept the taken-over connection open");
    // The old connection answers now, too late and on the wrong socket.
    let _ = old
        .stream
        .write_all(b"ACK Command Executed\nACK Command Executed\n");
    assert!(
        !hub.log_text().contains("ACK device=Twin"),
        "{}",
        hub.log_text()
    );
    new.send("ACK Command Executed");
    assert_eq!(admin.read()["acked"], 1);
    let log = hub.wait_log("ACK device=Twin command=\"SET_INTERVAL 2\"");
    assert_eq!(log.matches("ACK device=Twin").count(), 1, "{log}");
    assert!(!log.contains("ACK device=Twin command=\"SET_INTERVAL 1\""));
    probe.finish();
    hub.stop();
}

/// Case 4: silence is closed at the registration deadline, and dribbling
/// bytes does not buy time: before registration each read burst is a whole
/// message (the original clients' framing), so the first byte is judged.
#[test]
fn silence_and_dribbling_do_not_keep_a_connection_alive() {
    let hub = HubProc::start(&["--registration-deadline", "1s"]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let started = Instant::now();
    let mut silent = TcpStream::connect(hub.tcp).unwrap();
    let (got, closed) = read_to_close(&mut silent);
    assert!(closed);
    assert_eq!(got, b"ERROR registration deadline passed\n");
    assert!(started.elapsed() >= Duration::from_millis(900));

    // One byte every 300 ms of a valid registration: closed at the first.
    let mut drip = TcpStream::connect(hub.tcp).unwrap();
    drip.set_nodelay(true).unwrap();
    let started = Instant::now();
    let mut closed_after = None;
    'drip: for (i, b) in b"DEVICE Drip TYPE t\n".iter().enumerate() {
        if drip.write_all(&[*b]).is_err() {
            closed_after = Some(i);
            break;
        }
        drip.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 256];
        loop {
            match drip.read(&mut buf) {
                Ok(0) => {
                    closed_after = Some(i);
                    break 'drip;
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    closed_after = Some(i);
                    break 'drip;
                }
                Ok(_) => continue, // the ERROR line; EOF follows
                Err(_) => break,   // nothing yet: dribble on
            }
        }
    }
    assert!(
        closed_after.is_some() && started.elapsed() < Duration::from_secs(3),
        "a dribbling connection stayed open"
    );
    assert!(!hub.log_text().contains("REGISTER device=Drip"));
    probe.finish();
    hub.stop();
}

/// Case 4, after registration: the ACK timer runs from the command, and a
/// device dribbling its ACK a byte at a time still times out.
#[test]
fn a_dribbled_ack_does_not_reset_the_ack_timer() {
    let hub = HubProc::start(&["--ack-timeout", "500ms"]);
    let mut dev = Device::register(hub.tcp, "Dribble", "t", true);
    hub.wait_log("REGISTER device=Dribble");
    let mut admin = hub.admin();
    admin.cmd("send Dribble SET_INTERVAL 9");
    assert_eq!(dev.recv_text(), "SET_INTERVAL 9\n");
    for b in b"ACK Command Executed".iter() {
        dev.stream.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    // 20 bytes × 60 ms = 1.2 s > 500 ms: the timeout fired mid-dribble.
    assert_eq!(admin.read()["timed_out"], 1);
    dev.stream.write_all(b"\n").unwrap();
    hub.wait_log("LATE_ACK device=Dribble command=\"SET_INTERVAL 9\"");
    assert_eq!(stat(&hub, "acks"), 0);
    hub.stop();
}

/// Case 8: a reset in the middle of a line loses the partial line; a
/// half-close right after an ACK logs that ACK exactly once.
#[test]
fn reset_mid_line_and_half_close_with_an_ack_pending() {
    let hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let mut admin = hub.admin();

    let mut rst = Device::register(hub.tcp, "Rst", "t", true);
    hub.wait_log("REGISTER device=Rst");
    admin.cmd("send Rst ACTIVATE_ALARM");
    assert_eq!(rst.recv_text(), "ACTIVATE_ALARM\n");
    rst.stream.write_all(b"ACK Comm").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let sock = socket2::Socket::from(rst.stream);
    sock.set_linger(Some(Duration::ZERO)).unwrap();
    drop(sock); // RST
    assert_eq!(admin.read()["failed"], 1, "the half-ACKed command fails");
    let log = hub.wait_log("DISCONNECT device=Rst");
    assert!(!log.contains("ACK device=Rst"), "{log}");

    for (name, newline) in [("HalfNl", true), ("HalfBare", false)] {
        let mut dev = Device::register(hub.tcp, name, "t", newline);
        hub.wait_log(&format!("REGISTER device={name}"));
        admin.cmd(&format!("send {name} SET_INTERVAL 4"));
        assert!(dev.recv_text().starts_with("SET_INTERVAL 4"));
        dev.send("ACK Command Executed");
        dev.stream.shutdown(Shutdown::Write).unwrap();
        assert_eq!(admin.read()["acked"], 1, "{name}");
        let (_, closed) = read_to_close(&mut dev.stream);
        assert!(closed, "{name}: the hub closes its side too");
        let log = hub.wait_log(&format!("DISCONNECT device={name}"));
        assert_eq!(
            log.matches(&format!(" ACK device={name} ")).count(),
            1,
            "{log}"
        );
    }
    probe.finish();
    hub.stop();
}

/// Case 9: an HTTP request, NUL bytes, invalid UTF-8, a TLS hello, an
/// empty line: each gets the reply HOSTILE.md documents, then a close.
/// CRLF and LF frame the same.
#[test]
fn non_protocol_bytes_get_their_documented_replies() {
    let hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let cases: &[(&[u8], &str)] = &[
        (
            b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n",
            "ERROR unknown message\n",
        ),
        (
            b"DEVICE a\0b TYPE t\n",
            "ERROR message is not printable ASCII\n",
        ),
        (b"\0\0\0\0\n", "ERROR message is not printable ASCII\n"),
        (b"\0", "ERROR message is not printable ASCII"),
        (
            b"DEVICE caf\xc3\xa9 TYPE t\r\n",
            "ERROR message is not printable ASCII\n",
        ),
        (b"\xff\xfe\xfd\n", "ERROR message is not printable ASCII\n"),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            "ERROR message is not printable ASCII",
        ),
        (b"\n", "ERROR empty message\n"),
        (b"\r\n", "ERROR empty message\n"),
    ];
    for (bytes, want) in cases {
        assert_eq!(&first_bytes_get(&hub, bytes), want, "{bytes:?}");
    }
    // CRLF = LF: both register with newline framing and get `\n` commands.
    let mut admin = hub.admin();
    for (name, end) in [("Crlf", "\r\n"), ("Lf", "\n")] {
        let mut d = Device::connect(hub.tcp, false);
        d.stream
            .write_all(format!("DEVICE {name} TYPE t{end}").as_bytes())
            .unwrap();
        hub.wait_log(&format!("REGISTER device={name} type=t "));
        admin.cmd(&format!("send {name} ACTIVATE_ALARM"));
        assert_eq!(d.recv_text(), "ACTIVATE_ALARM\n");
        d.stream.write_all(b"ACK Command Executed\r\n").unwrap();
        assert_eq!(admin.read()["acked"], 1, "{name}");
    }
    probe.finish();
    hub.stop();
}

/// A registered device's own NUL byte or HTTP line is a violation too.
#[test]
fn garbage_after_registration_closes_only_that_device() {
    let hub = HubProc::start(&[]);
    let mut steady = WellBehaved::register(hub.addrs(), "Steady").unwrap();
    for (i, bad) in [&b"ACK\0\n"[..], b"GET / HTTP/1.1\n", b"\xc3\x28\n"]
        .iter()
        .enumerate()
    {
        let mut d = Device::register(hub.tcp, &format!("Bad{i}"), "t", true);
        hub.wait_log(&format!("REGISTER device=Bad{i}"));
        d.stream.write_all(bad).unwrap();
        let (got, closed) = read_to_close(&mut d.stream);
        assert!(closed);
        assert!(String::from_utf8(got).unwrap().starts_with("ERROR "));
        steady.exercise().unwrap();
    }
    hub.stop();
}
