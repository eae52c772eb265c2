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
//!
//! Layout: the tokens and [`Bound`] (the sockets `Hub::bind` opened);
//! [`EventLoop`], which holds the parts (`listeners`, `conns`, `udp`,
//! `op`, `http`, the planes, the log) and a little routing state; `new`, `run` (poll, then
//! [`EventLoop::on_event`] per event, the tick, reap), `dispatch` by
//! token, the tick, `stats_json`, and [`EventLoop::apply`], entered at four
//! named points only (see its docs). What each input does is in the
//! routing files (`tcp`, `accept`, `admin`, `operate`, `monitor`).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Poll, Token, Waker};

use super::conns::{ConnTable, FIRST_CONN};
use super::http::{HttpServer, HTTP_FIRST, METRICS};
use super::listeners::Listeners;
use super::operator::OperatorSide;
use super::signals::Signals;
use super::stats::Snapshot;
use super::udp::{UdpRules, UdpSide};
use crate::config::HubConfig;
use crate::control::{Action, ControlConfig, ControlPlane};
use crate::data::DataPlane;
use crate::eventlog::EventLog;
use crate::limits::{FD_RESERVE, TICK};
use crate::ops::counters::ShellStats;
use crate::recorder::Recorder;

pub(super) const LISTENER: Token = Token(0);
pub(super) const UDP: Token = Token(1);
pub(super) const ADMIN: Token = Token(2);
pub(super) const WAKER: Token = Token(3);
pub(super) const SIGNAL: Token = Token(4);
/// Polled again (with no I/O behind it) while [`SEND_BUDGET`] left
/// actions for the next turn.
pub(super) const DEFERRED: Token = Token(6);

/// Commands (and other lines to devices) written per turn of the loop. A
/// wave to 19,800 devices goes out over about 20 turns, with the UDP
/// socket and every connection served between, instead of in one turn that
/// leaves the receive buffer to overflow.
pub const SEND_BUDGET: usize = 1024;

