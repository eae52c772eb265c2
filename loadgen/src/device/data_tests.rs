//! Tests of the data-channel state machine, grouped by pacing.

use super::*;
use crate::report::accounting::Counters;
use crate::report::histo::Latencies;

const SEC: Duration = Duration::from_secs(1);

struct Harness {
    c: Counters,
    lat: Latencies,
    samples: crate::report::evidence::Samples,
    t0: Instant,
    measure_from: Instant,
    stop_at: Instant,
}

impl Harness {
    fn new() -> Self {
        let t0 = Instant::now();
        Harness {
            c: Counters::default(),
            lat: Latencies::new(),
            samples: Default::default(),
            t0,
            measure_from: t0,
            stop_at: t0 + 1000 * SEC,
        }
    }
    fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            counters: &mut self.c,
            lat: &mut self.lat,
            measure_from: self.measure_from,
            stop_at: self.stop_at,
            samples: &mut self.samples,
            max_lag: SEC,
        }
    }
    /// Polls and drains every due datagram, reporting each as sent.
    fn pump(&mut self, d: &mut Data, rng: &mut SplitMix64, now: Instant) -> Vec<Outgoing> {
        let mut v = Vec::new();
        let mut ctx = self.ctx();
        d.poll(now, &mut ctx);
        while let Some(o) = d.next_datagram(now, rng, &mut ctx) {
            d.sent(o, true, now, &mut ctx);
            v.push(o);
        }
        v
    }
}

fn closed(loss: f64) -> Data {
    Data::new(Pacing::Closed { interval: SEC }, 10, 5 * SEC, loss)
}

fn status_for(out: &[Outgoing], len: u32) -> Vec<u8> {
    let mut bits = 0u64;
    for o in out {
        bits |= 1 << (o.seq - 1);
    }
    let st = Status::from_bits(bits, len);
    let mut buf = [0u8; hub::protocol::status::STATUS_BUF];
    let n = st.encode_capped(&mut buf, 512).unwrap();
    buf[..n].to_vec()
}

mod closed_loop {
    use super::*;

