//! The hub's settings: [`HubConfig`] (what the library runs with) and
//! [`Args`] (the `hub` command line, which builds one). Every limit with a
//! default in `limits.rs` has a flag here.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::data::DataConfig;
use crate::limits;

/// Everything the hub needs to run.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub bind: IpAddr,
    pub tcp_port: u16,
    pub udp_port: u16,
    pub admin_bind: IpAddr,
    pub admin_port: u16,
    pub log_file: PathBuf,
    pub cycle_len: u32,
    pub cycle_timeout: Duration,
    pub ack_timeout: Duration,
    pub registration_deadline: Duration,
    /// Device connections at once; `0` means "what RLIMIT_NOFILE allows".
    pub max_connections: usize,
    pub classic: bool,
    /// Read operator commands from stdin.
    pub console: bool,
    pub udp_rcvbuf: usize,
    pub udp_sndbuf: Option<usize>,
    pub tcp_rcvbuf: Option<usize>,
    pub tcp_sndbuf: Option<usize>,
    pub max_line: usize,
    pub max_outbuf: usize,
    pub command_queue: usize,
    /// Unsolicited ACKs after a device's last command before it is dropped.
    pub max_unsolicited_acks: u32,
    pub max_udp_devices: usize,
    pub udp_idle_evict: Duration,
    /// Drop datagrams from names not registered over TCP.
    pub udp_registered_only: bool,
    /// Accept a registered name's datagrams from any address (off by
    /// default: only from its TCP connection's address).
    pub udp_any_source: bool,
    /// Strangers' share of the UDP table; `0` means 3/4 of it.
    pub max_udp_strangers: usize,
    pub reply_rate: u32,
    pub reply_burst: u32,
    pub reply_prefix_rate: u32,
    pub reply_prefix_burst: u32,
    pub max_admin_sessions: usize,
    pub admin_idle_timeout: Duration,
    pub admin_line_deadline: Duration,
    /// Where every accepted reading is recorded; `None`: not recorded.
    pub recorder: Option<PathBuf>,
    /// Recorded rows older than this are deleted; `None` keeps all.
    pub recorder_keep: Option<Duration>,
    /// Rows queued for the recorder's writer before new ones are dropped.
    pub recorder_queue: usize,
    /// HTTP port for `/metrics` and `/healthz` (0 = pick a free one).
    pub metrics_port: u16,
    pub metrics_bind: IpAddr,
    /// Export per-device series (`hub_sensor_value`…): one per device.
    pub metrics_per_device: bool,
    /// HTTP connections at once on the metrics port.
    pub metrics_max_conns: usize,
    /// An HTTP connection is closed this long after it was accepted.
    pub metrics_idle: Duration,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            tcp_port: 5050,
            udp_port: 6060,
            admin_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            admin_port: 5051,
            log_file: PathBuf::from("server_log.txt"),
            cycle_len: limits::CYCLE_LEN,
            cycle_timeout: limits::CYCLE_TIMEOUT,
            ack_timeout: limits::ACK_TIMEOUT,
            registration_deadline: limits::REGISTRATION_DEADLINE,
            max_connections: 0,
            classic: false,
            console: true,
            udp_rcvbuf: limits::UDP_RCVBUF,
            udp_sndbuf: None,
            tcp_rcvbuf: None,
            tcp_sndbuf: None,
            max_line: limits::MAX_LINE,
            max_outbuf: limits::MAX_OUTBUF,
            command_queue: limits::COMMAND_QUEUE,
            max_unsolicited_acks: limits::MAX_UNSOLICITED_ACKS,
            max_udp_devices: limits::MAX_UDP_DEVICES,
            udp_idle_evict: limits::UDP_IDLE_EVICT,
            udp_registered_only: false,
            udp_any_source: false,
            max_udp_strangers: 0,
            reply_rate: limits::REPLY_RATE_PER_SEC,
            reply_burst: limits::REPLY_BURST,
            reply_prefix_rate: limits::REPLY_PREFIX_RATE_PER_SEC,
            reply_prefix_burst: limits::REPLY_PREFIX_BURST,
            max_admin_sessions: limits::MAX_ADMIN_SESSIONS,
            admin_idle_timeout: limits::ADMIN_IDLE_TIMEOUT,
            admin_line_deadline: limits::ADMIN_LINE_DEADLINE,
            recorder: Some(PathBuf::from("readings.db")),
            recorder_keep: Some(crate::recorder::RECORDER_KEEP),
            recorder_queue: crate::recorder::RECORDER_QUEUE,
            metrics_port: crate::metrics::METRICS_PORT,
            metrics_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            metrics_per_device: false,
            metrics_max_conns: crate::metrics::http::MAX_HTTP_CONNS,
            metrics_idle: crate::metrics::http::HTTP_IDLE,
        }
    }
}

