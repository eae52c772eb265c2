//! The control path's allocations in steady state, counted: a wave of
//! `SET_INTERVAL` to every known device, each ACKed, through the sans-IO
//! [`ControlPlane`] with the shell's work (the action vector) reused.
//!
//! None per command or ACK (issue 13): device names are shared `Arc<str>`
//! ([`hub::control::Name`]), the protocol's own ACK text is held without a
//! copy, a command's bytes go into a buffer the shell hands back
//! ([`ControlPlane::recycle`]), and log events are formatted on the log
//! thread. A wave itself costs a few (its list of targets, its tally),
//! whatever its size. Before this work a round trip cost 7.
//!
//! A counting global allocator counts per thread (tests run in parallel).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hub::control::{Action, ConnId, ControlConfig, ControlPlane, Framing, Target};
use hub::protocol::Command;

mod counting;
use counting::allocs;

/// Allocations a whole wave may cost, however many devices it reaches: the
/// list of its targets' names, its tally (a command and its ACK cost none).
const MAX_ALLOCS_PER_WAVE: u64 = 4;

const DEVICES: u64 = 1000;

fn registered_plane(now: Instant) -> ControlPlane {
    let mut p = ControlPlane::new(ControlConfig::default());
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    for i in 0..DEVICES {
        p.on_connect(now, ConnId(i), peer);
        let line = format!("DEVICE Dev{i:05} TYPE temperature");
        p.on_message(now, ConnId(i), line.as_bytes(), Framing::Newline);
    }
    let mut out = Vec::new();
    p.take_actions(&mut out);
    assert_eq!(p.registered() as u64, DEVICES);
    p
}

/// One wave to every device, every device ACKs; returns the commands sent.
fn wave(p: &mut ControlPlane, now: Instant, out: &mut Vec<Action>) -> u64 {
    let (_, reached) = p.submit(now, &Target::All, Command::SetInterval(5));
    p.take_actions(out);
    let mut sent = 0;
    for a in out.drain(..) {
        if let Action::Send { conn, bytes } = a {
            sent += 1;
            // As the shell does once the bytes are queued on the socket.
            p.recycle(bytes);
            p.on_message(now, conn, b"ACK Command Executed", Framing::Newline);
        }
    }
    p.take_actions(out);
    out.clear();
    assert_eq!(sent, reached);
    sent
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocs();
    std::hint::black_box(Box::new(7u64));
    assert!(allocs() > before);
}

#[test]
fn a_command_and_its_ack_allocate_nothing_in_steady_state() {
    let now = Instant::now();
    let mut p = registered_plane(now);
    let mut out = Vec::with_capacity(4 * DEVICES as usize);
    // Warm up: queues, maps and the action vector reach their size.
    for k in 0..3 {
        wave(&mut p, now + Duration::from_millis(k), &mut out);
    }
    let before = allocs();
    let waves = 10;
    let mut rounds = 0;
    for k in 3..3 + waves {
        rounds += wave(&mut p, now + Duration::from_millis(k), &mut out);
    }
    let spent = allocs() - before;
    eprintln!(
        "control path: {spent} allocations for {waves} waves of {DEVICES} commands+ACKs ({:.4} per round trip)",
        spent as f64 / rounds as f64
    );
    assert_eq!(p.stats().acks, (3 + waves) * DEVICES);
    assert!(
        spent <= waves * MAX_ALLOCS_PER_WAVE,
        "{spent} allocations for {waves} waves: commands or ACKs allocate again"
    );
}
