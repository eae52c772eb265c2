//! The fleet plan: what each worker thread gets, decided once by the main
//! thread before any socket opens. Device `i` goes to worker
//! `i % threads` (so every shard ramps up at the same pace), connects at
//! `start + i / --connect-rate`, binds `--source-ips[i % len]` if any, and
//! paces its datagrams as `--rate` (open loop) or `--interval` (closed loop)
//! say. With `--stages` a rate target gives each device its share of the
//! fleet's schedule ([`Pacer`]), a devices target its spans in the fleet,
//! and every worker the stages' boundaries. Pure: the config, the hub's
//! addresses, the run's instants and the shared flags in, one
//! [`WorkerPlan`] per worker out.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Pace, RunConfig};
use crate::device::data::Pacing;
use crate::device::faults::Dice;
use crate::device::{data_for, Device};
use crate::live::embedded::HubAddrs;
use crate::live::worker::{DeviceSpec, WorkerPlan};
use crate::rng::SplitMix64;
use crate::stages::clock::StageClock;
use crate::stages::pace::{membership, Pacer};
use crate::stages::{StageTarget, Stages};

/// The run's instants, from the fleet's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first device connects now; origin of the ticks and of the
    /// operator's `wave_sent_ns`.
    pub start: Instant,
    /// End of the warm-up: cycles and commands from here are measured.
    pub measure_from: Instant,
    /// No new cycle, connect or wave from here.
    pub stop_at: Instant,
    /// Workers stop waiting for trailing STATUSes here.
    pub drain_deadline: Instant,
}

impl Window {
    /// The window of a fleet that starts at `start`: `--warmup`, then
    /// `--duration` measured, then up to `--drain`.
    pub fn new(start: Instant, cfg: &RunConfig) -> Self {
        let measure_from = start + cfg.warmup;
        let stop_at = measure_from + cfg.duration;
        Window {
            start,
            measure_from,
            stop_at,
            drain_deadline: stop_at + cfg.drain,
        }
    }
}

/// The flags the main thread shares with every worker (and, for
/// `wave_sent_ns`, the operator).
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Nanoseconds after [`Window::start`] when the current wave was sent;
    /// 0 = none.
    pub wave_sent_ns: Arc<AtomicU64>,
    /// Set by the main thread to end the run early.
    pub abort: Arc<AtomicBool>,
    /// Set once the hub's final stats are read: finished workers may close.
    pub release: Arc<AtomicBool>,
}

/// What every worker gets, index = worker id.
pub struct FleetPlan {
    pub workers: Vec<WorkerPlan>,
}

impl FleetPlan {
    /// Plans `cfg.devices` devices over `cfg.threads` workers.
    pub fn new(cfg: &RunConfig, addrs: &HubAddrs, window: &Window, signals: &Signals) -> Self {
        let pacing = pacing(cfg);
        let stages = cfg.stages.clone().map(Arc::new);
        let mut shards: Vec<Vec<DeviceSpec>> = (0..cfg.threads).map(|_| Vec::new()).collect();
        for i in 0..cfg.devices {
            let spec = device_spec(cfg, pacing, window, stages.as_ref(), i);
            shards[worker_of(i, cfg.threads)].push(spec);
        }
        let clock = stages
            .as_ref()
            .map(|s| StageClock::new(s, window.measure_from));
        let workers = shards
            .into_iter()
            .enumerate()
            .map(|(id, devices)| WorkerPlan {
                id,
                devices,
                hub_tcp: addrs.tcp,
                hub_udp: addrs.udp,
                measure_from: window.measure_from,
                stop_at: window.stop_at,
                drain_deadline: window.drain_deadline,
                // The operator's origin too: `wave_sent_ns` counts from here.
                epoch: window.start,
                wave_sent_ns: signals.wave_sent_ns.clone(),
                abort: signals.abort.clone(),
                max_lag: cfg.max_send_lag,
                release: signals.release.clone(),
                stages: clock.clone(),
            })
            .collect();
        FleetPlan { workers }
    }
}

/// The worker that runs device `i`.
pub fn worker_of(i: u32, threads: usize) -> usize {
    i as usize % threads
}

/// When device `i` first connects: the fleet ramps up at `rate` per second.
pub fn connect_at(start: Instant, i: u32, rate: f64) -> Instant {
    start + Duration::from_secs_f64(f64::from(i) / rate)
}

