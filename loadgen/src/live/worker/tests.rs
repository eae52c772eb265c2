//! The worker's own tests: reports, the batch send path, a fresh worker.

use super::tcp::Ready;
use super::*;
use crate::device::data::Pacing;
use crate::device::data_for;
use crate::report::histo::Kind;
use crate::rng::SplitMix64;

const SEC: Duration = Duration::from_secs(1);

fn worker(t0: Instant, devices: u32) -> Worker {
    // Never connected to: building a worker opens no socket.
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let pacing = Pacing::Closed { interval: SEC };
    let devices = (0..devices)
        .map(|i| DeviceSpec {
            device: Device::new(
                format!("Sensor{i}").into(),
                "temperature".into(),
                t0,
                SplitMix64::new(1, u64::from(i)),
                data_for(pacing, 10, 5 * SEC, 0.0),
            ),
            source: None,
        })
        .collect();
    Worker::new(WorkerPlan {
        id: 3,
        devices,
        hub_tcp: addr,
        hub_udp: addr,
        measure_from: t0,
        stop_at: t0 + 10 * SEC,
        drain_deadline: t0 + 20 * SEC,
        epoch: t0,
        wave_sent_ns: Default::default(),
        abort: Default::default(),
        max_lag: SEC,
        release: Default::default(),
        stages: None,
    })
    .expect("a poll instance")
}

#[test]
fn a_report_ships_histograms_and_closed_outages_once_and_counters_cumulatively() {
    let t0 = Instant::now();
    let mut w = worker(t0, 2);
    w.meter.counters.registrations = 2;
    w.meter.lat.record_us(Kind::Status, 500);
    w.meter.samples.refusals.push("Sensor0: refused".into());
    w.all_registered_at = Some(t0);
    w.outages.observe(t0, 2, true);
    w.outages.observe(t0 + SEC, 1, true);
    w.outages.observe(t0 + 2 * SEC, 2, true);
    w.outages.observe(t0 + 3 * SEC, 1, true);

    let a = w.report();
    assert_eq!(a.worker, 3);
    assert_eq!(a.counters.registrations, 2);
    assert_eq!(a.lat.get(Kind::Status).len(), 1);
    assert_eq!(a.all_registered_at, Some(t0));
    assert_eq!(a.outages, [(t0 + SEC, t0 + 2 * SEC)]);
    assert_eq!(a.outage_open_since, Some(t0 + 3 * SEC));
    assert_eq!(a.samples.refusals, ["Sensor0: refused"]);

    w.meter.counters.registrations = 3;
    let b = w.report();
    assert_eq!(b.counters.registrations, 3, "cumulative");
    assert_eq!(b.lat.get(Kind::Status).len(), 0, "shipped once");
    assert!(b.outages.is_empty(), "shipped once");
    assert_eq!(b.outage_open_since, Some(t0 + 3 * SEC), "still open");
    assert_eq!(b.samples.refusals, ["Sensor0: refused"], "kept whole");
}

#[test]
fn a_cycle_due_at_once_goes_out_whole_and_in_order() {
    // A closed-loop cycle is due at once: its 10 datagrams take the
    // `sendmmsg` path; each arrives, in order, and each is counted sent.
    let t0 = Instant::now() - 3 * SEC;
    let mut w = worker(t0, 1);
    let hub = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.connect(hub.local_addr().unwrap()).unwrap();
    udp.set_nonblocking(true).unwrap();
    w.slots[0].udp = Some(UdpSocket::from_std(udp));
    let (slot, mut ctx) = w.ctx_parts(0);
    assert!(slot.dev.poll_connect(t0, &mut ctx));
    slot.dev.on_connected(t0, &mut Vec::new(), &mut ctx);
    w.pump_datagrams(0, Instant::now());
    assert_eq!(w.meter.counters.sent, 10, "{:?}", w.meter.counters);
    assert_eq!(w.meter.counters.send_errors, 0);
    hub.set_read_timeout(Some(5 * SEC)).unwrap();
    let mut buf = [0u8; 512];
    for seq in 1..=10 {
        let n = hub.recv(&mut buf).expect("every datagram arrives");
        let d = hub::protocol::Datagram::parse(&buf[..n]).expect("a well-formed datagram");
        assert_eq!((d.name, d.seq, d.cycle), ("Sensor0", seq, Some(1)));
    }
}

#[test]
fn a_batch_without_a_socket_is_counted_refused_and_its_cycle_awaits_the_timeout() {
    let t0 = Instant::now() - 3 * SEC;
    let mut w = worker(t0, 1);
    let (slot, mut ctx) = w.ctx_parts(0);
    assert!(slot.dev.poll_connect(t0, &mut ctx));
    slot.dev.on_connected(t0, &mut Vec::new(), &mut ctx);
    w.pump_datagrams(0, Instant::now());
    let c = &w.meter.counters;
    assert_eq!((c.sent, c.send_errors, c.in_flight), (0, 10, 1), "{c:?}");
}

#[test]
fn a_new_worker_has_every_device_waiting_and_none_connecting() {
    let t0 = Instant::now();
    let mut w = worker(t0, 3);
    for i in 0..w.slots.len() {
        w.reschedule(i);
    }
    assert_eq!(w.heap.len(), 3);
    assert!(w.slots.iter().all(|s| !s.dev.is_connecting()));
    assert!(w.slots.iter().all(|s| s.tcp.is_none() && s.udp.is_none()));
    // A readiness event for a slot without a socket is ignored.
    w.on_tcp_event(0, t0, Ready::ANY);
    assert_eq!(w.meter.counters, Counters::default());
}
