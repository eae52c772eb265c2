//! The hub as a child process: the real `hub` binary started on port 0 in
//! a scratch directory, its banner parsed for the addresses, its stdout,
//! log, memory, CPU and descriptors read from outside, and signals sent.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{eventually, Admin, WAIT};

/// A hub process and where it listens.
pub struct HubProc {
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub tcp: SocketAddr,
    pub udp: SocketAddr,
    pub admin: SocketAddr,
    /// `/metrics` and `/healthz` (unknown in classic mode).
    pub metrics: SocketAddr,
    pub log: PathBuf,
    pub dir: PathBuf,
    /// Everything the hub prints on stdout, as it arrives (classic prompts
    /// have no newline, so these are raw chunks).
    pub stdout: Receiver<String>,
    pub seen: String,
    /// Stderr, line by line, when [`Opts::capture_stderr`] asked for it
    /// (inherited otherwise).
    pub stderr: Option<Receiver<String>>,
}

/// How [`HubProc::start_opts`] starts the hub.
#[derive(Debug, Default)]
pub struct Opts {
    /// `RLIMIT_NOFILE`, applied via `prlimit`.
    pub nofile: Option<u64>,
    /// The event log's path (default: `server_log.txt` in the scratch dir).
    pub log: Option<PathBuf>,
    pub capture_stderr: bool,
}

fn scratch_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "hubtest-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn parse_addr_text(line: &str, key: &str) -> String {
    hub::server::banner_field(line, key)
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
        .to_string()
}

pub fn parse_addr(line: &str, key: &str) -> SocketAddr {
    hub::server::banner_addr(line, key).unwrap_or_else(|| panic!("no {key} address in {line:?}"))
}

impl HubProc {
    /// Starts `hub` on free loopback ports with `args` added.
    pub fn start(args: &[&str]) -> HubProc {
        Self::start_with(args, None)
    }

    /// Like `start`, with an `RLIMIT_NOFILE` applied via `prlimit`.
    pub fn start_with(args: &[&str], nofile: Option<u64>) -> HubProc {
        Self::start_opts(
            args,
            Opts {
                nofile,
                ..Opts::default()
            },
        )
    }

    /// Like `start`, as `opts` says.
    pub fn start_opts(args: &[&str], opts: Opts) -> HubProc {
        let nofile = opts.nofile;
        let dir = scratch_dir();
        let log = opts.log.unwrap_or_else(|| dir.join("server_log.txt"));
        let bin = env!("CARGO_BIN_EXE_hub");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        // The scratch directory is the working directory, so the default
        // recorder file (readings.db) lands there, never in the source tree;
        // the metrics port is picked free, as many hubs run at once.
        cmd.current_dir(&dir)
            .args(["--tcp-port", "0", "--udp-port", "0", "--admin-port", "0"])
            .args(["--metrics-port", "0"])
            .arg("--log-file")
            .arg(&log)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if opts.capture_stderr {
                Stdio::piped()
            } else {
                Stdio::inherit()
            });
        let mut child = cmd.spawn().expect("spawn hub");
        let stderr = child.stderr.take().map(|e| {
            let (tx, rx) = channel();
            std::thread::spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(e).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("{line}");
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        let stdin = child.stdin.take();
        let mut out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0
                    || tx
                        .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                        .is_err()
                {
                    break;
                }
            }
        });
        let mut hub = HubProc {
            child,
            stdin,
            tcp: "0.0.0.0:0".parse().unwrap(),
            udp: "0.0.0.0:0".parse().unwrap(),
            admin: "0.0.0.0:0".parse().unwrap(),
            metrics: "0.0.0.0:0".parse().unwrap(),
            log,
            dir,
            stdout: rx,
            seen: String::new(),
            stderr,
        };
        let classic = args.contains(&"--classic");
        if classic {
            hub.wait_stdout("Data Collector listening on ");
            let text = hub.seen.clone();
            let line = |k: &str| text.lines().find(|l| l.contains(k)).unwrap().to_string();
            hub.tcp = line("TCP Smart Hub")
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            hub.udp = line("Data Collector")
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            hub.wait_stdout("\n");
        } else {
            hub.wait_stdout(" recorder=");
            // …and the rest of that line.
            let deadline = Instant::now() + WAIT;
            while !hub.seen[hub.seen.find(" recorder=").unwrap()..].contains('\n') {
                let left = deadline.saturating_duration_since(Instant::now());
                match hub.stdout.recv_timeout(left) {
                    Ok(chunk) => hub.seen.push_str(&chunk),
                    Err(_) => panic!("banner never ended: {}", hub.seen),
                }
            }
            let first = hub.seen.lines().next().unwrap().to_string();
            hub.tcp = parse_addr(&first, "tcp=");
            hub.udp = parse_addr(&first, "udp=");
            hub.admin = parse_addr(&first, "admin=");
            let third = hub.seen.lines().find(|l| l.contains("metrics=")).unwrap();
            let url = parse_addr_text(third, "metrics=http://");
            hub.metrics = url.trim_end_matches("/metrics").parse().unwrap();
        }
        hub
    }

    /// Waits until stdout has shown `needle` (after what was already seen
    /// is searched too); returns everything seen so far.
    pub fn wait_stdout(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        while !self.seen.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(chunk) => self.seen.push_str(&chunk),
                Err(_) => panic!(
                    "timed out waiting for {needle:?} on hub stdout; saw:\n{}",
                    self.seen
                ),
            }
        }
        self.seen.clone()
    }

    /// Types a line on the hub's console.
    pub fn console(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    pub fn admin(&self) -> Admin {
        Admin::connect(self.admin)
    }

    pub fn stats(&self) -> Value {
        let v = self.admin().cmd("stats");
        assert_eq!(v["ok"], true, "{v}");
        v["stats"].clone()
    }

    /// `stats` read through the hub's typed schema (`hub::ops::wire`).
    pub fn typed_stats(&self) -> hub::ops::wire::HubStats {
        let v = self.admin().cmd("stats");
        serde_json::from_value::<hub::ops::wire::StatsReply>(v.clone())
            .unwrap_or_else(|e| panic!("{v}: {e}"))
            .stats
    }

    /// Waits until the log holds a line containing `needle`; returns the log.
    pub fn wait_log(&self, needle: &str) -> String {
        let text = eventually(|| {
            let t = std::fs::read_to_string(&self.log).unwrap_or_default();
            t.contains(needle).then_some(t)
        });
        text.unwrap_or_else(|| {
            panic!(
                "log never showed {needle:?}:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            )
        })
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resident memory of the hub process, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Sends a signal and waits (bounded) for the exit.
    pub fn signal(&mut self, sig: i32) -> ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
        self.wait_exit()
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "hub did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait; asserts a clean exit.
    pub fn stop(mut self) {
        let s = self.signal(libc::SIGTERM);
        assert!(s.success(), "hub exited with {s}");
    }
}

impl Drop for HubProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where a hub listens, copyable to another thread.
#[derive(Debug, Clone, Copy)]
pub struct HubAddrs {
    pub tcp: SocketAddr,
    pub udp: SocketAddr,
    pub admin: SocketAddr,
}

impl HubProc {
    pub fn addrs(&self) -> HubAddrs {
        HubAddrs {
            tcp: self.tcp,
            udp: self.udp,
            admin: self.admin,
        }
    }

    /// CPU time (user + system) the hub has used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the whole line.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    /// Descriptors the hub holds open now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}
