//! `loadgen merge a.json b.json …`: several reports of one load, spread over
//! load generators (or split by device range), merged exactly into one.
//!
//! # What may be merged
//! Reports merge when they have the same `schema_version` and the same
//! load shape: every `config` key must be equal except those in
//! [`MAY_DIFFER`] (seed, the device range, worker threads, source
//! addresses, output and threshold flags). Open-loop `pace.rate` is a
//! fleet total, so it may differ as long as the rate *per device* is the
//! same. Device ranges (`prefix` + `first_id` .. `first_id + devices`) must
//! not overlap: the same device counted twice is not a merge. A refusal is
//! one line naming the file and the differing key. Shard reports (a
//! `shard` section) must moreover be one whole run: one run id, every
//! index once, each holding its split's devices, none missing unless
//! `--partial` (see [`crate::shard::set`]); their `connect_rate`, like
//! `pace.rate`, must match per device. The merged report's `shards` says
//! which indices it holds and lacks.
//!
//! # How
//! Counters (`counters`, `devices`, `udp`, `commands`, `cpu`) are summed,
//! and so is the per-second `timeline`, second by second, each report's
//! shifted by the whole seconds it started after the earliest
//! (`run.start.started_unix_ms`; `longest_outage_ms` takes the maximum);
//! histograms are decoded, added and re-encoded, and every percentile is
//! recomputed from the merged histogram (never averaged). Derived figures
//! are recomputed: `udp.datagrams_per_s` (sent ÷ duration), `udp.identity`,
//! `config.devices`/`first_id`/`pace.rate`. Machine- or hub-wide snapshots
//! are not summed: `snmp_udp_delta` takes the per-field maximum (every
//! generator on one machine sees the same kernel counters); with a shared
//! external hub, `hub_stats` and its drop counters come from the snapshot
//! with the most datagrams (the hub's counters only grow). The inputs are
//! listed in `merged_from` (file, seed, start time, command line).

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::report::histo::{decode_histogram, LatencySummary};
use crate::tools::reportfile::{at, load_report, FileError};

/// `config` keys that legitimately differ between the parts of one load.
pub const MAY_DIFFER: &[&str] = &[
    "seed",
    "devices",
    "first_id",
    "id_width",
    "threads",
    "source_ips",
    "quiet",
    "max_p99_ms",
    "max_unexplained_loss",
    "min_registered",
    "allow_failed_checks",
    "summary",
    "progress_every",
];

/// Why reports could not be merged.
#[derive(Debug)]
pub enum MergeError {
    File(FileError),
    /// Fewer than two reports.
    TooFew,
    /// The reports describe different loads; the text names the key.
    Incompatible(String),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::File(e) => e.fmt(f),
            MergeError::TooFew => {
                f.write_str("merge needs at least two reports (or one run's shards)")
            }
            MergeError::Incompatible(s) => write!(f, "cannot merge: {s}"),
        }
    }
}

impl std::error::Error for MergeError {}

impl From<FileError> for MergeError {
    fn from(e: FileError) -> Self {
        MergeError::File(e)
    }
}

fn shape(s: String) -> MergeError {
    MergeError::File(FileError::Shape(s))
}

/// Loads and merges the reports at `paths`; `partial` lets a run's shard
/// set merge with shards missing.
pub fn merge_files(paths: &[PathBuf], partial: bool) -> Result<Value, MergeError> {
    let docs = paths
        .iter()
        .map(|p| load_report(p).map(|d| (p.display().to_string(), d)))
        .collect::<Result<Vec<_>, _>>()?;
    merge_set(&docs, partial)
}

fn num(v: &Value, path: &str) -> f64 {
    at(v, path).and_then(Value::as_f64).unwrap_or(0.0)
}

fn u(v: &Value, path: &str) -> u64 {
    at(v, path).and_then(Value::as_u64).unwrap_or(0)
}