impl HubConfig {
    /// A hub for embedding (loadgen, tests): loopback, every port picked by
    /// the kernel, no stdin console, no recorder (the embedder names a file
    /// if it wants one: nothing lands in the working directory).
    pub fn embedded(log_file: PathBuf) -> Self {
        HubConfig {
            tcp_port: 0,
            udp_port: 0,
            admin_port: 0,
            metrics_port: 0,
            recorder: None,
            console: false,
            log_file,
            ..HubConfig::default()
        }
    }

    /// The data plane's share of the settings.
    pub fn data(&self) -> DataConfig {
        DataConfig {
            cycle_len: self.cycle_len,
            cycle_timeout: self.cycle_timeout,
            max_devices: self.max_udp_devices,
            idle_evict: self.udp_idle_evict,
            reply_rate_per_sec: self.reply_rate,
            reply_burst: self.reply_burst,
            reply_prefix_rate_per_sec: self.reply_prefix_rate,
            reply_prefix_burst: self.reply_prefix_burst,
            max_strangers: match self.max_udp_strangers {
                0 => self.max_udp_devices / 4 * 3,
                n => n.min(self.max_udp_devices),
            },
        }
    }

    /// Checks values clap cannot; the message is one line.
    pub fn validate(&self) -> Result<(), String> {
        self.data().validate().map_err(|e| e.to_string())?;
        if self.max_line < 84 {
            return Err(
                "--max-line must be at least 84 (a DEVICE line with two 64-byte names)".into(),
            );
        }
        if self.max_admin_sessions == 0 {
            return Err("--max-admin-sessions must be at least 1".into());
        }
        if self.cycle_timeout.is_zero()
            || self.admin_idle_timeout.is_zero()
            || self.admin_line_deadline.is_zero()
            || self.ack_timeout.is_zero()
            || self.registration_deadline.is_zero()
        {
            return Err("timeouts must be greater than zero".into());
        }
        if self.metrics_max_conns == 0 || self.metrics_idle.is_zero() {
            return Err("--metrics-max-conns and --metrics-idle must be greater than zero".into());
        }
        if self.recorder_queue == 0 {
            return Err("--recorder-queue must be at least 1".into());
        }
        Ok(())
    }
}

/// Parses a duration flag (`500ms`, `3s`, `2m`, plain seconds) for clap.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// Reports a command-line error the way both binaries do: `--help` and
/// `--version` print and succeed; anything else is one line on stderr
/// (`prog: …`, not clap's usage block, so scripts can read it) and exit 2.
pub fn clap_failure(prog: &str, e: clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return std::process::ExitCode::SUCCESS;
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("bad arguments");
    eprintln!(
        "{prog}: {} (see {prog} --help)",
        first.trim_start_matches("error: ")
    );
    std::process::ExitCode::from(2)
}

