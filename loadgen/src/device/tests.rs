//! Tests of the control side of a device.

use super::*;

const SEC: Duration = Duration::from_secs(1);

/// A device with no registration grace: every close is a disconnect.
fn device(t0: Instant) -> Device {
    let mut d = graced(t0);
    d.grace = Duration::ZERO;
    d
}

fn graced(t0: Instant) -> Device {
    let data = data_for(Pacing::Closed { interval: SEC }, 10, 5 * SEC, 0.0);
    Device::new(
        "Sensor01".into(),
        "temperature".into(),
        t0,
        SplitMix64::new(1, 1),
        data,
    )
}

struct H {
    c: Counters,
    lat: Latencies,
    samples: crate::report::evidence::Samples,
    t0: Instant,
}

impl H {
    fn new() -> Self {
        H {
            c: Counters::default(),
            lat: Latencies::new(),
            samples: Default::default(),
            t0: Instant::now(),
        }
    }
    fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            counters: &mut self.c,
            lat: &mut self.lat,
            measure_from: self.t0,
            stop_at: self.t0 + 100 * SEC,
            samples: &mut self.samples,
            max_lag: SEC,
        }
    }
}

#[test]
fn connects_when_due_and_registers() {
    let mut h = H::new();
    let mut d = device(h.t0 + SEC);
    assert!(!d.poll_connect(h.t0, &mut h.ctx()));
    assert_eq!(d.next_wake(), Some(h.t0 + SEC));
    assert!(d.poll_connect(h.t0 + SEC, &mut h.ctx()));
    let mut out = Vec::new();
    d.on_connected(
        h.t0 + SEC + Duration::from_micros(300),
        &mut out,
        &mut h.ctx(),
    );
    assert_eq!(out, b"DEVICE Sensor01 TYPE temperature\n");
    assert!(d.is_up());
    assert_eq!((h.c.registrations, h.c.ever_registered, h.c.up), (1, 1, 1));
    assert_eq!(h.lat.get(Kind::Connect).max(), 300);
    // The first cycle is due within one interval.
    let w = d.next_wake().unwrap();
    assert!(w >= h.t0 + SEC && w <= h.t0 + 2 * SEC + Duration::from_millis(1));
}

#[test]
fn commands_are_honoured_and_acked() {
    let mut h = H::new();
    let mut d = device(h.t0);
    d.poll_connect(h.t0, &mut h.ctx());
    d.on_connected(h.t0, &mut Vec::new(), &mut h.ctx());
    let wave = Some(h.t0);
    let t = h.t0 + Duration::from_millis(2);
    assert_eq!(
        d.on_line(t, b"SET_INTERVAL 3", wave, &mut h.ctx()),
        Reply::Ack
    );
    assert_eq!(d.data.interval(), Some(3 * SEC));
    assert_eq!(
        d.on_line(t, b"ACTIVATE_ALARM", wave, &mut h.ctx()),
        Reply::Ack
    );
    assert!(d.alarm_active());
    assert_eq!(d.on_line(t, b"REBOOT now", None, &mut h.ctx()), Reply::Ack);
    assert_eq!(d.on_line(t, b"ERROR bye", None, &mut h.ctx()), Reply::None);
    d.ack_written(t + Duration::from_millis(1), wave, &mut h.ctx());
    assert_eq!(
        (
            h.c.commands_received,
            h.c.set_interval_applied,
            h.c.alarms_activated
        ),
        (3, 1, 1)
    );
    assert_eq!((h.c.errors_received, h.c.acks_sent), (1, 1));
    assert_eq!(h.lat.get(Kind::CommandDelivery).len(), 2);
    assert!((3000..=3003).contains(&h.lat.get(Kind::CommandRtt).max()));
}

#[test]
fn reconnects_with_jittered_backoff() {
    let mut h = H::new();
    let mut d = device(h.t0);
    d.poll_connect(h.t0, &mut h.ctx());
    d.on_connected(h.t0, &mut Vec::new(), &mut h.ctx());
    d.on_closed(h.t0, CloseCause::Eof, &mut h.ctx());
    assert_eq!((h.c.up, h.c.disconnects), (0, 1));
    let at = d.next_wake().unwrap().min(h.t0 + 10 * SEC);
    // The data timer may be earlier; the reconnect is within base × [0.5, 1.5).
    let mut t = h.t0;
    while !d.poll_connect(t, &mut h.ctx()) {
        t += Duration::from_millis(1);
        assert!(
            t < h.t0 + RECONNECT_BASE * 2,
            "no reconnect by {:?}",
            t - h.t0
        );
    }
    assert!(t >= h.t0 + RECONNECT_BASE / 2 && at <= t);
    d.on_connected(t, &mut Vec::new(), &mut h.ctx());
    assert_eq!(
        (h.c.reconnects, h.c.registrations, h.c.ever_registered),
        (1, 2, 1)
    );
    // Failed connects back off further each time.
    d.on_closed(t, CloseCause::Eof, &mut h.ctx());
    d.poll_connect(t + 10 * SEC, &mut h.ctx());
    d.on_connect_failed(t + 10 * SEC, &mut h.ctx());
    let Link::Waiting { at } = d.link else {
        panic!()
    };
    assert!(at >= t + 10 * SEC + RECONNECT_BASE * 2 / 2);
}

