//! One run, start to finish: preflight is done by the caller; here the hub
//! is started (embedded) or targeted (external), the fleet is planned and
//! sharded over worker threads, the operator thread plays the admin, and the
//! main thread merges worker reports once a second (progress) until every
//! worker is done or the hard deadline passes. Then the hub's stats, kernel
//! counters and CPU are read and the [`Report`] is built.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{RunConfig, Target};
use crate::live::collect::Collector;
use crate::live::embedded::{EmbeddedHub, HubAddrs};
use crate::live::fleet::{FleetPlan, Signals, Window};
use crate::live::operator::{self, OperatorPlan};
use crate::live::progress::{Mode, Progress};
use crate::live::worker::{self, WorkerMsg};
use crate::preflight::machine::{self, Machine, UdpSnmp};
use crate::report::histo::Kind;
use crate::report::timeline::Timeline;
use crate::report::{Cpu, Inputs, Report, RunInfo};
use crate::rng::SplitMix64;
use crate::shard::start::{self, StartInfo};
use crate::shard::Placement;
use crate::stages;

/// Delay between planning and the first connect, so every thread is up.
pub const START_DELAY: Duration = Duration::from_millis(50);
/// Past the drain deadline, how long the main thread waits for workers
/// before reporting without them.
pub const HARD_STOP_SLACK: Duration = Duration::from_secs(5);
/// How often the main thread wakes to merge and print progress.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// The main thread samples this long after each whole second, by which time
/// every worker's report for that second (sent on the second) has arrived.
pub const SAMPLE_SKEW: Duration = Duration::from_millis(20);

/// Why a run could not be carried out.
#[derive(Debug)]
pub enum RunError {
    /// Starting the embedded hub failed.
    Hub(io::Error),
    /// Spawning a thread failed.
    Spawn(io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Hub(e) => write!(f, "cannot start the embedded hub: {e}"),
            RunError::Spawn(e) => write!(f, "cannot start a thread: {e}"),
        }
    }
}

impl std::error::Error for RunError {}

