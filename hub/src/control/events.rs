//! Everything the control plane reports, one [`Event`] per log line. The
//! `Display` form is the line's text after its timestamp, `KEY=value`
//! fields after an upper-case event name, so the log is easy to grep.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::logfield::{Bare, Quoted};
use crate::protocol::Command;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed or reset the connection.
    PeerClosed,
    /// The operator's `quit`.
    Quit,
    /// A newer registration took the name over.
    TakenOver,
    /// No valid registration before the deadline.
    RegistrationTimeout,
    /// The peer broke the protocol; the text was sent to it as `ERROR …`.
    Violation(String),
    /// The device let its command queue overflow.
    QueueFull,
    /// The device owes too many late ACKs to stay in step.
    OutOfStep,
    /// The hub is shutting down.
    Shutdown,
    /// An I/O error or a buffer cap in the event loop.
    Io(String),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("peer closed"),
            CloseReason::Quit => f.write_str("operator quit"),
            CloseReason::TakenOver => f.write_str("taken over by a newer registration"),
            CloseReason::RegistrationTimeout => f.write_str("registration deadline passed"),
            CloseReason::Violation(r) => write!(f, "protocol violation: {r}"),
            CloseReason::QueueFull => f.write_str("command queue full"),
            CloseReason::OutOfStep => f.write_str("too many late ACKs owed"),
            CloseReason::Shutdown => f.write_str("hub shutting down"),
            CloseReason::Io(e) => write!(f, "i/o: {e}"),
        }
    }
}

/// Which log lines may be shed first when a peer floods the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogClass {
    /// REGISTER, COMMAND, ACK, DISCONNECT, SHUTDOWN and the rest of a
    /// device's life: dropped only when the writer's queue is full.
    Lifecycle,
    /// What a peer can cause at will (CONNECT, UNEXPECTED_ACK, DATA):
    /// dropped once the queue is half full.
    Noise,
}

/// A device's name as the control plane holds it: shared, so an event or
/// a wave takes a copy without allocating.
pub type Name = std::sync::Arc<str>;

/// The ACK line as the device sent it (the classic transcript prints it).
/// The protocol's own `ACK Command Executed` is held without a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckText {
    /// `ACK Command Executed`.
    Standard,
    Other(Box<str>),
}

impl AckText {
    /// The text the seed's client sends.
    pub const STANDARD: &'static str = "ACK Command Executed";

    pub fn of(line: &[u8]) -> AckText {
        if line == Self::STANDARD.as_bytes() {
            AckText::Standard
        } else {
            AckText::Other(String::from_utf8_lossy(line).into())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            AckText::Standard => Self::STANDARD,
            AckText::Other(t) => t,
        }
    }
}

impl fmt::Display for AckText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One loggable happening.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Connected {
        peer: SocketAddr,
    },
    Registered {
        name: Name,
        kind: Box<str>,
        peer: SocketAddr,
        line: Box<str>,
    },
    Takeover {
        name: Name,
        old_peer: SocketAddr,
        new_peer: SocketAddr,
    },
    CommandSent {
        name: Name,
        command: Command,
    },
    Ack {
        name: Name,
        command: Command,
        rtt: Duration,
        text: AckText,
    },
    LateAck {
        name: Name,
        command: Command,
        rtt: Duration,
    },
    /// `count` unsolicited ACKs folded into one line.
    UnexpectedAck {
        name: Name,
        count: u32,
    },
    AckTimeout {
        name: Name,
        command: Command,
    },
    CommandFailed {
        name: Name,
        command: Command,
        reason: CloseReason,
    },
    Disconnected {
        name: Option<Name>,
        peer: SocketAddr,
        reason: CloseReason,
    },
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Event {
    /// How precious this line is.
    pub fn class(&self) -> LogClass {
        match self {
            Event::Connected { .. } | Event::UnexpectedAck { .. } => LogClass::Noise,
            _ => LogClass::Lifecycle,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Connected { peer } => write!(f, "CONNECT peer={peer}"),
            Event::Registered {
                name, kind, peer, ..
            } => {
                write!(
                    f,
                    "REGISTER device={} type={} peer={peer}",
                    Bare(name),
                    Bare(kind)
                )
            }
            Event::Takeover {
                name,
                old_peer,
                new_peer,
            } => write!(
                f,
                "TAKEOVER device={} old_peer={old_peer} new_peer={new_peer}",
                Bare(name)
            ),
            Event::CommandSent { name, command } => {
                write!(
                    f,
                    "COMMAND device={} command={}",
                    Bare(name),
                    Quoted(command)
                )
            }
            Event::Ack {
                name, command, rtt, ..
            } => write!(
                f,
                "ACK device={} command={} rtt_ms={:.3}",
                Bare(name),
                Quoted(command),
                ms(rtt)
            ),
            Event::LateAck { name, command, rtt } => write!(
                f,
                "LATE_ACK device={} command={} rtt_ms={:.3} policy=counted-not-matched",
                Bare(name),
                Quoted(command),
                ms(rtt)
            ),
            Event::UnexpectedAck { name, count } => {
                write!(f, "UNEXPECTED_ACK device={} count={count}", Bare(name))
            }
            Event::AckTimeout { name, command } => {
                write!(
                    f,
                    "ACK_TIMEOUT device={} command={}",
                    Bare(name),
                    Quoted(command)
                )
            }
            Event::CommandFailed {
                name,
                command,
                reason,
            } => write!(
                f,
                "COMMAND_FAILED device={} command={} reason={}",
                Bare(name),
                Quoted(command),
                Quoted(reason)
            ),
            Event::Disconnected { name, peer, reason } => {
                f.write_str("DISCONNECT")?;
                if let Some(n) = name {
                    write!(f, " device={}", Bare(n))?;
                }
                write!(f, " peer={peer} reason={}", Quoted(reason))
            }
        }
    }
}
