//! Batched UDP receive with `recvmmsg(2)`: up to [`BATCH`] datagrams per
//! system call, into buffers allocated once. A batch shorter than asked
//! means the socket queue was empty at the time of the call, so the loop
//! can stop without the extra `EAGAIN` read that draining one datagram at
//! a time costs (a new datagram arriving later raises a new edge).

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use crate::limits::MAX_DATAGRAM;

/// Datagrams per `recvmmsg` call.
pub const BATCH: usize = 64;

/// Bytes per slot: larger than any legal datagram, so an oversize one is
/// seen as oversize (and counted malformed) rather than silently cut.
const SLOT: usize = MAX_DATAGRAM * 4;

pub struct RecvBatch {
    bufs: Box<[[u8; SLOT]]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    /// Slots the last call filled.
    used: usize,
}

// SAFETY: the raw pointers inside `iovs`/`hdrs` only ever point into this
// struct's own heap allocations, which move with it between threads.
unsafe impl Send for RecvBatch {}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    pub fn new() -> Self {
        // SAFETY: all-zero is a valid value for these plain C structs.
        let zero_addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut b = RecvBatch {
            bufs: vec![[0u8; SLOT]; BATCH].into_boxed_slice(),
            addrs: vec![zero_addr; BATCH].into_boxed_slice(),
            iovs: vec![empty; BATCH].into_boxed_slice(),
            hdrs: vec![zero_hdr; BATCH].into_boxed_slice(),
            used: 0,
        };
        // The pointers go into the boxed slices' heap memory, which never
        // moves, so they are set once here rather than on every call.
        for i in 0..BATCH {
            b.iovs[i] = libc::iovec {
                iov_base: b.bufs[i].as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            let h = &mut b.hdrs[i].msg_hdr;
            h.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_iov = &mut b.iovs[i];
            h.msg_iovlen = 1;
        }
        b.used = BATCH;
        b.reset_used();
        b
    }

    /// The kernel rewrites `msg_namelen` of every slot it fills; give those
    /// slots the full address room back.
    fn reset_used(&mut self) {
        for h in &mut self.hdrs[..self.used] {
            h.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        self.used = 0;
    }

    /// Receives up to [`BATCH`] datagrams without blocking. `Ok(0)` means
    /// the socket had nothing (would block).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.reset_used();
        // SAFETY: every header points at live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        self.used = n as usize;
        Ok(n as usize)
    }

    /// Datagram `i` of the last batch and its source. A datagram larger
    /// than the slot is reported at the slot's length (still oversize).
    pub fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let len = (self.hdrs[i].msg_len as usize).min(SLOT);
        (&self.bufs[i][..len], sockaddr(&self.addrs[i]))
    }
}

fn sockaddr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn receives_a_batch_with_sources() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut b = RecvBatch::new();
        assert_eq!(
            b.recv(rx.as_raw_fd()).unwrap(),
            0,
            "empty socket would block"
        );
        for i in 0..3u8 {
            tx.send_to(&[b'a' + i; 5], rx.local_addr().unwrap())
                .unwrap();
        }
        tx.send_to(&vec![b'z'; 3000], rx.local_addr().unwrap())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(b.recv(rx.as_raw_fd()).unwrap(), 4);
        for i in 0..3u8 {
            let (bytes, src) = b.get(i as usize);
            assert_eq!(bytes, &[b'a' + i; 5]);
            assert_eq!(src, Some(tx.local_addr().unwrap()));
        }
        assert_eq!(b.get(3).0.len(), SLOT, "oversize stays oversize");
    }
}
