//! Protocol clients speaking raw bytes: an admin session (the workspace's
//! one admin client, `hub::ops::client::Admin`, with panicking reads), a
//! device's TCP side and its UDP side. Every read is bounded by [`WAIT`].

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::WAIT;

/// An admin session: one command per line, one JSON object per reply line.
/// A thin test face on `hub::ops::client::Admin`: reads panic instead of
/// returning errors, and wait at most [`WAIT`].
pub struct Admin(hub::ops::client::Admin);

impl Admin {
    pub fn connect(addr: SocketAddr) -> Admin {
        Admin(hub::ops::client::Admin::connect(addr).expect("admin connect"))
    }

    pub fn send(&mut self, line: &str) {
        self.0.send_line(line).expect("admin send");
    }

    /// The next reply line, whatever its `ok`.
    pub fn read(&mut self) -> Value {
        self.0
            .next_json(Instant::now() + WAIT, "an admin reply")
            .expect("admin reply")
    }

    pub fn cmd(&mut self, line: &str) -> Value {
        self.send(line);
        self.read()
    }
}

/// A device's TCP side, speaking raw bytes.
pub struct Device {
    pub stream: TcpStream,
    pub newline: bool,
}

impl Device {
    /// Connects and registers as `name`; `newline` picks the framing.
    pub fn register(hub: SocketAddr, name: &str, kind: &str, newline: bool) -> Device {
        let mut d = Device::connect(hub, newline);
        d.send(&format!("DEVICE {name} TYPE {kind}"));
        d
    }

    pub fn connect(hub: SocketAddr, newline: bool) -> Device {
        let stream = TcpStream::connect(hub).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Device { stream, newline }
    }

    pub fn send(&mut self, msg: &str) {
        let mut bytes = msg.as_bytes().to_vec();
        if self.newline {
            bytes.push(b'\n');
        }
        self.stream.write_all(&bytes).unwrap();
    }

    /// One `recv(1024)`, as the original client does. Empty = closed.
    pub fn recv(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 1024];
        match self.stream.read(&mut buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Vec::new(),
            Err(e) => panic!("recv: {e}"),
        }
    }

    pub fn recv_text(&mut self) -> String {
        String::from_utf8(self.recv()).unwrap()
    }

    /// Answers one command with an ACK; returns the command text.
    pub fn ack_one(&mut self) -> String {
        let cmd = self.recv_text();
        assert!(
            !cmd.is_empty(),
            "connection closed while waiting for a command"
        );
        self.send("ACK Command Executed");
        cmd
    }
}

/// A device's UDP side.
pub struct Sensor {
    pub sock: UdpSocket,
    pub hub: SocketAddr,
}

impl Sensor {
    pub fn new(hub: SocketAddr) -> Sensor {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        Sensor { sock, hub }
    }

    pub fn send(&self, bytes: &[u8]) {
        self.sock.send_to(bytes, self.hub).unwrap();
    }

    /// The original datagram shape, with an optional CYCLE.
    pub fn reading(&self, name: &str, seq: u32, cycle: Option<u64>) {
        let mut s = format!("{name},2025-10-22 18:20:15,temperature,24.8,SEQ:{seq}");
        if let Some(c) = cycle {
            s.push_str(&format!(",CYCLE:{c}"));
        }
        self.send(s.as_bytes());
    }

    /// A whole cycle, SEQ 1..=`n` in the original shape, in one `sendmmsg`
    /// call: the datagrams reach the hub's socket together, so a test
    /// thread descheduled mid-cycle on a loaded machine cannot make a short
    /// `--cycle-timeout` close the cycle early.
    pub fn cycle(&self, name: &str, n: u32) {
        use std::os::fd::AsRawFd;
        let msgs: Vec<Vec<u8>> = (1..=n)
            .map(|seq| {
                format!("{name},2025-10-22 18:20:15,temperature,24.8,SEQ:{seq}").into_bytes()
            })
            .collect();
        let SocketAddr::V4(v4) = self.hub else {
            panic!("Sensor::cycle: IPv4 hubs only")
        };
        let dest = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(*v4.ip()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let mut iovs: Vec<libc::iovec> = msgs
            .iter()
            .map(|m| libc::iovec {
                iov_base: m.as_ptr() as *mut libc::c_void,
                iov_len: m.len(),
            })
            .collect();
        let mut hdrs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .map(|iov| {
                // SAFETY: an all-zero msghdr is valid; the fields set below
                // point at `dest` and `iov`, which outlive the call.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = &dest as *const libc::sockaddr_in as *mut libc::c_void;
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        let mut sent = 0;
        while sent < hdrs.len() {
            // SAFETY: `hdrs[sent..]` are valid mmsghdrs (see above).
            let r = unsafe {
                libc::sendmmsg(
                    self.sock.as_raw_fd(),
                    hdrs[sent..].as_mut_ptr(),
                    (hdrs.len() - sent) as libc::c_uint,
                    0,
                )
            };
            assert!(r > 0, "sendmmsg: {}", std::io::Error::last_os_error());
            sent += r as usize;
        }
    }

    pub fn recv_status(&self) -> String {
        let mut buf = [0u8; 2048];
        let (n, _) = self.sock.recv_from(&mut buf).expect("STATUS");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    /// True if nothing arrives within `wait`.
    pub fn silent_for(&self, wait: Duration) -> bool {
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 2048];
        let r = self.sock.recv_from(&mut buf);
        self.sock.set_read_timeout(Some(WAIT)).unwrap();
        r.is_err()
    }
}
