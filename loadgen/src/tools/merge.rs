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
mod tests {
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
        a["stages"] =
            json!({"target": "rate", "list": [], "knee": null, "held": 0, "verdict": "held"});
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
}
