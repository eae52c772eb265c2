//! Three shards of one fleet against one hub (the hub library on a thread
//! of this test; each shard a loadgen process): every shard starts at one
//! `--start-at` instant, sends its waves only to its own devices, and the
//! merge of the three reports adds up to the hub's own counters. Then the
//! merge refuses an incomplete, duplicated or foreign set.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::fleet::{self, check_sums, hub_flags, load, merge, run_bounded};
use common::u;

const DEVICES: u64 = 30;
/// A 3 s run with 1 s STATUS timeout and drain ends within ~8 s of its start.
const SHARD_LIMIT: Duration = Duration::from_secs(40);

fn shard_args(hub: &[String], start_at: &str, out: &Path) -> Vec<String> {
    let mut a: Vec<String> = [
        "--devices",
        "30",
        "--seed",
        "11",
        "--start-at",
        start_at,
        "--duration",
        "3s",
        "--interval",
        "200ms",
        "--status-timeout",
        "1s",
        "--command-every",
        "700ms",
        "--connect-rate",
        "300",
        "--quiet",
        "--threads",
        "1",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(out.join("{run}-shard{shard}.json").display().to_string());
    a.extend_from_slice(hub);
    a
}

#[test]
fn three_shards_against_one_hub_merge_to_the_hubs_counters() {
    let hub = fleet::start_hub("three");
    let dir = fleet::temp_dir("three");
    let start_at = fleet::rfc3339_in(Duration::from_secs(2));
    let args = shard_args(&hub_flags(&hub), &start_at, &dir);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    let children: Vec<_> = (0..3)
        .map(|i| {
            let mut a = args.clone();
            a.extend(["--shard".into(), format!("{i}/3")]);
            let bin = bin.clone();
            std::thread::spawn(move || run_bounded(&bin, &a, &[], SHARD_LIMIT))
        })
        .collect();
    for c in children {
        let out = c.join().unwrap();
        assert!(
            out.status.success(),
            "shard: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stats = fleet::hub_stats(&hub);
    let mut reports: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    reports.sort();
    assert_eq!(reports.len(), 3, "{reports:?}");
    let shards: Vec<_> = reports.iter().map(|p| load(p)).collect();
    let run_id = shards[0]["run"]["run_id"].as_str().unwrap().to_string();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"]["index"], i as u64);
        assert_eq!(s["run"]["run_id"], run_id.as_str());
        assert_eq!(u(s, "config.devices"), 10);
        assert_eq!(u(s, "config.first_id"), 1 + 10 * i as u64);
        assert_eq!(
            s["run"]["start"]["requested"].as_str().map(|r| r.len()),
            Some(27)
        );
        // Launched well before the instant: the shard waited and began on it
        // (the skew is scheduling delay, far below the 2 s lead).
        let skew = s["run"]["start"]["skew_ms"].as_f64().unwrap();
        assert!(skew.abs() < 1000.0, "skew {skew} ms");
        assert!(u(s, "run.start.waited_ms") > 0);
        assert!(reports[i].ends_with(format!("{run_id}-shard{i}.json")));
    }
    let merged_path = dir.join("merged.json");
    let out = merge(&reports, &[], &merged_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let merged = load(&merged_path);
    assert_eq!(merged["shards"]["present"], serde_json::json!([0, 1, 2]));
    check_sums(&merged, &shards, &stats, DEVICES);

    // The set checks, on these real reports.
    let e = merge(&reports[..2], &[], &dir.join("m2.json"));
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(
        !e.status.success() && err.contains("shard 2 of 3 missing"),
        "{err}"
    );
    let e = merge(&reports[..2], &["--partial"], &dir.join("m2.json"));
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    assert_eq!(
        load(&dir.join("m2.json"))["shards"]["missing"],
        serde_json::json!([2])
    );
    let dup = vec![
        reports[0].clone(),
        reports[1].clone(),
        reports[1].clone(),
        reports[2].clone(),
    ];
    let e = merge(&dup, &[], &dir.join("m3.json"));
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(
        !e.status.success() && err.contains("appears twice"),
        "{err}"
    );
    let mut foreign = load(&reports[2]);
    foreign["run"]["run_id"] = serde_json::json!("another-run");
    let fp = dir.join("foreign.json");
    std::fs::write(&fp, foreign.to_string()).unwrap();
    let e = merge(
        &[reports[0].clone(), reports[1].clone(), fp],
        &[],
        &dir.join("m4.json"),
    );
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && err.contains("foreign"), "{err}");
    hub.shutdown().unwrap();
}

#[test]
fn shard_flags_fail_with_one_clear_line_before_any_traffic() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_loadgen"));
    // Every launcher variable removed, as on a plain shell.
    let mut c = std::process::Command::new(&bin);
    c.args([
        "--devices",
        "10",
        "--shard",
        "auto",
        "--run-id",
        "x",
        "--quiet",
    ]);
    for v in [
        "SLURM_PROCID",
        "SLURM_NTASKS",
        "JOB_COMPLETION_INDEX",
        "OMPI_COMM_WORLD_RANK",
        "OMPI_COMM_WORLD_SIZE",
        "PMI_RANK",
        "PMI_SIZE",
    ] {
        c.env_remove(v);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no launcher variable") && err.contains("SLURM_PROCID"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // The engine's variables through the real environment.
    let out = std::process::Command::new(&bin)
        .args(["--devices", "10", "--shard", "auto", "--quiet"])
        .env("SLURM_PROCID", "1")
        .env("SLURM_NTASKS", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--run-id, or --seed with --start-at"), "{err}");
    for (args, want) in [
        (vec!["--shard", "3/3"], "count from 0"),
        (vec!["--start-at", "2026-13-01T00:00:00Z"], "--start-at"),
        (vec!["--start-at", "2999-01-01T00:00:00Z"], "more than 24 h"),
        (
            vec!["--start-in", "1s", "--start-at", "2026-12-01T00:00:00Z"],
            "not both",
        ),
    ] {
        let out = std::process::Command::new(&bin)
            .args(["--devices", "10", "--quiet", "--run-id", "x"])
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
