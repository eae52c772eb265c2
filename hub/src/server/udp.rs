//! The UDP path: drain the socket into the data plane, and the sink that
//! sends its STATUS replies. No allocation per datagram.

use std::net::SocketAddr;
use std::time::Instant;

use mio::net::UdpSocket;

use super::event_loop::{EventLoop, UDP};
use super::stats::ShellStats;
use crate::data::StatusSink;
use crate::limits::MAX_DATAGRAM;

/// Datagrams handled per turn of the loop before TCP gets a look in.
const UDP_BUDGET: usize = 1024;

/// Sends STATUS replies; send errors (ICMP unreachable after a device went
/// away, a full send buffer) are counted and never end the loop.
pub(super) struct Sink<'a> {
    sock: &'a UdpSocket,
    stats: &'a mut ShellStats,
}

impl<'a> Sink<'a> {
    pub fn new(sock: &'a UdpSocket, stats: &'a mut ShellStats) -> Self {
        Sink { sock, stats }
    }
}

impl StatusSink for Sink<'_> {
    fn send_status(&mut self, dest: SocketAddr, bytes: &[u8]) {
        if self.sock.send_to(bytes, dest).is_err() {
            self.stats.udp_send_errors += 1;
        }
    }
}

impl EventLoop {
    pub(super) fn udp_readable(&mut self, now: Instant) {
        // Larger than any legal datagram, so oversize ones are seen as such.
        let mut buf = [0u8; MAX_DATAGRAM * 4];
        for _ in 0..UDP_BUDGET {
            let (n, src) = match self.udp.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // e.g. ECONNREFUSED from an earlier send: not fatal.
                    self.stats.udp_recv_errors += 1;
                    continue;
                }
            };
            let bytes = &buf[..n];
            let mut sink = Sink::new(&self.udp, &mut self.stats);
            if self.classic.is_some() {
                let log = &self.log;
                self.data.on_datagram_with(
                    now,
                    src,
                    bytes,
                    |d| log.line(&format_args!("DATA {d} from={src}")),
                    &mut sink,
                );
            } else if self.cfg.udp_registered_only {
                let control = &self.control;
                self.data.on_datagram_filtered(
                    now,
                    src,
                    bytes,
                    |name| control.is_registered(name),
                    &mut sink,
                );
            } else {
                self.data.on_datagram(now, src, bytes, &mut sink);
            }
        }
        self.again.push(UDP);
    }
}
