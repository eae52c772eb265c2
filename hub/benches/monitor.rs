//! Monitoring benchmarks, on this machine:
//!
//! 1. **Recorder throughput**: one producer offers rows to a real
//!    [`Recorder`] (SQLite file in the temp dir) as fast as the queue takes
//!    them, holding back only while the queue is over half full, so no row
//!    is dropped: written rows / elapsed is the sustained rate.
//! 2. **Drop onset**: the producer offers at fixed rates, 3 s each, with the
//!    default queue; the first rate at which rows are dropped.
//! 3. **Scrape cost**: a hub tracking 19,800 devices (one reading each) with
//!    `--metrics-per-device`; `/metrics` is fetched 10 times and the loop
//!    time each page took to build (`stats.http.last_render_s`) recorded.
//!
//! `cargo bench -p hub --bench monitor [-- --json FILE] [--only throughput|onset|scrape]`

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hub::config::HubConfig;
use hub::ops::wire::HubStats;
use hub::protocol::Datagram;
use hub::recorder::{Recorder, RecorderConfig, RECORDER_QUEUE};
use hub::server::Hub;
use serde_json::{json, Value};

fn tmp_db(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("hub-bench-{}-{name}.db", std::process::id()));
    remove_db(&p);
    p
}

fn remove_db(p: &std::path::Path) {
    for s in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{s}", p.display()));
    }
}

fn start(path: PathBuf, queue: usize) -> (Recorder, mio::Poll) {
    let poll = mio::Poll::new().unwrap();
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
    let r = Recorder::start(
        RecorderConfig {
            path,
            keep: None,
            queue,
        },
        waker,
    )
    .unwrap();
    (r, poll)
}

/// 5,000 devices' datagrams, cycled through.
fn datagrams() -> Vec<Vec<u8>> {
    (0..5000)
        .map(|i| {
            format!(
                "Dev{i:05},2025-10-22 18:20:15,temperature,{}.5,SEQ:{},CYCLE:{}",
                i % 100,
                i % 10 + 1,
                i / 10
            )
            .into_bytes()
        })
        .collect()
}

fn throughput(rows: u64) -> Value {
    let p = tmp_db("throughput");
    let (mut r, _poll) = start(p.clone(), RECORDER_QUEUE);
    let dg = datagrams();
    let parsed: Vec<Datagram<'_>> = dg.iter().map(|b| Datagram::parse(b).unwrap()).collect();
    let t0 = Instant::now();
    for i in 0..rows {
        if i % 1024 == 0 {
            while r.stats().queue_depth as usize > RECORDER_QUEUE / 2 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        r.offer(&parsed[(i % 5000) as usize], i as i64);
    }
    r.close();
    let secs = t0.elapsed().as_secs_f64();
    let s = r.stats();
    let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
    remove_db(&p);
    json!({
        "rows": rows, "written": s.written, "dropped": s.dropped_queue_full,
        "write_errors": s.write_errors, "batches": s.batches, "seconds": secs,
        "rows_per_s": s.written as f64 / secs, "db_bytes": size,
    })
}

fn drop_onset(rates: &[u64]) -> Value {
    let dg = datagrams();
    let parsed: Vec<Datagram<'_>> = dg.iter().map(|b| Datagram::parse(b).unwrap()).collect();
    let mut out = Vec::new();
    let mut onset = None;
    for &rate in rates {
        let p = tmp_db(&format!("rate{rate}"));
        let (mut r, _poll) = start(p.clone(), RECORDER_QUEUE);
        let period = Duration::from_secs(3);
        let t0 = Instant::now();
        let mut sent = 0u64;
        while t0.elapsed() < period {
            // Offer in 1 ms steps of rate/1000 rows.
            let due = (t0.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due {
                r.offer(&parsed[(sent % 5000) as usize], sent as i64);
                sent += 1;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        let offered_s = t0.elapsed().as_secs_f64();
        r.close();
        let s = r.stats();
        remove_db(&p);
        if s.dropped_queue_full > 0 && onset.is_none() {
            onset = Some(rate);
        }
        eprintln!(
            "rate {rate}/s: offered {sent}, written {}, dropped {}",
            s.written, s.dropped_queue_full
        );
        out.push(json!({
            "rate": rate, "offered": sent, "offered_s": offered_s,
            "written": s.written, "dropped": s.dropped_queue_full,
        }));
    }
    json!({"rounds": out, "first_rate_dropping": onset, "queue": RECORDER_QUEUE})
}

/// `stats`, typed, through the workspace's one admin client.
fn stats(addr: SocketAddr) -> HubStats {
    hub::ops::client::Admin::connect(addr)
        .and_then(|mut a| a.stats())
        .expect("stats")
}

fn scrape(addr: SocketAddr) -> (Duration, usize) {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 200"));
    (t0.elapsed(), buf.len())
}

fn scrape_cost(devices: u32) -> Value {
    let log = std::env::temp_dir().join(format!("hub-bench-{}.log", std::process::id()));
    let mut cfg = HubConfig::embedded(log);
    cfg.metrics_per_device = true;
    let hub = Hub::bind(cfg).unwrap().spawn().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Send until every device is tracked (a burst may overflow a buffer).
    loop {
        for i in 0..devices {
            let d = format!("Dev{i:05},2025-10-22 18:20:15,temperature,{i}.25,SEQ:1,CYCLE:1");
            let _ = sock.send_to(d.as_bytes(), hub.udp_addr);
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let tracked = stats(hub.admin_addr).udp.devices_tracked;
        if tracked == u64::from(devices) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "devices never all tracked: {tracked}"
        );
    }
    let mut renders = Vec::new();
    let mut cpus = Vec::new();
    let mut walls = Vec::new();
    let mut bytes = 0;
    for _ in 0..10 {
        let (wall, n) = scrape(hub.metrics_addr);
        bytes = n;
        walls.push(wall.as_secs_f64() * 1e3);
        let h = stats(hub.admin_addr).http.expect("metrics listener");
        renders.push(h.last_render_s * 1e3);
        cpus.push(h.last_render_cpu_s * 1e3);
    }
    let max = stats(hub.admin_addr)
        .http
        .expect("metrics listener")
        .max_render_s
        * 1e3;
    hub.shutdown().unwrap();
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    json!({
        "devices": devices, "page_bytes": bytes,
        "render_ms": renders, "render_ms_median": median(&renders),
        "render_cpu_ms": cpus, "render_cpu_ms_median": median(&cpus),
        "render_ms_max": max, "client_wall_ms": walls,
    })
}

fn rows_arg(args: &[String]) -> Option<u64> {
    let i = args.iter().position(|a| a == "--rows")?;
    args.get(i + 1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json_out = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let want = |part: &str| only.is_empty() || only == part;
    let t = if want("throughput") {
        throughput(rows_arg(&args).unwrap_or(2_000_000))
    } else {
        Value::Null
    };
    eprintln!("throughput: {t}");
    let o = if want("onset") {
        drop_onset(&[50_000, 100_000, 200_000, 400_000, 800_000])
    } else {
        Value::Null
    };
    eprintln!("drop onset: {o}");
    let m = if want("scrape") {
        scrape_cost(19_800)
    } else {
        Value::Null
    };
    eprintln!("scrape: {m}");
    let v = json!({
        "bench": "monitor", "throughput": t, "drop_onset": o, "scrape": m,
        "git_commit": option_env!("LOADGEN_GIT_COMMIT"),
    });
    let text = serde_json::to_string_pretty(&v).unwrap();
    match json_out {
        Some(p) => std::fs::write(&p, text + "\n").unwrap(),
        None => println!("{text}"),
    }
}
