//! `loadgen classic`: the original single-device clients, transcript for
//! transcript: `tcp` is `tcp_client.py` (register, ACK every command, end
//! when the hub closes), `udp` is `udp_client.py` (10-packet cycles without
//! `CYCLE:`, wait for STATUS, pause, repeat), and with neither both run
//! side by side as Sensor01.
//!
//! Each client writes its lines to any `Write`, so tests read the exact
//! transcript. They use blocking sockets with timeouts: one device needs
//! no event loop, and every wait is bounded.

pub mod tcp;
pub mod udp;

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::{Args, ValueEnum};

use hub::duration::parse_duration;

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// Which original client to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Which {
    Tcp,
    Udp,
}

/// Flags of `loadgen classic`.
#[derive(Debug, Clone, Args)]
pub struct ClassicArgs {
    /// `tcp` or `udp`; neither runs both.
    pub which: Option<Which>,
    /// The hub's host (a name or an address).
    #[arg(long, default_value = "127.0.0.1")]
    pub hub: String,
    #[arg(long, default_value_t = 5050)]
    pub tcp_port: u16,
    #[arg(long, default_value_t = 6060)]
    pub udp_port: u16,
    #[arg(long, default_value = "Sensor01")]
    pub name: String,
    #[arg(long = "type", default_value = "temperature")]
    pub kind: String,
    /// UDP cycles to send (0 = until interrupted).
    #[arg(long, default_value_t = 2)]
    pub cycles: u64,
    /// Datagrams per cycle.
    #[arg(long, default_value_t = 10)]
    pub cycle_len: u32,
    /// Pause between two packets of a cycle.
    #[arg(long, default_value = "100ms", value_parser = duration)]
    pub packet_gap: Duration,
    /// Pause after a cycle's STATUS, before the next cycle.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub cycle_pause: Duration,
    /// How long to wait for STATUS after a cycle (as the original: 5 s).
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub status_timeout: Duration,
    /// The TCP client gives up when no command arrives for this long.
    #[arg(long, default_value = "10m", value_parser = duration)]
    pub idle_timeout: Duration,
    /// Seed for the simulated readings.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Why a classic client stopped early.
#[derive(Debug)]
pub enum ClassicError {
    Resolve(String),
    Connect(SocketAddr, io::Error),
    Io(io::Error),
}

impl std::fmt::Display for ClassicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassicError::Resolve(h) => write!(f, "cannot resolve hub host '{h}'"),
            ClassicError::Connect(a, e) => write!(f, "cannot connect to the hub at {a}: {e}"),
            ClassicError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClassicError {}

impl From<io::Error> for ClassicError {
    fn from(e: io::Error) -> Self {
        ClassicError::Io(e)
    }
}

pub(crate) fn resolve(host: &str, port: u16) -> Result<SocketAddr, ClassicError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| ClassicError::Resolve(host.to_string()))
}

/// A line sink several client threads can share; every line is flushed.
#[derive(Clone)]
pub struct Transcript(Arc<Mutex<Box<dyn Write + Send>>>);

impl Transcript {
    pub fn new(w: impl Write + Send + 'static) -> Self {
        Transcript(Arc::new(Mutex::new(Box::new(w))))
    }

    pub fn line(&self, text: &str) {
        if let Ok(mut w) = self.0.lock() {
            let _ = writeln!(w, "{text}");
            let _ = w.flush();
        }
    }
}

/// Runs `loadgen classic [tcp|udp]`, printing to stdout.
pub fn run(args: &ClassicArgs) -> Result<(), ClassicError> {
    let out = Transcript::new(io::stdout());
    match args.which {
        Some(Which::Tcp) => tcp::run(args, &out),
        Some(Which::Udp) => udp::run(args, &out),
        None => {
            let (a, o) = (args.clone(), out.clone());
            let udp = std::thread::spawn(move || udp::run(&a, &o));
            let tcp = tcp::run(args, &out);
            let udp = udp
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("udp client panicked").into()));
            tcp.and(udp)
        }
    }
}
