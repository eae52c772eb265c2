//! Read-only probes of the Linux host, shared by the hub (its `stats`), the
//! hub's benchmarks and loadgen (`loadgen limits`, the report's machine
//! section), so each fact is read one way in one place.
//!
//! - [`thread`]: per-thread CPU time from `/proc/self/task/<tid>/schedstat`,
//!   thread lookup by name, CPU per thread name.
//! - [`snmp`]: the machine-wide `Udp:` counters of `/proc/net/snmp`.
//! - [`sock`]: the per-socket UDP drop counter (`/proc/net/udp`) and
//!   `RLIMIT_NOFILE`.
//! - [`baseline`]: the bare `recv_from` receiver the hub's UDP cost is
//!   measured against.
//!
//! Every probe may fail (no `/proc`, a thread gone) and then says so with
//! `None` or zero, never a panic.

pub mod baseline;
pub mod snmp;
pub mod sock;
pub mod thread;
