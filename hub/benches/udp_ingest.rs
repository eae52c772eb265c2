//! UDP ingest benchmark: the hub's CPU per datagram beside a bare
//! `recv_from` loop, fed the same way in the same run.
//!
//! One sender thread blasts 50-byte readings (1000 devices × SEQ 1..10,
//! the original datagram shape, so every tenth closes a cycle and the hub
//! sends a STATUS) at a receiver on loopback, from 64 source addresses
//! (127.0.0.1–64, a device always from the same one) so the hub's
//! per-source reply limit leaves those STATUS replies in the cost. Rounds alternate bare / hub;
//! the report gives each round and the medians. CPU time is the receiving
//! thread's own (`/proc/self/task/<tid>/schedstat`), so the sender's work
//! is never counted. A counting allocator reports heap allocations per
//! datagram while the hub ingests (the whole process: hub loop, log
//! writer, sender).
//!
//! With one sender the receiver keeps up and sleeps between datagrams, so
//! the figure is dominated by per-wake-up cost; `--senders 2` offers more
//! than one receiver takes, so queues build and batching shows.
//!
//! `--recorder` runs the hub as it ships (every reading recorded to a
//! SQLite file) and counts the whole hub, not only its loop: the CPU of
//! every `hub*` thread (loop, recorder, log writer), with the recorder's
//! share per row written beside it; after each round the file is read
//! back and must hold every datagram the hub took.
//!
//! `cargo bench -p hub --bench udp_ingest [-- --datagrams N --rounds R --senders S --recorder --json FILE]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hub::config::HubConfig;
use hub::server::kernel::{find_thread, thread_cpu};
use hub::server::Hub;

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

const DEVICES: usize = 1000;
/// Loopback source addresses the devices are spread over.
const SOURCES: usize = 64;
/// Receive buffer for both receivers, as the hub's default asks.
const RCVBUF: usize = 4 * 1024 * 1024;
/// The receiver is done when its count has not moved for this long.
const SETTLE: Duration = Duration::from_millis(300);

fn payloads() -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(DEVICES * 10);
    for seq in 1..=10 {
        for d in 0..DEVICES {
            let s = format!("S{d:04},2025-10-22 18:20:15,temperature,24.8,SEQ:{seq}");
            v.push(s.into_bytes());
        }
    }
    v
}

/// Sends `n` datagrams from `senders` threads, each as fast as it can;
/// returns the elapsed time.
fn blast(to: SocketAddr, n: usize, msgs: &[Vec<u8>], senders: usize) -> Duration {
    let t = Instant::now();
    std::thread::scope(|sc| {
        for k in 0..senders {
            sc.spawn(move || {
                // Device d always sends from 127.0.0.(1 + d % SOURCES), so
                // the per-source reply limit sees many sources and the
                // STATUS replies stay part of the hub's cost.
                let socks: Vec<UdpSocket> = (1..=SOURCES as u8)
                    .map(|a| UdpSocket::bind(SocketAddr::from(([127, 0, 0, a], 0))).unwrap())
                    .collect();
                for i in (k..n).step_by(senders) {
                    let m = i % msgs.len();
                    let _ = socks[(m % DEVICES) % SOURCES].send_to(&msgs[m], to);
                }
            });
        }
    });
    t.elapsed()
}

#[derive(Debug, Clone, Copy)]
struct Round {
    sent: u64,
    received: u64,
    cpu: Duration,
    send_time: Duration,
    allocs: u64,
    /// With `--recorder`: the recorder thread's CPU, the rows it wrote and
    /// the rows dropped because its queue was full.
    recorder: Option<(Duration, u64, u64)>,
}

impl Round {
    fn ns_per(&self) -> f64 {
        self.cpu.as_nanos() as f64 / self.received.max(1) as f64
    }
}

/// The bare receiver shared with `loadgen limits` (`hostprobe::baseline`).
fn bare_round(n: usize, msgs: &[Vec<u8>], senders: usize) -> Round {
    let bare = hostprobe::baseline::BareUdp::start(RCVBUF).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let send_time = blast(bare.addr, n, msgs, senders);
    settle(|| bare.received());
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    let (received, cpu) = bare.finish().unwrap();
    Round {
        sent: n as u64,
        received,
        cpu,
        send_time,
        allocs,
        recorder: None,
    }
}

