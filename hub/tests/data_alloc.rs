//! Proves the data plane's hot path allocates nothing for a known device.
//!
//! A counting global allocator counts per thread (tests run in parallel, and
//! the harness allocates on other threads), so each test sees only its own
//! allocations. The control tests show the counter does see allocations,
//! including the plane's own, so a zero is not a broken counter.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hub::data::{DataConfig, DataPlane, StatusSink};

mod counting;
use counting::allocs;

/// Counts replies and keeps the last one, without allocating.
struct Sink {
    sent: u64,
    last: [u8; 512],
    last_len: usize,
}

impl StatusSink for Sink {
    fn send_status(&mut self, _: SocketAddr, bytes: &[u8]) {
        self.sent += 1;
        self.last[..bytes.len()].copy_from_slice(bytes);
        self.last_len = bytes.len();
    }
}

fn reading(name: &str, seq: u32, cycle: Option<u64>) -> Vec<u8> {
    let mut s = format!("{name},2025-10-22 18:20:15,temperature,24.8,SEQ:{seq}");
    if let Some(k) = cycle {
        s += &format!(",CYCLE:{k}");
    }
    s.into_bytes()
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocs();
    std::hint::black_box(Box::new(7u64));
    assert!(allocs() > before);
}

#[test]
fn a_known_device_allocates_nothing_per_datagram() {
    let t0 = Instant::now();
    let src = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let mut p = DataPlane::new(DataConfig::default());
    let mut sink = Sink {
        sent: 0,
        last: [0; 512],
        last_len: 0,
    };
    // Everything the measured loop sends is built up front.
    let plain: Vec<Vec<u8>> = (1..=10).map(|s| reading("Sensor01", s, None)).collect();
    let numbered: Vec<Vec<u8>> = (1..=10).map(|s| reading("Sensor01", s, Some(0))).collect();
    let cycles: Vec<Vec<Vec<u8>>> = (1..=50)
        .map(|k| (1..=10).map(|s| reading("Sensor01", s, Some(k))).collect())
        .collect();
    let malformed = reading("Sensor01", 11, None);

    // Warm up: the first datagram of a name may allocate its table entry.
    for d in &numbered {
        p.on_datagram(t0, src, d, &mut sink);
    }
    assert_eq!(sink.sent, 1);

    let before = allocs();
    let mut now = t0;
    for (i, cycle) in cycles.iter().enumerate() {
        now += Duration::from_millis(100);
        // Reordered, with a duplicate, a late packet, a malformed one, and
        // every other cycle missing its last packet (closed by the next).
        for &s in &[1usize, 0, 3, 2, 2, 4, 5, 6, 7, 8] {
            p.on_datagram(now, src, &cycle[s], &mut sink);
        }
        p.on_datagram(now, src, &numbered[0], &mut sink);
        p.on_datagram(now, src, &malformed, &mut sink);
        if i % 2 == 0 {
            p.on_datagram(now, src, &cycle[9], &mut sink);
        }
        p.on_tick(now, &mut sink);
    }
    // The original client's flow, and a lost last packet closed by timeout.
    for d in plain.iter().chain(&plain[..9]) {
        p.on_datagram(now, src, d, &mut sink);
    }
    p.on_tick(now + Duration::from_secs(4), &mut sink);
    let during = allocs() - before;

    let s = p.stats();
    assert_eq!(during, 0, "allocations on the hot path: {during}");
    assert_eq!(s.closed_timeout, 1);
    assert!(s.duplicates >= 50 && s.late >= 50 && s.malformed >= 50);
    assert_eq!(sink.sent, 1 + 50 + 2);
    assert_eq!(
        &sink.last[..sink.last_len],
        b"STATUS RECEIVED 9/10 PACKETS; MISSING: [10]"
    );
}

#[test]
fn a_new_device_is_the_only_thing_that_allocates() {
    let t0 = Instant::now();
    let src = SocketAddr::from(([127, 0, 0, 1], 40_001));
    let mut p = DataPlane::new(DataConfig::default());
    let mut sink = Sink {
        sent: 0,
        last: [0; 512],
        last_len: 0,
    };
    let fresh = reading("NewDevice", 1, None);
    let before = allocs();
    p.on_datagram(t0, src, &fresh, &mut sink);
    assert!(allocs() > before, "the counter must see the plane allocate");
}

/// A sink that also offers each accepted reading to a real recorder, as the
/// hub's UDP path does.
struct RecordingSink<'a> {
    inner: Sink,
    recorder: &'a hub::recorder::Recorder,
}

impl StatusSink for RecordingSink<'_> {
    fn send_status(&mut self, dest: SocketAddr, bytes: &[u8]) {
        self.inner.send_status(dest, bytes);
    }
    fn accepted(&mut self, d: &hub::protocol::Datagram<'_>, _: Instant, _: SocketAddr) {
        self.recorder.offer(d, 1);
    }
}

#[test]
fn recording_a_known_device_allocates_nothing_on_the_loop() {
    let dir = std::env::temp_dir().join(format!("hub-alloc-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let poll = mio::Poll::new().unwrap();
    let waker = std::sync::Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
    let mut recorder = hub::recorder::Recorder::start(
        hub::recorder::RecorderConfig {
            path: dir.join("alloc.db"),
            keep: None,
            queue: hub::recorder::RECORDER_QUEUE,
        },
        waker,
    )
    .unwrap();
    let t0 = Instant::now();
    let src = SocketAddr::from(([127, 0, 0, 1], 40_002));
    let mut p = DataPlane::new(DataConfig::default());
    let mut sink = RecordingSink {
        inner: Sink {
            sent: 0,
            last: [0; 512],
            last_len: 0,
        },
        recorder: &recorder,
    };
    let cycles: Vec<Vec<Vec<u8>>> = (1..=20)
        .map(|k| (1..=10).map(|s| reading("Rec01", s, Some(k))).collect())
        .collect();
    for d in &cycles[0] {
        p.on_datagram(t0, src, d, &mut sink);
    }
    let before = allocs();
    for cycle in &cycles[1..] {
        for d in cycle {
            p.on_datagram(t0, src, d, &mut sink);
        }
    }
    let during = allocs() - before;
    assert_eq!(during, 0, "allocations on the recording path: {during}");
    recorder.close();
    let s = recorder.stats();
    assert_eq!(s.accepted, 200);
    assert_eq!(s.written + s.dropped_queue_full + s.write_errors, 200);
    assert_eq!(p.table().get("Rec01").unwrap().latest.unwrap().seq, 10);
    let _ = std::fs::remove_dir_all(&dir);
}
