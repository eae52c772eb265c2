//! Opening a device's sockets off its worker's thread.
//!
//! A connect costs the caller most of a loopback handshake: `socket()`,
//! the options, `bind()` and `connect()` (which on loopback runs the SYN,
//! SYN-ACK and ACK in the caller's softirq) were ~30 % of the worker's
//! time in a 5,000-device storm (`perf`, bench-results/…_storm/). With an
//! embedded hub the worker is the one generator thread, so those
//! microseconds were spent on one core while the other had room. Each
//! worker therefore has one [`Connector`] thread: the worker asks
//! ([`Connector::open`]) when a device's connect is due and keeps running
//! its other devices; the connector opens the sockets, starts the
//! non-blocking connect and hands both back ([`Connector::take`]), waking
//! the worker's poll. The worker registers them with its own `Poll`, so
//! every readiness event still reaches the one thread that owns the
//! device, and the device's connect latency still runs from the moment
//! its connect was due to the moment the worker saw it established.
//!
//! Idle, the connector blocks on its queue; it ends when its worker drops
//! the [`Connector`] (the queue closes), so it never outlives the run.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use mio::Waker;
use socket2::{Domain, Protocol, Socket, Type};

/// Requests opened before the worker is woken (one `eventfd` write per
/// batch, not per device).
pub const WAKE_BATCH: usize = 64;

/// Send buffer of a device's TCP connection. A device writes only its
/// registration line and ACKs (21 bytes each, one per command), so a small
/// fixed buffer costs nothing, bounds kernel memory per device, and lets a
/// hub that stops reading show up within a few hundred ACKs instead of
/// megabytes of autotuned buffer.
pub const DEVICE_SNDBUF: usize = 16 * 1024;

/// One device's connect, as the worker asks for it.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// The worker's slot of the device.
    pub slot: u32,
    /// The device has no UDP socket yet (its first connect).
    pub udp: bool,
    /// Source address (`--source-ips`), if any.
    pub source: Option<Ipv4Addr>,
}

/// What the connector made of a [`Request`].
#[derive(Debug)]
pub struct Opened {
    pub slot: u32,
    /// The device's UDP socket, connected to the hub, when one was asked for.
    pub udp: Option<io::Result<std::net::UdpSocket>>,
    /// The TCP socket with its non-blocking connect started (or why not).
    pub tcp: io::Result<std::net::TcpStream>,
}

/// The worker's handle on its connector thread.
pub struct Connector {
    tx: Option<Sender<Request>>,
    rx: Receiver<Opened>,
    thread: Option<JoinHandle<()>>,
}

impl Connector {
    /// Starts the thread `name`, which opens sockets towards the hub's
    /// `tcp` and `udp` addresses and wakes `waker` when some are ready.
    pub fn spawn(
        name: String,
        tcp: SocketAddr,
        udp: SocketAddr,
        waker: Arc<Waker>,
    ) -> io::Result<Self> {
        let (tx, requests) = crossbeam_channel::unbounded::<Request>();
        let (done, rx) = crossbeam_channel::unbounded::<Opened>();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || serve(&requests, &done, &waker, tcp, udp))?;
        Ok(Connector {
            tx: Some(tx),
            rx,
            thread: Some(thread),
        })
    }

    /// Asks for a device's sockets; false when the connector is gone (the
    /// caller then counts the connect failed). Opening them inline when
    /// the queue is long was tried and lost: 29.9k vs 33.3k registrations/s
    /// in a 5,000-device storm (the worker is then the bottleneck again).
    pub fn open(&self, r: Request) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(r).is_ok())
    }

    /// One opened device, if any is ready.
    pub fn take(&self) -> Option<Opened> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the request in hand.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    requests: &Receiver<Request>,
    done: &Sender<Opened>,
    waker: &Waker,
    tcp: SocketAddr,
    udp: SocketAddr,
) {
    while let Ok(first) = requests.recv() {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(r) = next {
            if done.send(open(r, tcp, udp)).is_err() {
                return;
            }
            n += 1;
            next = if n < WAKE_BATCH {
                requests.try_recv().ok()
            } else {
                None
            };
        }
        if waker.wake().is_err() {
            return;
        }
    }
}

