//! Tests of the whole data plane: bytes in, STATUS bytes out, time passed in.

use std::cell::RefCell;
use std::time::Duration;

use crate::limits::MAX_CYCLE_LEN;

use super::*;

/// Collects what the plane sends.
#[derive(Default)]
struct Sink(Vec<(SocketAddr, String)>);

impl StatusSink for Sink {
    fn send_status(&mut self, dest: SocketAddr, bytes: &[u8]) {
        self.0
            .push((dest, String::from_utf8(bytes.to_vec()).unwrap()));
    }
}

impl Sink {
    fn texts(&mut self) -> Vec<String> {
        self.0.drain(..).map(|(_, s)| s).collect()
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn ms(base: Instant, n: u64) -> Instant {
    base + Duration::from_millis(n)
}

fn reading(name: &str, seq: u32, cycle: Option<u64>) -> String {
    let mut s = format!("{name},2025-10-22 18:20:15,temperature,24.8,SEQ:{seq}");
    if let Some(k) = cycle {
        s += &format!(",CYCLE:{k}");
    }
    s
}

fn plane(cycle_len: u32) -> DataPlane {
    DataPlane::new(DataConfig {
        cycle_len,
        ..DataConfig::default()
    })
}

/// Sends SEQs `seqs` of `cycle` from `Sensor01` at `now`, from port 1.
fn send(p: &mut DataPlane, sink: &mut Sink, now: Instant, seqs: &[u32], cycle: Option<u64>) {
    for &seq in seqs {
        p.on_datagram(
            now,
            addr(1),
            reading("Sensor01", seq, cycle).as_bytes(),
            sink,
        );
    }
}

#[test]
fn original_client_flow_two_full_cycles_back_to_back() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(10), Sink::default());
    for round in 0..2u32 {
        for seq in 1..=10 {
            let now = ms(t0, u64::from(round * 10 + seq) * 1000);
            p.on_datagram(
                now,
                addr(1),
                reading("Sensor01", seq, None).as_bytes(),
                &mut sink,
            );
            p.on_tick(now, &mut sink);
        }
    }
    assert_eq!(
        sink.0,
        vec![(addr(1), "STATUS RECEIVED 10/10 PACKETS".to_string()); 2]
    );
    let s = p.stats();
    assert_eq!(
        (s.datagrams, s.closed_last_seq, s.closed_timeout),
        (20, 2, 0)
    );
    assert_eq!((s.packets_received, s.packets_missing), (20, 0));
    assert_eq!((s.statuses_sent, s.devices_tracked), (2, 1));
}

#[test]
fn malformed_datagrams_are_counted_and_never_answered() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(10), Sink::default());
    let seq_too_high = reading("Sensor01", 11, Some(1));
    for bad in [
        &b""[..],
        b"GET / HTTP/1.1",
        b"a,t,k,1,SEQ:0",
        seq_too_high.as_bytes(),
        &[0xff; 600],
    ] {
        p.on_datagram(t0, addr(1), bad, &mut sink);
    }
    p.on_tick(ms(t0, 10_000), &mut sink);
    assert!(sink.0.is_empty());
    let s = p.stats();
    assert_eq!((s.datagrams, s.malformed, s.devices_tracked), (5, 5, 0));
}

#[test]
fn cycle_len_one_answers_every_packet() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(1), Sink::default());
    send(&mut p, &mut sink, t0, &[1, 1, 1], None);
    assert_eq!(sink.texts(), vec!["STATUS RECEIVED 1/1 PACKETS"; 3]);
}

#[test]
fn cycle_len_64_reports_a_capped_missing_list() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(64), Sink::default());
    let last = reading("Sensor01", 64, Some(1));
    send(&mut p, &mut sink, t0, &[1, 64], Some(1));
    let [(_, text)] = &sink.0[..] else {
        panic!("{:?}", sink.0)
    };
    assert!(text.len() <= STATUS_AMPLIFICATION * last.len(), "{text}");
    let st = Status::parse(text.as_bytes()).unwrap();
    assert_eq!((st.received, st.total, st.truncated), (2, 64, true));
    assert_eq!(p.stats().packets_missing, 62);
}

