//! Per-socket facts: the kernel's UDP drop counter for one socket (from
//! `/proc/net/udp`, found by the socket's inode) and `RLIMIT_NOFILE`.

use std::os::fd::AsRawFd;

/// `RLIMIT_NOFILE` soft limit (1024 if it cannot be read).
pub fn nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        1024
    }
}

/// The inode of a socket, which names it in `/proc/net/udp`.
fn socket_inode(fd: &impl AsRawFd) -> Option<u64> {
    // SAFETY: fstat writes into a zeroed stat struct we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    Some(st.st_ino)
}

/// Datagrams the kernel dropped for this socket (receive buffer full), or
/// `None` where the kernel does not say.
pub fn udp_drops(sock: &impl AsRawFd) -> Option<u64> {
    let inode = socket_inode(sock)?;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        if let Some(d) = drops_for_inode(&text, inode) {
            return Some(d);
        }
    }
    None
}

/// Finds the `drops` column of the row whose inode is `inode`.
fn drops_for_inode(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|row| {
        let f: Vec<&str> = row.split_whitespace().collect();
        (f.len() >= 13 && f[9].parse() == Ok(inode)).then(|| f[12].parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_drops_column() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
 1234: 0100007F:17AC 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 998877 2 0000000000000000 42\n";
        assert_eq!(drops_for_inode(table, 998877), Some(42));
        assert_eq!(drops_for_inode(table, 1), None);
    }

    #[test]
    fn our_own_socket_is_found() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(udp_drops(&s), Some(0));
        assert!(nofile_limit() > 0);
    }
}