/// The source address of device `i` (`--source-ips`, round robin).
pub fn source_of(i: u32, ips: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    (!ips.is_empty()).then(|| ips[i as usize % ips.len()])
}

/// Each device's datagram pacing: closed loop at `--interval`, or open loop
/// with the fleet's `--rate` spread evenly over its devices.
pub fn pacing(cfg: &RunConfig) -> Pacing {
    match cfg.pace {
        Pace::ClosedLoop { .. } => Pacing::Closed {
            interval: cfg.interval,
        },
        Pace::OpenLoop { rate } => Pacing::Open {
            gap: Duration::from_secs_f64(f64::from(cfg.devices) / rate),
        },
    }
}

fn device_spec(
    cfg: &RunConfig,
    pacing: Pacing,
    window: &Window,
    stages: Option<&Arc<Stages>>,
    i: u32,
) -> DeviceSpec {
    let origin = window.measure_from;
    let mut data = data_for(pacing, cfg.cycle_len, cfg.status_timeout, cfg.loss)
        .with_faults(Dice::new(cfg.faults, cfg.seed, u64::from(i)));
    if let Some(s) = stages.filter(|s| s.target == StageTarget::Rate) {
        data = data.with_pacer(Pacer::new(s.clone(), origin, cfg.devices, i));
    }
    let mut device = Device::new(
        cfg.device_name(i).into(),
        cfg.device_type(i).into(),
        connect_at(window.start, i, cfg.connect_rate),
        SplitMix64::new(cfg.seed, u64::from(i)),
        data,
    );
    if let Some(s) = stages.filter(|s| s.target == StageTarget::Devices) {
        device = device.with_membership(membership(s, i, origin));
    }
    device.grace = cfg.registration_grace;
    DeviceSpec {
        device,
        source: source_of(i, &cfg.source_ips),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Cmd};
    use clap::Parser;

    fn cfg(args: &[&str]) -> RunConfig {
        let mut v = vec!["loadgen"];
        v.extend_from_slice(args);
        let Cmd::Run(a) = Cli::try_parse_from(v).unwrap().into_cmd() else {
            panic!("expected the run subcommand")
        };
        RunConfig::from_args(&a, 2, 7).unwrap()
    }

    fn addrs() -> HubAddrs {
        HubAddrs {
            tcp: "127.0.0.1:7000".parse().unwrap(),
            udp: "127.0.0.1:6060".parse().unwrap(),
            admin: "127.0.0.1:5051".parse().unwrap(),
        }
    }

    fn plan(c: &RunConfig) -> (FleetPlan, Window, Signals) {
        let w = Window::new(Instant::now(), c);
        let s = Signals::default();
        (FleetPlan::new(c, &addrs(), &w, &s), w, s)
    }

    #[test]
    fn devices_are_dealt_round_robin_and_every_one_is_planned_once() {
        let c = cfg(&["--devices", "10", "--threads", "3"]);
        let (p, _, _) = plan(&c);
        assert_eq!(p.workers.len(), 3);
        let names = |w: &WorkerPlan| -> Vec<String> {
            w.devices
                .iter()
                .map(|d| d.device.name.to_string())
                .collect()
        };
        let idx = |is: &[u32]| -> Vec<String> { is.iter().map(|&i| c.device_name(i)).collect() };
        assert_eq!(names(&p.workers[0]), idx(&[0, 3, 6, 9]));
        assert_eq!(names(&p.workers[1]), idx(&[1, 4, 7]));
        assert_eq!(names(&p.workers[2]), idx(&[2, 5, 8]));
        for (id, w) in p.workers.iter().enumerate() {
            assert_eq!(w.id, id);
            for d in &w.devices {
                let i = (0..c.devices).find(|&i| *c.device_name(i) == *d.device.name);
                assert_eq!(d.device.kind.as_ref(), c.device_type(i.unwrap()));
            }
        }
    }

    #[test]
    fn more_workers_than_devices_leaves_some_idle() {
        // The config caps `threads` at `devices`; the plan does not rely on it.
        let mut c = cfg(&["--devices", "2"]);
        c.threads = 4;
        let (p, _, _) = plan(&c);
        let sizes: Vec<usize> = p.workers.iter().map(|w| w.devices.len()).collect();
        assert_eq!(sizes, [1, 1, 0, 0]);
    }

    #[test]
    fn the_fleet_ramps_up_at_the_connect_rate() {
        let c = cfg(&["--devices", "6", "--threads", "2", "--connect-rate", "4"]);
        let (p, w, _) = plan(&c);
        // Device i is the (i / threads)-th of worker i % threads.
        for i in 0..6u32 {
            let d = &p.workers[worker_of(i, 2)].devices[i as usize / 2].device;
            let due = w.start + Duration::from_millis(250 * u64::from(i));
            let got = d.next_wake().expect("a device waits to connect");
            let off = got.max(due) - got.min(due);
            assert!(off < Duration::from_micros(1), "device {i}: {off:?} off");
            assert_eq!(d.grace, c.registration_grace);
        }
    }

    #[test]
    fn source_ips_are_dealt_round_robin_by_device_not_by_worker() {
        let c = cfg(&[
            "--devices",
            "5",
            "--threads",
            "2",
            "--source-ips",
            "127.0.0.2-127.0.0.4",
        ]);
        let (p, _, _) = plan(&c);
        let ip = |s: &str| Some(s.parse::<Ipv4Addr>().unwrap());
        let w0: Vec<_> = p.workers[0].devices.iter().map(|d| d.source).collect();
        let w1: Vec<_> = p.workers[1].devices.iter().map(|d| d.source).collect();
        // Devices 0, 2, 4 and 1, 3.
        assert_eq!(w0, [ip("127.0.0.2"), ip("127.0.0.4"), ip("127.0.0.3")]);
        assert_eq!(w1, [ip("127.0.0.3"), ip("127.0.0.2")]);
        assert_eq!(source_of(3, &[]), None);
    }

    #[test]
    fn every_worker_gets_the_hub_the_window_and_the_shared_flags() {
        let c = cfg(&["--devices", "4", "--threads", "2", "--max-send-lag-ms", "9"]);
        let (p, w, s) = plan(&c);
        assert_eq!(w.measure_from, w.start + c.warmup);
        assert_eq!(w.stop_at, w.measure_from + c.duration);
        assert_eq!(w.drain_deadline, w.stop_at + c.drain);
        for wp in &p.workers {
            assert_eq!(wp.hub_tcp, addrs().tcp);
            assert_eq!(wp.hub_udp, addrs().udp);
            assert_eq!(wp.epoch, w.start);
            assert_eq!(wp.measure_from, w.measure_from);
            assert_eq!(wp.stop_at, w.stop_at);
            assert_eq!(wp.drain_deadline, w.drain_deadline);
            assert_eq!(wp.max_lag, Duration::from_millis(9));
            assert!(Arc::ptr_eq(&wp.abort, &s.abort));
            assert!(Arc::ptr_eq(&wp.release, &s.release));
            assert!(Arc::ptr_eq(&wp.wave_sent_ns, &s.wave_sent_ns));
        }
    }

    #[test]
    fn stages_give_workers_the_boundaries_and_devices_their_spans() {
        let c = cfg(&[
            "--devices",
            "4",
            "--threads",
            "2",
            "--stages",
            "1s:100,1s:0",
        ]);
        let (p, w, _) = plan(&c);
        let clock = StageClock::new(c.stages.as_ref().unwrap(), w.measure_from);
        assert!(p
            .workers
            .iter()
            .all(|wp| wp.stages.as_ref() == Some(&clock)));
        let d = &[
            "--devices",
            "4",
            "--threads",
            "1",
            "--stage-target",
            "devices",
            "--stages",
            "2s:2,1s:2",
        ];
        let c = cfg(d);
        let (p, w, _) = plan(&c);
        let devs = &p.workers[0].devices;
        // Device 1 joins when the target passes 1 (at 1 s); 2 and 3 never.
        let joins = devs[1].device.next_wake().unwrap() - w.measure_from;
        assert!((joins.as_secs_f64() - 1.0).abs() < 1e-6, "{joins:?}");
        assert_eq!(devs[2].device.next_wake(), None);
        assert!(devs[3].device.stage_out());
        assert!(!devs[0].device.stage_out());
    }

    #[test]
    fn open_loop_spreads_the_fleet_rate_over_its_devices() {
        let open = cfg(&["--devices", "100", "--rate", "1000"]);
        assert_eq!(
            pacing(&open),
            Pacing::Open {
                gap: Duration::from_millis(100)
            }
        );
        let closed = cfg(&["--devices", "100"]);
        assert_eq!(
            pacing(&closed),
            Pacing::Closed {
                interval: closed.interval
            }
        );
    }
}
