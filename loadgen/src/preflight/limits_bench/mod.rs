//! `loadgen limits`: this machine's bare limits beside the embedded hub,
//! measured by the same generator in one process, rounds alternating bare
//! and hub so drift on a shared machine hits both alike. Three pairs:
//!
//! - [`udp`]: CPU per datagram, bare `recv_from` thread vs the hub thread
//!   (per-thread CPU from schedstat) → `hub ÷ bare` (≥ 1: hub costs more);
//! - [`accept`]: bare accept-and-read rate vs the hub's connect+register
//!   rate → `hub ÷ bare` (≤ 1: hub is slower);
//! - [`fanout`]: bare write-all/read-all time vs a hub command wave
//!   → `hub ÷ bare` (≥ 1: hub is slower).
//!
//! A fan-out pair at `--fanout-large` (5000) connections runs beside the
//! 1000 one. `--warmup-rounds` (1) pairs run first and are discarded: a
//! cold first round (the accept one above all) would skew the ratios.
//! Each ratio is the median of the per-round ratios. The JSON (`"kind":
//! "limits"`) carries every round, so a reader can see the spread.

pub mod accept;
pub mod cpu;
pub mod fanout;
pub mod fleet;
pub mod udp;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::json;

use crate::live::operator::AdminError;
use cpu::median;

/// Version of the `limits` JSON layout.
pub const LIMITS_SCHEMA_VERSION: u32 = 1;

/// Flags of `loadgen limits`.
#[derive(Debug, Clone, Args)]
pub struct LimitsArgs {
    /// Datagrams per UDP round.
    #[arg(long, default_value_t = 200_000)]
    pub datagrams: u64,
    /// Connections per accept round.
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Connections held for the fan-out rounds.
    #[arg(long, default_value_t = 1000)]
    pub fanout: usize,
    /// Connections held for the large fan-out rounds (0: skip them).
    #[arg(long, default_value_t = 5000)]
    pub fanout_large: usize,
    /// Unrecorded warm-up rounds of every pair first (a cold first accept
    /// round runs at about half speed and would skew the ratios).
    #[arg(long, default_value_t = 1)]
    pub warmup_rounds: usize,
    /// Waves per fan-out round (the round's figure is their median).
    #[arg(long, default_value_t = 5)]
    pub waves: usize,
    /// Rounds of each pair (bare, hub alternating).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Write the JSON here instead of stdout.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// No per-round lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Why a measurement failed.
#[derive(Debug)]
pub enum BenchError {
    Io(io::Error),
    Admin(AdminError),
    /// A thread panicked (named).
    Thread(&'static str),
    /// Something did not finish in time (says what).
    Timeout(String),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Io(e) => write!(f, "{e}"),
            BenchError::Admin(e) => write!(f, "{e}"),
            BenchError::Thread(t) => write!(f, "thread {t} panicked"),
            BenchError::Timeout(w) => write!(f, "gave up: {w}"),
        }
    }
}

impl std::error::Error for BenchError {}

impl From<io::Error> for BenchError {
    fn from(e: io::Error) -> Self {
        BenchError::Io(e)
    }
}

impl From<AdminError> for BenchError {
    fn from(e: AdminError) -> Self {
        BenchError::Admin(e)
    }
}

/// The embedded hub every hub round uses (logging to the temp directory).
pub fn hub_config() -> hub::config::HubConfig {
    let log = std::env::temp_dir().join(format!("loadgen-limits-{}.log", std::process::id()));
    hub::config::HubConfig::embedded(log)
}

fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median_ms(v: &[Duration]) -> f64 {
    median(&v.iter().map(ms).collect::<Vec<_>>())
}