    #[test]
    fn cycle_status_rest_next_cycle() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let mut d = closed(0.0);
        d.start(h.t0);
        let out = h.pump(&mut d, &mut rng, h.t0);
        assert_eq!(out.len(), 10);
        assert!(out
            .iter()
            .enumerate()
            .all(|(i, o)| o.seq == i as u32 + 1 && o.cycle == 1));
        assert_eq!(d.pending(), 1);
        assert_eq!(d.next_wake(), Some(h.t0 + 5 * SEC), "waiting for STATUS");
        // Nothing more until the STATUS.
        assert!(h.pump(&mut d, &mut rng, h.t0 + SEC).is_empty());
        let t = h.t0 + Duration::from_millis(2);
        d.on_status(t, b"STATUS RECEIVED 10/10 PACKETS", &mut h.ctx());
        assert_eq!(h.c.statuses, 1);
        assert_eq!(h.c.in_flight, 0);
        assert_eq!(d.next_wake(), Some(t + SEC), "rests one interval");
        assert_eq!(h.lat.get(Kind::Status).len(), 1);
        let out = h.pump(&mut d, &mut rng, t + SEC);
        assert!(out.iter().all(|o| o.cycle == 2) && out.len() == 10);
        assert_eq!((h.c.generated, h.c.sent, h.c.cycles_started), (20, 20, 2));
    }

    #[test]
    fn injected_loss_is_exactly_what_status_reports() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(7, 3);
        let mut d = closed(0.3);
        d.start(h.t0);
        let mut t = h.t0;
        for _ in 0..50 {
            let out = h.pump(&mut d, &mut rng, t);
            if out.is_empty() {
                // Unseen cycle: resolved at once, device rests.
                t = d.next_wake().unwrap();
                continue;
            }
            d.on_status(t, &status_for(&out, 10), &mut h.ctx());
            t = d.next_wake().unwrap();
        }
        assert!(h.c.injected_drops > 100, "{}", h.c.injected_drops);
        assert_eq!(h.c.unexplained_loss(), 0);
        assert_eq!(h.c.missing_not_injected, 0);
        assert_eq!(h.c.injected_not_missing, 0);
        assert_eq!(h.c.identity_holds(10), Ok(()));
        assert_eq!(h.c.reported_missing, h.c.injected_drops);
    }

    #[test]
    fn status_timeout_then_rest() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let mut d = closed(0.0);
        d.start(h.t0);
        h.pump(&mut d, &mut rng, h.t0);
        let t = h.t0 + 5 * SEC;
        assert!(h.pump(&mut d, &mut rng, t).is_empty());
        assert_eq!((h.c.status_timeouts, h.c.in_flight), (1, 0));
        assert_eq!(d.next_wake(), Some(t + SEC));
        // A late STATUS is stray, not matched to the next cycle.
        d.on_status(t, b"STATUS RECEIVED 10/10 PACKETS", &mut h.ctx());
        assert_eq!((h.c.stray_statuses, h.c.statuses), (1, 0));
        assert_eq!(h.c.identity_holds(10), Ok(()));
    }

    #[test]
    fn set_interval_changes_the_rest() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let mut d = closed(0.0);
        d.start(h.t0);
        let out = h.pump(&mut d, &mut rng, h.t0);
        d.set_interval(3 * SEC);
        d.on_status(h.t0, &status_for(&out, 10), &mut h.ctx());
        assert_eq!(d.next_wake(), Some(h.t0 + 3 * SEC));
    }

    #[test]
    fn warmup_cycles_are_not_counted_and_stop_ends_cycles() {
        let mut h = Harness::new();
        h.measure_from = h.t0 + SEC;
        h.stop_at = h.t0 + 3 * SEC;
        let mut rng = SplitMix64::new(1, 1);
        let mut d = closed(0.0);
        d.start(h.t0);
        let out = h.pump(&mut d, &mut rng, h.t0);
        d.on_status(h.t0, &status_for(&out, 10), &mut h.ctx());
        assert_eq!((h.c.generated, h.c.statuses, h.c.cycles_started), (0, 0, 0));
        let out = h.pump(&mut d, &mut rng, h.t0 + SEC);
        assert_eq!(out.len(), 10);
        assert_eq!(h.c.generated, 10);
        // Stop arrives with the cycle still open: it is counted as open.
        assert!(h.pump(&mut d, &mut rng, h.t0 + 3 * SEC).is_empty());
        d.abandon(&mut h.ctx());
        assert_eq!((h.c.open_at_end, h.c.in_flight), (1, 0));
        assert!(d.finished());
        assert_eq!(h.c.identity_holds(10), Ok(()));
    }

    #[test]
    fn fully_dropped_cycle_is_unseen_not_awaited() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let mut d = Data::new(Pacing::Closed { interval: SEC }, 1, 5 * SEC, 0.999_999);
        d.start(h.t0);
        assert!(h.pump(&mut d, &mut rng, h.t0).is_empty());
        assert_eq!(
            (h.c.unseen_cycles, h.c.in_flight, h.c.injected_drops),
            (1, 0, 1)
        );
        assert_eq!(d.next_wake(), Some(h.t0 + SEC));
        assert_eq!(h.c.identity_holds(1), Ok(()));
    }

    #[test]
    fn send_errors_are_explained() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let mut d = closed(0.0);
        let t0 = h.t0;
        d.start(t0);
        let mut ctx = h.ctx();
        d.poll(t0, &mut ctx);
        let mut got = Vec::new();
        while let Some(o) = d.next_datagram(t0, &mut rng, &mut ctx) {
            let ok = o.seq != 4;
            d.sent(o, ok, t0, &mut ctx);
            if ok {
                got.push(o);
            }
        }
        d.on_status(t0, &status_for(&got, 10), &mut ctx);
        assert_eq!((h.c.send_errors, h.c.reported_missing), (1, 1));
        assert_eq!(h.c.unexplained_loss(), 0);
        assert_eq!(h.c.identity_holds(10), Ok(()));
    }
}

mod open_loop {
    use super::*;

