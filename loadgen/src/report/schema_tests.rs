//! Tests of the report schema: the explanation line, a built report's
//! round trip, and every committed report reading back typed.

use super::*;
use crate::report::diagnosis::explain;

#[test]
fn explanation_names_the_counters() {
    let c = Counters::default();
    let s = UdpSnmp {
        rcvbuf_errors: 12,
        ..Default::default()
    };
    let e = explain(12, &c, Some(12), Some(&s), None);
    assert!(
        e.contains("receive-buffer drops: 12") && e.contains("RcvbufErrors +12"),
        "{e}"
    );
    assert!(explain(0, &c, None, None, None).starts_with("none"));
}

/// Serialize → deserialize → serialize gives the same text, so nothing
/// a run writes is lost or changed on the way back (durations in ms,
/// waves through their mirror, floats).
#[test]
fn a_built_report_round_trips() {
    for args in [
        &["--devices", "7", "--loss", "0.02", "--command-every", "2s"][..],
        &[
            "--devices",
            "3",
            "--rate",
            "700",
            "--hub",
            "127.0.0.1",
            "--source-ips",
            "127.0.0.2",
            "--allow-failed-check",
            "hub_agrees",
            "--max-p99-ms",
            "2.5",
            "--hub-recorder",
            "/tmp/x.db",
        ][..],
        &[
            "--reorder",
            "0.1",
            "--duplicate",
            "1",
            "--corrupt",
            "0.5",
            "--delay",
            "30±30",
        ][..],
    ] {
        let r = crate::report::fixture::report(args);
        let text = serde_json::to_string_pretty(&r).unwrap();
        let back: Report = serde_json::from_str(&text).unwrap();
        let again = serde_json::to_string_pretty(&back).unwrap();
        let diff = text.lines().zip(again.lines()).position(|(a, b)| a != b);
        assert!(
            again == text,
            "differs from line {:?}: {:?}",
            diff.map(|i| i + 1),
            diff.map(|i| (text.lines().nth(i), again.lines().nth(i)))
        );
        assert_eq!(back.config, r.config);
        assert_eq!(back.commands.wave_list[0].elapsed_us, 4321);
        assert_eq!(back.latency_us, r.latency_us);
    }
}

/// Values of `orig` that `typed` (the typed reading, written back)
/// also has must be equal: the reading lost or bent nothing it kept.
fn agree(orig: &Value, typed: &Value, path: &str, file: &std::path::Path) {
    match (orig, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    agree(v, w, &format!("{path}.{k}"), file);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{}: {path}", file.display());
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                agree(v, w, &format!("{path}[{i}]"), file);
            }
        }
        (Value::Number(a), Value::Number(b)) => {
            assert_eq!(a.as_f64(), b.as_f64(), "{}: {path}", file.display())
        }
        (a, b) => assert_eq!(a, b, "{}: {path}", file.display()),
    }
}

/// Every report committed under `bench-results/`, the test fixtures
/// and the fuzz corpus reads into [`Report`], schema 1 and 2 alike, and
/// reads what it says.
#[test]
fn every_committed_report_reads_typed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    crate::report::fixture::committed_reports(&root.join("../bench-results"), &mut files);
    let bench = files.len();
    crate::report::fixture::committed_reports(&root.join("tests/fixtures"), &mut files);
    let mut versions = std::collections::BTreeSet::new();
    let mut merged_sets = 0;
    for p in &files {
        let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        let r: Report =
            serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        versions.insert(r.schema_version);
        if r.shards.is_some() && r.merged_from.as_ref().is_some_and(|m| m.len() >= 2) {
            merged_sets += 1;
        }
        agree(&v, &serde_json::to_value(&r).unwrap(), "", p);
    }
    assert!(bench >= 100, "only {bench} reports under bench-results");
    assert_eq!(versions.into_iter().collect::<Vec<_>>(), [1, 2]);
    // 17 merged shard sets under bench-results, two merge fixtures.
    assert!(merged_sets >= 19, "{merged_sets} merged shard sets");
}
