//! Tests of [`super::RunConfig::from_args`]: flags, limits, refusals.

use super::*;
use crate::cli::{Cli, Cmd};
use clap::Parser;

fn cfg(args: &[&str]) -> Result<RunConfig, ConfigError> {
    let mut v = vec!["loadgen"];
    v.extend_from_slice(args);
    let Cmd::Run(a) = Cli::try_parse_from(v).unwrap().into_cmd() else {
        panic!("expected the run subcommand")
    };
    RunConfig::from_args(&a, 2, 99)
}

#[test]
fn first_command_defaults() {
    let c = cfg(&["--devices", "5000", "--loss", "0.02"]).unwrap();
    assert!(c.embedded());
    assert_eq!(c.threads, 1);
    assert_eq!(c.seed, 99);
    assert_eq!(c.device_name(0), "Sensor0001");
    assert_eq!(c.device_name(4999), "Sensor5000");
    assert_eq!(c.device_type(4), "humidity");
    assert_eq!(c.set_interval, 1);
    assert_eq!(c.drain, Duration::from_secs(7));
}

#[test]
fn small_fleet_pads_to_two() {
    let c = cfg(&["--devices", "1"]).unwrap();
    assert_eq!(c.device_name(0), "Sensor01");
}

#[test]
fn refuses_non_loopback_and_bad_values() {
    let e = cfg(&["--hub", "192.0.2.1"]).unwrap_err().to_string();
    assert!(e.contains("--allow-remote"), "{e}");
    // Parsing only: no traffic is sent by building a config.
    let remote = cfg(&["--hub", "192.0.2.1", "--allow-remote"]).unwrap();
    assert!(
        matches!(remote.target, Target::External { tcp, .. } if tcp.ip().to_string() == "192.0.2.1")
    );
    assert!(cfg(&["--loss", "1.0"]).is_err());
    assert!(cfg(&["--cycle-len", "65"]).is_err());
    assert!(cfg(&["--types", "bad type"]).is_err());
    assert!(cfg(&["--rate", "0"]).is_err());
    let c = cfg(&["--hub", "127.0.0.1", "--tcp-port", "7000"]).unwrap();
    assert_eq!(
        c.target,
        Target::External {
            tcp: "127.0.0.1:7000".parse().unwrap(),
            udp: "127.0.0.1:6060".parse().unwrap(),
            admin: "127.0.0.1:5051".parse().unwrap()
        }
    );
}

#[test]
fn fault_flags() {
    let c = cfg(&["--reorder", "0.1", "--duplicate", "1", "--delay", "50±10"]).unwrap();
    assert_eq!((c.faults.reorder, c.faults.duplicate), (0.1, 1.0));
    assert_eq!((c.faults.delay.ms, c.faults.delay.jitter_ms), (50, 10));
    assert!(!cfg(&[]).unwrap().faults.any());
    for bad in [
        &["--reorder", "2"][..],
        &["--corrupt", "1"],
        &["--delay", "50±51"],
        &["--delay", "3000"],
        &["--devices", "1", "--rate", "1000000", "--delay", "5"],
    ] {
        assert!(cfg(bad).is_err(), "{bad:?}");
    }
    // The old reports' `config` has no `faults`: all off.
    let mut v = serde_json::to_value(cfg(&[]).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("faults");
    let back: RunConfig = serde_json::from_value(v).unwrap();
    assert!(!back.faults.any());
}

#[test]
fn stages_set_the_duration_and_the_pace() {
    let c = cfg(&["--devices", "50", "--stages", "2s:500,2s:1000,1s:0"]).unwrap();
    assert_eq!(c.duration, Duration::from_secs(5));
    assert_eq!(c.pace, Pace::OpenLoop { rate: 1000.0 });
    assert_eq!(c.stages.as_ref().map(|s| s.len()), Some(3));
    assert_eq!(cfg(&[]).unwrap().duration, DEFAULT_DURATION);
    assert!(cfg(&["--stages", "2s:5", "--duration", "2s"]).is_ok());
    let e = cfg(&["--stages", "2s:5", "--duration", "3s"])
        .unwrap_err()
        .0;
    assert!(
        e.contains("disagrees with --stages, whose sum is 2.000s"),
        "{e}"
    );
    let e = cfg(&["--stages", "2s:5", "--rate", "10"]).unwrap_err().0;
    assert!(e.contains("drop --rate"), "{e}");
    let d = ["--devices", "10", "--stage-target", "devices", "--stages"];
    let e = cfg(&[&d[..], &["1s:5,1s:20"][..]].concat()).unwrap_err().0;
    assert_eq!(
        e,
        "--stages: stage 2 asks for 20 devices, more than --devices 10"
    );
    let c = cfg(&[&d[..], &["1s:5,1s:10"][..]].concat()).unwrap();
    assert!(matches!(c.pace, Pace::ClosedLoop { .. }));
    let e = cfg(&["--stages", "1s:x"]).unwrap_err().0;
    assert!(e.starts_with("--stages: stage 1 `1s:x`"), "{e}");
}

#[test]
fn source_ip_ranges() {
    assert_eq!(
        parse_source_ips("127.0.0.2-127.0.0.9", false)
            .unwrap()
            .len(),
        8
    );
    assert_eq!(
        parse_source_ips("127.0.0.2,127.0.0.5", false)
            .unwrap()
            .len(),
        2
    );
    assert!(parse_source_ips("10.0.0.1-10.0.0.2", false).is_err());
    assert!(parse_source_ips("127.0.0.9-127.0.0.2", false).is_err());
    assert_eq!(
        parse_source_ips("10.0.0.1-10.0.0.2", true).unwrap().len(),
        2
    );
}
