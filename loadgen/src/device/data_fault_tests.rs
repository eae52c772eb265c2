//! Tests of the faults beyond loss, sans-IO and with fixed seeds: the
//! device's data side talks to the hub's own data plane
//! (`hub::data::DataPlane`, time passed in to both), or to a small model of
//! a broken hub, and the accounting must come out exact (or name the
//! hub's fault).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use hub::data::{DataConfig, DataPlane, StatusSink};

use super::*;
use crate::device::faults::{Delay, Dice, Faults};
use crate::device::Wire;
use crate::report::accounting::Counters;
use crate::report::evidence::Samples;
use crate::report::histo::Latencies;

const SEC: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn faults(reorder: f64, duplicate: f64, corrupt: f64, delay: &str) -> Faults {
    Faults {
        reorder,
        duplicate,
        corrupt,
        delay: Delay::parse(delay).unwrap(),
    }
}

/// What answers the device's datagrams.
trait Peer {
    /// One datagram at `now`; STATUS replies go to `out`.
    fn datagram(&mut self, now: Instant, bytes: &[u8], out: &mut Vec<Vec<u8>>);
    fn tick(&mut self, now: Instant, out: &mut Vec<Vec<u8>>);
    fn wake(&mut self) -> Option<Instant>;
}

struct Collect<'a>(&'a mut Vec<Vec<u8>>);

impl StatusSink for Collect<'_> {
    fn send_status(&mut self, _dest: SocketAddr, bytes: &[u8]) {
        self.0.push(bytes.to_vec());
    }
}

/// The hub's real data plane.
struct RealHub(DataPlane);

const SRC: &str = "127.0.0.1:40000";

impl Peer for RealHub {
    fn datagram(&mut self, now: Instant, bytes: &[u8], out: &mut Vec<Vec<u8>>) {
        self.0
            .on_datagram(now, SRC.parse().unwrap(), bytes, &mut Collect(out));
    }
    fn tick(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.0.on_tick(now, &mut Collect(out));
    }
    fn wake(&mut self) -> Option<Instant> {
        self.0.poll_timeout()
    }
}

/// How a model hub is broken.
#[derive(Clone, Copy, PartialEq)]
enum Bug {
    /// Counts every datagram as a packet received, duplicates included.
    CountsDuplicates,
    /// Drops a SEQ lower than one already seen in the cycle.
    OutOfOrderIsLost,
    /// Takes the SEQ out of a datagram without checking the rest.
    TakesCorrupted,
}

/// A hub that closes a cycle on its last SEQ (every test cycle ends with
/// its last SEQ sent), broken as `Bug` says.
struct BrokenHub {
    bug: Bug,
    cycle: u64,
    closed: bool,
    bits: u64,
    packets: u32,
    highest: u32,
}

impl Peer for BrokenHub {
    fn datagram(&mut self, _now: Instant, bytes: &[u8], out: &mut Vec<Vec<u8>>) {
        let (seq, cycle) = match (self.bug, hub::protocol::Datagram::parse(bytes)) {
            (_, Ok(d)) => (d.seq, d.cycle.unwrap_or(0)),
            (Bug::TakesCorrupted, Err(_)) => {
                let t = String::from_utf8_lossy(bytes);
                let field = |tag: &str| -> Option<u64> {
                    t.split(',')
                        .find_map(|f| f.strip_prefix(tag).and_then(|n| n.parse().ok()))
                };
                match (field("SEQ:"), field("CYCLE:")) {
                    (Some(s), Some(c)) if (1..=10).contains(&s) => (s as u32, c),
                    _ => return,
                }
            }
            _ => return,
        };
        if cycle != self.cycle {
            (self.cycle, self.bits, self.packets, self.highest) = (cycle, 0, 0, 0);
            self.closed = false;
        }
        if self.closed {
            return; // late for a cycle already answered
        }
        let bit = 1u64 << (seq - 1);
        if self.bug == Bug::OutOfOrderIsLost && seq < self.highest {
            return;
        }
        self.highest = self.highest.max(seq);
        self.bits |= bit;
        self.packets += 1;
        if seq == 10 {
            let st = Status::from_bits(self.bits, 10);
            let received = match self.bug {
                Bug::CountsDuplicates => self.packets,
                _ => st.received,
            };
            let mut s = format!("STATUS RECEIVED {received}/10 PACKETS");
            let missing: Vec<String> = (1..=10u32)
                .filter(|s| st.missing & (1 << (s - 1)) != 0)
                .map(|s| s.to_string())
                .collect();
            if !missing.is_empty() {
                s += &format!("; MISSING: [{}]", missing.join(", "));
            }
            out.push(s.into_bytes());
            self.closed = true;
        }
    }
    fn tick(&mut self, _now: Instant, _out: &mut Vec<Vec<u8>>) {}
    fn wake(&mut self) -> Option<Instant> {
        None
    }
}

