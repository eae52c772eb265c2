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

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hub::protocol::Status;

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
    /// Intended and actual send time of the last SEQ, if it was sent.
    last_sent: Option<(Instant, Instant)>,
    /// STATUS timeout; set once the last SEQ is generated.
    deadline: Option<Instant>,
}

/// One datagram to put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    pub cycle: u64,
    pub seq: u32,
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
            pacer: None,
            paused: false,
            pending: VecDeque::with_capacity(match pacing {
                Pacing::Closed { .. } => 1,
                Pacing::Open { .. } => 4,
            }),
        }
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
        matches!(self.phase, Phase::Done | Phase::Idle) && self.pending.is_empty()
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
        match (phase, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
            ctx.counters.fate_unknown += u64::from(p.sent.count_ones());
        }
    }

    fn rest(&mut self, now: Instant) {
        if let Pacing::Closed { interval } = self.pacing {
            self.phase = Phase::Resting {
                until: now + interval,
            };
        }
    }

    /// The next datagram due at `now`, after applying `--loss`; `None` when
    /// nothing more is due. Injected drops are accounted here and skipped.
    pub fn next_datagram(
        &mut self,
        now: Instant,
        rng: &mut SplitMix64,
        ctx: &mut Ctx,
    ) -> Option<Outgoing> {
        loop {
            let Phase::Sending { seq, at } = self.phase else {
                return None;
            };
            if seq > 1 && now >= ctx.stop_at {
                // The stop is checked at every datagram, so a backlog never
                // runs past it: the rest of this cycle is cut.
                self.cut_rest(seq, now, ctx);
                return None;
            }
            if at > now {
                return None;
            }
            if seq == 1 {
                if at >= ctx.stop_at || now >= ctx.stop_at {
                    self.phase = Phase::Done;
                    return None;
                }
                if self.paused {
                    self.phase = Phase::Idle;
                    return None;
                }
                self.begin_cycle(at, ctx);
            }
            let bit = 1u64 << (seq - 1);
            let dropped = rng.chance(self.loss);
            let last = seq == self.cycle_len;
            let p = self.pending.back_mut().expect("cycle begun");
            if p.counted {
                ctx.counters.generated += 1;
                if dropped {
                    ctx.counters.injected_drops += 1;
                }
                let lag = now.saturating_duration_since(at);
                ctx.lat.record(Kind::SendLag, lag);
                if lag > ctx.max_lag {
                    ctx.counters.late_sends += 1;
                }
            }
            if dropped {
                p.injected |= bit;
            }
            if last {
                p.deadline = Some(now + self.status_timeout);
                if !dropped {
                    p.last_sent = Some((at, now));
                }
            }
            let out = Outgoing {
                cycle: self.cycle,
                seq,
            };
            self.advance(seq, at, now, ctx);
            if !dropped {
                return Some(out);
            }
        }
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
            if (p.injected | p.failed) & all == all {
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
        let p = self.pending.back_mut().expect("cycle begun");
        p.cut |= rest;
        p.deadline = Some(now + self.status_timeout);
        if p.counted {
            ctx.counters.cut_at_stop += u64::from(rest.count_ones());
        }
        self.phase = Phase::Done;
        if p.sent == 0 && (p.injected | p.failed | p.cut) & all == all {
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
    pub fn sent(&mut self, out: Outgoing, ok: bool, now: Instant, ctx: &mut Ctx) {
        let Some(idx) = self.pending.iter().rposition(|p| p.cycle == out.cycle) else {
            return;
        };
        let p = &mut self.pending[idx];
        if ok {
            p.sent |= 1u64 << (out.seq - 1);
            if p.counted {
                ctx.counters.sent += 1;
            }
            return;
        }
        p.failed |= 1u64 << (out.seq - 1);
        if out.seq == self.cycle_len {
            p.last_sent = None;
        }
        // A cycle the kernel refused entirely gets no STATUS; it times out.
        if p.counted {
            ctx.counters.send_errors += 1;
        }
        let all = all_bits(self.cycle_len);
        let last = 1u64 << (self.cycle_len - 1);
        if p.injected & last != 0 && (p.injected | p.failed) & all == all {
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
                ctx.counters.fate_unknown += u64::from(p.sent.count_ones());
            }
        }
        let uncertain = self.pending.get(1).is_some_and(answerable);
        let p = self.pending.pop_front().expect("checked non-empty");
        ctx.counters.in_flight -= 1;
        if p.counted {
            if uncertain {
                ctx.counters.uncertain_matches += 1;
            }
            account(&p, &st, now, ctx);
        }
        if self.phase == Phase::Awaiting && self.pending.is_empty() {
            self.rest(now);
        }
    }

    /// The run is over: count what is still pending as open and stop.
    pub fn abandon(&mut self, ctx: &mut Ctx) {
        for p in self.pending.drain(..) {
            ctx.counters.in_flight -= 1;
            if p.counted {
                ctx.counters.open_at_end += 1;
                ctx.counters.fate_unknown += u64::from(p.sent.count_ones());
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

/// Adds one closed cycle, whose STATUS `st` passed validation and fits
/// what was sent, to the counters.
fn account(p: &Pending, st: &Status, now: Instant, ctx: &mut Ctx) {
    let c = &mut *ctx.counters;
    c.statuses += 1;
    c.reported_received += u64::from(st.received);
    c.reported_missing += u64::from(st.missing_count());
    c.injected_in_closed += u64::from(p.injected.count_ones());
    c.send_errors_in_closed += u64::from(p.failed.count_ones());
    c.cut_in_closed += u64::from(p.cut.count_ones());
    let ours = p.injected | p.failed | p.cut;
    // `fits` guarantees received <= sent, so the fates add up to `sent`.
    let sent = u64::from(p.sent.count_ones());
    let missing = if st.truncated {
        c.truncated_statuses += 1;
        sent - u64::from(st.received)
    } else {
        u64::from((st.missing & p.sent).count_ones())
    };
    c.fate_missing += missing;
    c.fate_received += sent - missing;
    if st.truncated {
        c.missing_not_injected += u64::from(st.missing_count().saturating_sub(ours.count_ones()));
    } else {
        c.missing_not_injected += u64::from((st.missing & !ours).count_ones());
        c.injected_not_missing += u64::from((ours & !st.missing).count_ones());
    }
    if let Some((intended, actual)) = p.last_sent {
        ctx.lat
            .record(Kind::Status, now.saturating_duration_since(intended));
        ctx.lat
            .record(Kind::StatusRaw, now.saturating_duration_since(actual));
    }
}

#[cfg(test)]
#[path = "data_tests.rs"]
mod tests;
