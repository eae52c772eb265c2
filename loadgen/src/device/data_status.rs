//! What comes back for a device's datagrams: each send's outcome
//! ([`Data::sent`]), each STATUS ([`Data::on_status`], matched to its cycle
//! and accounted datagram by datagram), and the cycles left when the run
//! is abandoned. Part of [`Data`]; generating and pacing are in `data.rs`.

use std::time::Instant;

use super::*;

impl Data {
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
    pub(super) fn check_overcount(&self, bytes: &[u8], ctx: &mut Ctx) {
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
