//! The command line, as clap sees it. `loadgen [FLAGS]` is shorthand for
//! `loadgen run [FLAGS]`; other subcommands (`classic`, `merge`, `hgrm`, `table`, `report`, `limits`) slot into
//! [`Cmd`] without touching the run flags. Raw flags go to
//! [`crate::config::RunConfig::from_args`], which validates them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use hub::duration::parse_duration;

/// Load generator for the hub: thousands of virtual devices, exact loss
/// accounting, latency histograms as JSON.
#[derive(Debug, Parser)]
#[command(name = "loadgen", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    /// Flags of the default `run` subcommand.
    #[command(flatten)]
    pub run: RunArgs,
}

impl Cli {
    /// The subcommand to run; no subcommand means `run` with the top flags.
    pub fn into_cmd(self) -> Cmd {
        self.command.unwrap_or(Cmd::Run(self.run))
    }
}

// Built once per process; boxing a variant would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run a fleet of virtual devices against a hub (the default).
    Run(RunArgs),
    /// Play the original single-device clients (`tcp`, `udp`, or both).
    Classic(crate::classic::ClassicArgs),
    /// Merge reports of one load (split by device range or generator).
    Merge(MergeArgs),
    /// Export each latency histogram of a report as an HdrHistogram `.hgrm`.
    Hgrm(HgrmArgs),
    /// Print reports (and `limits` files) side by side.
    Table(TableArgs),
    /// Write reports as one self-contained HTML page (`-o report.html`).
    ///
    /// The page holds each report's verdict and every check, the summary
    /// tables (devices, datagram fates and loss accounting, commands,
    /// latency percentiles, generator, CPU, recorder, evidence), the
    /// per-second timeline with waves and stage boundaries marked, latency
    /// spectra from the histograms, loss by fate and CPU as charts; several
    /// reports add `loadgen table`'s rows and overlaid spectra. No network,
    /// no external script, font or style: open it anywhere. A file that is
    /// not a report this build reads: one line on stderr, exit 2.
    Report(ReportArgs),
    /// Measure this machine's bare limits beside the embedded hub.
    Limits(crate::preflight::limits_bench::LimitsArgs),
}

/// Flags of `loadgen merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// Reports to merge (at least two, or the shards of one run).
    #[arg(required = true, num_args = 1..)]
    pub reports: Vec<PathBuf>,
    /// Write the merged report here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Merge a run's shards even when some are missing (the merged report's
    /// `shards.missing` names them).
    #[arg(long)]
    pub partial: bool,
}

