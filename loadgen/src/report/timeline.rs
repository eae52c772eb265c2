//! The report's `timeline`: one sample per second of the run, built by the
//! main thread from the workers' merged cumulative counters at each progress
//! tick (so a sample lags the truth by up to one worker tick, ≤ 1 s). Rates
//! are per-second differences; `devices_up` is the gauge. A final sample
//! covers the partial second until the workers finished, so each
//! per-second column sums to the report's total.

use serde::{Deserialize, Serialize};

use hdrhistogram::Histogram;

use crate::report::accounting::Counters;

/// The p99 of `h`, 0 when empty.
pub fn p99(h: &Histogram<u64>) -> u64 {
    if h.is_empty() {
        0
    } else {
        h.value_at_quantile(0.99)
    }
}

/// One second of the run (reading a report, a column an older build did
/// not write reads as 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sample {
    /// Seconds since the run started, at the end of the second sampled.
    pub t_s: u64,
    /// Devices registered at the sample (gauge).
    pub devices_up: u64,
    /// In this second (measured cycles only, as `udp.sent`).
    pub datagrams_sent: u64,
    /// STATUS replies matched in this second.
    pub statuses: u64,
    /// Cycles whose STATUS timed out in this second.
    pub status_timeouts: u64,
    /// Re-registrations in this second.
    pub reconnects: u64,
    /// Connects that failed or were refused in this second.
    pub connect_failures: u64,
    /// Datagram fates settled in this second: listed missing by a valid
    /// STATUS, and unknown (their cycle got no valid STATUS).
    pub fates_missing: u64,
    pub fates_unknown: u64,
    /// STATUS latency p99 (µs, corrected) of the STATUSes read in this
    /// second; 0 when none.
    pub status_p99_us: u64,
    /// With `--stages`: the stage (1-based) in progress in the middle of
    /// this second; absent in the warm-up, the drain and runs without stages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<u32>,
}

/// Samples in order, and the counters of the previous one.
#[derive(Debug, Default)]
pub struct Timeline {
    last: Counters,
    samples: Vec<Sample>,
}

impl Timeline {
    pub fn new() -> Self {
        Timeline::default()
    }

    /// Adds the sample for second `t_s` from the fleet's cumulative counters.
    pub fn sample(&mut self, t_s: u64, c: &Counters, status_p99_us: u64) {
        let p = &self.last;
        self.samples.push(Sample {
            t_s,
            devices_up: c.up,
            datagrams_sent: c.sent.saturating_sub(p.sent),
            statuses: c.statuses.saturating_sub(p.statuses),
            status_timeouts: c.status_timeouts.saturating_sub(p.status_timeouts),
            reconnects: c.reconnects.saturating_sub(p.reconnects),
            connect_failures: c.connect_failures.saturating_sub(p.connect_failures),
            fates_missing: c.fate_missing.saturating_sub(p.fate_missing),
            fates_unknown: c.fate_unknown.saturating_sub(p.fate_unknown),
            status_p99_us,
            stage: None,
        });
        self.last = *c;
    }

    /// The second after the last sample.
    pub fn next_t_s(&self) -> u64 {
        self.samples.last().map_or(1, |s| s.t_s + 1)
    }

    pub fn into_samples(self) -> Vec<Sample> {
        self.samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_per_second_differences_and_sum_to_totals() {
        let mut t = Timeline::new();
        let mut c = Counters {
            up: 20,
            sent: 100,
            statuses: 10,
            ..Default::default()
        };
        t.sample(t.next_t_s(), &c, 0);
        c.up = 5;
        c.sent = 130;
        c.statuses = 13;
        c.status_timeouts = 15;
        c.connect_failures = 30;
        t.sample(t.next_t_s(), &c, 0);
        c.up = 20;
        c.reconnects = 15;
        t.sample(t.next_t_s(), &c, 0);
        let s = t.into_samples();
        assert_eq!(s.iter().map(|s| s.t_s).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(
            s.iter().map(|s| s.devices_up).collect::<Vec<_>>(),
            [20, 5, 20]
        );
        assert_eq!((s[1].datagrams_sent, s[1].statuses), (30, 3));
        assert_eq!((s[1].status_timeouts, s[1].connect_failures), (15, 30));
        assert_eq!(s.iter().map(|s| s.datagrams_sent).sum::<u64>(), 130);
        assert_eq!(s[2].reconnects, 15);
    }
}
