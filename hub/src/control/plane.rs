//! [`ControlPlane`]: the TCP control rules of PROTOCOL.md as a state machine.
//! Inputs carry `now`; outputs are [`Action`]s taken with
//! [`ControlPlane::take_actions`].
//!
//! Timers are deadlines in FIFO queues, one per kind (registration, ACK,
//! folded log lines): every deadline of a kind is `now` plus the same
//! duration, so each queue is in deadline order and [`ControlPlane::on_tick`]
//! pops only what is due; [`ControlPlane::poll_timeout`] says when that is.
//! An entry whose connection or command is gone by then is skipped.
//!
//! Layout: [`ControlConfig`], [`ControlStats`], [`Registration`] and the
//! plane itself; its `waves` map is the hub's only record of waves in
//! progress, each carrying the [`Origin`] the shell routes its tally to
//! ([`ControlPlane::submit_from`]). The shared vocabulary ([`Action`],
//! [`ConnId`], [`Framing`]) is in `types.rs`, one device's bookkeeping in
//! `device.rs`. Commands and waves (submitting, queueing, sending, the
//! tally) are in `plane_commands.rs`; tests in `plane_tests.rs`, grouped
//! by state.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::device::{AckMatch, Device, Pending};
use super::events::{AckText, CloseReason, Event, Name};
// Re-exported so the paths `control::plane::{Action, ConnId, Framing,
// Target}` of earlier versions keep working; they are defined in `types`.
pub use super::target::Target;
use super::types::Origin;
pub use super::types::{Action, ConnId, Framing};
use super::wave::{Outcome, Wave, WaveId};
use crate::limits;
use crate::protocol::{Command, DeviceMsg};

/// Capacity of a command's bytes: `SET_INTERVAL 86400` and a terminator
/// fit, so the usual commands cost one allocation (a longer generic
/// command grows it once).
const COMMAND_BYTES: usize = 32;

/// Spent send buffers kept for reuse: enough for a wave's worth in flight
/// through one turn of the loop, bounded whatever the shell hands back.
pub const SPARE_BUFFERS: usize = 1024;

/// Timeouts and caps of the control plane.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    pub registration_deadline: Duration,
    pub ack_timeout: Duration,
    pub queue_cap: usize,
    pub max_late_owed: usize,
    /// Unsolicited ACKs after the last command before a disconnect.
    pub max_unsolicited_acks: u32,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            registration_deadline: limits::REGISTRATION_DEADLINE,
            ack_timeout: limits::ACK_TIMEOUT,
            queue_cap: limits::COMMAND_QUEUE,
            max_late_owed: limits::MAX_LATE_ACKS_OWED,
            max_unsolicited_acks: limits::MAX_UNSOLICITED_ACKS,
        }
    }
}

/// Counters of the control plane.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
pub struct ControlStats {
    pub accepted: u64,
    pub registrations: u64,
    pub takeovers: u64,
    pub registration_timeouts: u64,
    pub protocol_errors: u64,
    pub commands_sent: u64,
    pub acks: u64,
    pub ack_timeouts: u64,
    pub late_acks: u64,
    pub unexpected_acks: u64,
    /// Devices disconnected for more than `max_unsolicited_acks`.
    pub unsolicited_ack_disconnects: u64,
    pub commands_failed: u64,
    /// Commands refused to the operator because the device's queue was
    /// full (the device stays connected).
    pub queue_overflows: u64,
    pub disconnects: u64,
}

#[derive(Debug)]
struct ConnEntry {
    peer: SocketAddr,
    name: Option<Name>,
}

/// One registered device as the operator sees it (`get <device>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub kind: String,
    pub peer: SocketAddr,
    pub framing: Framing,
    /// Commands queued behind the outstanding one.
    pub queued: usize,
    /// A command awaits its ACK.
    pub outstanding: bool,
    /// Timed-out commands whose late ACK may still come.
    pub owed_late: usize,
}

/// The control plane. See the module docs.
pub struct ControlPlane {
    cfg: ControlConfig,
    conns: HashMap<ConnId, ConnEntry>,
    devices: HashMap<Name, Device>,
    waves: HashMap<WaveId, Wave>,
    next_wave: WaveId,
    stats: ControlStats,
    ack_rtt: Histogram<u64>,
    actions: Vec<Action>,
    /// Spent `Action::Send` buffers handed back by the shell
    /// ([`ControlPlane::recycle`]), at most [`SPARE_BUFFERS`].
    spare: Vec<Vec<u8>>,
    /// Devices with folded UNEXPECTED_ACKs, and when their line is due.
    folds: VecDeque<(Instant, Name)>,
    /// Registration deadlines, in connection order.
    reg_deadlines: VecDeque<(Instant, ConnId)>,
    /// ACK deadlines of commands sent, in sending order.
    ack_deadlines: VecDeque<(Instant, ConnId)>,
}

