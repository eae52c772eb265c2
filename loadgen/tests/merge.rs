//! `loadgen merge` and `loadgen hgrm` on committed fixtures: two real runs
//! of one load (devices 1-10 and 11-20 against one hub, see
//! `fixtures/make.sh`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use loadgen::report::histo::decode_histogram;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .output()
        .expect("run loadgen")
}

fn load(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("loadgen-merge-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn merge_of_two_halves_is_the_whole_runs_counts() {
    let (a, b) = (fixture("half1.json"), fixture("half2.json"));
    let out = loadgen(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (a, b) = (load(&a), load(&b));

    // Every counter is the sum of the halves.
    for (k, v) in m["counters"].as_object().unwrap() {
        let sum = a["counters"][k].as_u64().unwrap() + b["counters"][k].as_u64().unwrap();
        assert_eq!(v.as_u64().unwrap(), sum, "counters.{k}");
    }
    for k in [
        "sent",
        "generated",
        "injected_drops",
        "reported_missing",
        "statuses",
    ] {
        let sum = a["udp"][k].as_u64().unwrap() + b["udp"][k].as_u64().unwrap();
        assert_eq!(m["udp"][k], sum, "udp.{k}");
    }
    assert_eq!(m["devices"]["registered"], 20);
    assert_eq!(m["config"]["devices"], 20);
    assert_eq!(m["config"]["first_id"], 1);
    assert_eq!(m["udp"]["unexplained_loss"], 0);
    assert_eq!(m["udp"]["identity"], "ok");

    // Percentiles come from the merged histogram, not from averages.
    for (kind, s) in m["latency_us"].as_object().unwrap() {
        let ha = decode_histogram(a["latency_us"][kind]["hist"].as_str().unwrap()).unwrap();
        let hb = decode_histogram(b["latency_us"][kind]["hist"].as_str().unwrap()).unwrap();
        let mut whole = ha.clone();
        whole.add(&hb).unwrap();
        assert_eq!(s["count"], whole.len(), "{kind} count");
        if whole.is_empty() {
            continue;
        }
        assert_eq!(s["p50"], whole.value_at_quantile(0.5), "{kind} p50");
        assert_eq!(s["p99"], whole.value_at_quantile(0.99), "{kind} p99");
        assert_eq!(s["max"], whole.max(), "{kind} max");
        assert_eq!(
            decode_histogram(s["hist"].as_str().unwrap()).unwrap(),
            whole
        );
    }
    let (pa, pb) = (
        a["latency_us"]["status"]["p50"].as_u64().unwrap(),
        b["latency_us"]["status"]["p50"].as_u64().unwrap(),
    );
    assert_ne!(pa, pb, "fixtures should differ to show the point");
    assert_ne!(m["latency_us"]["status"]["p50"], (pa + pb) / 2, "averaged?");
}

#[test]
fn merge_refuses_other_loads_with_one_line() {
    let a = fixture("half1.json");
    // Same file twice: the same devices counted twice.
    let out = loadgen(&["merge", a.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("overlap") && err.lines().count() == 1, "{err}");
    // A different load: an open-loop run.
    let r = fixture("rate500.json");
    let out = loadgen(&["merge", a.to_str().unwrap(), r.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("loadgen: cannot merge: ") && err.contains("config."),
        "{err}"
    );
    // A limits file is not a report.
    let l = fixture("limits.json");
    let out = loadgen(&["merge", a.to_str().unwrap(), l.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn hgrm_files_for_every_kind() {
    let dir = tmp("hgrm");
    std::fs::create_dir_all(&dir).unwrap();
    let a = fixture("half1.json");
    let out = loadgen(&[
        "hgrm",
        a.to_str().unwrap(),
        "--out-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("half1.status.hgrm")).unwrap();
    assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    let count = load(&a)["latency_us"]["status"]["count"].as_u64().unwrap();
    assert!(
        text.contains(&format!("Total count    = {count:>12}]")),
        "{text}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 6);
}

#[test]
fn readers_refuse_what_is_not_a_known_report_in_one_line() {
    let mut future = load(&fixture("half1.json"));
    future["schema_version"] = serde_json::json!(99);
    let fut = tmp("future.json");
    std::fs::write(&fut, future.to_string()).unwrap();
    let other = tmp("other.json");
    std::fs::write(&other, r#"{"name": "not a report", "udp": 1}"#).unwrap();
    let half = fixture("half1.json");
    for (args, want) in [
        (
            vec!["merge", fut.to_str().unwrap(), half.to_str().unwrap()],
            "schema_version 99",
        ),
        (vec!["hgrm", fut.to_str().unwrap()], "schema_version 99"),
        (vec!["table", fut.to_str().unwrap()], "schema_version 99"),
        (
            vec!["hgrm", other.to_str().unwrap()],
            "not a loadgen report",
        ),
        (
            vec!["table", other.to_str().unwrap()],
            "not a loadgen report",
        ),
    ] {
        let out = loadgen(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn readers_refuse_a_report_outside_the_schema_in_one_line() {
    let mut bent = load(&fixture("half2.json"));
    bent["udp"]["sent"] = serde_json::json!("many");
    let p = tmp("bent.json");
    std::fs::write(&p, bent.to_string()).unwrap();
    let half = fixture("half1.json");
    let bent = p.to_str().unwrap();
    for args in [
        vec!["merge", half.to_str().unwrap(), bent],
        vec!["hgrm", bent],
        vec!["table", bent],
    ] {
        let out = loadgen(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(&format!("{bent}: does not fit the report schema: "))
                && err.contains("many"),
            "{args:?}: {err}"
        );
    }
}
