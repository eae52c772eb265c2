//! A device under `--stage-target devices` (a child of `device`): it is in
//! the fleet during its spans (where the target is above its index, see
//! [`crate::stages::pace::membership`]). When a span ends it finishes its
//! cycle, waits for that cycle's STATUS (or its timeout), then asks the
//! worker to close its control connection ([`Device::poll_stage`] returns
//! true; the worker closes and calls [`Device::on_left`]): no datagram is
//! left of unknown fate, and the close is counted as `stage_leaves`, never
//! as a hub disconnect. When the next span begins it connects and
//! registers again (`stage_rejoins`).

use std::time::Instant;

use super::{Ctx, Device, Link};

/// Where a device stands against the devices target.
#[derive(Debug)]
pub struct Membership {
    /// Its spans `[on, off)`; `off` is `None` for one lasting to the end.
    spans: Vec<(Instant, Option<Instant>)>,
    /// The span in progress or the next one.
    pos: usize,
    /// Out of the fleet (leaving, or parked).
    out: bool,
    /// When it went out: its wake-up to leave once quiet.
    since: Option<Instant>,
}

impl Membership {
    /// In the fleet at `now` (spans that ended are passed over).
    fn wanted(&mut self, now: Instant) -> bool {
        while self
            .spans
            .get(self.pos)
            .is_some_and(|s| s.1.is_some_and(|off| off <= now))
        {
            self.pos += 1;
        }
        self.spans.get(self.pos).is_some_and(|s| s.0 <= now)
    }

    /// The next instant its standing may change.
    fn next_edge(&self) -> Option<Instant> {
        let s = self.spans.get(self.pos)?;
        if self.out {
            Some(s.0)
        } else {
            s.1
        }
    }
}

impl Device {
    /// Devices stages: the device is in the fleet during `spans` only; its
    /// first connect waits for the first (a device with none never connects).
    pub fn with_membership(mut self, spans: Vec<(Instant, Option<Instant>)>) -> Self {
        let first = spans.first().map(|s| s.0);
        self.link = match (self.link, first) {
            (Link::Waiting { at }, Some(on)) => Link::Waiting { at: at.max(on) },
            (_, None) => Link::Parked,
            (l, _) => l,
        };
        self.stage = Some(Box::new(Membership {
            out: first.is_none(),
            spans,
            pos: 0,
            since: None,
        }));
        self
    }

    /// Out of the fleet by the stage target (leaving or parked).
    pub fn stage_out(&self) -> bool {
        self.stage.as_ref().is_some_and(|m| m.out)
    }

    /// The stage's wake-up: its next edge, or now-ish when it is out, up
    /// and quiet (time to leave).
    pub(super) fn stage_wake(&self) -> Option<Instant> {
        let m = self.stage.as_ref()?;
        if m.out && self.is_up() && self.data.quiet() {
            return m.since.or_else(|| m.next_edge());
        }
        m.next_edge()
    }

    /// Follows the target at `now`: going out pauses the data side (the
    /// cycle in progress finishes) and cancels a pending reconnect; coming
    /// back resumes it and connects. True when the worker should close the
    /// control connection now (out, registered, nothing awaiting STATUS).
    pub fn poll_stage(&mut self, now: Instant) -> bool {
        let Some(m) = self.stage.as_deref_mut() else {
            return false;
        };
        let wanted = m.wanted(now);
        if !wanted && !m.out {
            m.out = true;
            m.since = Some(now);
            self.data.pause();
        } else if wanted && m.out {
            m.out = false;
            m.since = None;
            self.data.resume(now);
            if self.link == Link::Parked {
                self.link = Link::Waiting { at: now };
            }
        }
        if m.out && matches!(self.link, Link::Waiting { .. }) {
            // Out while waiting to (re)connect: stay away.
            self.link = Link::Parked;
        }
        m.out && self.is_up() && self.data.quiet()
    }