#[test]
fn reordered_packets_with_cycle_all_count() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(10), Sink::default());
    send(
        &mut p,
        &mut sink,
        t0,
        &[2, 1, 4, 3, 5, 7, 6, 9, 8, 10],
        Some(3),
    );
    assert_eq!(sink.texts(), vec!["STATUS RECEIVED 10/10 PACKETS"]);
}

#[test]
fn lost_last_packet_closes_by_timeout_only_after_the_timeout() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(10), Sink::default());
    send(&mut p, &mut sink, t0, &[1, 2, 3, 4, 5, 6, 7, 8], None);
    // The device's last datagram came from another port: STATUS goes there.
    let nine = reading("Sensor01", 9, None);
    p.on_datagram(ms(t0, 500), addr(2), nine.as_bytes(), &mut sink);
    p.on_tick(ms(t0, 3499), &mut sink);
    assert!(sink.0.is_empty(), "closed before the timeout");
    p.on_tick(ms(t0, 3500), &mut sink);
    assert_eq!(
        sink.0,
        vec![(
            addr(2),
            "STATUS RECEIVED 9/10 PACKETS; MISSING: [10]".to_string()
        )]
    );
    p.on_tick(ms(t0, 9000), &mut sink);
    assert_eq!(sink.0.len(), 1, "one STATUS per cycle");
    assert_eq!(p.stats().closed_timeout, 1);
}

#[test]
fn a_cycle_jump_closes_the_open_cycle() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(10), Sink::default());
    send(&mut p, &mut sink, t0, &[1, 2], Some(1));
    send(&mut p, &mut sink, t0, &[1], Some(5));
    assert_eq!(
        sink.texts(),
        vec!["STATUS RECEIVED 2/10 PACKETS; MISSING: [3, 4, 5, 6, 7, 8, 9, 10]"]
    );
    // SEQ:10 of a newer cycle closes two cycles: the old one first.
    send(&mut p, &mut sink, t0, &[10], Some(6));
    assert_eq!(
        sink.texts(),
        vec![
            "STATUS RECEIVED 1/10 PACKETS; MISSING: [2, 3, 4, 5, 6, 7, 8, 9, 10]",
            "STATUS RECEIVED 1/10 PACKETS; MISSING: [1, 2, 3, 4, 5, 6, 7, 8, 9]",
        ]
    );
    let s = p.stats();
    assert_eq!((s.closed_newer_cycle, s.closed_last_seq), (2, 1));
    assert_eq!((s.packets_received, s.packets_missing), (4, 26));
}

#[test]
fn late_packets_are_counted_and_unanswered() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(3), Sink::default());
    send(&mut p, &mut sink, t0, &[1, 3], Some(7));
    assert_eq!(sink.texts().len(), 1);
    send(&mut p, &mut sink, t0, &[2], Some(7));
    send(&mut p, &mut sink, t0, &[1], Some(6));
    p.on_tick(ms(t0, 60_000), &mut sink);
    assert!(sink.0.is_empty());
    assert_eq!(p.stats().late, 2);
}

#[test]
fn duplicates_with_cycle_are_counted_not_received() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(3), Sink::default());
    send(&mut p, &mut sink, t0, &[1, 1, 1, 3], Some(1));
    assert_eq!(
        sink.texts(),
        vec!["STATUS RECEIVED 2/3 PACKETS; MISSING: [2]"]
    );
    assert_eq!(p.stats().duplicates, 2);
}

