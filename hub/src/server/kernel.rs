//! What the kernel tells about our sockets, limits and threads. The probes
//! live in the `hostprobe` crate (shared with loadgen and the benchmarks);
//! this module names the ones the hub uses.

pub use hostprobe::sock::{nofile_limit, udp_drops, udp_drops_from_proc};
pub use hostprobe::thread::{find_thread, parse_schedstat, thread_cpu, tid};

/// System-wide UDP `RcvbufErrors` from `/proc/net/snmp`.
pub fn snmp_udp_rcvbuf_errors() -> Option<u64> {
    hostprobe::snmp::UdpSnmp::read().map(|s| s.rcvbuf_errors)
}