    #[test]
    fn paced_at_intended_times_and_catches_up() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let gap = Duration::from_millis(100);
        let mut d = Data::new(Pacing::Open { gap }, 10, 5 * SEC, 0.0);
        d.start(h.t0);
        assert_eq!(h.pump(&mut d, &mut rng, h.t0).len(), 1);
        assert_eq!(d.next_wake(), Some(h.t0 + gap));
        // The worker was late by 1.05 s: everything due is sent at once,
        // the schedule is not shifted.
        let late = h.t0 + Duration::from_millis(1050);
        let out = h.pump(&mut d, &mut rng, late);
        assert_eq!(out.len(), 10);
        assert_eq!(out.last().unwrap(), &Outgoing::new(2, 1));
        assert_eq!(d.next_wake(), Some(h.t0 + 11 * gap));
        assert_eq!(d.pending(), 2);
        // The STATUS for cycle 1: corrected latency counts from the intended
        // time of SEQ 10 (t0 + 900 ms), raw from its actual send.
        let t = late + Duration::from_millis(1);
        d.on_status(t, b"STATUS RECEIVED 10/10 PACKETS", &mut h.ctx());
        let corrected = h.lat.get(Kind::Status).max();
        let raw = h.lat.get(Kind::StatusRaw).max();
        assert!(corrected >= 150_000, "{corrected}");
        assert!(raw <= 2_000, "{raw}");
    }

    #[test]
    fn late_status_never_takes_the_cycle_being_sent() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let gap = Duration::from_millis(100);
        let mut d = Data::new(Pacing::Open { gap }, 10, 5 * SEC, 0.0);
        d.start(h.t0);
        h.pump(&mut d, &mut rng, h.t0 + 5 * gap);
        assert_eq!(d.pending(), 1);
        d.on_status(h.t0, b"STATUS RECEIVED 10/10 PACKETS", &mut h.ctx());
        assert_eq!((h.c.stray_statuses, d.pending()), (1, 1));
        assert_eq!(h.pump(&mut d, &mut rng, h.t0 + 9 * gap).len(), 4);
    }

    #[test]
    fn statuses_match_cycles_in_order() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(5, 5);
        let gap = Duration::from_millis(10);
        let mut d = Data::new(Pacing::Open { gap }, 10, 5 * SEC, 0.2);
        d.start(h.t0);
        let mut t = h.t0;
        let mut by_cycle: Vec<Vec<Outgoing>> = Vec::new();
        for _ in 0..300 {
            for o in h.pump(&mut d, &mut rng, t) {
                if by_cycle.len() < o.cycle as usize {
                    by_cycle.resize(o.cycle as usize, Vec::new());
                }
                by_cycle[o.cycle as usize - 1].push(o);
            }
            t += gap;
        }
        // The hub answers every cycle it saw, in order (fully dropped ones
        // were never seen). The last cycle may still be sending.
        let complete = by_cycle.len() - 1;
        for out in by_cycle.iter().take(complete).filter(|v| !v.is_empty()) {
            d.on_status(t, &status_for(out, 10), &mut h.ctx());
        }
        assert_eq!(h.c.unexplained_loss(), 0);
        assert_eq!(h.c.injected_not_missing, 0);
        d.abandon(&mut h.ctx());
        assert_eq!(h.c.identity_holds(10), Ok(()));
    }
}

mod evidence {
    use super::*;

    fn one_cycle(h: &mut Harness, d: &mut Data, rng: &mut SplitMix64) -> Vec<Outgoing> {
        d.start(h.t0);
        h.pump(d, rng, h.t0)
    }

