//! Network faults beyond loss (`--reorder`, `--duplicate`, `--corrupt`,
//! `--delay`) on real sockets, against the embedded hub: every datagram
//! keeps one fate and the accounting stays exact, the fault checks pass
//! against the real hub (the rogue hubs of `tests/rogue_hubs.rs` fail
//! them), an injected delay shows in the STATUS latency, and bad values are
//! refused like every other flag.

mod common;

use common::{check, loadgen, report, u};
use std::process::Command;

use serde_json::Value;

/// A small fleet (10 devices, 3 s) with `extra` flags; asserts every
/// check passed.
fn healthy(extra: &[&str]) -> Value {
    fleet("10", "3s", extra)
}

fn fleet(devices: &str, duration: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "--devices",
        devices,
        "--duration",
        duration,
        "--interval",
        "100ms",
        "--command-every",
        "1s",
        "--seed",
        "5",
    ];
    args.extend_from_slice(extra);
    let out = loadgen(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{extra:?}: {err}");
    let r = report(&out);
    for c in r["checks"].as_array().unwrap() {
        assert_eq!(c["passed"], true, "{extra:?}: {c}");
    }
    r
}

/// The identities of SCHEMA.md, with the new fates.
fn assert_exact(r: &Value) {
    let udp = &r["udp"];
    let f = &udp["fates"];
    assert_eq!(udp["identity"], "ok", "{udp}");
    assert_eq!(udp["unexplained_loss"], 0, "{udp}");
    assert_eq!(
        u(udp, "generated"),
        u(f, "received")
            + u(f, "reordered")
            + u(f, "missing")
            + u(f, "unknown")
            + u(f, "corrupted")
            + u(f, "injected")
            + u(f, "send_errors")
            + u(f, "unsent"),
        "{f}"
    );
    assert_eq!(u(f, "missing") + u(f, "unknown"), 0, "{f}");
    assert_eq!(u(udp, "missing_not_injected"), 0, "{udp}");
    assert_eq!(
        u(&udp["faults"], "wire"),
        u(udp, "sent") + u(f, "duplicated")
    );
}

#[test]
fn every_fault_at_once_keeps_one_fate_per_datagram_against_the_real_hub() {
    let r = healthy(&[
        "--loss",
        "0.05",
        "--reorder",
        "0.2",
        "--duplicate",
        "0.2",
        "--corrupt",
        "0.05",
        "--delay",
        "5±3",
    ]);
    assert_exact(&r);
    let udp = &r["udp"];
    let (f, x) = (&udp["fates"], &udp["faults"]);
    assert!(u(f, "reordered") > 0 && u(f, "corrupted") > 0 && u(f, "duplicated") > 0);
    assert!(u(f, "injected") > 0, "{f}");
    // Every reordered SEQ was counted received, no corrupted one was.
    assert_eq!(u(x, "reordered_sent"), u(f, "reordered"), "{x}");
    assert_eq!(u(x, "reordered_missing") + u(x, "corrupted_not_missing"), 0);
    // What the hub saw: every copy is a duplicate of its open cycle, late
    // (a copy of the last SEQ), or malformed (a copy of a corrupted one).
    // Exact, as the embedded hub serves only this run (no warm-up).
    assert_eq!(
        u(x, "hub_duplicates") + u(x, "hub_late") + u(x, "hub_malformed"),
        u(f, "duplicated") + u(f, "corrupted"),
        "{x}"
    );
    // Missing = dropped + corrupted, exactly.
    assert_eq!(
        u(udp, "reported_missing"),
        u(udp, "injected_in_closed_cycles") + u(x, "corrupted_in_closed_cycles")
    );
    for name in [
        "duplicates_counted_once",
        "reordered_received",
        "corrupted_rejected",
    ] {
        assert_eq!(check(&r, name)["passed"], true);
    }
    assert_eq!(r["config"]["faults"]["delay"]["ms"], 5);
}

/// The runs `tests/rogue_hubs.rs` makes against the hubs that count a
/// duplicate twice or lose a reordered SEQ pass against the real one.
#[test]
fn the_real_hub_passes_the_runs_that_catch_the_rogue_hubs() {
    for flags in [["--duplicate", "0.2"], ["--reorder", "0.2"]] {
        let r = healthy(&flags);
        assert_exact(&r);
    }
    // Every datagram duplicated, every eligible one reordered.
    let r = healthy(&["--duplicate", "1", "--reorder", "1"]);
    assert_exact(&r);
    let f = &r["udp"]["fates"];
    assert_eq!(u(f, "duplicated"), u(&r, "udp.sent"), "{f}");
    // SEQs 1..=8 may be held, each pair swapped: 4 per 10-SEQ cycle.
    assert_eq!(u(f, "reordered"), 4 * u(&r, "udp.statuses"), "{f}");
}

#[test]
fn an_injected_delay_shows_in_status_latency_beside_the_hubs_share() {
    let r = fleet("5", "3s", &["--delay", "50"]);
    assert_exact(&r);
    let lat = &r["latency_us"];
    let status = u(lat, "status.p50");
    let injected = u(lat, "injected_delay.p50");
    let hub = u(lat, "status_hub.p50");
    // Exactly the delay asked for (HdrHistogram: 3 significant digits).
    assert!(
        (49_900..=50_100).contains(&injected),
        "{}",
        lat["injected_delay"]
    );
    assert_eq!(u(lat, "injected_delay.count"), u(lat, "status.count"));
    assert!(status >= 50_000, "status p50 {status} µs");
    // The hub's share is the rest: small on loopback (a loose bound; this
    // is not a performance test).
    assert!(hub < 25_000, "hub share p50 {hub} µs");
    assert!(status.abs_diff(injected + hub) < 2_000, "{lat}");
    // Without --delay, no injected share is recorded.
    let plain = fleet("5", "1s", &[]);
    assert_eq!(u(&plain["latency_us"], "injected_delay.count"), 0);
}

#[test]
fn bad_fault_values_exit_2_with_one_line() {
    for (flag, value, says) in [
        ("--reorder", "1.5", "--reorder must be a probability"),
        ("--duplicate", "-0.1", "--duplicate must be a probability"),
        (
            "--corrupt",
            "1",
            "--corrupt must be a probability in [0, 1)",
        ),
        ("--corrupt", "lots", "invalid value 'lots' for '--corrupt"),
        ("--delay", "fast", "--delay fast"),
        ("--delay", "50±60", "jitter must not exceed the delay"),
        ("--delay", "2500", "at most 2000 ms"),
    ] {
        let out = loadgen(&["--devices", "1", &format!("{flag}={value}")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{flag} {value}: {err}");
        assert!(err.contains(says), "{flag} {value}: {err}");
        assert!(out.stdout.is_empty());
    }
    // Open loop: a delay longer than a device's line can hold.
    let out = loadgen(&["--devices", "1", "--rate", "100000", "--delay", "100"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("would hold 10000 datagrams"), "{err}");
}

#[test]
fn help_names_every_fault_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for f in [
        "--reorder <P>",
        "--duplicate <P>",
        "--corrupt <P>",
        "--delay <MS[±JITTER]>",
    ] {
        assert!(help.contains(f), "{f}: {help}");
    }
}
