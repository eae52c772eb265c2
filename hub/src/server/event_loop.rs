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

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Receiver;
use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Poll, Token, Waker};

use super::conn::{Conn, ReadOutcome, Role};
use super::stats::ShellStats;
use crate::classic::Classic;
use crate::config::HubConfig;
use crate::control::{Action, CloseReason, ConnId, ControlPlane, Framing, WaveId};
use crate::data::DataPlane;
use crate::eventlog::EventLog;
use crate::limits::{MAX_ADMIN_LINE, TICK};

pub(super) const LISTENER: Token = Token(0);
pub(super) const UDP: Token = Token(1);
pub(super) const ADMIN: Token = Token(2);
pub(super) const WAKER: Token = Token(3);
pub(super) const SIGNAL: Token = Token(4);
pub(super) const FIRST_CONN: usize = 16;

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

/// Where a wave's final reply goes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin {
    Console,
    Admin(ConnId),
}

pub struct EventLoop {
    pub(super) poll: Poll,
    pub(super) waker: Arc<Waker>,
    pub(super) listener: Option<TcpListener>,
    pub(super) admin: Option<TcpListener>,
    pub(super) udp: UdpSocket,
    pub(super) udp_granted: usize,
    pub(super) slots: Vec<Option<Conn>>,
    pub(super) free: Vec<usize>,
    pub(super) ids: HashMap<ConnId, usize>,
    pub(super) next_id: u64,
    pub(super) control: ControlPlane,
    pub(super) data: DataPlane,
    pub(super) log: EventLog,
    pub(super) cfg: HubConfig,
    pub(super) max_conns: usize,
    pub(super) device_conns: usize,
    pub(super) admin_conns: usize,
    /// Slots of the admin sessions, so their timers never scan devices.
    pub(super) admin_slots: Vec<usize>,
    pub(super) console: Option<Receiver<super::console::ConsoleInput>>,
    /// Stdout and stderr, written off the loop (bounded, never blocking).
    pub(super) out: super::stdio::Output,
    pub(super) err: super::stdio::Output,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) waves: HashMap<WaveId, Origin>,
    pub(super) actions: Vec<Action>,
    pub(super) closing: Vec<usize>,
    pub(super) again: Vec<Token>,
    pub(super) stats: ShellStats,
    pub(super) classic: Option<Classic>,
    pub(super) spare_fd: Option<File>,
    pub(super) recv_batch: super::mmsg::RecvBatch,
    pub(super) accept_blocked: bool,
    pub(super) started: Instant,
    pub(super) signals: Option<super::signals::Signals>,
    pub(super) kernel_stats: super::stats::KernelStats,
    /// Every accepted reading goes here (`None`: `--no-recorder`).
    pub(super) recorder: Option<crate::recorder::Recorder>,
    /// `/metrics` and `/healthz`.
    pub(super) http: Option<super::http::HttpServer>,
    /// `history` queries out at the recorder, by tag.
    pub(super) history_waits: HashMap<u64, Origin>,
    pub(super) next_query: u64,
}

