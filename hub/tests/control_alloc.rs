//! The control path's allocations in steady state, counted: a wave of
//! `SET_INTERVAL` to every known device, each ACKed, through the sans-IO
//! [`ControlPlane`] with the shell's work (the action vector) reused.
//!
//! Issue 13 asks for none. It was 7 (a copy of every target's name for
//! the wave, the command's text and then its bytes, a name per log event,
//! the ACK's text, a name copy for the lookup); device names are now shared
//! `Arc<str>` ([`hub::control::Name`]), the protocol's own ACK text is held
//! without a copy, and a command's bytes are written once into a buffer
//! sized for them. What is left is that buffer (`Action::Send` owns its
//! bytes). This test pins the figure so it can only go down, and prints
//! it.
//!
//! A counting global allocator counts per thread (tests run in parallel).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hub::control::{Action, ConnId, ControlConfig, ControlPlane, Framing, Target};
use hub::protocol::Command;

struct Counting;

thread_local! {
    // `const` and no destructor: touching it never allocates.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the allocator may run while thread locals are torn down.
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Allocations per command+ACK round trip measured when this bound was set
/// (2026-12-01); lower it when the control path sheds one.
const MAX_ALLOCS_PER_ROUND_TRIP: f64 = ALLOCS_PER_ROUND_TRIP_MEASURED + 0.5;
const ALLOCS_PER_ROUND_TRIP_MEASURED: f64 = 1.0;

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
        if let Action::Send { conn, .. } = a {
            sent += 1;
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
fn a_command_and_its_ack_allocate_at_most_the_pinned_figure() {
    let now = Instant::now();
    let mut p = registered_plane(now);
    let mut out = Vec::with_capacity(4 * DEVICES as usize);
    // Warm up: queues, maps and the action vector reach their size.
    for k in 0..3 {
        wave(&mut p, now + Duration::from_millis(k), &mut out);
    }
    let before = allocs();
    let mut rounds = 0;
    for k in 3..13 {
        rounds += wave(&mut p, now + Duration::from_millis(k), &mut out);
    }
    let per = (allocs() - before) as f64 / rounds as f64;
    eprintln!("control path: {per:.2} allocations per command+ACK round trip");
    assert_eq!(p.stats().acks, 13 * DEVICES);
    assert!(
        per <= MAX_ALLOCS_PER_ROUND_TRIP,
        "{per:.2} allocations per command+ACK, pinned at {ALLOCS_PER_ROUND_TRIP_MEASURED}"
    );
}
