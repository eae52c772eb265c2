//! Issue case 16: the hub restarts mid-run on the same ports. The test
//! process plays the hub (the library, on its own thread), the loadgen
//! binary runs against it as an external hub; after ~2 s the hub is shut
//! down and, ~1 s later, a fresh one is bound to the same ports. Devices and
//! operator must reconnect with backoff, the lost cycles must end as STATUS
//! timeouts with exact accounting, and the report's timeline and outage
//! summary must show the gap.

mod common;

use common::u;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hub::config::HubConfig;
use hub::server::{Hub, HubHandle};
use serde_json::Value;

const DEVICES: u64 = 20;
/// Longest the loadgen subprocess may run (6 s run + 1 s STATUS timeout +
/// drain is about 8 s).
const CHILD_DEADLINE: Duration = Duration::from_secs(30);

fn log_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("restart-test-{}-{tag}.log", std::process::id()))
}

/// Binds a hub on `ports` (0 = any) and runs it on a thread. A rebind on
/// fixed ports is retried for a moment, bounded, in case the old sockets
/// are not released yet.
fn start_hub(ports: (u16, u16, u16), tag: &str) -> HubHandle {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let cfg = HubConfig {
            tcp_port: ports.0,
            udp_port: ports.1,
            admin_port: ports.2,
            ..HubConfig::embedded(log_path(tag))
        };
        match Hub::bind(cfg).and_then(Hub::spawn) {
            Ok(h) => return h,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("cannot start hub on {ports:?}: {e}"),
        }
    }
}

fn port(a: SocketAddr) -> String {
    a.port().to_string()
}

/// How long the hub stays down between the two runs.
const OUTAGE: Duration = Duration::from_secs(1);

/// One `stats` request on the admin port, or `None` if it cannot be had.
fn admin_stats(admin: SocketAddr) -> Option<Value> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(admin).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"stats\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}

