//! The final JSON report. These serde structs *are* the schema documented in
//! `loadgen/SCHEMA.md` (bump [`SCHEMA_VERSION`] on any incompatible change).
//! [`Report::build`] derives every section from the merged counters,
//! histograms, operator log and hub stats; [`Report::breaches`] applies the
//! `--max-*`/`--min-*` thresholds.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use hub::recorder::RecorderStats;

use crate::accounting::Counters;
use crate::config::RunConfig;
use crate::histo::{Kind, Latencies, LatencySummary};
use crate::machine::{Machine, UdpSnmp};
use crate::operator::{OperatorLog, Wave};
use crate::outage::OutageSummary;
use crate::shard::start::StartInfo;
use crate::shard::ShardInfo;
use crate::timeline::Sample;

/// Version of the report layout.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub run: RunInfo,
    /// This report's shard of a bigger fleet (`null` unsharded).
    pub shard: Option<ShardInfo>,
    pub config: RunConfig,
    pub devices: Devices,
    pub udp: Udp,
    pub commands: Commands,
    pub latency_us: BTreeMap<&'static str, LatencySummary>,
    pub loss_diagnosis: LossDiagnosis,
    pub cpu: Cpu,
    /// The hub's own `stats` reply at the end of the run (`null` if the
    /// admin port did not answer).
    pub hub_stats: Option<Value>,
    /// The hub's recorder counters (`null`: no recorder, or unreachable).
    pub recorder: Option<RecorderReport>,
    /// Every raw counter, summed over workers.
    pub counters: Counters,
    /// One sample per second of the run (see `timeline.rs`).
    pub timeline: Vec<Sample>,
    /// Threshold breaches; empty means the run passed.
    pub breaches: Vec<String>,
    pub ok: bool,
}

#[derive(Debug, Serialize)]
pub struct RunInfo {
    pub command_line: Vec<String>,
    pub seed: u64,
    /// UTC, RFC 3339.
    pub start_time: String,
    pub crate_version: &'static str,
    pub git_commit: Option<&'static str>,
    pub machine: Machine,
    pub embedded_hub: bool,
    pub hub_tcp: String,
    pub hub_udp: String,
    pub hub_admin: String,
    /// Wall time from start to report, seconds.
    pub wall_s: f64,
    /// Names the run; every shard of one run has the same.
    pub run_id: String,
    /// The requested start instant and how late this process began.
    pub start: StartInfo,
}

#[derive(Debug, Serialize)]
pub struct Devices {
    pub requested: u32,
    /// Devices that registered at least once.
    pub registered: u64,
    pub up_at_end: u64,
    pub registrations: u64,
    pub reconnects: u64,
    pub disconnects: u64,
    pub connect_failures: u64,
    /// First connect → last device's first registration, ms (`null` if
    /// not every device registered).
    pub time_to_register_all_ms: Option<u64>,
    /// Spans with fewer than all devices up, between the fleet's first full
    /// registration and the stop (0 and `null`s if it never fully registered).
    pub outage_count: u64,
    /// The longest such span, ms.
    pub longest_outage_ms: Option<u64>,
    /// Their total, ms.
    pub outage_total_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Udp {
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
    pub datagrams_per_s: f64,
    /// `"ok"`, or which accounting identity failed.
    pub identity: String,
}

#[derive(Debug, Serialize)]
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
    pub admin_reconnects: u64,
    pub wave_list: Vec<Wave>,
}

#[derive(Debug, Serialize)]
pub struct LossDiagnosis {
    /// The hub socket's receive-buffer drops (`SO_RXQ_OVFL`-style), from
    /// its stats.
    pub hub_udp_rcvbuf_drops: Option<u64>,
    /// Machine-wide `/proc/net/snmp` UDP counter increase over the run.
    pub snmp_udp_delta: Option<UdpSnmp>,
    pub statuses_rate_limited: Option<u64>,
    pub explanation: String,
}

#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
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
    pub hub_stats: Option<Value>,
    pub recorder: Option<RecorderStats>,
    pub snmp_delta: Option<UdpSnmp>,
    pub cpu: Cpu,
    pub time_to_register_all_ms: Option<u64>,
    pub timeline: Vec<Sample>,
    /// `None` when the fleet never fully registered.
    pub outages: Option<OutageSummary>,
    pub shard: Option<ShardInfo>,
}

