//! Tests of [`super`]: sums, timelines, refusals, shard sets, committed merges.

use super::*;
use crate::report::histo::new_histogram;

/// A built report (`report::fixture`) of `n` devices from `first`,
/// with status samples `lo..=hi` as its only latency kind, `sent`
/// datagrams, no timeline and the figures the tests add up.
fn report(first: u64, n: u64, lo: u64, hi: u64, sent: u64) -> Value {
    let mut h = new_histogram();
    for v in lo..=hi {
        h.record(v).unwrap();
    }
    let s = LatencySummary::of(&h);
    let (first_s, n_s) = (first.to_string(), n.to_string());
    let r = crate::report::fixture::report(&[
        "--devices",
        &n_s,
        "--first-id",
        &first_s,
        "--seed",
        &first_s,
        "--duration",
        "1s",
        "--loss",
        "0.02",
    ]);
    let mut d = serde_json::to_value(&r).unwrap();
    d.as_object_mut().unwrap().remove("timeline");
    d["run"]["wall_s"] = json!(3.0);
    d["devices"]["registered"] = json!(n);
    d["devices"]["time_to_register_all_ms"] = json!(first);
    d["udp"]["sent"] = json!(sent);
    d["udp"]["unexplained_loss"] = json!(0);
    d["udp"]["identity"] = json!("ok");
    d["udp"]["datagrams_per_s"] = json!(0.0);
    d["commands"]["waves"] = json!(1);
    d["commands"]["wave_list"][0]["id"] = json!(first);
    d["latency_us"] = json!({"status": s});
    d["loss_diagnosis"]["hub_udp_rcvbuf_drops"] = json!(1);
    d["loss_diagnosis"]["snmp_udp_delta"]["in_errors"] = json!(first);
    d["loss_diagnosis"]["statuses_rate_limited"] = json!(0);
    d["cpu"]["loadgen_s"] = json!(1.5);
    d["cpu"]["hub_s"] = json!(0.5);
    d["hub_stats"] = Value::Null;
    d["counters"]["sent"] = json!(sent);
    d["counters"]["statuses"] = json!(7);
    d
}

fn docs(v: Vec<Value>) -> Vec<(String, Value)> {
    v.into_iter()
        .enumerate()
        .map(|(i, d)| (format!("r{i}"), d))
        .collect()
}

#[test]
fn counters_sum_and_percentiles_are_recomputed() {
    // 1..=100 and 901..=1000: the averaged p50s would be ~500, the
    // merged histogram's p50 is ~100.
    let m = merge(&docs(vec![
        report(1, 10, 1, 100, 50),
        report(11, 10, 901, 1000, 70),
    ]))
    .unwrap();
    assert_eq!(m["counters"]["sent"], 120);
    assert_eq!(m["counters"]["statuses"], 14);
    assert_eq!(m["udp"]["sent"], 120);
    assert_eq!(m["udp"]["datagrams_per_s"], 120.0);
    assert_eq!(m["config"]["devices"], 20);
    assert_eq!(m["devices"]["time_to_register_all_ms"], 11);
    assert_eq!(m["cpu"]["hub_s"], 1.0);
    assert_eq!(m["loss_diagnosis"]["hub_udp_rcvbuf_drops"], 2);
    assert_eq!(m["loss_diagnosis"]["snmp_udp_delta"]["in_errors"], 11);
    assert_eq!(m["commands"]["wave_list"].as_array().unwrap().len(), 2);
    let st = &m["latency_us"]["status"];
    assert_eq!(st["count"], 200);
    assert_eq!(st["p50"], 100);
    assert_eq!(st["max"], 1000);
    assert_eq!(m["merged_from"].as_array().unwrap().len(), 2);
}