/// Checks that `b` (named `name`) may be merged into `a`.
pub fn compatible(a: &Value, b: &Value, name: &str) -> Result<(), MergeError> {
    if a.get("schema_version") != b.get("schema_version") {
        return Err(MergeError::Incompatible(format!(
            "{name}: schema_version {} differs from {}",
            b["schema_version"], a["schema_version"]
        )));
    }
    if a.get("kind").is_some() || b.get("kind").is_some() {
        return Err(MergeError::Incompatible(format!(
            "{name}: not a run report (has a `kind`)"
        )));
    }
    let (Some(ca), Some(cb)) = (
        a.get("config").and_then(Value::as_object),
        b.get("config").and_then(Value::as_object),
    ) else {
        return Err(shape(format!("{name}: no config object")));
    };
    let keys: std::collections::BTreeSet<&String> = ca.keys().chain(cb.keys()).collect();
    for k in keys {
        if MAY_DIFFER.contains(&k.as_str()) {
            continue;
        }
        let (x, y) = (ca.get(k), cb.get(k));
        let sharded = a.get("shard").is_some_and(|s| !s.is_null());
        let same = match k.as_str() {
            "pace" => same_pace(a, b),
            // A shard's connect rate is its part of the fleet's.
            "connect_rate" if sharded => same_per_device(a, b, "config.connect_rate"),
            _ => x == y,
        };
        if !same {
            let show = |v: Option<&Value>| v.map_or("absent".to_string(), Value::to_string);
            return Err(MergeError::Incompatible(format!(
                "{name}: config.{k} is {} but {} in the first report",
                show(y),
                show(x)
            )));
        }
    }
    Ok(())
}

/// Same pace kind; same interval (closed loop) or same rate per device
/// (open loop, to a relative 1e-9).
fn same_pace(a: &Value, b: &Value) -> bool {
    let (pa, pb) = (&a["config"]["pace"], &b["config"]["pace"]);
    if pa["kind"] != pb["kind"] {
        return false;
    }
    if pa["kind"] == "open_loop" {
        same_per_device(a, b, "config.pace.rate")
    } else {
        pa == pb
    }
}

/// The fleet rate at `path` is the same per device (to a relative 1e-9).
fn same_per_device(a: &Value, b: &Value, path: &str) -> bool {
    let per = |v: &Value| num(v, path) / num(v, "config.devices").max(1.0);
    let (x, y) = (per(a), per(b));
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
}

/// Device number ranges `[first, first + devices)` of the inputs must not
/// overlap.
fn disjoint_ranges(docs: &[(String, Value)]) -> Result<(), MergeError> {
    let mut r: Vec<(u64, u64, &str)> = docs
        .iter()
        .map(|(n, d)| {
            let f = u(d, "config.first_id");
            (f, f + u(d, "config.devices"), n.as_str())
        })
        .collect();
    r.sort();
    for w in r.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(MergeError::Incompatible(format!(
                "{}: devices {}..{} overlap {} ({}..{})",
                w[1].2, w[1].0, w[1].1, w[0].2, w[0].0, w[0].1
            )));
        }
    }
    Ok(())
}

/// Sums every integer leaf of `b` into `a` (objects recursively); keys in
/// `skip` are left as in `a`.
fn sum_into(a: &mut Value, b: &Value, skip: &[&str]) {
    let (Some(ao), Some(bo)) = (a.as_object_mut(), b.as_object()) else {
        return;
    };
    for (k, bv) in bo {
        if skip.contains(&k.as_str()) {
            continue;
        }
        match ao.get_mut(k) {
            Some(av) if av.is_object() => sum_into(av, bv, skip),
            Some(av) => {
                if let (Some(x), Some(y)) = (av.as_u64(), bv.as_u64()) {
                    *av = json!(x + y);
                } else if let (Some(x), Some(y)) = (av.as_i64(), bv.as_i64()) {
                    *av = json!(x + y);
                } else if let (Some(x), Some(y)) = (av.as_f64(), bv.as_f64()) {
                    *av = json!(x + y);
                }
            }
            None => {
                ao.insert(k.clone(), bv.clone());
            }
        }
    }
}

/// Per-field maximum of two objects of numbers (`null` stays `null`).
fn max_into(a: &mut Value, b: &Value) {
    if let (Some(ao), Some(bo)) = (a.as_object_mut(), b.as_object()) {
        for (k, bv) in bo {
            let x = ao.get(k).and_then(Value::as_u64).unwrap_or(0);
            if let Some(y) = bv.as_u64() {
                ao.insert(k.clone(), json!(x.max(y)));
            }
        }
    }
}

