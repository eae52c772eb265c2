//! The data side's hooks for `--stages` (a child of `data`, so the state
//! machine stays in one place and these stay out of its way):
//!
//! - rate target: a [`Pacer`] says when each datagram is due instead of a
//!   fixed gap. Where the target is low the next datagram may be due long
//!   after the last; a cycle is never left waiting that long mid-way (the
//!   hub's cycle timeout would close it while loadgen still sends it), so
//!   past [`MAX_CYCLE_GAP`] the rest of the cycle is cut, as at the stop
//!   (never generated, listed missing by the hub, explained), and the next
//!   datagram begins a new cycle;
//! - devices target: [`Data::pause`] lets the cycle being sent finish and
//!   starts no new one; [`Data::quiet`] says when nothing is left waiting
//!   for a STATUS (the device may then close its connection with no
//!   datagram of unknown fate); [`Data::resume`] starts cycles again.

use std::time::{Duration, Instant};

use super::{Ctx, Data, Pacer, Phase};

/// Longest wait between two datagrams of one cycle under a rate stage: a
/// third of the hub's default cycle timeout (3 s), so a slow stretch of a
/// ramp never lets the hub close a cycle loadgen is still sending.
pub const MAX_CYCLE_GAP: Duration = Duration::from_secs(1);

impl Data {
    /// Rate stages: datagram times come from `p` (open loop only).
    pub fn with_pacer(mut self, p: Pacer) -> Self {
        self.pacer = Some(Box::new(p));
        self
    }

    /// When the first cycle is due for a device that starts at `first_at`
    /// (`None`: the stages offer it nothing more).
    pub(super) fn first_due(&mut self, first_at: Instant) -> Option<Instant> {
        match self.pacer.as_mut() {
            None => Some(first_at),
            Some(p) => p.first_at_or_after(first_at),
        }
    }

    /// After SEQ `seq` (intended at `at`) went out: the next datagram's
    /// time from the pacer, cutting the cycle where it would wait too long.
    pub(super) fn follow_pacer(&mut self, seq: u32, at: Instant, now: Instant, ctx: &mut Ctx) {
        let next = self.pacer.as_mut().and_then(|p| p.next_due());
        let next_seq = if seq == self.cycle_len { 1 } else { seq + 1 };
        let close = next.is_some_and(|t| t.saturating_duration_since(at) <= MAX_CYCLE_GAP);
        self.phase = match next {
            Some(t) if next_seq == 1 || close => Phase::Sending {
                seq: next_seq,
                at: t,
            },
            None if next_seq == 1 => Phase::Done,
            _ => {
                let counted = self.pending.back().is_some_and(|p| p.counted);
                self.cut_rest(next_seq, now, ctx);
                if counted {
                    ctx.counters.cut_by_stages += u64::from(self.cycle_len - next_seq + 1);
                }
                next.map_or(Phase::Done, |t| Phase::Sending { seq: 1, at: t })
            }
        };
    }

    /// Devices stages: the cycle being sent finishes; no new one begins.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Devices stages: cycles again, the next due at `at` if the pause had
    /// stopped them (a rest, or a cycle in progress, just goes on; a data
    /// side never started waits for [`start`](Self::start)).
    pub fn resume(&mut self, at: Instant) {
        self.paused = false;
        if self.phase == Phase::Idle && self.cycle > 0 {
            self.phase = Phase::Sending { seq: 1, at };
        }
    }

    /// Paused, between cycles, and no cycle waits for its STATUS.
    pub fn quiet(&self) -> bool {
        self.paused
            && self.pending.is_empty()
            && !matches!(self.phase, Phase::Sending { seq, .. } if seq > 1)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::device::data::{Outgoing, Pacing};
    use crate::report::accounting::Counters;
    use crate::report::evidence::Samples;
    use crate::report::histo::Latencies;
    use crate::rng::SplitMix64;
    use crate::stages::{StageTarget, Stages};

    const SEC: Duration = Duration::from_secs(1);

    struct H {
        c: Counters,
        lat: Latencies,
        samples: Samples,
        t0: Instant,
        stop: Instant,
    }

    impl H {
        fn new(stop: Duration) -> Self {
            let t0 = Instant::now();
            H {
                c: Counters::default(),
                lat: Latencies::new(),
                samples: Samples::default(),
                t0,
                stop: t0 + stop,
            }
        }
        fn ctx(&mut self) -> Ctx<'_> {
            Ctx {
                counters: &mut self.c,
                lat: &mut self.lat,
                measure_from: self.t0,
                stop_at: self.stop,
                samples: &mut self.samples,
                max_lag: SEC,
            }
        }
        /// Every datagram due by `now`, reported sent.
        fn pump(&mut self, d: &mut Data, now: Instant) -> Vec<Outgoing> {
            let mut rng = SplitMix64::new(1, 1);
            let mut v = Vec::new();
            let mut ctx = self.ctx();
            d.poll(now, &mut ctx);
            while let Some(o) = d.next_datagram(now, &mut rng, &mut ctx) {
                d.sent(o, true, now, &mut ctx);
                v.push(o);
            }
            v
        }
    }

