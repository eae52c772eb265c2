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
//!
//! # Typed, and what stays JSON
//! Each input is read twice: typed ([`Report`], via
//! `reportfile::typed`) and as its JSON tree. Everything the merge decides
//! or derives reads typed fields: the compatibility checks (schema
//! version, pace and connect rate per device, every `RunConfig` field),
//! device ranges, the shard set ([`crate::shard::set`]), the hub-wide
//! figures, percentiles, identities, breaches, checks and `merged_from`.
//! The merged document itself is the first input's tree with the sums and
//! derived figures written in, and the sums of the counter sections
//! (`counters`, `devices`, `udp`, `commands`, `cpu`, the timeline's
//! samples) stay generic over JSON, for two reasons: the typed sections
//! read a key an older build never wrote as 0, and a merge of schema 1
//! reports must not write those zeros back as if they had been counted
//! (a merged file keeps its inputs' own keys, as before); and typing the
//! sums would mean a hand-written addition per field of five sections,
//! each a place to forget the next new counter. The generic sum adds every
//! integer leaf, so a new counter is summed without a line here. The hub's
//! `stats` reply (`hub_stats`) is JSON in the report too: it is the reply
//! verbatim, from hubs of any version.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::{Pace, Target};
use crate::report::checks::Check;
use crate::report::histo::{decode_histogram, LatencySummary};
use crate::report::{MergedFrom, Report};
use crate::tools::reportfile::{at, load_report, typed, FileError};

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

