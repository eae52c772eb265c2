//! The device side shared by the accept and fan-out measurements, so bare
//! and hub servers face the same generator: [`connect`] opens `n`
//! connections and writes a registration line on each; [`Responder`]
//! answers every line received with the ACK, on one mio loop.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hub::protocol::control::ACK_TEXT;
use mio::{Events, Interest, Poll, Token};

use super::BenchError;

/// Connect timeout per device.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// The responder's poll timeout, so it sees the stop flag.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// Opens `n` connections to `to`, each sending `DEVICE B<i> TYPE temperature`.
pub fn connect(to: SocketAddr, n: usize) -> Result<Vec<TcpStream>, BenchError> {
    let mut v = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect_timeout(&to, CONNECT_TIMEOUT)?;
        s.set_nodelay(true)?;
        s.write_all(format!("DEVICE B{i:06} TYPE temperature\n").as_bytes())?;
        v.push(s);
    }
    Ok(v)
}

/// A thread answering each received line with `ACK Command Executed`.
pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl Responder {
    pub fn start(streams: Vec<TcpStream>) -> Result<Responder, BenchError> {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let mut poll = Poll::new()?;
        let mut conns = Vec::with_capacity(streams.len());
        for (i, st) in streams.into_iter().enumerate() {
            st.set_nonblocking(true)?;
            let mut m = mio::net::TcpStream::from_std(st);
            poll.registry()
                .register(&mut m, Token(i), Interest::READABLE)?;
            conns.push(m);
        }
        let thread = std::thread::Builder::new()
            .name("lg-responder".into())
            .spawn(move || respond(&mut poll, &mut conns, &s))?;
        Ok(Responder { stop, thread })
    }

    /// Stops the thread; returns the ACKs written.
    pub fn stop(self) -> Result<u64, BenchError> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| BenchError::Thread("lg-responder"))
    }
}

fn respond(poll: &mut Poll, conns: &mut [mio::net::TcpStream], stop: &AtomicBool) -> u64 {
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 4096];
    let mut ack = Vec::with_capacity(ACK_TEXT.len() + 1);
    ack.extend_from_slice(ACK_TEXT.as_bytes());
    ack.push(b'\n');
    let mut acks = 0;
    while !stop.load(Ordering::Relaxed) {
        if poll.poll(&mut events, Some(POLL_EVERY)).is_err() {
            continue;
        }
        for ev in events.iter() {
            let c = &mut conns[ev.token().0];
            // Edge-triggered: drain until WouldBlock.
            loop {
                match c.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        for _ in buf[..n].iter().filter(|&&b| b == b'\n') {
                            // 21 bytes into an idle socket's send buffer.
                            if c.write_all(&ack).is_ok() {
                                acks += 1;
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
    }
    acks
}
