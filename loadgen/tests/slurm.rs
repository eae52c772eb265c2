//! Slurm end to end: a one-node cluster started by this test
//! ([`common::slurm::Cluster`]), one hub (the library, on a thread of
//! this test), and `deploy/slurm/hubstorm.sbatch` submitted with
//! `sbatch --wait --ntasks 3 --overcommit`: its `srun` runs three shards
//! (`--shard auto` from SLURM_PROCID/SLURM_NTASKS) and merges their reports;
//! the merged sums must equal the hub's own counters. Under `CI=true` a
//! missing Slurm or munge fails the test instead of skipping it.

mod common;

use std::path::{Path, PathBuf};

use common::fleet::{self, check_sums, hub_flags, load};
use common::slurm::{self, Cluster};
use common::u;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/slurm/hubstorm.sbatch")
}

#[test]
fn three_shards_through_srun_merge_to_the_hubs_counters() {
    if let Some(why) = slurm::unavailable() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Slurm test cannot run under CI: {why}"
        );
        eprintln!("SKIPPED (not under CI): {why}");
        return;
    }
    let cluster = Cluster::start("three");
    // srun itself, as the recipe says.
    let out = cluster.cmd(
        "srun",
        &["--ntasks", "3", "--overcommit", "printenv", "SLURM_PROCID"],
    );
    let mut ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["0", "1", "2"],
        "srun: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        cluster.logs()
    );

    let hub = fleet::start_hub("slurm");
    let work = cluster.dir.join("submit");
    std::fs::create_dir_all(&work).unwrap();
    let mut args: Vec<String> = ["--wait", "--ntasks", "3", "--overcommit"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(script().display().to_string());
    args.extend(hub_flags(&hub).into_iter().skip(2)); // HUB gives the address
    args.extend(
        [
            "--devices",
            "30",
            "--seed",
            "5",
            "--duration",
            "3s",
            "--interval",
            "200ms",
            "--status-timeout",
            "1s",
            "--command-every",
            "700ms",
            "--threads",
            "1",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = cluster.cmd_env(
        "sbatch",
        &argv,
        &[
            ("HUB", "127.0.0.1".into()),
            ("LOADGEN", env!("CARGO_BIN_EXE_loadgen").into()),
            ("START_LEAD", "3".into()),
        ],
        &work,
    );
    let job_out: String = std::fs::read_dir(&work)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("hubstorm-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(
        out.status.success(),
        "sbatch: {}{}\njob output:\n{job_out}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        cluster.logs()
    );
    let stats = fleet::hub_stats(&hub);
    let job = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .expect("sbatch prints the job id")
        .to_string();
    let dir = work.join(format!("reports/slurm-{job}"));
    let shards: Vec<_> = (0..3)
        .map(|i| load(&dir.join(format!("shard-{i}.json"))))
        .collect();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"]["engine"], "slurm");
        assert_eq!(s["shard"]["index"], i as u64);
        assert_eq!(s["run"]["run_id"], format!("slurm-{job}"));
        assert_eq!(u(s, "config.devices"), 10);
    }
    let merged = load(&dir.join("merged.json"));
    assert_eq!(merged["shards"]["count"], 3);
    check_sums(&merged, &shards, &stats, 30);
    hub.shutdown().unwrap();
}
