//! loadgen's verdict against deliberately broken hubs (`common::rogue`):
//! each run must end with the named check that catches the flaw failed,
//! exit code 1, the reason on stderr, and loadgen's peak RSS within its
//! budget whatever the hub sends.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::check;
use common::rogue::{Flaw, Rogue};
use serde_json::Value;

/// Peak RSS budget of these small runs (3 devices). A healthy run costs
/// ~2.3 KB per device over a fixed base; the cap is far below the 300 MB a
/// single unbounded buffer reached before the caps.
const RSS_BUDGET_KB: u64 = 24 * 1024;
/// No run here may take longer than this.
const DEADLINE: Duration = Duration::from_secs(60);

struct Outcome {
    code: i32,
    report: Value,
    stderr: String,
    peak_rss_kb: u64,
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run(rogue: &Rogue, extra: &[&str]) -> Outcome {
    // The defaults, less any flag `extra` sets itself (a flag given twice
    // is refused).
    let defaults = [
        ("--devices", "3"),
        ("--duration", "2s"),
        ("--interval", "100ms"),
        ("--status-timeout", "1s"),
        ("--drain", "2s"),
        ("--seed", "9"),
        ("--command-every", "0"),
        ("--connect-rate", "100"),
    ];
    let mut args: Vec<&str> = Vec::new();
    for (k, v) in defaults.iter().filter(|(k, _)| !extra.contains(k)) {
        args.extend([*k, *v]);
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(rogue.args())
        .args(args)
        .arg("--quiet")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loadgen");
    let pid = child.id();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut o = Vec::new();
        let mut e = String::new();
        let _ = out.read_to_end(&mut o);
        let _ = err.read_to_string(&mut e);
        (o, e)
    });
    let deadline = Instant::now() + DEADLINE;
    let mut peak = 0;
    let status = loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("loadgen still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (o, stderr) = reader.join().unwrap();
    let report =
        serde_json::from_slice(&o).unwrap_or_else(|e| panic!("bad JSON ({e}); stderr: {stderr}"));
    Outcome {
        code: status.code().unwrap_or(-1),
        report,
        stderr,
        peak_rss_kb: peak,
    }
}

/// Runs loadgen against `flaw` and asserts the verdict names `failed`.
fn assert_caught(flaw: Flaw, failed: &str, extra: &[&str]) -> Outcome {
    let rogue = Rogue::start(flaw);
    let o = run(&rogue, extra);
    let c = check(&o.report, failed);
    assert_eq!(c["passed"], false, "{flaw:?}: {c}\n{}", o.stderr);
    assert_eq!(o.report["ok"], false, "{flaw:?}");
    assert_eq!(o.code, 1, "{flaw:?}: {}", o.stderr);
    assert!(
        o.stderr.contains(&format!("✗ {failed}")) && o.stderr.contains("verdict: FAILED"),
        "{flaw:?}: {}",
        o.stderr
    );
    let reason = o
        .stderr
        .lines()
        .find(|l| l.starts_with("loadgen: check failed:"))
        .unwrap_or_else(|| panic!("{flaw:?}: no reason line: {}", o.stderr));
    assert!(reason.contains(failed), "{reason}");
    assert!(
        o.peak_rss_kb > 0 && o.peak_rss_kb < RSS_BUDGET_KB,
        "{flaw:?}: peak RSS {} KB",
        o.peak_rss_kb
    );
    eprintln!(
        "{flaw:?}: {failed}: {} (peak RSS {} KB)",
        c["figure"], o.peak_rss_kb
    );
    o
}

#[test]
fn nothing_listening() {
    let o = assert_caught(Flaw::Nothing, "devices_registered", &[]);
    assert_eq!(check(&o.report, "cycles_answered")["passed"], false);
}

#[test]
fn silent_hub() {
    let o = assert_caught(Flaw::Silent, "cycles_answered", &[]);
    let u = &o.report["udp"];
    assert!(u["fates"]["unknown"].as_u64().unwrap() > 0, "{u}");
    assert_eq!(u["fates"]["received"], 0, "{u}");
    let why = o.report["loss_diagnosis"]["explanation"].as_str().unwrap();
    assert!(!why.starts_with("none: every"), "{why}");
}

#[test]
fn garbage_status() {
    let o = assert_caught(Flaw::GarbageStatus, "status_valid", &[]);
    let ev = &o.report["evidence"]["status_invalid"];
    assert!(ev[0].as_str().unwrap().contains("lots of PACKETS"), "{ev}");
    assert_eq!(o.report["udp"]["statuses"], 0);
}

#[test]
fn contradictory_status() {
    let o = assert_caught(Flaw::ContradictoryStatus, "status_valid", &[]);
    assert_eq!(o.report["udp"]["statuses"], 0);
    assert_eq!(o.report["udp"]["unexplained_loss"], 0);
    assert_eq!(check(&o.report, "cycles_answered")["passed"], false);
}

#[test]
fn status_for_the_wrong_cycle() {
    assert_caught(Flaw::WrongCycle, "status_valid", &["--loss", "0.3"]);
}

/// A hub that counts a duplicated SEQ twice says `11/10`: only
/// `--duplicate` brings it out, and `duplicates_counted_once` names it (the
/// real hub passes the same run: `tests/faults.rs`).
#[test]
fn counts_a_duplicate_twice() {
    let rogue = Rogue::start(Flaw::DoubleCountsDuplicates);
    let clean = run(&rogue, &[]);
    assert_eq!(clean.code, 0, "hidden without duplicates: {}", clean.stderr);
    let o = assert_caught(
        Flaw::DoubleCountsDuplicates,
        "duplicates_counted_once",
        &["--duplicate", "0.2"],
    );
    let f = &o.report["udp"]["faults"];
    assert!(f["duplicates_overcounted"].as_u64().unwrap() > 0, "{f}");
    let ev = &o.report["evidence"]["status_invalid"];
    assert!(ev[0].as_str().unwrap().contains("/10 PACKETS"), "{ev}");
}

/// A hub that drops a SEQ lower than one it has seen reports a reordered
/// SEQ missing: only `--reorder` brings it out, and `reordered_received`
/// names it, beside the unexplained loss it causes.
#[test]
fn treats_a_reordered_seq_as_missing() {
    let rogue = Rogue::start(Flaw::ReorderedAsMissing);
    let clean = run(&rogue, &[]);
    assert_eq!(clean.code, 0, "hidden without reordering: {}", clean.stderr);
    let o = assert_caught(
        Flaw::ReorderedAsMissing,
        "reordered_received",
        &["--reorder", "0.2"],
    );
    let f = &o.report["udp"]["faults"];
    let lost = f["reordered_missing"].as_u64().unwrap();
    assert!(lost > 0, "{f}");
    assert_eq!(o.report["udp"]["unexplained_loss"], lost, "{f}");
    assert_eq!(check(&o.report, "unexplained_loss")["passed"], false);
    assert_eq!(o.report["udp"]["identity"], "ok");
}

#[test]
fn closes_at_registration() {
    let o = assert_caught(Flaw::CloseAtRegistration, "devices_registered", &[]);
    assert_eq!(o.report["devices"]["registered"], 0);
    assert!(o.report["devices"]["refused"].as_u64().unwrap() >= 3);
    // --min-registered is a check too.
    let rogue = Rogue::start(Flaw::CloseAtRegistration);
    let o = run(&rogue, &["--min-registered", "3"]);
    assert_eq!(check(&o.report, "min_registered")["passed"], false);
}

#[test]
fn hub_full() {
    let o = assert_caught(Flaw::HubFull, "devices_registered", &[]);
    let r = &o.report["evidence"]["refusals"];
    assert!(r[0].as_str().unwrap().contains("ERROR hub full"), "{r}");
}

#[test]
fn endless_line() {
    let o = assert_caught(Flaw::EndlessLine, "hub_protocol", &[]);
    let v = &o.report["evidence"]["violations"];
    assert!(v[0].as_str().unwrap().contains("a line longer than"), "{v}");
}

#[test]
fn command_flood() {
    assert_caught(Flaw::CommandFlood, "hub_protocol", &[]);
}

#[test]
fn slow_reader() {
    let o = assert_caught(Flaw::SlowReader, "hub_protocol", &[]);
    let v = &o.report["evidence"]["violations"];
    assert!(v[0].as_str().unwrap().contains("unanswered"), "{v}");
}

#[test]
fn admin_never_answers() {
    assert_caught(Flaw::AdminSilent, "admin_reachable", &[]);
}

#[test]
fn admin_absent_with_waves() {
    // Waves need the admin port: its absence fails the run.
    let o = assert_caught(
        Flaw::AdminAbsent,
        "admin_reachable",
        &["--command-every", "1s"],
    );
    assert_eq!(check(&o.report, "hub_agrees")["passed"], false);
    assert_eq!(check(&o.report, "hub_agrees").get("not_checked"), None);
}

#[test]
fn admin_absent_with_require_admin() {
    let o = assert_caught(Flaw::AdminAbsent, "admin_reachable", &["--require-admin"]);
    assert_eq!(check(&o.report, "hub_agrees")["passed"], false);
}

/// A correct hub with no admin port, answering every cycle late (within
/// the status timeout), and no waves asked for: everything loadgen could
/// verify holds, so the run passes; the hub's own count is not cross-checked,
/// and says so in the report and the summary, never as agreeing.
#[test]
fn admin_absent_without_waves_passes_and_says_not_cross_checked() {
    for flaw in [Flaw::AdminAbsent, Flaw::AdminAbsentLate] {
        let rogue = Rogue::start(flaw);
        let o = run(
            &rogue,
            &[
                "--status-timeout",
                "3s",
                "--drain",
                "4s",
                "--duration",
                "3s",
            ],
        );
        assert_eq!(o.code, 0, "{flaw:?}: {}", o.stderr);
        assert_eq!(o.report["ok"], true, "{flaw:?}");
        let agrees = check(&o.report, "hub_agrees");
        assert_eq!(agrees["passed"], false, "{flaw:?}: never shown as agreeing");
        assert_eq!(agrees["not_checked"], true, "{flaw:?}: {agrees}");
        assert!(agrees["figure"]
            .as_str()
            .unwrap()
            .contains("not cross-checked"));
        let admin = check(&o.report, "admin_reachable");
        assert_eq!(admin["passed"], true, "{flaw:?}: {admin}");
        assert!(admin["figure"]
            .as_str()
            .unwrap()
            .starts_with("not required"));
        let cycles = check(&o.report, "cycles_answered");
        assert_eq!(cycles["passed"], true, "{flaw:?}: {cycles}");
        assert!(o.report["udp"]["statuses"].as_u64().unwrap() > 0);
        assert!(
            o.stderr.contains("– hub_agrees") && o.stderr.contains("not cross-checked"),
            "{flaw:?}: {}",
            o.stderr
        );
        assert!(!o.stderr.contains("✓ hub_agrees"), "{}", o.stderr);
        if flaw == Flaw::AdminAbsentLate {
            let p50 = o.report["latency_us"]["status"]["p50"].as_u64().unwrap();
            let late = common::rogue::LATE_STATUS.as_micros() as u64;
            assert!(p50 >= late, "late STATUS p50 {p50} µs, held {late} µs");
        }
    }
}

#[test]
fn a_failed_check_can_be_waived_by_name() {
    let rogue = Rogue::start(Flaw::AdminAbsent);
    let o = run(
        &rogue,
        &[
            "--require-admin",
            "--allow-failed-check",
            "admin_reachable",
            "--allow-failed-check",
            "hub_agrees",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.report["ok"], true);
    assert_eq!(check(&o.report, "admin_reachable")["allowed"], true);
}
