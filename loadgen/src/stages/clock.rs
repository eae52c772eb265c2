//! Which stage a count belongs to. A worker handles everything of one loop
//! pass at one clock reading; before handling a pass whose reading is in a
//! new stage it reports what it has ([`StageClock::phase_at`] tells), and
//! tags every report with the stage its counts and samples were taken in.
//! So every count and latency sample is in the stage during which its
//! worker handled it, exactly: the per-stage figures add up to the run's.
//! The warm-up is phase `None`; the drain after the stop belongs to the last
//! stage (its last STATUSes settle there).
//!
//! [`Tally`] is the main thread's side: per worker, its cumulative counters
//! at its last report of each stage; per stage, the merged histograms.

use std::time::{Duration, Instant};

use crate::report::accounting::Counters;
use crate::report::histo::Latencies;
use crate::report::timeline::Sample;

use super::Stages;

/// The stages' boundaries as instants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageClock {
    /// The first stage's start (the end of the warm-up).
    origin: Instant,
    /// Each stage's end.
    ends: Vec<Instant>,
}

impl StageClock {
    pub fn new(stages: &Stages, origin: Instant) -> Self {
        StageClock {
            origin,
            ends: (0..stages.len())
                .map(|i| origin + stages.end_of(i))
                .collect(),
        }
    }

    /// The stage counts taken at `now` belong to: `None` in the warm-up, the
    /// last stage from its end on.
    pub fn phase_at(&self, now: Instant) -> Option<usize> {
        if now < self.origin {
            return None;
        }
        let i = self.ends.partition_point(|&e| e <= now);
        Some(i.min(self.ends.len().saturating_sub(1)))
    }
}

/// What the main thread keeps for the per-stage figures.
#[derive(Debug)]
pub struct Tally {
    /// Per stage, the latency samples taken in it.
    lat: Vec<Latencies>,
    /// Per worker, per phase (0 the warm-up, `s + 1` stage `s`): its
    /// cumulative counters at its last report of that phase.
    marks: Vec<Vec<Option<Counters>>>,
}

impl Tally {
    pub fn new(workers: usize, stages: usize) -> Self {
        Tally {
            lat: (0..stages).map(|_| Latencies::new()).collect(),
            marks: vec![vec![None; stages + 1]; workers],
        }
    }

    /// One worker report, taken in `stage`.
    pub fn absorb(&mut self, worker: usize, stage: Option<usize>, c: &Counters, lat: &Latencies) {
        let phase = stage.map_or(0, |s| (s + 1).min(self.lat.len()));
        self.marks[worker][phase] = Some(*c);
        if phase > 0 {
            self.lat[phase - 1].merge(lat);
        }
    }

    /// The fleet's counters at the end of each phase (the warm-up first):
    /// for each worker, its last report of that phase or of an earlier one.
    pub fn ends(&self) -> Vec<Counters> {
        let phases = self.lat.len() + 1;
        let mut out = vec![Counters::default(); phases];
        for w in &self.marks {
            let mut last = Counters::default();
            for (p, m) in w.iter().enumerate() {
                if let Some(c) = m {
                    last = *c;
                }
                out[p].add(&last);
            }
        }
        out
    }

    /// Stage `s`'s histograms.
    pub fn latencies(&self, s: usize) -> &Latencies {
        &self.lat[s]
    }
}

/// Marks each timeline sample with the stage (1-based) in progress in the
/// middle of its second; samples of the warm-up and the drain stay unmarked.
pub fn label(samples: &mut [Sample], stages: &Stages, warmup: Duration) {
    for s in samples {
        let mid = Duration::from_millis(s.t_s * 1000).saturating_sub(Duration::from_millis(500));
        s.stage = mid
            .checked_sub(warmup)
            .and_then(|t| stages.stage_at(t))
            .map(|i| i as u32 + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::histo::Kind;
    use crate::stages::StageTarget;

    #[test]
    fn phases_split_at_the_boundaries_and_the_drain_is_the_last_stage() {
        let s = Stages::parse("1s:10,2s:20", StageTarget::Rate).unwrap();
        let t0 = Instant::now();
        let c = StageClock::new(&s, t0 + Duration::from_secs(1));
        let at = |ms: u64| c.phase_at(t0 + Duration::from_millis(ms));
        assert_eq!(at(999), None);
        assert_eq!(at(1000), Some(0));
        assert_eq!(at(1999), Some(0));
        assert_eq!(at(2000), Some(1));
        assert_eq!(at(60_000), Some(1));
    }

    #[test]
    fn timeline_seconds_get_the_stage_in_their_middle() {
        let s = Stages::parse("2s:10,1500ms:20", StageTarget::Rate).unwrap();
        let mut tl: Vec<Sample> = (1..=6)
            .map(|t_s| Sample {
                t_s,
                ..Sample::default()
            })
            .collect();
        label(&mut tl, &s, Duration::from_secs(1));
        let got: Vec<Option<u32>> = tl.iter().map(|s| s.stage).collect();
        // Warm-up 0–1 s, stage 1 1–3 s, stage 2 3–4.5 s, then the drain.
        assert_eq!(got, [None, Some(1), Some(1), Some(2), None, None]);
    }

    #[test]
    fn ends_carry_a_quiet_workers_last_counters_forward() {
        let mut t = Tally::new(2, 3);
        let c = |sent| Counters {
            sent,
            ..Counters::default()
        };
        let mut lat = Latencies::new();
        lat.record_us(Kind::Status, 100);
        t.absorb(0, None, &c(0), &lat);
        t.absorb(0, Some(0), &c(10), &lat);
        t.absorb(0, Some(0), &c(15), &lat);
        // Worker 0 reports nothing in stage 1, then stage 2.
        t.absorb(0, Some(2), &c(40), &lat);
        t.absorb(1, Some(1), &c(7), &lat);
        let sent: Vec<u64> = t.ends().iter().map(|c| c.sent).collect();
        assert_eq!(sent, [0, 15, 15 + 7, 40 + 7]);
        // The warm-up's samples are no stage's.
        assert_eq!(t.latencies(0).get(Kind::Status).len(), 2);
        assert_eq!(t.latencies(1).get(Kind::Status).len(), 1);
        assert_eq!(t.latencies(2).get(Kind::Status).len(), 1);
    }
}
