//! Shard tests' helpers: a hub on its own thread in the test process, the
//! loadgen binary's shards against it, bounded waits, and the hub's own
//! counters to check merged sums against.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use hub::config::HubConfig;
use hub::server::{Hub, HubHandle};
use serde_json::Value;

/// A hub on free loopback ports, logging to a temp file tagged `tag`.
pub fn start_hub(tag: &str) -> HubHandle {
    let log = std::env::temp_dir().join(format!("shard-test-{}-{tag}.log", std::process::id()));
    Hub::bind(HubConfig::embedded(log))
        .and_then(Hub::spawn)
        .expect("start the hub")
}

/// The `--hub … --tcp-port …` flags for `hub`.
pub fn hub_flags(hub: &HubHandle) -> Vec<String> {
    vec![
        "--hub".into(),
        "127.0.0.1".into(),
        "--tcp-port".into(),
        hub.tcp_addr.port().to_string(),
        "--udp-port".into(),
        hub.udp_addr.port().to_string(),
        "--admin-port".into(),
        hub.admin_addr.port().to_string(),
    ]
}

/// The hub's `stats` object.
pub fn hub_stats(hub: &HubHandle) -> Value {
    loadgen::live::operator::query(hub.admin_addr, "stats").expect("stats")["stats"].clone()
}

/// An RFC 3339 instant `d` from now.
pub fn rfc3339_in(d: Duration) -> String {
    loadgen::shard::start::format(SystemTime::now() + d)
}

/// A fresh temp directory for `tag`.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shard-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Waits for `child` until `deadline`, killing it past that.
pub fn wait_bounded(child: &mut Child, deadline: Instant, what: &str) -> std::process::ExitStatus {
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish by its deadline");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `prog args` with `envs`, killed past `limit`; stdout and stderr
/// are captured.
pub fn run_bounded(
    prog: &Path,
    args: &[String],
    envs: &[(&str, String)],
    limit: Duration,
) -> Output {
    let mut c = Command::new(prog);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in envs {
        c.env(k, v);
    }
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", prog.display()));
    wait_bounded(
        &mut child,
        Instant::now() + limit,
        &prog.display().to_string(),
    );
    child.wait_with_output().expect("output")
}

/// `loadgen merge` of `reports` (plus `extra` flags) into `out`.
pub fn merge(reports: &[PathBuf], extra: &[&str], out: &Path) -> Output {
    let mut args: Vec<String> = vec!["merge".into()];
    args.extend(reports.iter().map(|p| p.display().to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--out".into(), out.display().to_string()]);
    run_bounded(
        Path::new(env!("CARGO_BIN_EXE_loadgen")),
        &args,
        &[],
        Duration::from_secs(30),
    )
}

/// The JSON at `p`.
pub fn load(p: &Path) -> Value {
    let text = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Checks a merged report of `devices` devices, every shard's own report
/// and the hub's counters against each other: every device registered
/// once, every datagram sent arrived at the hub, every wave reached only
/// its shard's devices, every ACK written reached the hub.
pub fn check_sums(merged: &Value, shards: &[Value], stats: &Value, devices: u64) {
    let u = super::u;
    assert_eq!(u(merged, "devices.registered"), devices, "registered");
    assert_eq!(u(merged, "config.devices"), devices);
    assert_eq!(
        u(stats, "registrations"),
        u(merged, "devices.registrations"),
        "registrations: hub vs merged"
    );
    assert_eq!(
        u(stats, "udp.datagrams"),
        u(merged, "udp.sent"),
        "datagrams: hub received vs merged sent"
    );
    assert_eq!(
        u(stats, "commands_sent"),
        u(merged, "commands.received_by_devices"),
        "commands: hub sent vs devices received"
    );
    assert_eq!(
        u(stats, "acks"),
        u(merged, "commands.acks_written"),
        "ACKs: hub vs merged"
    );
    assert_eq!(
        merged["udp"]["unexplained_loss"], 0,
        "{}",
        merged["loss_diagnosis"]
    );
    assert_eq!(merged["udp"]["identity"], "ok");
    let mut reached = 0;
    for s in shards {
        let own = u(s, "config.devices");
        let waves = s["commands"]["wave_list"].as_array().unwrap();
        assert!(
            !waves.is_empty(),
            "shard {} sent no wave",
            s["shard"]["index"]
        );
        for w in waves {
            // A wave reaches at most the shard's own devices.
            assert!(
                u(w, "reached") <= own,
                "wave {w} reached past shard {}",
                s["shard"]["index"]
            );
            reached += u(w, "reached");
        }
        // The shard's devices received exactly its own waves' commands.
        let got: u64 = waves.iter().map(|w| u(w, "reached")).sum();
        assert_eq!(
            u(s, "counters.commands_received"),
            got,
            "shard {}",
            s["shard"]["index"]
        );
    }
    assert_eq!(
        reached,
        u(stats, "commands_sent"),
        "every hub command belongs to one shard's wave"
    );
}