    /// The worker closed the control connection [`poll_stage`](Self::poll_stage)
    /// asked it to: parked until the target comes back.
    pub fn on_left(&mut self, ctx: &mut Ctx) {
        if !self.is_up() {
            return;
        }
        self.link = Link::Parked;
        self.rejoining = true;
        let c = &mut *ctx.counters;
        c.up -= 1;
        c.stage_leaves += 1;
        c.stage_out += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::device::data::Pacing;
    use crate::device::data_for;
    use crate::report::accounting::Counters;
    use crate::report::evidence::Samples;
    use crate::report::histo::Latencies;
    use crate::rng::SplitMix64;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_device_leaves_after_its_status_and_comes_back_with_the_target() {
        let t0 = Instant::now();
        let (mut c, mut lat, mut samples) =
            (Counters::default(), Latencies::new(), Samples::default());
        let mut ctx = Ctx {
            counters: &mut c,
            lat: &mut lat,
            measure_from: t0,
            stop_at: t0 + 10_000 * MS,
            samples: &mut samples,
            max_lag: 1000 * MS,
        };
        let data = data_for(Pacing::Open { gap: 10 * MS }, 2, 5000 * MS, 0.0);
        let spans = vec![(t0 + 100 * MS, Some(t0 + 500 * MS)), (t0 + 800 * MS, None)];
        let mut d = Device::new("S1".into(), "t".into(), t0, SplitMix64::new(1, 1), data)
            .with_membership(spans);
        // Its first connect waits for its first span.
        assert_eq!(d.next_wake(), Some(t0 + 100 * MS));
        let now = t0 + 100 * MS;
        assert!(!d.poll_stage(now));
        assert!(d.poll_connect(now, &mut ctx));
        let mut out = Vec::new();
        d.on_connected(now, &mut out, &mut ctx);
        // Its span ends mid-cycle: nothing happens until the cycle's STATUS.
        let mut sent = Vec::new();
        let mut t = now;
        while t < t0 + 500 * MS {
            d.poll_data(t, &mut ctx);
            while let Some(o) = d.next_datagram(t, &mut ctx) {
                d.datagram_sent(o, true, t, &mut ctx);
                sent.push(o);
            }
            t += MS;
        }
        // Out, but the last cycle is unfinished or unanswered.
        assert!(!d.poll_stage(t0 + 500 * MS));
        d.poll_data(t0 + 520 * MS, &mut ctx);
        while let Some(o) = d.next_datagram(t0 + 520 * MS, &mut ctx) {
            d.datagram_sent(o, true, t0 + 520 * MS, &mut ctx);
            sent.push(o);
        }
        assert_eq!(sent.len() % 2, 0, "the last cycle was finished");
        assert!(!d.poll_stage(t0 + 520 * MS), "its STATUS is pending");
        for _ in 0..d.data.pending() {
            d.on_status(t0 + 530 * MS, b"STATUS RECEIVED 2/2 PACKETS", &mut ctx);
        }
        assert_eq!(d.next_wake(), Some(t0 + 500 * MS), "leave at once");
        assert!(d.poll_stage(t0 + 530 * MS));
        d.on_left(&mut ctx);
        assert_eq!(
            (
                ctx.counters.up,
                ctx.counters.stage_leaves,
                ctx.counters.stage_out
            ),
            (0, 1, 1)
        );
        assert_eq!(ctx.counters.disconnects, 0);
        assert_eq!(ctx.counters.fate_unknown, 0);
        // Parked until the next span; then it connects and registers again.
        assert_eq!(d.next_wake(), Some(t0 + 800 * MS));
        assert!(!d.poll_connect(t0 + 700 * MS, &mut ctx));
        assert!(!d.poll_stage(t0 + 800 * MS));
        assert!(d.poll_connect(t0 + 800 * MS, &mut ctx));
        d.on_connected(t0 + 801 * MS, &mut out, &mut ctx);
        let c = &*ctx.counters;
        assert_eq!(
            (c.up, c.stage_rejoins, c.stage_out, c.reconnects),
            (1, 1, 0, 0)
        );
        assert_eq!(c.registrations, 2);
        assert_eq!(c.ever_registered, 1);
    }

    #[test]
    fn a_device_the_target_never_reaches_never_connects() {
        let t0 = Instant::now();
        let data = data_for(
            Pacing::Closed {
                interval: 1000 * MS,
            },
            2,
            5000 * MS,
            0.0,
        );
        let mut d = Device::new("S9".into(), "t".into(), t0, SplitMix64::new(1, 1), data)
            .with_membership(Vec::new());
        assert_eq!(d.next_wake(), None);
        assert!(!d.poll_stage(t0));
        assert!(d.stage_out());
    }
}