/// The `hub` command line.
#[derive(Debug, Parser)]
#[command(
    name = "hub",
    version,
    about = "Smart-home hub: TCP control, UDP data, one event loop"
)]
pub struct Args {
    /// Address for the device ports (TCP and UDP); 0.0.0.0 for all interfaces.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// TCP control port (0 = pick a free one and print it).
    #[arg(long, default_value_t = 5050)]
    pub tcp_port: u16,
    /// UDP data port (0 = pick a free one and print it).
    #[arg(long, default_value_t = 6060)]
    pub udp_port: u16,
    /// Admin port (line commands, JSON replies; 0 = pick a free one).
    #[arg(long, default_value_t = 5051)]
    pub admin_port: u16,
    /// Address for the admin port; loopback whatever --bind says.
    #[arg(long, default_value = "127.0.0.1")]
    pub admin_bind: IpAddr,
    /// Event log (appended to).
    #[arg(long, default_value = "server_log.txt")]
    pub log_file: PathBuf,
    /// Datagrams per cycle (1..=64).
    #[arg(long, default_value_t = limits::CYCLE_LEN)]
    pub cycle_len: u32,
    /// A cycle idle this long closes and its STATUS goes out.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub cycle_timeout: Duration,
    /// An ACK not back within this is logged as a timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub ack_timeout: Duration,
    /// A connection must register within this.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub registration_deadline: Duration,
    /// Device connections at once (0 = RLIMIT_NOFILE minus a reserve).
    #[arg(long, default_value_t = 0)]
    pub max_connections: usize,
    /// Reproduce the original single-device demo's terminal output.
    #[arg(long)]
    pub classic: bool,
    /// Do not read operator commands from stdin.
    #[arg(long)]
    pub no_console: bool,
    /// UDP receive buffer to request, bytes (the granted size is printed).
    #[arg(long, default_value_t = limits::UDP_RCVBUF)]
    pub udp_rcvbuf: usize,
    /// UDP send buffer, bytes (default: the kernel's).
    #[arg(long)]
    pub udp_sndbuf: Option<usize>,
    /// TCP receive buffer per device connection, bytes (default: the kernel's).
    #[arg(long)]
    pub tcp_rcvbuf: Option<usize>,
    /// TCP send buffer per device connection, bytes (default: the kernel's).
    #[arg(long)]
    pub tcp_sndbuf: Option<usize>,
    /// Longest control message, bytes; longer closes the connection.
    #[arg(long, default_value_t = limits::MAX_LINE)]
    pub max_line: usize,
    /// Bytes queued for a peer that does not read before it is dropped.
    #[arg(long, default_value_t = limits::MAX_OUTBUF)]
    pub max_outbuf: usize,
    /// Commands queued per device behind the outstanding one.
    #[arg(long, default_value_t = limits::COMMAND_QUEUE)]
    pub command_queue: usize,
    /// ACKs with no command outstanding a device may send after its last
    /// command; one more is an ERROR and a disconnect.
    #[arg(long, default_value_t = limits::MAX_UNSOLICITED_ACKS)]
    pub max_unsolicited_acks: u32,
    /// Devices whose UDP cycle state is kept at once.
    #[arg(long, default_value_t = limits::MAX_UDP_DEVICES)]
    pub max_udp_devices: usize,
    /// UDP state idle this long is evicted.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub udp_idle_evict: Duration,
    /// Drop datagrams from names not registered over TCP (counted).
    #[arg(long)]
    pub udp_registered_only: bool,
    /// Accept datagrams for a TCP-registered name from any address (by
    /// default only from its TCP connection's address; others are dropped).
    #[arg(long)]
    pub udp_any_source: bool,
    /// UDP state kept for names not registered over TCP (0 = 3/4 of
    /// --max-udp-devices); past it the oldest stranger is evicted.
    #[arg(long, default_value_t = 0)]
    pub max_udp_strangers: usize,
    /// STATUS replies per second one source address (any port) may receive
    /// when they are larger than the datagrams they answer.
    #[arg(long, default_value_t = limits::REPLY_RATE_PER_SEC)]
    pub reply_rate: u32,
    /// The same, in a burst.
    #[arg(long, default_value_t = limits::REPLY_BURST)]
    pub reply_burst: u32,
    /// The same per /24 (IPv4) or /64 (IPv6) prefix, per second.
    #[arg(long, default_value_t = limits::REPLY_PREFIX_RATE_PER_SEC)]
    pub reply_prefix_rate: u32,
    /// The same per prefix, in a burst.
    #[arg(long, default_value_t = limits::REPLY_PREFIX_BURST)]
    pub reply_prefix_burst: u32,
    /// Admin sessions at once; at the cap a new one evicts the longest idle.
    #[arg(long, default_value_t = limits::MAX_ADMIN_SESSIONS)]
    pub max_admin_sessions: usize,
    /// An admin session with no complete line for this long is closed.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub admin_idle_timeout: Duration,
    /// An admin line begun must end within this.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub admin_line_deadline: Duration,
    /// SQLite database every accepted reading is recorded in.
    #[arg(long, default_value = "readings.db")]
    pub recorder: PathBuf,
    /// Record nothing.
    #[arg(long)]
    pub no_recorder: bool,
    /// Delete recorded rows older than this (e.g. 7d, 12h; 0 keeps all).
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub recorder_keep: Duration,
    /// Rows queued for the recorder's writer; past it rows are dropped (counted).
    #[arg(long, default_value_t = crate::recorder::RECORDER_QUEUE)]
    pub recorder_queue: usize,
    /// HTTP port for /metrics and /healthz (0 = pick a free one and print it).
    #[arg(long, default_value_t = crate::metrics::METRICS_PORT)]
    pub metrics_port: u16,
    /// Address for the metrics port; loopback whatever --bind says.
    #[arg(long, default_value = "127.0.0.1")]
    pub metrics_bind: IpAddr,
    /// Also export one series per device (hub_sensor_value, hub_sensor_age_seconds).
    #[arg(long)]
    pub metrics_per_device: bool,
    /// HTTP connections at once on the metrics port; more get a 503.
    #[arg(long, default_value_t = crate::metrics::http::MAX_HTTP_CONNS)]
    pub metrics_max_conns: usize,
    /// An HTTP connection must send its request and read the reply within this.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub metrics_idle: Duration,
}