/// What loadgen's `--reorder`, `--duplicate` and `--corrupt` do to one
/// cycle: a reordered SEQ counts, a duplicate counts once, a datagram whose
/// value or SEQ no longer parses is dropped as malformed and its SEQ is
/// missing; a corrupted last SEQ does not close the cycle (the timeout
/// does).
#[test]
fn reordered_duplicated_and_corrupted_datagrams_in_one_cycle() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(10), Sink::default());
    let corrupt =
        |seq: u32, from: &str, to: &str| reading("Sensor01", seq, Some(7)).replacen(from, to, 1);
    send(&mut p, &mut sink, t0, &[2, 1, 1, 3, 5], Some(7));
    for bad in [corrupt(4, "24.8", "2x.8"), corrupt(6, "SEQ:6", "SEQ:#")] {
        p.on_datagram(t0, addr(1), bad.as_bytes(), &mut sink);
    }
    send(&mut p, &mut sink, t0, &[8, 7, 9, 9], Some(7));
    let last = corrupt(10, "SEQ:10", "xEQ:10");
    p.on_datagram(t0, addr(1), last.as_bytes(), &mut sink);
    assert!(sink.0.is_empty(), "a corrupted SEQ:10 closes nothing");
    p.on_tick(ms(t0, 3000), &mut sink);
    assert_eq!(
        sink.texts(),
        vec!["STATUS RECEIVED 7/10 PACKETS; MISSING: [4, 6, 10]"]
    );
    let s = p.stats();
    assert_eq!((s.malformed, s.duplicates, s.accepted), (3, 2, 7));
}

#[test]
fn duplicate_without_cycle_starts_the_next_cycle() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(10), Sink::default());
    send(&mut p, &mut sink, t0, &[1, 2, 3, 3], None);
    assert_eq!(
        sink.texts(),
        vec!["STATUS RECEIVED 3/10 PACKETS; MISSING: [4, 5, 6, 7, 8, 9, 10]"]
    );
    send(&mut p, &mut sink, t0, &[4, 5, 6, 7, 8, 9, 10], None);
    assert_eq!(
        sink.texts(),
        vec!["STATUS RECEIVED 8/10 PACKETS; MISSING: [1, 2]"]
    );
    assert_eq!(p.stats().duplicates, 0);
}

#[test]
fn a_tiny_datagram_gets_a_status_at_most_three_times_its_size() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(10), Sink::default());
    let tiny = b"a,,t,1,SEQ:10";
    p.on_datagram(t0, addr(1), tiny, &mut sink);
    let texts = sink.texts();
    assert_eq!(texts, vec!["STATUS RECEIVED 1/10 PACKETS"]);
    assert!(texts[0].len() <= STATUS_AMPLIFICATION * tiny.len());
}

#[test]
fn a_status_whose_header_exceeds_the_cap_is_not_sent() {
    let t0 = Instant::now();
    let (mut stats, mut sink) = (DataStats::default(), Sink::default());
    let mut limiter = ReplyLimiter::new(1, 1);
    let mut closer = Closer {
        stats: &mut stats,
        limiter: &mut limiter,
        sink: &mut sink,
        now: t0,
        cycle_len: 10,
    };
    let mut dev = crate::data::DeviceCounters::default();
    closer.close(CloseRule::Timeout, 0b1, addr(1), 5, 0, &mut dev);
    assert_eq!((dev.cycles, dev.received, dev.missing), (1, 1, 9));
    assert!(sink.0.is_empty());
    assert_eq!((stats.statuses_too_large, stats.closed_timeout), (1, 1));
    assert_eq!((stats.packets_received, stats.packets_missing), (1, 9));
}

/// A cycle of one tiny datagram: its STATUS is larger than it, so metered.
fn tiny(p: &mut DataPlane, sink: &mut Sink, now: Instant, port: u16) {
    p.on_datagram(now, addr(port), b"a,,t,1,SEQ:1", sink);
}

