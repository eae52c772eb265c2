//! What the verdict's additions cost per datagram, in isolation (run with
//! `cargo test --release -p loadgen verify_cost -- --ignored --nocapture`):
//! STATUS validation against the bare parse, and the send-lag record.
//! Ignored by default: a figure to read, not an assertion (no timed
//! assertions on a shared machine).

use std::hint::black_box;
use std::time::{Duration, Instant};

use hub::protocol::Status;

use crate::device::verify;
use crate::report::histo::{Kind, Latencies};

fn ns_per(n: u32, f: impl Fn(u32)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

#[test]
#[ignore]
fn verify_cost() {
    let st = b"STATUS RECEIVED 8/10 PACKETS; MISSING: [3, 7]";
    let n = 2_000_000;
    for round in 0..3 {
        let parse = ns_per(n, |_| {
            black_box(Status::parse(black_box(st)).ok());
        });
        let check = ns_per(n, |_| {
            let s = verify::check(black_box(st), 10).ok();
            black_box(s.map(|s| verify::fits(&s, 0x3ff, 0x3ff)));
        });
        let mut lat = Latencies::new();
        let t0 = Instant::now();
        let t = Instant::now();
        for i in 0..n {
            lat.record(
                Kind::SendLag,
                black_box(Duration::from_micros(u64::from(i % 5000))),
            );
        }
        let lag = t.elapsed().as_nanos() as f64 / f64::from(n);
        let clock = ns_per(n, |_| {
            black_box(Instant::now().max(t0));
        });
        eprintln!(
            "round {round}: Status::parse {parse:.1} ns, verify::check+fits {check:.1} ns (+{:.1} per STATUS), send-lag record {lag:.1} ns, Instant::now {clock:.1} ns",
            check - parse
        );
    }
}
