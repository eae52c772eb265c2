//! Preflight: does the fleet fit in this process's descriptors and the
//! kernel's ephemeral port range? [`check_fit`] is pure (numbers in, verdict
//! out); [`probe`] reads the live values (raising the soft `RLIMIT_NOFILE` to
//! the hard one first) so a run is refused before any socket is opened, with
//! a message that says what to change.

use std::fmt;

/// Descriptors per device in loadgen: one TCP client, one UDP socket.
pub const FDS_PER_DEVICE: u64 = 2;

/// Extra descriptors per device when the hub runs in this process: the
/// hub's accepted TCP connection.
pub const EMBEDDED_FDS_PER_DEVICE: u64 = 1;

/// Descriptors kept for everything else: epoll and wakers per worker, the
/// admin client, the hub's listeners, log, spare fd, stdio, files.
pub const FD_RESERVE: u64 = 128;

/// Ephemeral ports per source address kept free for other programs (and
/// for TIME_WAIT left by reconnects).
pub const PORT_RESERVE: u64 = 1024;

/// What the machine allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Soft `RLIMIT_NOFILE` after raising it as far as allowed.
    pub nofile: u64,
    /// Hard `RLIMIT_NOFILE`.
    pub nofile_hard: u64,
    /// `net.ipv4.ip_local_port_range`, inclusive.
    pub ports: (u16, u16),
}

/// Why a fleet cannot run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitError {
    Descriptors {
        need: u64,
        have: u64,
        hard: u64,
        max_devices: u64,
    },
    Ports {
        per_ip: u64,
        have: u64,
        max_devices: u64,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Descriptors { need, have, hard, max_devices } => write!(
                f,
                "fleet needs about {need} file descriptors but `ulimit -n` is {have} (hard limit {hard}); \
                 raise it (e.g. `ulimit -n {need}` or LimitNOFILE=) or run at most {max_devices} devices"
            ),
            LimitError::Ports { per_ip, have, max_devices } => write!(
                f,
                "fleet needs {per_ip} ephemeral ports per source address but only {have} are available \
                 (net.ipv4.ip_local_port_range, minus {PORT_RESERVE} kept free); widen the range, \
                 add --source-ips 127.0.0.2-127.0.0.9, or run at most {max_devices} devices"
            ),
        }
    }
}

impl std::error::Error for LimitError {}

/// Descriptors a fleet of `devices` needs.
pub fn fds_needed(devices: u64, embedded: bool) -> u64 {
    let per = FDS_PER_DEVICE + if embedded { EMBEDDED_FDS_PER_DEVICE } else { 0 };
    devices * per + FD_RESERVE
}

/// Checks that `devices` fit. Each device takes one TCP and one UDP
/// ephemeral port on its source address (separate port spaces, so the
/// binding constraint is per protocol: devices per source address).
pub fn check_fit(
    devices: u64,
    embedded: bool,
    source_ips: u64,
    cap: Capacity,
) -> Result<(), LimitError> {
    let need = fds_needed(devices, embedded);
    if need > cap.nofile {
        let per = FDS_PER_DEVICE + if embedded { EMBEDDED_FDS_PER_DEVICE } else { 0 };
        return Err(LimitError::Descriptors {
            need,
            have: cap.nofile,
            hard: cap.nofile_hard,
            max_devices: cap.nofile.saturating_sub(FD_RESERVE) / per,
        });
    }
    let ips = source_ips.max(1);
    let per_ip = devices.div_ceil(ips);
    let range = u64::from(cap.ports.1.saturating_sub(cap.ports.0)) + 1;
    let have = range.saturating_sub(PORT_RESERVE);
    if per_ip > have {
        return Err(LimitError::Ports {
            per_ip,
            have,
            max_devices: have * ips,
        });
    }
    Ok(())
}

/// Raises the soft descriptor limit to the hard one and reads the limits.
pub fn probe() -> Capacity {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            let want = libc::rlimit {
                rlim_cur: rl.rlim_max,
                rlim_max: rl.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                rl.rlim_cur = rl.rlim_max;
            }
        }
    }
    Capacity {
        nofile: rl.rlim_cur,
        nofile_hard: rl.rlim_max,
        ports: port_range().unwrap_or((32768, 60999)),
    }
}

/// `net.ipv4.ip_local_port_range`.
pub fn port_range() -> Option<(u16, u16)> {
    let s = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = s.split_whitespace().map(|t| t.parse::<u16>());
    Some((it.next()?.ok()?, it.next()?.ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: Capacity = Capacity {
        nofile: 20_000,
        nofile_hard: 20_000,
        ports: (32768, 60999),
    };

    #[test]
    fn five_thousand_fit_embedded() {
        assert_eq!(check_fit(5000, true, 0, MACHINE), Ok(()));
    }

    #[test]
    fn too_many_descriptors_says_what_to_change() {
        let e = check_fit(7000, true, 0, MACHINE).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("ulimit -n"), "{msg}");
        assert!(msg.contains("at most 6624 devices"), "{msg}");
        // Without the embedded hub the same fleet fits.
        assert_eq!(check_fit(7000, false, 0, MACHINE), Ok(()));
    }

    #[test]
    fn ports_per_source_address() {
        let big = Capacity {
            nofile: 1 << 20,
            ..MACHINE
        };
        let e = check_fit(40_000, false, 1, big).unwrap_err();
        assert!(e.to_string().contains("--source-ips"));
        assert_eq!(check_fit(40_000, false, 2, big), Ok(()));
    }

    #[test]
    fn probe_reads_something() {
        let c = probe();
        assert!(c.nofile > 0 && c.ports.0 <= c.ports.1);
    }
}
