//! The HTTP listener for `/metrics` and `/healthz`, served by the event
//! loop itself: at most [`crate::metrics::http::MAX_HTTP_CONNS`] connections, a request head of
//! at most [`MAX_HTTP_REQUEST`] bytes, [`crate::metrics::http::HTTP_IDLE`] to send it and read the
//! reply. One request per connection (the reply says `Connection: close`).
//! Parsing and the replies are sans-IO in [`crate::metrics::http`].
//!
//! A leaf: [`HttpServer`] owns the listener, its connection slots and its
//! counters, and is handed the poll's registry for each call. The loop
//! (`monitor.rs`) asks [`HttpServer::read`] for a request, builds the page
//! from the planes and hands it back with [`HttpServer::answer`].

use crate::ops::counters::HttpStats;
use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use crate::metrics::http::{parse, response, HttpError, MAX_HTTP_REQUEST};

/// The metrics listener's token.
pub(super) const METRICS: Token = Token(5);

/// Tokens of HTTP connections start here, far above device connections'.
pub(super) const HTTP_FIRST: usize = 1 << 40;

struct HttpConn {
    stream: TcpStream,
    buf: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    since: Instant,
    answered: bool,
    /// The reply is out and our side shut: reading to EOF (discarding)
    /// before closing, so unread request bytes cannot turn the close into
    /// a reset that destroys the reply in flight.
    draining: bool,
}

/// The listener and its connections.
pub struct HttpServer {
    listener: TcpListener,
    conns: Vec<Option<HttpConn>>,
    idle: std::time::Duration,
    pub(super) stats: HttpStats,
}

impl HttpServer {
    /// Takes over a bound listener (registered by the caller under
    /// [`METRICS`]), serving at most `max_conns` connections (default
    /// [`crate::metrics::http::MAX_HTTP_CONNS`]) for at most `idle` each (default [`crate::metrics::http::HTTP_IDLE`]).
    pub fn new(listener: TcpListener, max_conns: usize, idle: std::time::Duration) -> Self {
        HttpServer {
            listener,
            idle,
            conns: (0..max_conns).map(|_| None).collect(),
            stats: HttpStats::default(),
        }
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub fn listener_mut(&mut self) -> &mut TcpListener {
        &mut self.listener
    }
}

impl HttpServer {
    /// Accepts what is waiting. False when accepting failed for lack of
    /// descriptors or the like: the loop retries on its next tick.
    pub fn accept(&mut self, registry: &Registry, now: Instant) -> bool {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let Some(idx) = self.conns.iter().position(Option::is_none) else {
                        self.stats.rejected_full += 1;
                        let _ = stream.write(&response(
                            503,
                            "text/plain",
                            "too many connections\n",
                            false,
                        ));
                        continue;
                    };
                    let token = Token(HTTP_FIRST + idx);
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if registry.register(&mut stream, token, interest).is_err() {
                        self.stats.io_errors += 1;
                        continue;
                    }
                    self.stats.accepted += 1;
                    self.conns[idx] = Some(HttpConn {
                        stream,
                        buf: Vec::new(),
                        out: Vec::new(),
                        sent: 0,
                        since: now,
                        answered: false,
                        draining: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // Out of descriptors and the like: the next tick retries.
                    self.stats.io_errors += 1;
                    return false;
                }
            }
        }
    }

    /// Reads what has arrived on connection `idx`. `Some(Ok)`: a request to answer now;
    /// `Some(Err)`: the connection is gone; `None`: nothing to answer (yet,
    /// or an error reply is already queued).
    pub fn read(
        &mut self,
        registry: &Registry,
        idx: usize,
    ) -> Option<Result<crate::metrics::http::Request, ()>> {
        let conn = self.conns.get_mut(idx)?.as_mut()?;
        let mut chunk = [0u8; 2048];
        if conn.draining {
            // At most 32 chunks (64 KiB) per event: a client that keeps
            // sending is closed rather than drained for ever.
            for _ in 0..32 {
                match conn.stream.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            self.close(registry, idx);
            return Some(Err(()));
        }
        if conn.answered {
            return None;
        }
        loop {
            match conn.stream.read(&mut chunk) {
                Ok(0) => {
                    self.close(registry, idx);
                    return Some(Err(()));
                }
                Ok(n) => {
                    let room = (MAX_HTTP_REQUEST + 1).saturating_sub(conn.buf.len());
                    conn.buf.extend_from_slice(&chunk[..n.min(room)]);
                    if conn.buf.len() > MAX_HTTP_REQUEST {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.stats.io_errors += 1;
                    self.close(registry, idx);
                    return Some(Err(()));
                }
            }
        }
        let parsed = parse(&conn.buf);
        if let Ok(None) = parsed {
            return None;
        }
        conn.answered = true;
        conn.buf = Vec::new();
        match parsed {
            Ok(Some(req)) => {
                self.stats.requests += 1;
                Some(Ok(req))
            }
            Ok(None) => None,
            Err(HttpError::TooLarge) => {
                self.stats.too_large += 1;
                conn.out = response(431, "text/plain", "request head too large\n", false);
                None
            }
            Err(HttpError::Invalid(e)) => {
                self.stats.bad_requests += 1;
                conn.out = response(400, "text/plain", &format!("bad request: {e}\n"), false);
                None
            }
        }
    }

    /// Writes what is queued on connection `idx`; once the reply is out,
    /// shuts our side and drains the client's to EOF.
    pub fn flush(&mut self, registry: &Registry, idx: usize) {
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return;
        };
        while conn.sent < conn.out.len() {
            match conn.stream.write(&conn.out[conn.sent..]) {
                Ok(0) => break,
                Ok(n) => conn.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.stats.io_errors += 1;
                    self.close(registry, idx);
                    return;
                }
            }
        }
        if conn.answered && conn.sent >= conn.out.len() && !conn.draining {
            conn.draining = true;
            conn.out = Vec::new();
            let _ = conn.stream.shutdown(std::net::Shutdown::Write);
            // Whatever the client sent past the head is read and dropped
            // until it closes (or HTTP_IDLE passes).
            let _ = self.read(registry, idx);
        }
    }

    fn close(&mut self, registry: &Registry, idx: usize) {
        if let Some(mut conn) = self.conns.get_mut(idx).and_then(Option::take) {
            let _ = registry.deregister(&mut conn.stream);
            // A stale event for this slot finds it empty, or finds a newer
            // connection whose read then just returns WouldBlock.
        }
    }

    /// Closes connections that have taken longer than their idle limit.
    pub fn tick(&mut self, registry: &Registry, now: Instant) {
        let limit = self.idle;
        let idle: Vec<usize> = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                c.as_ref()
                    .filter(|c| now.saturating_duration_since(c.since) >= limit)
                    .map(|_| i)
            })
            .collect();
        self.stats.idle_closed += idle.len() as u64;
        for i in idle {
            self.close(registry, i);
        }
    }

    /// Queues `out`, the reply to the request [`Self::read`] returned.
    pub fn answer(&mut self, idx: usize, out: Vec<u8>) {
        if let Some(Some(conn)) = self.conns.get_mut(idx) {
            conn.out = out;
        }
    }
}

/// CPU time of the calling thread, seconds.
pub(super) fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}
