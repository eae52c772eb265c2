//! Standard I/O never stops the loop (issue 10, item 4): stdout closed or
//! never drained, an over-long console line, `--classic` output nobody
//! reads, and a hub started in the background of a terminal. A
//! well-behaved device is served throughout.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::{assert_serves, eventually, Admin, Device, HubAddrs, HubProc, Probe, Sensor, WAIT};

/// A hub whose stdout the test holds raw (to close it or never read it).
struct RawHub {
    child: Child,
    addrs: HubAddrs,
    stdout: Option<ChildStdout>,
    dir: std::path::PathBuf,
}

impl Drop for RawHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn addr_after(text: &str, key: &str) -> SocketAddr {
    hub::server::banner_addr(text, key).unwrap_or_else(|| panic!("no {key} address in {text:?}"))
}

fn raw_hub(name: &str, args: &[&str]) -> RawHub {
    let dir = std::env::temp_dir().join(format!("hubstdio-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The scratch directory is the working directory: the default
    // recorder file lands there, never in the source tree.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hub"))
        .current_dir(&dir)
        .args(["--tcp-port", "0", "--udp-port", "0", "--admin-port", "0"])
        .arg("--log-file")
        .arg(dir.join("log.txt"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    // Read the banner byte by byte, so nothing after it is consumed.
    let mut text = Vec::new();
    let classic = args.contains(&"--classic");
    let end = if classic {
        "Data Collector listening on "
    } else {
        "max connections"
    };
    let mut b = [0u8; 1];
    while !String::from_utf8_lossy(&text).contains(end) || text.last() != Some(&b'\n') {
        assert_eq!(out.read(&mut b).unwrap(), 1, "hub exited during its banner");
        text.push(b[0]);
    }
    let text = String::from_utf8(text).unwrap();
    let addrs = if classic {
        HubAddrs {
            tcp: addr_after(&text, "TCP Smart Hub listening on "),
            udp: addr_after(&text, "Data Collector listening on "),
            admin: "127.0.0.1:1".parse().unwrap(),
        }
    } else {
        HubAddrs {
            tcp: addr_after(&text, "tcp="),
            udp: addr_after(&text, "udp="),
            admin: addr_after(&text, "admin="),
        }
    };
    RawHub {
        child,
        addrs,
        stdout: Some(out),
        dir,
    }
}

fn stats(addrs: HubAddrs) -> serde_json::Value {
    Admin::connect(addrs.admin).cmd("stats")["stats"].clone()
}

/// Before: the reply to a console command on a closed stdout panicked the
/// hub (`failed printing to stdout`, exit 101).
#[test]
fn a_closed_stdout_turns_the_console_off_not_the_hub() {
    let mut hub = raw_hub("closed", &[]);
    let probe = Probe::start(hub.addrs, "Probe");
    drop(hub.stdout.take());
    let stdin = hub.child.stdin.as_mut().unwrap();
    for _ in 0..20 {
        // The console may already be off (EPIPE on stdin after that is fine).
        let _ = stdin.write_all(b"stats\n");
    }
    eventually(|| (stats(hub.addrs)["stdout"]["closed"] == true).then_some(()))
        .expect("stdout marked closed");
    assert!(hub.child.try_wait().unwrap().is_none(), "the hub exited");
    probe.finish();
}

/// Before: once the pipe was full, the next console reply blocked the
/// whole loop and the admin port went unanswered.
#[test]
fn an_undrained_stdout_never_stalls_the_loop() {
    let mut hub = raw_hub("undrained", &[]);
    let probe = Probe::start(hub.addrs, "Probe");
    let mut stdin = hub.child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // ~3000 × 2.5 KB replies, far past a 64 KiB pipe and the queue.
        let _ = stdin.write_all("stats\n".repeat(3000).as_bytes());
        stdin
    });
    eventually(|| (stats(hub.addrs)["stdout"]["dropped"].as_u64() > Some(0)).then_some(()))
        .expect("stdout text dropped and counted");
    let _stdin = writer.join().unwrap();
    // 3000 lines ran 64 a turn, with the admin port and devices between.
    let spent = eventually(|| {
        let n = stats(hub.addrs)["loop"]["console_budget_spent"].as_u64()?;
        (n >= 3000 / 64).then_some(n)
    });
    assert!(spent.is_some(), "console lines not run in budgeted turns");
    assert_serves_addrs(hub.addrs, "After");
    probe.finish();
    drop(hub.stdout.take());
}

fn assert_serves_addrs(addrs: HubAddrs, name: &str) {
    if let Err(e) = common::well_behaved_round(addrs, name) {
        panic!("the hub no longer serves a well-behaved device: {e}");
    }
}

/// Before: 1500 connecting devices froze a `--classic` hub whose terminal
/// nobody read. Now its output is dropped and UDP keeps being answered.
#[test]
fn classic_output_nobody_reads_never_stalls_the_loop() {
    let hub = raw_hub("classic", &["--classic"]);
    let mut devices = Vec::new();
    for i in 0..1500 {
        devices.push(Device::register(
            hub.addrs.tcp,
            &format!("C{i}"),
            "t",
            false,
        ));
    }
    let s = Sensor::new(hub.addrs.udp);
    for seq in 1..=10 {
        s.reading("Cls", seq, None);
    }
    assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    drop(devices);
}

/// Before: a 300 MB line was buffered whole, and the over-long notice was
/// then run as a command (`unknown command 'error:'`).
#[test]
fn an_over_long_console_line_is_refused_unbuffered_and_never_run() {
    let mut hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let rss0 = hub.rss_kib();
    let mut stdin = hub.stdin.take().unwrap();
    let big = vec![b'x'; 64 << 20];
    stdin.write_all(&big).unwrap();
    stdin.write_all(b"\nhelp\n").unwrap();
    stdin.flush().unwrap();
    let out = hub.wait_stdout("commands: send");
    assert!(
        out.contains("error: line of 67108864 bytes is longer than 1024; refused"),
        "{out}"
    );
    assert!(!out.contains("unknown command"), "{out}");
    let grown = hub.rss_kib().saturating_sub(rss0);
    assert!(grown < 16 * 1024, "RSS grew {grown} KiB");
    assert_eq!(hub.stats()["loop"]["console_lines_refused"], 1);
    probe.finish();
    hub.stdin = Some(stdin);
    assert_serves(&hub, "After");
    hub.stop();
}

/// `hub &` from an interactive shell: a pseudo-terminal whose foreground
/// process group is not the hub's. Before: the console's read stopped the
/// whole hub (SIGTTIN, state T). Now it runs without the console and says
/// so once.
#[test]
fn a_hub_in_the_background_of_a_terminal_does_not_read_it() {
    let python = ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|p| Command::new(p).arg("-c").arg("1").output().is_ok());
    let Some(python) = python else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("python3 is needed for the pseudo-terminal test");
        }
        eprintln!("SKIPPED: no python3");
        return;
    };
    let dir = std::env::temp_dir().join(format!("hubpty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // pty.fork: the child is a session leader with the pty as its terminal
    // and the foreground group; it forks the hub into a group of its own
    // (a background job) and waits. The parent relays the terminal's text.
    let script = r#"
import os, pty, sys, select
hub = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    p = os.fork()
    if p == 0:
        os.setpgid(0, 0)
        os.execv(hub[0], hub)
    sys.stdout.write("HUBPID %d\n" % p)
    sys.stdout.flush()
    os.waitpid(p, 0)
    os._exit(0)
while True:
    r, _, _ = select.select([fd], [], [], 30)
    if not r:
        break
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    sys.stdout.write(data.decode("utf-8", "replace"))
    sys.stdout.flush()
"#;
    let mut child = Command::new(python)
        .current_dir(&dir)
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_hub"))
        .args(["--tcp-port", "0", "--udp-port", "0", "--admin-port", "0"])
        .arg("--log-file")
        .arg(dir.join("log.txt"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(l) = line else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let wait_for = |seen: &mut String, needle: &str| {
        let deadline = std::time::Instant::now() + WAIT;
        while !seen.contains(needle) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => {
                    seen.push_str(&l);
                    seen.push('\n');
                }
                Err(_) => panic!("never saw {needle:?}; saw:\n{seen}"),
            }
        }
    };
    wait_for(&mut seen, "max connections");
    wait_for(&mut seen, "the console is off");
    let pid: i32 = addr_free_pid(&seen);
    let addrs = HubAddrs {
        tcp: addr_after(&seen, "tcp="),
        udp: addr_after(&seen, "udp="),
        admin: addr_after(&seen, "admin="),
    };
    let probe = Probe::start(addrs, "Probe");
    std::thread::sleep(Duration::from_millis(300));
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let state = state[state.rfind(')').unwrap() + 2..]
        .chars()
        .next()
        .unwrap();
    assert_ne!(state, 'T', "the hub was stopped by its terminal");
    probe.finish();
    let st = stats(addrs);
    assert_eq!(st["loop"]["console_background"], true, "{st}");
    assert_eq!(seen.matches("the console is off").count(), 1, "{seen}");
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

fn addr_free_pid(seen: &str) -> i32 {
    let at = seen.find("HUBPID ").expect("pid line") + 7;
    seen[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}