#[test]
fn replies_larger_than_their_cycle_are_rate_limited_per_address_and_refill() {
    let t0 = Instant::now();
    let mut p = DataPlane::new(DataConfig {
        cycle_len: 1,
        reply_rate_per_sec: 2,
        reply_burst: 3,
        ..DataConfig::default()
    });
    let mut sink = Sink::default();
    // Five ports of one address share its bucket.
    for port in 1..=5 {
        tiny(&mut p, &mut sink, t0, port);
    }
    assert_eq!(sink.texts().len(), 3);
    assert_eq!(p.stats().statuses_rate_limited, 2);
    tiny(&mut p, &mut sink, ms(t0, 499), 9);
    assert!(sink.0.is_empty());
    tiny(&mut p, &mut sink, ms(t0, 500), 10);
    assert_eq!(sink.texts().len(), 1);
    let s = p.stats();
    assert_eq!((s.statuses_sent, s.statuses_rate_limited), (4, 3));
    assert_eq!(s.closed_last_seq, 7, "limited cycles still close and count");
    assert_eq!(s.statuses_unmetered, 0);
}

#[test]
fn whole_cycles_from_one_address_are_never_limited() {
    let t0 = Instant::now();
    let mut p = DataPlane::new(DataConfig {
        reply_rate_per_sec: 1,
        reply_burst: 1,
        ..DataConfig::default()
    });
    let mut sink = Sink::default();
    // 2000 devices behind one address, each on its own port, whole cycles.
    for d in 0..2000u16 {
        for seq in 1..=10 {
            let b = reading(&format!("Nat{d}"), seq, None);
            p.on_datagram(t0, addr(1000 + d), b.as_bytes(), &mut sink);
        }
    }
    // One lost packet still pays for its STATUS.
    for seq in 2..=10 {
        p.on_datagram(
            t0,
            addr(1),
            reading("Lossy", seq, None).as_bytes(),
            &mut sink,
        );
    }
    let s = p.stats();
    assert_eq!(s.statuses_sent, 2001, "{s:?}");
    assert_eq!((s.statuses_unmetered, s.statuses_rate_limited), (2001, 0));
    // A timeout of a one-datagram cycle is metered (bucket used up above? no:
    // unmetered replies take no token, so the one token is still there).
    p.on_datagram(t0, addr(1), b"b,,t,1,SEQ:1", &mut sink);
    p.on_datagram(t0, addr(2), b"c,,t,1,SEQ:1", &mut sink);
    p.on_tick(ms(t0, 3000), &mut sink);
    let s = p.stats();
    assert_eq!((s.closed_timeout, s.statuses_rate_limited), (2, 1), "{s:?}");
}

#[test]
fn a_prefix_shares_one_bucket_however_many_addresses() {
    let t0 = Instant::now();
    let mut p = DataPlane::new(DataConfig {
        cycle_len: 1,
        reply_rate_per_sec: 100,
        reply_burst: 100,
        reply_prefix_rate_per_sec: 1,
        reply_prefix_burst: 4,
        ..DataConfig::default()
    });
    let mut sink = Sink::default();
    for host in 1..=200u8 {
        let src = SocketAddr::from(([192, 0, 2, host], 7));
        p.on_datagram(t0, src, b"a,,t,1,SEQ:1", &mut sink);
    }
    let s = p.stats();
    assert_eq!(
        (s.statuses_sent, s.statuses_prefix_limited),
        (4, 196),
        "{s:?}"
    );
}

#[test]
fn a_registered_name_from_another_address_is_dropped() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(1), Sink::default());
    let home = addr(1).ip();
    for src in [addr(1), SocketAddr::from(([10, 0, 0, 9], 1))] {
        let admit = |_: &str| {
            if src.ip() == home {
                Admit::Registered
            } else {
                Admit::WrongSource
            }
        };
        let b = reading("Dev01", 1, None);
        p.on_datagram_checked(t0, src, b.as_bytes(), admit, |_| {}, &mut sink);
    }
    assert_eq!(sink.0.len(), 1);
    assert_eq!(sink.0[0].0, addr(1));
    assert_eq!(p.stats().wrong_source, 1);
}

