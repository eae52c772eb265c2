//! Shards: one fleet split over many loadgen processes, on one machine or
//! many, started by an engine people already run (Slurm, a Kubernetes
//! Indexed Job, an MPI launcher). There is no cluster protocol of our own:
//! each shard computes its part of the fleet from `--shard I/N` and the
//! same fleet flags, waits for a shared `--start-at` instant, sends its
//! command waves only to its own devices (`send prefix=<p>,ids=<a>-<b>`)
//! and writes its own report; `loadgen merge` checks the set
//! ([`set`]) and adds the reports exactly.
//!
//! - [`split`]: which devices and what part of the rates shard `I/N` gets.
//! - [`engine`]: `--shard auto`, from the launcher's variables.
//! - [`start`]: `--start-at`/`--start-in` and the skew the report records.
//! - [`set`]: the merge's checks that the reports are one whole run.
//!
//! [`plan`] turns the run flags into this process's [`RunConfig`] and its
//! [`Placement`] (shard, run id, start instant, wave target).

pub mod engine;
pub mod set;
pub mod split;
pub mod start;

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::cli::RunArgs;
use crate::config::{ConfigError, Pace, RunConfig};
use crate::rng::SplitMix64;
pub use split::ShardSpec;

/// Longest `--run-id` (it goes into file names through `{run}`).
pub const MAX_RUN_ID: usize = 64;

/// RNG stream that derives a shard's seed from the fleet seed (device
/// streams are `0..devices`, the operator's is `u64::MAX`).
const SHARD_SEED_STREAM: u64 = 1 << 40;

pub use crate::cli::ShardArgs;

/// A shard's place in its fleet, as the report records it (`shard`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    /// What gave the index: `flag` (`--shard I/N`) or the engine's name.
    pub engine: String,
    /// The whole fleet, as `--devices`, `--first-id`, `--seed`, `--rate` and
    /// `--connect-rate` gave it (the shard's own part is in `config`).
    pub fleet_devices: u32,
    pub fleet_first_id: u64,
    pub fleet_seed: u64,
    pub fleet_rate: Option<f64>,
    pub fleet_connect_rate: f64,
}

/// Where this process stands in its run, beside its [`RunConfig`].
#[derive(Debug, Clone)]
pub struct Placement {
    pub shard: Option<ShardInfo>,
    pub run_id: String,
    /// The instant to start the ramp at, if one was asked for.
    pub start_at: Option<SystemTime>,
    /// The operator's `send` target: `*`, or this run's devices only.
    pub wave_target: String,
}

fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

/// The seed of shard `index` of a fleet seeded `fleet_seed`.
pub fn shard_seed(fleet_seed: u64, index: u32) -> u64 {
    SplitMix64::new(fleet_seed, SHARD_SEED_STREAM + u64::from(index)).next_u64()
}

/// The run id derived from the fleet seed and the start instant (Unix ms).
pub fn derived_run_id(seed: u64, start_unix_ms: u64) -> String {
    format!("{seed:016x}-{start_unix_ms}")
}

fn check_run_id(id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_RUN_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "--run-id must be 1..={MAX_RUN_ID} characters of A-Z a-z 0-9 - _ ."
        )))
    }
}

/// The `send` target selecting exactly `cfg`'s devices.
pub fn own_devices(cfg: &RunConfig) -> String {
    let first = cfg.first_id;
    let last = first + u64::from(cfg.devices) - 1;
    format!("prefix={},ids={first}-{last}", cfg.prefix)
}

