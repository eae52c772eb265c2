//! The final JSON report. These serde structs *are* the schema documented in
//! `loadgen/SCHEMA.md` (bump [`SCHEMA_VERSION`] on any incompatible change).
//! [`Report::build`] derives every section from the merged counters,
//! histograms, operator log and hub stats, then the named
//! [`checks`] (thresholds included) decide `ok`.
//!
//! Every struct here also reads back (`Deserialize`), so the offline tools
//! work on typed fields. Unknown keys are ignored (a merged report's
//! `merged_from`/`shards`, a newer build's extra counters). The readers
//! accept schema 1 and 2 (see `tools::reportfile`), and within them
//! sections grew: a field newer than the oldest committed reports carries
//! `#[serde(default)]` when absence means "not counted" (0, empty,
//! false), and is an `Option` when absence must stay visible (`run.run_id`,
//! `run.start`, `timeline`: `None` for reports that lack them). Everything
//! else is required: a report without it is not one this build reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use hub::ops::wire::HubStats;
use hub::recorder::RecorderStats;

use crate::config::RunConfig;
use crate::live::operator::{OperatorLog, Wave};
use crate::preflight::machine::{Machine, UdpSnmp};
use crate::report::accounting::Counters;
use crate::report::checks::{self, Check};
use crate::report::evidence::Samples;
use crate::report::histo::{Kind, Latencies, LatencySummary};
use crate::report::outage::OutageSummary;
use crate::report::timeline::Sample;
use crate::shard::set::SetSummary;
use crate::shard::start::StartInfo;
use crate::shard::ShardInfo;
use crate::stages::figures::StagesReport;

/// Version of the report layout (2: datagram fates, checks, generator,
/// evidence).
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub run: RunInfo,
    /// This report's shard of a bigger fleet (`null` unsharded).
    pub shard: Option<ShardInfo>,
    pub config: RunConfig,
    pub devices: Devices,
    pub udp: Udp,
    pub commands: Commands,
    pub latency_us: BTreeMap<String, LatencySummary>,
    pub loss_diagnosis: LossDiagnosis,
    /// Whether loadgen kept its own schedule (zeros before schema 2).
    #[serde(default)]
    pub generator: Generator,
    /// The first few refused STATUS, refusals and violations, verbatim
    /// (empty before schema 2).
    #[serde(default)]
    pub evidence: Samples,
    pub cpu: Cpu,
    /// The hub's own `stats` reply at the end of the run (`null` if the
    /// admin port did not answer).
    pub hub_stats: Option<Value>,
    /// The hub's recorder counters (`null`: no recorder, or unreachable).
    pub recorder: Option<RecorderReport>,
    /// Every raw counter, summed over workers.
    pub counters: Counters,
    /// One sample per second of the run (see `timeline.rs`; `None` in
    /// reports from before the timeline).
    pub timeline: Option<Vec<Sample>>,
    /// The verdict, one named check each (see `checks.rs`; empty before
    /// schema 2).
    #[serde(default)]
    pub checks: Vec<Check>,
    /// One line per check that failed the run; empty means it passed.
    pub breaches: Vec<String>,
    /// No check failed the run.
    pub ok: bool,
    /// A merged shard set: which indices it holds and lacks (absent in a
    /// run's own report, and in merges of hand-started generators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<SetSummary>,
    /// A merged report's inputs (absent in a run's own report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_from: Option<Vec<MergedFrom>>,
    /// A staged run's per-stage figures and knee (absent without
    /// `--stages`; see `stages::figures`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<StagesReport>,
}

/// One input of a merged report, as `merged_from` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedFrom {
    /// The input's path, as given to `loadgen merge`.
    pub file: String,
    pub seed: u64,
    pub start_time: String,
    pub command_line: Vec<String>,
    pub first_id: u64,
    pub devices: u32,
    /// Its shard index (`null` unsharded).
    pub shard: Option<u32>,
    pub run_id: Option<String>,
    pub start: Option<StartInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    /// Worker threads, and how many sent their final counters (fewer means
    /// the report is built from a partial snapshot: a failed check).
    pub workers: u64,
    pub workers_reported: u64,
    /// Intended → actual send time of measured datagrams, µs.
    pub send_lag_p99_us: u64,
    pub send_lag_max_us: u64,
    /// Datagrams sent more than `--max-send-lag-ms` late.
    pub late_sends: u64,
    /// Send-lag p99 above `--max-send-lag-ms`, or a partial snapshot: the
    /// offered load was not the one asked for.
    pub saturated: bool,
}