/// Longest sleep with no deadline due: what an idle hub costs is one
/// wake-up a second, whatever it tracks.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(1);

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
    pub(super) listeners: Listeners,
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
    /// Actions past this turn's [`SEND_BUDGET`], carried out first on the
    /// next turn, in order.
    deferred: std::collections::VecDeque<Action>,
    /// The event log's losses at the last tick: stderr says when they
    /// start (each start, even one that also ended since) and stop.
    log_losing: bool,
    log_loss_starts: u64,
    /// Lines to devices written in this turn so far: the budget is the
    /// turn's, shared by every event in it.
    turn_sends: usize,
    /// Tokens to poll again at once (a read budget ran out).
    pub(super) again: Vec<Token>,
    pub(super) stats: ShellStats,
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
            listeners: Listeners::new(bound.listener, bound.admin),
            conns: ConnTable::new(max_conns, cfg.max_line, cfg.max_outbuf),
            udp: UdpSide::new(bound.udp, bound.udp_granted, rules),
            op: OperatorSide::new(cfg.classic),
            control,
            data: DataPlane::new(cfg.data()),
            log,
            stop: Arc::new(AtomicBool::new(false)),
            actions: Vec::new(),
            deferred: std::collections::VecDeque::new(),
            turn_sends: 0,
            log_losing: false,
            log_loss_starts: 0,
            again: Vec::new(),
            stats: ShellStats::default(),
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
            self.end_turn_sends();
            let again = std::mem::take(&mut self.again);
            for token in again {
                self.on_event(token, Readiness::Again, false, now);
            }
            for ev in events.iter() {
                let r = if ev.is_read_closed() || ev.is_error() {
                    Readiness::Closed
                } else if ev.is_readable() {
                    Readiness::Readable
                } else {
                    Readiness::None
                };
                self.on_event(ev.token(), r, ev.is_writable(), now);
            }
            if now >= next_tick {
                self.tick(now);
            }
            // Apply point (c): what the tick (timeouts) caused.
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

    /// One event (or re-poll) for `token`: its read side, then its write
    /// side, then apply point (a): the actions they caused.
    fn on_event(&mut self, token: Token, r: Readiness, writable: bool, now: Instant) {
        self.dispatch(token, r, now);
        if writable {
            self.dispatch_writable(token, now);
        }
        self.apply(now);
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
            // Nothing to read: `on_event` applies what the budget deferred.
            DEFERRED => {}
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
    }

    fn dispatch_writable(&mut self, token: Token, now: Instant) {
        if token.0 >= HTTP_FIRST {
            self.http_event(token.0 - HTTP_FIRST, now);
        } else if token.0 >= FIRST_CONN {
            let idx = token.0 - FIRST_CONN;
            self.flush_conn(idx, now);
            self.pump_list(idx, now);
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
        self.watch_log();
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

    /// One stderr line when the event log starts losing lines (with the
    /// error) and one when it writes again (with the count); the file itself
    /// gets a `LOG_LINES_LOST` line from the writer when it resumes.
    fn watch_log(&mut self) {
        let s = self.log.loss();
        let started = s.starts > self.log_loss_starts;
        let was = self.log_losing;
        self.log_losing = s.losing;
        self.log_loss_starts = s.starts;
        let path = self.cfg.log_file.display();
        if started {
            let e = self.log.last_error().unwrap_or_default();
            self.op.err.print(&format!(
                "hub: event log {path}: cannot write ({e}); every line not written is counted in log.lines_lost ({} so far)\n",
                s.lost
            ));
        }
        if !s.losing && (was || started) {
            self.op.err.print(&format!(
                "hub: event log {path}: writing again; {} lines lost in all (log.lines_lost), a LOG_LINES_LOST line marks the gap\n",
                s.lost
            ));
        }
    }

    /// Carries out the planes' actions until none are left, or until
    /// [`SEND_BUDGET`] lines to devices were written this turn (by this
    /// call and the turn's earlier ones: one budget per turn, not per
    /// event, so a wave goes out between UDP reads however many ACKs arrive
    /// meanwhile): the rest wait, in order, for the next turn (see
    /// [`DEFERRED`]), and actions the plane adds meanwhile queue behind them.
    ///
    /// Called at four named points only: (a) at the end of each event
    /// ([`Self::on_event`]); (b) after each operator line, admin or
    /// console, so its effects precede the next line's reply; (c) after the
    /// tick, at the end of each turn; (d) at shutdown, without a budget.
    /// Everything else only queues actions in the control plane.
    pub(super) fn apply(&mut self, now: Instant) {
        self.apply_within(now, SEND_BUDGET);
    }

    /// A new turn: its budget starts over; the last turn's sends are kept
    /// in `max_sends_per_turn`.
    fn end_turn_sends(&mut self) {
        let s = &mut self.stats;
        s.max_sends_per_turn = s.max_sends_per_turn.max(self.turn_sends as u64);
        self.turn_sends = 0;
    }

    fn apply_within(&mut self, now: Instant, budget: usize) {
        loop {
            if self.deferred.is_empty() {
                let mut actions = std::mem::take(&mut self.actions);
                self.control.take_actions(&mut actions);
                self.deferred.extend(actions.drain(..));
                self.actions = actions;
                if self.deferred.is_empty() {
                    return;
                }
            }
            while let Some(action) = self.deferred.pop_front() {
                if matches!(action, Action::Send { .. }) {
                    if self.turn_sends >= budget {
                        self.deferred.push_front(action);
                        self.stats.send_budget_spent += 1;
                        if !self.again.contains(&DEFERRED) {
                            self.again.push(DEFERRED);
                        }
                        return;
                    }
                    self.turn_sends += 1;
                }
                self.carry_out(action, now);
            }
        }
    }

    fn carry_out(&mut self, action: Action, now: Instant) {
        match action {
            Action::Send { conn, bytes } => {
                if let Some(idx) = self.conns.slot_of(conn) {
                    self.send_to(idx, &bytes, now);
                }
                self.control.recycle(bytes);
            }
            Action::Close { conn } => {
                if let Some(idx) = self.conns.slot_of(conn) {
                    self.conns.mark_closing(idx);
                }
            }
            Action::Log(event) => {
                if let Some(c) = &mut self.op.classic {
                    let text = c.on_event(&event);
                    self.op.out.print(&text);
                }
                self.log.event(event);
            }
            Action::WaveDone { report, origin } => self.wave_done(report, origin, now),
        }
    }

    fn shutdown(&mut self) {
        let now = Instant::now();
        self.listeners.close();
        self.control.shutdown(now);
        // Apply point (d): the last ERRORs, closes and log lines, all now.
        self.end_turn_sends();
        self.apply_within(now, usize::MAX);
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