impl Report {
    pub fn build(i: Inputs) -> Report {
        let c = i.counters;
        let stats = i.hub_stats.as_ref().and_then(|v| v.get("stats"));
        let hub_u64 = |path: &[&str]| {
            let mut v = stats?;
            for k in path {
                v = v.get(k)?;
            }
            v.as_u64()
        };
        let rcvbuf = hub_u64(&["udp_rcvbuf_drops"]);
        let limited = hub_u64(&["udp", "statuses_rate_limited"]);
        let unexplained = c.unexplained_loss();
        let explanation = explain(unexplained, &c, rcvbuf, i.snmp_delta.as_ref(), limited);
        let measured: Vec<&Wave> = i.operator.waves.iter().filter(|w| w.measured).collect();
        let sum = |f: fn(&Wave) -> u64| measured.iter().map(|w| f(w)).sum::<u64>();
        let latency_us = Kind::ALL
            .iter()
            .map(|&k| (k.key(), LatencySummary::of(i.lat.get(k))))
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
                connect_failures: c.connect_failures,
                time_to_register_all_ms: i.time_to_register_all_ms,
                outage_count: i.outages.map_or(0, |o| o.count),
                longest_outage_ms: i.outages.map(|o| o.longest.as_millis() as u64),
                outage_total_ms: i.outages.map(|o| o.total.as_millis() as u64),
            },
            udp: Udp {
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
            cpu: i.cpu,
            hub_stats: i.hub_stats,
            recorder: i.recorder.map(RecorderReport::of),
            counters: c,
            timeline: i.timeline,
            run: i.run,
            shard: i.shard,
            config: i.cfg.clone(),
            breaches: Vec::new(),
            ok: true,
        };
        r.breaches = r.breaches(i.cfg);
        r.ok = r.breaches.is_empty();
        r
    }

    /// One line per breached threshold.
    pub fn breaches(&self, cfg: &RunConfig) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(ms) = cfg.max_p99_ms {
            let limit = (ms * 1000.0) as u64;
            for k in [Kind::Status, Kind::CommandDelivery, Kind::CommandRtt] {
                let p99 = self.latency_us[k.key()].p99;
                if p99 > limit {
                    out.push(format!(
                        "{} p99 {:.3} ms > --max-p99-ms {ms}",
                        k.key(),
                        p99 as f64 / 1000.0
                    ));
                }
            }
        }
        if let Some(max) = cfg.max_unexplained_loss {
            if self.udp.unexplained_loss.unsigned_abs() > max {
                out.push(format!(
                    "unexplained_loss {} exceeds --max-unexplained-loss {max} ({})",
                    self.udp.unexplained_loss, self.loss_diagnosis.explanation
                ));
            }
        }
        if let Some(r) = &self.recorder {
            if r.identity != "ok" {
                out.push(format!("hub recorder identity: {}", r.identity));
            }
        }
        if let Some(min) = cfg.min_registered {
            if self.devices.registered < u64::from(min) {
                out.push(format!(
                    "registered {} < --min-registered {min}",
                    self.devices.registered
                ));
            }
        }
        out
    }
}

/// Says where unexplained loss most likely went.
fn explain(
    unexplained: i64,
    c: &Counters,
    rcvbuf: Option<u64>,
    snmp: Option<&UdpSnmp>,
    limited: Option<u64>,
) -> String {
    if unexplained == 0 {
        return "none: every missing datagram was dropped on purpose".into();
    }
    let mut parts = vec![format!(
        "{unexplained} datagrams missing beyond injected drops"
    )];
    if let Some(d) = rcvbuf.filter(|&d| d > 0) {
        parts.push(format!("hub socket receive-buffer drops: {d}"));
    }
    if let Some(s) = snmp.filter(|s| s.rcvbuf_errors > 0 || s.in_errors > 0) {
        parts.push(format!(
            "/proc/net/snmp Udp RcvbufErrors +{} InErrors +{}",
            s.rcvbuf_errors, s.in_errors
        ));
    }
    if let Some(l) = limited.filter(|&l| l > 0) {
        parts.push(format!("hub rate-limited {l} STATUS replies"));
    }
    if c.injected_not_missing > 0 || c.stray_statuses > 0 {
        parts.push(format!(
            "{} STATUS may be matched to the wrong cycle ({} stray)",
            c.injected_not_missing, c.stray_statuses
        ));
    }
    if parts.len() == 1 {
        parts.push("no kernel or hub drop counter moved".into());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