/// What became of every generated datagram (measured cycles).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fates {
    /// A valid STATUS of its cycle counted it received (in order).
    pub received: u64,
    /// A valid STATUS of its cycle listed it missing (real loss).
    pub missing: u64,
    /// Its cycle got no valid STATUS: never counted as explained.
    pub unknown: u64,
    pub injected: u64,
    pub send_errors: u64,
    /// `--reorder`: sent after a later SEQ of its cycle, and a valid
    /// STATUS counted it received (0 before faults).
    #[serde(default)]
    pub reordered: u64,
    /// `--corrupt`: sent damaged so it does not parse; the hub must drop
    /// it (0 before faults).
    #[serde(default)]
    pub corrupted: u64,
    /// `--duplicate`: extra copies the kernel took. Not generated
    /// datagrams: beside the identity, not in it (0 before faults).
    #[serde(default)]
    pub duplicated: u64,
    /// Generated but still held by `--delay` when the run ended (0 before
    /// faults).
    #[serde(default)]
    pub unsent: u64,
}

/// What the faults beyond loss did and what the hub made of them
/// (`udp.faults`; zeros before faults and when none were asked for).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultFigures {
    /// Datagrams on the wire: `sent + fates.duplicated`.
    pub wire: u64,
    /// Datagrams sent out of order, whatever their fate.
    pub reordered_sent: u64,
    /// Of those, listed missing by a valid STATUS (in `fates.missing`):
    /// the hub treated an out-of-order SEQ as lost.
    pub reordered_missing: u64,
    /// Corrupted datagrams of closed cycles (explained when missing).
    pub corrupted_in_closed_cycles: u64,
    /// Corrupted datagrams a STATUS counted received: the hub accepted a
    /// malformed datagram.
    pub corrupted_not_missing: u64,
    /// Duplicate copies the kernel refused.
    pub duplicate_send_errors: u64,
    /// STATUS that counted more packets than distinct SEQs arrived, for a
    /// cycle with a duplicate on the wire: a duplicate counted twice.
    pub duplicates_overcounted: u64,
    /// The hub's own `udp.duplicates`, `udp.late` and `udp.malformed`
    /// (`null` without its stats; on a shared hub they include others').
    pub hub_duplicates: Option<u64>,
    pub hub_late: Option<u64>,
    pub hub_malformed: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub command_line: Vec<String>,
    pub seed: u64,
    /// UTC, RFC 3339.
    pub start_time: String,
    pub crate_version: String,
    pub git_commit: Option<String>,
    pub machine: Machine,
    pub embedded_hub: bool,
    pub hub_tcp: String,
    pub hub_udp: String,
    pub hub_admin: String,
    /// Wall time from start to report, seconds.
    pub wall_s: f64,
    /// Names the run; every shard of one run has the same (`None` in
    /// reports from before run ids).
    pub run_id: Option<String>,
    /// The requested start instant and how late this process began
    /// (`None` in reports from before `--start-at`).
    pub start: Option<StartInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Devices {
    pub requested: u32,
    /// Devices that registered at least once.
    pub registered: u64,
    pub up_at_end: u64,
    pub registrations: u64,
    pub reconnects: u64,
    pub disconnects: u64,
    /// `disconnects` by cause.
    #[serde(default)]
    pub disconnects_by_cause: DisconnectCauses,
    /// Registrations the hub refused (`ERROR …` or a close within
    /// `--registration-grace`).
    #[serde(default)]
    pub refused: u64,
    /// Sum of each worker's highest up count (an upper bound of the fleet's).
    #[serde(default)]
    pub peak_up: u64,
    /// The hub's own `registered` count at the end, before loadgen closed
    /// its connections (`null` if the admin port did not answer).
    pub hub_registered: Option<u64>,
    /// True when the hub is shared with other generators (a shard, or
    /// `--shared-hub`): its `registered` then counts their devices too, so
    /// `hub_agrees` can only check it holds at least ours.
    #[serde(default)]
    pub hub_shared: bool,
    /// Devices disconnected because the hub broke the protocol.
    #[serde(default)]
    pub hub_violations: u64,
    pub connect_failures: u64,
    /// First connect → last device's first registration, ms (`null` if
    /// not every device registered).
    pub time_to_register_all_ms: Option<u64>,
    /// Spans with fewer than all devices up, between the fleet's first full
    /// registration and the stop (0 and `null`s if it never fully registered).
    #[serde(default)]
    pub outage_count: u64,
    /// The longest such span, ms.
    pub longest_outage_ms: Option<u64>,
    /// Their total, ms.
    pub outage_total_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DisconnectCauses {
    pub eof: u64,
    pub reset: u64,
    pub error_line: u64,
    pub hub_violation: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Udp {
    /// `generated = received + reordered + missing + unknown + corrupted +
    /// injected + send_errors + unsent` (`duplicated` beside it).
    #[serde(default)]
    pub fates: Fates,
    pub generated: u64,
    pub sent: u64,
    pub injected_drops: u64,
    pub send_errors: u64,
    pub reported_missing: u64,
    pub reported_received: u64,
    pub injected_in_closed_cycles: u64,
    pub unexplained_loss: i64,
    pub statuses: u64,
    pub status_timeouts: u64,
    pub cycles_started: u64,
    pub unseen_cycles: u64,
    pub open_at_end: u64,
    pub missing_not_injected: u64,
    pub injected_not_missing: u64,
    pub stray_statuses: u64,
    /// STATUS refused by validation (never matched).
    #[serde(default)]
    pub status_invalid: u64,
    /// Valid STATUS that claimed an unsent SEQ arrived (not matched).
    #[serde(default)]
    pub status_unfit: u64,
    /// Cycles given up when a later cycle's STATUS came first.
    #[serde(default)]
    pub status_skipped: u64,
    /// FIFO matches made while two cycles awaited STATUS (open loop).
    #[serde(default)]
    pub uncertain_matches: u64,
    /// Datagrams of cycles the stop cut short (never generated).
    #[serde(default)]
    pub cut_at_stop: u64,
    /// Missing datagrams that only the generator's overload can explain
    /// (then `unexplained_loss` is 0 and the generator check fails).
    #[serde(default)]
    pub blurred_by_overload: i64,
    /// What `--reorder`, `--duplicate`, `--corrupt` did (zeros without).
    #[serde(default)]
    pub faults: FaultFigures,
    /// `sent / --duration`: over the measured window (after warm-up).
    pub datagrams_per_s: f64,
    /// `"ok"`, or which accounting identity failed.
    pub identity: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Commands {
    pub waves: u64,
    /// Commands the hub sent (sum of `reached` over measured waves).
    pub sent: u64,
    pub acked: u64,
    pub timed_out: u64,
    pub failed: u64,
    /// Device side: command lines received and ACKs written (whole run).
    pub received_by_devices: u64,
    pub acks_written: u64,
    pub set_interval_applied: u64,
    pub alarms_activated: u64,
    pub kicks: u64,
    /// Admin errors; a run of identical ones is one entry ending `(×n)`.
    pub errors: Vec<String>,
    /// Admin connections re-opened after one failed or broke.
    #[serde(default)]
    pub admin_reconnects: u64,
    /// Nothing listened on the admin port at the end (connection refused):
    /// without waves or `--require-admin` the run does not need it, and
    /// `hub_agrees` is not cross-checked. False in older reports.
    #[serde(default)]
    pub admin_absent: bool,
    pub wave_list: Vec<Wave>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossDiagnosis {
    /// The hub socket's receive-buffer drops (`SO_RXQ_OVFL`-style), from
    /// its stats.
    pub hub_udp_rcvbuf_drops: Option<u64>,
    /// Machine-wide `/proc/net/snmp` UDP counter increase over the run.
    pub snmp_udp_delta: Option<UdpSnmp>,
    pub statuses_rate_limited: Option<u64>,
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cpu {
    /// Whole process CPU minus the hub's threads, seconds.
    pub loadgen_s: f64,
    /// CPU of the embedded hub's threads (names starting with `hub`).
    pub hub_s: Option<f64>,
    pub process_user_s: f64,
    pub process_sys_s: f64,
    /// Live threads at the end of the run (workers have exited by then).
    pub threads: BTreeMap<String, f64>,
}

/// The hub recorder's counters and whether they add up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecorderReport {
    #[serde(flatten)]
    pub stats: RecorderStats,
    /// `"ok"` when `accepted = written + dropped_queue_full + write_errors
    /// + in_flight` holds, else what failed.
    pub identity: String,
    /// True when nothing was in flight (always, for an embedded hub, whose
    /// counters are read after its shutdown): the identity is then exact
    /// without the `in_flight` term.
    pub exact: bool,
}

impl RecorderReport {
    pub fn of(stats: RecorderStats) -> Self {
        let s = &stats;
        let sum = s.written + s.dropped_queue_full + s.write_errors + s.in_flight;
        let identity = if s.accepted == sum {
            "ok".to_string()
        } else {
            format!(
                "accepted {} != written {} + dropped {} + errors {} + in flight {}",
                s.accepted, s.written, s.dropped_queue_full, s.write_errors, s.in_flight
            )
        };
        RecorderReport {
            exact: s.in_flight == 0,
            identity,
            stats,
        }
    }
}

/// Inputs of [`Report::build`].
pub struct Inputs<'a> {
    pub cfg: &'a RunConfig,
    pub run: RunInfo,
    pub counters: Counters,
    pub lat: &'a Latencies,
    pub operator: OperatorLog,
    /// The hub's `stats` reply as sent (kept in the report as evidence).
    pub hub_stats: Option<Value>,
    /// The same, read through the hub's typed schema.
    pub hub: Option<HubStats>,
    pub recorder: Option<RecorderStats>,
    pub snmp_delta: Option<UdpSnmp>,
    pub cpu: Cpu,
    pub time_to_register_all_ms: Option<u64>,
    pub timeline: Vec<Sample>,
    /// `None` when the fleet never fully registered.
    pub outages: Option<OutageSummary>,
    pub shard: Option<ShardInfo>,
    pub samples: Samples,
    pub workers: u64,
    pub workers_reported: u64,
    /// The hub's `registered` at the end (see [`Devices::hub_registered`]).
    pub hub_registered: Option<u64>,
    /// See [`Devices::hub_shared`].
    pub hub_shared: bool,
}

impl Report {
    pub fn build(i: Inputs) -> Report {
        let c = i.counters;
        let rcvbuf = i.hub.as_ref().and_then(|s| s.udp_rcvbuf_drops);
        let limited = i.hub.as_ref().map(|s| s.udp.statuses_rate_limited);
        let lag = i.lat.get(Kind::SendLag);
        let send_lag_p99_us = lag.value_at_quantile(0.99);
        let saturated = send_lag_p99_us > i.cfg.max_send_lag.as_micros() as u64
            || i.workers_reported < i.workers;
        let blurred = if saturated { c.unexplained_loss() } else { 0 };
        let unexplained = c.unexplained_loss() - blurred;
        let explanation =
            super::diagnosis::explain(unexplained, &c, rcvbuf, i.snmp_delta.as_ref(), limited);
        let measured: Vec<&Wave> = i.operator.waves.iter().filter(|w| w.measured).collect();
        let sum = |f: fn(&Wave) -> u64| measured.iter().map(|w| f(w)).sum::<u64>();
        let latency_us = Kind::ALL
            .iter()
            .map(|&k| (k.key().to_string(), LatencySummary::of(i.lat.get(k))))
            .collect();
        let mut r = Report {
            schema_version: SCHEMA_VERSION,
            devices: Devices {
                requested: i.cfg.devices,
                registered: c.ever_registered,
                up_at_end: c.up,
                registrations: c.registrations,
                reconnects: c.reconnects,
                disconnects: c.disconnects,
                disconnects_by_cause: DisconnectCauses {
                    eof: c.disconnects_eof,
                    reset: c.disconnects_reset,
                    error_line: c.disconnects_error_line,
                    hub_violation: c.disconnects_violation,
                },
                refused: c.registrations_refused,
                peak_up: c.up_peak,
                hub_registered: i.hub_registered,
                hub_shared: i.hub_shared,
                hub_violations: c.hub_violations,
                connect_failures: c.connect_failures,
                time_to_register_all_ms: i.time_to_register_all_ms,
                outage_count: i.outages.map_or(0, |o| o.count),
                longest_outage_ms: i.outages.map(|o| o.longest.as_millis() as u64),
                outage_total_ms: i.outages.map(|o| o.total.as_millis() as u64),
            },
            udp: Udp {
                fates: Fates {
                    received: c.fate_received,
                    missing: c.fate_missing,
                    unknown: c.fate_unknown,
                    injected: c.injected_drops,
                    send_errors: c.send_errors,
                    reordered: c.fate_reordered,
                    corrupted: c.fate_corrupted,
                    duplicated: c.duplicated,
                    unsent: c.unsent_at_end,
                },
                faults: FaultFigures {
                    wire: c.sent + c.duplicated,
                    reordered_sent: c.reordered,
                    reordered_missing: c.reordered_missing,
                    corrupted_in_closed_cycles: c.corrupted_in_closed,
                    corrupted_not_missing: c.corrupted_not_missing,
                    duplicate_send_errors: c.duplicate_send_errors,
                    duplicates_overcounted: c.duplicates_overcounted,
                    hub_duplicates: i.hub.as_ref().map(|s| s.udp.duplicates),
                    hub_late: i.hub.as_ref().map(|s| s.udp.late),
                    hub_malformed: i.hub.as_ref().map(|s| s.udp.malformed),
                },
                status_invalid: c.status_invalid,
                status_unfit: c.status_unfit,
                status_skipped: c.status_skipped,
                uncertain_matches: c.uncertain_matches,
                cut_at_stop: c.cut_at_stop,
                blurred_by_overload: blurred,
                generated: c.generated,
                sent: c.sent,
                injected_drops: c.injected_drops,
                send_errors: c.send_errors,
                reported_missing: c.reported_missing,
                reported_received: c.reported_received,
                injected_in_closed_cycles: c.injected_in_closed,
                unexplained_loss: unexplained,
                statuses: c.statuses,
                status_timeouts: c.status_timeouts,
                cycles_started: c.cycles_started,
                unseen_cycles: c.unseen_cycles,
                open_at_end: c.open_at_end,
                missing_not_injected: c.missing_not_injected,
                injected_not_missing: c.injected_not_missing,
                stray_statuses: c.stray_statuses,
                datagrams_per_s: c.sent as f64 / i.cfg.duration.as_secs_f64(),
                identity: match c.identity_holds(i.cfg.cycle_len) {
                    Ok(()) => "ok".into(),
                    Err(e) => e,
                },
            },
            commands: Commands {
                waves: measured.len() as u64,
                sent: sum(|w| w.reached),
                acked: sum(|w| w.acked),
                timed_out: sum(|w| w.timed_out),
                failed: sum(|w| w.failed),
                received_by_devices: c.commands_received,
                acks_written: c.acks_sent,
                set_interval_applied: c.set_interval_applied,
                alarms_activated: c.alarms_activated,
                kicks: i.operator.kicks,
                admin_reconnects: i.operator.reconnects,
                admin_absent: i.operator.admin_absent,
                errors: i.operator.errors,
                wave_list: i.operator.waves,
            },
            latency_us,
            loss_diagnosis: LossDiagnosis {
                hub_udp_rcvbuf_drops: rcvbuf,
                snmp_udp_delta: i.snmp_delta,
                statuses_rate_limited: limited,
                explanation,
            },
            generator: Generator {
                workers: i.workers,
                workers_reported: i.workers_reported,
                send_lag_p99_us,
                send_lag_max_us: lag.max(),
                late_sends: c.late_sends,
                saturated,
            },
            evidence: i.samples,
            cpu: i.cpu,
            hub_stats: i.hub_stats,
            recorder: i.recorder.map(RecorderReport::of),
            counters: c,
            timeline: Some(i.timeline),
            run: i.run,
            shard: i.shard,
            config: i.cfg.clone(),
            checks: Vec::new(),
            breaches: Vec::new(),
            ok: false,
            shards: None,
            merged_from: None,
            stages: None,
        };
        r.checks = checks::evaluate(&r, i.cfg);
        r.conclude();
        r
    }

    /// `breaches` and `ok` from the checks as they stand.
    pub fn conclude(&mut self) {
        self.breaches = self
            .checks
            .iter()
            .filter(|c| c.fails_run())
            .map(|c| format!("{}: {}", c.name, c.figure))
            .collect();
        self.ok = self.breaches.is_empty();
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
