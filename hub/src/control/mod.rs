//! The sans-IO control plane: registrations, command queues, ACK matching,
//! timeouts and takeovers for TCP devices.
//!
//! The event loop feeds it framed lines ([`ControlPlane::on_message`]),
//! connection events and ticks, always with `now` passed in; it answers with
//! [`Action`]s (bytes to send, connections to close, events to log, waves
//! finished). It owns no socket and never reads the clock, so every rule of
//! PROTOCOL.md is tested here without sleeping.
//!
//! - [`events`]: the loggable [`Event`]s and their one-line text.
//! - [`device`]: one registered device's command queue and ACK bookkeeping.
//! - [`wave`]: a multi-device `send` and its tally.
//! - [`plane`]: [`ControlPlane`] itself.
//! - [`target`]: which devices an operator `send`/`quit` selects.

pub mod device;
pub mod events;
pub mod plane;
pub mod target;
pub mod wave;

pub use events::{AckText, CloseReason, Event, Name};
pub use plane::{
    Action, ConnId, ControlConfig, ControlPlane, ControlStats, Framing, Registration, Target,
};
pub use wave::{WaveId, WaveReport};