#[test]
fn no_connects_after_stop_and_finish_leaves_nothing_to_wake() {
    let mut h = H::new();
    let mut d = device(h.t0 + 200 * SEC);
    assert!(!d.poll_connect(h.t0 + 200 * SEC, &mut h.ctx()));
    d.finish(&mut h.ctx());
    assert_eq!(d.next_wake(), None);
}

#[test]
fn refused_connects_while_the_hub_is_down_back_off_without_spinning() {
    let mut h = H::new();
    let mut d = device(h.t0);
    d.poll_connect(h.t0, &mut h.ctx());
    d.on_connected(h.t0, &mut Vec::new(), &mut h.ctx());
    // The hub dies: EOF, then every connect is refused for 10 s.
    d.on_closed(h.t0, CloseCause::Eof, &mut h.ctx());
    let down_until = h.t0 + 10 * SEC;
    let mut t = h.t0;
    let mut tries = 0u32;
    let mut longest_gap = Duration::ZERO;
    loop {
        let Link::Waiting { at } = d.link else {
            panic!("{:?}", d.link)
        };
        longest_gap = longest_gap.max(at - t);
        t = at;
        assert!(d.poll_connect(t, &mut h.ctx()));
        if t >= down_until {
            break;
        }
        d.on_connect_failed(t, &mut h.ctx());
        tries += 1;
    }
    // 50 ms doubling to 5 s: a handful of tries, not a spin.
    assert!((4..=10).contains(&tries), "{tries} tries");
    assert_eq!(h.c.connect_failures, u64::from(tries));
    assert!(longest_gap <= RECONNECT_MAX * 3 / 2, "{longest_gap:?}");
    // Back up: the next drop starts from the base delay again.
    d.on_connected(t, &mut Vec::new(), &mut h.ctx());
    assert_eq!(h.c.reconnects, 1);
    d.on_closed(t, CloseCause::Eof, &mut h.ctx());
    let Link::Waiting { at } = d.link else {
        panic!()
    };
    assert!(at - t < RECONNECT_BASE * 3 / 2);
}

#[test]
fn an_error_or_a_close_right_after_registering_is_a_refusal() {
    let mut h = H::new();
    let mut d = graced(h.t0);
    d.poll_connect(h.t0, &mut h.ctx());
    d.on_connected(h.t0, &mut Vec::new(), &mut h.ctx());
    assert_eq!((h.c.up, h.c.ever_registered), (1, 1));
    let ms = Duration::from_millis(1);
    assert_eq!(
        d.on_line(h.t0 + ms, b"ERROR hub full", None, &mut h.ctx()),
        Reply::None
    );
    d.on_closed(h.t0 + 2 * ms, CloseCause::Eof, &mut h.ctx());
    assert_eq!(
        (
            h.c.up,
            h.c.ever_registered,
            h.c.registrations_refused,
            h.c.disconnects
        ),
        (0, 0, 1, 0)
    );
    assert_eq!(h.samples.refusals, ["Sensor01: ERROR hub full"]);
    // Refused again by a bare close; then a registration that holds.
    let Link::Waiting { at } = d.link else {
        panic!()
    };
    d.poll_connect(at, &mut h.ctx());
    d.on_connected(at, &mut Vec::new(), &mut h.ctx());
    d.on_closed(at + ms, CloseCause::Eof, &mut h.ctx());
    assert_eq!((h.c.registrations_refused, h.c.ever_registered), (2, 0));
    let Link::Waiting { at } = d.link else {
        panic!()
    };
    d.poll_connect(at, &mut h.ctx());
    d.on_connected(at, &mut Vec::new(), &mut h.ctx());
    d.on_closed(at + SEC, CloseCause::Reset, &mut h.ctx());
    assert_eq!(
        (h.c.ever_registered, h.c.disconnects, h.c.disconnects_reset),
        (1, 1, 1)
    );
}