impl EventLoop {
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
            self.reap();
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
            UDP => self.udp_readable(now),
            WAKER => {
                self.console_lines(now);
                self.recorder_answers(now);
            }
            SIGNAL => self.on_signals(now),
            super::http::METRICS => self.http_accept(now),
            Token(t) if t >= super::http::HTTP_FIRST => {
                self.http_event(t - super::http::HTTP_FIRST, now)
            }
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
        if token.0 >= super::http::HTTP_FIRST {
            self.http_event(token.0 - super::http::HTTP_FIRST, now);
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

    fn tick(&mut self, now: Instant) {
        self.check_console_output();
        self.admin_timers(now);
        self.control.on_tick(now);
        let mut sink = super::udp::Sink::new(&self.udp, &mut self.stats);
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
        let Some(Some(conn)) = self.slots.get_mut(idx) else {
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
        if let Some(Some(c)) = self.slots.get(idx) {
            if c.role == Role::Admin && (!c.admin_backlog.is_empty() || c.eof_seen) {
                self.run_admin_backlog(idx, token, now, true);
                return;
            }
        }
        let mut buf = [0u8; 4096];
        let mut admin_lines = Vec::new();
        let mut outcome = ReadOutcome::Budget;
        let budget = match self.slots.get(idx) {
            Some(Some(c)) if c.role == Role::Admin => ADMIN_READ_BUDGET,
            _ => READ_BUDGET,
        };
        for _ in 0..budget {
            let Some(Some(conn)) = self.slots.get_mut(idx) else {
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
        let is_admin = matches!(self.slots.get(idx), Some(Some(c)) if c.role == Role::Admin);
        if is_admin {
            if let Some(Some(c)) = self.slots.get_mut(idx) {
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
        let Some(Some(c)) = self.slots.get_mut(idx) else {
            return;
        };
        let n = c.admin_backlog.len().min(ADMIN_LINES_PER_TURN);
        let lines: Vec<String> = c.admin_backlog.drain(..n).collect();
        self.run_admin_lines(idx, now, lines);
        let Some(Some(c)) = self.slots.get(idx) else {
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
            let Some(Some(conn)) = self.slots.get_mut(idx) else {
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
        let Some(Some(conn)) = self.slots.get_mut(idx) else {
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
            let Some(Some(conn)) = self.slots.get(idx) else {
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
        let Some(Some(conn)) = self.slots.get_mut(idx) else {
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
        let Some(Some(conn)) = self.slots.get(idx) else {
            return;
        };
        if conn.role == Role::Device {
            self.control.on_closed(now, conn.id, reason);
        }
        self.mark_closing(idx);
    }

    pub(super) fn mark_closing(&mut self, idx: usize) {
        if let Some(Some(conn)) = self.slots.get_mut(idx) {
            if !conn.closing {
                conn.closing = true;
                let _ = conn.flush();
                self.closing.push(idx);
            }
        }
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
                        if let Some(&idx) = self.ids.get(&conn) {
                            self.send_to(idx, &bytes, now);
                        }
                    }
                    Action::Close { conn } => {
                        if let Some(&idx) = self.ids.get(&conn) {
                            self.mark_closing(idx);
                        }
                    }
                    Action::Log(event) => {
                        if let Some(c) = &mut self.classic {
                            let text = c.on_event(&event);
                            self.out.print(&text);
                        }
                        self.log.event(event);
                    }
                    Action::WaveDone(report) => self.wave_done(report, now),
                }
            }
            self.actions = actions;
        }
    }

    /// Drops the connections marked during the batch and frees their slots.
    fn reap(&mut self) {
        for idx in std::mem::take(&mut self.closing) {
            if let Some(mut conn) = self.slots[idx].take() {
                let _ = self.poll.registry().deregister(&mut conn.stream);
                self.ids.remove(&conn.id);
                match conn.role {
                    Role::Device => self.device_conns -= 1,
                    Role::Admin => {
                        self.admin_conns -= 1;
                        self.admin_slots.retain(|&i| i != idx);
                    }
                }
                self.free.push(idx);
            }
        }
    }

    /// Takes a new connection into a free slot and registers it.
    pub(super) fn insert(
        &mut self,
        mut stream: mio::net::TcpStream,
        role: Role,
    ) -> Option<(usize, ConnId)> {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let token = Token(FIRST_CONN + idx);
        if self
            .poll
            .registry()
            .register(
                &mut stream,
                token,
                mio::Interest::READABLE | mio::Interest::WRITABLE,
            )
            .is_err()
        {
            self.free.push(idx);
            return None;
        }
        let id = ConnId(self.next_id);
        self.next_id += 1;
        let max_line = match role {
            Role::Device => self.cfg.max_line,
            Role::Admin => MAX_ADMIN_LINE,
        };
        self.slots[idx] = Some(Conn::new(stream, id, role, max_line, self.cfg.max_outbuf));
        self.ids.insert(id, idx);
        match role {
            Role::Device => self.device_conns += 1,
            Role::Admin => {
                self.admin_conns += 1;
                self.admin_slots.push(idx);
            }
        }
        Some((idx, id))
    }

    fn shutdown(&mut self) {
        let now = Instant::now();
        self.listener.take();
        self.admin.take();
        self.control.shutdown(now);
        self.apply(now);
        for conn in self.slots.iter_mut().flatten() {
            let _ = conn.flush();
        }
        self.reap();
        self.log.line(&"SHUTDOWN");
        self.log.close();
        // Commits every queued reading before the hub returns.
        if let Some(r) = &mut self.recorder {
            r.close();
        }
    }
}
