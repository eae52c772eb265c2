//! Batched UDP on one connected socket: [`SendBatch`] puts up to [`BATCH`]
//! datagrams on the wire with one `sendmmsg(2)`, [`RecvBatch`] takes up to
//! [`BATCH`] with one `recvmmsg(2)`. Buffers are allocated once per worker
//! and the message headers point into them for the batch's life, so a
//! batch costs no allocation. The sockets are connected (one per device:
//! the hub answers STATUS to the source address, and a STATUS names no
//! device), so no addresses are passed or returned.
//!
//! A `sendmmsg` that fails part-way returns how many went out; the caller
//! learns each remaining datagram's fate by sending it alone
//! ([`SendBatch::send_one`]), so every datagram gets its own result, as
//! with one `send` each. A `recvmmsg` that fills fewer slots than asked
//! found the socket queue empty, so the caller can stop without the extra
//! `EAGAIN` read a one-at-a-time drain costs (edge-triggered readiness: a
//! datagram arriving later raises a new edge).

use std::io;
use std::os::fd::RawFd;

use hub::limits::MAX_DATAGRAM;

/// Datagrams per system call, both ways; also the most datagrams one device
/// sends per timer call (the worker's `SEND_BATCH`).
pub const BATCH: usize = 64;

/// Bytes per receive slot: larger than any legal STATUS, so an oversize one
/// is seen oversize (the device counts it invalid) rather than silently cut.
pub const RECV_SLOT: usize = 4096;

/// Up to [`BATCH`] encoded datagrams and the headers that send them.
pub struct SendBatch {
    bufs: Box<[[u8; MAX_DATAGRAM]]>,
    lens: [usize; BATCH],
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
    len: usize,
}

// SAFETY: the raw pointers in `iovs`/`hdrs` point only into this struct's
// own heap allocations, which move with it between threads.
unsafe impl Send for SendBatch {}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBatch {
    pub fn new() -> Self {
        // SAFETY: all-zero is a valid value for this plain C struct.
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut b = SendBatch {
            bufs: vec![[0u8; MAX_DATAGRAM]; BATCH].into_boxed_slice(),
            lens: [0; BATCH],
            iovs: vec![empty; BATCH].into_boxed_slice(),
            hdrs: vec![zero_hdr; BATCH].into_boxed_slice(),
            len: 0,
        };
        // Boxed slices never move: the pointers are set once, here.
        for i in 0..BATCH {
            b.iovs[i].iov_base = b.bufs[i].as_mut_ptr().cast();
            let h = &mut b.hdrs[i].msg_hdr;
            h.msg_iov = &mut b.iovs[i];
            h.msg_iovlen = 1;
        }
        b
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == BATCH
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Queues one datagram written by `encode` into a [`MAX_DATAGRAM`]
    /// buffer; returns false (nothing queued) when `encode` fails or the
    /// batch is full.
    pub fn push(&mut self, encode: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> bool {
        if self.is_full() {
            return false;
        }
        match encode(&mut self.bufs[self.len][..]) {
            Ok(n) if n <= MAX_DATAGRAM => {
                self.lens[self.len] = n;
                self.iovs[self.len].iov_len = n;
                self.len += 1;
                true
            }
            _ => false,
        }
    }

    /// Datagram `i` as queued.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.bufs[i][..self.lens[i]]
    }

    /// Sends queued datagrams `from..` on the connected socket `fd` with one
    /// `sendmmsg`, without blocking. Returns how many of them the kernel
    /// took (from `from` on, in order); an error only when it took none.
    pub fn send(&mut self, fd: RawFd, from: usize) -> io::Result<usize> {
        if from >= self.len {
            return Ok(0);
        }
        loop {
            // SAFETY: headers `from..len` point at live buffers of the
            // stated lengths; the kernel only reads them.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[from..].as_mut_ptr(),
                    (self.len - from) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Sends queued datagram `i` alone; true when the kernel took all of it.
    pub fn send_one(&self, fd: RawFd, i: usize) -> bool {
        let b = self.get(i);
        loop {
            // SAFETY: `b` is a live buffer of `b.len()` bytes.
            let n = unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_DONTWAIT) };
            if n >= 0 {
                return n as usize == b.len();
            }
            if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return false;
            }
        }
    }
}

/// Room for up to [`BATCH`] received datagrams of up to [`RECV_SLOT`] bytes.
pub struct RecvBatch {
    bufs: Box<[[u8; RECV_SLOT]]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
}

