//! The event loop: one thread, one `mio::Poll`. It only moves bytes: it
//! reads and frames TCP lines and UDP datagrams, hands them to the sans-IO
//! planes with `now`, and carries out the [`Action`]s they return.
//!
//! Rules it keeps (mio's): reads drain until `WouldBlock` or a short read
//! (either proves the queue empty; a later arrival raises a new edge), or a per-event
//! budget, after which the token is polled again at once, so one busy peer
//! cannot starve the others); connections are only dropped after the event
//! batch and slots are only reused after that, so a stale event never
//! reaches a new connection.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Poll, Token, Waker};

use super::conn::{ReadOutcome, Role};
use super::conns::{ConnTable, FIRST_CONN};
use super::http::{HttpServer, HTTP_FIRST, METRICS};
use super::operator::OperatorSide;
use super::signals::Signals;
use super::stats::{ShellStats, Snapshot};
use super::udp::{UdpRules, UdpSide};
use crate::config::HubConfig;
use crate::control::{Action, CloseReason, ControlConfig, ControlPlane, Framing, Origin};
use crate::data::DataPlane;
use crate::eventlog::EventLog;
use crate::limits::{FD_RESERVE, TICK};
use crate::recorder::Recorder;

pub(super) const LISTENER: Token = Token(0);
pub(super) const UDP: Token = Token(1);
pub(super) const ADMIN: Token = Token(2);
pub(super) const WAKER: Token = Token(3);
pub(super) const SIGNAL: Token = Token(4);

/// Longest sleep with no deadline due: what an idle hub costs is one
/// wake-up a second, whatever it tracks.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads of 4 KiB one connection gets per turn of the loop.
const READ_BUDGET: usize = 16;

/// Reads of 4 KiB an admin session gets per turn: its lines can be costly
/// (`stats`, `list`), so a burst of them is spread over turns.
const ADMIN_READ_BUDGET: usize = 1;

/// Admin lines one session runs per turn; the rest wait (and the session
/// is not read) until they have run.
const ADMIN_LINES_PER_TURN: usize = 16;

/// What an event (or a re-poll) says about a socket's read side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Readiness {
    None,
    Readable,
    /// EOF or an error was reported: read until it shows.
    Closed,
    /// Polled again after the read budget ran out.
    Again,
}

/// The sockets [`Hub::bind`](super::Hub::bind) opened and registered, for
/// [`EventLoop::new`].
pub(super) struct Bound {
    pub poll: Poll,
    pub waker: Arc<Waker>,
    pub listener: TcpListener,
    pub admin: TcpListener,
    pub udp: UdpSocket,
    /// The UDP receive buffer the kernel granted, in bytes.
    pub udp_granted: usize,
    pub http: HttpServer,
}

/// The loop: the parts it owns, and the little state of its own that
/// routing needs. See the module docs.
pub struct EventLoop {
    pub(super) poll: Poll,
    pub(super) waker: Arc<Waker>,
    /// The device listener (`None` once shutting down).
    pub(super) listener: Option<TcpListener>,
    /// The admin listener (`None` once shutting down).
    pub(super) admin: Option<TcpListener>,
    pub(super) conns: ConnTable,
    pub(super) udp: UdpSide,
    pub(super) op: OperatorSide,
    pub(super) control: ControlPlane,
    pub(super) data: DataPlane,
    pub(super) log: EventLog,
    pub(super) cfg: HubConfig,
    pub(super) stop: Arc<AtomicBool>,
    /// The control plane's actions, taken in [`Self::apply`] (kept to reuse
    /// its buffer).
    actions: Vec<Action>,
    /// Tokens to poll again at once (a read budget ran out).
    pub(super) again: Vec<Token>,
    pub(super) stats: ShellStats,
    /// The descriptor kept back for shedding connections (`accept.rs`).
    pub(super) spare_fd: Option<File>,
    /// Accepting paused for lack of descriptors until the next tick.
    pub(super) accept_blocked: bool,
    pub(super) started: Instant,
    pub(super) signals: Option<Signals>,
    /// Every accepted reading goes here (`None`: `--no-recorder`).
    pub(super) recorder: Option<Recorder>,
    /// `/metrics` and `/healthz`.
    pub(super) http: Option<HttpServer>,
}

