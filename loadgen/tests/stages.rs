//! `--stages` end to end on real sockets: a rate ramp against the embedded
//! hub whose per-stage offered rates follow the targets (the run's own
//! counts, not a timing test), a devices target whose devices leave and
//! come back with exact accounting and no hub failure, and the knee found
//! in the right stage against a hub that drops everything above a rate.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::rogue::{Flaw, RateCap, Rogue};
use common::{report, u};
use serde_json::Value;

fn loadgen(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .args(["--quiet", "--summary", "text"])
        .output()
        .expect("run loadgen")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn stages(r: &Value) -> &Vec<Value> {
    r["stages"]["list"].as_array().expect("stages.list")
}

#[test]
fn a_rate_ramp_offers_each_stages_target_and_holds() {
    let out = loadgen(&strings(&[
        "--devices",
        "50",
        "--stages",
        "2s:500,2s:1000,1s:0",
        "--seed",
        "5",
        "--command-every",
        "1s",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {err}");
    let r = report(&out);
    assert_eq!(r["udp"]["identity"], "ok");
    assert_eq!(r["stages"]["knee"], Value::Null, "{}", r["stages"]);
    assert_eq!(r["stages"]["held"], 3);
    let list = stages(&r);
    assert_eq!(list.len(), 3);
    // Planned: the ramps' means, 250, 750 and 500 datagrams/s.
    let mut sent = 0.0;
    for (s, planned) in list.iter().zip([250.0, 750.0, 500.0]) {
        assert_eq!(s["planned_per_s"], planned);
        let offered = s["offered_per_s"].as_f64().unwrap();
        // Within 10 % (plus a few datagrams at the boundaries: a datagram
        // counts in the stage its worker handled it in).
        assert!(
            (offered - planned).abs() <= planned * 0.1 + 10.0,
            "stage {}: offered {offered}/s, planned {planned}/s",
            s["stage"]
        );
        let secs = (u(s, "end_ms") - u(s, "start_ms")) as f64 / 1e3;
        sent += s["sent_per_s"].as_f64().unwrap() * secs;
        assert_eq!(s["held"], true, "{s}");
        assert_eq!(s["fates"]["unknown"], 0, "{s}");
    }
    // The stages add up to the run.
    assert!((sent - u(&r, "udp.sent") as f64).abs() < 0.5, "{sent}");
    assert_eq!(
        (list[0]["start_ms"].as_u64(), list[2]["end_ms"].as_u64()),
        (Some(0), Some(5000))
    );
    // The timeline marks each second's stage.
    let marks: Vec<Value> = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].clone())
        .collect();
    assert_eq!(&marks[..5], &[1, 1, 2, 2, 3].map(Value::from), "{marks:?}");
    let knee = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "knee")
        .expect("a knee check");
    assert_eq!(knee["passed"], true);
    assert!(err.contains("  stages (target: datagrams/s)"), "{err}");
    assert!(
        err.contains("held through all 3 stages (peak 1000/s)"),
        "{err}"
    );
}

#[test]
fn devices_leave_and_come_back_with_the_target_and_exact_accounting() {
    let out = loadgen(&strings(&[
        "--devices",
        "30",
        "--stage-target",
        "devices",
        "--stages",
        "2s:30,2s:10,1s:20,1s:20",
        "--interval",
        "200ms",
        "--seed",
        "3",
        "--command-every",
        "0",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {err}");
    let r = report(&out);
    let c = &r["counters"];
    assert_eq!(r["udp"]["identity"], "ok");
    // Devices 11–29 left as the target fell to 10, 11–19 came back as it
    // rose to 20 (and held there): 20 up at the end, 10 out, none lost to the hub.
    assert_eq!(u(&r, "devices.registered"), 30);
    assert_eq!(u(&r, "devices.up_at_end"), 20);
    assert_eq!(u(c, "stage_out"), 10);
    assert_eq!(u(c, "stage_leaves"), u(c, "stage_rejoins") + 10);
    assert!(u(c, "stage_leaves") >= 15, "{c}");
    assert!(u(c, "stage_rejoins") >= 5, "{c}");
    assert_eq!(u(&r, "devices.disconnects"), 0);
    assert_eq!(u(&r, "devices.reconnects"), 0);
    assert_eq!(u(&r, "udp.fates.unknown"), 0);
    assert_eq!(u(&r, "udp.status_timeouts"), 0);
    assert_eq!(r["devices"]["hub_registered"], 20);
    for ch in r["checks"].as_array().unwrap() {
        assert_eq!(ch["passed"], true, "{ch}");
    }
    let up: Vec<u64> = stages(&r)
        .iter()
        .map(|s| s["devices_up_end"].as_u64().unwrap())
        .collect();
    assert_eq!(up[0], 30);
    assert!((10..=12).contains(&up[1]), "{up:?}");
    // The last to come back (device 19, at 4.9 s) has the held stage 4.
    assert!((19..=20).contains(&up[2]), "{up:?}");
    assert_eq!(up[3], 20);
    assert_eq!(stages(&r)[0]["planned_per_s"], Value::Null);
}

#[test]
fn the_knee_is_the_stage_where_the_hub_starts_dropping() {
    let rogue = Rogue::start(Flaw::DropAbove(600));
    let mut args = rogue.args();
    args.extend(strings(&[
        "--devices",
        "20",
        "--stages",
        "1s:200,1s:200,2s:2000",
        "--seed",
        "11",
        "--command-every",
        "0",
        "--status-timeout",
        "1s",
        "--drain",
        "3s",
    ]));
    let out = loadgen(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    let r = report(&out);
    let knee = &r["stages"]["knee"];
    assert_eq!(knee["stage"], 3, "{}", r["stages"]);
    assert_eq!(r["stages"]["held"], 2);
    let why = &knee["evidence"][0];
    assert!(
        why["figure"] == "unexplained_loss" || why["figure"] == "fates_unknown",
        "{why}"
    );
    assert!(
        why["value"].as_f64().unwrap() > why["limit"].as_f64().unwrap(),
        "{why}"
    );
    let verdict = r["stages"]["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("held up to stage 2 (200/s); broke in stage 3 (200→2000/s): "),
        "{verdict}"
    );
    for s in &stages(&r)[..2] {
        assert_eq!(s["unexplained_loss"], 0, "{s}");
        assert_eq!(s["fates"]["unknown"], 0, "{s}");
    }
    // Finding a knee past stage 1 is the point: exit 0, the load checks
    // waived past it, the stage named on stderr.
    assert_eq!(out.status.code(), Some(0), "stderr: {err}");
    let loss = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "unexplained_loss")
        .unwrap();
    assert_eq!(
        (&loss["passed"], &loss["allowed"]),
        (&Value::Bool(false), &Value::Bool(true))
    );
    assert!(err.contains("broke in stage 3"), "{err}");
    assert_eq!(r["udp"]["identity"], "ok");
}

#[test]
fn a_hub_that_breaks_in_the_first_stage_fails_the_run() {
    // A stage long enough for the loss of its first second to settle in
    // it: a fate counts in the stage its STATUS arrives in.
    let rogue = Rogue::start(Flaw::DropAbove(50));
    let mut args = rogue.args();
    args.extend(strings(&[
        "--devices",
        "10",
        "--stages",
        "3s:400,1s:400",
        "--seed",
        "12",
        "--command-every",
        "0",
        "--status-timeout",
        "1s",
        "--drain",
        "3s",
    ]));
    let out = loadgen(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    let r = report(&out);
    assert_eq!(r["stages"]["knee"]["stage"], 1);
    assert!(
        err.lines().any(|l| l.starts_with("loadgen: check failed: ")
            && l.contains("knee: no stage held; broke in stage 1 (0→400/s): ")),
        "{err}"
    );
}

#[test]
fn bad_stage_specs_exit_2_on_one_line_before_connecting() {
    for (args, says) in [
        (&["--stages", ""][..], "--stages: no stages"),
        (
            &["--stages", "30s"][..],
            "--stages: stage 1 `30s`: expected DURATION:TARGET",
        ),
        (
            &["--stages", "1s:10,0s:5"][..],
            "stage 2 `0s:5`: the duration must be positive",
        ),
        (&["--stages", "1s:ten"][..], "target `ten` is not a number"),
        (
            &["--stages", "1s:10", "--duration", "5s"][..],
            "disagrees with --stages",
        ),
        (&["--stages", "1s:10", "--rate", "5"][..], "drop --rate"),
        (
            &[
                "--devices",
                "5",
                "--stage-target",
                "devices",
                "--stages",
                "1s:6",
            ][..],
            "stage 1 asks for 6 devices, more than --devices 5",
        ),
        (
            &["--stages", "1s:10", "--stage-target", "sideways"][..],
            "sideways",
        ),
    ] {
        // A hub nobody listens on: reaching it would fail differently.
        let mut a = strings(args);
        a.extend(strings(&[
            "--hub",
            "127.0.0.1",
            "--tcp-port",
            "1",
            "--udp-port",
            "1",
            "--admin-port",
            "1",
        ]));
        let t = Instant::now();
        let out = loadgen(&a);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn the_rate_cap_takes_n_per_second_and_drops_the_rest() {
    let t0 = Instant::now();
    let mut cap = RateCap::new(3);
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let got: Vec<bool> = [0, 100, 200, 300, 999, 1000, 1001, 2500]
        .iter()
        .map(|&ms| cap.admit(at(ms)))
        .collect();
    assert_eq!(got, [true, true, true, false, false, true, true, true]);
}
