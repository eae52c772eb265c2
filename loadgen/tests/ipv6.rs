//! A hub on `::1`, end to end: devices, STATUS and the admin port all on
//! IPv6 loopback (`--hub ::1`), and a split setup where only the admin
//! port is on 127.0.0.1 (`--admin-host`). Every check must pass.

mod common;

use std::net::IpAddr;
use std::process::Command;

use common::u;
use hub::config::HubConfig;
use hub::server::Hub;
use serde_json::Value;

fn run_against(bind: IpAddr, admin_bind: IpAddr, extra: &[&str]) -> Value {
    let log =
        std::env::temp_dir().join(format!("ipv6-test-{}-{admin_bind}.log", std::process::id()));
    let cfg = HubConfig {
        bind,
        admin_bind,
        tcp_port: 0,
        udp_port: 0,
        admin_port: 0,
        ..HubConfig::embedded(log.clone())
    };
    let hub = Hub::bind(cfg).and_then(Hub::spawn).expect("hub on ::1");
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--hub", "::1"])
        .args(["--tcp-port", &hub.tcp_addr.port().to_string()])
        .args(["--udp-port", &hub.udp_addr.port().to_string()])
        .args(["--admin-port", &hub.admin_addr.port().to_string()])
        .args(["--devices", "5", "--duration", "2s", "--interval", "200ms"])
        .args(["--command-every", "1s", "--seed", "6", "--quiet"])
        .args(extra)
        .output()
        .expect("run loadgen");
    hub.shutdown().expect("hub shutdown");
    let _ = std::fs::remove_file(&log);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    serde_json::from_slice(&out.stdout).expect("report")
}

fn assert_all_passed(r: &Value) {
    for c in r["checks"].as_array().expect("checks") {
        assert_eq!(c["passed"], true, "{c}");
    }
    assert!(u(r, "commands.waves") >= 1, "{}", r["commands"]);
    assert_eq!(u(r, "devices.hub_registered"), 5);
}

#[test]
fn a_hub_on_ipv6_loopback_is_verified_end_to_end() {
    let v6: IpAddr = "::1".parse().unwrap();
    let r = run_against(v6, v6, &[]);
    assert!(r["run"]["hub_admin"].as_str().unwrap().starts_with("[::1]"));
    assert_all_passed(&r);
}

#[test]
fn admin_host_points_at_another_address() {
    let r = run_against(
        "::1".parse().unwrap(),
        "127.0.0.1".parse().unwrap(),
        &["--admin-host", "127.0.0.1"],
    );
    assert!(r["run"]["hub_admin"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert_all_passed(&r);
}