/// This process's config and placement. `env` looks up the launcher's
/// variables (for `--shard auto`), `now` is the launch time.
pub fn plan(
    a: &RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
    cores: usize,
    clock_seed: u64,
    now: SystemTime,
) -> Result<(RunConfig, Placement), ConfigError> {
    let s = &a.fleet;
    // The whole fleet first: its names' width, its seed, its validity.
    let fleet = RunConfig::from_args(a, cores, clock_seed)?;
    if fleet.stages.is_some() && s.shard.is_some() {
        return Err(bad(
            "--stages with --shard: not supported yet (run the stages in one process)",
        ));
    }
    let start_at = start::resolve(s.start_at.as_deref(), s.start_in, now).map_err(bad)?;
    if let Some(id) = &s.run_id {
        check_run_id(id)?;
    }
    let spec = match s.shard.as_deref() {
        None => {
            if s.shards.is_some() {
                return Err(bad("--shards is for --shard auto"));
            }
            None
        }
        Some("auto") => Some(engine::detect(env, s.shards).map_err(bad)?),
        Some(text) => {
            if s.shards.is_some() {
                return Err(bad(
                    "--shards is for --shard auto (--shard I/N already gives N)",
                ));
            }
            Some((ShardSpec::parse(text).map_err(bad)?, "flag"))
        }
    };
    let derived = |seed: u64| start_at.map(|t| derived_run_id(seed, start::unix_ms(t)));
    let Some((spec, engine)) = spec else {
        let run_id = s
            .run_id
            .clone()
            .or_else(|| derived(fleet.seed))
            .unwrap_or_else(|| derived_run_id(fleet.seed, start::unix_ms(now)));
        let wave_target = if s.shared_hub {
            own_devices(&fleet)
        } else {
            "*".to_string()
        };
        return Ok((
            fleet,
            Placement {
                shard: None,
                run_id,
                start_at,
                wave_target,
            },
        ));
    };
    // Every shard must name the same run without talking to the others:
    // a shared --run-id, or the same --seed and --start-at.
    let run_id = match (&s.run_id, a.seed, s.start_at.is_some()) {
        (Some(id), _, _) => id.clone(),
        (None, Some(seed), true) => derived(seed).expect("start_at is set"),
        _ => {
            return Err(bad(
                "a sharded run needs --run-id, or --seed with --start-at, so every shard names the same run",
            ))
        }
    };
    if spec.count > a.devices {
        return Err(bad(format!(
            "{} shards for {} devices: some shard would have no devices",
            spec.count, a.devices
        )));
    }
    let (offset, devices) = spec.devices(a.devices);
    let mut part = a.clone();
    part.devices = devices;
    part.first_id = a.first_id + u64::from(offset);
    part.rate = a.rate.map(|r| spec.rate(r, a.devices));
    part.connect_rate = spec.rate(a.connect_rate, a.devices);
    part.seed = Some(shard_seed(fleet.seed, spec.index));
    let mut cfg = RunConfig::from_args(&part, cores, clock_seed)?;
    // Names as the one-process run would give them.
    cfg.id_width = fleet.id_width;
    let shard = ShardInfo {
        index: spec.index,
        count: spec.count,
        engine: engine.to_string(),
        fleet_devices: fleet.devices,
        fleet_first_id: fleet.first_id,
        fleet_seed: fleet.seed,
        fleet_rate: match fleet.pace {
            Pace::OpenLoop { rate } => Some(rate),
            Pace::ClosedLoop { .. } => None,
        },
        fleet_connect_rate: fleet.connect_rate,
    };
    let wave_target = own_devices(&cfg);
    Ok((
        cfg,
        Placement {
            shard: Some(shard),
            run_id,
            start_at,
            wave_target,
        },
    ))
}