#[test]
fn timelines_add_up_second_by_second_and_the_longest_outage_is_a_maximum() {
    let mut a = report(1, 10, 100, 200, 50);
    let mut b = report(11, 10, 100, 200, 70);
    a["timeline"] = json!([{"t_s": 1, "devices_up": 10, "datagrams_sent": 20}, {"t_s": 2, "devices_up": 9, "datagrams_sent": 30}]);
    b["timeline"] = json!([{"t_s": 1, "devices_up": 10, "datagrams_sent": 25}, {"t_s": 2, "devices_up": 10, "datagrams_sent": 35}, {"t_s": 3, "devices_up": 10, "datagrams_sent": 10}]);
    a["devices"]["longest_outage_ms"] = json!(300);
    b["devices"]["longest_outage_ms"] = json!(500);
    a["devices"]["outage_count"] = json!(1);
    b["devices"]["outage_count"] = json!(2);
    let m = merge(&docs(vec![a, b])).unwrap();
    assert_eq!(
        m["timeline"],
        json!([{"t_s": 1, "devices_up": 20, "datagrams_sent": 45}, {"t_s": 2, "devices_up": 19, "datagrams_sent": 65}, {"t_s": 3, "devices_up": 10, "datagrams_sent": 10}])
    );
    assert_eq!(m["devices"]["longest_outage_ms"], 500);
    assert_eq!(m["devices"]["outage_count"], 3);
}

#[test]
fn staged_reports_keep_the_timelines_stage_and_drop_the_stages_section() {
    let mut a = report(1, 10, 100, 200, 50);
    let mut b = report(11, 10, 100, 200, 70);
    a["timeline"] = json!([{"t_s": 1, "datagrams_sent": 20, "stage": 2}]);
    b["timeline"] = json!([{"t_s": 1, "datagrams_sent": 25, "stage": 2}]);
    a["stages"] = json!({"target": "rate", "list": [], "knee": null, "held": 0, "verdict": "held"});
    let m = merge(&docs(vec![a, b])).unwrap();
    assert_eq!(
        m["timeline"],
        json!([{"t_s": 1, "datagrams_sent": 45, "stage": 2}])
    );
    assert!(m.get("stages").is_none());
}

