//! Signals and log rotation (issue 10, items 2 and 3): no signal one can
//! send by accident kills the hub without its SHUTDOWN line; SIGHUP reopens
//! the log and SIGUSR1 logs a stats line; the real `logrotate`, in `create`
//! and `copytruncate` modes, rotates the log under load with every event in
//! exactly one file. A well-behaved device is served throughout.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, Admin, Device, HubProc, Probe};
use hub::logfield::parse_fields;

#[test]
fn stray_signals_do_not_kill_and_hup_usr1_do_their_jobs() {
    let mut hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let pid = hub.child.id() as i32;
    let stray = [
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
        libc::SIGPWR,
        libc::SIGXCPU,
        libc::SIGPIPE,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGXFSZ,
    ];
    for sig in stray {
        unsafe { libc::kill(pid, sig) };
    }
    eventually(|| (hub.stats()["loop"]["signals_ignored"].as_u64() >= Some(7)).then_some(()))
        .expect("stray signals counted");
    assert!(hub.alive());
    unsafe { libc::kill(pid, libc::SIGHUP) };
    eventually(|| (hub.stats()["log"]["reopens"].as_u64() >= Some(1)).then_some(()))
        .expect("SIGHUP reopened the log");
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let log = hub.wait_log(" STATS stats=");
    let line = log.lines().find(|l| l.contains(" STATS ")).unwrap();
    let (_, fields) = parse_fields(line.split_once(' ').unwrap().1).expect("grammar");
    let v: serde_json::Value = serde_json::from_str(&fields[0].1).expect("stats JSON");
    assert!(v["registrations"].as_u64().is_some(), "{v}");
    assert!(hub.alive());
    probe.finish();
    // SIGQUIT stops cleanly, like SIGTERM.
    let s = hub.signal(libc::SIGQUIT);
    assert!(s.success(), "{s}");
    assert!(hub.log_text().trim_end().ends_with("SHUTDOWN"));
}

/// The logrotate binary, or `None` (a failure under CI).
fn logrotate() -> Option<PathBuf> {
    for p in [
        "/usr/sbin/logrotate",
        "/sbin/logrotate",
        "/usr/bin/logrotate",
    ] {
        if Path::new(p).exists() {
            return Some(p.into());
        }
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("logrotate is not installed (CI must install the logrotate package)");
    }
    eprintln!("SKIPPED: logrotate is not installed");
    None
}

/// Devices that ACK every command, and an operator sending uniquely named
/// commands to them as fast as they are answered.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<u64>>,
}

impl Load {
    fn start(hub: &HubProc, devices: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for d in 0..devices {
            let mut dev = Device::register(hub.tcp, &format!("Rot{d}"), "t", true);
            hub.wait_log(&format!("REGISTER device=Rot{d} "));
            let flag = stop.clone();
            threads.push(std::thread::spawn(move || {
                dev.stream
                    .set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let mut r = BufReader::new(dev.stream.try_clone().unwrap());
                let mut n = 0;
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) => return n,
                        Ok(_) => {
                            dev.stream.write_all(b"ACK\n").unwrap();
                            n += 1;
                        }
                        Err(_) if flag.load(Ordering::Relaxed) => return n,
                        Err(_) => {}
                    }
                }
            }));
        }
        let flag = stop.clone();
        let admin = hub.admin;
        threads.push(std::thread::spawn(move || {
            let mut a = Admin::connect(admin);
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let v = a.cmd(&format!("send Rot{} C{i}", i as usize % devices));
                assert_eq!(v["ok"], true, "{v}");
                i += 1;
                // Read the wave's tally too, so the next command waits
                // for this one's ACK: the queues never fill.
                let done = a.read();
                assert_eq!(done["acked"], 1, "{done}");
            }
            i
        }));
        Load { stop, threads }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let mut it = self.threads.into_iter().rev();
        let sent = it.next().unwrap().join().unwrap();
        for t in it {
            t.join().unwrap();
        }
        sent
    }
}

fn rotate_under_load(mode: &str) {
    let Some(bin) = logrotate() else {
        return;
    };
    let hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let conf = hub.dir.join("logrotate.conf");
    let state = hub.dir.join("logrotate.state");
    let post = if mode == "create" {
        format!(
            "    postrotate\n        kill -HUP {}\n    endscript\n",
            hub.child.id()
        )
    } else {
        String::new()
    };
    std::fs::write(
        &conf,
        format!(
            "{} {{\n    rotate 100\n    missingok\n    nocompress\n    {mode}\n{post}}}\n",
            hub.log.display()
        ),
    )
    .unwrap();
    let load = Load::start(&hub, 4);
    let rotations = 6;
    for _ in 0..rotations {
        std::thread::sleep(Duration::from_millis(300));
        let out = std::process::Command::new(&bin)
            .arg("-f")
            .arg("-s")
            .arg(&state)
            .arg(&conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "logrotate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = load.finish();
    probe.finish();
    let st = hub.stats();
    assert!(sent > 100, "load too light to prove anything: {sent}");
    let deadline = Instant::now() + Duration::from_secs(10);
    // Everything flushed (100 ms), then count across all files.
    std::thread::sleep(Duration::from_millis(300));
    let mut files = vec![hub.log.clone()];
    for k in 1..=rotations + 1 {
        let p = PathBuf::from(format!("{}.{k}", hub.log.display()));
        if p.exists() {
            files.push(p);
        }
    }
    assert!(files.len() > rotations / 2, "rotated files: {files:?}");
    let mut commands = std::collections::HashMap::<String, (u32, u32)>::new();
    let mut total = 0u64;
    for f in &files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            total += 1;
            let (_, rest) = line.split_once(' ').unwrap();
            let (ev, fields) = parse_fields(rest).unwrap_or_else(|| panic!("{line:?}"));
            let cmd = fields.iter().find(|(k, _)| k == "command");
            let Some((_, c)) = cmd else { continue };
            if !c.starts_with('C') {
                continue;
            }
            let e = commands.entry(c.clone()).or_default();
            match ev.as_str() {
                "COMMAND" => e.0 += 1,
                "ACK" => e.1 += 1,
                _ => {}
            }
        }
    }
    assert!(Instant::now() < deadline);
    assert_eq!(commands.len() as u64, sent, "every command is in the logs");
    for (c, (sent_lines, acks)) in &commands {
        assert_eq!(
            (*sent_lines, *acks),
            (1, 1),
            "{c}: COMMAND and ACK exactly once"
        );
    }
    assert_eq!(st["log"]["dropped"], 0, "{st}");
    if mode == "copytruncate" {
        assert_eq!(st["log"]["truncations"], rotations as u64, "{st}");
        assert_eq!(st["log"]["truncations_unverified"], 0, "{st}");
    } else {
        assert!(
            st["log"]["reopens"].as_u64() >= Some(rotations as u64),
            "{st}"
        );
    }
    eprintln!(
        "{mode}: {sent} commands, {total} lines in {} files, log stats {}",
        files.len(),
        st["log"]
    );
    assert!(total <= st["log"]["written"].as_u64().unwrap() + 100);
    hub.stop();
}

#[test]
fn logrotate_create_under_load_loses_and_duplicates_nothing() {
    rotate_under_load("create");
}

#[test]
fn logrotate_copytruncate_under_load_loses_and_duplicates_nothing() {
    rotate_under_load("copytruncate");
}
