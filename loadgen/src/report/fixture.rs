//! A report built by [`Report::build`] from made-up inputs, for the tests
//! of the report's readers (round trip, `table`, `merge`, shard sets):
//! every section filled, nothing read from the machine or a hub; and the
//! list of loadgen reports committed in the repository.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Parser;
use serde_json::json;

use crate::cli::{Cli, Cmd};
use crate::config::RunConfig;
use crate::live::operator::{OperatorLog, Wave};
use crate::preflight::machine::{Machine, UdpSnmp};
use crate::report::accounting::Counters;
use crate::report::evidence::Samples;
use crate::report::histo::{Kind, Latencies};
use crate::report::outage::OutageSummary;
use crate::report::timeline::Sample;
use crate::report::{Cpu, Inputs, Report, RunInfo};
use crate::shard::start::StartInfo;

/// The run configuration `loadgen run <args>` gives (seed 99 unless set).
pub fn config(args: &[&str]) -> RunConfig {
    let mut v = vec!["loadgen", "run"];
    v.extend_from_slice(args);
    let Cmd::Run(a) = Cli::try_parse_from(v).expect("flags parse").into_cmd() else {
        panic!("the run subcommand")
    };
    RunConfig::from_args(&a, 2, 99).expect("flags valid")
}

/// A built report of `loadgen run <args>` with every section filled.
pub fn report(args: &[&str]) -> Report {
    let cfg = config(args);
    let n = u64::from(cfg.devices);
    let mut lat = Latencies::new();
    for (i, k) in Kind::ALL.iter().enumerate() {
        for v in 1..=50u64 {
            lat.record_us(*k, v * 37 + i as u64 * 1000);
        }
    }
    let c = Counters {
        connects_started: n,
        registrations: n,
        ever_registered: n,
        up: n,
        up_peak: n,
        generated: 700,
        sent: 700,
        cycles_started: 70,
        statuses: 70,
        reported_received: 700,
        fate_received: 700,
        commands_received: n,
        acks_sent: n,
        ..Counters::default()
    };
    let wave = Wave {
        id: 1,
        command: "ACTIVATE_ALARM".into(),
        sent_at_ms: 1500,
        reached: n,
        acked: n,
        elapsed_us: 4321,
        observed_us: 5432,
        done: true,
        measured: true,
        ..Wave::default()
    };
    let mut operator = OperatorLog::default();
    operator.waves.push(wave);
    let mut threads = BTreeMap::new();
    threads.insert("hub".to_string(), 0.125);
    threads.insert("main".to_string(), 0.3333333333333333);
    let sample = |t_s| Sample {
        t_s,
        devices_up: n,
        datagrams_sent: 350,
        statuses: 35,
        status_p99_us: 1234,
        ..Sample::default()
    };
    Report::build(Inputs {
        cfg: &cfg,
        run: RunInfo {
            command_line: vec!["loadgen".into(), "run".into()],
            seed: cfg.seed,
            start_time: "2026-12-01T12:00:00.000Z".into(),
            crate_version: "0.1.0".into(),
            git_commit: Some("0123456".into()),
            machine: Machine {
                cores: 2,
                kernel: Some("6.1.0".into()),
                ulimit_n: 20000,
                ulimit_n_hard: 20000,
                sysctls: [("net.core.rmem_max".to_string(), Some("212992".to_string()))]
                    .into_iter()
                    .collect(),
            },
            embedded_hub: true,
            hub_tcp: "127.0.0.1:7000".into(),
            hub_udp: "127.0.0.1:7001".into(),
            hub_admin: "127.0.0.1:7002".into(),
            wall_s: 12.345678901234567,
            run_id: Some("0000000000000063-1764590400000".into()),
            start: Some(StartInfo {
                requested: None,
                started_unix_ms: 1_764_590_400_000,
                skew_ms: None,
                waited_ms: 0,
            }),
        },
        counters: c,
        lat: &lat,
        operator,
        hub_stats: Some(json!({"stats": {"registered": n, "udp": {"datagrams": 700}}})),
        hub: None,
        recorder: Some(hub::recorder::RecorderStats {
            path: "/tmp/r.db".into(),
            accepted: 700,
            written: 700,
            db_open: true,
            lag_s: 0.1,
            ..Default::default()
        }),
        snmp_delta: Some(UdpSnmp {
            in_datagrams: 770,
            ..UdpSnmp::default()
        }),
        cpu: Cpu {
            loadgen_s: 0.6180339887498949,
            hub_s: Some(0.125),
            process_user_s: 0.6,
            process_sys_s: 0.2,
            threads,
        },
        time_to_register_all_ms: Some(40),
        timeline: vec![sample(1), sample(2)],
        outages: Some(OutageSummary {
            count: 1,
            longest: Duration::from_millis(20),
            total: Duration::from_millis(20),
        }),
        shard: None,
        samples: Samples {
            refusals: vec!["S1: ERROR taken".into()],
            ..Samples::default()
        },
        workers: 1,
        workers_reported: 1,
        hub_registered: Some(n),
        hub_shared: false,
    })
}

/// Every JSON file under `dir` (recursively) that is a loadgen run
/// report by its shape: an object with a `schema_version` and no `kind`
/// (`loadgen limits` writes `"kind": "limits"`; other benchmark files
/// have no schema version).
pub fn committed_reports(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            committed_reports(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            if v.get("schema_version").is_some() && v.get("kind").is_none() {
                out.push(p);
            }
        }
    }
}
