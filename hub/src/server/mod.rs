//! The I/O shell around the sans-IO planes: sockets, the mio loop, the
//! console and admin interfaces.
//!
//! [`Hub`] binds everything ([`Hub::bind`]: opens and registers the
//! sockets, opens the log, then `EventLoop::new`), then runs on the
//! calling thread ([`Hub::run`]) or its own ([`Hub::spawn`] → [`HubHandle`]).
//!
//! ## Layout
//!
//! The loop holds a few parts that own their data, each with its own
//! `impl` in its own file, and routes events between them and the planes:
//!
//! - `conns`: the connection table (slots, free list, ids, admin slots,
//!   counts, insert/mark/reap); `conn`: one TCP connection's buffers.
//! - `udp`: the UDP side (socket, `recvmmsg` buffers from `mmsg`, the
//!   kernel's drop counters, the admission rules; classic mode only
//!   observes its one datagram path) and the STATUS `Sink`.
//! - `operator`: the operator side (console input, stdout/stderr from
//!   `stdio`, classic mode's transcript, `history` queries and who asked).
//!   A wave's origin travels with the wave in the control plane.
//! - `http`: the `/metrics` listener and its connections.
//! - `stats`: the loop's counters and the `stats` reply, built from a
//!   `stats::Snapshot` of plain data and borrowed parts.
//! - `listeners`: the device and admin listeners and the spare
//!   descriptor shed connections with when descriptors run out.
//! - `signals`, `console` (the stdin thread), `sockets` (socket2 setup),
//!   `kernel` (drop counters, rlimits, bench
//!   helpers), `stdio`, `mmsg`: leaves with one job each.
//!
//! `event_loop` owns the parts (`EventLoop::new`, `run`, dispatch, the
//! tick, `apply`). The routing that needs several parts at once is split by
//! input, each an `impl EventLoop` block: `tcp` (reading and framing
//! connections), `accept`, `admin` (session timers and the cap, streamed
//! `list`), `operate` (operator commands, wave tallies back to their
//! origin), `monitor` (`list`/`get`/`history`, `/metrics`, `/healthz`).
//!
//! ## Import graph (which file may use which; no circle)
//!
//! ```text
//! mod.rs     → event_loop, http, sockets, kernel, stdio, console, signals, admin (a const)
//! tcp        → event_loop, conn            accept   → event_loop, conn
//! admin      → event_loop, conn            operate  → event_loop, console
//! monitor    → event_loop, http
//! event_loop → conns, listeners, udp, operator, http, stats, signals, kernel
//! udp        → mmsg, kernel, stats         stats    → http, stdio
//! operator   → console, stdio              conns    → conn
//! conn, console, http, kernel, listeners, mmsg, signals, sockets, stdio
//!            → nothing in server/
//! ```
//!
//! No part and no leaf uses `event_loop` or a routing file, and
//! `event_loop` uses no routing file: their methods are found on
//! `EventLoop` without an import. Outside server/, the counters the `stats`
//! reply carries (`ShellStats`, `HttpStats`, `OutputStats`) live in
//! [`crate::ops::counters`], below both this shell and
//! [`crate::ops::wire`], so `ops` uses nothing of `server`.

mod accept;
mod admin;
mod conn;
mod conns;
mod console;
mod event_loop;
mod http;
pub mod kernel;
mod listeners;
mod mmsg;
mod monitor;
mod operate;
mod operator;
mod signals;
pub mod sockets;
mod stats;
pub mod stdio;
mod tcp;
mod udp;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use mio::{Interest, Poll, Waker};

pub use crate::config::HubConfig;
use crate::eventlog::EventLog;
use crate::limits::LISTEN_BACKLOG;
pub use crate::ops::counters::{HttpStats, ShellStats};
use event_loop::{Bound, EventLoop, ADMIN, LISTENER, SIGNAL, UDP, WAKER};
use sockets::BufSizes;

/// A hub with its sockets bound, ready to run.
pub struct Hub {
    inner: EventLoop,
    tcp_addr: SocketAddr,
    udp_addr: SocketAddr,
    admin_addr: SocketAddr,
    metrics_addr: SocketAddr,
}