/// Flags of `loadgen hgrm`.
#[derive(Debug, Clone, Args)]
pub struct HgrmArgs {
    /// Reports whose histograms to export.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Directory for the `.hgrm` files (default: beside each report).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// Flags of `loadgen table`.
#[derive(Debug, Clone, Args)]
pub struct TableArgs {
    /// Reports and `limits` files; ratios are to the first of each kind.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also write gnuplot data files (`scenarios.dat`, `sweep.dat`) here.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// Flags of `loadgen report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Run reports (JSON), at most 26; several are also compared side by
    /// side, with ratios to the first.
    #[arg(required = true)]
    pub reports: Vec<PathBuf>,
    /// Write the page here (e.g. `report.html`) instead of stdout. It needs
    /// nothing else: no network, no external files.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

/// Flags of `loadgen run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Virtual devices, each with its own TCP connection and UDP socket.
    #[arg(long, default_value_t = 100)]
    pub devices: u32,
    /// Name prefix; names are `<prefix><n>`, zero-padded.
    #[arg(long, default_value = "Sensor")]
    pub prefix: String,
    /// Number of the first device.
    #[arg(long, default_value_t = 1)]
    pub first_id: u64,
    /// Device types, given out round-robin.
    #[arg(long, default_value = "temperature,humidity,motion")]
    pub types: String,
    /// Datagrams per cycle (SEQ:1..=n). Must match the hub's cycle length.
    #[arg(long, default_value_t = 10)]
    pub cycle_len: u32,
    /// How long a device waits for STATUS after a cycle (closed loop).
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub status_timeout: Duration,
    /// Pause between a cycle's STATUS and the next cycle (closed loop).
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub interval: Duration,
    /// Open loop: datagrams per second across the fleet, evenly paced per
    /// device; replaces the closed-loop cycle/STATUS/interval rhythm.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Measured run time, after the warm-up [default: 10s; with --stages,
    /// their sum (a --duration must then equal it)].
    #[arg(long, value_parser = duration)]
    pub duration: Option<Duration>,
    /// Move the load through stages, `DURATION:TARGET,…` (k6's stages),
    /// e.g. `30s:1000,1m:5000,30s:0`: each ramps the target linearly from
    /// the previous stage's value (the first from 0) to its own; the
    /// measured run is their sum, after the warm-up (target 0). Each stage
    /// is judged on the run's limits (unexplained loss, unknown fates, send
    /// lag, --max-p99-ms); the first that breaks is the knee (check
    /// `knee`). Exit 0 when the knee is past stage 1 and the stages before
    /// it held (their load checks are then waived past the knee), 1 when
    /// stage 1 broke. Not with --shard.
    #[arg(long, value_name = "STAGES")]
    pub stages: Option<String>,
    /// What the stages' values are: the fleet's offered datagram rate
    /// (`rate`, open loop, each device's gap following rate ÷ devices) or
    /// the number of connected devices (`devices`: a device above the
    /// target closes its connection after its cycle's STATUS, and comes
    /// back when the target rises).
    #[arg(long, value_enum, default_value_t = crate::stages::StageTarget::Rate)]
    pub stage_target: crate::stages::StageTarget,
    /// Run time excluded from results (UDP accounting, STATUS and command
    /// latency); registration latency is always recorded.
    #[arg(long, default_value = "0s", value_parser = duration)]
    pub warmup: Duration,
    /// Devices connected per second while ramping up.
    #[arg(long, default_value_t = 2000.0)]
    pub connect_rate: f64,
    /// Worker threads (default: cores − 1 with an embedded hub, else cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Send a command wave this often through the admin port, alternating
    /// `send * SET_INTERVAL n` and `send * ACTIVATE_ALARM` (0 = no waves).
    #[arg(long, default_value = "5s", value_parser = duration)]
    pub command_every: Duration,
    /// The `n` of `SET_INTERVAL n` waves (default: --interval, rounded up).
    #[arg(long)]
    pub set_interval: Option<u32>,
    /// Have the operator `quit` one device this often (exercises reconnects).
    #[arg(long, value_parser = duration)]
    pub kick_every: Option<Duration>,
    /// Fail the run when the hub's admin port does not answer, even with no
    /// waves asked for (it is required anyway with waves or kicks; without
    /// them and without this flag, the hub's own counts are reported as not
    /// cross-checked).
    #[arg(long)]
    pub require_admin: bool,
    /// Loss injected before sending each datagram, probability in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Reorder: probability in [0, 1] that a datagram is held back and sent
    /// after the next one of its cycle (never after the cycle's last SEQ, so
    /// the hub still sees it in its cycle; it must count it received).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub reorder: f64,
    /// Duplicate: probability in [0, 1] that a datagram is sent twice, the
    /// copy right after it (the hub must count its SEQ once).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub duplicate: f64,
    /// Corrupt: probability in [0, 1) that one byte of a datagram's value or
    /// SEQ field is replaced so it no longer parses (the hub must drop it
    /// and report its SEQ missing).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub corrupt: f64,
    /// Delay every datagram MS milliseconds, ± JITTER (uniform), in order,
    /// e.g. `50` or `50±10` (or `50+-10`); at most 2000 ms in all. STATUS
    /// latency includes it; `status_hub` is the hub's share.
    #[arg(long, value_name = "MS[±JITTER]")]
    pub delay: Option<String>,
    /// Seed of the loss, fault and jitter RNGs (default: from the clock;
    /// reported). The same seed gives the same faults.