impl Args {
    pub fn into_config(self) -> Result<HubConfig, String> {
        let cfg = HubConfig {
            bind: self.bind,
            tcp_port: self.tcp_port,
            udp_port: self.udp_port,
            admin_bind: self.admin_bind,
            admin_port: self.admin_port,
            log_file: self.log_file,
            cycle_len: self.cycle_len,
            cycle_timeout: self.cycle_timeout,
            ack_timeout: self.ack_timeout,
            registration_deadline: self.registration_deadline,
            max_connections: self.max_connections,
            classic: self.classic,
            console: !self.no_console,
            udp_rcvbuf: self.udp_rcvbuf,
            udp_sndbuf: self.udp_sndbuf,
            tcp_rcvbuf: self.tcp_rcvbuf,
            tcp_sndbuf: self.tcp_sndbuf,
            max_line: self.max_line,
            max_outbuf: self.max_outbuf,
            command_queue: self.command_queue,
            max_unsolicited_acks: self.max_unsolicited_acks,
            max_udp_devices: self.max_udp_devices,
            udp_idle_evict: self.udp_idle_evict,
            udp_registered_only: self.udp_registered_only,
            udp_any_source: self.udp_any_source,
            max_udp_strangers: self.max_udp_strangers,
            reply_rate: self.reply_rate,
            reply_burst: self.reply_burst,
            reply_prefix_rate: self.reply_prefix_rate,
            reply_prefix_burst: self.reply_prefix_burst,
            max_admin_sessions: self.max_admin_sessions,
            admin_idle_timeout: self.admin_idle_timeout,
            admin_line_deadline: self.admin_line_deadline,
            recorder: (!self.no_recorder).then_some(self.recorder),
            recorder_keep: (!self.recorder_keep.is_zero()).then_some(self.recorder_keep),
            recorder_queue: self.recorder_queue,
            metrics_port: self.metrics_port,
            metrics_bind: self.metrics_bind,
            metrics_per_device: self.metrics_per_device,
            metrics_max_conns: self.metrics_max_conns,
            metrics_idle: self.metrics_idle,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "x", "3y", "-1s", "nan", "inf", "3 parsecs"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_match_the_protocol() {
        let a = Args::parse_from(["hub"]);
        let c = a.into_config().unwrap();
        assert_eq!((c.tcp_port, c.udp_port, c.admin_port), (5050, 6060, 5051));
        assert_eq!(c.bind.to_string(), "127.0.0.1");
        assert_eq!(c.admin_bind.to_string(), "127.0.0.1");
        assert_eq!(c.cycle_timeout, Duration::from_secs(3));
        assert_eq!(c.ack_timeout, Duration::from_secs(10));
        assert_eq!(c.recorder, Some(PathBuf::from("readings.db")));
        assert_eq!(c.recorder_keep, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(
            (c.metrics_port, c.metrics_bind.to_string().as_str()),
            (9464, "127.0.0.1")
        );
        let off = Args::parse_from(["hub", "--no-recorder", "--recorder-keep", "0"]);
        let off = off.into_config().unwrap();
        assert_eq!((off.recorder, off.recorder_keep), (None, None));
        let emb = HubConfig::embedded("x.log".into());
        assert_eq!((emb.recorder, emb.metrics_port), (None, 0));
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Args::try_parse_from(["hub", "--tcp-port", "70000"]).is_err());
        assert!(Args::try_parse_from(["hub", "--bind", "nowhere"]).is_err());
        let a = Args::parse_from(["hub", "--cycle-len", "65"]);
        assert!(a.into_config().is_err());
    }
}