#[test]
fn disconnects_are_counted_by_cause() {
    let mut h = H::new();
    let mut d = device(h.t0);
    let mut t = h.t0;
    for cause in [CloseCause::Eof, CloseCause::Violation] {
        d.poll_connect(t, &mut h.ctx());
        d.on_connected(t, &mut Vec::new(), &mut h.ctx());
        d.on_closed(t, cause, &mut h.ctx());
        let Link::Waiting { at } = d.link else {
            panic!()
        };
        t = at;
    }
    d.poll_connect(t, &mut h.ctx());
    d.on_connected(t, &mut Vec::new(), &mut h.ctx());
    d.on_line(t, b"ERROR bye", None, &mut h.ctx());
    d.on_closed(t, CloseCause::Eof, &mut h.ctx());
    let c = &h.c;
    assert_eq!(
        (
            c.disconnects,
            c.disconnects_eof,
            c.disconnects_violation,
            c.disconnects_error_line
        ),
        (3, 1, 1, 1)
    );
}

#[test]
fn is_connecting_only_between_a_due_connect_and_its_outcome() {
    let mut h = H::new();
    let mut d = device(h.t0);
    assert!(!d.is_connecting(), "waiting to connect");
    assert!(d.poll_connect(h.t0, &mut h.ctx()));
    assert!(d.is_connecting());
    d.on_connected(h.t0, &mut Vec::new(), &mut h.ctx());
    assert!(!d.is_connecting() && d.is_up());
    // A refused connect ends it too, and so does a close before it succeeds.
    d.on_closed(h.t0, CloseCause::Reset, &mut h.ctx());
    let t = d.next_wake().unwrap();
    assert!(d.poll_connect(t, &mut h.ctx()) && d.is_connecting());
    d.on_connect_failed(t, &mut h.ctx());
    assert!(!d.is_connecting());
    let t = d.next_wake().unwrap();
    assert!(d.poll_connect(t, &mut h.ctx()) && d.is_connecting());
    d.on_closed(t, CloseCause::Eof, &mut h.ctx());
    assert!(!d.is_connecting());
    assert_eq!(h.c.connect_failures, 2);
    let t = d.next_wake().unwrap();
    assert!(d.poll_connect(t, &mut h.ctx()) && d.is_connecting());
    d.finish(&mut h.ctx());
    assert!(!d.is_connecting(), "the run is over");
}

#[test]
fn a_whole_cycle_runs_through_the_device_surface() {
    let mut h = H::new();
    let mut d = device(h.t0);
    d.poll_connect(h.t0, &mut h.ctx());
    d.on_connected(h.t0, &mut Vec::new(), &mut h.ctx());
    let t = d.next_wake().expect("the first cycle is scheduled");
    d.poll_data(t, &mut h.ctx());
    let mut seqs = Vec::new();
    while let Some(o) = d.next_datagram(t, &mut h.ctx()) {
        let g = d.datagram(o, "2026-12-01 13:00:00");
        assert_eq!((g.name, g.kind), ("Sensor01", "temperature"));
        assert_eq!(g.timestamp, "2026-12-01 13:00:00");
        assert_eq!((g.seq, g.cycle), (o.seq, Some(1)));
        assert_eq!(g.value, f64::from(200 + o.seq) / 10.0);
        // The kernel refuses one.
        d.datagram_sent(o, o.seq != 5, t, &mut h.ctx());
        seqs.push(o.seq);
    }
    assert_eq!(seqs, (1..=10).collect::<Vec<u32>>());
    assert_eq!((h.c.sent, h.c.send_errors, h.c.in_flight), (9, 1, 1));
    // The hub saw every SEQ but the refused one.
    let st = hub::protocol::Status::from_bits(0b11_1110_1111, 10);
    let mut buf = [0u8; hub::protocol::status::STATUS_BUF];
    let n = st.encode_capped(&mut buf, 512).unwrap();
    d.on_status(t, &buf[..n], &mut h.ctx());
    assert_eq!((h.c.statuses, h.c.in_flight), (1, 0));
    d.on_status(t, b"not a status", &mut h.ctx());
    assert_eq!(h.c.status_invalid, 1);
    assert_eq!(h.samples.status_invalid.len(), 1);
    // Resting one interval, then the next cycle.
    let next = d.next_wake().unwrap();
    assert!(next >= t + SEC, "{:?}", next - t);
    d.poll_data(next, &mut h.ctx());
    assert_eq!(
        d.next_datagram(next, &mut h.ctx()).map(|o| o.cycle),
        Some(2)
    );
}
