//! The device's side of the wire, sans-IO: a FIFO of datagrams waiting for
//! their send time (`--delay`) plus at most one held back for `--reorder`.
//! [`Data`](super::data::Data) pushes each generated datagram in with the
//! delay its [`Roll`](super::faults::Roll) drew and pops the ones due;
//! [`Line::next_wake`] says when the next one is. Nothing here reads the
//! clock.
//!
//! Order: release times never decrease (a datagram drawn a shorter delay
//! than the one before it waits for it), so a jittered delay never
//! reorders; only [`Line::hold`] does, and only within a cycle: the held
//! datagram goes right after the next one pushed, and a cycle's last SEQ
//! first flushes it ([`Line::flush_held`]), so the hub sees it before the
//! cycle closes. A duplicate copy travels right behind its original.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::data::Outgoing;
use super::faults::MAX_REORDER_HOLD;

/// Most datagrams one device's line may have to hold at once in open loop
/// (`--delay` × per-device rate; `RunConfig` refuses more), so its memory
/// stays bounded: about 64 bytes each. A closed-loop device holds at most
/// two cycles' worth (originals and copies).
pub const MAX_HELD: usize = 4096;

/// One datagram on its way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub out: Outgoing,
    /// When the schedule wanted it sent.
    pub intended: Instant,
    /// When it was generated (handed to the line).
    pub generated: Instant,
    /// When it may go: `generated` + its drawn delay, then no earlier than
    /// the datagram before it.
    pub release: Instant,
}

impl Entry {
    /// The delay the line added: `release − generated`.
    pub fn injected(&self) -> Duration {
        self.release.saturating_duration_since(self.generated)
    }
}

/// The line of one device.
#[derive(Debug, Default)]
pub struct Line {
    queue: VecDeque<Entry>,
    /// Held back for reordering, with whether a duplicate copy follows it.
    held: Option<(Entry, bool)>,
    /// Release time of the last datagram queued: the floor of the next.
    tail: Option<Instant>,
}

impl Line {
    /// Queues `e` (and, with `duplicate`, an identical copy right after it).
    pub fn push(&mut self, mut e: Entry, duplicate: bool) {
        if let Some(t) = self.tail {
            e.release = e.release.max(t);
        }
        self.tail = Some(e.release);
        self.queue.push_back(e);
        if duplicate {
            let mut copy = e;
            copy.out.copy = true;
            self.queue.push_back(copy);
        }
    }

    /// Queues `e` after holding back whatever is held: the held datagram
    /// goes right after `e`, so it arrives out of order (it is marked
    /// `reordered`).
    pub fn push_overtaking(&mut self, e: Entry, duplicate: bool) {
        let held = self.held.take();
        self.push(e, duplicate);
        if let Some((mut h, dup)) = held {
            h.out.reordered = true;
            self.push(h, dup);
        }
    }

    /// Holds `e` back until the next datagram of its cycle is pushed.
    pub fn hold(&mut self, e: Entry, duplicate: bool) {
        debug_assert!(self.held.is_none(), "one datagram held at a time");
        self.held = Some((e, duplicate));
    }

    /// True while a datagram is held back.
    pub fn holding(&self) -> bool {
        self.held.is_some()
    }

    /// Queues the held datagram in order (it is not reordered after all):
    /// its cycle ends, the run stops, or it waited [`MAX_REORDER_HOLD`].
    pub fn flush_held(&mut self) {
        if let Some((h, dup)) = self.held.take() {
            self.push(h, dup);
        }
    }

    /// The next datagram due at `now`, if any. A held datagram that has
    /// waited [`MAX_REORDER_HOLD`] is queued first, in order.
    pub fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        if self
            .held
            .is_some_and(|(h, _)| h.generated + MAX_REORDER_HOLD <= now)
        {
            self.flush_held();
        }
        match self.queue.front() {
            Some(e) if e.release <= now => self.queue.pop_front(),
            _ => None,
        }
    }

    /// When [`pop_due`](Self::pop_due) next has something.
    pub fn next_wake(&self) -> Option<Instant> {
        let q = self.queue.front().map(|e| e.release);
        let h = self.held.map(|(h, _)| h.generated + MAX_REORDER_HOLD);
        match (q, h) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the last datagram queued goes out (`None` if none was).
    pub fn last_release(&self) -> Option<Instant> {
        self.tail
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.held.is_none()
    }

    /// Datagrams still queued or held (the run ended before their time).
    pub fn drain(&mut self) -> impl Iterator<Item = Entry> + '_ {
        self.flush_held();
        self.queue.drain(..)
    }

    /// Datagrams queued or held, copies included.
    pub fn len(&self) -> usize {
        self.queue.len() + self.held.map_or(0, |(_, dup)| 1 + usize::from(dup))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn entry(t0: Instant, seq: u32, delay_ms: u32) -> Entry {
        Entry {
            out: Outgoing::new(1, seq),
            intended: t0,
            generated: t0,
            release: t0 + delay_ms * MS,
        }
    }

    fn seqs(l: &mut Line, now: Instant) -> Vec<(u32, bool, bool)> {
        std::iter::from_fn(|| l.pop_due(now))
            .map(|e| (e.out.seq, e.out.copy, e.out.reordered))
            .collect()
    }

    #[test]
    fn a_delay_holds_and_a_jitter_never_reorders() {
        let t0 = Instant::now();
        let mut l = Line::default();
        l.push(entry(t0, 1, 60), false);
        l.push(entry(t0, 2, 40), false);
        assert_eq!(l.next_wake(), Some(t0 + 60 * MS));
        assert!(l.pop_due(t0 + 59 * MS).is_none());
        let got: Vec<_> = std::iter::from_fn(|| l.pop_due(t0 + 60 * MS)).collect();
        assert_eq!(got.iter().map(|e| e.out.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(got[1].injected(), 60 * MS, "waited for the one before");
        assert_eq!(l.last_release(), Some(t0 + 60 * MS));
        assert!(l.is_empty());
    }

    #[test]
    fn a_held_datagram_goes_after_the_next_and_a_copy_follows_its_original() {
        let t0 = Instant::now();
        let mut l = Line::default();
        l.push(entry(t0, 1, 0), false);
        l.hold(entry(t0, 2, 0), true);
        assert!(l.holding());
        assert_eq!(seqs(&mut l, t0), [(1, false, false)]);
        l.push_overtaking(entry(t0, 3, 0), false);
        assert_eq!(
            seqs(&mut l, t0),
            [(3, false, false), (2, false, true), (2, true, true)]
        );
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn a_held_datagram_goes_in_order_when_flushed_or_after_the_longest_hold() {
        let t0 = Instant::now();
        let mut l = Line::default();
        l.hold(entry(t0, 1, 0), false);
        l.flush_held();
        l.push(entry(t0, 2, 0), false);
        assert_eq!(seqs(&mut l, t0), [(1, false, false), (2, false, false)]);
        l.hold(entry(t0, 3, 0), false);
        assert_eq!(l.next_wake(), Some(t0 + MAX_REORDER_HOLD));
        assert!(l.pop_due(t0 + MAX_REORDER_HOLD - MS).is_none());
        assert_eq!(seqs(&mut l, t0 + MAX_REORDER_HOLD), [(3, false, false)]);
    }

    #[test]
    fn drain_gives_back_everything_still_waiting() {
        let t0 = Instant::now();
        let mut l = Line::default();
        l.push(entry(t0, 1, 500), true);
        l.hold(entry(t0, 2, 0), false);
        assert_eq!(l.len(), 3);
        assert_eq!(l.drain().count(), 3);
        assert!(l.is_empty());
    }
}
