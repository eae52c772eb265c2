//! The TCP path of the loop: reading a device or admin connection,
//! framing its lines, handing device lines to the control plane and
//! admin lines to `operate.rs`, queueing bytes out, and noting a
//! connection lost.
//!
//! Routing only (`impl EventLoop`): connections live in the connection
//! table (`conns.rs`), one connection's buffers in `conn.rs`; the
//! control plane's actions are applied by the loop at its named points
//! (`EventLoop::apply`), plus once after each admin line here.

use std::time::Instant;

use mio::Token;

use super::conn::{ReadOutcome, Role};
use super::event_loop::EventLoop;
use crate::control::{CloseReason, Framing, Origin};

/// Reads of 4 KiB one connection gets per turn of the loop.
const READ_BUDGET: usize = 16;

/// Reads of 4 KiB an admin session gets per turn: its lines can be costly
/// (`stats`, `list`), so a burst of them is spread over turns.
const ADMIN_READ_BUDGET: usize = 1;

/// Admin lines one session runs per turn; the rest wait (and the session
/// is not read) until they have run.
const ADMIN_LINES_PER_TURN: usize = 16;

impl EventLoop {
    pub(super) fn flush_conn(&mut self, idx: usize, now: Instant) {
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

    pub(super) fn conn_readable(
        &mut self,
        idx: usize,
        token: Token,
        short_read_ends: bool,
        now: Instant,
    ) {
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
            } else {
                let text = reply.to_admin_lines();
                self.send_to(idx, text.as_bytes(), now);
            }
            // Apply point (b): a line's effects (a wave done at once, a
            // quit) go out before the next line's reply, in order.
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
}