    #[arg(long)]
    pub seed: Option<u64>,
    /// External hub address (loopback unless --allow-remote). Without it an
    /// embedded hub is started on free loopback ports.
    #[arg(long)]
    pub hub: Option<String>,
    /// Allow a --hub and --source-ips off loopback (a load test floods its
    /// target: point it only at a hub you run).
    #[arg(long)]
    pub allow_remote: bool,
    #[arg(long, default_value_t = 5050)]
    pub tcp_port: u16,
    #[arg(long, default_value_t = 6060)]
    pub udp_port: u16,
    #[arg(long, default_value_t = 5051)]
    pub admin_port: u16,
    /// Loopback source addresses for device sockets, round robin:
    /// `127.0.0.2-127.0.0.9` or `127.0.0.2,127.0.0.3`.
    #[arg(long)]
    pub source_ips: Option<String>,
    /// Embedded hub's log file (default: a file in the temp directory).
    #[arg(long)]
    pub hub_log: Option<PathBuf>,
    /// Embedded hub's recorder database (default: a temporary file, removed
    /// after the run).
    #[arg(long, conflicts_with = "hub_no_recorder")]
    pub hub_recorder: Option<PathBuf>,
    /// Embedded hub records nothing (for recorder on/off comparisons).
    #[arg(long)]
    pub hub_no_recorder: bool,
    /// Hard limit on the drain after the run (waiting for STATUS and ACKs).
    #[arg(long, value_parser = duration)]
    pub drain: Option<Duration>,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Write the JSON report here instead of stdout; `{shard}` and `{run}`
    /// are replaced by the shard index and the run id.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit non-zero when any p99 latency exceeds this many milliseconds.
    #[arg(long)]
    pub max_p99_ms: Option<f64>,
    /// Exit non-zero when |unexplained_loss| exceeds this.
    #[arg(long)]
    pub max_unexplained_loss: Option<u64>,
    /// Exit non-zero when fewer devices than this registered.
    #[arg(long)]
    pub min_registered: Option<u32>,
    /// Shards and a shared start (`--shard`, `--start-at`, …; see `shard`).
    #[command(flatten)]
    pub fleet: ShardArgs,
    /// Admin port host (default: the --hub address), e.g. `::1`.
    #[arg(long)]
    pub admin_host: Option<String>,
    /// Let the named check fail without failing the run (repeatable); the
    /// names are in the report's `checks` and the summary.
    #[arg(long, value_name = "NAME")]
    pub allow_failed_check: Vec<String>,
    /// The human summary on stderr at the end (`none` silences it).
    #[arg(long, value_enum, default_value_t = SummaryMode::Text)]
    pub summary: SummaryMode,
    /// Interval of the plain progress line when stderr is not a terminal.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub progress_every: Duration,
    /// A datagram sent later than this after its intended time is late; a
    /// send-lag p99 above it means the generator could not keep its
    /// schedule (`generator_saturated`). Default: half the default
    /// interval, well above the scheduling jitter of a loaded machine
    /// (~130 ms p99 measured on 2 shared cores) and far below a backlog.
    #[arg(long, default_value_t = 500.0)]
    pub max_send_lag_ms: f64,
    /// An `ERROR …` or a close this soon after registering is a refused
    /// registration.
    #[arg(long, default_value = "500ms", value_parser = duration)]
    pub registration_grace: Duration,
}

/// `--summary`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SummaryMode {
    /// Checks, devices, datagram fates, rates, latencies and a verdict.
    Text,
    None,
}

/// The shard and start flags of `loadgen run` (read by [`crate::shard`]).
#[derive(Debug, Clone, Default, Args)]
pub struct ShardArgs {
    /// Run only shard I of N of the fleet (`I/N`, I from 0), or `auto` to
    /// take I and N from the launcher (SLURM_PROCID/SLURM_NTASKS,
    /// JOB_COMPLETION_INDEX with --shards, OMPI_COMM_WORLD_RANK/SIZE,
    /// PMI_RANK/PMI_SIZE). --devices, --first-id, --rate and --connect-rate
    /// describe the whole fleet.
    #[arg(long)]
    pub shard: Option<String>,
    /// N for `--shard auto` under a Kubernetes Indexed Job (its completions).
    #[arg(long)]
    pub shards: Option<u32>,
    /// Names the run in the report and `{run}` of --out; every shard of one
    /// run must have the same (default: derived from --seed and --start-at).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Wait until this wall-clock instant (RFC 3339, e.g.
    /// 2026-12-01T12:00:00Z) before the ramp, so launch skew does not skew
    /// the load.
    #[arg(long)]
    pub start_at: Option<String>,
    /// Start this long after launch (a single process's --start-at).
    #[arg(long, value_parser = duration)]
    pub start_in: Option<Duration>,
    /// Other generators share the hub: send command waves only to this
    /// run's devices (implied by --shard).
    #[arg(long)]
    pub shared_hub: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cmd, clap::Error> {
        Cli::try_parse_from(args).map(Cli::into_cmd)
    }

    #[test]
    fn default_subcommand_is_run() {
        let Cmd::Run(a) = parse(&["loadgen", "--devices", "5000", "--loss", "0.02"]).unwrap()
        else {
            panic!("expected the run subcommand")
        };
        assert_eq!(a.devices, 5000);
        assert_eq!(a.loss, 0.02);
        assert_eq!(a.duration, None);
    }

    #[test]
    fn explicit_run_and_durations() {
        let Cmd::Run(a) = parse(&["loadgen", "run", "--duration", "2m", "--warmup", "5"]).unwrap()
        else {
            panic!("expected the run subcommand")
        };
        assert_eq!(a.duration, Some(Duration::from_secs(120)));
        assert_eq!(a.warmup, Duration::from_secs(5));
    }

    #[test]
    fn stages_flags_parse() {
        let Cmd::Run(a) = parse(&[
            "loadgen",
            "--stages",
            "30s:1000,1m:5000",
            "--stage-target",
            "devices",
        ])
        .unwrap() else {
            panic!("expected the run subcommand")
        };
        assert_eq!(a.stages.as_deref(), Some("30s:1000,1m:5000"));
        assert_eq!(a.stage_target, crate::stages::StageTarget::Devices);
        assert!(parse(&["loadgen", "--stage-target", "sideways"]).is_err());
    }

    #[test]
    fn bad_flag_is_an_error() {
        assert!(parse(&["loadgen", "--duration", "soon"]).is_err());
        assert!(parse(&["loadgen", "--devices", "-3"]).is_err());
    }
}