/// Carries out the run described by `cfg`; `machine` is reported as is.
/// `placement` says which shard this is, when to start and where waves go.
pub fn run(
    cfg: &RunConfig,
    placement: &Placement,
    machine: Machine,
    argv: Vec<String>,
) -> Result<Report, RunError> {
    let wall = Instant::now();
    let start_time = rfc3339_now();
    let mut snmp_before = UdpSnmp::read();
    let (hub, addrs) = match cfg.target {
        Target::Embedded => {
            let (h, a) = EmbeddedHub::start(None, cfg.cycle_len, &cfg.hub_recorder)
                .map_err(RunError::Hub)?;
            (Some(h), a)
        }
        Target::External { tcp, udp, admin } => (None, HubAddrs { tcp, udp, admin }),
    };
    let waited = placement.start_at.map(|at| {
        let slept = wait_for_start(cfg, placement, at);
        // Kernel counters from the start, not from the launch.
        snmp_before = UdpSnmp::read();
        slept
    });
    let epoch = Instant::now();
    let started_wall = SystemTime::now() + START_DELAY;
    let window = Window::new(epoch + START_DELAY, cfg);
    let signals = Signals::default();

    let (tx, rx) = crossbeam_channel::unbounded();
    let mut workers = Collector::new(cfg.threads);
    if let Some(s) = &cfg.stages {
        workers = workers.with_stages(s.len());
    }
    for plan in FleetPlan::new(cfg, &addrs, &window, &signals).workers {
        let id = plan.id;
        let tx = tx.clone();
        let t = std::thread::Builder::new()
            .name(format!("lg-worker-{id}"))
            .spawn(move || worker::run(plan, tx))
            .map_err(RunError::Spawn)?;
        workers.spawned(id, t);
    }
    drop(tx);
    let op_plan = operator_plan(cfg, placement, addrs.admin, &window, &signals);
    let op = std::thread::Builder::new()
        .name("lg-operator".into())
        .spawn(move || operator::run(op_plan))
        .map_err(RunError::Spawn)?;

    let timeline = collect(cfg, &rx, &mut workers, &window);
    signals.abort.store(true, Ordering::Relaxed);
    let mut op_log = op.join().unwrap_or_default();
    // Finished workers still hold their connections: the hub's count now
    // is comparable with `up_at_end`.
    let (hub_stats, hub_typed) = final_stats(addrs.admin, &mut op_log).unzip();
    signals.release.store(true, Ordering::Release);
    let workers_reported = workers.reported();
    workers.join_if_all_done();
    let counters = workers.totals();
    let hub_registered = hub_typed.as_ref().map(|s| s.registered);
    let evidence = workers.evidence();
    let snmp_delta = match (snmp_before, UdpSnmp::read()) {
        (Some(b), Some(a)) => Some(a.since(&b)),
        _ => None,
    };
    let cpu = cpu(cfg.embedded());
    // An embedded hub's recorder counters are read after its shutdown,
    // when everything queued is committed and the identity is exact; an
    // external hub's come from its stats (rows may still be in flight).
    let recorder = match hub {
        Some(h) => h.shutdown().ok().flatten(),
        None => hub_typed.as_ref().and_then(|s| s.recorder.clone()),
    };
    let time_to_register_all_ms = workers.time_to_register_all_ms(window.start);
    let tally = workers.take_stages();
    // Outages count from the fleet's first full registration to the stop.
    let outages = workers.outages(window.stop_at);
    let mut lat = workers.into_latencies();
    for w in op_log.waves.iter().filter(|w| w.done && w.measured) {
        lat.record_us(Kind::Wave, w.elapsed_us);
    }
    let run = RunInfo {
        command_line: argv,
        seed: cfg.seed,
        start_time,
        crate_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: option_env!("LOADGEN_GIT_COMMIT").map(Into::into),
        machine,
        embedded_hub: cfg.embedded(),
        hub_tcp: addrs.tcp.to_string(),
        hub_udp: addrs.udp.to_string(),
        hub_admin: addrs.admin.to_string(),
        wall_s: wall.elapsed().as_secs_f64(),
        run_id: Some(placement.run_id.clone()),
        start: Some(StartInfo {
            requested: placement.start_at.map(start::format),
            started_unix_ms: start::unix_ms(started_wall),
            skew_ms: placement
                .start_at
                .map(|at| start::signed_ms(started_wall, at)),
            waited_ms: waited.map_or(0, |w| w.as_millis() as u64),
        }),
    };
    let mut samples = timeline.into_samples();
    if let Some(s) = &cfg.stages {
        stages::clock::label(&mut samples, s, cfg.warmup);
    }
    let mut report = Report::build(Inputs {
        cfg,
        run,
        counters,
        lat: &lat,
        operator: op_log,
        hub_stats,
        hub: hub_typed,
        recorder,
        snmp_delta,
        cpu,
        time_to_register_all_ms,
        timeline: samples,
        outages,
        shard: placement.shard.clone(),
        samples: evidence,
        workers: cfg.threads as u64,
        workers_reported,
        hub_registered,
        hub_shared: placement.wave_target != "*",
    });
    if let (Some(s), Some(t)) = (&cfg.stages, tally) {
        let figures = stages::figures::build(s, &t, cfg.warmup.as_millis() as u64);
        stages::knee::apply(&mut report, stages::knee::judge(s, figures, cfg), cfg);
    }
    Ok(report)
}

/// Sleeps until the agreed `--start-at` (saying so unless `--quiet`);
/// returns how long it slept.
fn wait_for_start(cfg: &RunConfig, placement: &Placement, at: SystemTime) -> Duration {
    if !cfg.quiet {
        let what = placement
            .shard
            .as_ref()
            .map_or(String::new(), |s| format!("shard {}/{} ", s.index, s.count));
        eprintln!(
            "loadgen: {what}waiting for the start at {} ({:.1} s)",
            start::format(at),
            start::signed_ms(at, SystemTime::now()) / 1000.0
        );
    }
    start::sleep_until(at, START_DELAY)
}

/// What the operator thread plays: waves, kicks and `set_interval` on the
/// admin port, timed on the fleet's window.
fn operator_plan(
    cfg: &RunConfig,
    placement: &Placement,
    admin: SocketAddr,
    window: &Window,
    signals: &Signals,
) -> OperatorPlan {
    OperatorPlan {
        admin,
        command_every: cfg.command_every,
        first_wave: first_wave(cfg, window.start, window.measure_from, window.stop_at),
        set_interval: cfg.set_interval,
        kick_every: cfg.kick_every,
        kick_names: (0..cfg.devices.min(64))
            .map(|i| cfg.device_name(i))
            .collect(),
        epoch: window.start,
        measure_from: window.measure_from,
        stop_at: window.stop_at,
        wave_sent_ns: signals.wave_sent_ns.clone(),
        seed: cfg.seed,
        target: placement.wave_target.clone(),
    }
}

