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

/// `SO_MEMINFO` (asm-generic/socket.h), absent from some libc versions.
const SO_MEMINFO: libc::c_int = 55;

/// Words `SO_MEMINFO` fills (`SK_MEMINFO_VARS`).
const SK_MEMINFO_VARS: usize = 9;

/// Datagrams the kernel dropped for this socket (receive buffer full), or
/// `None` where the kernel does not say.
///
/// Asks the socket itself (`SO_MEMINFO`, O(1)); only where that fails is
/// `/proc/net/udp` searched, which costs O(every UDP socket on the
/// machine): with tens of thousands of sockets (a load generator on the
/// same host) a single read took hundreds of milliseconds of the loop.
pub fn udp_drops(sock: &impl AsRawFd) -> Option<u64> {
    let mut info = [0u32; SK_MEMINFO_VARS];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which we own.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    let drops = libc::SK_MEMINFO_DROPS as usize;
    if rc == 0 && len as usize > drops * 4 {
        return Some(u64::from(info[drops]));
    }
    udp_drops_from_proc(sock)
}

/// The `drops` column of this socket's row in `/proc/net/udp{,6}`.
pub fn udp_drops_from_proc(sock: &impl AsRawFd) -> Option<u64> {
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
        assert_eq!(udp_drops_from_proc(&s), Some(0));
        assert!(nofile_limit() > 0);
    }

    #[test]
    fn the_socket_and_proc_agree_on_drops() {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        sock.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let s: std::net::UdpSocket = sock.into();
        let to = s.local_addr().unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..500 {
            let _ = tx.send_to(&[7u8; 512], to);
        }
        let fast = udp_drops(&s).unwrap();
        assert!(fast > 0, "a 4 KiB buffer must overflow");
        assert_eq!(Some(fast), udp_drops_from_proc(&s));
    }
}
