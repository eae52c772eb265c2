//! The UDP side of one virtual device, sans-IO: which datagram is due when,
//! which ones `--loss` drops, which cycles wait for a STATUS, and how each
//! STATUS is accounted. The worker calls [`Data::poll`] when the device's
//! timer fires, then [`Data::next_datagram`] until it returns `None`, sends
//! each datagram and reports the outcome with [`Data::sent`]; STATUS bytes go
//! to [`Data::on_status`]. Time is always passed in.
//!
//! Matching: the hub closes one device's cycles in order and answers each
//! with exactly one STATUS, so STATUSes are matched to the oldest cycle
//! waiting (a FIFO). Cycles whose datagrams were all dropped before sending
//! are never seen by the hub and are resolved at once (`unseen_cycles`).
//! A STATUS is believed only after [`verify`](super::verify) passes it:
//! an invalid one is counted and never matched; one that does not fit the
//! oldest cycle (it says an unsent SEQ arrived) is matched to the next
//! cycle if it fits that one (the oldest's STATUS was lost: skipped), else
//! dropped. Each sent datagram's fate is received, missing (real loss) or
//! unknown (its cycle got no valid STATUS).
//!
//! Closed loop (the original client's rhythm): a cycle's datagrams go out
//! back to back, then the device waits for the STATUS (or the STATUS
//! timeout), then rests `interval`. Because the hub's cycle timeout (3 s) is
//! shorter than ours (5 s), a cycle whose last datagram was dropped still
//! gets its STATUS, by the hub's timeout, before the next cycle starts.
//! Open loop (`--rate`): datagrams are due at fixed intended times
//! `gap` apart and the device never waits; a lost last datagram's cycle is
//! closed by the next cycle's first datagram.
//!
//! Faults beyond loss ([`super::faults`]): each datagram that survives
//! `--loss` is rolled for corruption, duplication, reordering and delay,
//! then goes through the device's [`Line`], which releases it when due.
//! A corrupted datagram's fate is `corrupted` (the hub must drop it, so its
//! SEQ is explained when reported missing), a duplicate copy's is
//! `duplicated` (an extra datagram on the wire, never a reading), a
//! reordered one received out of order is `reordered`. A cycle's STATUS
//! timeout runs from its last datagram's release.
//!
//! Files: here, generating and pacing (the phases, loss, faults, cycles
//! begun and cut); `data_status.rs`, what comes back (send outcomes, STATUS
//! matching and accounting); `data_stages.rs`, the `--stages` hooks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hub::protocol::Status;

use super::faults::{Corruption, Dice, Roll};
use super::line::{Entry, Line};
use super::{verify, Ctx};
use crate::report::evidence;
use crate::report::histo::Kind;
use crate::rng::SplitMix64;
use crate::stages::pace::Pacer;

#[path = "data_stages.rs"]
mod staged;
#[path = "data_status.rs"]
mod status;
pub use staged::MAX_CYCLE_GAP;

/// Cycles one device may have waiting for STATUS at once (open loop). Past
/// it the oldest is counted as a STATUS timeout, so memory stays bounded.
pub const MAX_PENDING_CYCLES: usize = 64;

/// How datagrams are paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Burst a cycle, wait for STATUS, rest `interval`.
    Closed { interval: Duration },
    /// One datagram every `gap`, cycles back to back.
    Open { gap: Duration },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not started (the device has not registered yet).
    Idle,
    /// Datagram `seq` of the current cycle is due at `at` (intended time).
    Sending { seq: u32, at: Instant },
    /// Closed loop: every datagram is out, waiting for STATUS.
    Awaiting,
    /// Closed loop: resting until the next cycle.
    Resting { until: Instant },
    /// The run is over; no new cycles.
    Done,
}

/// A cycle waiting for its STATUS.
#[derive(Debug, Clone, Copy)]
struct Pending {
    cycle: u64,
    /// Started after the warm-up: its numbers go into the report.
    counted: bool,
    /// Bit `i`: SEQ `i + 1` dropped by `--loss`.
    injected: u64,
    /// Bit `i`: SEQ `i + 1` refused by the kernel.
    failed: u64,
    /// Bit `i`: SEQ `i + 1` taken by the kernel.
    sent: u64,
    /// Bit `i`: SEQ `i + 1` never generated, the stop came first.
    cut: u64,
    /// Bit `i`: SEQ `i + 1` corrupted by `--corrupt` (decided when
    /// generated; it still may be refused by the kernel).
    corrupt: u64,
    /// Bit `i`: SEQ `i + 1` went out after a later SEQ of this cycle.
    reordered: u64,
    /// Bit `i`: a duplicate copy of SEQ `i + 1` went out too.
    duplicated: u64,
    /// Intended and actual send time of the last SEQ, if it was sent, and
    /// the delay the line added to it.
    last_sent: Option<(Instant, Instant, Duration)>,
    /// STATUS timeout; set once the last SEQ is generated.
    deadline: Option<Instant>,
}