#[test]
fn refuses_a_different_load_naming_the_key() {
    let mut b = report(11, 10, 1, 2, 1);
    b["config"]["loss"] = json!(0.1);
    let e = merge(&docs(vec![report(1, 10, 1, 2, 1), b]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "cannot merge: r1: config.loss is 0.1 but 0.02 in the first report"
    );
    let mut c = report(11, 10, 1, 2, 1);
    c["schema_version"] = json!(1);
    let e = merge(&docs(vec![report(1, 10, 1, 2, 1), c]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("schema_version"), "{e}");
}

#[test]
fn refuses_overlapping_devices() {
    let e = merge(&docs(vec![report(1, 10, 1, 2, 1), report(5, 10, 1, 2, 1)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("overlap"), "{e}");
}

#[test]
fn seed_and_range_may_differ_open_loop_rate_per_device_must_not() {
    let mut a = report(1, 10, 1, 2, 1);
    let mut b = report(11, 20, 1, 2, 1);
    a["config"]["pace"] = json!({"kind": "open_loop", "rate": 100.0});
    b["config"]["pace"] = json!({"kind": "open_loop", "rate": 200.0});
    let m = merge(&docs(vec![a.clone(), b.clone()])).unwrap();
    assert_eq!(m["config"]["pace"]["rate"], 300.0);
    b["config"]["pace"]["rate"] = json!(100.0);
    assert!(merge(&docs(vec![a, b]))
        .unwrap_err()
        .to_string()
        .contains("config.pace"));
}

/// `report()` as shard `index` of 2 of a 20-device fleet in run `r`,
/// started `start_ms` after the epoch.
fn shard_report(index: u32, start_ms: u64) -> Value {
    let mut d = report(1 + 10 * u64::from(index), 10, 100, 200, 50);
    d["config"]["connect_rate"] = json!(50.0);
    d["run"]["run_id"] = json!("r");
    d["run"]["start"] =
        json!({"started_unix_ms": start_ms, "skew_ms": start_ms as f64, "waited_ms": 0});
    d["shard"] = json!({"index": index, "count": 2, "engine": "slurm",
        "fleet_devices": 20, "fleet_first_id": 1, "fleet_seed": 7,
        "fleet_rate": null, "fleet_connect_rate": 100.0});
    d["timeline"] = json!([{"t_s": 1, "datagrams_sent": 10}, {"t_s": 2, "datagrams_sent": 20}]);
    d
}

#[test]
fn shards_merge_with_timelines_on_the_common_start() {
    // Shard 1 started 2 s after shard 0: its second 1 is the set's 3.
    let m = merge(&docs(vec![shard_report(1, 2_000), shard_report(0, 0)])).unwrap();
    assert_eq!(
        m["timeline"],
        json!([{"t_s": 1, "datagrams_sent": 10}, {"t_s": 2, "datagrams_sent": 20},
               {"t_s": 3, "datagrams_sent": 10}, {"t_s": 4, "datagrams_sent": 20}])
    );
    assert_eq!(m["shards"]["present"], json!([0, 1]));
    assert_eq!(m["shards"]["partial"], false);
    assert_eq!(m["config"]["connect_rate"], 100.0);
    assert_eq!(m["run"]["start"]["started_unix_ms"], 0);
    assert_eq!(m["run"]["start"]["skew_ms"], 2000.0);
    assert!(m["shard"].is_null());
    // Within a second, no shift.
    let m = merge(&docs(vec![shard_report(0, 0), shard_report(1, 400)])).unwrap();
    assert_eq!(m["timeline"][0]["datagrams_sent"], 20);
    // A shard's connect rate must be its part of the fleet's.
    let mut b = shard_report(1, 0);
    b["config"]["connect_rate"] = json!(80.0);
    let e = merge(&docs(vec![shard_report(0, 0), b]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("config.connect_rate"), "{e}");
}

#[test]
fn a_partial_set_says_what_it_lacks() {
    let mut d = shard_report(0, 0);
    d["shard"]["count"] = json!(3);
    d["shard"]["fleet_devices"] = json!(30);
    let mut e = shard_report(2, 0);
    e["shard"] = d["shard"].clone();
    e["shard"]["index"] = json!(2);
    e["config"]["first_id"] = json!(21);
    let err = merge(&docs(vec![d.clone(), e.clone()]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("shard 1 of 3 missing"), "{err}");
    let m = merge_set(&docs(vec![d, e]), true).unwrap();
    assert_eq!(m["shards"]["missing"], json!([1]));
    assert_eq!(m["shards"]["partial"], true);
    assert_eq!(m["config"]["devices"], 20);
}

/// Committed reports merge to exactly what the merge that walked JSON
/// paths wrote (`tests/fixtures/merge/`, written by that build): two
/// schema 1 halves, two schema 2 runs with checks and a breach
/// (`v2run-b.json` is `v2run.json` moved to devices 11-20, seed + 1,
/// 5 more sent, one breach), and a Slurm run's three shards against one
/// external hub, whole and partial.
#[test]
fn committed_reports_merge_as_before() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let want = root.join("loadgen/tests/fixtures/merge");
    let shards = "bench-results/20261201T114854Z_605b2d6_shards/rate-20000/slurm-1";
    let s = |i: u32| format!("{shards}/shard-{i}.json");
    for (out, names, partial) in [
        (
            "halves.json",
            vec![
                "loadgen/tests/fixtures/half1.json".to_string(),
                "loadgen/tests/fixtures/half2.json".to_string(),
            ],
            false,
        ),
        (
            "v2.json",
            vec![
                "loadgen/tests/fixtures/v2run.json".to_string(),
                "loadgen/tests/fixtures/merge/v2run-b.json".to_string(),
            ],
            false,
        ),
        ("shards.json", vec![s(0), s(1), s(2)], false),
        ("partial.json", vec![s(2), s(0)], true),
    ] {
        let docs: Vec<(String, Value)> = names
            .iter()
            .map(|n| (n.clone(), load_report(&root.join(n)).unwrap()))
            .collect();
        let m = merge_set(&docs, partial).unwrap();
        let text = serde_json::to_string_pretty(&m).unwrap() + "\n";
        let expected = std::fs::read_to_string(want.join(out)).unwrap();
        assert!(text == expected, "{out} differs from the committed merge");
    }
}

/// Each key allowed to differ is a field of the typed config (a
/// renamed field would otherwise leave a dead entry here).
#[test]
fn every_key_that_may_differ_is_a_config_field() {
    let cfg = serde_json::to_value(crate::report::fixture::config(&[])).unwrap();
    for k in MAY_DIFFER {
        assert!(cfg.get(k).is_some(), "{k} is not a RunConfig field");
    }
}

#[test]
fn one_report_is_not_a_merge() {
    assert!(matches!(
        merge(&docs(vec![report(1, 1, 1, 1, 1)])),
        Err(MergeError::TooFew)
    ));
}