#[test]
fn idle_timers_cost_nothing_until_due() {
    let t0 = Instant::now();
    let mut p = DataPlane::new(DataConfig {
        idle_evict: Duration::from_secs(60),
        ..DataConfig::default()
    });
    let mut sink = Sink::default();
    assert_eq!(p.poll_timeout(), None);
    for d in 0..1000 {
        for seq in 1..=10 {
            let b = reading(&format!("D{d}"), seq, None);
            p.on_datagram(t0, addr(1), b.as_bytes(), &mut sink);
        }
    }
    // Every cycle closed; the next thing due is a no-op cycle check or the
    // idle check at 60 s, never earlier than the cycle timeout.
    assert!(p.poll_timeout().unwrap() >= ms(t0, 3000));
    p.on_tick(ms(t0, 3000), &mut sink);
    assert_eq!(p.poll_timeout(), Some(ms(t0, 60_000)));
    p.on_tick(ms(t0, 59_999), &mut sink);
    assert_eq!(p.stats().devices_tracked, 1000);
    p.on_tick(ms(t0, 60_000), &mut sink);
    assert_eq!(p.stats().devices_evicted, 1000);
    assert_eq!(p.poll_timeout(), None);
}

#[test]
fn a_full_table_evicts_the_oldest_stranger_and_idle_ones_later() {
    let t0 = Instant::now();
    let mut p = DataPlane::new(DataConfig {
        cycle_len: 10,
        max_devices: 2,
        max_strangers: 2,
        ..DataConfig::default()
    });
    let mut sink = Sink::default();
    for name in ["a", "b", "c"] {
        p.on_datagram(t0, addr(1), reading(name, 1, None).as_bytes(), &mut sink);
    }
    let s = p.stats();
    assert_eq!(
        (s.devices_tracked, s.strangers_evicted, s.table_full_drops),
        (2, 1, 0)
    );
    p.on_tick(ms(t0, 3000), &mut sink);
    assert_eq!(
        sink.texts().len(),
        2,
        "open cycles of b and c close by timeout"
    );
    p.on_tick(ms(t0, 59_999), &mut sink);
    assert_eq!(p.stats().devices_evicted, 0);
    p.on_tick(ms(t0, 60_000), &mut sink);
    let s = p.stats();
    assert_eq!((s.devices_evicted, s.devices_tracked), (2, 0));
    p.on_datagram(
        ms(t0, 60_000),
        addr(1),
        reading("c", 10, None).as_bytes(),
        &mut sink,
    );
    assert_eq!(p.stats().devices_tracked, 1);
    assert_eq!(sink.texts().len(), 1);
}

#[test]
fn a_flood_of_strangers_never_evicts_a_registered_device() {
    let t0 = Instant::now();
    let mut p = DataPlane::new(DataConfig {
        max_devices: 100,
        max_strangers: 50,
        ..DataConfig::default()
    });
    let mut sink = Sink::default();
    let admit = |name: &str| {
        if name.starts_with("Reg") {
            Admit::Registered
        } else {
            Admit::Stranger
        }
    };
    for seq in 1..=5 {
        let b = reading("Reg01", seq, None);
        p.on_datagram_checked(t0, addr(1), b.as_bytes(), admit, |_| {}, &mut sink);
    }
    for i in 0..200_000 {
        let b = reading(&format!("F{i}"), 1, None);
        p.on_datagram_checked(t0, addr(2), b.as_bytes(), admit, |_| {}, &mut sink);
    }
    for seq in 6..=10 {
        let b = reading("Reg01", seq, None);
        p.on_datagram_checked(t0, addr(1), b.as_bytes(), admit, |_| {}, &mut sink);
    }
    assert_eq!(sink.texts(), vec!["STATUS RECEIVED 10/10 PACKETS"]);
    let s = p.stats();
    assert_eq!(s.strangers_tracked, 50);
    assert_eq!(s.strangers_evicted, 200_000 - 50);
    // The evicted names' timers do not pile up.
    assert!(
        p.idle_timers.len() <= 2 * 51 + 1024 + 1,
        "{}",
        p.idle_timers.len()
    );
    assert!(
        p.cycle_timers.len() <= 2 * 51 + 1024 + 1,
        "{}",
        p.cycle_timers.len()
    );
    // A new stranger gets in at once, too.
    for seq in 1..=10 {
        let b = reading("Newcomer", seq, None);
        p.on_datagram_checked(t0, addr(3), b.as_bytes(), admit, |_| {}, &mut sink);
    }
    assert_eq!(sink.texts(), vec!["STATUS RECEIVED 10/10 PACKETS"]);
}