// SAFETY: as for `SendBatch`.
unsafe impl Send for RecvBatch {}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    pub fn new() -> Self {
        // SAFETY: all-zero is a valid value for this plain C struct.
        let zero_hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut b = RecvBatch {
            bufs: vec![[0u8; RECV_SLOT]; BATCH].into_boxed_slice(),
            iovs: vec![empty; BATCH].into_boxed_slice(),
            hdrs: vec![zero_hdr; BATCH].into_boxed_slice(),
        };
        for i in 0..BATCH {
            b.iovs[i] = libc::iovec {
                iov_base: b.bufs[i].as_mut_ptr().cast(),
                iov_len: RECV_SLOT,
            };
            let h = &mut b.hdrs[i].msg_hdr;
            h.msg_iov = &mut b.iovs[i];
            h.msg_iovlen = 1;
        }
        b
    }

    /// Receives up to [`BATCH`] datagrams from the connected socket `fd`
    /// without blocking. `Ok(0)` means the queue was empty (would block);
    /// an error (a pending ICMP error, say) only when nothing was received:
    /// the kernel reports an error met after some datagrams on the next call.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        loop {
            // SAFETY: every header points at a live buffer of RECV_SLOT
            // bytes; no address or control buffer is asked for.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    BATCH as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(0),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
    }

    /// Datagram `i` of the last batch (cut at [`RECV_SLOT`]: still oversize).
    pub fn get(&self, i: usize) -> &[u8] {
        let len = (self.hdrs[i].msg_len as usize).min(RECV_SLOT);
        &self.bufs[i][..len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        (a, b)
    }

    /// Receives until `n` datagrams have come or 5 s have passed.
    fn recv_all(rx: &mut RecvBatch, fd: RawFd, n: usize) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        let until = Instant::now() + Duration::from_secs(5);
        while got.len() < n && Instant::now() < until {
            let k = rx.recv(fd).unwrap();
            got.extend((0..k).map(|i| rx.get(i).to_vec()));
            if k == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        got
    }

    fn write(text: &str) -> impl FnOnce(&mut [u8]) -> io::Result<usize> + '_ {
        move |out: &mut [u8]| {
            out[..text.len()].copy_from_slice(text.as_bytes());
            Ok(text.len())
        }
    }

    #[test]
    fn a_batch_goes_out_in_order_with_one_call_and_comes_back_in_one() {
        let (a, b) = pair();
        let mut tx = SendBatch::new();
        let mut rx = RecvBatch::new();
        assert_eq!(
            rx.recv(b.as_raw_fd()).unwrap(),
            0,
            "empty queue would block"
        );
        for i in 0..5 {
            assert!(tx.push(|out| {
                let s = format!("dgram {i}");
                out[..s.len()].copy_from_slice(s.as_bytes());
                Ok(s.len())
            }));
        }
        assert_eq!(tx.len(), 5);
        assert_eq!(tx.get(4), b"dgram 4");
        assert_eq!(tx.send(a.as_raw_fd(), 0).unwrap(), 5);
        let got = recv_all(&mut rx, b.as_raw_fd(), 5);
        let want: Vec<Vec<u8>> = (0..5).map(|i| format!("dgram {i}").into_bytes()).collect();
        assert_eq!(got, want);
        // Sending from an offset sends only the rest.
        assert_eq!(tx.send(a.as_raw_fd(), 3).unwrap(), 2);
        assert_eq!(recv_all(&mut rx, b.as_raw_fd(), 2), want[3..].to_vec());
        assert_eq!(tx.send(a.as_raw_fd(), 5).unwrap(), 0, "nothing left");
        assert!(tx.send_one(a.as_raw_fd(), 1));
        assert_eq!(recv_all(&mut rx, b.as_raw_fd(), 1), want[1..2].to_vec());
        tx.clear();
        assert!(tx.is_empty());
    }

    #[test]
    fn a_full_batch_or_a_failed_encode_queues_nothing() {
        let mut tx = SendBatch::new();
        assert!(!tx.push(|_| Err(io::Error::other("too long"))));
        assert!(tx.is_empty());
        for _ in 0..BATCH {
            assert!(tx.push(write("x")));
        }
        assert!(tx.is_full());
        assert!(!tx.push(write("y")));
        assert_eq!(tx.len(), BATCH);
    }

    #[test]
    fn a_refused_batch_is_an_error_and_each_datagram_then_fails_alone() {
        // Nobody listens on `gone`'s port: the first datagram draws an ICMP
        // port unreachable, which the kernel reports on a later call.
        let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(gone.local_addr().unwrap()).unwrap();
        drop(gone);
        let mut tx = SendBatch::new();
        assert!(tx.push(write("one")));
        assert!(tx.push(write("two")));
        let first = tx.send(a.as_raw_fd(), 0);
        let until = Instant::now() + Duration::from_secs(5);
        let mut refused = false;
        while !refused && Instant::now() < until {
            refused = tx.send(a.as_raw_fd(), 0).is_err() || !tx.send_one(a.as_raw_fd(), 0);
        }
        assert!(first.is_ok(), "the first batch goes out: {first:?}");
        assert!(refused, "the ICMP error surfaces as a failed send");
    }

    #[test]
    fn a_pending_error_surfaces_from_recv_and_an_oversize_datagram_stays_oversize() {
        let (a, b) = pair();
        let mut rx = RecvBatch::new();
        a.send(&vec![b'z'; RECV_SLOT + 10]).unwrap();
        a.send(b"small").unwrap();
        let got = recv_all(&mut rx, b.as_raw_fd(), 2);
        assert_eq!(got[0].len(), RECV_SLOT);
        assert_eq!(got[1], b"small");

        let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.connect(gone.local_addr().unwrap()).unwrap();
        drop(gone);
        c.send(b"into the void").unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        let mut err = None;
        while err.is_none() && Instant::now() < until {
            err = rx.recv(c.as_raw_fd()).err();
        }
        assert!(err.is_some(), "ECONNREFUSED reported by recvmmsg");
    }
}
