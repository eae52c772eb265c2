//! Facts about the machine and this process for the report: cores, kernel,
//! descriptor limit, relevant sysctls, the kernel's UDP counters from
//! `/proc/net/snmp`, and CPU time per thread (so the embedded hub's thread
//! can be told apart from loadgen's). Read-only; every probe may fail and
//! then reports `null`.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

/// Sysctls that bound or explain a run.
pub const SYSCTLS: &[&str] = &[
    "net/core/rmem_max",
    "net/core/rmem_default",
    "net/core/wmem_max",
    "net/core/somaxconn",
    "net/core/netdev_max_backlog",
    "net/ipv4/ip_local_port_range",
    "net/ipv4/tcp_max_syn_backlog",
    "net/ipv4/udp_mem",
    "fs/file-max",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub kernel: Option<String>,
    pub ulimit_n: u64,
    pub ulimit_n_hard: u64,
    pub sysctls: BTreeMap<String, Option<String>>,
}

/// Probes the machine. `nofile` comes from the preflight.
pub fn probe(nofile: u64, nofile_hard: u64) -> Machine {
    Machine {
        cores: cores(),
        kernel: read_trim("/proc/sys/kernel/osrelease"),
        ulimit_n: nofile,
        ulimit_n_hard: nofile_hard,
        sysctls: SYSCTLS
            .iter()
            .map(|k| (k.replace('/', "."), read_trim(&format!("/proc/sys/{k}"))))
            .collect(),
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn read_trim(path: &str) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The `Udp:` counters of `/proc/net/snmp` (read in `hostprobe`).
pub use hostprobe::snmp::UdpSnmp;

/// CPU seconds per thread name of this process (schedstat, as the
/// benchmarks read it).
pub fn thread_cpu() -> BTreeMap<String, f64> {
    hostprobe::thread::cpu_by_name()
}

/// Whole-process CPU seconds (user, system) from `getrusage`.
pub fn process_cpu() -> (f64, f64) {
    // SAFETY: getrusage fills a zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let s = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (s(ru.ru_utime), s(ru.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_has_cpu_time() {
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu().values().sum::<f64>() > 0.0);
    }

    #[test]
    fn probe_works_here() {
        let m = probe(1, 1);
        assert!(m.cores >= 1);
        assert!(m.sysctls.contains_key("net.core.rmem_max"));
    }
}