/// Merges the histograms of `latency_us.<kind>` over all docs.
fn merge_latency(docs: &[(String, Value)]) -> Result<Value, MergeError> {
    let mut out = Map::new();
    let kinds = docs[0].1["latency_us"]
        .as_object()
        .ok_or_else(|| shape(format!("{}: no latency_us", docs[0].0)))?;
    for kind in kinds.keys() {
        let mut merged = None;
        for (name, d) in docs {
            let b64 = at(d, &format!("latency_us.{kind}.hist"))
                .and_then(Value::as_str)
                .ok_or_else(|| shape(format!("{name}: no latency_us.{kind}.hist")))?;
            let h = decode_histogram(b64)
                .ok_or_else(|| shape(format!("{name}: latency_us.{kind}.hist does not decode")))?;
            match &mut merged {
                None => merged = Some(h),
                Some(m) => hdrhistogram::Histogram::add(m, &h).map_err(|e| {
                    shape(format!(
                        "{name}: latency_us.{kind}.hist cannot be added: {e:?}"
                    ))
                })?,
            }
        }
        if let Some(h) = merged {
            let s =
                serde_json::to_value(LatencySummary::of(&h)).map_err(|e| shape(e.to_string()))?;
            out.insert(kind.clone(), s);
        }
    }
    Ok(Value::Object(out))
}

/// Whole seconds each report started after the earliest, from
/// `run.start.started_unix_ms` (0 for reports without it).
fn start_offsets(docs: &[(String, Value)]) -> Vec<u64> {
    let starts: Vec<Option<u64>> = docs
        .iter()
        .map(|(_, d)| d["run"]["start"]["started_unix_ms"].as_u64())
        .collect();
    let Some(earliest) = starts.iter().flatten().min().copied() else {
        return vec![0; docs.len()];
    };
    starts
        .iter()
        .map(|s| s.map_or(0, |s| (s - earliest + 500) / 1000))
        .collect()
}

/// Adds timeline `b` into `a` second by second, `b` shifted `offset` s
/// later (each run's `t_s` counts from its own start; the merged one from
/// the earliest start); the longer timeline sets the length.
fn merge_timeline(a: &mut Value, b: &Value, offset: u64) {
    let (Some(a), Some(b)) = (a.as_array_mut(), b.as_array()) else {
        return;
    };
    for (i, sample) in b.iter().enumerate() {
        let at = i + offset as usize;
        while a.len() < at {
            let t = a.len() as u64 + 1;
            a.push(json!({"t_s": t}));
        }
        match a.get_mut(at) {
            Some(mine) => sum_into(mine, sample, &["t_s"]),
            None => {
                let mut s = sample.clone();
                s["t_s"] = json!(at as u64 + 1);
                a.push(s);
            }
        }
    }
}

/// Merges already-loaded reports `(name, doc)`; see the module docs.
pub fn merge(docs: &[(String, Value)]) -> Result<Value, MergeError> {
    merge_set(docs, false)
}

