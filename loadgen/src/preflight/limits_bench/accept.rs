//! (b) Connection intake: a bare blocking accept-and-read loop (accept
//! all `n`, then read the registration line of each) against the hub's connect+register,
//! both fed by [`fleet::connect`]. The hub is done when its admin `stats`
//! shows every device registered.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use super::{fleet, hub_config, BenchError};

/// Longest a round may take.
pub const ROUND_LIMIT: Duration = Duration::from_secs(30);
/// How often the hub's `stats` is polled for `registered`.
pub const STATS_POLL: Duration = Duration::from_millis(1);
/// Listen backlog of the bare server (the hub uses the kernel's maximum).
const BACKLOG: i32 = 4096;

/// A listener on a free loopback port whose `accept` times out.
pub fn listener() -> Result<TcpListener, BenchError> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    s.listen(BACKLOG)?;
    // SO_RCVTIMEO bounds accept() on Linux.
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    Ok(s.into())
}

/// Connections per second of the bare loop.
pub fn bare_round(n: usize) -> Result<f64, BenchError> {
    let l = listener()?;
    let addr = l.local_addr()?;
    let server = std::thread::Builder::new()
        .name("bare-accept".into())
        .spawn(
            move || -> Result<(Instant, Vec<std::net::TcpStream>), BenchError> {
                // Accept everything first, then read: the loop never waits
                // on one client's write while others queue in the backlog.
                let mut held = Vec::with_capacity(n);
                for _ in 0..n {
                    let (s, _) = l.accept()?;
                    s.set_read_timeout(Some(Duration::from_secs(5)))?;
                    held.push(s);
                }
                let mut line = String::new();
                for s in &mut held {
                    let mut r = BufReader::new(s);
                    line.clear();
                    r.read_line(&mut line)?;
                }
                Ok((Instant::now(), held))
            },
        )?;
    let t0 = Instant::now();
    let clients = fleet::connect(addr, n);
    let (end, _held) = server
        .join()
        .map_err(|_| BenchError::Thread("bare-accept"))??;
    drop(clients?);
    Ok(n as f64 / end.duration_since(t0).as_secs_f64())
}

/// Registrations per second of the embedded hub.
pub fn hub_round(n: usize) -> Result<f64, BenchError> {
    let hub = hub::server::Hub::bind(hub_config())?.spawn()?;
    let (tcp, admin) = (hub.tcp_addr, hub.admin_addr);
    let t0 = Instant::now();
    let client = std::thread::Builder::new()
        .name("lg-connect".into())
        .spawn(move || fleet::connect(tcp, n))?;
    let end = wait_registered(admin, n as u64, t0 + ROUND_LIMIT);
    let clients = client
        .join()
        .map_err(|_| BenchError::Thread("lg-connect"))?;
    let end = end?;
    drop(clients?);
    hub.shutdown()?;
    Ok(n as f64 / end.duration_since(t0).as_secs_f64())
}

/// Polls `stats` until `registered >= n`; returns when it was seen.
pub fn wait_registered(
    admin: SocketAddr,
    n: u64,
    deadline: Instant,
) -> Result<Instant, BenchError> {
    let mut admin = crate::live::operator::Admin::connect(admin)?;
    loop {
        let registered = admin.stats()?.registered;
        let now = Instant::now();
        if registered >= n {
            return Ok(now);
        }
        if now > deadline {
            return Err(BenchError::Timeout(format!(
                "hub registered {registered} of {n}"
            )));
        }
        std::thread::sleep(STATS_POLL);
    }
}