/// One datagram to put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    pub cycle: u64,
    pub seq: u32,
    /// Its cycle is measured (started after the warm-up).
    pub counted: bool,
    /// A duplicate copy (`--duplicate`), sent right after its original.
    pub copy: bool,
    /// Sent after a later SEQ of its cycle (`--reorder`).
    pub reordered: bool,
    /// Damaged before sending (`--corrupt`); see [`Corruption::apply`].
    pub corrupt: Option<Corruption>,
}

impl Outgoing {
    /// SEQ `seq` of cycle `cycle`, measured, with no fault.
    pub fn new(cycle: u64, seq: u32) -> Self {
        Outgoing {
            cycle,
            seq,
            counted: true,
            copy: false,
            reordered: false,
            corrupt: None,
        }
    }

    fn bit(&self) -> u64 {
        1u64 << (self.seq - 1)
    }
}

/// The data-channel state machine of one device.
#[derive(Debug)]
pub struct Data {
    pacing: Pacing,
    cycle_len: u32,
    status_timeout: Duration,
    loss: f64,
    phase: Phase,
    /// Number of the current (or last) cycle; the first is 1.
    cycle: u64,
    pending: VecDeque<Pending>,
    /// The run's stop, learnt when the first cycle begins: a cycle being
    /// sent wakes the device then, to be cut.
    stop_at: Option<Instant>,
    /// Faults beyond loss (`None`: none asked for).
    dice: Option<Dice>,
    /// Datagrams generated and not yet due (`--delay`, `--reorder`).
    line: Line,
    /// Rate stages: when each datagram is due (see `data_stages.rs`).
    pacer: Option<Box<Pacer>>,
    /// Devices stages: no new cycle until resumed.
    paused: bool,
}

impl Data {
    pub fn new(pacing: Pacing, cycle_len: u32, status_timeout: Duration, loss: f64) -> Self {
        Data {
            pacing,
            cycle_len,
            status_timeout,
            loss,
            phase: Phase::Idle,
            cycle: 0,
            stop_at: None,
            dice: None,
            line: Line::default(),
            pacer: None,
            paused: false,
            pending: VecDeque::with_capacity(match pacing {
                Pacing::Closed { .. } => 1,
                Pacing::Open { .. } => 4,
            }),
        }
    }

    /// Adds faults beyond loss, decided by `dice` (nothing changes when it
    /// asks for none).
    pub fn with_faults(mut self, dice: Dice) -> Self {
        self.dice = dice.faults().any().then_some(dice);
        self
    }

    /// True when `--delay` is on: STATUS latencies then have an injected
    /// share to report.
    fn delayed(&self) -> bool {
        self.dice.is_some_and(|d| !d.faults().delay.is_zero())
    }

    /// Starts streaming; the first datagram is due at `first_at`. Later
    /// calls (re-registrations) change nothing: the data channel does not
    /// depend on the control connection.
    pub fn start(&mut self, first_at: Instant) {
        if self.phase == Phase::Idle {
            self.phase = match self.first_due(first_at) {
                Some(at) => Phase::Sending { seq: 1, at },
                None => Phase::Done,
            };
        }
    }

    /// `SET_INTERVAL`: the closed-loop rest between cycles, from the next
    /// rest on. Open-loop pacing is fixed by `--rate` and does not change.
    pub fn set_interval(&mut self, interval: Duration) {
        if let Pacing::Closed { interval: i } = &mut self.pacing {
            *i = interval;
        }
    }

    pub fn interval(&self) -> Option<Duration> {
        match self.pacing {
            Pacing::Closed { interval } => Some(interval),
            Pacing::Open { .. } => None,
        }
    }

    /// One pacing period: the closed-loop interval or the open-loop gap.
    pub fn period(&self) -> Duration {
        match self.pacing {
            Pacing::Closed { interval } => interval,
            Pacing::Open { gap } => gap,
        }
    }

