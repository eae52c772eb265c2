//! The UDP path: drain the socket in `recvmmsg` batches into the data
//! plane, and the sink that sends its STATUS replies. No allocation per
//! datagram.

use std::net::SocketAddr;
use std::time::Instant;

use mio::net::UdpSocket;

use super::event_loop::{EventLoop, UDP};
use super::stats::ShellStats;
use crate::data::{Admit, StatusSink};
use crate::eventlog::LogClass;
use crate::logfield::Quoted;
use crate::protocol::Datagram;
use crate::recorder::{unix_us_now, Recorder};
use std::os::fd::AsRawFd;

use super::mmsg::BATCH;

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

impl EventLoop {
    pub(super) fn udp_readable(&mut self, now: Instant) {
        let fd = self.udp.as_raw_fd();
        for _ in 0..UDP_BUDGET / BATCH {
            let n = match self.recv_batch.recv(fd) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // e.g. ECONNREFUSED from an earlier send: not fatal.
                    self.stats.udp_recv_errors += 1;
                    continue;
                }
            };
            // One wall-clock read per batch: the loop's `now` is per turn too.
            let hub_us = if self.recorder.is_some() {
                unix_us_now()
            } else {
                0
            };
            for i in 0..n {
                let (bytes, src) = self.recv_batch.get(i);
                let Some(src) = src else {
                    continue;
                };
                let mut sink =
                    Sink::new(&self.udp, &mut self.stats).recording(self.recorder.as_ref(), hub_us);
                let control = &self.control;
                let (any_source, registered_only) =
                    (self.cfg.udp_any_source, self.cfg.udp_registered_only);
                let admit = |name: &str| match control.device_ip(name) {
                    Some(ip) if !any_source && ip != src.ip() => Admit::WrongSource,
                    Some(_) => Admit::Registered,
                    None if registered_only => Admit::Unknown,
                    None => Admit::Stranger,
                };
                if self.classic.is_some() {
                    let log = &self.log;
                    self.data.on_datagram_checked(
                        now,
                        src,
                        bytes,
                        admit,
                        |d| {
                            log.record(
                                &format_args!("DATA reading={} from={src}", Quoted(d)),
                                LogClass::Noise,
                            )
                        },
                        &mut sink,
                    );
                } else {
                    self.data
                        .on_datagram_checked(now, src, bytes, admit, |_| {}, &mut sink);
                }
            }
            if n < BATCH {
                // The queue was empty when the call returned.
                return;
            }
        }
        self.again.push(UDP);
    }
}