impl ControlPlane {
    pub fn new(cfg: ControlConfig) -> Self {
        ControlPlane {
            cfg,
            conns: HashMap::new(),
            devices: HashMap::new(),
            waves: HashMap::new(),
            next_wave: 1,
            stats: ControlStats::default(),
            ack_rtt: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            actions: Vec::new(),
            spare: Vec::new(),
            folds: VecDeque::new(),
            reg_deadlines: VecDeque::new(),
            ack_deadlines: VecDeque::new(),
        }
    }

    /// Moves the pending actions into `out` (which should be empty).
    /// Hands back the bytes of an [`Action::Send`] once they are queued on
    /// the connection, so the next command reuses the buffer instead of
    /// allocating one.
    pub fn recycle(&mut self, mut bytes: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && bytes.capacity() <= 4 * COMMAND_BYTES {
            bytes.clear();
            self.spare.push(bytes);
        }
    }

    pub fn take_actions(&mut self, out: &mut Vec<Action>) {
        std::mem::swap(&mut self.actions, out);
    }

    pub fn stats(&self) -> &ControlStats {
        &self.stats
    }

    /// ACK round-trip times in microseconds.
    pub fn ack_rtt(&self) -> &Histogram<u64> {
        &self.ack_rtt
    }

    /// Open connections, registered or not.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    pub fn registered(&self) -> usize {
        self.devices.len()
    }

    pub fn is_registered(&self, name: &str) -> bool {
        self.devices.contains_key(name)
    }

    /// The address of the TCP connection `name` registered on.
    pub fn device_ip(&self, name: &str) -> Option<std::net::IpAddr> {
        self.devices.get(name).map(|d| d.peer.ip())
    }

    /// Registered devices as (name, type, peer), in no particular order.
    pub fn devices(&self) -> impl Iterator<Item = (&str, &str, SocketAddr)> {
        self.devices.iter().map(|(n, d)| (&**n, &*d.kind, d.peer))
    }

    /// The device registered on `conn`, if any.
    pub fn device_on(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(&conn).and_then(|c| c.name.as_deref())
    }

    /// What `get <device>` shows of a registration.
    pub fn registration(&self, name: &str) -> Option<Registration> {
        self.devices.get(name).map(|d| Registration {
            kind: d.kind.to_string(),
            peer: d.peer,
            framing: d.framing,
            queued: d.queue.len(),
            outstanding: d.inflight.is_some(),
            owed_late: d.owed_late.len(),
        })
    }

    /// The framing a device registered with.
    pub fn framing_of(&self, name: &str) -> Option<Framing> {
        self.devices.get(name).map(|d| d.framing)
    }

    /// A new TCP connection was accepted.
    pub fn on_connect(&mut self, now: Instant, conn: ConnId, peer: SocketAddr) {
        self.stats.accepted += 1;
        self.conns.insert(conn, ConnEntry { peer, name: None });
        self.actions.push(Action::Log(Event::Connected { peer }));
        self.reg_deadlines
            .push_back((now + self.cfg.registration_deadline, conn));
    }

    /// One framed message from `conn`. `framing` says how it was framed.
    pub fn on_message(&mut self, now: Instant, conn: ConnId, line: &[u8], framing: Framing) {
        let Some(entry) = self.conns.get(&conn) else {
            // A connection the plane already closed: its bytes mean nothing.
            return;
        };
        let registered = entry.name.clone();
        let msg = match DeviceMsg::parse(line) {
            Ok(m) => m,
            Err(e) => return self.violation(now, conn, framing, e.to_string()),
        };
        match (registered, msg) {
            (None, DeviceMsg::Register { name, kind }) => {
                self.register(now, conn, name, kind, line, framing)
            }
            (None, DeviceMsg::Ack) => self.violation(
                now,
                conn,
                framing,
                "first message must be DEVICE <name> TYPE <type>".into(),
            ),
            (Some(_), DeviceMsg::Register { .. }) => {
                self.violation(now, conn, framing, "already registered".into())
            }
            (Some(name), DeviceMsg::Ack) => self.ack(now, &name, line),
        }
    }

    /// The connection ended from the peer's side or on an I/O error.
    /// A no-op for connections the plane already closed itself.
    pub fn on_closed(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
        self.forget(now, conn, reason);
    }

    /// Runs the timers that are due: registration deadlines and ACK
    /// timeouts. Touches only due entries, never every connection.
    pub fn on_tick(&mut self, now: Instant) {
        while self
            .reg_deadlines
            .front()
            .is_some_and(|(due, _)| *due <= now)
        {
            let (_, conn) = self.reg_deadlines.pop_front().expect("checked");
            if self.conns.get(&conn).is_some_and(|c| c.name.is_none()) {
                self.stats.registration_timeouts += 1;
                self.send_line(
                    conn,
                    Framing::Newline,
                    b"ERROR registration deadline passed",
                );
                self.close(now, conn, CloseReason::RegistrationTimeout);
            }
        }
        let timeout = self.cfg.ack_timeout;
        while self
            .ack_deadlines
            .front()
            .is_some_and(|(due, _)| *due <= now)
        {
            let (due, conn) = self.ack_deadlines.pop_front().expect("checked");
            let Some(name) = self.conns.get(&conn).and_then(|c| c.name.clone()) else {
                continue;
            };
            // Only if the command in flight is still the one this was for.
            let current = self.devices.get(&name).is_some_and(|d| {
                d.conn == conn && matches!(d.inflight, Some((_, sent)) if sent + timeout == due)
            });
            if current {
                self.ack_timeout(now, &name);
            }
        }
        while self.folds.front().is_some_and(|(due, _)| *due <= now) {
            let (_, name) = self.folds.pop_front().expect("checked");
            self.flush_fold(&name);
        }
    }

    /// When [`on_tick`](Self::on_tick) next has something to do (quinn's
    /// `poll_timeout`); `None` when no timer is pending. Entries made moot
    /// (the connection registered or left, the command was ACKed) are
    /// dropped from the front first, so they never wake the loop.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&(_, conn)) = self.reg_deadlines.front() {
            if self.conns.get(&conn).is_some_and(|c| c.name.is_none()) {
                break;
            }
            self.reg_deadlines.pop_front();
        }
        let timeout = self.cfg.ack_timeout;
        while let Some(&(due, conn)) = self.ack_deadlines.front() {
            let live = self
                .conns
                .get(&conn)
                .and_then(|c| c.name.as_deref())
                .and_then(|n| self.devices.get(n))
                .is_some_and(|d| {
                    d.conn == conn && matches!(d.inflight, Some((_, sent)) if sent + timeout == due)
                });
            if live {
                break;
            }
            self.ack_deadlines.pop_front();
        }
        [
            self.reg_deadlines.front().map(|(t, _)| *t),
            self.ack_deadlines.front().map(|(t, _)| *t),
            self.folds.front().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Logs the UNEXPECTED_ACKs folded for `name` so far, as one line.
    fn flush_fold(&mut self, name: &Name) {
        if let Some(dev) = self.devices.get_mut(name) {
            if dev.folded > 0 {
                let count = std::mem::take(&mut dev.folded);
                self.actions.push(Action::Log(Event::UnexpectedAck {
                    name: name.clone(),
                    count,
                }));
            }
        }
    }

    /// The operator's `quit`: closes the device's connection.
    pub fn quit(&mut self, now: Instant, name: &str) -> bool {
        match self.devices.get(name) {
            Some(d) => {
                let conn = d.conn;
                self.close(now, conn, CloseReason::Quit);
                true
            }
            None => false,
        }
    }

    /// Closes every connection (hub shutdown).
    pub fn shutdown(&mut self, now: Instant) {
        let all: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in all {
            self.close(now, conn, CloseReason::Shutdown);
        }
    }

    fn register(
        &mut self,
        now: Instant,
        conn: ConnId,
        name: &str,
        kind: &str,
        line: &[u8],
        framing: Framing,
    ) {
        let peer = self.conns[&conn].peer;
        if let Some(old) = self.devices.get(name) {
            let (old_conn, old_peer) = (old.conn, old.peer);
            self.stats.takeovers += 1;
            self.actions.push(Action::Log(Event::Takeover {
                name: name.into(),
                old_peer,
                new_peer: peer,
            }));
            self.close(now, old_conn, CloseReason::TakenOver);
        }
        self.stats.registrations += 1;
        let name: Name = name.into();
        self.conns.get_mut(&conn).expect("checked").name = Some(name.clone());
        self.devices
            .insert(name.clone(), Device::new(conn, kind, peer, framing));
        self.actions.push(Action::Log(Event::Registered {
            name,
            kind: kind.into(),
            peer,
            line: String::from_utf8_lossy(line).into(),
        }));
    }

    fn ack(&mut self, now: Instant, name: &Name, line: &[u8]) {
        let Some(dev) = self.devices.get_mut(name) else {
            return;
        };
        match dev.take_ack() {
            AckMatch::Current(p) => {
                let rtt = now.saturating_duration_since(p.sent_at.unwrap_or(now));
                self.stats.acks += 1;
                let _ = self.ack_rtt.record((rtt.as_micros() as u64).max(1));
                self.actions.push(Action::Log(Event::Ack {
                    name: name.clone(),
                    command: p.command,
                    rtt,
                    text: AckText::of(line),
                }));
                if let Some(w) = p.wave {
                    self.resolve(now, w, Outcome::Acked);
                }
                self.send_next(now, name);
            }
            AckMatch::Late(p) => {
                let rtt = now.saturating_duration_since(p.sent_at.unwrap_or(now));
                self.stats.late_acks += 1;
                self.actions.push(Action::Log(Event::LateAck {
                    name: name.clone(),
                    command: p.command,
                    rtt,
                }));
            }
            AckMatch::Unexpected => {
                self.stats.unexpected_acks += 1;
                dev.unsolicited += 1;
                let max = self.cfg.max_unsolicited_acks;
                if dev.unsolicited > max {
                    let (conn, framing) = (dev.conn, dev.framing);
                    self.stats.unsolicited_ack_disconnects += 1;
                    self.flush_fold(name);
                    self.violation(
                        now,
                        conn,
                        framing,
                        format!("more than {max} ACKs with no command outstanding"),
                    );
                } else if dev.unsolicited == 1 {
                    self.actions.push(Action::Log(Event::UnexpectedAck {
                        name: name.clone(),
                        count: 1,
                    }));
                } else {
                    if dev.folded == 0 {
                        self.folds
                            .push_back((now + limits::LOG_FOLD_WINDOW, name.clone()));
                    }
                    dev.folded += 1;
                }
            }
        }
    }

    fn ack_timeout(&mut self, now: Instant, name: &Name) {
        let Some(dev) = self.devices.get_mut(name) else {
            return;
        };
        let Some((p, _)) = dev.inflight.take() else {
            return;
        };
        self.stats.ack_timeouts += 1;
        let wave = p.wave;
        self.actions.push(Action::Log(Event::AckTimeout {
            name: name.clone(),
            command: p.command.clone(),
        }));
        dev.owed_late.push_back(p);
        let out_of_step = dev.owed_late.len() > self.cfg.max_late_owed;
        let conn = dev.conn;
        if let Some(w) = wave {
            self.resolve(now, w, Outcome::TimedOut);
        }
        if out_of_step {
            self.close(now, conn, CloseReason::OutOfStep);
        } else {
            self.send_next(now, name);
        }
    }

    fn violation(&mut self, now: Instant, conn: ConnId, framing: Framing, reason: String) {
        self.stats.protocol_errors += 1;
        let line = format!("ERROR {reason}");
        self.send_line(conn, framing, line.as_bytes());
        self.close(now, conn, CloseReason::Violation(reason));
    }

    fn send_line(&mut self, conn: ConnId, framing: Framing, line: &[u8]) {
        let mut bytes = line.to_vec();
        bytes.extend_from_slice(framing.terminator());
        self.actions.push(Action::Send { conn, bytes });
    }

    /// Closes a connection on the plane's own initiative.
    fn close(&mut self, now: Instant, conn: ConnId, reason: CloseReason) {
        if self.forget(now, conn, reason) {
            self.actions.push(Action::Close { conn });
        }
    }

    /// Drops all state of `conn`, failing its pending commands.
    fn forget(&mut self, now: Instant, conn: ConnId, reason: CloseReason) -> bool {
        let Some(entry) = self.conns.remove(&conn) else {
            return false;
        };
        self.stats.disconnects += 1;
        if let Some(name) = &entry.name {
            if let Some(mut dev) = self.devices.remove(name) {
                if dev.folded > 0 {
                    self.actions.push(Action::Log(Event::UnexpectedAck {
                        name: name.clone(),
                        count: dev.folded,
                    }));
                }
                let pending: Vec<Pending> = dev.drain_pending().collect();
                for p in pending {
                    self.stats.commands_failed += 1;
                    let wave = p.wave;
                    self.actions.push(Action::Log(Event::CommandFailed {
                        name: name.clone(),
                        command: p.command,
                        reason: reason.clone(),
                    }));
                    if let Some(w) = wave {
                        self.resolve(now, w, Outcome::Failed);
                    }
                }
            }
        }
        self.actions.push(Action::Log(Event::Disconnected {
            name: entry.name,
            peer: entry.peer,
            reason,
        }));
        true
    }
}

#[path = "plane_commands.rs"]
mod commands;

#[cfg(test)]
#[path = "plane_tests.rs"]
mod tests;
