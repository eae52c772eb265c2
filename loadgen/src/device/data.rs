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

    /// Reports whether the kernel took `out`, at `now` (the time its batch
    /// was generated at). A worker that sends in batches reports after
    /// generating the whole batch, so a refusal can arrive after the
    /// cycle's last SEQ was generated: if that last SEQ was dropped and
    /// every other one is now dropped or refused, the cycle never reached
    /// the hub and is resolved here, as [`next_datagram`](Self::next_datagram)
    /// would have done had the refusal been known then. (Reported one at a
    /// time, a refusal always comes before the last SEQ is generated.)
    ///
    /// A datagram whose cycle is no longer pending (resolved as unseen, or
    /// evicted past [`MAX_PENDING_CYCLES`]) still gets its one fate here.
    pub fn sent(&mut self, out: Outgoing, ok: bool, now: Instant, ctx: &mut Ctx) {
        let c = &mut *ctx.counters;
        let idx = self.pending.iter().rposition(|p| p.cycle == out.cycle);
        if out.copy {
            match (ok, out.counted) {
                (true, true) => c.duplicated += 1,
                (false, true) => c.duplicate_send_errors += 1,
                _ => {}
            }
            if let (true, Some(i)) = (ok, idx) {
                self.pending[i].duplicated |= out.bit();
            }
            return;
        }
        if out.counted {
            match (ok, out.corrupt.is_some()) {
                (false, _) => c.send_errors += 1,
                (true, true) => {
                    c.sent += 1;
                    c.fate_corrupted += 1;
                }
                (true, false) => {
                    c.sent += 1;
                    if out.reordered {
                        c.reordered += 1;
                    }
                    if idx.is_none() {
                        // Its cycle's fate is settled already: unknown.
                        c.fate_unknown += 1;
                    }
                }
            }
        }
        let Some(idx) = idx else {
            return;
        };
        let p = &mut self.pending[idx];
        if ok {
            p.sent |= out.bit();
            if out.reordered {
                p.reordered |= out.bit();
            }
            return;
        }
        p.failed |= out.bit();
        if out.seq == self.cycle_len {
            p.last_sent = None;
        }
        // A cycle the kernel refused entirely gets no STATUS; it times out.
        let all = all_bits(self.cycle_len);
        let last = 1u64 << (self.cycle_len - 1);
        let dropped = p.injected | p.corrupt;
        if dropped & last != 0 && p.doomed() & all == all {
            let p = self.pending.remove(idx).expect("found above");
            ctx.counters.in_flight -= 1;
            if p.counted {
                ctx.counters.unseen_cycles += 1;
            }
            if self.phase == Phase::Awaiting && self.pending.is_empty() {
                self.rest(now);
            }
        }
    }

    /// A datagram from the hub: a STATUS for the oldest pending cycle, once
    /// it is valid and fits that cycle (see the module docs).
    pub fn on_status(&mut self, now: Instant, bytes: &[u8], ctx: &mut Ctx) {
        self.check_overcount(bytes, ctx);
        let st = match verify::check(bytes, self.cycle_len) {
            Ok(st) => st,
            Err(why) => {
                ctx.counters.status_invalid += 1;
                if why == verify::Invalid::Malformed {
                    ctx.counters.malformed_statuses += 1;
                }
                evidence::keep(&mut ctx.samples.status_invalid, || {
                    format!("{}: {}", why.as_str(), evidence::show(bytes))
                });
                return;
            }
        };
        // Only cycles whose last SEQ is out can have been answered (open
        // loop: the cycle still being sent never is).
        let answerable = |p: &Pending| p.deadline.is_some();
        let all = all_bits(self.cycle_len);
        let fits = |p: &Pending| verify::fits(&st, p.sent, all);
        let idx = match (self.pending.front(), self.pending.get(1)) {
            (Some(a), _) if answerable(a) && fits(a) => 0,
            (Some(a), Some(b)) if answerable(a) && answerable(b) && fits(b) => 1,
            (Some(a), _) if answerable(a) => {
                ctx.counters.status_unfit += 1;
                return;
            }
            _ => {
                ctx.counters.stray_statuses += 1;
                return;
            }
        };
        if idx == 1 {
            // The oldest cycle's own STATUS was lost.
            let p = self.pending.pop_front().expect("two pending");
            ctx.counters.in_flight -= 1;
            if p.counted {
                ctx.counters.status_skipped += 1;
                ctx.counters.fate_unknown += p.clean_sent();
            }
        }
        let uncertain = self.pending.get(1).is_some_and(answerable);
        let p = self.pending.pop_front().expect("checked non-empty");
        ctx.counters.in_flight -= 1;
        if p.counted {
            if uncertain {
                ctx.counters.uncertain_matches += 1;
            }
            account(&p, &st, now, self.delayed(), ctx);
        }
        if self.phase == Phase::Awaiting && self.pending.is_empty() {
            self.rest(now);
        }
    }

    /// A hub that counts a duplicate twice says more packets arrived than
    /// distinct SEQs did (`11/10`, or `10/10` with a SEQ missing). Whether
    /// or not the STATUS is valid, it is held against the cycle it would
    /// answer (the oldest answerable, or the next when neither fits) when
    /// that cycle had a duplicate on the wire: `duplicates_overcounted`.
    fn check_overcount(&self, bytes: &[u8], ctx: &mut Ctx) {
        let Some(claimed) = verify::claimed_received(bytes) else {
            return;
        };
        let answerable = |p: &&Pending| p.deadline.is_some();
        let mut cands = self.pending.iter().take(2).filter(answerable);
        let Some(a) = cands.next() else {
            return;
        };
        let over = |p: &Pending| u64::from(claimed) > p.clean_sent();
        if a.counted && a.duplicated != 0 && over(a) && cands.all(over) {
            ctx.counters.duplicates_overcounted += 1;
        }
    }

    /// The run is over: count what is still pending as open and stop.
    pub fn abandon(&mut self, ctx: &mut Ctx) {
        for p in self.pending.drain(..) {
            ctx.counters.in_flight -= 1;
            if p.counted {
                ctx.counters.open_at_end += 1;
                ctx.counters.fate_unknown += p.clean_sent();
            }
        }
        // Generated, never sent: the run ended inside their delay.
        for e in self.line.drain() {
            if e.out.counted && !e.out.copy {
                ctx.counters.unsent_at_end += 1;
            }
        }
        self.phase = Phase::Done;
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

/// Adds one closed cycle, whose STATUS `st` passed validation and fits
/// what was sent, to the counters. With `delayed` (`--delay`), the last
/// datagram's injected delay and the hub's share of the STATUS latency
/// are recorded too.
fn account(p: &Pending, st: &Status, now: Instant, delayed: bool, ctx: &mut Ctx) {
    let c = &mut *ctx.counters;
    c.statuses += 1;
    c.reported_received += u64::from(st.received);
    c.reported_missing += u64::from(st.missing_count());
    c.injected_in_closed += u64::from(p.injected.count_ones());
    c.send_errors_in_closed += u64::from(p.failed.count_ones());
    c.cut_in_closed += u64::from(p.cut.count_ones());
    let corrupted = p.corrupt & p.sent;
    c.corrupted_in_closed += u64::from(corrupted.count_ones());
    let ours = p.injected | p.failed | p.cut;
    let clean = p.sent & !p.corrupt;
    // `fits` guarantees received <= sent; a correct hub counts no
    // corrupted datagram, so the fates add up to the clean ones sent.
    let sent = u64::from(clean.count_ones());
    let reordered = u64::from((p.reordered & clean).count_ones());
    let (missing, reordered_missing) = if st.truncated {
        c.truncated_statuses += 1;
        let missing = sent.saturating_sub(u64::from(st.received));
        (missing, missing.saturating_sub(sent - reordered))
    } else {
        let missing = st.missing & clean;
        (
            u64::from(missing.count_ones()),
            u64::from((missing & p.reordered).count_ones()),
        )
    };
    c.fate_missing += missing;
    c.fate_reordered += reordered - reordered_missing;
    c.fate_received += sent - missing - (reordered - reordered_missing);
    c.reordered_missing += reordered_missing;
    let explained = ours | corrupted;
    if st.truncated {
        c.missing_not_injected +=
            u64::from(st.missing_count().saturating_sub(explained.count_ones()));
    } else {
        c.missing_not_injected += u64::from((st.missing & !explained).count_ones());
        c.injected_not_missing += u64::from((ours & !st.missing).count_ones());
        c.corrupted_not_missing += u64::from((corrupted & !st.missing).count_ones());
    }
    if let Some((intended, actual, injected)) = p.last_sent {
        let status = now.saturating_duration_since(intended);
        ctx.lat.record(Kind::Status, status);
        ctx.lat
            .record(Kind::StatusRaw, now.saturating_duration_since(actual));
        if delayed {
            ctx.lat.record(Kind::InjectedDelay, injected);
            ctx.lat
                .record(Kind::StatusHub, status.saturating_sub(injected));
        }
    }
}

#[cfg(test)]
#[path = "data_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "data_fault_tests.rs"]
mod fault_tests;
