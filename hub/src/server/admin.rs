//! Admin sessions: their timers, the session cap, and `list` streamed as
//! the peer reads.
//!
//! - **Idle timeout** (`--admin-idle-timeout`, 300 s): a session with no
//!   complete line for that long (and no wave or `list` in progress) is
//!   told so and closed. Timers run on *complete* lines only.
//! - **Line deadline** (`--admin-line-deadline`, 10 s): a line begun must
//!   end within it, so one byte a second cannot hold a session.
//! - **Cap** (`--max-admin-sessions`, 32) on sessions that have sent a
//!   complete line: the next one to do so takes a seat by evicting the one
//!   idle longest (a session waiting for a wave or a `list` goes last).
//!   Sessions that have not sent a line yet are held apart: past
//!   [`ADMIN_UNPROVEN`] of them the oldest is evicted, but only once it has
//!   had [`ADMIN_GRACE`] to speak; only past [`ADMIN_UNPROVEN_HARD`] is a
//!   session within its grace evicted. So idle connections cannot take the
//!   operator's seat, the operator connecting is never refused, and a
//!   flood of connections cannot evict a session that speaks within its
//!   grace unless the flood outnumbers the hard cap within it.
//! - **`list`** writes one JSON object per device and then a summary line,
//!   refilling the output buffer to half its cap each time the socket
//!   drains, so any number of devices fits any `--max-outbuf`.
//!
//! Every reply, errors included, is one JSON object on one line.
//!
//! Routing (`impl EventLoop`): the sessions live in the connection table
//! (`conns.rs`); whether one waits on a wave is asked of the control
//! plane, which carries each wave's origin.

use std::time::{Duration, Instant};

use serde_json::json;

use super::conn::{ListCursor, Role};
use super::event_loop::EventLoop;
use crate::control::Origin;

/// The admin port's listen backlog: a burst of connections waits in the
/// kernel instead of having its SYNs dropped (a dropped SYN costs the
/// client a 1 s retransmit, which would eat an operator's grace).
pub const ADMIN_BACKLOG: i32 = 1024;

/// Sessions that have not sent a complete line yet, kept past their grace.
pub const ADMIN_UNPROVEN: usize = 128;

/// A session that has not spoken yet is not evicted for this long after it
/// opened (unless [`ADMIN_UNPROVEN_HARD`] is reached): a client descheduled
/// for a few milliseconds between `connect` and its first write, or an
/// operator typing into `nc`, is not pushed out by a flood meanwhile.
pub const ADMIN_GRACE: Duration = Duration::from_secs(3);

/// Sessions that have not sent a complete line yet, at most, grace or not
/// (about 1 MiB of buffers and 1024 descriptors at worst).
pub const ADMIN_UNPROVEN_HARD: usize = 1024;

impl EventLoop {
    /// One JSON line to an admin session, then close it.
    fn admin_refuse(&mut self, idx: usize, error: &str, now: Instant) {
        let mut text = json!({"ok": false, "error": error}).to_string();
        text.push('\n');
        self.send_to(idx, text.as_bytes(), now);
        self.conns.mark_closing(idx);
    }

    fn has_wave(&self, idx: usize) -> bool {
        let Some(conn) = self.conns.get(idx) else {
            return false;
        };
        self.control.waits_for(Origin::Admin(conn.id))
    }

