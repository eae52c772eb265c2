//! End-to-end: the loadgen binary against its embedded hub, small fleets for
//! a few seconds, asserting the report's accounting and the exit codes.

mod common;

use common::{loadgen, report, u};
use std::process::Command;

#[test]
fn small_fleet_accounts_for_every_datagram() {
    let out = loadgen(&[
        "--devices",
        "20",
        "--duration",
        "3s",
        "--loss",
        "0.05",
        "--seed",
        "7",
        "--interval",
        "200ms",
        "--command-every",
        "1s",
        "--kick-every",
        "700ms",
        "--max-unexplained-loss",
        "0",
        "--min-registered",
        "20",
        "--max-p99-ms",
        "5000",
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);

    // Every required key.
    assert_eq!(r["schema_version"], 2);
    // Every check passed, each with its figure; fates add up.
    for c in r["checks"].as_array().expect("checks") {
        assert_eq!(c["passed"], true, "{c}");
    }
    let f = &r["udp"]["fates"];
    assert_eq!(
        u(&r, "udp.sent"),
        u(f, "received") + u(f, "missing") + u(f, "unknown"),
        "{f}"
    );
    assert_eq!(u(f, "unknown"), 0, "{f}");
    for k in [
        "command_line",
        "seed",
        "start_time",
        "crate_version",
        "git_commit",
        "machine",
    ] {
        assert!(r["run"].get(k).is_some(), "run.{k}");
    }
    for k in ["cores", "kernel", "ulimit_n", "sysctls"] {
        assert!(r["run"]["machine"].get(k).is_some(), "run.machine.{k}");
    }
    assert!(r["config"].is_object());
    for k in ["requested", "registered", "reconnects"] {
        assert!(r["devices"][k].is_u64(), "devices.{k}");
    }
    for k in [
        "sent",
        "injected_drops",
        "reported_missing",
        "statuses",
        "status_timeouts",
    ] {
        assert!(r["udp"][k].is_u64(), "udp.{k}");
    }
    assert!(r["udp"]["unexplained_loss"].is_i64());
    assert!(r["udp"]["datagrams_per_s"].is_f64());
    for k in ["waves", "sent", "acked", "timed_out"] {
        assert!(r["commands"][k].is_u64(), "commands.{k}");
    }
    for kind in ["connect", "command_delivery", "command_rtt", "status"] {
        for k in ["p50", "p90", "p99", "p999", "max", "count"] {
            assert!(r["latency_us"][kind][k].is_u64(), "latency_us.{kind}.{k}");
        }
        assert!(r["latency_us"][kind]["hist"]
            .as_str()
            .is_some_and(|s| !s.is_empty()));
        assert!(
            u(&r, &format!("latency_us.{kind}.count")) > 0,
            "{kind} has samples"
        );
    }

    // Accounting: exact.
    assert_eq!(r["udp"]["identity"], "ok");
    assert_eq!(r["udp"]["unexplained_loss"], 0);
    assert_eq!(
        u(&r, "udp.generated"),
        u(&r, "udp.sent") + u(&r, "udp.injected_drops") + u(&r, "udp.send_errors")
    );
    assert!(u(&r, "udp.injected_drops") > 0);
    // Nothing left open or timed out on an idle machine, so every injected
    // drop is reported missing and every cycle got its STATUS.
    assert_eq!(u(&r, "udp.status_timeouts"), 0);
    assert_eq!(u(&r, "udp.open_at_end"), 0);
    assert_eq!(u(&r, "udp.reported_missing"), u(&r, "udp.injected_drops"));
    assert_eq!(
        u(&r, "udp.statuses"),
        u(&r, "udp.cycles_started") - u(&r, "udp.unseen_cycles")
    );
    assert_eq!(u(&r, "udp.missing_not_injected"), 0);
    assert_eq!(u(&r, "udp.reported_received"), u(&r, "udp.sent"));

    // Devices and reconnects: the operator quit some and they came back.
    assert_eq!(u(&r, "devices.registered"), 20);
    assert!(u(&r, "commands.kicks") >= 2);
    assert!(u(&r, "devices.reconnects") >= 1);
    assert_eq!(u(&r, "devices.up_at_end"), 20);

    // Commands: waves reached everyone and were ACKed.
    assert!(u(&r, "commands.waves") >= 2);
    assert_eq!(u(&r, "commands.acked"), u(&r, "commands.sent"));
    assert_eq!(u(&r, "commands.timed_out"), 0);
    assert!(u(&r, "commands.set_interval_applied") >= 20);
    assert!(u(&r, "commands.alarms_activated") >= 1);
    // A device ACKs before the hub can report the wave done, so command
    // latency never exceeds the slowest wave as loadgen observed it (this
    // caught workers and operator timing waves from different origins).
    let slowest = r["commands"]["wave_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| u(w, "observed_us"))
        .max()
        .unwrap();
    let rtt_max = u(&r, "latency_us.command_rtt.max");
    assert!(
        rtt_max <= slowest + slowest / 100 + 1,
        "command_rtt max {rtt_max} µs > slowest wave {slowest} µs"
    );
    assert!(r["hub_stats"]["stats"].is_object());
}

#[test]
fn set_interval_changes_the_datagram_rate() {
    let base = [
        "--devices",
        "20",
        "--duration",
        "3s",
        "--interval",
        "200ms",
        "--seed",
        "1",
    ];
    let fast = std::thread::spawn(move || {
        let mut no_waves = base.to_vec();
        no_waves.extend(["--command-every", "0"]);
        loadgen(&no_waves)
    });
    let mut slowed = base.to_vec();
    slowed.extend(["--command-every", "500ms", "--set-interval", "3"]);
    let slow = loadgen(&slowed);
    let fast = fast.join().unwrap();
    let (f, s) = (report(&fast), report(&slow));
    assert!(u(&s, "commands.set_interval_applied") >= 20);
    let (fs, ss) = (u(&f, "udp.sent"), u(&s, "udp.sent"));
    assert!(
        ss * 2 < fs,
        "SET_INTERVAL 3 should slow the fleet: {ss} vs {fs}"
    );
    assert_eq!(s["udp"]["unexplained_loss"], 0);
}

#[test]
fn thresholds_set_the_exit_code() {
    let out = loadgen(&[
        "--devices",
        "5",
        "--duration",
        "1s",
        "--interval",
        "100ms",
        "--max-p99-ms",
        "0.001",
        "--min-registered",
        "6",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    // The summary names both failed thresholds; the last line says why.
    assert!(
        err.contains("✗ max_p99_ms") && err.contains("✗ min_registered"),
        "{err}"
    );
    let reason = err.lines().last().unwrap_or("");
    assert!(
        reason.starts_with("loadgen: check failed:")
            && reason.contains("max_p99_ms: worst p99 status")
            && reason.contains("min_registered: registered 5 (minimum 6)"),
        "{err}"
    );
    // The report is still written.
    assert_eq!(report(&out)["ok"], false);
}

#[test]
fn refuses_a_fleet_that_cannot_fit_and_bad_flags() {
    let out = loadgen(&["--devices", "900000"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ulimit -n") || err.contains("ephemeral"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let out = loadgen(&["--duration", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    let out = loadgen(&["--hub", "192.0.2.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

#[test]
fn open_loop_rate_reports_corrected_and_raw_latency() {
    let out = loadgen(&[
        "--devices",
        "10",
        "--duration",
        "2s",
        "--rate",
        "500",
        "--loss",
        "0.02",
        "--seed",
        "3",
        "--max-unexplained-loss",
        "0",
    ]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    assert_eq!(r["udp"]["identity"], "ok");
    let sent = u(&r, "udp.generated") as f64;
    assert!(
        (700.0..=1100.0).contains(&sent),
        "about 1000 datagrams in 2 s at 500/s: {sent}"
    );
    assert!(u(&r, "latency_us.status_raw.count") > 0);
    assert_eq!(
        u(&r, "latency_us.status.count"),
        u(&r, "latency_us.status_raw.count")
    );
}

#[test]
fn the_embedded_hub_records_every_reading_and_the_identity_is_exact() {
    let dir = std::env::temp_dir().join(format!("loadgen-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("kept.db");
    let base = [
        "--devices",
        "10",
        "--duration",
        "2s",
        "--loss",
        "0.05",
        "--seed",
        "3",
        "--interval",
        "100ms",
    ];
    // Default: a temporary file, removed; nothing lands in the cwd.
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(base)
        .arg("--quiet")
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    let rec = &r["recorder"];
    assert_eq!(rec["identity"], "ok", "{rec}");
    assert_eq!(rec["exact"], true, "{rec}");
    assert!(u(rec, "accepted") > 0);
    assert_eq!(
        u(rec, "accepted"),
        u(rec, "written") + u(rec, "dropped_queue_full") + u(rec, "write_errors")
    );
    assert_eq!(
        u(rec, "dropped_queue_full") + u(rec, "write_errors"),
        0,
        "{rec}"
    );
    let tmp = rec["path"].as_str().unwrap().to_string();
    assert!(
        !std::path::Path::new(&tmp).exists(),
        "{tmp} was left behind"
    );
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert!(left.is_empty(), "loadgen left files in its cwd: {left:?}");

    // --hub-recorder keeps the database.
    let out = loadgen(&[&base[..], &["--hub-recorder", db.to_str().unwrap()]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    assert_eq!(r["recorder"]["identity"], "ok");
    assert_eq!(r["config"]["hub_recorder"]["kind"], "path");
    assert!(std::fs::metadata(&db).unwrap().len() > 0);

    // --hub-no-recorder: no recorder section.
    let out = loadgen(&[&base[..], &["--hub-no-recorder"]].concat());
    assert!(out.status.success());
    assert!(report(&out)["recorder"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_shorter_than_command_every_still_measures_a_wave() {
    // Default --command-every is 5 s; the run is 2 s.
    let out = loadgen(&["--devices", "10", "--duration", "2s", "--interval", "200ms"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    assert!(u(&r, "commands.waves") >= 1, "{}", r["commands"]);
    assert_eq!(u(&r, "commands.acked"), u(&r, "commands.sent"));
    assert!(u(&r, "latency_us.command_rtt.count") >= 1);
}

#[test]
fn open_loop_overload_ends_on_time_and_says_so() {
    // Far more than a debug build can send: the run must still stop on
    // time, and the verdict must blame the generator, not the hub.
    let t = std::time::Instant::now();
    let out = loadgen(&[
        "--devices",
        "200",
        "--rate",
        "2000000",
        "--duration",
        "2s",
        "--command-every",
        "0",
        "--status-timeout",
        "1s",
    ]);
    let took = t.elapsed();
    let r = report(&out);
    assert!(took < std::time::Duration::from_secs(12), "took {took:?}");
    assert_eq!(r["generator"]["saturated"], true, "{}", r["generator"]);
    assert_eq!(r["udp"]["unexplained_loss"], 0, "{}", r["udp"]);
    assert_eq!(r["ok"], false);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r["udp"]["identity"], "ok", "{}", r["udp"]);
}

#[test]
fn stderr_has_a_progress_line_a_second_and_summary_none_silences_the_summary() {
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_loadgen"))
            .args(["--devices", "5", "--duration", "3s", "--interval", "200ms"])
            .args(["--command-every", "0"])
            .args(extra)
            .output()
            .expect("run loadgen")
    };
    // stderr is a pipe here, not a terminal: plain lines, one per second.
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    let progress = err.lines().filter(|l| l.starts_with('[')).count();
    assert!(progress >= 3, "{err}");
    assert!(
        err.contains("  checks") && err.contains("verdict: ok"),
        "{err}"
    );
    let out = run(&["--summary", "none", "--progress-every", "10s"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("checks") && !err.contains("verdict"), "{err}");
    assert!(
        err.lines().filter(|l| l.starts_with('[')).count() <= 1,
        "{err}"
    );
}
