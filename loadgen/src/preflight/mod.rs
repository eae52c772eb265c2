//! Before a run: what this machine can hold and how fast it can go bare.
//!
//! - [`fit`] refuses a fleet that does not fit in the descriptor limit or
//!   the ephemeral port range, before any socket is opened;
//! - [`machine`] reads the machine's facts (cores, kernel, sysctls, UDP
//!   counters, CPU per thread) for the report;
//! - [`limits_bench`] is the `loadgen limits` command: the machine's bare
//!   accept, fan-out and UDP limits measured beside the hub.
pub mod fit;
pub mod limits_bench;
pub mod machine;
