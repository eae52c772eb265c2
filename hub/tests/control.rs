//! The TCP control channel against a real hub: both framings, takeover,
//! ACKs logged with their RTT, ACK timeouts, `quit`.

mod common;

use common::{eventually, Device, HubProc};

#[test]
fn an_original_client_without_newlines_works_unchanged() {
    let hub = HubProc::start(&[]);
    let mut dev = Device::register(hub.tcp, "Sensor01", "temperature", false);
    hub.wait_log("REGISTER device=Sensor01 type=temperature");
    let mut admin = hub.admin();
    assert_eq!(admin.cmd("send Sensor01 SET_INTERVAL 3")["reached"], 1);
    // Bare framing: the command arrives with no terminator, in one recv.
    assert_eq!(dev.ack_one(), "SET_INTERVAL 3");
    let done = admin.read();
    assert_eq!(
        (done["done"].as_bool(), done["acked"].as_u64()),
        (Some(true), Some(1))
    );
    admin.cmd("send Sensor01 ACTIVATE_ALARM");
    assert_eq!(dev.ack_one(), "ACTIVATE_ALARM");
    admin.read();
    let log = hub.wait_log("command=\"ACTIVATE_ALARM\" rtt_ms=");
    assert!(
        log.contains("ACK device=Sensor01 command=\"SET_INTERVAL 3\" rtt_ms="),
        "{log}"
    );
    admin.cmd("quit Sensor01");
    assert!(dev.recv().is_empty(), "quit closes the connection");
    hub.wait_log("reason=\"operator quit\"");
    hub.stop();
}

#[test]
fn a_newline_client_gets_newline_framed_commands() {
    let hub = HubProc::start(&[]);
    let mut dev = Device::register(hub.tcp, "Line01", "humidity", true);
    hub.wait_log("REGISTER device=Line01");
    hub.admin().cmd("send Line01 SET_INTERVAL 7");
    assert_eq!(dev.ack_one(), "SET_INTERVAL 7\n");
    hub.wait_log("ACK device=Line01");
    hub.stop();
}

#[test]
fn crlf_registration_is_accepted() {
    let hub = HubProc::start(&[]);
    let mut dev = Device::connect(hub.tcp, false);
    dev.send("DEVICE Crlf01 TYPE motion\r\n");
    hub.wait_log("REGISTER device=Crlf01 type=motion");
    hub.stop();
}

#[test]
fn a_duplicate_name_takes_over_and_old_acks_never_count() {
    let hub = HubProc::start(&[]);
    let mut old = Device::register(hub.tcp, "Twin", "temperature", true);
    hub.wait_log("REGISTER device=Twin");
    let mut admin = hub.admin();
    admin.cmd("send Twin ACTIVATE_ALARM");
    assert_eq!(old.recv_text(), "ACTIVATE_ALARM\n");
    let mut new = Device::register(hub.tcp, "Twin", "temperature", true);
    hub.wait_log("TAKEOVER device=Twin");
    // The old connection is closed; its pending command failed.
    assert!(old.recv().is_empty());
    let done = admin.read();
    assert_eq!(done["failed"], 1, "{done}");
    admin.cmd("send Twin SET_INTERVAL 4");
    assert_eq!(new.ack_one(), "SET_INTERVAL 4\n");
    let done = admin.read();
    assert_eq!(done["acked"], 1, "{done}");
    let s = hub.stats();
    assert_eq!(
        (s["takeovers"].as_u64(), s["acks"].as_u64()),
        (Some(1), Some(1))
    );
    hub.stop();
}

#[test]
fn an_ack_timeout_is_logged_and_a_late_ack_is_not_credited() {
    let hub = HubProc::start(&["--ack-timeout", "300ms"]);
    let mut dev = Device::register(hub.tcp, "Slow", "temperature", true);
    hub.wait_log("REGISTER device=Slow");
    let mut admin = hub.admin();
    admin.cmd("send Slow SET_INTERVAL 3");
    admin.cmd("send Slow ACTIVATE_ALARM");
    assert_eq!(dev.recv_text(), "SET_INTERVAL 3\n");
    let first = admin.read();
    assert_eq!(first["timed_out"], 1, "{first}");
    hub.wait_log("ACK_TIMEOUT device=Slow command=\"SET_INTERVAL 3\"");
    assert_eq!(dev.recv_text(), "ACTIVATE_ALARM\n");
    dev.send("ACK Command Executed"); // answers SET_INTERVAL, late
    hub.wait_log("LATE_ACK device=Slow command=\"SET_INTERVAL 3\"");
    dev.send("ACK Command Executed"); // answers ACTIVATE_ALARM
    let second = admin.read();
    assert_eq!(second["acked"], 1, "{second}");
    let s = hub.stats();
    assert_eq!(
        (s["late_acks"].as_u64(), s["ack_timeouts"].as_u64()),
        (Some(1), Some(1))
    );
    hub.stop();
}

#[test]
fn a_registration_deadline_closes_silent_connections() {
    let hub = HubProc::start(&["--registration-deadline", "300ms"]);
    let mut dev = Device::connect(hub.tcp, true);
    let got = dev.recv_text();
    assert_eq!(got, "ERROR registration deadline passed\n");
    assert!(dev.recv().is_empty());
    assert!(eventually(|| (hub.stats()["registration_timeouts"] == 1).then_some(())).is_some());
    hub.stop();
}

#[test]
fn sigterm_flushes_every_line() {
    let mut hub = HubProc::start(&[]);
    let mut devs: Vec<Device> = (0..50)
        .map(|i| Device::register(hub.tcp, &format!("D{i:03}"), "temperature", true))
        .collect();
    hub.wait_log("REGISTER device=D049");
    drop(devs.drain(..));
    let status = hub.signal(libc::SIGTERM);
    assert!(status.success());
    let log = hub.log_text();
    assert!(log.ends_with("SHUTDOWN\n"), "{log}");
    assert_eq!(log.matches(" REGISTER ").count(), 50);
}

#[test]
fn bind_all_interfaces_serves_devices_and_keeps_admin_on_loopback() {
    let mut hub = HubProc::start(&["--bind", "0.0.0.0"]);
    assert!(hub.seen.contains("tcp=0.0.0.0:"), "{}", hub.seen);
    assert!(hub.seen.contains("admin=127.0.0.1:"), "{}", hub.seen);
    let mut dev = Device::register(hub.tcp, "Any01", "motion", true);
    hub.wait_log("REGISTER device=Any01");
    hub.admin().cmd("send Any01 ACTIVATE_ALARM");
    assert_eq!(dev.ack_one(), "ACTIVATE_ALARM\n");
    hub.wait_log("ACK device=Any01");
    assert!(hub.alive());
    hub.stop();
}
