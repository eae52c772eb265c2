//! # hub
//!
//! A smart-home hub on one thread and one mio event loop.
//!
//! Layout (data flows top to bottom):
//! - [`protocol`]: the wire format of PROTOCOL.md, no I/O; shared with loadgen.
//! - [`limits`]: every cap, as a named constant.
//! - [`control`]: the sans-IO TCP control plane (registrations, commands, ACKs).
//! - [`data`]: the sans-IO UDP data plane (cycles, STATUS, bounded device table).
//! - [`ops`]: the operator command grammar and replies (console and admin).
//! - [`eventlog`]: the timestamped event log, written off the loop;
//!   [`logfield`]: its grammar and escaping.
//! - [`recorder`]: every accepted reading into SQLite, off the loop.
//! - [`metrics`]: the Prometheus text exposition of the hub's counters.
//! - [`timefmt`], [`duration`]: wall-clock timestamps and duration flags
//!   (shared with loadgen).
pub mod classic;
pub mod config;
pub mod control;
pub mod data;
pub mod duration;
pub mod eventlog;
pub mod limits;
pub mod logfield;
pub mod metrics;
pub mod ops;
pub mod protocol;
pub mod recorder;
pub mod server;
pub mod timefmt;