/// `--out` with `{shard}` (the index; 0 unsharded) and `{run}` (the run id)
/// filled in.
pub fn out_path(template: &std::path::Path, p: &Placement) -> PathBuf {
    let index = p.shard.as_ref().map_or(0, |s| s.index).to_string();
    let text = template.to_string_lossy();
    PathBuf::from(text.replace("{shard}", &index).replace("{run}", &p.run_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Cmd};
    use clap::Parser;
    use std::collections::HashMap;
    use std::time::Duration;
    use std::time::UNIX_EPOCH;

    const NOW: u64 = 1_761_157_215;

    fn plan_with(
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> Result<(RunConfig, Placement), ConfigError> {
        let mut v = vec!["loadgen"];
        v.extend_from_slice(args);
        let Cmd::Run(a) = Cli::try_parse_from(v).unwrap().into_cmd() else {
            panic!("expected run")
        };
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        plan(
            &a,
            &move |k| m.get(k).cloned(),
            2,
            99,
            UNIX_EPOCH + Duration::from_secs(NOW),
        )
    }

    #[test]
    fn three_shards_are_the_one_process_fleet() {
        let base = [
            "--devices",
            "100",
            "--first-id",
            "1",
            "--rate",
            "1000",
            "--connect-rate",
            "300",
            "--seed",
            "7",
            "--run-id",
            "r1",
        ];
        let (whole, _) = plan_with(&base, &[]).unwrap();
        let mut names = Vec::new();
        let (mut rate, mut connect) = (0.0, 0.0);
        for i in 0..3 {
            let shard = format!("{i}/3");
            let mut args = base.to_vec();
            args.extend_from_slice(&["--shard", &shard]);
            let (c, p) = plan_with(&args, &[]).unwrap();
            names.extend((0..c.devices).map(|d| c.device_name(d)));
            let Pace::OpenLoop { rate: r } = c.pace else {
                panic!()
            };
            rate += r;
            connect += c.connect_rate;
            assert_eq!(c.seed, shard_seed(7, i));
            let s = p.shard.unwrap();
            assert_eq!(
                (s.index, s.count, s.fleet_devices, s.fleet_seed),
                (i, 3, 100, 7)
            );
            assert_eq!(p.run_id, "r1");
            assert_eq!(p.wave_target, own_devices(&c));
        }
        let want: Vec<String> = (0..whole.devices).map(|d| whole.device_name(d)).collect();
        assert_eq!(names, want, "the shards' names are the one-process run's");
        assert!((rate - 1000.0).abs() < 1e-9 && (connect - 300.0).abs() < 1e-9);
        // Names keep the fleet's width: 100 devices → three digits everywhere.
        let (c0, p0) = plan_with(&[&base[..], &["--shard", "0/3"]].concat(), &[]).unwrap();
        assert_eq!(c0.device_name(0), "Sensor001");
        assert_eq!(p0.wave_target, "prefix=Sensor,ids=1-33");
    }

    #[test]
    fn auto_from_slurm_and_kubernetes() {
        let base = [
            "--devices",
            "10",
            "--seed",
            "1",
            "--start-at",
            "2025-10-22T18:21:00Z",
            "--shard",
            "auto",
        ];
        let (c, p) = plan_with(&base, &[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "2")]).unwrap();
        assert_eq!((c.first_id, c.devices), (6, 5));
        assert_eq!(p.shard.as_ref().unwrap().engine, "slurm");
        assert_eq!(p.run_id, derived_run_id(1, 1_761_157_260_000));
        let (c, p) = plan_with(
            &[&base[..], &["--shards", "5"]].concat(),
            &[("JOB_COMPLETION_INDEX", "4")],
        )
        .unwrap();
        assert_eq!((c.first_id, c.devices), (9, 2));
        assert_eq!(p.shard.unwrap().engine, "kubernetes");
        let e = plan_with(&base, &[]).unwrap_err().to_string();
        assert!(e.contains("no launcher variable"), "{e}");
    }

    #[test]
    fn refusals() {
        let e = plan_with(&["--devices", "10", "--shard", "0/2"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--run-id, or --seed with --start-at"), "{e}");
        let e = plan_with(&["--devices", "2", "--shard", "2/3", "--run-id", "x"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("would have no devices"), "{e}");
        let e = plan_with(&["--run-id", "a/b"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--run-id"), "{e}");
        assert!(plan_with(&["--shards", "3"], &[]).is_err());
    }

    #[test]
    fn unsharded_defaults_and_out_path() {
        let (c, p) = plan_with(&["--devices", "10", "--seed", "255"], &[]).unwrap();
        assert!(p.shard.is_none());
        assert_eq!(p.wave_target, "*");
        assert_eq!(p.run_id, derived_run_id(255, NOW * 1000));
        let (_, p) = plan_with(
            &["--devices", "10", "--first-id", "21", "--shared-hub"],
            &[],
        )
        .unwrap();
        assert_eq!(p.wave_target, "prefix=Sensor,ids=21-30");
        assert_eq!(c.devices, 10);
        let (_, p) = plan_with(
            &["--devices", "9", "--shard", "2/3", "--run-id", "nightly"],
            &[],
        )
        .unwrap();
        assert_eq!(
            out_path(std::path::Path::new("/r/{run}/shard-{shard}.json"), &p),
            PathBuf::from("/r/nightly/shard-2.json")
        );
    }
}
