//! The report's `stages` section: per stage its window, its target, the
//! datagrams offered and achieved, their fates, STATUS and command
//! latency, and (from [`knee`](super::knee)) whether it held. Built from
//! the [`Tally`]: counts are differences of the fleet's counters at the
//! stage's boundaries, latencies come from the stage's own histograms, so
//! each figure is exact and the stages add up to the run.

use serde::{Deserialize, Serialize};

use crate::report::histo::Kind;
use crate::report::Fates;

use super::clock::Tally;
use super::{StageTarget, Stages};

/// The `stages` section of a staged run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagesReport {
    pub target: StageTarget,
    /// One entry per stage, in order.
    pub list: Vec<StageFigures>,
    /// The first stage that broke; `null` when every stage held.
    pub knee: Option<Knee>,
    /// Stages that held before the knee (all of them without one).
    pub held: u32,
    /// One line, e.g. `held up to stage 3 (5000/s); broke in stage 4
    /// (5000→8000/s): unexplained loss 123 > 0`.
    pub verdict: String,
}

/// The percentiles of one latency kind within a stage, µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pct {
    pub p50: u64,
    pub p99: u64,
    pub count: u64,
}

impl Pct {
    fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        if h.is_empty() {
            return Pct::default();
        }
        Pct {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            count: h.len(),
        }
    }
}

/// One stage's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageFigures {
    /// 1-based, as the summary names it.
    pub stage: u32,
    /// The stage's window, ms since the run's start (the timeline's origin).
    pub start_ms: u64,
    pub end_ms: u64,
    pub target_start: f64,
    pub target_end: f64,
    /// A rate target's mean over the stage (its area ÷ its duration);
    /// `null` for a devices target.
    pub planned_per_s: Option<f64>,
    /// Datagrams generated per second (sent + injected drops + send errors).
    pub offered_per_s: f64,
    /// Datagrams handed to the kernel per second.
    pub sent_per_s: f64,
    /// Datagrams a STATUS confirmed received, per second of the stage.
    pub achieved_per_s: f64,
    /// Devices registered at the stage's end (gauge).
    pub devices_up_end: u64,
    /// Fates settled in the stage.
    pub fates: Fates,
    /// Datagrams of cycles cut short (never generated).
    pub cut: u64,
    pub cycles_started: u64,
    pub statuses: u64,
    /// Cycles that got no valid STATUS (timed out, skipped, open at end).
    pub unanswered_cycles: u64,
    /// Missing datagrams nobody on loadgen's side explains (as `udp`'s).
    pub unexplained_loss: i64,
    pub send_lag_p99_us: u64,
    pub late_sends: u64,
    /// STATUS latency (coordinated-omission corrected) and command round
    /// trip (`command_rtt`), from the stage's own histograms.
    pub status_us: Pct,
    pub command_us: Pct,
    /// No figure crossed its limit (see `breaches`).
    pub held: bool,
    /// The figures that crossed their limits.
    pub breaches: Vec<Breach>,
}

/// One figure over its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breach {
    /// `unexplained_loss`, `fates_unknown`, `send_lag_p99_ms` or
    /// `status_p99_ms`.
    pub figure: String,
    pub value: f64,
    pub limit: f64,
    /// The same in words, e.g. `unexplained loss 123 > 0`.
    pub text: String,
}

/// Where the hub (or the generator) broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    /// 1-based.
    pub stage: u32,
    pub target_start: f64,
    pub target_end: f64,
    /// Every figure of that stage over its limit, the first deciding.
    pub evidence: Vec<Breach>,
}

/// The figures of every stage, not yet judged. `warmup_ms` places the
/// stages on the run's clock.
pub fn build(stages: &Stages, tally: &Tally, warmup_ms: u64) -> Vec<StageFigures> {
    let ends = tally.ends();
    (0..stages.len())
        .map(|i| {
            let d = ends[i + 1].minus(&ends[i]);
            let secs = stages.list[i].duration().as_secs_f64();
            let lat = tally.latencies(i);
            let per_s = |n: u64| n as f64 / secs;
            StageFigures {
                stage: i as u32 + 1,
                start_ms: warmup_ms + stages.start_of(i).as_millis() as u64,
                end_ms: warmup_ms + stages.end_of(i).as_millis() as u64,
                target_start: stages.from_value(i),
                target_end: stages.list[i].target,
                planned_per_s: (stages.target == StageTarget::Rate)
                    .then(|| stages.area_of(i) / secs),
                offered_per_s: per_s(d.generated),
                sent_per_s: per_s(d.sent),
                achieved_per_s: per_s(d.fate_received + d.fate_reordered),
                devices_up_end: ends[i + 1].up,
                fates: Fates {
                    received: d.fate_received,
                    missing: d.fate_missing,
                    unknown: d.fate_unknown,
                    injected: d.injected_drops,
                    send_errors: d.send_errors,
                    reordered: d.fate_reordered,
                    corrupted: d.fate_corrupted,
                    duplicated: d.duplicated,
                    unsent: d.unsent_at_end,
                },
                cut: d.cut_at_stop,
                cycles_started: d.cycles_started,
                statuses: d.statuses,
                unanswered_cycles: d.status_timeouts + d.status_skipped + d.open_at_end,
                unexplained_loss: d.unexplained_loss(),
                send_lag_p99_us: Pct::of(lat.get(Kind::SendLag)).p99,
                late_sends: d.late_sends,
                status_us: Pct::of(lat.get(Kind::Status)),
                command_us: Pct::of(lat.get(Kind::CommandRtt)),
                held: true,
                breaches: Vec::new(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::accounting::Counters;

    #[test]
    fn stage_figures_are_differences_at_the_boundaries() {
        let s = Stages::parse("2s:100,2s:100", StageTarget::Rate).unwrap();
        let mut t = Tally::new(1, 2);
        let mut lat = crate::report::histo::Latencies::new();
        lat.record_us(Kind::Status, 2000);
        let c = |sent, received, missing| Counters {
            generated: sent,
            sent,
            fate_received: received,
            fate_missing: missing,
            reported_missing: missing,
            up: 5,
            ..Counters::default()
        };
        t.absorb(0, Some(0), &c(100, 90, 0), &lat);
        t.absorb(0, Some(1), &c(300, 280, 10), &lat);
        let f = build(&s, &t, 1000);
        assert_eq!((f[0].start_ms, f[0].end_ms), (1000, 3000));
        assert_eq!((f[1].start_ms, f[1].end_ms), (3000, 5000));
        assert_eq!(f[0].planned_per_s, Some(50.0));
        assert_eq!(f[1].planned_per_s, Some(100.0));
        assert_eq!(f[0].sent_per_s, 50.0);
        assert_eq!(f[1].sent_per_s, 100.0);
        assert_eq!(f[1].achieved_per_s, 95.0);
        assert_eq!(f[1].fates.missing, 10);
        assert_eq!(f[1].unexplained_loss, 10);
        assert_eq!((f[1].target_start, f[1].target_end), (100.0, 100.0));
        assert_eq!(f[0].status_us.count, 1);
        assert!((1990..=2010).contains(&f[0].status_us.p99));
        assert_eq!(f[1].devices_up_end, 5);
    }
}
