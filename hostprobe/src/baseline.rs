//! The bare receiver the hub's UDP cost is measured against: one thread,
//! one blocking `recv_from` per datagram, a counter and nothing else. Both
//! `hub/benches/udp_ingest.rs` and `loadgen limits` use this one.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::thread::{thread_cpu, tid};

/// Read timeout of the bare receiver, so it sees the stop flag.
pub const RECV_POLL: Duration = Duration::from_millis(50);

/// A running bare receiver on `127.0.0.1:<port>`.
pub struct BareUdp {
    pub addr: SocketAddr,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Duration>,
}

impl BareUdp {
    /// Binds a loopback UDP socket with a `rcvbuf`-byte receive buffer (as
    /// the hub asks for its own) and starts the receiving thread.
    pub fn start(rcvbuf: usize) -> io::Result<BareUdp> {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
        sock.set_recv_buffer_size(rcvbuf)?;
        sock.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        let sock: UdpSocket = sock.into();
        sock.set_read_timeout(Some(RECV_POLL))?;
        let addr = sock.local_addr()?;
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("bare-udp".into())
            .spawn(move || {
                let t0 = thread_cpu(tid());
                let mut buf = [0u8; 2048];
                while !s.load(Ordering::Relaxed) {
                    if sock.recv_from(&mut buf).is_ok() {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                }
                thread_cpu(tid()) - t0
            })?;
        Ok(BareUdp {
            addr,
            count,
            stop,
            thread,
        })
    }

    /// Datagrams received so far.
    pub fn received(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Stops the thread; returns (datagrams received, its CPU time). The
    /// idle wait for the stop flag costs a few µs of CPU at most.
    pub fn finish(self) -> io::Result<(u64, Duration)> {
        self.stop.store(true, Ordering::Relaxed);
        let cpu = self
            .thread
            .join()
            .map_err(|_| io::Error::other("bare-udp thread panicked"))?;
        Ok((self.count.load(Ordering::Relaxed), cpu))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_it_is_sent() {
        let bare = BareUdp::start(1 << 20).unwrap();
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..100 {
            s.send_to(b"x", bare.addr).unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while bare.received() < 100 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (n, cpu) = bare.finish().unwrap();
        assert_eq!(n, 100);
        assert!(cpu > Duration::ZERO);
    }
}
