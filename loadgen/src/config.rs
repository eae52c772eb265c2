//! The validated run configuration. [`RunConfig::from_args`] turns raw CLI
//! flags into values the engine can trust (loopback-only targets, sane
//! ranges, resolved defaults); everything downstream reads only this.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::cli::RunArgs;
use crate::device::faults::{Delay, Faults};
use crate::device::line::MAX_HELD;
use crate::stages::{StageTarget, Stages};
use hub::limits::{MAX_CYCLE_LEN, MAX_IDENT, MAX_INTERVAL_SECS};

/// Most devices one run may ask for: each costs three descriptors and two
/// ephemeral ports, and `--source-ips` spreads ports over at most 2^16 hosts.
pub const MAX_DEVICES: u32 = 1_000_000;

/// Largest worker count; beyond the core count more threads only add
/// contention.
pub const MAX_THREADS: usize = 64;

/// Extra drain time after the STATUS timeout, for the last ACKs and STATUSes.
pub const DRAIN_SLACK: Duration = Duration::from_secs(2);

/// Longest `--duration`, `--warmup` (a week): far beyond any load test,
/// and far from `Instant` overflow.
pub const MAX_RUN: Duration = Duration::from_secs(7 * 86_400);
/// Longest `--status-timeout`, `--drain`, `--interval`, `--kick-every`,
/// `--command-every`, `--registration-grace`, `--progress-every` (a day).
pub const MAX_WAIT: Duration = Duration::from_secs(86_400);
/// Shortest per-device gap between datagrams (`devices / --rate`) and
/// between connects (`1 / --connect-rate`): below a microsecond the timer
/// cannot pace it and the worker would only spin.
pub const MIN_GAP: Duration = Duration::from_micros(1);
/// Longest ramp-up (`devices / --connect-rate`) and per-device datagram gap.
pub const MAX_RAMP: Duration = Duration::from_secs(86_400);
/// `--duration` when neither it nor `--stages` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// A flag value that cannot be run, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

/// Where the hub is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Target {
    /// Start the hub library on its own thread, free loopback ports.
    Embedded,
    External {
        tcp: SocketAddr,
        udp: SocketAddr,
        admin: SocketAddr,
    },
}

/// Where the embedded hub's recorder writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", tag = "kind", content = "path")]
pub enum HubRecorder {
    /// A file in the temp directory, removed after the run.
    Temp,
    /// `--hub-recorder PATH`, kept.
    Path(std::path::PathBuf),
    /// `--hub-no-recorder`.
    Off,
}

/// How devices pace their datagrams.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Pace {
    /// Send a cycle, wait for STATUS (or the timeout), wait the interval.
    ClosedLoop { interval_ms: u64 },
    /// Each device sends at `rate / devices` per second, never waiting.
    OpenLoop { rate: f64 },
}

/// Everything a run needs, validated. It reads back from a report's
/// `config` too: fields newer than the oldest reports this build reads
/// carry `#[serde(default)]` (an older run had no such flag: empty, off,
/// 0 ms, `text`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub devices: u32,
    pub prefix: String,
    pub first_id: u64,
    /// Digits of the zero-padded device number.
    pub id_width: usize,
    pub types: Vec<String>,
    pub cycle_len: u32,
    #[serde(serialize_with = "ser_ms", deserialize_with = "de_ms")]
    pub status_timeout: Duration,
    #[serde(serialize_with = "ser_ms", deserialize_with = "de_ms")]
    pub interval: Duration,
    pub pace: Pace,
    #[serde(serialize_with = "ser_ms", deserialize_with = "de_ms")]
    pub duration: Duration,
    #[serde(serialize_with = "ser_ms", deserialize_with = "de_ms")]
    pub warmup: Duration,
    #[serde(serialize_with = "ser_ms", deserialize_with = "de_ms")]
    pub drain: Duration,
    pub connect_rate: f64,
    pub threads: usize,
    #[serde(default, serialize_with = "ser_opt_ms", deserialize_with = "de_opt_ms")]
    pub command_every: Option<Duration>,
    pub set_interval: u32,
    #[serde(default, serialize_with = "ser_opt_ms", deserialize_with = "de_opt_ms")]
    pub kick_every: Option<Duration>,
    /// `--require-admin` (false in reports from before it).
    #[serde(default)]
    pub require_admin: bool,
    pub loss: f64,
    /// `--reorder`, `--duplicate`, `--corrupt`, `--delay` (all off in
    /// reports from before them).
    #[serde(default)]
    pub faults: Faults,
    pub seed: u64,
    pub target: Target,
    /// Where the embedded hub records readings (ignored for an external hub;
    /// `off` in reports from before the embedded hub had a recorder).
    #[serde(default = "HubRecorder::off")]
    pub hub_recorder: HubRecorder,
    pub source_ips: Vec<Ipv4Addr>,
    pub quiet: bool,
    pub max_p99_ms: Option<f64>,
    pub max_unexplained_loss: Option<u64>,
    pub min_registered: Option<u32>,
    /// Checks allowed to fail (`--allow-failed-check`).
    #[serde(default)]
    pub allow_failed_checks: Vec<String>,
    #[serde(default = "summary_text")]
    pub summary: crate::cli::SummaryMode,
    #[serde(default, serialize_with = "ser_ms", deserialize_with = "de_ms")]
    pub progress_every: Duration,
    #[serde(default, serialize_with = "ser_ms", deserialize_with = "de_ms")]
    pub max_send_lag: Duration,
    #[serde(default, serialize_with = "ser_ms", deserialize_with = "de_ms")]
    pub registration_grace: Duration,
    /// `--stages` with its `--stage-target` (absent: no stages). With a
    /// rate target, `pace` is open loop at the highest stage's rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Stages>,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(d.as_millis() as u64),
        None => s.serialize_none(),
    }
}