/// [`merge`], first checking that shard reports are one whole run
/// ([`crate::shard::set`]); `partial` lets missing shards through.
pub fn merge_set(docs: &[(String, Value)], partial: bool) -> Result<Value, MergeError> {
    if docs.is_empty() {
        return Err(MergeError::TooFew);
    }
    let set = crate::shard::set::check(docs, partial)?;
    // One report merges only as a whole (1/1) or partial shard set.
    if docs.len() < 2 && set.is_none() {
        return Err(MergeError::TooFew);
    }
    let first = &docs[0].1;
    for (name, d) in &docs[1..] {
        compatible(first, d, name)?;
    }
    disjoint_ranges(docs)?;
    let external = first["config"]["target"]["kind"] == "external";
    let mut m = first.clone();
    let offsets = start_offsets(docs);
    m["timeline"] = json!([]);
    for ((_, d), &o) in docs.iter().zip(&offsets) {
        merge_timeline(&mut m["timeline"], &d["timeline"], o);
    }
    for (_, d) in &docs[1..] {
        sum_into(&mut m["counters"], &d["counters"], &[]);
        sum_into(
            &mut m["devices"],
            &d["devices"],
            &["time_to_register_all_ms", "longest_outage_ms"],
        );
        if let Some(theirs) = d["devices"]["longest_outage_ms"].as_u64() {
            let ours = m["devices"]["longest_outage_ms"].as_u64().unwrap_or(0);
            m["devices"]["longest_outage_ms"] = json!(ours.max(theirs));
        }
        sum_into(&mut m["udp"], &d["udp"], &["datagrams_per_s", "identity"]);
        sum_into(&mut m["commands"], &d["commands"], &["errors", "wave_list"]);
        sum_into(&mut m["cpu"], &d["cpu"], &[]);
        for list in ["errors", "wave_list"] {
            if let (Some(a), Some(b)) = (
                m["commands"][list].as_array_mut(),
                d["commands"][list].as_array(),
            ) {
                a.extend(b.iter().cloned());
            }
        }
        let snmp = d["loss_diagnosis"]["snmp_udp_delta"].clone();
        max_into(&mut m["loss_diagnosis"]["snmp_udp_delta"], &snmp);
    }
    // Registration of the merged fleet ends when its slowest part's does.
    let ttr: Option<Vec<u64>> = docs
        .iter()
        .map(|(_, d)| d["devices"]["time_to_register_all_ms"].as_u64())
        .collect();
    m["devices"]["time_to_register_all_ms"] = json!(ttr.and_then(|v| v.into_iter().max()));
    let hub_s: Option<f64> = docs.iter().map(|(_, d)| d["cpu"]["hub_s"].as_f64()).sum();
    m["cpu"]["hub_s"] = json!(hub_s);

    // Hub-wide figures.
    let hub_keys = ["hub_udp_rcvbuf_drops", "statuses_rate_limited"];
    if external {
        let latest = docs
            .iter()
            .max_by_key(|(_, d)| u(d, "hub_stats.stats.udp.datagrams"))
            .map(|(_, d)| d)
            .unwrap_or(first);
        m["hub_stats"] = latest["hub_stats"].clone();
        for k in hub_keys {
            m["loss_diagnosis"][k] = latest["loss_diagnosis"][k].clone();
        }
    } else {
        // Separate embedded hubs: their drops add up; no one stats reply
        // describes the merged load.
        for k in hub_keys {
            let s: Option<u64> = docs
                .iter()
                .map(|(_, d)| d["loss_diagnosis"][k].as_u64())
                .sum();
            m["loss_diagnosis"][k] = json!(s);
        }
        m["hub_stats"] = Value::Null;
    }

    // Derived figures.
    let devices: u64 = docs.iter().map(|(_, d)| u(d, "config.devices")).sum();
    let first_id = docs.iter().map(|(_, d)| u(d, "config.first_id")).min();
    m["config"]["devices"] = json!(devices);
    m["config"]["first_id"] = json!(first_id);
    m["devices"]["requested"] = json!(devices);
    if let Some(set) = &set {
        let rate: f64 = docs
            .iter()
            .map(|(_, d)| num(d, "config.connect_rate"))
            .sum();
        m["config"]["connect_rate"] = json!(rate);
        m["shard"] = Value::Null;
        m["shards"] = serde_json::to_value(set).map_err(|e| shape(e.to_string()))?;
    }
    if let Some(earliest) = docs
        .iter()
        .filter_map(|(_, d)| d["run"]["start"]["started_unix_ms"].as_u64())
        .min()
    {
        m["run"]["start"]["started_unix_ms"] = json!(earliest);
        let worst = docs
            .iter()
            .filter_map(|(_, d)| d["run"]["start"]["skew_ms"].as_f64())
            .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
        m["run"]["start"]["skew_ms"] = json!(worst);
    }
    if m["config"]["pace"]["kind"] == "open_loop" {
        let rate: f64 = docs.iter().map(|(_, d)| num(d, "config.pace.rate")).sum();
        m["config"]["pace"]["rate"] = json!(rate);
    }
    let secs = num(first, "config.duration") / 1000.0;
    m["udp"]["datagrams_per_s"] = json!(u(&m, "udp.sent") as f64 / secs.max(1e-9));
    let bad: Vec<String> = docs
        .iter()
        .filter(|(_, d)| d["udp"]["identity"] != "ok")
        .map(|(n, d)| format!("{n}: {}", d["udp"]["identity"].as_str().unwrap_or("?")))
        .collect();
    m["udp"]["identity"] = json!(if bad.is_empty() {
        "ok".to_string()
    } else {
        bad.join("; ")
    });
    let unexplained = m["udp"]["unexplained_loss"].as_i64().unwrap_or(0);
    m["loss_diagnosis"]["explanation"] = json!(if unexplained == 0 {
        "none: every missing datagram was dropped on purpose".to_string()
    } else {
        docs.iter()
            .map(|(n, d)| {
                format!(
                    "{n}: {}",
                    d["loss_diagnosis"]["explanation"].as_str().unwrap_or("?")
                )
            })
            .collect::<Vec<_>>()
            .join(" | ")
    });
    m["latency_us"] = merge_latency(docs)?;
    let breaches: Vec<Value> = docs
        .iter()
        .flat_map(|(n, d)| {
            d["breaches"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |b| json!(format!("{n}: {}", b.as_str().unwrap_or("?"))))
        })
        .collect();
    m["ok"] = json!(breaches.is_empty());
    m["breaches"] = Value::Array(breaches);
    // Each part's verdict, named by its file (a merged run passes only if
    // every part did).
    m["checks"] = Value::Array(
        docs.iter()
            .flat_map(|(n, d)| {
                d["checks"].as_array().into_iter().flatten().map(move |c| {
                    let mut c = c.clone();
                    c["file"] = json!(n);
                    c
                })
            })
            .collect(),
    );
    m["run"]["wall_s"] = json!(docs
        .iter()
        .map(|(_, d)| num(d, "run.wall_s"))
        .fold(0.0, f64::max));
    m["merged_from"] = Value::Array(
        docs.iter()
            .map(|(n, d)| {
                json!({
                    "file": n,
                    "seed": d["run"]["seed"],
                    "start_time": d["run"]["start_time"],
                    "command_line": d["run"]["command_line"],
                    "first_id": d["config"]["first_id"],
                    "devices": d["config"]["devices"],
                    "shard": d["shard"]["index"],
                    "run_id": d["run"]["run_id"],
                    "start": d["run"]["start"],
                })
            })
            .collect(),
    );
    Ok(m)
}