#[test]
fn an_open_cycle_is_reported_before_its_device_is_evicted() {
    let t0 = Instant::now();
    let mut p = DataPlane::new(DataConfig {
        cycle_timeout: Duration::from_secs(5),
        idle_evict: Duration::from_secs(1),
        ..DataConfig::default()
    });
    let mut sink = Sink::default();
    send(&mut p, &mut sink, t0, &[1], None);
    p.on_tick(ms(t0, 2000), &mut sink);
    assert_eq!(p.stats().devices_tracked, 1);
    p.on_tick(ms(t0, 5000), &mut sink);
    assert_eq!(sink.texts().len(), 1);
    assert_eq!(p.stats().devices_evicted, 1);
}

#[test]
fn the_filter_drops_unregistered_names_silently() {
    let t0 = Instant::now();
    let (mut p, mut sink) = (plane(1), Sink::default());
    let known = |name: &str| name == "Sensor01";
    for name in ["Sensor01", "Intruder"] {
        let bytes = reading(name, 1, None);
        p.on_datagram_filtered(t0, addr(1), bytes.as_bytes(), known, &mut sink);
    }
    assert_eq!(sink.texts(), vec!["STATUS RECEIVED 1/1 PACKETS"]);
    let s = p.stats();
    assert_eq!((s.unknown_device, s.devices_tracked), (1, 1));
}

#[test]
fn observe_sees_each_applied_datagram_before_its_status() {
    struct Logged<'a>(&'a RefCell<Vec<String>>);
    impl StatusSink for Logged<'_> {
        fn send_status(&mut self, _: SocketAddr, bytes: &[u8]) {
            self.0
                .borrow_mut()
                .push(String::from_utf8_lossy(bytes).into());
        }
    }
    let t0 = Instant::now();
    let log = RefCell::new(Vec::new());
    let mut p = plane(2);
    for bytes in [&b"junk"[..], b"S,t,k,1,SEQ:1", b"S,t,k,2,SEQ:2"] {
        let observe = |d: &Datagram<'_>| log.borrow_mut().push(format!("seq {}", d.seq));
        p.on_datagram_with(t0, addr(1), bytes, observe, &mut Logged(&log));
    }
    assert_eq!(
        log.into_inner(),
        vec!["seq 1", "seq 2", "STATUS RECEIVED 2/2 PACKETS"]
    );
}

#[test]
fn config_defaults_are_the_documented_ones_and_bad_lengths_are_refused() {
    // The figures PROTOCOL.md and the README promise, written out rather
    // than compared with the constants the default is built from.
    let d = DataConfig::default();
    assert_eq!((d.cycle_len, d.cycle_timeout), (10, Duration::from_secs(3)));
    for bad in [0, MAX_CYCLE_LEN + 1] {
        let cfg = DataConfig {
            cycle_len: bad,
            ..d
        };
        assert_eq!(cfg.validate(), Err(ConfigError::CycleLen(bad)));
    }
}

#[test]
#[should_panic(expected = "cycle length 0")]
fn new_refuses_an_invalid_config() {
    plane(0);
}
