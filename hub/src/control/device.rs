//! One registered device's command bookkeeping: a bounded FIFO of queued
//! commands, at most one outstanding, and the commands whose ACK timed out
//! but may still arrive.
//!
//! ACKs carry no id, but a device ACKs every command once and in order. So
//! an ACK always belongs to the oldest command not yet ACKed: first to the
//! timed-out ones (it is then a *late ACK*: logged, counted, never credited
//! to a newer command), then to the outstanding one.
//!
//! Uses only the shared types (`types.rs`) and the wave id, never `plane`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use super::types::{ConnId, Framing};
use super::wave::WaveId;
use crate::protocol::Command;

/// A command waiting for, or owed, an ACK.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub command: Command,
    pub wave: Option<WaveId>,
    pub sent_at: Option<Instant>,
}

/// What the ACK that just arrived belonged to.
#[derive(Debug)]
pub(crate) enum AckMatch {
    /// The outstanding command.
    Current(Pending),
    /// A command that had already timed out.
    Late(Pending),
    /// Nothing was owed.
    Unexpected,
}

#[derive(Debug)]
pub(crate) struct Device {
    pub conn: ConnId,
    pub kind: Box<str>,
    pub peer: SocketAddr,
    pub framing: Framing,
    pub queue: VecDeque<Pending>,
    pub inflight: Option<(Pending, Instant)>,
    pub owed_late: VecDeque<Pending>,
    /// ACKs with nothing owed since the last command was sent.
    pub unsolicited: u32,
    /// Of those, how many are not logged yet (folded into one line).
    pub folded: u32,
}

impl Device {
    pub fn new(conn: ConnId, kind: &str, peer: SocketAddr, framing: Framing) -> Self {
        Device {
            conn,
            kind: kind.into(),
            peer,
            framing,
            queue: VecDeque::new(),
            inflight: None,
            owed_late: VecDeque::new(),
            unsolicited: 0,
            folded: 0,
        }
    }

    /// Matches an arriving ACK to the command it answers.
    pub fn take_ack(&mut self) -> AckMatch {
        if let Some(p) = self.owed_late.pop_front() {
            return AckMatch::Late(p);
        }
        match self.inflight.take() {
            Some((p, _)) => AckMatch::Current(p),
            None => AckMatch::Unexpected,
        }
    }

    /// Everything still pending, for failing it when the device goes away.
    pub fn drain_pending(&mut self) -> impl Iterator<Item = Pending> + '_ {
        self.inflight
            .take()
            .map(|(p, _)| p)
            .into_iter()
            .chain(self.queue.drain(..))
    }
}