    /// Admin sessions open and not closing, split by whether they have sent
    /// a complete line yet.
    /// An iterator, not a list: the timers and the loop's deadline walk it
    /// every turn, and a list would be an allocation per turn.
    fn admin_open(&self, proven: bool) -> impl Iterator<Item = usize> + '_ {
        self.conns.admin_slots().iter().copied().filter(
            move |&i| matches!(self.conns.get(i), Some(c) if !c.closing && c.proven == proven),
        )
    }

    /// The oldest session that has not spoken yet, if room must be made:
    /// past [`ADMIN_UNPROVEN`] only one whose grace is over, past
    /// [`ADMIN_UNPROVEN_HARD`] any. `incoming` counts a newcomer.
    fn unproven_victim(&self, incoming: usize, now: Instant) -> Option<usize> {
        let count = self.admin_open(false).count() + incoming;
        if count <= ADMIN_UNPROVEN {
            return None;
        }
        let hard = count > ADMIN_UNPROVEN_HARD;
        self.admin_open(false)
            .map(|i| (i, self.conns.get(i).expect("open").last_line))
            .filter(|&(_, opened)| hard || now >= opened + ADMIN_GRACE)
            .min_by_key(|&(_, opened)| opened)
            .map(|(i, _)| i)
    }

    fn evict_unproven(&mut self, idx: usize, now: Instant) {
        self.stats.admin_evicted += 1;
        self.admin_refuse(
            idx,
            "evicted: too many sessions that never sent a line",
            now,
        );
    }

    /// A new connection: room is made among sessions that have not sent a
    /// complete line yet (see [`Self::unproven_victim`]). Always true: a
    /// newcomer is never refused.
    pub(super) fn admin_room(&mut self, now: Instant) -> bool {
        if let Some(idx) = self.unproven_victim(1, now) {
            self.evict_unproven(idx, now);
        }
        true
    }

    /// A session sent its first complete line: it takes one of the
    /// `--max-admin-sessions` seats, evicting the longest idle session
    /// (one waiting for a wave or a `list` last) when all are taken.
    pub(super) fn admin_seat(&mut self, idx: usize, now: Instant) {
        // Counted before this session is marked, so it is not its own victim.
        let open: Vec<usize> = self.admin_open(true).collect();
        if let Some(c) = self.conns.get_mut(idx) {
            c.proven = true;
        }
        if open.len() < self.cfg.max_admin_sessions {
            return;
        }
        let victim = open.into_iter().min_by_key(|&i| {
            let c = self.conns.get(i).expect("open");
            (self.has_wave(i) || c.list.is_some(), c.last_line)
        });
        if let Some(v) = victim {
            self.stats.admin_evicted += 1;
            let max = self.cfg.max_admin_sessions;
            self.admin_refuse(
                v,
                &format!("evicted: {max} admin sessions open and this one was idle longest"),
                now,
            );
        }
    }

    /// Closes sessions past their idle timeout or line deadline, and trims
    /// the sessions that never spoke back to [`ADMIN_UNPROVEN`] as their
    /// grace ends.
    pub(super) fn admin_timers(&mut self, now: Instant) {
        while let Some(idx) = self.unproven_victim(0, now) {
            self.evict_unproven(idx, now);
        }
        let idle = self.cfg.admin_idle_timeout;
        let deadline = self.cfg.admin_line_deadline;
        for idx in self.conns.admin_slots().to_vec() {
            let Some(c) = self.conns.get(idx) else {
                continue;
            };
            if c.closing {
                continue;
            }
            if c.partial_since.is_some_and(|t| now >= t + deadline) {
                self.stats.admin_slow_closed += 1;
                let msg = format!(
                    "line not completed within {} s; closing",
                    deadline.as_secs_f64()
                );
                self.admin_refuse(idx, &msg, now);
            } else if c.list.is_none() && now >= c.last_line + idle && !self.has_wave(idx) {
                self.stats.admin_idle_closed += 1;
                let msg = format!("idle for {} s; closing", idle.as_secs_f64());
                self.admin_refuse(idx, &msg, now);
            }
        }
    }

    /// The earliest admin timer, for the loop's sleep.
    pub(super) fn admin_deadline(&self) -> Option<Instant> {
        let idle = self.cfg.admin_idle_timeout;
        let deadline = self.cfg.admin_line_deadline;
        let over_soft = self.admin_open(false).count() > ADMIN_UNPROVEN;
        self.conns
            .admin_slots()
            .iter()
            .filter_map(|&i| self.conns.get(i))
            .filter(|c| !c.closing)
            .map(|c| {
                let mut t = c.last_line + idle;
                if let Some(p) = c.partial_since {
                    t = t.min(p + deadline);
                }
                if over_soft && !c.proven {
                    t = t.min(c.last_line + ADMIN_GRACE);
                }
                t
            })
            .min()
    }

    /// Starts streaming a `list` reply.
    pub(super) fn start_list(&mut self, idx: usize, lines: Vec<String>, now: Instant) {
        if let Some(c) = self.conns.get_mut(idx) {
            c.list = Some(ListCursor { lines, next: 0 });
        }
        self.pump_list(idx, now);
    }

    /// Refills the output buffer from the session's `list` to half its cap,
    /// for as long as the socket takes it (a socket that never fills raises
    /// no writable edge, so stopping earlier would stall the stream).
    pub(super) fn pump_list(&mut self, idx: usize, now: Instant) {
        loop {
            let Some(c) = self.conns.get_mut(idx) else {
                return;
            };
            if c.closing || c.role != Role::Admin {
                return;
            }
            let Some(mut cur) = c.list.take() else {
                return;
            };
            let room = c.max_out() / 2;
            let mut text = String::new();
            while c.queued() + text.len() < room && cur.next < cur.lines.len() {
                text.push_str(&cur.lines[cur.next]);
                text.push('\n');
                cur.next += 1;
            }
            let done = cur.next == cur.lines.len();
            if !done {
                c.list = Some(cur);
            }
            self.send_to(idx, text.as_bytes(), now);
            let Some(c) = self.conns.get(idx) else {
                return;
            };
            if done || c.queued() > 0 {
                // Done, or the socket is full: its writable edge resumes us.
                return;
            }
        }
    }
}