    /// Cycles waiting for STATUS.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// True once the run is over for this device and nothing is pending.
    pub fn finished(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Idle)
            && self.pending.is_empty()
            && self.line.is_empty()
    }

    /// When the device next needs [`poll`](Self::poll).
    pub fn next_wake(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Sending { seq, at } if seq > 1 => Some(self.stop_at.map_or(at, |s| at.min(s))),
            Phase::Sending { at, .. } => Some(at),
            Phase::Resting { until } => Some(until),
            _ => None,
        };
        let deadline = self.pending.front().and_then(|p| p.deadline);
        [phase, deadline, self.line.next_wake()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Expires STATUS timeouts and ends rests that are over.
    pub fn poll(&mut self, now: Instant, ctx: &mut Ctx) {
        while let Some(p) = self.pending.front() {
            match p.deadline {
                Some(d) if d <= now => {
                    let p = self.pending.pop_front().expect("front exists");
                    Self::timed_out(&p, ctx);
                }
                _ => break,
            }
        }
        if self.phase == Phase::Awaiting && self.pending.is_empty() {
            self.rest(now);
        }
        if let Phase::Resting { until } = self.phase {
            if until <= now {
                self.phase = if now >= ctx.stop_at {
                    Phase::Done
                } else {
                    Phase::Sending { seq: 1, at: now }
                };
            }
        }
    }

    fn timed_out(p: &Pending, ctx: &mut Ctx) {
        ctx.counters.in_flight -= 1;
        if p.counted {
            ctx.counters.status_timeouts += 1;
            ctx.counters.fate_unknown += p.clean_sent();
        }
    }

    fn rest(&mut self, now: Instant) {
        if let Pacing::Closed { interval } = self.pacing {
            self.phase = Phase::Resting {
                until: now + interval,
            };
        }
    }

    /// The next datagram due at `now`, after applying `--loss` and the
    /// other faults; `None` when nothing more is due. Injected drops are
    /// accounted here and skipped; the rest pass through the [`Line`].
    pub fn next_datagram(
        &mut self,
        now: Instant,
        rng: &mut SplitMix64,
        ctx: &mut Ctx,
    ) -> Option<Outgoing> {
        loop {
            if let Some(e) = self.line.pop_due(now) {
                return Some(self.released(e, now, ctx));
            }
            if !self.generate(now, rng, ctx) {
                return None;
            }
        }
    }

    /// `e` leaves the line at `now`: its send lag is the generator's own
    /// (late generation plus late release), never the injected delay.
    fn released(&mut self, e: Entry, now: Instant, ctx: &mut Ctx) -> Outgoing {
        let out = e.out;
        if out.copy {
            return out;
        }
        if out.counted {
            let lag = e.generated.saturating_duration_since(e.intended)
                + now.saturating_duration_since(e.release);
            ctx.lat.record(Kind::SendLag, lag);
            if lag > ctx.max_lag {
                ctx.counters.late_sends += 1;
            }
        }
        // A corrupted last SEQ never reaches the hub: its cycle closes by the
        // hub's timeout, which is not latency (as for a dropped one).
        if out.seq == self.cycle_len && out.corrupt.is_none() {
            if let Some(p) = self.pending.iter_mut().rev().find(|p| p.cycle == out.cycle) {
                p.last_sent = Some((e.intended, now, e.injected()));
            }
        }
        out
    }

    /// Generates the datagram due at `now`, if any, into the line (or drops
    /// it); false when nothing is due.
    fn generate(&mut self, now: Instant, rng: &mut SplitMix64, ctx: &mut Ctx) -> bool {
        let Phase::Sending { seq, at } = self.phase else {
            return false;
        };
        if seq > 1 && now >= ctx.stop_at {
            // The stop is checked at every datagram, so a backlog never
            // runs past it: the rest of this cycle is cut.
            self.cut_rest(seq, now, ctx);
            return false;
        }
        if at > now {
            return false;
        }
        if seq == 1 {
            if at >= ctx.stop_at || now >= ctx.stop_at {
                self.phase = Phase::Done;
                return false;
            }
            if self.paused {
                self.phase = Phase::Idle;
                return false;
            }
            self.begin_cycle(at, ctx);
        }
        let bit = 1u64 << (seq - 1);
        let dropped = rng.chance(self.loss);
        let last = seq == self.cycle_len;
        let roll = match (&self.dice, dropped) {
            (Some(d), false) => d.roll(self.cycle, seq),
            _ => Roll::default(),
        };
        let p = self.pending.back_mut().expect("cycle begun");
        let counted = p.counted;
        if counted {
            ctx.counters.generated += 1;
            if dropped {
                ctx.counters.injected_drops += 1;
                let lag = now.saturating_duration_since(at);
                ctx.lat.record(Kind::SendLag, lag);
                if lag > ctx.max_lag {
                    ctx.counters.late_sends += 1;
                }
            }
        }
        if dropped {
            p.injected |= bit;
        }
        if roll.corrupt.is_some() {
            p.corrupt |= bit;
        }
        if last {
            // The held datagram must reach the hub before the cycle closes.
            self.line.flush_held();
        }
        if !dropped {
            let e = Entry {
                out: Outgoing {
                    counted,
                    corrupt: roll.corrupt,
                    ..Outgoing::new(self.cycle, seq)
                },
                intended: at,
                generated: now,
                release: now + roll.delay,
            };
            if self.line.holding() {
                self.line.push_overtaking(e, roll.duplicate);
            } else if roll.reorder && seq + 2 <= self.cycle_len {
                // Never the last two SEQs: the one it waits for must come
                // before the cycle's last.
                self.line.hold(e, roll.duplicate);
            } else {
                self.line.push(e, roll.duplicate);
            }
        }
        if last {
            let out_at = self.line.last_release().map_or(now, |t| t.max(now));
            let p = self.pending.back_mut().expect("cycle begun");
            p.deadline = Some(out_at + self.status_timeout);
        }
        self.advance(seq, at, now, ctx);
        true
    }

    fn begin_cycle(&mut self, at: Instant, ctx: &mut Ctx) {
        if self.pending.len() >= MAX_PENDING_CYCLES {
            let p = self.pending.pop_front().expect("non-empty");
            Self::timed_out(&p, ctx);
        }
        self.cycle += 1;
        self.stop_at = Some(ctx.stop_at);
        let counted = at >= ctx.measure_from;
        if counted {
            ctx.counters.cycles_started += 1;
        }
        ctx.counters.in_flight += 1;
        self.pending.push_back(Pending {
            cycle: self.cycle,
            counted,
            injected: 0,
            failed: 0,
            sent: 0,
            cut: 0,
            corrupt: 0,
            reordered: 0,
            duplicated: 0,
            last_sent: None,
            deadline: None,
        });
    }

    /// Moves to the datagram after `seq`, resolving a fully dropped cycle.
    fn advance(&mut self, seq: u32, at: Instant, now: Instant, ctx: &mut Ctx) {
        let last = seq == self.cycle_len;
        let gap = match self.pacing {
            Pacing::Closed { .. } => Duration::ZERO,
            Pacing::Open { gap } => gap,
        };
        self.phase = match (last, self.pacing) {
            (false, _) => Phase::Sending {
                seq: seq + 1,
                at: at + gap,
            },
            (true, Pacing::Open { .. }) => Phase::Sending {
                seq: 1,
                at: at + gap,
            },
            (true, Pacing::Closed { .. }) => Phase::Awaiting,
        };
        if self.pacer.is_some() {
            self.follow_pacer(seq, at, now, ctx);
        }
        if last {
            let all = all_bits(self.cycle_len);
            let p = self.pending.back().expect("cycle begun");
            if p.doomed() & all == all {
                self.resolve_unseen(ctx);
                if self.phase == Phase::Awaiting && self.pending.is_empty() {
                    self.rest(now);
                }
            }
        }
    }

    /// The stop came before SEQ `seq` of the current cycle: SEQs `seq..=n`
    /// are never generated. The cycle still awaits the STATUS the hub's
    /// cycle timeout will send (listing them missing), unless nothing of it
    /// was sent at all.
    fn cut_rest(&mut self, seq: u32, now: Instant, ctx: &mut Ctx) {
        let all = all_bits(self.cycle_len);
        let rest = all & !all_bits(seq - 1);
        self.line.flush_held();
        let out_at = self.line.last_release().map_or(now, |t| t.max(now));
        let p = self.pending.back_mut().expect("cycle begun");
        p.cut |= rest;
        p.deadline = Some(out_at + self.status_timeout);
        if p.counted {
            ctx.counters.cut_at_stop += u64::from(rest.count_ones());
        }
        self.phase = Phase::Done;
        if (p.doomed() | p.cut) & all == all {
            self.resolve_unseen(ctx);
        }
    }

    /// The last cycle never reached the hub; stop waiting for its STATUS.
    fn resolve_unseen(&mut self, ctx: &mut Ctx) {
        let p = self.pending.pop_back().expect("cycle begun");
        ctx.counters.in_flight -= 1;
        if p.counted {
            ctx.counters.unseen_cycles += 1;
        }
    }
}

fn all_bits(len: u32) -> u64 {
    if len >= 64 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    }
}

impl Pending {
    /// SEQs that cannot reach the hub as readings: dropped, refused or
    /// corrupted.
    fn doomed(&self) -> u64 {
        self.injected | self.failed | self.corrupt
    }

    /// Datagrams sent uncorrupted (a corrupted one's fate is settled when
    /// it is sent).
    fn clean_sent(&self) -> u64 {
        u64::from((self.sent & !self.corrupt).count_ones())
    }
}

#[cfg(test)]
#[path = "data_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "data_fault_tests.rs"]
mod fault_tests;