    #[test]
    fn an_invalid_status_is_counted_kept_and_never_matched() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let mut d = closed(0.0);
        one_cycle(&mut h, &mut d, &mut rng);
        for bad in [
            &b"STATUS RECEIVED 10/10 PACKETS; MISSING: [1, 2, 3]"[..],
            b"garbage",
            b"STATUS RECEIVED 4/4 PACKETS",
        ] {
            d.on_status(h.t0, bad, &mut h.ctx());
        }
        assert_eq!((h.c.status_invalid, h.c.statuses, d.pending()), (3, 0, 1));
        assert_eq!(h.c.malformed_statuses, 1);
        assert_eq!(h.samples.status_invalid.len(), 3);
        assert!(h.samples.status_invalid[0].contains("MISSING: [1, 2, 3]"));
        // Unanswered: the cycle times out and its datagrams' fate is unknown.
        h.pump(&mut d, &mut rng, h.t0 + 5 * SEC);
        assert_eq!((h.c.status_timeouts, h.c.fate_unknown), (1, 10));
        assert_eq!(h.c.unexplained_loss(), 0);
        assert_eq!(h.c.identity_holds(10), Ok(()));
    }

    #[test]
    fn fates_add_up_to_sent() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let mut d = closed(0.0);
        let out = one_cycle(&mut h, &mut d, &mut rng);
        // The hub lost SEQ 4 and 9: real loss, the datagrams' fate is "missing".
        let kept: Vec<Outgoing> = out
            .into_iter()
            .filter(|o| o.seq != 4 && o.seq != 9)
            .collect();
        d.on_status(h.t0, &status_for(&kept, 10), &mut h.ctx());
        assert_eq!(
            (h.c.fate_received, h.c.fate_missing, h.c.fate_unknown),
            (8, 2, 0)
        );
        assert_eq!(h.c.unexplained_loss(), 2);
        d.abandon(&mut h.ctx());
        assert_eq!(h.c.identity_holds(10), Ok(()));
    }

    #[test]
    fn a_status_claiming_unsent_seqs_is_not_matched() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(3, 3);
        let mut d = closed(0.5);
        d.start(h.t0);
        let mut t = h.t0;
        loop {
            let out = h.pump(&mut d, &mut rng, t);
            if !out.is_empty() && out.len() < 10 {
                break;
            }
            if let Some(o) = out.first() {
                d.on_status(t, &status_for(&out, 10), &mut h.ctx());
                assert_eq!(o.seq, 1);
            }
            t = d.next_wake().unwrap();
        }
        let before = h.c.statuses;
        d.on_status(t, b"STATUS RECEIVED 10/10 PACKETS", &mut h.ctx());
        assert_eq!((h.c.status_unfit, h.c.statuses), (1, before));
        assert_eq!(d.pending(), 1);
    }

    #[test]
    fn the_stop_cuts_a_backlog_and_the_cut_is_explained() {
        let mut h = Harness::new();
        h.stop_at = h.t0 + SEC;
        let mut rng = SplitMix64::new(1, 1);
        let gap = Duration::from_millis(300);
        let mut d = Data::new(Pacing::Open { gap }, 10, 5 * SEC, 0.0);
        d.start(h.t0);
        // SEQ 1..=4 due by 900 ms; the device then wakes at the stop, not
        // at SEQ 5's time, and the rest of the cycle is cut.
        assert_eq!(
            h.pump(&mut d, &mut rng, h.t0 + Duration::from_millis(900))
                .len(),
            4
        );
        assert_eq!(d.next_wake(), Some(h.t0 + SEC));
        assert!(h.pump(&mut d, &mut rng, h.t0 + SEC).is_empty());
        assert_eq!(h.c.cut_at_stop, 6);
        // The hub's cycle timeout reports the six missing.
        let st = b"STATUS RECEIVED 4/10 PACKETS; MISSING: [5, 6, 7, 8, 9, 10]";
        d.on_status(h.t0 + 4 * SEC, st, &mut h.ctx());
        assert_eq!((h.c.statuses, h.c.cut_in_closed), (1, 6));
        assert_eq!(h.c.unexplained_loss(), 0);
        assert_eq!(h.c.identity_holds(10), Ok(()));
    }

    #[test]
    fn two_awaited_cycles_make_a_match_uncertain() {
        let mut h = Harness::new();
        let mut rng = SplitMix64::new(1, 1);
        let gap = Duration::from_millis(10);
        let mut d = Data::new(Pacing::Open { gap }, 2, 5 * SEC, 0.0);
        d.start(h.t0);
        // Cycles 1 and 2 sent, cycle 3 begun.
        h.pump(&mut d, &mut rng, h.t0 + 4 * gap);
        assert_eq!(d.pending(), 3);
        // Cycle 1's STATUS is lost; cycle 2's says SEQ 2 missing: it does
        // fit cycle 1 too, so FIFO takes it, as an uncertain match.
        d.on_status(h.t0, b"STATUS RECEIVED 2/2 PACKETS", &mut h.ctx());
        assert_eq!((h.c.statuses, h.c.uncertain_matches), (1, 1));
    }
}