/// Opens what `r` asks for.
fn open(r: Request, tcp: SocketAddr, udp: SocketAddr) -> Opened {
    Opened {
        slot: r.slot,
        udp: r.udp.then(|| open_udp(udp, r.source)),
        tcp: open_tcp(tcp, r.source),
    }
}

/// A device's UDP socket, non-blocking, connected to the hub.
pub fn open_udp(hub: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<std::net::UdpSocket> {
    let s = Socket::new(
        Domain::for_address(hub),
        Type::DGRAM.nonblocking(),
        Some(Protocol::UDP),
    )?;
    // No SO_REUSEADDR on UDP: it lets the kernel hand one ephemeral
    // port to two sockets, and STATUSes then reach the wrong device
    // (measured: timeouts plus as many stray STATUSes).
    let bind_ip = source.map(IpAddr::V4).unwrap_or(if hub.is_ipv4() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        hub.ip()
    });
    s.bind(&SocketAddr::new(bind_ip, 0).into())?;
    s.connect(&hub.into())?;
    Ok(s.into())
}

/// A device's TCP socket with its non-blocking connect to the hub started.
pub fn open_tcp(hub: SocketAddr, source: Option<Ipv4Addr>) -> io::Result<std::net::TcpStream> {
    let s = Socket::new(
        Domain::for_address(hub),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    s.set_nodelay(true)?;
    s.set_send_buffer_size(DEVICE_SNDBUF)?;
    if let Some(ip) = source {
        // Many devices per source address: let bind() reuse ports in TIME_WAIT.
        s.set_reuse_address(true)?;
        s.bind(&SocketAddr::new(IpAddr::V4(ip), 0).into())?;
    }
    match s.connect(&hub.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::{Duration, Instant};

    #[test]
    fn requests_come_back_opened_in_order_and_wake_the_poll() {
        let hub_tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hub_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), Token(usize::MAX)).unwrap());
        let c = Connector::spawn(
            "lg-connect-test".into(),
            hub_tcp.local_addr().unwrap(),
            hub_udp.local_addr().unwrap(),
            waker,
        )
        .unwrap();
        for slot in 0..100 {
            let udp = slot % 2 == 0;
            assert!(c.open(Request {
                slot,
                udp,
                source: None
            }));
        }
        let mut got = Vec::new();
        let mut events = Events::with_capacity(8);
        let until = Instant::now() + Duration::from_secs(10);
        while got.len() < 100 && Instant::now() < until {
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            while let Some(o) = c.take() {
                got.push(o);
            }
        }
        assert_eq!(got.len(), 100, "every request answered");
        for (k, o) in got.iter().enumerate() {
            assert_eq!(o.slot as usize, k, "in order");
            assert!(o.tcp.is_ok(), "{:?}", o.tcp);
            assert_eq!(o.udp.is_some(), k % 2 == 0, "a UDP socket only when asked");
            if let Some(Ok(u)) = &o.udp {
                assert_eq!(u.peer_addr().unwrap(), hub_udp.local_addr().unwrap());
            }
        }
        // The hub sees the connections.
        hub_tcp.set_nonblocking(true).unwrap();
        drop(c); // ends and joins the thread
    }

    #[test]
    fn a_refused_connect_comes_back_as_an_error_or_a_socket_that_fails() {
        // A port with no listener: loopback refuses at once (ECONNREFUSED
        // from connect, or later on the socket).
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        match open_tcp(addr, None) {
            Err(_) => {}
            Ok(s) => {
                let until = Instant::now() + Duration::from_secs(5);
                let mut err = None;
                while err.is_none() && Instant::now() < until {
                    err = s.take_error().unwrap();
                    std::thread::sleep(Duration::from_millis(5));
                }
                assert!(err.is_some(), "the refusal shows on the socket");
            }
        }
    }
}