    fn paced(stages: &str, h: &H, cycle_len: u32) -> Data {
        let s = Arc::new(Stages::parse(stages, StageTarget::Rate).unwrap());
        let gap = Duration::from_millis(1);
        Data::new(Pacing::Open { gap }, cycle_len, 5 * SEC, 0.0)
            .with_pacer(Pacer::new(s, h.t0, 1, 0))
    }

    #[test]
    fn a_paced_device_sends_each_stages_area_and_stops_when_it_is_spent() {
        let mut h = H::new(3 * SEC);
        // 1 device: 5 datagrams in the first second, 10 in the next, 5 in the last.
        let mut d = paced("1s:10,1s:10,1s:0", &h, 5);
        d.start(h.t0);
        let mut per_stage = [0; 3];
        for ms in (0..3000).step_by(10) {
            let now = h.t0 + Duration::from_millis(ms);
            per_stage[ms as usize / 1000] += h.pump(&mut d, now).len();
        }
        assert_eq!(per_stage, [5, 10, 5]);
        // Four whole cycles; nothing cut: the gaps stay under a second.
        assert_eq!(h.c.cycles_started, 4);
        assert_eq!((h.c.cut_at_stop, h.c.cut_by_stages), (0, 0));
        assert_eq!(d.pending(), 4);
    }

    #[test]
    fn a_cycle_that_would_wait_too_long_is_cut_and_explained() {
        let mut h = H::new(100 * SEC);
        // 1 device over 100 s ramping to 0.1/s: gaps of many seconds.
        let mut d = paced("100s:0.1", &h, 10);
        d.start(h.t0);
        let mut sent = Vec::new();
        for s in 0..100 {
            let now = h.t0 + s * SEC;
            let out = h.pump(&mut d, now);
            // The hub answers each cut cycle with SEQ 2..10 missing.
            for _ in &out {
                let st = b"STATUS RECEIVED 1/10 PACKETS; MISSING: [2, 3, 4, 5, 6, 7, 8, 9, 10]";
                d.on_status(now, st, &mut h.ctx());
            }
            sent.extend(out);
        }
        // Area 5: five datagrams, each its own cycle, the rest of each cut.
        assert_eq!(sent.len(), 5);
        assert!(sent.iter().all(|o| o.seq == 1), "{sent:?}");
        assert_eq!(h.c.cut_by_stages, 5 * 9);
        assert_eq!(h.c.cut_at_stop, 5 * 9);
        assert_eq!(h.c.statuses, 5);
        assert_eq!(h.c.identity_holds(10), Ok(()));
        assert_eq!(h.c.unexplained_loss(), 0);
        assert_eq!(h.c.fate_received, 5);
    }

    #[test]
    fn a_paused_device_finishes_its_cycle_then_goes_quiet_until_resumed() {
        let mut h = H::new(100 * SEC);
        let gap = Duration::from_millis(100);
        let mut d = Data::new(Pacing::Open { gap }, 3, 5 * SEC, 0.0);
        d.start(h.t0);
        assert_eq!(h.pump(&mut d, h.t0).len(), 1);
        d.pause();
        assert!(!d.quiet(), "mid-cycle");
        // The cycle's last two go out; no new cycle begins.
        assert_eq!(h.pump(&mut d, h.t0 + 10 * gap).len(), 2);
        assert_eq!(h.c.cycles_started, 1);
        assert!(!d.quiet(), "its STATUS is pending");
        d.on_status(
            h.t0 + 10 * gap,
            b"STATUS RECEIVED 3/3 PACKETS",
            &mut h.ctx(),
        );
        assert!(d.quiet());
        assert_eq!(h.pump(&mut d, h.t0 + 20 * gap).len(), 0);
        let again = h.t0 + 30 * gap;
        d.resume(again);
        assert!(!d.quiet());
        assert_eq!(h.pump(&mut d, again).len(), 1);
        assert_eq!(h.c.cycles_started, 2);
    }
}