mod batched_reports {
    use super::*;

    /// A seed whose first `chance(0.5)` is false and second true: with
    /// `--loss 0.5` the first SEQ goes out and the last (second) is dropped.
    fn first_sent_last_dropped() -> SplitMix64 {
        (0..10_000)
            .map(|seed| SplitMix64::new(7, seed))
            .find(|r| {
                let mut probe = r.clone();
                !probe.chance(0.5) && probe.chance(0.5)
            })
            .expect("such a seed among 10 000")
    }

    /// Runs one closed-loop cycle of two SEQs whose first is refused by the
    /// kernel, reported either at once (`batched` false) or after the whole
    /// batch was generated; returns the counters and the next wake-up.
    fn refused_then_dropped(batched: bool) -> (Counters, Option<Duration>) {
        let mut h = Harness::new();
        let mut rng = first_sent_last_dropped();
        let mut d = Data::new(Pacing::Closed { interval: SEC }, 2, 5 * SEC, 0.5);
        let t0 = h.t0;
        d.start(t0);
        let mut ctx = h.ctx();
        d.poll(t0, &mut ctx);
        let o = d.next_datagram(t0, &mut rng, &mut ctx).expect("SEQ 1");
        assert_eq!(o.seq, 1);
        if batched {
            assert_eq!(
                d.next_datagram(t0, &mut rng, &mut ctx),
                None,
                "SEQ 2 dropped"
            );
            d.sent(o, false, t0, &mut ctx);
        } else {
            d.sent(o, false, t0, &mut ctx);
            assert_eq!(
                d.next_datagram(t0, &mut rng, &mut ctx),
                None,
                "SEQ 2 dropped"
            );
        }
        let wake = d.next_wake().map(|t| t - t0);
        (h.c, wake)
    }

    #[test]
    fn a_refusal_reported_after_the_batch_resolves_the_cycle_as_if_reported_at_once() {
        let (once, wake_once) = refused_then_dropped(false);
        let (batched, wake_batched) = refused_then_dropped(true);
        assert_eq!(
            (
                once.unseen_cycles,
                once.in_flight,
                once.send_errors,
                once.injected_drops
            ),
            (1, 0, 1, 1),
            "one at a time: the cycle never reached the hub"
        );
        assert_eq!(batched, once, "same counters either way");
        assert_eq!(
            wake_once,
            Some(SEC),
            "rests one interval, no STATUS awaited"
        );
        assert_eq!(wake_batched, wake_once);
        assert_eq!(batched.identity_holds(2), Ok(()));
    }

    #[test]
    fn reports_after_the_batch_count_what_reports_one_at_a_time_count() {
        // Open loop, 5 % loss, 10 SEQs a cycle, every 7th datagram refused:
        // the same run reported per datagram and per batch of everything due.
        let run = |batched: bool| {
            let mut h = Harness::new();
            let mut rng = SplitMix64::new(3, 3);
            let mut d = Data::new(Pacing::Open { gap: SEC / 100 }, 10, 5 * SEC, 0.05);
            let t0 = h.t0;
            d.start(t0);
            let mut n = 0u32;
            for step in 1..=200u32 {
                let now = t0 + SEC / 20 * step; // five datagrams due each step
                let mut ctx = h.ctx();
                d.poll(now, &mut ctx);
                let mut batch = Vec::new();
                while let Some(o) = d.next_datagram(now, &mut rng, &mut ctx) {
                    n += 1;
                    let ok = !n.is_multiple_of(7);
                    if batched {
                        batch.push((o, ok));
                    } else {
                        d.sent(o, ok, now, &mut ctx);
                    }
                }
                for (o, ok) in batch {
                    d.sent(o, ok, now, &mut ctx);
                }
            }
            d.abandon(&mut h.ctx());
            h.c
        };
        let once = run(false);
        assert!(
            once.send_errors > 100 && once.injected_drops > 20,
            "{once:?}"
        );
        assert_eq!(run(true), once);
        assert_eq!(once.identity_holds(10), Ok(()));
    }
}
