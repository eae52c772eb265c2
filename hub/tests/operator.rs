//! The operator's interfaces against a real hub: the stdin console and the
//! admin port, including a broadcast wave and error replies.

mod common;

use common::{eventually, Device, HubProc};

#[test]
fn a_broadcast_wave_reports_reached_then_the_tally() {
    let hub = HubProc::start(&[]);
    let mut devs: Vec<Device> = (0..20)
        .map(|i| {
            Device::register(
                hub.tcp,
                &format!("W{i:02}"),
                if i % 2 == 0 {
                    "temperature"
                } else {
                    "humidity"
                },
                i % 3 == 0,
            )
        })
        .collect();
    assert!(eventually(|| (hub.stats()["registered"] == 20).then_some(())).is_some());
    let mut admin = hub.admin();
    let first = admin.cmd("send * SET_INTERVAL 5");
    assert_eq!(
        (first["ok"].as_bool(), first["reached"].as_u64()),
        (Some(true), Some(20)),
        "{first}"
    );
    for d in devs.iter_mut() {
        let cmd = d.ack_one();
        assert_eq!(cmd.trim_end(), "SET_INTERVAL 5");
    }
    let done = admin.read();
    assert_eq!(done["wave"], first["wave"]);
    assert_eq!(
        (
            done["acked"].as_u64(),
            done["timed_out"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some(20), Some(0), Some(0)),
        "{done}"
    );
    assert!(done["elapsed_us"].as_u64().unwrap() > 0);
    // By type: only the ten humidity sensors.
    let by_type = admin.cmd("send type=humidity ACTIVATE_ALARM");
    assert_eq!(by_type["reached"], 10);
    for d in devs.iter_mut().skip(1).step_by(2) {
        assert_eq!(d.ack_one().trim_end(), "ACTIVATE_ALARM");
    }
    assert_eq!(admin.read()["acked"], 10);
    let s = hub.stats();
    assert_eq!(s["acks"], 30);
    assert_eq!(s["ack_rtt_us"]["count"], 30);
    hub.stop();
}

#[test]
fn a_prefix_and_id_range_wave_reaches_only_that_generators_devices() {
    // Two generators on one hub: Sensor001..=005 and Sensor006..=010, plus
    // a device of another prefix. A wave for 6..=10 reaches only those five.
    let hub = HubProc::start(&[]);
    let mut devs: Vec<Device> = (1..=10)
        .map(|i| Device::register(hub.tcp, &format!("Sensor{i:03}"), "t", false))
        .collect();
    let _other = Device::register(hub.tcp, "Probe007", "t", false);
    assert!(eventually(|| (hub.stats()["registered"] == 11).then_some(())).is_some());
    let mut admin = hub.admin();
    let first = admin.cmd("send prefix=Sensor,ids=6-10 ACTIVATE_ALARM");
    assert_eq!(first["reached"], 5, "{first}");
    for d in devs.iter_mut().skip(5) {
        assert_eq!(d.ack_one().trim_end(), "ACTIVATE_ALARM");
    }
    let done = admin.read();
    assert_eq!(
        (done["acked"].as_u64(), done["failed"].as_u64()),
        (Some(5), Some(0)),
        "{done}"
    );
    // Only the five got a command: the hub sent exactly five.
    assert_eq!(hub.stats()["commands_sent"], 5);
    assert_eq!(admin.cmd("send prefix=Probe SET_INTERVAL 4")["reached"], 1);
    let bad = admin.cmd("send prefix=Sensor,ids=9-1 ACTIVATE_ALARM");
    assert_eq!(bad["ok"], false, "{bad}");
    assert_eq!(admin.cmd("quit prefix=Sensor,ids=1-2")["closed"], 2);
    assert!(eventually(|| (hub.stats()["registered"] == 9).then_some(())).is_some());
    hub.stop();
}

#[test]
fn admin_errors_are_one_json_line() {
    let hub = HubProc::start(&[]);
    let mut admin = hub.admin();
    for (line, want) in [
        ("send Nobody ACTIVATE_ALARM", "unknown device 'Nobody'"),
        ("frobnicate", "unknown command 'frobnicate' (try: help)"),
        (
            "send Sensor01 SET_INTERVAL 0",
            "SET_INTERVAL takes a whole number of seconds from 1 to 86400",
        ),
        ("quit Nobody", "unknown device 'Nobody'"),
    ] {
        let r = admin.cmd(line);
        assert_eq!(r["ok"], false, "{line}");
        assert_eq!(r["error"], want, "{line}");
    }
    let list = admin.cmd("list");
    assert_eq!(list, serde_json::json!({"ok": true, "listed": 0}));
    hub.stop();
}

#[test]
fn stats_has_every_documented_counter() {
    let hub = HubProc::start(&[]);
    let s = hub.stats();
    for k in [
        "connections",
        "registered",
        "registrations",
        "takeovers",
        "commands_sent",
        "acks",
        "ack_timeouts",
        "late_acks",
        "udp_rcvbuf_drops",
        "udp_rcvbuf_granted",
        "ack_rtt_us",
        "log",
        "loop",
    ] {
        assert!(s.get(k).is_some(), "stats lacks {k}: {s}");
    }
    for k in [
        "datagrams",
        "malformed",
        "duplicates",
        "closed_last_seq",
        "closed_newer_cycle",
        "closed_timeout",
        "packets_missing",
    ] {
        assert!(s["udp"].get(k).is_some(), "stats.udp lacks {k}");
    }
    for k in ["p50", "p90", "p99", "p999", "max", "count"] {
        assert!(s["ack_rtt_us"].get(k).is_some());
    }
    hub.stop();
}

#[test]
fn the_console_sends_lists_and_shuts_down() {
    let mut hub = HubProc::start(&[]);
    let mut dev = Device::register(hub.tcp, "Con01", "temperature", false);
    hub.wait_log("REGISTER device=Con01");
    hub.console("list");
    hub.wait_stdout("Con01 temperature 127.0.0.1:");
    hub.console("send Con01 ACTIVATE_ALARM");
    assert_eq!(dev.ack_one(), "ACTIVATE_ALARM");
    hub.wait_stdout("wave 1: done in");
    hub.console("send Ghost SET_INTERVAL 3");
    hub.wait_stdout("error: unknown device 'Ghost'");
    hub.console("bogus");
    hub.wait_stdout("error: unknown command 'bogus' (try: help)");
    hub.console("shutdown");
    let status = hub.wait_exit();
    assert!(status.success());
    assert!(hub.log_text().ends_with("SHUTDOWN\n"));
}

#[test]
fn admin_shutdown_exits_cleanly() {
    let mut hub = HubProc::start(&[]);
    assert_eq!(hub.admin().cmd("shutdown")["shutdown"], true);
    assert!(hub.wait_exit().success());
}