fn de_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

fn de_opt_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<u64>::deserialize(d).map(|v| v.map(Duration::from_millis))
}

fn summary_text() -> crate::cli::SummaryMode {
    crate::cli::SummaryMode::Text
}

impl HubRecorder {
    fn off() -> Self {
        HubRecorder::Off
    }
}

impl RunConfig {
    /// Validates raw flags. `cores` is the machine's core count and `seed`
    /// the fallback seed when `--seed` is absent.
    pub fn from_args(a: &RunArgs, cores: usize, clock_seed: u64) -> Result<Self, ConfigError> {
        if a.devices == 0 || a.devices > MAX_DEVICES {
            return Err(bad(format!("--devices must be 1..={MAX_DEVICES}")));
        }
        if !(0.0..1.0).contains(&a.loss) {
            return Err(bad("--loss must be a probability in [0, 1)"));
        }
        let faults = Faults {
            reorder: a.reorder,
            duplicate: a.duplicate,
            corrupt: a.corrupt,
            delay: match &a.delay {
                Some(d) => Delay::parse(d).map_err(bad)?,
                None => Delay::default(),
            },
        };
        faults.validate().map_err(bad)?;
        if a.cycle_len == 0 || a.cycle_len > MAX_CYCLE_LEN {
            return Err(bad(format!("--cycle-len must be 1..={MAX_CYCLE_LEN}")));
        }
        let types: Vec<String> = a
            .types
            .split(',')
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if types.is_empty() {
            return Err(bad("--types needs at least one type"));
        }
        for t in &types {
            hub::protocol::ident::check(t.as_bytes())
                .map_err(|e| bad(format!("--types: `{t}`: {e}")))?;
        }
        let last = a
            .first_id
            .checked_add(u64::from(a.devices) - 1)
            .ok_or_else(|| bad("--first-id: the last device number would overflow"))?;
        let id_width = last.to_string().len().max(2);
        let longest = format!("{}{:0w$}", a.prefix, last, w = id_width);
        if longest.len() > MAX_IDENT {
            return Err(bad(format!("device names would exceed {MAX_IDENT} bytes")));
        }
        hub::protocol::ident::check(longest.as_bytes())
            .map_err(|e| bad(format!("--prefix: device name {e}")))?;
        if !(a.connect_rate > 0.0 && a.connect_rate.is_finite()) {
            return Err(bad("--connect-rate must be a positive number"));
        }
        let per_connect = 1.0 / a.connect_rate;
        if per_connect < MIN_GAP.as_secs_f64() {
            return Err(bad("--connect-rate: more than one connect per microsecond"));
        }
        if f64::from(a.devices) * per_connect > MAX_RAMP.as_secs_f64() {
            return Err(bad(format!(
                "--connect-rate: the ramp-up (devices / rate) would exceed {} s",
                MAX_RAMP.as_secs()
            )));
        }
        let stages = match &a.stages {
            None => None,
            Some(t) => Some(Stages::parse(t, a.stage_target).map_err(|e| bad(e.to_string()))?),
        };
        let duration = match (&stages, a.duration) {
            (Some(s), Some(d)) if d.as_millis() != s.total().as_millis() => {
                return Err(bad(format!(
                    "--duration {:.3}s disagrees with --stages, whose sum is {:.3}s (leave --duration out)",
                    d.as_secs_f64(),
                    s.total().as_secs_f64()
                )))
            }
            (Some(s), _) => s.total(),
            (None, d) => d.unwrap_or(DEFAULT_DURATION),
        };
        if let Some(s) = &stages {
            s.check_fleet(a.devices, a.rate.is_some(), MIN_GAP)
                .map_err(|e| bad(e.to_string()))?;
        }
        let rate_stages = stages
            .as_ref()
            .is_some_and(|s| s.target == StageTarget::Rate);
        for (flag, d, max) in [
            ("--duration", duration, MAX_RUN),
            ("--warmup", a.warmup, MAX_RUN),
            ("--status-timeout", a.status_timeout, MAX_WAIT),
            ("--interval", a.interval, MAX_WAIT),
            ("--command-every", a.command_every, MAX_WAIT),
            ("--registration-grace", a.registration_grace, MAX_WAIT),
            ("--progress-every", a.progress_every, MAX_WAIT),
            ("--drain", a.drain.unwrap_or_default(), MAX_WAIT),
            ("--kick-every", a.kick_every.unwrap_or_default(), MAX_WAIT),
        ] {
            if d > max {
                return Err(bad(format!("{flag} must be at most {} s", max.as_secs())));
            }
        }
        if let Some(n) = a
            .allow_failed_check
            .iter()
            .find(|n| !crate::report::check_names::known(n))
        {
            return Err(bad(format!(
                "--allow-failed-check {n}: no such check (one of: {})",
                crate::report::check_names::all().join(", ")
            )));
        }
        if a.progress_every.is_zero() {
            return Err(bad("--progress-every must be positive"));
        }
        if !(a.max_send_lag_ms > 0.0 && a.max_send_lag_ms <= MAX_WAIT.as_secs_f64() * 1e3) {
            return Err(bad("--max-send-lag-ms must be positive and at most a day"));
        }
        if a.max_p99_ms.is_some_and(|m| !(m >= 0.0 && m.is_finite())) {
            return Err(bad("--max-p99-ms must be a non-negative number"));
        }
        if a.interval.is_zero() && a.rate.is_none() && !rate_stages {
            return Err(bad("--interval must be positive"));
        }
        if a.status_timeout.is_zero() {
            return Err(bad("--status-timeout must be positive"));
        }
        if duration.is_zero() {
            return Err(bad("--duration must be positive"));
        }
        let pace = match a.rate {
            None if rate_stages => Pace::OpenLoop {
                rate: stages.as_ref().map_or(0.0, Stages::peak),
            },
            Some(r) if r > 0.0 && r.is_finite() => {
                let gap = f64::from(a.devices) / r;
                if gap < MIN_GAP.as_secs_f64() {
                    return Err(bad(format!(
                        "--rate {r}: more than one datagram per microsecond per device (at most {} with {} devices)",
                        f64::from(a.devices) * 1e6,
                        a.devices
                    )));
                }
                if gap > MAX_RAMP.as_secs_f64() {
                    return Err(bad(format!(
                        "--rate {r}: less than one datagram per day per device"
                    )));
                }
                // A device holds every datagram of its delay in its line.
                let held = faults.delay.max().as_secs_f64() / gap;
                if held > MAX_HELD as f64 {
                    return Err(bad(format!(
                        "--delay {}: a device would hold {held:.0} datagrams at once (delay × rate / devices), more than {MAX_HELD}",
                        faults.delay
                    )));
                }
                Pace::OpenLoop { rate: r }
            }
            Some(_) => return Err(bad("--rate must be a positive number")),
            None => Pace::ClosedLoop {
                interval_ms: a.interval.as_millis() as u64,
            },
        };
        let target = match &a.hub {
            None => Target::Embedded,
            Some(host) => {
                let ip = resolve_hub(host, a.allow_remote)?;
                let admin_ip = match &a.admin_host {
                    Some(h) => resolve_hub(h, a.allow_remote)
                        .map_err(|e| bad(e.0.replacen("--hub", "--admin-host", 1)))?,
                    None => ip,
                };
                Target::External {
                    tcp: SocketAddr::new(ip, a.tcp_port),
                    udp: SocketAddr::new(ip, a.udp_port),
                    admin: SocketAddr::new(admin_ip, a.admin_port),
                }
            }
        };
        let embedded = target == Target::Embedded;
        let threads = match a.threads {
            Some(0) => return Err(bad("--threads must be at least 1")),
            Some(t) => t.min(MAX_THREADS),
            None if embedded => cores.saturating_sub(1).max(1),
            None => cores.max(1),
        }
        .min(a.devices as usize);
        let set_interval = a
            .set_interval
            .unwrap_or_else(|| a.interval.as_secs_f64().ceil().max(1.0) as u32);
        if !(1..=MAX_INTERVAL_SECS).contains(&set_interval) {
            return Err(bad(format!(
                "--set-interval must be 1..={MAX_INTERVAL_SECS}"
            )));
        }
        if a.kick_every.is_some_and(|d| d.is_zero()) {
            return Err(bad("--kick-every must be positive"));
        }
        let source_ips = match &a.source_ips {
            None => Vec::new(),
            Some(s) => parse_source_ips(s, a.allow_remote)?,
        };
        Ok(RunConfig {
            devices: a.devices,
            prefix: a.prefix.clone(),
            first_id: a.first_id,
            id_width,
            types,
            cycle_len: a.cycle_len,
            status_timeout: a.status_timeout,
            interval: a.interval,
            pace,
            duration,
            warmup: a.warmup,
            drain: a.drain.unwrap_or(a.status_timeout + DRAIN_SLACK),
            connect_rate: a.connect_rate,
            threads,
            command_every: (!a.command_every.is_zero()).then_some(a.command_every),
            set_interval,
            kick_every: a.kick_every,
            require_admin: a.require_admin,
            loss: a.loss,
            faults,
            seed: a.seed.unwrap_or(clock_seed),
            target,
            hub_recorder: match (&a.hub_recorder, a.hub_no_recorder) {
                (_, true) => HubRecorder::Off,
                (Some(p), false) => HubRecorder::Path(p.clone()),
                (None, false) => HubRecorder::Temp,
            },
            source_ips,
            quiet: a.quiet,
            max_p99_ms: a.max_p99_ms,
            max_unexplained_loss: a.max_unexplained_loss,
            min_registered: a.min_registered,
            allow_failed_checks: a.allow_failed_check.clone(),
            summary: a.summary,
            progress_every: a.progress_every,
            max_send_lag: Duration::from_secs_f64(a.max_send_lag_ms / 1e3),
            registration_grace: a.registration_grace,
            stages,
        })
    }

