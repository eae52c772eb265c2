//! The HTTP listener for `/metrics` and `/healthz`, served by the event
//! loop itself: at most [`crate::metrics::http::MAX_HTTP_CONNS`] connections, a request head of
//! at most [`MAX_HTTP_REQUEST`] bytes, [`crate::metrics::http::HTTP_IDLE`] to send it and read the
//! reply. One request per connection (the reply says `Connection: close`).
//! Parsing and the replies are sans-IO in [`crate::metrics::http`].

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Token};
use serde::Serialize;

use super::event_loop::EventLoop;
use crate::metrics::http::{parse, response, HttpError, Route, MAX_HTTP_REQUEST, PROMETHEUS_TEXT};

/// The metrics listener's token.
pub(super) const METRICS: Token = Token(5);

/// Tokens of HTTP connections start here, far above device connections'.
pub(super) const HTTP_FIRST: usize = 1 << 40;

/// Counters of the metrics listener (`stats.http`).
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
pub struct HttpStats {
    pub accepted: u64,
    /// Accepted and closed at once: [`crate::metrics::http::MAX_HTTP_CONNS`] were open.
    pub rejected_full: u64,
    pub requests: u64,
    pub not_found: u64,
    /// Heads over [`MAX_HTTP_REQUEST`] bytes (answered 431).
    pub too_large: u64,
    /// Unparseable requests (answered 400).
    pub bad_requests: u64,
    /// Closed for taking longer than [`crate::metrics::http::HTTP_IDLE`].
    pub idle_closed: u64,
    pub io_errors: u64,
    /// Loop time the last `/metrics` page took to build, seconds.
    pub last_render_s: f64,
    /// The longest so far, seconds.
    pub max_render_s: f64,
    /// The loop thread's CPU time the last page took, seconds (the wall
    /// time above also counts being descheduled on a busy machine).
    pub last_render_cpu_s: f64,
}

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

impl EventLoop {
    pub(super) fn http_accept(&mut self, now: Instant) {
        loop {
            let Some(http) = &mut self.http else { return };
            match http.listener.accept() {
                Ok((mut stream, _)) => {
                    let Some(idx) = http.conns.iter().position(Option::is_none) else {
                        http.stats.rejected_full += 1;
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
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, token, interest)
                        .is_err()
                    {
                        http.stats.io_errors += 1;
                        continue;
                    }
                    http.stats.accepted += 1;
                    http.conns[idx] = Some(HttpConn {
                        stream,
                        buf: Vec::new(),
                        out: Vec::new(),
                        sent: 0,
                        since: now,
                        answered: false,
                        draining: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // Out of descriptors and the like: the next tick retries.
                    http.stats.io_errors += 1;
                    self.accept_blocked = true;
                    return;
                }
            }
        }
    }

    /// A readable or writable event on HTTP connection `idx`.
    pub(super) fn http_event(&mut self, idx: usize, now: Instant) {
        match self.http_read(idx) {
            Some(Ok(req)) => {
                let out = self.http_reply(req.route, req.head, now);
                if let Some(Some(conn)) = self.http.as_mut().and_then(|h| h.conns.get_mut(idx)) {
                    conn.out = out;
                }
            }
            Some(Err(())) => return,
            None => {}
        }
        self.http_flush(idx);
    }

    /// Reads what has arrived. `Some(Ok)`: a request to answer now;
    /// `Some(Err)`: the connection is gone; `None`: nothing to answer (yet,
    /// or an error reply is already queued).
    fn http_read(&mut self, idx: usize) -> Option<Result<crate::metrics::http::Request, ()>> {
        let http = self.http.as_mut()?;
        let conn = http.conns.get_mut(idx)?.as_mut()?;
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
            self.http_close(idx);
            return Some(Err(()));
        }
        if conn.answered {
            return None;
        }
        loop {
            match conn.stream.read(&mut chunk) {
                Ok(0) => {
                    self.http_close(idx);
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
                    http.stats.io_errors += 1;
                    self.http_close(idx);
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
                http.stats.requests += 1;
                Some(Ok(req))
            }
            Ok(None) => None,
            Err(HttpError::TooLarge) => {
                http.stats.too_large += 1;
                conn.out = response(431, "text/plain", "request head too large\n", false);
                None
            }
            Err(HttpError::Invalid(e)) => {
                http.stats.bad_requests += 1;
                conn.out = response(400, "text/plain", &format!("bad request: {e}\n"), false);
                None
            }
        }
    }

    fn http_flush(&mut self, idx: usize) {
        let Some(http) = &mut self.http else { return };
        let Some(Some(conn)) = http.conns.get_mut(idx) else {
            return;
        };
        while conn.sent < conn.out.len() {
            match conn.stream.write(&conn.out[conn.sent..]) {
                Ok(0) => break,
                Ok(n) => conn.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    http.stats.io_errors += 1;
                    self.http_close(idx);
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
            self.http_event_drain(idx);
        }
    }

    fn http_event_drain(&mut self, idx: usize) {
        let _ = self.http_read(idx);
    }

    fn http_close(&mut self, idx: usize) {
        let Some(http) = &mut self.http else { return };
        if let Some(mut conn) = http.conns.get_mut(idx).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            // A stale event for this slot finds it empty, or finds a newer
            // connection whose read then just returns WouldBlock.
        }
    }

    /// Closes connections that have taken longer than their idle limit.
    pub(super) fn http_tick(&mut self, now: Instant) {
        let Some(http) = &mut self.http else { return };
        let limit = http.idle;
        let idle: Vec<usize> = http
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                c.as_ref()
                    .filter(|c| now.saturating_duration_since(c.since) >= limit)
                    .map(|_| i)
            })
            .collect();
        http.stats.idle_closed += idle.len() as u64;
        for i in idle {
            self.http_close(i);
        }
    }

    /// The bytes answering one request.
    fn http_reply(&mut self, route: Route, head: bool, now: Instant) -> Vec<u8> {
        match route {
            Route::Metrics => {
                let (t0, cpu0) = (Instant::now(), thread_cpu_s());
                let page = self.metrics_page(now);
                let took = t0.elapsed();
                let cpu = thread_cpu_s() - cpu0;
                if let Some(http) = &mut self.http {
                    let secs = took.as_secs_f64();
                    http.stats.last_render_s = secs;
                    http.stats.max_render_s = http.stats.max_render_s.max(secs);
                    http.stats.last_render_cpu_s = cpu;
                }
                response(200, PROMETHEUS_TEXT, &page, head)
            }
            Route::Health => {
                let (code, body) = self.health(now);
                response(code, "application/json", &body, head)
            }
            Route::NotFound => {
                if let Some(http) = &mut self.http {
                    http.stats.not_found += 1;
                }
                response(
                    404,
                    "text/plain",
                    "not found (try /metrics or /healthz)\n",
                    head,
                )
            }
            Route::BadMethod => response(405, "text/plain", "only GET and HEAD\n", head),
        }
    }
}

/// CPU time of the calling thread, seconds.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}
