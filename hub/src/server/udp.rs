//! The UDP side of the shell: [`UdpSide`] owns the socket, its `recvmmsg`
//! buffers and the kernel's drop counters, and drains the socket into the
//! data plane; [`Sink`] sends the plane's STATUS replies. No allocation
//! per datagram.
//!
//! Every datagram takes one path, [`UdpSide::readable`] →
//! `DataPlane::on_datagram_checked`, with the same admission rule
//! (`--udp-any-source`, `--udp-registered-only`) whatever the mode.
//! Classic mode is only an observer on that path: it logs each reading
//! the plane goes on to apply, and changes nothing about which are.
//!
//! Uses `mmsg`, `kernel` and `stats` (the loop's counters); never the
//! event loop.

use std::cell::Cell;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::net::UdpSocket;

use super::kernel;
use super::mmsg::{RecvBatch, BATCH};
use crate::control::ControlPlane;
use crate::data::{Admit, DataPlane, StatusSink};
use crate::eventlog::{EventLog, LogClass};
use crate::logfield::Quoted;
use crate::ops::counters::ShellStats;
use crate::protocol::Datagram;
use crate::recorder::{unix_us_now, Recorder};

/// How long the kernel's drop counters in `stats` may be reused.
pub const KERNEL_STATS_TTL: std::time::Duration = std::time::Duration::from_millis(100);

/// Datagrams handled per turn of the loop before TCP gets a look in.
const UDP_BUDGET: usize = 1024;

/// Sends STATUS replies; send errors (ICMP unreachable after a device went
/// away, a full send buffer) are counted and never end the loop.
pub(super) struct Sink<'a> {
    sock: &'a UdpSocket,
    stats: &'a mut ShellStats,
    /// Where accepted readings go, stamped with this wall-clock time (µs).
    recorder: Option<(&'a Recorder, i64)>,
}

impl<'a> Sink<'a> {
    pub fn new(sock: &'a UdpSocket, stats: &'a mut ShellStats) -> Self {
        Sink {
            sock,
            stats,
            recorder: None,
        }
    }

    /// Also offers each accepted reading to `recorder`, received at `hub_us`.
    pub fn recording(mut self, recorder: Option<&'a Recorder>, hub_us: i64) -> Self {
        self.recorder = recorder.map(|r| (r, hub_us));
        self
    }
}

impl StatusSink for Sink<'_> {
    fn send_status(&mut self, dest: SocketAddr, bytes: &[u8]) {
        if self.sock.send_to(bytes, dest).is_err() {
            self.stats.udp_send_errors += 1;
        }
    }

    fn accepted(&mut self, d: &Datagram<'_>, _now: Instant, _src: SocketAddr) {
        if let Some((rec, hub_us)) = self.recorder {
            rec.offer(d, hub_us);
        }
    }
}

/// The kernel's counters as last read: when, per-socket drops,
/// system-wide receive-buffer errors.
type KernelDrops = (Instant, Option<u64>, Option<u64>);

/// Which datagrams the data plane admits, and who watches them.
#[derive(Debug, Clone, Copy)]
pub(super) struct UdpRules {
    /// `--udp-any-source`: a registered name is served from any address.
    pub any_source: bool,
    /// `--udp-registered-only`: names never registered over TCP are dropped.
    pub registered_only: bool,
    /// Classic mode: log a `DATA` line for each reading applied.
    pub log_readings: bool,
}

/// The UDP socket and what reading it needs. See the module docs.
pub(super) struct UdpSide {
    sock: UdpSocket,
    /// The receive buffer the kernel granted, in bytes.
    granted: usize,
    batch: RecvBatch,
    rules: UdpRules,
    kernel: Cell<Option<KernelDrops>>,
}

impl UdpSide {
    pub fn new(sock: UdpSocket, granted: usize, rules: UdpRules) -> Self {
        UdpSide {
            sock,
            granted,
            batch: RecvBatch::new(),
            rules,
            kernel: Cell::new(None),
        }
    }

    pub fn granted(&self) -> usize {
        self.granted
    }

    /// A sink for STATUS replies sent outside a datagram (cycle timeouts).
    pub fn sink<'a>(&'a self, stats: &'a mut ShellStats) -> Sink<'a> {
        Sink::new(&self.sock, stats)
    }

    /// The kernel's drop counters, read from /proc at most every
    /// [`KERNEL_STATS_TTL`]: /proc/net/udp lists every UDP socket of the
    /// machine, so reading it per `stats` would let a burst of `stats`
    /// lines cost the loop milliseconds each.
    pub fn kernel_drops(&self, now: Instant) -> (Option<u64>, Option<u64>) {
        if let Some((at, d, s)) = self.kernel.get() {
            if now.saturating_duration_since(at) < KERNEL_STATS_TTL {
                return (d, s);
            }
        }
        let (d, s) = (
            kernel::udp_drops(&self.sock),
            kernel::snmp_udp_rcvbuf_errors(),
        );
        self.kernel.set(Some((now, d, s)));
        (d, s)
    }

    /// Drains up to [`UDP_BUDGET`] datagrams into `data`. True if the
    /// budget ran out with datagrams maybe still queued: poll again at once.
    pub fn readable(
        &mut self,
        now: Instant,
        data: &mut DataPlane,
        control: &ControlPlane,
        log: &EventLog,
        recorder: Option<&Recorder>,
        stats: &mut ShellStats,
    ) -> bool {
        let fd = self.sock.as_raw_fd();
        let UdpRules {
            any_source,
            registered_only,
            log_readings,
        } = self.rules;
        for _ in 0..UDP_BUDGET / BATCH {
            let n = match self.batch.recv(fd) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // e.g. ECONNREFUSED from an earlier send: not fatal.
                    stats.udp_recv_errors += 1;
                    continue;
                }
            };
            // One wall-clock read per batch: the loop's `now` is per turn too.
            let hub_us = if recorder.is_some() { unix_us_now() } else { 0 };
            for i in 0..n {
                let (bytes, src) = self.batch.get(i);
                let Some(src) = src else {
                    continue;
                };
                let mut sink = Sink::new(&self.sock, stats).recording(recorder, hub_us);
                let admit = |name: &str| match control.device_ip(name) {
                    Some(ip) if !any_source && ip != src.ip() => Admit::WrongSource,
                    Some(_) => Admit::Registered,
                    None if registered_only => Admit::Unknown,
                    None => Admit::Stranger,
                };
                // The observer sees only what the plane admitted and goes
                // on to apply, before the STATUS it may cause.
                let observe = |d: &Datagram<'_>| {
                    if log_readings {
                        log.record(
                            &format_args!("DATA reading={} from={src}", Quoted(d)),
                            LogClass::Noise,
                        )
                    }
                };
                data.on_datagram_checked(now, src, bytes, admit, observe, &mut sink);
            }
            if n < BATCH {
                // The queue was empty when the call returned.
                return false;
            }
        }
        true
    }
}
