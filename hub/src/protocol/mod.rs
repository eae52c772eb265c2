//! The wire protocol of PROTOCOL.md, with no I/O: one type per message, each
//! with `parse` and `Display` (or an `encode` into a caller's buffer on the
//! hot path). Shared by the hub and the load generator.
//!
//! - [`framing`]: cuts a TCP byte stream into lines, bounded.
//! - [`ident`]: the character set of device names and types.
//! - [`control`]: TCP messages (`DEVICE … TYPE …`, `ACK …`, commands, `ERROR`).
//! - [`datagram`]: the UDP reading `<name>,<ts>,<type>,<value>,SEQ:<n>[,CYCLE:<k>]`.
//! - [`status`]: the hub's `STATUS RECEIVED x/n PACKETS[; MISSING: […]]` reply.

pub mod control;
pub mod datagram;
pub mod framing;
pub mod ident;
pub mod status;

pub use control::{Command, CommandError, DeviceMsg, MsgError, ACK_TEXT};
pub use datagram::{Datagram, DatagramError};
pub use framing::{FrameError, LineFramer};
pub use status::{Status, StatusError};