/// Writes `doc` pretty-printed to `out`, or to stdout.
pub fn write(doc: &Value, out: Option<&Path>) -> Result<(), FileError> {
    let text =
        serde_json::to_string_pretty(doc).map_err(|e| FileError::Shape(e.to_string()))? + "\n";
    match out {
        Some(p) => std::fs::write(p, text).map_err(|e| FileError::Io(p.to_path_buf(), e)),
        None => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(text.as_bytes())
                .map_err(|e| FileError::Io(PathBuf::from("<stdout>"), e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::histo::{encode_histogram, new_histogram};

    /// A minimal report: `n` devices from `first`, status samples `lo..=hi`.
    fn report(first: u64, n: u64, lo: u64, hi: u64, sent: u64) -> Value {
        let mut h = new_histogram();
        for v in lo..=hi {
            h.record(v).unwrap();
        }
        let s = LatencySummary::of(&h);
        json!({
            "schema_version": 1,
            "run": {"seed": first, "wall_s": 3.0, "start_time": "t", "command_line": []},
            "config": {"devices": n, "first_id": first, "prefix": "S", "seed": first,
                        "duration": 1000, "loss": 0.02, "target": {"kind": "embedded"},
                        "pace": {"kind": "closed_loop", "interval_ms": 1000}},
            "devices": {"requested": n, "registered": n, "time_to_register_all_ms": first},
            "udp": {"sent": sent, "unexplained_loss": 0, "identity": "ok", "datagrams_per_s": 0.0},
            "commands": {"waves": 1, "errors": [], "wave_list": [{"id": first}]},
            "latency_us": {"status": {"p50": s.p50, "p90": s.p90, "p99": s.p99, "p999": s.p999,
                            "max": s.max, "count": s.count, "hist": encode_histogram(&h)}},
            "loss_diagnosis": {"hub_udp_rcvbuf_drops": 1, "snmp_udp_delta": {"in_errors": first},
                               "statuses_rate_limited": 0, "explanation": "none"},
            "cpu": {"loadgen_s": 1.5, "hub_s": 0.5},
            "hub_stats": null,
            "counters": {"sent": sent, "statuses": 7},
            "breaches": [], "ok": true
        })
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
        c["schema_version"] = json!(2);
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
        d["run"]["start"] = json!({"started_unix_ms": start_ms, "skew_ms": start_ms as f64});
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

    #[test]
    fn one_report_is_not_a_merge() {
        assert!(matches!(
            merge(&docs(vec![report(1, 1, 1, 1, 1)])),
            Err(MergeError::TooFew)
        ));
    }
}