    /// True when loadgen starts the hub itself.
    pub fn embedded(&self) -> bool {
        self.target == Target::Embedded
    }

    /// The name of device number `i` (0-based within the fleet).
    pub fn device_name(&self, i: u32) -> String {
        format!(
            "{}{:0w$}",
            self.prefix,
            self.first_id + u64::from(i),
            w = self.id_width
        )
    }

    /// The type of device number `i` (round robin).
    pub fn device_type(&self, i: u32) -> &str {
        &self.types[i as usize % self.types.len()]
    }
}

/// Resolves `host`. Without `allow_remote` it insists on a loopback
/// address, so a typo never floods another machine.
fn resolve_hub(host: &str, allow_remote: bool) -> Result<IpAddr, ConfigError> {
    let addrs: Vec<SocketAddr> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| bad(format!("--hub {host}: {e}")))?
        .collect();
    let mut ips = addrs.iter().map(|a| a.ip());
    if allow_remote {
        return ips
            .next()
            .ok_or_else(|| bad(format!("--hub {host}: no address")));
    }
    ips.find(|ip| ip.is_loopback()).ok_or_else(|| {
        bad(format!(
            "--hub {host}: not a loopback address; add --allow-remote to load a hub on another host"
        ))
    })
}

/// Parses `a-b` or `a,b,c` into IPv4 addresses (loopback ones unless
/// `allow_remote`).
pub fn parse_source_ips(s: &str, allow_remote: bool) -> Result<Vec<Ipv4Addr>, ConfigError> {
    let parse = |t: &str| -> Result<Ipv4Addr, ConfigError> {
        let ip: Ipv4Addr = t
            .trim()
            .parse()
            .map_err(|_| bad(format!("--source-ips: `{t}` is not an IPv4 address")))?;
        if !ip.is_loopback() && !allow_remote {
            return Err(bad(format!(
                "--source-ips: {ip} is not in 127.0.0.0/8 (add --allow-remote)"
            )));
        }
        Ok(ip)
    };
    let ips: Vec<Ipv4Addr> = if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (u32::from(parse(a)?), u32::from(parse(b)?));
        if b < a || b - a >= 1 << 16 {
            return Err(bad(
                "--source-ips: range must be ascending and at most 65536 addresses",
            ));
        }
        (a..=b).map(Ipv4Addr::from).collect()
    } else {
        s.split(',').map(parse).collect::<Result<_, _>>()?
    };
    if ips.is_empty() {
        return Err(bad("--source-ips: no addresses"));
    }
    Ok(ips)
}

#[cfg(test)]
#[path = "config_props.rs"]
mod props;

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
