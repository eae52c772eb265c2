//! Facts about the machine and this process for the report: cores, kernel,
//! descriptor limit, relevant sysctls, the kernel's UDP counters from
//! `/proc/net/snmp`, and CPU time per thread (so the embedded hub's thread
//! can be told apart from loadgen's). Read-only; every probe may fail and
//! then reports `null`.

use std::collections::BTreeMap;
use std::fs;

use serde::Serialize;

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

#[derive(Debug, Clone, Serialize)]
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

/// The `Udp:` counters of `/proc/net/snmp` (machine-wide).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UdpSnmp {
    pub in_datagrams: u64,
    pub in_errors: u64,
    pub rcvbuf_errors: u64,
    pub sndbuf_errors: u64,
}

impl UdpSnmp {
    pub fn read() -> Option<Self> {
        parse_snmp(&fs::read_to_string("/proc/net/snmp").ok()?)
    }

    /// Counter increase from `before` to `self`.
    pub fn since(&self, before: &UdpSnmp) -> UdpSnmp {
        UdpSnmp {
            in_datagrams: self.in_datagrams.saturating_sub(before.in_datagrams),
            in_errors: self.in_errors.saturating_sub(before.in_errors),
            rcvbuf_errors: self.rcvbuf_errors.saturating_sub(before.rcvbuf_errors),
            sndbuf_errors: self.sndbuf_errors.saturating_sub(before.sndbuf_errors),
        }
    }
}

/// Parses the two `Udp:` lines (header, values) of `/proc/net/snmp`.
pub fn parse_snmp(text: &str) -> Option<UdpSnmp> {
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().skip(1).collect();
    let values: Vec<u64> = lines
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let get = |k: &str| {
        names
            .iter()
            .position(|n| *n == k)
            .and_then(|i| values.get(i).copied())
            .unwrap_or(0)
    };
    Some(UdpSnmp {
        in_datagrams: get("InDatagrams"),
        in_errors: get("InErrors"),
        rcvbuf_errors: get("RcvbufErrors"),
        sndbuf_errors: get("SndbufErrors"),
    })
}

/// CPU seconds (user + system) per thread name of this process.
pub fn thread_cpu() -> BTreeMap<String, f64> {
    let tick = clock_ticks();
    let mut out = BTreeMap::new();
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let p = e.path();
        let Some(stat) = fs::read_to_string(p.join("stat")).ok() else {
            continue;
        };
        let Some(secs) = stat_cpu_secs(&stat, tick) else {
            continue;
        };
        let name = fs::read_to_string(p.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        *out.entry(name).or_insert(0.0) += secs;
    }
    out
}

/// User + system seconds from a `/proc/<pid>/stat` line.
pub fn stat_cpu_secs(stat: &str, ticks_per_s: f64) -> Option<f64> {
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, i.e. the 12th and 13th after `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / ticks_per_s)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
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
    fn parses_snmp() {
        let t = "Ip: a b\nIp: 1 2\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\nUdp: 100 0 7 90 5 1 0\nUdpLite: x\nUdpLite: 0\n";
        let s = parse_snmp(t).unwrap();
        assert_eq!(
            s,
            UdpSnmp {
                in_datagrams: 100,
                in_errors: 7,
                rcvbuf_errors: 5,
                sndbuf_errors: 1
            }
        );
    }

    #[test]
    fn parses_stat() {
        let stat = "123 (lg worker) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0";
        assert_eq!(stat_cpu_secs(stat, 100.0), Some(3.0));
        assert!(!thread_cpu().is_empty());
    }

    #[test]
    fn probe_works_here() {
        let m = probe(1, 1);
        assert!(m.cores >= 1);
        assert!(m.sysctls.contains_key("net.core.rmem_max"));
    }
}
