//! # hub
//!
//! A smart-home hub on one thread and one mio event loop.
//!
//! Layout (data flows top to bottom):
//! - [`protocol`]: the wire format of PROTOCOL.md, no I/O; shared with loadgen.
//! - [`limits`]: every cap, as a named constant.
pub mod control;
pub mod eventlog;
pub mod limits;
pub mod ops;
pub mod protocol;
pub mod timefmt;