/// CPU of this process's hub threads (`hub`, `hub-log`, `hub-recorder`,
/// …) by name.
fn hub_threads_cpu() -> std::collections::BTreeMap<String, f64> {
    let mut m = hostprobe::thread::cpu_by_name();
    m.retain(|k, _| k == "hub" || k.starts_with("hub-"));
    m
}

fn secs(m: &std::collections::BTreeMap<String, f64>, k: &str) -> f64 {
    m.get(k).copied().unwrap_or(0.0)
}

fn settle(mut read: impl FnMut() -> u64) -> u64 {
    let mut last = read();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        std::thread::sleep(SETTLE);
        let now = read();
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn admin_stats(admin: SocketAddr) -> serde_json::Value {
    let s = TcpStream::connect(admin).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = s.try_clone().unwrap();
    w.write_all(b"stats\n").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str::<serde_json::Value>(&line).unwrap()["stats"].clone()
}

fn hub_round(
    n: usize,
    msgs: &[Vec<u8>],
    senders: usize,
    log: &std::path::Path,
    db: Option<&std::path::Path>,
) -> (Round, serde_json::Value) {
    let mut cfg = HubConfig::embedded(log.to_path_buf());
    cfg.udp_rcvbuf = RCVBUF;
    if let Some(db) = db {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
        cfg.recorder = Some(db.to_path_buf());
    }
    let hub = Hub::bind(cfg).unwrap().spawn().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let hub_tid = find_thread("hub").expect("hub thread");
    let datagrams = |st: &serde_json::Value| st["udp"]["datagrams"].as_u64().unwrap_or(0);
    let whole = db.is_some();
    // The loop thread alone, or (with the recorder) every hub thread.
    let cpu_now = || {
        if whole {
            Duration::from_secs_f64(hub_threads_cpu().values().sum())
        } else {
            thread_cpu(hub_tid)
        }
    };
    let threads0 = hub_threads_cpu();
    let cpu0 = cpu_now();
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let send_time = blast(hub.udp_addr, n, msgs, senders);
    // Settle on the hub's CPU clock rather than polling stats (each
    // stats call would add admin work to the measurement).
    settle(|| cpu_now().as_micros() as u64 / 1000);
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    let cpu = cpu_now() - cpu0;
    let threads1 = hub_threads_cpu();
    let stats = admin_stats(hub.admin_addr);
    hub.shutdown().unwrap();
    let received = datagrams(&stats);
    let recorder = db.map(|db| {
        let rec = secs(&threads1, "hub-recorder") - secs(&threads0, "hub-recorder");
        let rows: u64 = rusqlite::Connection::open(db)
            .and_then(|c| c.query_row("SELECT count(*) FROM readings", [], |r| r.get(0)))
            .expect("the recorder's file reads back");
        let r = &stats["recorder"];
        let n = |k: &str| r[k].as_u64().unwrap_or(0);
        // Every reading the hub accepted is in the file or counted lost.
        assert_eq!(
            rows + n("dropped_queue_full") + n("write_errors"),
            n("accepted"),
            "recorder identity: {r}"
        );
        (
            Duration::from_secs_f64(rec.max(0.0)),
            rows,
            n("dropped_queue_full"),
        )
    });
    (
        Round {
            sent: n as u64,
            received,
            cpu,
            send_time,
            allocs,
            recorder,
        },
        stats,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut n, mut rounds, mut json_out, mut senders) =
        (1_000_000usize, 5usize, None::<String>, 1usize);
    let mut record = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--datagrams" => {
                n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--datagrams N")
            }
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds R")
            }
            "--json" => json_out = args.next(),
            "--senders" => {
                senders = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&s| s >= 1)
                    .expect("--senders N")
            }
            "--recorder" => record = true,
            "--bench" => {}
            other => {
                eprintln!("udp_ingest: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let msgs = payloads();
    let len = msgs.iter().map(Vec::len).sum::<usize>() / msgs.len();
    let log = std::env::temp_dir().join(format!("udp_ingest_{}.log", std::process::id()));
    let db = std::env::temp_dir().join(format!("udp_ingest_{}.db", std::process::id()));
    let db = record.then_some(db.as_path());
    let what = if record {
        "whole hub (every hub thread), recorder on"
    } else {
        "hub loop thread, recorder off"
    };
    println!("udp_ingest: {n} datagrams of ~{len} bytes per round from {senders} sender thread(s), {rounds} rounds, bare and hub alternating; {what}");
    println!("round  receiver  sent/s      recv      cpu_ns/dgram  allocs/dgram");
    let (mut bare, mut hubr) = (Vec::new(), Vec::new());
    let mut last_stats = serde_json::Value::Null;
    for r in 0..rounds {
        let b = bare_round(n, &msgs, senders);
        let (h, st) = hub_round(n, &msgs, senders, &log, db);
        last_stats = st;
        for (name, x) in [("bare", b), ("hub", h)] {
            println!(
                "{r:>5}  {name:<8}  {:>9.0}  {:>8}  {:>12.1}  {:>12.4}",
                x.sent as f64 / x.send_time.as_secs_f64(),
                x.received,
                x.ns_per(),
                x.allocs as f64 / x.received.max(1) as f64
            );
        }
        if let Some((cpu, rows, dropped)) = h.recorder {
            println!(
                "       recorder  {rows} rows written, {dropped} dropped (queue full), {:.1} ns CPU per row",
                cpu.as_nanos() as f64 / rows.max(1) as f64
            );
        }
        bare.push(b);
        hubr.push(h);
    }
    let _ = std::fs::remove_file(&log);
    if let Some(db) = db {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
    }
    let rec_ns: Vec<f64> = hubr
        .iter()
        .filter_map(|r| r.recorder)
        .map(|(c, rows, _)| c.as_nanos() as f64 / rows.max(1) as f64)
        .collect();
    let rec_dropped: Vec<u64> = hubr
        .iter()
        .filter_map(|r| r.recorder)
        .map(|r| r.2)
        .collect();
    let med = |v: &[Round], f: fn(&Round) -> f64| median(v.iter().map(f).collect());
    let bare_ns = med(&bare, Round::ns_per);
    let hub_ns = med(&hubr, Round::ns_per);
    let ratios = median(
        bare.iter()
            .zip(&hubr)
            .map(|(b, h)| h.ns_per() / b.ns_per())
            .collect(),
    );
    let send_rate = med(&hubr, |r| r.sent as f64 / r.send_time.as_secs_f64());
    let hub_rate = med(&hubr, |r| r.received as f64 / r.send_time.as_secs_f64());
    let allocs = med(&hubr, |r| r.allocs as f64 / r.received.max(1) as f64);
    println!("median: bare {bare_ns:.1} ns/dgram, hub {hub_ns:.1} ns/dgram, hub/bare {:.2} (median of per-round ratios {ratios:.2})", hub_ns / bare_ns);
    println!("median: sender {send_rate:.0} dgram/s, hub took {hub_rate:.0} dgram/s, {allocs:.4} allocations per datagram");
    if !rec_ns.is_empty() {
        println!(
            "median: recorder {:.1} ns CPU per row written",
            median(rec_ns.clone())
        );
    }
    let statuses = last_stats["udp"]["statuses_sent"].as_u64().unwrap_or(0);
    println!(
        "last hub round: {statuses} STATUS sent, kernel drops {}",
        last_stats["udp_rcvbuf_drops"]
    );
    if let Some(path) = json_out {
        let doc = serde_json::json!({
            "benchmark": "udp_ingest",
            "datagrams_per_round": n,
            "datagram_bytes": len,
            "rounds": rounds,
            "senders": senders,
            "recorder": record,
            "hub_cpu_counts": what,
            "recorder_cpu_ns_per_row": rec_ns,
            "median_recorder_ns_per_row": (!rec_ns.is_empty()).then(|| median(rec_ns.clone())),
            "recorder_dropped_queue_full": rec_dropped,
            "bare_cpu_ns_per_datagram": bare.iter().map(Round::ns_per).collect::<Vec<_>>(),
            "hub_cpu_ns_per_datagram": hubr.iter().map(Round::ns_per).collect::<Vec<_>>(),
            "median_bare_ns": bare_ns,
            "median_hub_ns": hub_ns,
            "median_ratio": ratios,
            "median_sender_rate": send_rate,
            "median_hub_rate": hub_rate,
            "hub_allocs_per_datagram": allocs,
            "hub_received": hubr.iter().map(|r| r.received).collect::<Vec<_>>(),
            "bare_received": bare.iter().map(|r| r.received).collect::<Vec<_>>(),
        });
        if let Err(e) = std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()) {
            eprintln!("udp_ingest: cannot write {path}: {e} (cargo bench runs in hub/; give an absolute path)");
            std::process::exit(1);
        }
        println!("wrote {path}");
    }
}