/// Runs every pair and writes the JSON.
pub fn run(a: &LimitsArgs) -> Result<(), BenchError> {
    if a.rounds == 0 || a.waves == 0 || a.datagrams == 0 || a.connections == 0 || a.fanout == 0 {
        return Err(BenchError::Timeout("every count must be at least 1".into()));
    }
    let say = |s: String| {
        if !a.quiet {
            eprintln!("{s}");
        }
    };
    let start_time = crate::report::timestamp::format_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
    .replace(' ', "T")
        + "Z";
    let msgs = udp::payloads();
    let (mut ub, mut uh, mut ur) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ab, mut ah) = (Vec::new(), Vec::new());
    let (mut fb, mut fh, mut fe) = (Vec::new(), Vec::new(), Vec::new());
    for w in 0..a.warmup_rounds {
        let b = udp::bare_round(a.datagrams, &msgs)?;
        let h = udp::hub_round(a.datagrams, &msgs)?;
        let (ba, ha) = (
            accept::bare_round(a.connections)?,
            accept::hub_round(a.connections)?,
        );
        say(format!(
            "warm-up {w} (discarded): udp bare {:.0} / hub {:.0} ns/dgram, accept bare {ba:.0}/s / hub {ha:.0}/s",
            b.ns_per_datagram(),
            h.ns_per_datagram()
        ));
        fanout::bare_round(a.fanout, 1)?;
        fanout::hub_round(a.fanout, 1)?;
    }
    let (mut lb, mut lh) = (Vec::new(), Vec::new());
    for r in 0..a.rounds {
        let b = udp::bare_round(a.datagrams, &msgs)?;
        let h = udp::hub_round(a.datagrams, &msgs)?;
        say(format!(
            "round {r} udp: bare {:.0} ns/dgram ({} recv), hub {:.0} ns/dgram ({} recv)",
            b.ns_per_datagram(),
            b.received,
            h.ns_per_datagram(),
            h.received
        ));
        ub.push(b);
        uh.push(h);
        ur.push((b.received, h.received));
        let b = accept::bare_round(a.connections)?;
        let h = accept::hub_round(a.connections)?;
        say(format!("round {r} accept: bare {b:.0}/s, hub {h:.0}/s"));
        ab.push(b);
        ah.push(h);
        let b = fanout::bare_round(a.fanout, a.waves)?;
        let h = fanout::hub_round(a.fanout, a.waves)?;
        say(format!(
            "round {r} fan-out: bare {:.2} ms, hub {:.2} ms (hub elapsed {:.2} ms)",
            median_ms(&b.observed),
            median_ms(&h.observed),
            median_ms(&h.hub_elapsed)
        ));
        fb.push(median_ms(&b.observed));
        fh.push(median_ms(&h.observed));
        fe.push(median_ms(&h.hub_elapsed));
        if a.fanout_large > 0 {
            let b = fanout::bare_round(a.fanout_large, a.waves)?;
            let h = fanout::hub_round(a.fanout_large, a.waves)?;
            say(format!(
                "round {r} fan-out {}: bare {:.2} ms, hub {:.2} ms",
                a.fanout_large,
                median_ms(&b.observed),
                median_ms(&h.observed)
            ));
            lb.push(median_ms(&b.observed));
            lh.push(median_ms(&h.observed));
        }
    }
    let _ = std::fs::remove_file(hub_config().log_file);
    let per_round =
        |h: &[f64], b: &[f64]| median(&h.iter().zip(b).map(|(h, b)| h / b).collect::<Vec<_>>());
    let ub_ns: Vec<f64> = ub.iter().map(udp::Round::ns_per_datagram).collect();
    let uh_ns: Vec<f64> = uh.iter().map(udp::Round::ns_per_datagram).collect();
    let ratios = json!({
        "udp_cpu_per_datagram": per_round(&uh_ns, &ub_ns),
        "register_rate": per_round(&ah, &ab),
        "wave_time": per_round(&fh, &fb),
        "wave_time_large": (!lb.is_empty()).then(|| per_round(&lh, &lb)),
    });
    say(format!("ratios hub/bare: {ratios}"));
    let doc = json!({
        "kind": "limits",
        "schema_version": LIMITS_SCHEMA_VERSION,
        "run": {
            "command_line": std::env::args().collect::<Vec<_>>(),
            "start_time": start_time,
            "crate_version": env!("CARGO_PKG_VERSION"),
            "git_commit": option_env!("LOADGEN_GIT_COMMIT"),
            "cores": crate::preflight::machine::cores(),
        },
        "config": {
            "datagrams": a.datagrams,
            "datagram_bytes": msgs.iter().map(Vec::len).sum::<usize>() / msgs.len(),
            "connections": a.connections,
            "fanout": a.fanout,
            "fanout_large": a.fanout_large,
            "warmup_rounds": a.warmup_rounds,
            "waves": a.waves,
            "rounds": a.rounds,
        },
        "udp": {
            "bare_cpu_ns_per_datagram": ub_ns,
            "hub_cpu_ns_per_datagram": uh_ns,
            "bare_received": ur.iter().map(|r| r.0).collect::<Vec<_>>(),
            "hub_received": ur.iter().map(|r| r.1).collect::<Vec<_>>(),
            "median_bare_ns": median(&ub_ns),
            "median_hub_ns": median(&uh_ns),
        },
        "accept": {
            "bare_per_s": ab,
            "hub_register_per_s": ah,
            "median_bare_per_s": median(&ab),
            "median_hub_per_s": median(&ah),
        },
        "fanout": {
            "bare_ms": fb,
            "hub_ms": fh,
            "hub_elapsed_ms": fe,
            "median_bare_ms": median(&fb),
            "median_hub_ms": median(&fh),
        },
        "fanout_large": {
            "connections": a.fanout_large,
            "bare_ms": lb,
            "hub_ms": lh,
            "median_bare_ms": (!lb.is_empty()).then(|| median(&lb)),
            "median_hub_ms": (!lh.is_empty()).then(|| median(&lh)),
        },
        "ratios": ratios,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    match &a.json {
        Some(p) => std::fs::write(p, text)?,
        None => io::Write::write_all(&mut io::stdout().lock(), text.as_bytes())?,
    }
    Ok(())
}
