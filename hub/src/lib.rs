//! # hub
//!
//! A smart-home hub on one thread and one mio event loop.
//!
//! Layout (data flows top to bottom):
//! - [`protocol`]: the wire format of PROTOCOL.md, no I/O; shared with loadgen.
//! - [`data`]: the UDP data plane, sans-IO: datagrams in, STATUS replies out.
//! - [`limits`]: every cap, as a named constant.
pub mod data;
pub mod limits;
pub mod protocol;
