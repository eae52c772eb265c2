//! Idle CPU benchmark: what an idle second costs the hub with nothing, 5000
//! registered TCP devices, or 100 000 UDP devices tracked.
//!
//! Each scenario starts the real `hub` binary (release under `cargo
//! bench`), brings its devices in, waits until every cycle is closed and
//! its timeout check has passed, then measures the hub's CPU time summed
//! over all its threads (`/proc/<pid>/task/*/schedstat`, nanoseconds) and
//! its loop wake-ups (`loop.wakeups` in `stats`) over `--seconds`.
//!
//! `cargo bench -p hub --bench idle_cpu [-- --seconds N --json FILE]`;
//! `HUB_BIN=/path/to/hub` measures another build (an older one without
//! `--max-udp-strangers` or `loop.wakeups` works too).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Hub {
    child: Child,
    tcp: SocketAddr,
    udp: SocketAddr,
    admin: SocketAddr,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn addr_after(text: &str, key: &str) -> SocketAddr {
    hub::server::banner_addr(text, key).unwrap_or_else(|| panic!("no {key} address in {text:?}"))
}

fn start(log: &std::path::Path) -> Hub {
    let bin = std::env::var("HUB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hub").into());
    let mut cmd = Command::new(&bin);
    cmd.args([
        "--tcp-port",
        "0",
        "--udp-port",
        "0",
        "--admin-port",
        "0",
        "--no-console",
    ])
    .args(["--cycle-len", "1", "--max-udp-devices", "200000"])
    .args(["--max-connections", "10000"]);
    if std::env::var_os("HUB_BIN").is_none() {
        cmd.args(["--max-udp-strangers", "200000"]);
    }
    let mut child = cmd
        .arg("--log-file")
        .arg(log)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn hub");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let (tcp, udp, admin) = (
        addr_after(&line, "tcp="),
        addr_after(&line, "udp="),
        addr_after(&line, "admin="),
    );
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = out.read_to_end(&mut sink);
    });
    Hub {
        child,
        tcp,
        udp,
        admin,
    }
}

fn stats(hub: &Hub) -> Value {
    let mut s = TcpStream::connect(hub.admin).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(b"stats\n").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str::<Value>(&line).unwrap()["stats"].clone()
}

/// CPU time of every thread of `pid`, nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn wait_for(hub: &Hub, what: &str, ok: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if ok(&stats(hub)) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn measure(name: &str, seconds: u64, setup: impl FnOnce(&Hub) -> Box<dyn std::any::Any>) -> Value {
    let dir = std::env::temp_dir().join(format!("hub-idle-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hub = start(&dir.join("log.txt"));
    let keep = setup(&hub);
    // Every cycle's timeout check (3 s) has passed; idle checks are at 60 s.
    std::thread::sleep(Duration::from_secs(4));
    let st0 = stats(&hub);
    let (c0, w0) = (cpu_ns(hub.child.id()), st0["loop"]["wakeups"].as_u64());
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let (c1, el) = (cpu_ns(hub.child.id()), t0.elapsed().as_secs_f64());
    let st1 = stats(&hub);
    let w1 = st1["loop"]["wakeups"].as_u64();
    drop(keep);
    drop(hub);
    let _ = std::fs::remove_dir_all(&dir);
    let r = json!({
        "scenario": name,
        "seconds": el,
        "cpu_ms_per_s": (c1 - c0) as f64 / 1e6 / el,
        "wakeups_per_s": w1.zip(w0).map(|(b, a)| (b - a) as f64 / el),
        "tcp_registered": st1["registered"],
        "udp_tracked": st1["udp"]["devices_tracked"],
    });
    println!("{r}");
    r
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut json_out) = (10u64, None::<String>);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().unwrap().parse().unwrap(),
            "--json" => json_out = args.next(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let empty = measure("empty", seconds, |_| Box::new(()));
    let tcp = measure("tcp-5000", seconds, |hub| {
        let conns: Vec<TcpStream> = (0..5000)
            .map(|i| {
                let mut s = TcpStream::connect(hub.tcp).unwrap();
                s.write_all(format!("DEVICE Idle{i} TYPE t\n").as_bytes())
                    .unwrap();
                s
            })
            .collect();
        wait_for(hub, "5000 registered", |st| {
            st["registered"].as_u64() >= Some(5000)
        });
        Box::new(conns)
    });
    let udp = measure("udp-100000", seconds, |hub| {
        let socks: Vec<UdpSocket> = (0..8)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let mut sent = 0u64;
        let mut round = 0;
        // Resend until all are tracked (the kernel may drop some of a burst).
        while stats(hub)["udp"]["devices_tracked"].as_u64() < Some(100_000) {
            for d in 0..100_000u32 {
                let b = format!("U{d},ts,t,1,SEQ:1,CYCLE:{round}");
                let _ = socks[d as usize % 8].send_to(b.as_bytes(), hub.udp);
                sent += 1;
                if d % 500 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            round += 1;
            assert!(round < 10, "could not get 100000 devices tracked");
        }
        eprintln!("udp: {sent} datagrams sent");
        Box::new(socks)
    });
    let all = json!({
        "bench": "idle_cpu",
        "hub_bin": std::env::var("HUB_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hub").into()),
        "results": [empty, tcp, udp],
    });
    println!("\nscenario        cpu ms/s   wake-ups/s");
    for r in all["results"].as_array().unwrap() {
        println!(
            "{:<14} {:>9.3} {:>12}",
            r["scenario"].as_str().unwrap(),
            r["cpu_ms_per_s"].as_f64().unwrap(),
            r["wakeups_per_s"]
                .as_f64()
                .map_or("-".to_string(), |w| format!("{w:.2}"))
        );
    }
    if let Some(path) = json_out {
        std::fs::write(&path, serde_json::to_string_pretty(&all).unwrap()).unwrap();
        eprintln!("wrote {path}");
    }
}
