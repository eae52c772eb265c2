//! Socket construction with socket2: address reuse (TCP only), backlog, buffer sizes,
//! non-blocking mode; then handed to mio.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Buffer sizes to ask for; `None` keeps the kernel's default.
#[derive(Debug, Clone, Copy, Default)]
pub struct BufSizes {
    pub rcv: Option<usize>,
    pub snd: Option<usize>,
}

fn apply(sock: &Socket, bufs: BufSizes) -> io::Result<()> {
    if let Some(n) = bufs.rcv {
        sock.set_recv_buffer_size(n)?;
    }
    if let Some(n) = bufs.snd {
        sock.set_send_buffer_size(n)?;
    }
    Ok(())
}

/// A listening TCP socket. Accepted sockets inherit the buffer sizes.
pub fn tcp_listener(
    addr: SocketAddr,
    backlog: i32,
    bufs: BufSizes,
) -> io::Result<mio::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    apply(&sock, bufs)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(sock.into()))
}

/// A bound UDP socket and the receive buffer the kernel actually granted
/// (Linux reports double the request, capped by `net.core.rmem_max`).
pub fn udp_socket(addr: SocketAddr, bufs: BufSizes) -> io::Result<(mio::net::UdpSocket, usize)> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // No SO_REUSEADDR: on UDP it lets a second hub bind the same port and
    // silently share the readings. A port in use must be refused.
    apply(&sock, bufs)?;
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    let granted = sock.recv_buffer_size()?;
    Ok((mio::net::UdpSocket::from_std(sock.into()), granted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_grants_a_receive_buffer() {
        let (s, granted) = udp_socket(
            "127.0.0.1:0".parse().unwrap(),
            BufSizes {
                rcv: Some(1 << 20),
                snd: None,
            },
        )
        .unwrap();
        assert!(granted >= 1 << 20, "granted {granted}");
        assert_ne!(s.local_addr().unwrap().port(), 0);
        let l = tcp_listener("127.0.0.1:0".parse().unwrap(), 128, BufSizes::default()).unwrap();
        assert_ne!(l.local_addr().unwrap().port(), 0);
    }
}
