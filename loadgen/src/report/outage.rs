//! Fleet outages: spans, after the whole fleet first registered, during
//! which fewer than all devices were up (a hub restart shows as one long
//! outage; `--kick-every` as many short ones). Each worker feeds an
//! [`OutageTracker`] its shard's up count once per loop pass (sans-IO: `now`
//! is passed in) and ships the closed spans with each tick. The fleet is
//! short of a device exactly when some shard is, so the main thread takes
//! the union of every shard's spans and [`summarize`]s it.

use std::time::{Duration, Instant};

/// One shard's outage spans.
#[derive(Debug, Default)]
pub struct OutageTracker {
    devices: u64,
    /// Start of the outage in progress.
    open_since: Option<Instant>,
    /// Closed spans not yet shipped.
    closed: Vec<(Instant, Instant)>,
}

impl OutageTracker {
    pub fn new(devices: usize) -> Self {
        OutageTracker {
            devices: devices as u64,
            ..OutageTracker::default()
        }
    }

    /// Records the shard's state at `now`. Nothing counts until every
    /// device has registered once (`all_registered`): the ramp-up is not an
    /// outage.
    pub fn observe(&mut self, now: Instant, up: u64, all_registered: bool) {
        let short = all_registered && up < self.devices;
        match (self.open_since, short) {
            (None, true) => self.open_since = Some(now),
            (Some(since), false) => {
                self.closed.push((since, now));
                self.open_since = None;
            }
            _ => {}
        }
    }

    /// The outage in progress, if any.
    pub fn open_since(&self) -> Option<Instant> {
        self.open_since
    }

    /// Closed spans since the last call.
    pub fn take_closed(&mut self) -> Vec<(Instant, Instant)> {
        std::mem::take(&mut self.closed)
    }
}

/// The fleet's outages over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutageSummary {
    pub count: u64,
    pub longest: Duration,
    pub total: Duration,
}

/// Unites the shards' `spans` (in any order, possibly overlapping) and
/// clips them to `[from, to]`.
pub fn summarize(spans: &mut [(Instant, Instant)], from: Instant, to: Instant) -> OutageSummary {
    spans.sort_unstable();
    let mut s = OutageSummary::default();
    let mut current: Option<(Instant, Instant)> = None;
    let close = |span: (Instant, Instant), s: &mut OutageSummary| {
        let d = span.1.saturating_duration_since(span.0);
        if !d.is_zero() {
            s.count += 1;
            s.longest = s.longest.max(d);
            s.total += d;
        }
    };
    for &(a, b) in spans.iter() {
        let (a, b) = (a.max(from), b.min(to));
        if b <= a {
            continue;
        }
        current = match current {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some(done) => {
                close(done, &mut s);
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some(done) = current {
        close(done, &mut s);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ramp_up_is_not_an_outage_and_a_drop_is() {
        let t = Instant::now();
        let mut o = OutageTracker::new(3);
        o.observe(t, 1, false);
        o.observe(t + MS, 2, true);
        assert_eq!(o.open_since(), Some(t + MS));
        o.observe(t + 5 * MS, 3, true);
        o.observe(t + 9 * MS, 2, true);
        o.observe(t + 10 * MS, 2, true);
        o.observe(t + 12 * MS, 3, true);
        assert_eq!(o.open_since(), None);
        assert_eq!(
            o.take_closed(),
            [(t + MS, t + 5 * MS), (t + 9 * MS, t + 12 * MS)]
        );
        assert!(o.take_closed().is_empty());
    }

    #[test]
    fn shards_are_united_and_clipped() {
        let t = Instant::now();
        let at = |ms: u64| t + Duration::from_millis(ms);
        // Two shards lose devices over overlapping spans (one outage of
        // 100..400), a third has a short one, and one span predates `from`.
        let mut spans = vec![
            (at(300), at(400)),
            (at(100), at(350)),
            (at(600), at(650)),
            (at(0), at(60)),
            (at(900), at(2000)),
        ];
        let s = summarize(&mut spans, at(50), at(1000));
        assert_eq!(s.count, 4);
        assert_eq!(s.longest, 300 * MS);
        assert_eq!(s.total, (10 + 300 + 50 + 100) * MS);
        assert_eq!(summarize(&mut [], t, at(9)), OutageSummary::default());
    }
}