/// Merges worker messages until every worker is done or the hard stop,
/// printing progress and sampling the timeline just after each whole
/// second from the start, so sample k is the fleet at second k; the last
/// sample covers the partial second at the end, so each column sums to
/// the totals.
fn collect(
    cfg: &RunConfig,
    rx: &crossbeam_channel::Receiver<WorkerMsg>,
    workers: &mut Collector,
    window: &Window,
) -> Timeline {
    let start = window.start;
    let mut progress = Progress::new(Mode::detect(cfg.quiet), cfg.progress_every);
    let mut timeline = Timeline::new();
    let mut next_progress = start + PROGRESS_EVERY + SAMPLE_SKEW;
    let hard_stop = window.drain_deadline + HARD_STOP_SLACK;
    while !workers.all_done() && Instant::now() < hard_stop {
        let wait = next_progress.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(msg) => workers.absorb(msg),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() >= next_progress {
            next_progress += PROGRESS_EVERY;
            let total = workers.totals();
            progress.update(start.elapsed(), cfg.devices, &total, workers.latencies());
            timeline.sample(timeline.next_t_s(), &total, workers.second_status_p99());
            workers.next_second();
        }
    }
    progress.finish();
    let total = workers.totals();
    timeline.sample(timeline.next_t_s(), &total, workers.second_status_p99());
    timeline
}

/// CPU time of this process, with an embedded hub's threads (named `hub…`)
/// told apart from loadgen's.
fn cpu(embedded: bool) -> Cpu {
    let threads = machine::thread_cpu();
    let (user, sys) = machine::process_cpu();
    let hub_cpu: f64 = threads
        .iter()
        .filter(|(n, _)| n.starts_with("hub"))
        .map(|(_, s)| s)
        .sum();
    Cpu {
        loadgen_s: user + sys - if embedded { hub_cpu } else { 0.0 },
        hub_s: embedded.then_some(hub_cpu),
        process_user_s: user,
        process_sys_s: sys,
        threads,
    }
}

/// Attempts at the final `stats` (each bounded by the operator's connect
/// and reply timeouts), so one reply lost to a loaded machine does not
/// fail `admin_reachable`, while a silent admin port costs at most this
/// many timeouts.
pub const FINAL_STATS_ATTEMPTS: u32 = 2;

/// The hub's `stats`, or `None` with the reason logged as an admin error.
fn final_stats(
    admin: SocketAddr,
    log: &mut operator::OperatorLog,
) -> Option<(serde_json::Value, hub::ops::wire::HubStats)> {
    let mut last = None;
    for _ in 0..FINAL_STATS_ATTEMPTS {
        match operator::query_stats(admin) {
            Ok(v) => return Some(v),
            // A hub that answers outside the schema will not change its mind.
            Err(e @ operator::AdminError::Schema(_)) => {
                last = Some(e);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    if let Some(e) = last {
        log.admin_absent = matches!(&e, operator::AdminError::Io(io)
            if io.kind() == std::io::ErrorKind::ConnectionRefused);
        log.error(format!("final stats: {e}"));
    }
    None
}

/// Slack after the planned ramp-up before a short run's first wave.
pub const FIRST_WAVE_SLACK: Duration = Duration::from_millis(500);

/// The first wave: one `--command-every` after the start, or, when that
/// would leave no measured wave, as soon as the fleet should be up and the
/// warm-up is over. `None` (and a one-line notice) when even that is past
/// the stop.
fn first_wave(
    cfg: &RunConfig,
    start: Instant,
    measure_from: Instant,
    stop_at: Instant,
) -> Option<Instant> {
    let every = cfg.command_every?;
    let regular = start + every;
    if regular < stop_at {
        return Some(regular);
    }
    let ramp = Duration::from_secs_f64(f64::from(cfg.devices) / cfg.connect_rate);
    let early = (start + ramp + FIRST_WAVE_SLACK).max(measure_from);
    if early < stop_at {
        Some(early)
    } else {
        eprintln!(
            "loadgen: no command wave fits: the fleet is up about {:.1} s into a {:.1} s run",
            (early - start).as_secs_f64(),
            (stop_at - start).as_secs_f64()
        );
        None
    }
}

fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::report::timestamp::format_unix(secs).replace(' ', "T") + "Z"
}

/// A clock-derived seed for runs without `--seed` (reported, so the run
/// can be repeated).
pub fn clock_seed() -> u64 {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    SplitMix64::new(n, u64::from(std::process::id())).next_u64()
}
