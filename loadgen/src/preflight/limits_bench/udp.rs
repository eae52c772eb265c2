//! (a) UDP ingest: CPU per datagram of a bare blocking `recv_from` thread
//! and of the hub's loop thread, both fed the same 50-byte readings by
//! [`blast`] (1000 devices × SEQ 1..10, so every tenth closes a cycle and
//! the hub answers a STATUS: that is part of its cost). The devices send
//! from [`SOURCES`] loopback addresses, so the hub's per-source reply
//! limit does not turn most of those STATUS replies away.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::cpu::{find_thread, thread_cpu};
use super::{hub_config, BenchError};
use crate::live::operator::query_stats;

/// Device names the sender cycles through.
pub const DEVICES: usize = 1000;
/// A receiver is done when its count (or CPU clock) has not moved this long.
pub const SETTLE: Duration = Duration::from_millis(300);
/// Longest a round may take to settle.
pub const ROUND_LIMIT: Duration = Duration::from_secs(30);

/// One round's result.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    pub sent: u64,
    pub received: u64,
    pub cpu: Duration,
}

impl Round {
    pub fn ns_per_datagram(&self) -> f64 {
        self.cpu.as_nanos() as f64 / self.received.max(1) as f64
    }
}

/// The readings, in the original `name,time,type,value,SEQ:n` shape.
pub fn payloads() -> Vec<Vec<u8>> {
    (1..=10)
        .flat_map(|seq| {
            (0..DEVICES).map(move |d| {
                format!("S{d:04},2025-10-22 18:20:15,temperature,24.8,SEQ:{seq}").into_bytes()
            })
        })
        .collect()
}

/// Source addresses the sender spreads the devices over (127.0.0.1 …
/// 127.0.0.`SOURCES`): each device always sends from the same address and
/// port, as a real one does, and the hub's per-source reply limit sees
/// many sources, so its STATUS replies are part of what a round costs.
pub const SOURCES: usize = 64;

/// One UDP socket per source address.
fn sources() -> Result<Vec<UdpSocket>, BenchError> {
    (1..=SOURCES as u8)
        .map(|i| Ok(UdpSocket::bind(SocketAddr::from(([127, 0, 0, i], 0)))?))
        .collect()
}

/// Sends `n` datagrams to `to` as fast as one thread can; the datagram of
/// device `d` leaves from source `d % SOURCES`.
pub fn blast(to: SocketAddr, n: u64, msgs: &[Vec<u8>]) -> Result<(), BenchError> {
    let socks = sources()?;
    for i in 0..n as usize {
        let m = i % msgs.len();
        // A full socket buffer drops the datagram; the receiver's count says.
        let _ = socks[(m % DEVICES) % SOURCES].send_to(&msgs[m], to);
    }
    Ok(())
}

/// Polls `read` until it stops moving (or [`ROUND_LIMIT`]).
fn settle(mut read: impl FnMut() -> u64) -> u64 {
    let mut last = read();
    let deadline = Instant::now() + ROUND_LIMIT;
    loop {
        std::thread::sleep(SETTLE);
        let now = read();
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// The bare receiver (`hostprobe::baseline`) with the hub's receive
/// buffer size.
pub fn bare_round(n: u64, msgs: &[Vec<u8>]) -> Result<Round, BenchError> {
    let bare = hostprobe::baseline::BareUdp::start(hub_config().udp_rcvbuf)?;
    std::thread::sleep(Duration::from_millis(20));
    let sent = blast(bare.addr, n, msgs);
    settle(|| bare.received());
    let (received, cpu) = bare.finish()?;
    sent?;
    Ok(Round {
        sent: n,
        received,
        cpu,
    })
}

/// The embedded hub's loop thread; settles on its CPU clock rather than
/// polling `stats` (each poll would add admin work to the measurement).
pub fn hub_round(n: u64, msgs: &[Vec<u8>]) -> Result<Round, BenchError> {
    let hub = hub::server::Hub::bind(hub_config())?.spawn()?;
    std::thread::sleep(Duration::from_millis(20));
    let hub_tid = find_thread("hub").ok_or(BenchError::Thread("hub"))?;
    let cpu0 = thread_cpu(hub_tid);
    let sent = blast(hub.udp_addr, n, msgs);
    settle(|| thread_cpu(hub_tid).as_micros() as u64 / 1000);
    let cpu = thread_cpu(hub_tid) - cpu0;
    let stats = query_stats(hub.admin_addr);
    hub.shutdown()?;
    sent?;
    let received = stats?.1.udp.datagrams;
    Ok(Round {
        sent: n,
        received,
        cpu,
    })
}
