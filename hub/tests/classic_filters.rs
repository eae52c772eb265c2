//! Classic mode is an observer of the one datagram path: `--classic`
//! changes what the hub prints, never which datagrams it admits. With
//! `--classic --udp-registered-only` a reading for a name never registered
//! over TCP is dropped unanswered and counted in `unknown_device`, exactly
//! as without `--classic`; a registered name is still served.
//!
//! The hub runs in-process (`Hub::bind` on port 0) so the test can read
//! its admin port, which classic mode leaves out of its banner; every
//! exchange is raw bytes over loopback.

mod common;

use std::time::Duration;

use common::{eventually, Admin, Device, Sensor};
use hub::config::HubConfig;
use hub::server::{Hub, HubHandle};

fn start(classic: bool, registered_only: bool) -> (HubHandle, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "hub-classic-filters-{}-{classic}-{registered_only}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cfg = HubConfig::embedded(dir.join("server_log.txt"));
    cfg.classic = classic;
    cfg.udp_registered_only = registered_only;
    (Hub::bind(cfg).unwrap().spawn().unwrap(), dir)
}

fn udp_counter(hub: &HubHandle, key: &str) -> u64 {
    let v = Admin::connect(hub.admin_addr).cmd("stats");
    assert_eq!(v["ok"], true, "{v}");
    v["stats"]["udp"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no udp.{key} in {v}"))
}

/// Ten readings for `Stranger`, then the count of `unknown_device` once it
/// has seen all ten (or whatever it reached by the deadline), and whether
/// a STATUS came back.
fn stranger_round(hub: &HubHandle) -> (u64, bool) {
    let s = Sensor::new(hub.udp_addr);
    for seq in 1..=10 {
        s.reading("Stranger", seq, None);
    }
    let unknown = eventually(|| {
        let n = udp_counter(hub, "unknown_device");
        (n >= 10).then_some(n)
    })
    .unwrap_or_else(|| udp_counter(hub, "unknown_device"));
    // The counter proves all ten were handled: a STATUS, had one been
    // sent, was sent before it moved.
    let answered = !s.silent_for(Duration::from_millis(200));
    (unknown, answered)
}

#[test]
fn classic_mode_keeps_the_registered_only_filter() {
    let (plain, plain_dir) = start(false, true);
    let (unknown_plain, answered_plain) = stranger_round(&plain);
    plain.shutdown().unwrap();

    let (classic, classic_dir) = start(true, true);
    let (unknown_classic, answered_classic) = stranger_round(&classic);
    assert_eq!(unknown_plain, 10, "without --classic");
    assert!(!answered_plain, "without --classic a stranger got a STATUS");
    assert_eq!(
        unknown_classic, unknown_plain,
        "--classic --udp-registered-only must drop and count as without --classic"
    );
    assert!(
        !answered_classic,
        "--classic --udp-registered-only answered an unregistered name"
    );
    assert_eq!(udp_counter(&classic, "packets_received"), 0);

    // A name registered over TCP still gets its STATUS in classic mode.
    let _dev = Device::register(classic.tcp_addr, "Known", "sensor", true);
    let registered = eventually(|| {
        let v = Admin::connect(classic.admin_addr).cmd("get Known");
        (v["ok"] == true && !v["registration"].is_null()).then_some(())
    });
    assert!(registered.is_some(), "Known never registered");
    let s = Sensor::new(classic.udp_addr);
    for seq in 1..=10 {
        s.reading("Known", seq, None);
    }
    assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    assert_eq!(udp_counter(&classic, "unknown_device"), 10);
    classic.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(plain_dir);
    let _ = std::fs::remove_dir_all(classic_dir);
}

/// The other half of the contract: classic mode without the filter serves
/// the original client, which never registers.
#[test]
fn classic_mode_without_the_filter_serves_strangers() {
    let (hub, dir) = start(true, false);
    let s = Sensor::new(hub.udp_addr);
    for seq in 1..=10 {
        s.reading("Stranger", seq, None);
    }
    assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    assert_eq!(udp_counter(&hub, "unknown_device"), 0);
    hub.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