impl EventLoop {
    /// The loop over `bound`'s sockets, with its parts built from `cfg`.
    pub(super) fn new(
        cfg: HubConfig,
        bound: Bound,
        log: EventLog,
        recorder: Option<Recorder>,
    ) -> Self {
        let nofile = super::kernel::nofile_limit();
        let fd_room = nofile.saturating_sub(FD_RESERVE).max(1) as usize;
        let max_conns = match cfg.max_connections {
            0 => fd_room,
            n => n,
        };
        let control = ControlPlane::new(ControlConfig {
            registration_deadline: cfg.registration_deadline,
            ack_timeout: cfg.ack_timeout,
            queue_cap: cfg.command_queue,
            max_unsolicited_acks: cfg.max_unsolicited_acks,
            ..ControlConfig::default()
        });
        let rules = UdpRules {
            any_source: cfg.udp_any_source,
            registered_only: cfg.udp_registered_only,
            log_readings: cfg.classic,
        };
        EventLoop {
            poll: bound.poll,
            waker: bound.waker,
            listener: Some(bound.listener),
            admin: Some(bound.admin),
            conns: ConnTable::new(max_conns, cfg.max_line, cfg.max_outbuf),
            udp: UdpSide::new(bound.udp, bound.udp_granted, rules),
            op: OperatorSide::new(cfg.classic),
            control,
            data: DataPlane::new(cfg.data()),
            log,
            stop: Arc::new(AtomicBool::new(false)),
            actions: Vec::new(),
            again: Vec::new(),
            stats: ShellStats::default(),
            spare_fd: super::accept::spare_fd(),
            accept_blocked: false,
            started: Instant::now(),
            signals: None,
            recorder,
            http: Some(bound.http),
            cfg,
        }
    }

