//! Test harness: starts the real `hub` binary on port 0 and speaks raw
//! bytes to it. Every wait here is bounded.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Upper bound for any single wait in the tests.
pub const WAIT: Duration = Duration::from_secs(10);

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
        let dir = scratch_dir();
        let log = dir.join("server_log.txt");
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
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn hub");
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

/// Polls `f` every 10 ms until it returns `Some`, for at most [`WAIT`].
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An admin session: one command per line, one JSON object per reply line.
pub struct Admin {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Admin {
    pub fn connect(addr: SocketAddr) -> Admin {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_nodelay(true).unwrap();
        Admin {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    pub fn send(&mut self, line: &str) {
        // One write per line: with Nagle off, a split line would cost a
        // segment (and a delayed ACK) per piece.
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    pub fn read(&mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("admin reply");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}"))
    }

    pub fn cmd(&mut self, line: &str) -> Value {
        self.send(line);
        self.read()
    }
}

/// A device's TCP side, speaking raw bytes.
pub struct Device {
    pub stream: TcpStream,
    pub newline: bool,
}

impl Device {
    /// Connects and registers as `name`; `newline` picks the framing.
    pub fn register(hub: SocketAddr, name: &str, kind: &str, newline: bool) -> Device {
        let mut d = Device::connect(hub, newline);
        d.send(&format!("DEVICE {name} TYPE {kind}"));
        d
    }

    pub fn connect(hub: SocketAddr, newline: bool) -> Device {
        let stream = TcpStream::connect(hub).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Device { stream, newline }
    }

    pub fn send(&mut self, msg: &str) {
        let mut bytes = msg.as_bytes().to_vec();
        if self.newline {
            bytes.push(b'\n');
        }
        self.stream.write_all(&bytes).unwrap();
    }

    /// One `recv(1024)`, as the original client does. Empty = closed.
    pub fn recv(&mut self) -> Vec<u8> {
        let mut buf = [0u8; 1024];
        match self.stream.read(&mut buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Vec::new(),
            Err(e) => panic!("recv: {e}"),
        }
    }

    pub fn recv_text(&mut self) -> String {
        String::from_utf8(self.recv()).unwrap()
    }

    /// Answers one command with an ACK; returns the command text.
    pub fn ack_one(&mut self) -> String {
        let cmd = self.recv_text();
        assert!(
            !cmd.is_empty(),
            "connection closed while waiting for a command"
        );
        self.send("ACK Command Executed");
        cmd
    }
}

/// A device's UDP side.
pub struct Sensor {
    pub sock: UdpSocket,
    pub hub: SocketAddr,
}

impl Sensor {
    pub fn new(hub: SocketAddr) -> Sensor {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(WAIT)).unwrap();
        Sensor { sock, hub }
    }

    pub fn send(&self, bytes: &[u8]) {
        self.sock.send_to(bytes, self.hub).unwrap();
    }

    /// The original datagram shape, with an optional CYCLE.
    pub fn reading(&self, name: &str, seq: u32, cycle: Option<u64>) {
        let mut s = format!("{name},2025-10-22 18:20:15,temperature,24.8,SEQ:{seq}");
        if let Some(c) = cycle {
            s.push_str(&format!(",CYCLE:{c}"));
        }
        self.send(s.as_bytes());
    }

    pub fn recv_status(&self) -> String {
        let mut buf = [0u8; 2048];
        let (n, _) = self.sock.recv_from(&mut buf).expect("STATUS");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    /// True if nothing arrives within `wait`.
    pub fn silent_for(&self, wait: Duration) -> bool {
        self.sock.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 2048];
        let r = self.sock.recv_from(&mut buf);
        self.sock.set_read_timeout(Some(WAIT)).unwrap();
        r.is_err()
    }
}

// ---- Helpers for the hostile-input suite (hostile_*.rs) ----

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

/// A well-behaved device, for checking a hub that may be under attack: a
/// TCP connection registered with newline framing, an admin session held
/// open, and a UDP socket of its own. Every wait is bounded by [`WAIT`].
pub struct WellBehaved {
    pub name: String,
    pub dev: Device,
    pub admin: Admin,
    pub sensor: Sensor,
}

impl WellBehaved {
    /// Connects, registers `name` and waits until the hub knows it (an
    /// admin `send` to it is accepted). That first command is ACKed too.
    pub fn register(hub: HubAddrs, name: &str) -> Result<WellBehaved, String> {
        let dev = Device::register(hub.tcp, name, "probe", true);
        let mut me = WellBehaved {
            name: name.to_string(),
            dev,
            admin: Admin::connect(hub.admin),
            sensor: Sensor::new(hub.udp),
        };
        let cmd = format!("send {name} SET_INTERVAL 5");
        // Registration is asynchronous: retry until the hub knows the name.
        eventually(|| (me.admin.cmd(&cmd)["ok"] == true).then_some(()))
            .ok_or_else(|| format!("{name}: never registered"))?;
        me.finish_command()?;
        Ok(me)
    }