struct Run {
    c: Counters,
    lat: Latencies,
    samples: Samples,
    /// Every datagram as it left, with when.
    wire: Vec<(Instant, Outgoing)>,
    t0: Instant,
}

impl Run {
    fn ctx(&mut self, stop_at: Instant) -> Ctx<'_> {
        Ctx {
            counters: &mut self.c,
            lat: &mut self.lat,
            measure_from: self.t0,
            stop_at,
            samples: &mut self.samples,
            max_lag: SEC,
        }
    }
}

fn encode(o: Outgoing) -> Vec<u8> {
    let w = Wire {
        datagram: hub::protocol::Datagram {
            name: "Sensor01",
            timestamp: "2026-12-01 13:00:00",
            kind: "temperature",
            value: f64::from(200 + o.seq) / 10.0,
            seq: o.seq,
            cycle: Some(o.cycle),
        },
        corrupt: o.corrupt,
    };
    let mut buf = [0u8; 256];
    let n = w.encode(&mut buf).unwrap();
    buf[..n].to_vec()
}

/// Runs one device with `f` (seed 11) against `peer` for `for_` of
/// simulated time, then drains and abandons: the device's counters.
fn run(
    pacing: Pacing,
    loss: f64,
    f: Faults,
    seed: u64,
    peer: &mut dyn Peer,
    for_: Duration,
) -> Run {
    let t0 = Instant::now();
    let mut r = Run {
        c: Counters::default(),
        lat: Latencies::new(),
        samples: Samples::default(),
        wire: Vec::new(),
        t0,
    };
    let stop = t0 + for_;
    let mut rng = SplitMix64::new(seed, 0);
    let mut d = Data::new(pacing, 10, 5 * SEC, loss).with_faults(Dice::new(f, seed, 0));
    d.start(t0);
    let mut now = t0;
    let mut replies = Vec::new();
    let mut wire = Vec::new();
    for _ in 0..1_000_000 {
        let mut ctx = r.ctx(stop);
        d.poll(now, &mut ctx);
        while let Some(o) = d.next_datagram(now, &mut rng, &mut ctx) {
            d.sent(o, true, now, &mut ctx);
            peer.datagram(now, &encode(o), &mut replies);
            wire.push((now, o));
        }
        peer.tick(now, &mut replies);
        let mut ctx = r.ctx(stop);
        for s in replies.drain(..) {
            d.on_status(now, &s, &mut ctx);
        }
        let next = [d.next_wake(), peer.wake()].into_iter().flatten().min();
        match next {
            Some(t) if t < stop + 20 * SEC => now = now.max(t),
            _ => break,
        }
    }
    d.abandon(&mut r.ctx(stop));
    assert!(d.finished());
    r.wire = wire;
    r
}

fn real_hub() -> RealHub {
    RealHub(DataPlane::new(DataConfig::default()))
}

fn closed() -> Pacing {
    Pacing::Closed { interval: 100 * MS }
}

fn assert_exact(c: &Counters) {
    assert_eq!(c.identity_holds(10), Ok(()), "{c:?}");
    assert_eq!(c.unexplained_loss(), 0, "{c:?}");
    assert_eq!(c.missing_not_injected, 0, "{c:?}");
    assert_eq!(c.injected_not_missing, 0, "{c:?}");
    assert_eq!(c.reordered_missing, 0, "{c:?}");
    assert_eq!(c.corrupted_not_missing, 0, "{c:?}");
    assert_eq!(c.duplicates_overcounted, 0, "{c:?}");
    assert_eq!((c.status_invalid, c.status_unfit), (0, 0), "{c:?}");
    assert_eq!(
        c.status_timeouts + c.open_at_end + c.status_skipped,
        0,
        "{c:?}"
    );
}

