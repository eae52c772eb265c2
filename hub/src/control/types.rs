//! The vocabulary the control plane and its parts share with the shell:
//! connection ids, framing, the [`Action`]s the plane returns and the
//! [`Origin`] a wave carries back to whoever asked for it. Plain data; no
//! behaviour beyond [`Framing::terminator`]. `device.rs` and `plane.rs`
//! both use it and never each other's types.

use std::time::Duration;

use super::events::Event;

/// Identifies a connection for the life of the process (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// How a device frames its messages, and so how the hub frames replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Lines end in `\n`.
    Newline,
    /// No terminator: one message per read burst (the original client).
    Bare,
}

impl Framing {
    pub fn terminator(self) -> &'static [u8] {
        match self {
            Framing::Newline => b"\n",
            Framing::Bare => b"",
        }
    }
}

/// What the event loop must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Queue these bytes on the connection.
    Send { conn: ConnId, bytes: Vec<u8> },
    /// Flush what is queued, then close. The plane has forgotten the conn.
    Close { conn: ConnId },
    /// Write one log line.
    Log(Event),
    /// A wave finished; `origin` is who asked for it (`None`: nobody
    /// waits for its tally).
    WaveDone {
        report: WaveReport,
        origin: Option<Origin>,
    },
}

/// Who asked for a wave: where the shell routes its final tally. The plane
/// only carries it from [`ControlPlane::submit_from`](super::ControlPlane::submit_from)
/// to [`Action::WaveDone`]; it never looks inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The operator at the hub's console.
    Console,
    /// An admin session, by its connection.
    Admin(ConnId),
}

/// Identifies a wave for the operator who started it.
pub type WaveId = u64;

/// The final tally of a wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaveReport {
    pub id: WaveId,
    pub reached: u64,
    pub acked: u64,
    pub timed_out: u64,
    /// Targeted devices that disconnected (or were dropped) before ACKing.
    pub failed: u64,
    pub elapsed: Duration,
}