/// A hub running on its own thread.
pub struct HubHandle {
    pub tcp_addr: SocketAddr,
    pub udp_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// `/metrics` and `/healthz`.
    pub metrics_addr: SocketAddr,
    recorder: Option<crate::recorder::RecorderProbe>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

fn with_addr(e: io::Error, what: &str, addr: SocketAddr) -> io::Error {
    io::Error::new(e.kind(), format!("cannot bind {what} {addr}: {e}"))
}

impl Hub {
    /// Binds the device, UDP and admin sockets and opens the log.
    pub fn bind(cfg: HubConfig) -> io::Result<Hub> {
        cfg.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let tcp_bufs = BufSizes {
            rcv: cfg.tcp_rcvbuf,
            snd: cfg.tcp_sndbuf,
        };
        let tcp_at = SocketAddr::new(cfg.bind, cfg.tcp_port);
        let mut listener = sockets::tcp_listener(tcp_at, LISTEN_BACKLOG, tcp_bufs)
            .map_err(|e| with_addr(e, "TCP", tcp_at))?;
        let udp_at = SocketAddr::new(cfg.bind, cfg.udp_port);
        let udp_bufs = BufSizes {
            rcv: Some(cfg.udp_rcvbuf),
            snd: cfg.udp_sndbuf,
        };
        let (mut udp, udp_granted) =
            sockets::udp_socket(udp_at, udp_bufs).map_err(|e| with_addr(e, "UDP", udp_at))?;
        let admin_at = SocketAddr::new(cfg.admin_bind, cfg.admin_port);
        let mut admin = sockets::tcp_listener(admin_at, admin::ADMIN_BACKLOG, BufSizes::default())
            .map_err(|e| with_addr(e, "admin", admin_at))?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        poll.registry()
            .register(&mut udp, UDP, Interest::READABLE)?;
        poll.registry()
            .register(&mut admin, ADMIN, Interest::READABLE)?;
        let metrics_at = SocketAddr::new(cfg.metrics_bind, cfg.metrics_port);
        let mut http = http::HttpServer::new(
            sockets::tcp_listener(metrics_at, 64, BufSizes::default())
                .map_err(|e| with_addr(e, "metrics", metrics_at))?,
            cfg.metrics_max_conns,
            cfg.metrics_idle,
        );
        poll.registry()
            .register(http.listener_mut(), http::METRICS, Interest::READABLE)?;
        let metrics_addr = http.local_addr()?;
        let recorder = match &cfg.recorder {
            None => None,
            Some(path) => Some(crate::recorder::Recorder::start(
                crate::recorder::RecorderConfig {
                    path: path.clone(),
                    keep: cfg.recorder_keep,
                    queue: cfg.recorder_queue,
                },
                waker.clone(),
            )?),
        };
        let log = EventLog::open(&cfg.log_file).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open log file {}: {e}", cfg.log_file.display()),
            )
        })?;
        let (tcp_addr, udp_addr, admin_addr) = (
            listener.local_addr()?,
            udp.local_addr()?,
            admin.local_addr()?,
        );
        let bound = Bound {
            poll,
            waker,
            listener,
            admin,
            udp,
            udp_granted,
            http,
        };
        let inner = EventLoop::new(cfg, bound, log, recorder);
        Ok(Hub {
            inner,
            tcp_addr,
            udp_addr,
            admin_addr,
            metrics_addr,
        })
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Where `/metrics` and `/healthz` are served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The UDP receive buffer the kernel granted, in bytes.
    pub fn udp_rcvbuf_granted(&self) -> usize {
        self.inner.udp.granted()
    }

    /// The device connection cap in force.
    pub fn max_connections(&self) -> usize {
        self.inner.conns.max_devices()
    }

    /// Setting this flag stops the loop within one tick (signal handlers
    /// set it).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.inner.stop.clone()
    }

    /// Takes over the process's signals (see `signals.rs`): SIGINT, SIGTERM
    /// and SIGQUIT stop the hub cleanly, SIGHUP reopens the log, SIGUSR1
    /// logs a stats snapshot, and no other signal one can send by accident
    /// kills it. For the `hub` binary; an embedded hub does not call it.
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut s = signals::Signals::install(self.inner.stop.clone())?;
        self.inner
            .poll
            .registry()
            .register(&mut s.wake, SIGNAL, Interest::READABLE)?;
        self.inner.signals = Some(s);
        Ok(())
    }

    /// The lines a person or script reads first: where the hub listens.
    pub fn banner(&self) -> String {
        if self.inner.cfg.classic {
            format!(
                "{}\n{}",
                crate::classic::tcp_banner(self.tcp_addr),
                crate::classic::udp_banner(self.udp_addr)
            )
        } else {
            format!(
                "hub listening tcp={} udp={} admin={}\nhub udp receive buffer requested={} granted={} bytes; max connections {}",
                self.tcp_addr,
                self.udp_addr,
                self.admin_addr,
                self.inner.cfg.udp_rcvbuf,
                self.inner.udp.granted(),
                self.inner.conns.max_devices()
            ) + &format!(
                "\nhub metrics=http://{}/metrics recorder={}",
                self.metrics_addr,
                match &self.inner.cfg.recorder {
                    Some(p) => match self.inner.cfg.recorder_keep {
                        Some(k) => format!("{} keep={}s", p.display(), k.as_secs()),
                        None => format!("{} keep=all", p.display()),
                    },
                    None => "off".into(),
                }
            )
        }
    }

    /// Runs on this thread until stopped; then flushes and fsyncs the log.
    pub fn run(mut self) -> io::Result<()> {
        if self.inner.cfg.console && stdio::stdin_is_background_tty() {
            // Reading the terminal would stop the hub (SIGTTIN).
            self.inner.stats.console_background = true;
            self.inner.op.err.print(
                "hub: started in the background of a terminal; the console is off (use the admin port)\n",
            );
        } else if self.inner.cfg.console {
            let (tx, rx) = crossbeam_channel::bounded(1024);
            console::spawn_stdin(tx, self.inner.waker.clone())?;
            self.inner.op.console = Some(rx);
        }
        self.inner.run()
    }

    /// Runs on a thread of its own.
    pub fn spawn(self) -> io::Result<HubHandle> {
        let stop = self.inner.stop.clone();
        let waker = self.inner.waker.clone();
        let (tcp_addr, udp_addr, admin_addr) = (self.tcp_addr, self.udp_addr, self.admin_addr);
        let metrics_addr = self.metrics_addr;
        let recorder = self.inner.recorder.as_ref().map(|r| r.probe());
        let thread = std::thread::Builder::new()
            .name("hub".into())
            .spawn(move || self.run())?;
        Ok(HubHandle {
            tcp_addr,
            udp_addr,
            admin_addr,
            metrics_addr,
            recorder,
            stop,
            waker,
            thread: Some(thread),
        })
    }
}

impl HubHandle {
    /// Reads the recorder's counters (`None`: no recorder); after
    /// [`shutdown`](Self::shutdown) they are final.
    pub fn recorder_probe(&self) -> Option<crate::recorder::RecorderProbe> {
        self.recorder.clone()
    }

    /// Stops the loop, flushes and fsyncs the log, and joins the thread.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| io::Error::other("hub thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for HubHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// The word after `key` in the hub's banner (`tcp=`, `udp=`, `admin=`,
/// `metrics=http://`, or classic mode's `… listening on `): how tests,
/// benchmarks and scripts find the ports a hub on port 0 got.
pub fn banner_field<'a>(banner: &'a str, key: &str) -> Option<&'a str> {
    let at = banner.find(key)? + key.len();
    banner[at..].split_whitespace().next()
}

/// [`banner_field`] parsed as a socket address.
pub fn banner_addr(banner: &str, key: &str) -> Option<std::net::SocketAddr> {
    banner_field(banner, key)?.parse().ok()
}