#[test]
fn each_fault_alone_and_all_together_account_exactly_against_the_real_hub() {
    for (f, loss) in [
        (faults(0.3, 0.0, 0.0, "0"), 0.0),
        (faults(0.0, 0.3, 0.0, "0"), 0.0),
        (faults(0.0, 0.0, 0.2, "0"), 0.0),
        (faults(0.0, 0.0, 0.0, "30±20"), 0.0),
        (faults(0.2, 0.2, 0.1, "20±10"), 0.1),
    ] {
        let mut hub = real_hub();
        let r = run(closed(), loss, f, 11, &mut hub, 60 * SEC);
        let c = &r.c;
        assert_exact(c);
        assert!(c.statuses > 100, "{c:?}");
        let stats = hub.0.stats();
        // Everything sent reached the hub once, copies besides.
        assert_eq!(stats.datagrams, c.sent + c.duplicated, "{f:?}");
        assert_eq!(stats.packets_missing, c.reported_missing, "{f:?}");
        if f.duplicate > 0.0 {
            assert!(c.duplicated > 50, "{c:?}");
            // A copy of the last SEQ comes after its cycle closed: late.
            assert!(stats.duplicates + stats.late <= c.duplicated);
            assert!(stats.duplicates > 0);
        }
        if f.reorder > 0.0 {
            assert!(c.reordered > 50, "{c:?}");
            assert_eq!(c.fate_reordered, c.reordered, "all received");
        }
        if f.corrupt > 0.0 {
            assert!(c.fate_corrupted > 50, "{c:?}");
            assert!(stats.malformed >= c.fate_corrupted);
            if c.unseen_cycles == 0 {
                assert_eq!(c.corrupted_in_closed, c.fate_corrupted);
            }
        }
        if f.delay.is_zero() {
            assert_eq!(r.lat.get(Kind::InjectedDelay).len(), 0);
        }
        // Only cycles whose last SEQ reached the hub have a latency: never
        // the hub's 3 s timeout of a dropped or corrupted one.
        let status = r.lat.get(Kind::Status);
        assert!(status.len() < c.statuses || f.corrupt == 0.0 && loss == 0.0);
        assert!(status.max() < 100_000, "{f:?}: {}", status.max());
    }
}

#[test]
fn the_same_seed_gives_the_same_datagrams_in_the_same_order() {
    let f = faults(0.2, 0.2, 0.2, "10±5");
    let a = run(closed(), 0.05, f, 11, &mut real_hub(), 10 * SEC);
    let b = run(closed(), 0.05, f, 11, &mut real_hub(), 10 * SEC);
    let seqs = |r: &Run| {
        r.wire
            .iter()
            .map(|(t, o)| (*t - r.t0, *o))
            .collect::<Vec<_>>()
    };
    assert_eq!(seqs(&a), seqs(&b));
    assert_eq!(a.c, b.c);
    let other = run(closed(), 0.05, f, 12, &mut real_hub(), 10 * SEC);
    assert_ne!(seqs(&a), seqs(&other));
}

#[test]
fn a_reordered_datagram_goes_after_the_next_one_and_never_after_the_last() {
    let r = run(
        closed(),
        0.0,
        faults(0.5, 0.0, 0.0, "0"),
        3,
        &mut real_hub(),
        10 * SEC,
    );
    let mut cycles: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for (_, o) in &r.wire {
        cycles.entry(o.cycle).or_default().push(o.seq);
    }
    let mut swapped = 0;
    for seqs in cycles.values() {
        assert_eq!(seqs.last(), Some(&10), "{seqs:?}");
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(sorted, (1..=10).collect::<Vec<_>>());
        swapped += seqs.windows(2).filter(|w| w[0] > w[1]).count();
    }
    assert!(swapped > 20);
    let marked = r.wire.iter().filter(|(_, o)| o.reordered).count();
    assert_eq!(marked as u64, r.c.reordered);
    assert_eq!(
        marked, swapped,
        "marked exactly the ones that went after a later SEQ"
    );
}

#[test]
fn an_injected_delay_shows_in_status_latency_and_not_in_the_hubs_share() {
    let r = run(
        closed(),
        0.0,
        faults(0.0, 0.0, 0.0, "50±10"),
        5,
        &mut real_hub(),
        10 * SEC,
    );
    assert_exact(&r.c);
    let status = r.lat.get(Kind::Status);
    let injected = r.lat.get(Kind::InjectedDelay);
    let hub_share = r.lat.get(Kind::StatusHub);
    assert_eq!(status.len(), r.c.statuses);
    assert_eq!(injected.len(), status.len());
    assert!(
        injected.min() >= 39_900 && injected.max() <= 60_100,
        "{}",
        injected.max()
    );
    assert!(status.min() >= 39_900, "{}", status.min());
    // The sans-IO hub answers at once: the whole latency is the delay.
    assert!(hub_share.max() <= 10, "{}", hub_share.max());
    // Datagrams left no earlier than 40 ms after their cycle began.
    let first = r.wire.first().unwrap().0;
    assert!(first >= r.t0 + 40 * MS);
}

#[test]
fn a_delay_moves_the_status_timeout_with_the_last_datagram() {
    // The last SEQ is dropped: the hub closes the cycle by its 3 s timeout
    // after the (delayed) 9th datagram, within the device's 5 s.
    let f = faults(0.0, 0.0, 0.0, "2000");
    let r = run(closed(), 0.3, f, 21, &mut real_hub(), 60 * SEC);
    assert_exact(&r.c);
    assert!(r.c.injected_drops > 50);
}

