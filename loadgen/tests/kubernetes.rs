//! The Kubernetes manifests' exact command lines, run here: the shard line
//! of `deploy/kubernetes/hubstorm.yaml` once per index with
//! `JOB_COMPLETION_INDEX` set (as the Indexed Job's pods get it), all at
//! once against one hub, then the merge line of `merge.yaml`, with the
//! ConfigMap's variables pointed at this machine. The merged sums must
//! equal the hub's counters.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::fleet::{self, check_sums, load, run_bounded};

const SHARDS: u32 = 3;
const LIMIT: Duration = Duration::from_secs(60);

/// The command line under the `# <marker>` comment of a manifest.
fn command_line(manifest: &str, marker: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/kubernetes")
        .join(manifest);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|l| l.trim_start().starts_with(&format!("# {marker}")))
        .unwrap_or_else(|| panic!("{manifest}: no `# {marker}` comment"));
    let line = lines.next().expect("a line after the marker").trim_start();
    line.strip_prefix("- ")
        .expect("a YAML list item")
        .to_string()
}

/// A PATH whose `loadgen` is the binary under test (the image's is on PATH).
fn path_with_loadgen(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let link = bin.join("loadgen");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_loadgen"), &link).unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn the_indexed_jobs_command_per_index_then_the_merge() {
    let shard_line = command_line("hubstorm.yaml", "shard command");
    let merge_line = command_line("merge.yaml", "merge command");
    assert!(shard_line.contains("--shard auto"), "{shard_line}");
    let hub = fleet::start_hub("k8s");
    let dir = fleet::temp_dir("k8s");
    let reports = dir.join("reports");
    let loadgen_args = format!(
        "--devices 30 --seed 9 --duration 3s --interval 200ms --status-timeout 1s --command-every 700ms --threads 1 --tcp-port {} --udp-port {} --admin-port {}",
        hub.tcp_addr.port(),
        hub.udp_addr.port(),
        hub.admin_addr.port()
    );
    let start_at = fleet::rfc3339_in(Duration::from_secs(3));
    let env = |index: Option<u32>| {
        let mut v: Vec<(&str, String)> = vec![
            ("PATH", path_with_loadgen(&dir)),
            ("HUB", "127.0.0.1".into()),
            ("RUN_ID", "k8s-test".into()),
            ("START_AT", start_at.clone()),
            ("SHARDS", SHARDS.to_string()),
            ("LOADGEN_ARGS", loadgen_args.clone()),
            ("REPORTS", reports.display().to_string()),
        ];
        if let Some(i) = index {
            v.push(("JOB_COMPLETION_INDEX", i.to_string()));
        }
        v
    };
    let sh = PathBuf::from("/bin/sh");
    let pods: Vec<_> = (0..SHARDS)
        .map(|i| {
            let (sh, line, env) = (sh.clone(), shard_line.clone(), env(Some(i)));
            std::thread::spawn(move || run_bounded(&sh, &["-c".into(), line], &env, LIMIT))
        })
        .collect();
    for p in pods {
        let out = p.join().unwrap();
        assert!(
            out.status.success(),
            "pod: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stats = fleet::hub_stats(&hub);
    let out = run_bounded(&sh, &["-c".into(), merge_line], &env(None), LIMIT);
    assert!(
        out.status.success(),
        "merge: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = reports.join("k8s-test");
    let shards: Vec<_> = (0..SHARDS)
        .map(|i| load(&run.join(format!("shard-{i}.json"))))
        .collect();
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(s["shard"]["engine"], "kubernetes");
        assert_eq!(s["shard"]["index"], i as u64);
    }
    check_sums(&load(&run.join("merged.json")), &shards, &stats, 30);
    hub.shutdown().unwrap();
}