/// Waits, until `deadline` at most, for every device to be registered and
/// at least one whole wave ACKed; panics past the deadline.
fn wait_for_fleet(admin: SocketAddr, deadline: Instant) {
    loop {
        let st = admin_stats(admin);
        let got = |k: &str| {
            st.as_ref()
                .and_then(|v| v["stats"][k].as_u64())
                .unwrap_or(0)
        };
        if got("registered") == DEVICES && got("acks") >= DEVICES {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fleet not up with a wave ACKed in time: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn devices_reconnect_after_a_hub_restart_and_the_report_shows_the_gap() {
    let hub = start_hub((0, 0, 0), "a");
    let ports = (
        hub.tcp_addr.port(),
        hub.udp_addr.port(),
        hub.admin_addr.port(),
    );
    let out = std::env::temp_dir().join(format!("restart-test-{}.json", std::process::id()));
    let spawned = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--hub", "127.0.0.1"])
        .args(["--tcp-port", &port(hub.tcp_addr)])
        .args(["--udp-port", &port(hub.udp_addr)])
        .args(["--admin-port", &port(hub.admin_addr)])
        .args(["--devices", &DEVICES.to_string()])
        .args(["--duration", "6s", "--interval", "200ms"])
        .args(["--command-every", "1s", "--status-timeout", "1s"])
        .args(["--seed", "16", "--max-unexplained-loss", "0"])
        .args(["--min-registered", &DEVICES.to_string()])
        // The outage is the experiment: its unanswered cycles and the admin
        // errors while the hub is down are expected, and nothing else.
        .args(["--allow-failed-check", "cycles_answered"])
        .args(["--allow-failed-check", "admin_reachable"])
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loadgen");

    // The restart comes once the fleet is up and a wave was ACKed by all
    // (the hub's own counters say so), not after a fixed sleep.
    wait_for_fleet(hub.admin_addr, spawned + Duration::from_secs(4));
    hub.shutdown().expect("hub shutdown");
    let down_at = spawned.elapsed();
    // The outage itself: the scenario's parameter, not a synchronisation.
    std::thread::sleep(OUTAGE);
    let hub = start_hub(ports, "b");
    let up_at = spawned.elapsed();

    let status = common::fleet::wait_bounded(&mut child, spawned + CHILD_DEADLINE, "loadgen");
    let mut stderr = String::new();
    io::Read::read_to_string(child.stderr.as_mut().expect("piped"), &mut stderr).ok();
    hub.shutdown().expect("hub shutdown");
    assert!(status.success(), "loadgen failed ({status}): {stderr}");
    let r: Value = serde_json::from_slice(&std::fs::read(&out).expect("report written"))
        .unwrap_or_else(|e| panic!("bad JSON ({e}); stderr: {stderr}"));
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(log_path("a"));
    let _ = std::fs::remove_file(log_path("b"));

    eprintln!(
        "hub down at {down_at:?}, up at {up_at:?}\ndevices {}\nudp {}\nerrors {}",
        r["devices"], r["udp"], r["commands"]["errors"]
    );
    for s in r["timeline"].as_array().into_iter().flatten() {
        eprintln!("{s}");
    }

    // Every device came back, through refused connects that backed off.
    let d = &r["devices"];
    assert_eq!(u(&r, "devices.registered"), DEVICES);
    assert_eq!(u(&r, "devices.up_at_end"), DEVICES, "{d}");
    assert!(u(&r, "devices.reconnects") >= DEVICES, "{d}");
    let failures = u(&r, "devices.connect_failures");
    assert!(
        failures <= DEVICES * 10,
        "{failures} connect failures for a ~1 s outage: backoff is spinning"
    );

    // The gap: an outage of about the hub's downtime plus backoff.
    let longest = u(&r, "devices.longest_outage_ms");
    assert!((500..=5000).contains(&longest), "{d}");
    assert!(u(&r, "devices.outage_count") >= 1);

    // The timeline: a second short of devices, then all back.
    let tl = r["timeline"].as_array().expect("timeline");
    let dip = tl
        .iter()
        .position(|s| u(s, "devices_up") < DEVICES)
        .unwrap_or_else(|| panic!("no dip in {tl:?}"));
    assert!(
        tl[dip..].iter().any(|s| u(s, "devices_up") == DEVICES),
        "{tl:?}"
    );
    let col = |k: &str| tl.iter().map(|s| u(s, k)).sum::<u64>();
    assert_eq!(col("datagrams_sent"), u(&r, "udp.sent"));
    assert_eq!(col("reconnects"), u(&r, "devices.reconnects"));
    assert_eq!(col("status_timeouts"), u(&r, "udp.status_timeouts"));
    // Data flowed again after the restart.
    let back = (up_at.as_secs_f64().ceil() as u64) + 2;
    assert!(
        tl.iter()
            .any(|s| u(s, "t_s") >= back && u(s, "datagrams_sent") > 0),
        "{tl:?}"
    );

    // Accounting stays exact: the dead hub's cycles are STATUS timeouts.
    assert_eq!(r["udp"]["identity"], "ok", "{}", r["udp"]);
    assert_eq!(r["udp"]["unexplained_loss"], 0, "{}", r["udp"]);
    assert!(u(&r, "udp.status_timeouts") >= 1, "{}", r["udp"]);
    assert_eq!(u(&r, "udp.open_at_end"), 0, "{}", r["udp"]);

    // The operator reconnected and waves after the restart were ACKed.
    let c = &r["commands"];
    assert!(u(&r, "commands.admin_reconnects") >= 1, "{c}");
    let after: Vec<&Value> = c["wave_list"]
        .as_array()
        .expect("wave_list")
        .iter()
        .filter(|w| u(w, "sent_at_ms") > up_at.as_millis() as u64)
        .collect();
    assert!(
        after
            .iter()
            .any(|w| w["done"] == true && u(w, "reached") > 0 && u(w, "acked") == u(w, "reached")),
        "no ACKed wave after the restart at {up_at:?} (down at {down_at:?}): {c}"
    );
    assert!(r["hub_stats"]["stats"].is_object());
    // The outage shows in the verdict, waived by name; the rest passed.
    let failed: Vec<&str> = r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&"cycles_answered"), "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|n| ["cycles_answered", "admin_reachable"].contains(n)),
        "{failed:?}"
    );
    assert_eq!(r["ok"], true);
}