    fn finish_command(&mut self) -> Result<(), String> {
        let name = &self.name;
        let got = self.dev.recv();
        if got != b"SET_INTERVAL 5\n" {
            return Err(format!("{name}: expected the command, got {got:?}"));
        }
        self.dev.send("ACK Command Executed");
        let done = self.admin.read();
        if done["acked"] != 1 {
            return Err(format!("{name}: wave not acked: {done}"));
        }
        Ok(())
    }

    /// One command ACKed, then one full UDP cycle answered with a STATUS.
    pub fn exercise(&mut self) -> Result<(), String> {
        let name = self.name.clone();
        let v = self.admin.cmd(&format!("send {name} SET_INTERVAL 5"));
        if v["ok"] != true {
            return Err(format!("{name}: send refused: {v}"));
        }
        self.finish_command()?;
        self.status_round()
    }

    /// A full UDP cycle, which must be answered 10/10.
    pub fn status_round(&mut self) -> Result<(), String> {
        let name = &self.name;
        for seq in 1..=10 {
            self.sensor.reading(name, seq, None);
        }
        let mut buf = [0u8; 2048];
        match self.sensor.sock.recv_from(&mut buf) {
            Ok((n, _)) if &buf[..n] == b"STATUS RECEIVED 10/10 PACKETS" => Ok(()),
            Ok((n, _)) => Err(format!(
                "{name}: bad STATUS {:?}",
                String::from_utf8_lossy(&buf[..n])
            )),
            Err(e) => Err(format!("{name}: no STATUS: {e}")),
        }
    }
}

/// One round of a fresh well-behaved device: register, ACK, STATUS.
pub fn well_behaved_round(hub: HubAddrs, name: &str) -> Result<(), String> {
    WellBehaved::register(hub, name)?.status_round()
}

/// Panics unless a fresh well-behaved device gets through a round.
pub fn assert_serves(hub: &HubProc, name: &str) {
    if let Err(e) = well_behaved_round(hub.addrs(), name) {
        panic!("the hub no longer serves a well-behaved device: {e}");
    }
}

/// Runs [`well_behaved_round`] over and over on a thread of its own while
/// an attack goes on, each round under a fresh name `<prefix>-<n>`, so it
/// proves that new devices keep registering, ACKing and getting STATUS.
pub struct Probe {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<u32, String>>>,
}

impl Probe {
    pub fn start(hub: HubAddrs, prefix: &str) -> Probe {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let prefix = prefix.to_string();
        let thread = std::thread::spawn(move || {
            let mut rounds = 0u32;
            // At least one round, however soon the attack ends.
            loop {
                well_behaved_round(hub, &format!("{prefix}-{rounds}"))?;
                rounds += 1;
                if flag.load(Ordering::Relaxed) {
                    return Ok(rounds);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Probe {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the probe; panics if any round failed. Returns the rounds done.
    pub fn finish(mut self) -> u32 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let rounds = self
            .thread
            .take()
            .unwrap()
            .join()
            .expect("probe thread")
            .unwrap_or_else(|e| panic!("well-behaved device failed during the attack: {e}"));
        rounds
    }
}

/// A capability this machine lacks (raw sockets, `/dev/full`): outside CI
/// the test says so and returns; under `CI=true` it fails, so a green CI
/// never hides a test that did not run.
pub fn skip_unless_ci(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and this test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}

/// One HTTP/1.1 GET (or any raw request head) to `addr`; returns the status
/// code and the body. Bounded by [`WAIT`].
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Sends `request` as is and reads the response to EOF.
pub fn http_raw(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("HTTP response");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Like [`http_get`], but `None` if the connection was reset.
pub fn http_try(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(WAIT)).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, text.split_once("\r\n\r\n")?.1.to_string()))
}

/// True if `tool` is on PATH. Without it a test may skip, except under
/// `CI=true`, where a missing tool fails the test.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is not installed, and under CI=true nothing skips (.ci/run installs it)"
        );
        eprintln!("skipping: {tool} is not installed");
    }
    found
}