    /// Runs until the stop flag is set (signal, `shutdown`, or the handle).
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut now = Instant::now();
        let mut next_tick = self.next_deadline(now);
        while !self.stop.load(Ordering::Relaxed) {
            // `now` is from just after the last poll: the wait may run long
            // by this turn's work. The loop sleeps until the earliest
            // deadline any part reports, never on a fixed tick.
            let timeout = if self.again.is_empty() {
                next_tick.saturating_duration_since(now)
            } else {
                std::time::Duration::ZERO
            };
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            now = Instant::now();
            self.stats.wakeups += 1;
            let again = std::mem::take(&mut self.again);
            for token in again {
                self.dispatch(token, Readiness::Again, now);
            }
            for ev in events.iter() {
                let r = if ev.is_read_closed() || ev.is_error() {
                    Readiness::Closed
                } else if ev.is_readable() {
                    Readiness::Readable
                } else {
                    Readiness::None
                };
                self.dispatch(ev.token(), r, now);
                if ev.is_writable() {
                    self.dispatch_writable(ev.token(), now);
                }
            }
            if now >= next_tick {
                self.tick(now);
            }
            self.apply(now);
            self.conns.reap(self.poll.registry());
            next_tick = self.next_deadline(now);
        }
        self.shutdown();
        Ok(())
    }

    /// The earliest deadline of the control plane, the data plane and the
    /// admin sessions, at most [`MAX_SLEEP`] away (and [`TICK`] while
    /// accepting is paused for lack of descriptors).
    fn next_deadline(&mut self, now: Instant) -> Instant {
        let cap = if self.accept_blocked { TICK } else { MAX_SLEEP };
        [
            self.control.poll_timeout(),
            self.data.poll_timeout(),
            self.admin_deadline(),
        ]
        .into_iter()
        .flatten()
        .fold(now + cap, Instant::min)
    }

    fn dispatch(&mut self, token: Token, r: Readiness, now: Instant) {
        match token {
            LISTENER => self.accept_devices(now),
            ADMIN => self.accept_admin(now),
            UDP => {
                let again = self.udp.readable(
                    now,
                    &mut self.data,
                    &self.control,
                    &self.log,
                    self.recorder.as_ref(),
                    &mut self.stats,
                );
                if again {
                    self.again.push(UDP);
                }
            }
            WAKER => {
                self.console_lines(now);
                self.recorder_answers(now);
            }
            SIGNAL => self.on_signals(now),
            METRICS => self.http_accept(now),
            Token(t) if t >= HTTP_FIRST => self.http_event(t - HTTP_FIRST, now),
            Token(t) if r != Readiness::None => {
                // A short read ends the drain only on a plain readable
                // edge: after EOF was reported, or on a re-poll after the
                // budget, no new edge is guaranteed, so drain fully.
                let short_read_ends = r == Readiness::Readable;
                self.conn_readable(t - FIRST_CONN, Token(t), short_read_ends, now);
            }
            Token(_) => {}
        }
        self.apply(now);
    }

    fn dispatch_writable(&mut self, token: Token, now: Instant) {
        if token.0 >= HTTP_FIRST {
            self.http_event(token.0 - HTTP_FIRST, now);
        } else if token.0 >= FIRST_CONN {
            let idx = token.0 - FIRST_CONN;
            self.flush_conn(idx, now);
            self.pump_list(idx, now);
            self.apply(now);
        }
    }

    /// A signal arrived: act on the flags its handler set.
    fn on_signals(&mut self, now: Instant) {
        let Some(sig) = &mut self.signals else {
            return;
        };
        sig.drain();
        let reopen = sig.reopen.swap(false, Ordering::Relaxed);
        let snapshot = sig.snapshot.swap(false, Ordering::Relaxed);
        if reopen {
            self.stats.signals_hup += 1;
            self.log.reopen();
        }
        if snapshot {
            self.stats.signals_usr1 += 1;
            let json = self.stats_json(now).to_string();
            self.log.line(&format_args!(
                "STATS stats={}",
                crate::logfield::Quoted(json)
            ));
        }
    }

    /// The `stats` reply, from every part's counters.
    pub(super) fn stats_json(&self, now: Instant) -> serde_json::Value {
        Snapshot {
            uptime_s: now.saturating_duration_since(self.started).as_secs_f64(),
            connections: self.conns.devices(),
            max_connections: self.conns.max_devices(),
            admin_sessions: self.conns.admins(),
            control: &self.control,
            data: &self.data,
            udp_rcvbuf_granted: self.udp.granted(),
            kernel_drops: self.udp.kernel_drops(now),
            shell: &self.stats,
            log: &self.log,
            out: &self.op.out,
            err: &self.op.err,
            signals_ignored: self
                .signals
                .as_ref()
                .map(|s| s.ignored.load(Ordering::Relaxed)),
            recorder: self.recorder.as_ref(),
            http: self.http.as_ref().map(|h| &h.stats),
        }
        .to_json()
    }

    fn tick(&mut self, now: Instant) {
        self.op.check_console_output();
        self.admin_timers(now);
        self.control.on_tick(now);
        let mut sink = self.udp.sink(&mut self.stats);
        self.data.on_tick(now, &mut sink);
        self.http_tick(now);
        if self.accept_blocked {
            self.accept_blocked = false;
            self.accept_devices(now);
            self.accept_admin(now);
            self.http_accept(now);
        }
    }

    fn flush_conn(&mut self, idx: usize, now: Instant) {
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        if conn.closing {
            return;
        }
        if let Err(e) = conn.flush() {
            self.lost(idx, now, CloseReason::Io(e.to_string()));
        }
    }

    fn conn_readable(&mut self, idx: usize, token: Token, short_read_ends: bool, now: Instant) {
        // An admin session with lines still to run is not read further
        // (its backlog stays in the kernel, not in the hub).
        if let Some(c) = self.conns.get(idx) {
            if c.role == Role::Admin && (!c.admin_backlog.is_empty() || c.eof_seen) {
                self.run_admin_backlog(idx, token, now, true);
                return;
            }
        }
        let mut buf = [0u8; 4096];
        let mut admin_lines = Vec::new();
        let mut outcome = ReadOutcome::Budget;
        let budget = match self.conns.get(idx) {
            Some(c) if c.role == Role::Admin => ADMIN_READ_BUDGET,
            _ => READ_BUDGET,
        };
        for _ in 0..budget {
            let Some(conn) = self.conns.get_mut(idx) else {
                return;
            };
            if conn.closing {
                return;
            }
            match conn.read_chunk(&mut buf) {
                Ok(Some(0)) => {
                    outcome = ReadOutcome::Eof;
                    break;
                }
                Ok(Some(n)) => {
                    conn.framer.push(&buf[..n]);
                    if !self.take_lines(idx, now, &mut admin_lines) {
                        return;
                    }
                    // A short read emptied the receive queue; data arriving
                    // later raises a new edge. This saves the read that
                    // would only return WouldBlock (one per ACK).
                    if short_read_ends && n < buf.len() {
                        outcome = ReadOutcome::Drained;
                        break;
                    }
                }
                Ok(None) => {
                    outcome = ReadOutcome::Drained;
                    break;
                }
                Err(e) => {
                    self.lost(idx, now, CloseReason::Io(e.to_string()));
                    return;
                }
            }
        }
        // The original clients send no terminator: after a drained burst
        // (or at EOF) what is left is one whole message, unless the device
        // registered with `\n` framing and we are not at EOF.
        if outcome != ReadOutcome::Budget {
            self.take_unterminated(idx, now, outcome == ReadOutcome::Eof, &mut admin_lines);
        }
        let is_admin = matches!(self.conns.get(idx), Some(c) if c.role == Role::Admin);
        if is_admin {
            if let Some(c) = self.conns.get_mut(idx) {
                c.admin_backlog.extend(admin_lines);
                c.eof_seen |= outcome == ReadOutcome::Eof;
            }
            self.run_admin_backlog(idx, token, now, false);
            if outcome == ReadOutcome::Budget && !self.again.contains(&token) {
                self.again.push(token);
            }
            return;
        }
        match outcome {
            ReadOutcome::Eof => self.lost(idx, now, CloseReason::PeerClosed),
            ReadOutcome::Budget => self.again.push(token),
            ReadOutcome::Drained => {}
        }
    }

    /// Runs up to [`ADMIN_LINES_PER_TURN`] of a session's lines; the rest
    /// wait for the next turn. A session that closed its side is closed
    /// once its last line has run.
    fn run_admin_backlog(&mut self, idx: usize, token: Token, now: Instant, deferred: bool) {
        let Some(c) = self.conns.get_mut(idx) else {
            return;
        };
        let n = c.admin_backlog.len().min(ADMIN_LINES_PER_TURN);
        let lines: Vec<String> = c.admin_backlog.drain(..n).collect();
        self.run_admin_lines(idx, now, lines);
        let Some(c) = self.conns.get(idx) else {
            return;
        };
        if c.closing {
            return;
        }
        if c.eof_seen && c.admin_backlog.is_empty() {
            self.lost(idx, now, CloseReason::PeerClosed);
        } else if (deferred || !c.admin_backlog.is_empty()) && !self.again.contains(&token) {
            // More lines to run, or (a deferred backlog just emptied) bytes
            // the socket may still hold with no new edge coming.
            self.again.push(token);
        }
    }

    /// Hands every complete line to its plane. False if the conn is closing.
    fn take_lines(&mut self, idx: usize, now: Instant, admin_lines: &mut Vec<String>) -> bool {
        loop {
            let Some(conn) = self.conns.get_mut(idx) else {
                return false;
            };
            if conn.closing {
                return false;
            }
            match conn.framer.next_line() {
                Ok(Some(line)) => match conn.role {
                    Role::Device => self
                        .control
                        .on_message(now, conn.id, line, Framing::Newline),
                    Role::Admin => {
                        admin_lines.push(String::from_utf8_lossy(line).into_owned());
                        conn.last_line = now;
                        conn.lines += 1;
                        conn.partial_since = None;
                    }
                },
                Ok(None) => {
                    if conn.role == Role::Admin && conn.framer.pending() > 0 {
                        conn.partial_since.get_or_insert(now);
                    }
                    return true;
                }
                Err(e) => {
                    self.stats.oversize_lines += 1;
                    let msg = match conn.role {
                        Role::Device => format!("ERROR {e}\n"),
                        Role::Admin => {
                            self.stats.admin_oversize_lines += 1;
                            let mut m = serde_json::json!({"ok": false, "error": e.to_string()})
                                .to_string();
                            m.push('\n');
                            m
                        }
                    };
                    let _ = conn.send(msg.as_bytes());
                    self.lost(idx, now, CloseReason::Violation(e.to_string()));
                    return false;
                }
            }
        }
    }

    fn take_unterminated(
        &mut self,
        idx: usize,
        now: Instant,
        eof: bool,
        admin_lines: &mut Vec<String>,
    ) {
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        if conn.closing || conn.framer.pending() == 0 {
            return;
        }
        let newline_device = self
            .control
            .device_on(conn.id)
            .and_then(|n| self.control.framing_of(n))
            == Some(Framing::Newline);
        if conn.role == Role::Admin || (newline_device && !eof) {
            return;
        }
        if let Some(line) = conn.framer.take_unterminated() {
            match conn.role {
                Role::Device => self.control.on_message(now, conn.id, line, Framing::Bare),
                Role::Admin => admin_lines.push(String::from_utf8_lossy(line).into_owned()),
            }
        }
    }

    fn run_admin_lines(&mut self, idx: usize, now: Instant, lines: Vec<String>) {
        for line in lines {
            let Some(conn) = self.conns.get(idx) else {
                return;
            };
            if conn.closing {
                // Dropped (e.g. at its output cap): the rest is not run.
                return;
            }
            let origin = Origin::Admin(conn.id);
            if !conn.proven {
                self.admin_seat(idx, now);
            }
            let reply = self.operate(&line, origin, now);
            if reply.is_streamed() {
                // `list` and `history` go out as the peer reads, one line
                // at a time, so any length fits the output cap.
                self.start_list(idx, reply.admin_lines(), now);
                self.apply(now);
                continue;
            }
            let text = reply.to_admin_lines();
            self.send_to(idx, text.as_bytes(), now);
            self.apply(now);
        }
    }

    /// Queues bytes on a connection, dropping it if its buffer is full.
    pub(super) fn send_to(&mut self, idx: usize, bytes: &[u8], now: Instant) {
        let Some(conn) = self.conns.get_mut(idx) else {
            return;
        };
        if conn.closing {
            return;
        }
        if conn.send(bytes).is_err() {
            self.stats.outbuf_overflows += 1;
            self.lost(
                idx,
                now,
                CloseReason::Io("output buffer full: peer not reading".into()),
            );
        }
    }

    /// The connection is gone (or must go) for a reason the planes did not
    /// decide themselves.
    pub(super) fn lost(&mut self, idx: usize, now: Instant, reason: CloseReason) {
        let Some(conn) = self.conns.get(idx) else {
            return;
        };
        if conn.role == Role::Device {
            self.control.on_closed(now, conn.id, reason);
        }
        self.conns.mark_closing(idx);
    }

    /// Carries out the planes' actions until none are left.
    pub(super) fn apply(&mut self, now: Instant) {
        loop {
            let mut actions = std::mem::take(&mut self.actions);
            self.control.take_actions(&mut actions);
            if actions.is_empty() {
                self.actions = actions;
                return;
            }
            for action in actions.drain(..) {
                match action {
                    Action::Send { conn, bytes } => {
                        if let Some(idx) = self.conns.slot_of(conn) {
                            self.send_to(idx, &bytes, now);
                        }
                    }
                    Action::Close { conn } => {
                        if let Some(idx) = self.conns.slot_of(conn) {
                            self.conns.mark_closing(idx);
                        }
                    }
                    Action::Log(event) => {
                        self.log.record(&event, event.class());
                        if let Some(c) = &mut self.op.classic {
                            let text = c.on_event(&event);
                            self.op.out.print(&text);
                        }
                    }
                    Action::WaveDone { report, origin } => self.wave_done(report, origin, now),
                }
            }
            self.actions = actions;
        }
    }

    fn shutdown(&mut self) {
        let now = Instant::now();
        self.listener.take();
        self.admin.take();
        self.control.shutdown(now);
        self.apply(now);
        for conn in self.conns.iter_mut() {
            let _ = conn.flush();
        }
        self.conns.reap(self.poll.registry());
        self.log.line(&"SHUTDOWN");
        self.log.close();
        // Commits every queued reading before the hub returns.
        if let Some(r) = &mut self.recorder {
            r.close();
        }
    }
}
