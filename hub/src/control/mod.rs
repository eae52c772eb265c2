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
//! - [`types`]: what the files above share with each other and the shell
//!   ([`ConnId`], [`Framing`], [`Action`], the wave's [`Origin`]).
//!
//! Imports run one way, with no circle: `events` and `target` use no
//! sibling; `types` uses `events`; `wave` and `device` use `types`;
//! `plane` uses them all, and nothing but this file imports `plane`.

pub mod device;
pub mod events;
pub mod plane;
pub mod target;
pub mod types;
pub mod wave;

pub use events::{AckText, CloseReason, Event, Name};
pub use plane::{ControlConfig, ControlPlane, ControlStats, Registration};
pub use target::Target;
pub use types::{Action, ConnId, Framing, Origin};
pub use types::{WaveId, WaveReport};