impl From<crate::shard::set::SetError> for MergeError {
    fn from(e: crate::shard::set::SetError) -> Self {
        MergeError::Incompatible(e.0)
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

/// Checks that `b` (named `name`, read as `b_doc`) may be merged into `a`.
pub fn compatible(
    (a_doc, a): (&Value, &Report),
    (b_doc, b): (&Value, &Report),
    name: &str,
) -> Result<(), MergeError> {
    if a.schema_version != b.schema_version {
        return Err(MergeError::Incompatible(format!(
            "{name}: schema_version {} differs from {}",
            b.schema_version, a.schema_version
        )));
    }
    // Not a field of the schema: a `loadgen limits` file has it.
    if a_doc.get("kind").is_some() || b_doc.get("kind").is_some() {
        return Err(MergeError::Incompatible(format!(
            "{name}: not a run report (has a `kind`)"
        )));
    }
    let (Some(ra), Some(rb)) = (
        a_doc.get("config").and_then(Value::as_object),
        b_doc.get("config").and_then(Value::as_object),
    ) else {
        return Err(shape(format!("{name}: no config object")));
    };
    // Every `RunConfig` field, typed (so `100` and `100.0` are one rate),
    // plus any key this build does not know, compared as written.
    let config = |r: &Report| match serde_json::to_value(&r.config) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(shape(format!("{name}: config does not serialize"))),
    };
    let (ta, tb) = (config(a)?, config(b)?);
    let keys: std::collections::BTreeSet<&String> =
        ra.keys().chain(rb.keys()).chain(ta.keys()).collect();
    let sharded = a.shard.is_some();
    for k in keys {
        if MAY_DIFFER.contains(&k.as_str()) {
            continue;
        }
        let (x, y) = (ra.get(k), rb.get(k));
        let same = match k.as_str() {
            "pace" => same_pace(a, b),
            // A shard's connect rate is its part of the fleet's.
            "connect_rate" if sharded => same_per_device(
                (a.config.connect_rate, a.config.devices),
                (b.config.connect_rate, b.config.devices),
            ),
            // Written by one and not the other (an older build): differ,
            // whatever the typed default says.
            _ if x.is_some() != y.is_some() => false,
            _ if ta.contains_key(k) => ta.get(k) == tb.get(k),
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
fn same_pace(a: &Report, b: &Report) -> bool {
    match (a.config.pace, b.config.pace) {
        (Pace::ClosedLoop { interval_ms: x }, Pace::ClosedLoop { interval_ms: y }) => x == y,
        (Pace::OpenLoop { rate: x }, Pace::OpenLoop { rate: y }) => {
            same_per_device((x, a.config.devices), (y, b.config.devices))
        }
        _ => false,
    }
}

/// Two fleet rates `(rate, devices)` are the same per device (to a
/// relative 1e-9).
fn same_per_device(a: (f64, u32), b: (f64, u32)) -> bool {
    let per = |(rate, devices): (f64, u32)| rate / f64::from(devices).max(1.0);
    let (x, y) = (per(a), per(b));
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
}

/// Device number ranges `[first, first + devices)` of the inputs must not
/// overlap.
fn disjoint_ranges(reports: &[(String, Report)]) -> Result<(), MergeError> {
    let mut r: Vec<(u64, u64, &str)> = reports
        .iter()
        .map(|(n, d)| {
            let f = d.config.first_id;
            (f, f + u64::from(d.config.devices), n.as_str())
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

/// Merges the histograms of `latency_us.<kind>` over all reports.
fn merge_latency(reports: &[(String, Report)]) -> Result<Value, MergeError> {
    let mut out = Map::new();
    for kind in reports[0].1.latency_us.keys() {
        let mut merged = None;
        for (name, d) in reports {
            let b64 = d
                .latency_us
                .get(kind)
                .map(|s| s.hist.as_str())
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

/// When each report's clock started, Unix ms (`None`: before `run.start`).
fn started(r: &Report) -> Option<u64> {
    r.run.start.as_ref().map(|s| s.started_unix_ms)
}

/// Whole seconds each report started after the earliest, from
/// `run.start.started_unix_ms` (0 for reports without it).
fn start_offsets(reports: &[(String, Report)]) -> Vec<u64> {
    let starts: Vec<Option<u64>> = reports.iter().map(|(_, r)| started(r)).collect();
    let Some(earliest) = starts.iter().flatten().min().copied() else {
        return vec![0; reports.len()];
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
            Some(mine) => sum_into(mine, sample, &["t_s", "stage"]),
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

fn value(v: impl Serialize) -> Result<Value, MergeError> {
    serde_json::to_value(v).map_err(|e| shape(e.to_string()))
}

/// [`merge`], first checking that shard reports are one whole run
/// ([`crate::shard::set`]); `partial` lets missing shards through.
pub fn merge_set(docs: &[(String, Value)], partial: bool) -> Result<Value, MergeError> {
    if docs.is_empty() {
        return Err(MergeError::TooFew);
    }
    let reports: Vec<(String, Report)> = docs
        .iter()
        .map(|(n, d)| typed(Path::new(n), d).map(|r| (n.clone(), r)))
        .collect::<Result<_, _>>()?;
    let set = crate::shard::set::check(&reports, partial)?;
    // One report merges only as a whole (1/1) or partial shard set.
    if docs.len() < 2 && set.is_none() {
        return Err(MergeError::TooFew);
    }
    let (first_doc, first) = (&docs[0].1, &reports[0].1);
    for ((name, d), (_, r)) in docs[1..].iter().zip(&reports[1..]) {
        compatible((first_doc, first), (d, r), name)?;
    }
    disjoint_ranges(&reports)?;
    let external = matches!(first.config.target, Target::External { .. });
    let mut m = first_doc.clone();
    // Per-stage figures do not add up across generators yet: none is kept.
    m.as_object_mut().map(|o| o.remove("stages"));
    let offsets = start_offsets(&reports);
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
    let all = || reports.iter().map(|(_, r)| r);
    // Registration of the merged fleet ends when its slowest part's does.
    let ttr: Option<Vec<u64>> = all().map(|r| r.devices.time_to_register_all_ms).collect();
    m["devices"]["time_to_register_all_ms"] = json!(ttr.and_then(|v| v.into_iter().max()));
    let hub_s: Option<f64> = all().map(|r| r.cpu.hub_s).sum();
    m["cpu"]["hub_s"] = json!(hub_s);

    // Hub-wide figures.
    if external {
        let datagrams = |r: &Report| {
            r.hub_stats
                .as_ref()
                .and_then(|h| at(h, "stats.udp.datagrams"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        let latest = all().max_by_key(|r| datagrams(r)).unwrap_or(first);
        m["hub_stats"] = json!(latest.hub_stats);
        let l = &latest.loss_diagnosis;
        m["loss_diagnosis"]["hub_udp_rcvbuf_drops"] = json!(l.hub_udp_rcvbuf_drops);
        m["loss_diagnosis"]["statuses_rate_limited"] = json!(l.statuses_rate_limited);
    } else {
        // Separate embedded hubs: their drops add up; no one stats reply
        // describes the merged load.
        let drops: Option<u64> = all().map(|r| r.loss_diagnosis.hub_udp_rcvbuf_drops).sum();
        let limited: Option<u64> = all().map(|r| r.loss_diagnosis.statuses_rate_limited).sum();
        m["loss_diagnosis"]["hub_udp_rcvbuf_drops"] = json!(drops);
        m["loss_diagnosis"]["statuses_rate_limited"] = json!(limited);
        m["hub_stats"] = Value::Null;
    }

    // Derived figures.
    let devices: u64 = all().map(|r| u64::from(r.config.devices)).sum();
    let first_id = all().map(|r| r.config.first_id).min();
    m["config"]["devices"] = json!(devices);
    m["config"]["first_id"] = json!(first_id);
    m["devices"]["requested"] = json!(devices);
    if let Some(set) = &set {
        let rate: f64 = all().map(|r| r.config.connect_rate).sum();
        m["config"]["connect_rate"] = json!(rate);
        m["shard"] = Value::Null;
        m["shards"] = value(set)?;
    }
    if let Some(earliest) = all().filter_map(started).min() {
        m["run"]["start"]["started_unix_ms"] = json!(earliest);
        let worst = all()
            .filter_map(|r| r.run.start.as_ref()?.skew_ms)
            .fold(None, |a: Option<f64>, x| Some(a.map_or(x, |a| a.max(x))));
        m["run"]["start"]["skew_ms"] = json!(worst);
    }
    if let Pace::OpenLoop { .. } = first.config.pace {
        let rate: f64 = all()
            .map(|r| match r.config.pace {
                Pace::OpenLoop { rate } => rate,
                Pace::ClosedLoop { .. } => 0.0,
            })
            .sum();
        m["config"]["pace"]["rate"] = json!(rate);
    }
    let secs = first.config.duration.as_millis() as f64 / 1000.0;
    let sent: u64 = all().map(|r| r.udp.sent).sum();
    m["udp"]["datagrams_per_s"] = json!(sent as f64 / secs.max(1e-9));
    let bad: Vec<String> = reports
        .iter()
        .filter(|(_, r)| r.udp.identity != "ok")
        .map(|(n, r)| format!("{n}: {}", r.udp.identity))
        .collect();
    m["udp"]["identity"] = json!(if bad.is_empty() {
        "ok".to_string()
    } else {
        bad.join("; ")
    });
    let unexplained: i64 = all().map(|r| r.udp.unexplained_loss).sum();
    m["loss_diagnosis"]["explanation"] = json!(if unexplained == 0 {
        "none: every missing datagram was dropped on purpose".to_string()
    } else {
        reports
            .iter()
            .map(|(n, r)| format!("{n}: {}", r.loss_diagnosis.explanation))
            .collect::<Vec<_>>()
            .join(" | ")
    });
    m["latency_us"] = merge_latency(&reports)?;
    let breaches: Vec<String> = reports
        .iter()
        .flat_map(|(n, r)| r.breaches.iter().map(move |b| format!("{n}: {b}")))
        .collect();
    m["ok"] = json!(breaches.is_empty());
    m["breaches"] = json!(breaches);
    // Each part's verdict, named by its file (a merged run passes only if
    // every part did).
    let mut checks = Vec::new();
    for (n, r) in &reports {
        for c in &r.checks {
            checks.push(value(Check {
                file: Some(n.clone()),
                ..c.clone()
            })?);
        }
    }
    m["checks"] = Value::Array(checks);
    m["run"]["wall_s"] = json!(all().map(|r| r.run.wall_s).fold(0.0, f64::max));
    let from: Vec<MergedFrom> = reports
        .iter()
        .map(|(n, r)| MergedFrom {
            file: n.clone(),
            seed: r.run.seed,
            start_time: r.run.start_time.clone(),
            command_line: r.run.command_line.clone(),
            first_id: r.config.first_id,
            devices: r.config.devices,
            shard: r.shard.as_ref().map(|s| s.index),
            run_id: r.run.run_id.clone(),
            start: r.run.start.clone(),
        })
        .collect();
    m["merged_from"] = value(from)?;
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
#[path = "merge_tests.rs"]
mod tests;