#[test]
fn open_loop_holds_a_reordered_datagram_at_most_the_longest_hold() {
    // One datagram a second: the next is too far, so a held one goes out
    // in order after MAX_REORDER_HOLD.
    let r = run(
        Pacing::Open { gap: SEC },
        0.0,
        faults(0.5, 0.0, 0.0, "0"),
        8,
        &mut real_hub(),
        60 * SEC,
    );
    assert_eq!(r.c.identity_holds(10), Ok(()));
    assert_eq!(r.c.unexplained_loss(), 0);
    assert_eq!(r.c.reordered, 0);
    let late = r
        .wire
        .iter()
        .filter(|(t, _)| (*t - r.t0).as_millis() % 1000 == 500)
        .count();
    assert!(late > 10, "{late} held ones went out half a second late");
}

#[test]
fn a_cycle_of_only_corrupted_and_dropped_datagrams_is_unseen_and_each_still_has_a_fate() {
    let r = run(
        closed(),
        0.3,
        faults(0.0, 0.3, 0.65, "0"),
        4,
        &mut real_hub(),
        120 * SEC,
    );
    assert_exact(&r.c);
    assert!(r.c.unseen_cycles > 0, "{:?}", r.c);
    assert!(r.c.fate_corrupted > r.c.corrupted_in_closed);
}

#[test]
fn datagrams_still_delayed_at_the_end_are_unsent_not_lost() {
    let t0 = Instant::now();
    let mut r = Run {
        c: Counters::default(),
        lat: Latencies::new(),
        samples: Samples::default(),
        wire: Vec::new(),
        t0,
    };
    let mut rng = SplitMix64::new(1, 0);
    let f = faults(0.0, 0.5, 0.0, "500");
    let mut d = Data::new(closed(), 10, 5 * SEC, 0.0).with_faults(Dice::new(f, 1, 0));
    d.start(t0);
    let mut ctx = r.ctx(t0 + 100 * SEC);
    assert!(
        d.next_datagram(t0, &mut rng, &mut ctx).is_none(),
        "all delayed"
    );
    assert_eq!(d.next_wake(), Some(t0 + 500 * MS));
    d.abandon(&mut ctx);
    assert!(d.finished());
    assert_eq!((r.c.generated, r.c.unsent_at_end), (10, 10));
    assert_eq!(r.c.identity_holds(10), Ok(()));
}

mod broken_hubs {
    use super::*;

    fn against(bug: Bug, f: Faults) -> Counters {
        let mut hub = BrokenHub {
            bug,
            cycle: 0,
            closed: false,
            bits: 0,
            packets: 0,
            highest: 0,
        };
        run(closed(), 0.0, f, 11, &mut hub, 120 * SEC).c
    }

    #[test]
    fn a_hub_counting_duplicates_twice_is_named() {
        let c = against(Bug::CountsDuplicates, faults(0.0, 0.2, 0.0, "0"));
        assert!(c.duplicates_overcounted > 10, "{c:?}");
        // Its STATUS say 11/10: invalid, never matched.
        assert!(c.status_invalid >= c.duplicates_overcounted);
        // Cycles with no duplicate were answered correctly.
        assert!(c.statuses > 0);
        assert_eq!(c.unexplained_loss(), 0);
    }

    #[test]
    fn a_hub_losing_out_of_order_seqs_is_named() {
        let c = against(Bug::OutOfOrderIsLost, faults(0.3, 0.0, 0.0, "0"));
        assert!(c.reordered_missing > 10, "{c:?}");
        assert_eq!(c.unexplained_loss(), c.reordered_missing as i64);
        assert_eq!(c.fate_reordered + c.reordered_missing, c.reordered);
        assert_eq!(c.identity_holds(10), Ok(()));
    }

    #[test]
    fn a_hub_taking_corrupted_datagrams_is_named() {
        // SEQ-field corruptions leave no SEQ to take; value ones do.
        let c = against(Bug::TakesCorrupted, faults(0.0, 0.0, 0.3, "0"));
        assert!(c.corrupted_not_missing > 10, "{c:?}");
        assert_eq!(c.unexplained_loss(), -(c.corrupted_not_missing as i64));
        assert_eq!(c.identity_holds(10), Ok(()));
    }

    #[test]
    fn the_right_hub_is_named_for_none_of_it() {
        let mut hub = real_hub();
        let f = faults(0.3, 0.3, 0.3, "0");
        assert_exact(&run(closed(), 0.0, f, 11, &mut hub, 30 * SEC).c);
    }
}
