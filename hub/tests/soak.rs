//! The CI-sized soak (issue 10): 1000 well-behaved devices (TCP commands
//! ACKed, whole UDP cycles) while every attack of the issue runs at once:
//! unsolicited-ACK floods, forged operator text, admin slowloris and idle
//! sessions, a flood of new UDP names, tiny cycles from many ports of one
//! address, and readings for the good devices' names from a foreign
//! address. The good devices must lose nothing: every ACK they send is one
//! ACK line in the log, every whole cycle gets its STATUS, and RSS stays
//! flat. `SOAK_SECS` sets the length (default 40 s).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{eventually, Admin, HubAddrs, HubProc};

const GOOD: usize = 1000;
const SHARDS: usize = 10;

#[derive(Default)]
struct Tally {
    acks_sent: AtomicU64,
    cycles_sent: AtomicU64,
    statuses: AtomicU64,
    bad_statuses: AtomicU64,
}

/// 100 good devices on one thread: ACK every command, send a whole cycle
/// every second and read its STATUS.
fn good_shard(hub: HubAddrs, shard: usize, stop: Arc<AtomicBool>, t: Arc<Tally>) {
    let per = GOOD / SHARDS;
    let mut tcp = Vec::new();
    let mut udp = Vec::new();
    for i in 0..per {
        let name = format!("G{shard:02}{i:03}");
        let mut s = TcpStream::connect(hub.tcp).unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(format!("DEVICE {name} TYPE good\n").as_bytes())
            .unwrap();
        s.set_nonblocking(true).unwrap();
        tcp.push((s, Vec::<u8>::new()));
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.set_nonblocking(true).unwrap();
        udp.push((name, u));
    }
    let mut cycle = 0u64;
    let mut next_cycle = Instant::now() + Duration::from_secs(1);
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        for (s, pending) in &mut tcp {
            loop {
                match s.read(&mut buf) {
                    Ok(0) => panic!("the hub closed a good device"),
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("good device: {e}"),
                }
            }
            while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                pending.drain(..=at);
                // Nonblocking, but an ACK is 4 bytes: the buffer takes it.
                s.write_all(b"ACK\n").unwrap();
                t.acks_sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        for (_, u) in &udp {
            while let Ok((n, _)) = u.recv_from(&mut buf) {
                t.statuses.fetch_add(1, Ordering::Relaxed);
                if &buf[..n] != b"STATUS RECEIVED 10/10 PACKETS" {
                    t.bad_statuses.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if Instant::now() >= next_cycle {
            next_cycle += Duration::from_secs(1);
            for (name, u) in &udp {
                for seq in 1..=10 {
                    let d = format!("{name},ts,good,1.0,SEQ:{seq},CYCLE:{cycle}");
                    let _ = u.send_to(d.as_bytes(), hub.udp);
                }
                t.cycles_sent.fetch_add(1, Ordering::Relaxed);
            }
            cycle += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // Collect the last STATUSes.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        for (_, u) in &udp {
            while let Ok((n, _)) = u.recv_from(&mut buf) {
                t.statuses.fetch_add(1, Ordering::Relaxed);
                if &buf[..n] != b"STATUS RECEIVED 10/10 PACKETS" {
                    t.bad_statuses.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Answer what is still in flight, then leave.
    std::thread::sleep(Duration::from_millis(200));
    for (s, pending) in &mut tcp {
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
        }
        while let Some(at) = pending.iter().position(|&b| b == b'\n') {
            pending.drain(..=at);
            let _ = s.write_all(b"ACK\n");
            t.acks_sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Runs `f` in a loop on its own thread until `stop`.
fn attack(
    stop: &Arc<AtomicBool>,
    mut f: impl FnMut() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let stop = stop.clone();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            f();
        }
    })
}

#[test]
fn a_thousand_good_devices_lose_nothing_under_every_attack() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    // A 20 000-device table: the strangers' share (15 000) fills within
    // seconds of flooding, so RSS is flat after that.
    let hub = HubProc::start(&[
        "--admin-line-deadline",
        "2s",
        "--admin-idle-timeout",
        "5s",
        "--max-udp-devices",
        "20000",
    ]);
    let addrs = hub.addrs();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let shards: Vec<_> = (0..SHARDS)
        .map(|k| {
            let (stop, t) = (stop.clone(), tally.clone());
            std::thread::spawn(move || good_shard(addrs, k, stop, t))
        })
        .collect();
    eventually(|| (hub.stats()["registered"].as_u64() >= Some(GOOD as u64)).then_some(()))
        .expect("the good fleet registered");
    let rss_start = hub.rss_kib();

    let mut attacks = Vec::new();
    // Unsolicited-ACK floods from devices that reconnect.
    let n = AtomicU64::new(0);
    attacks.push(attack(&stop, move || {
        let i = n.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut s) = TcpStream::connect(addrs.tcp) {
            let _ = s.write_all(format!("DEVICE Flood{i} TYPE bad\n").as_bytes());
            std::thread::sleep(Duration::from_millis(20));
            let _ = s.write_all("ACK\n".repeat(5000).as_bytes());
            std::thread::sleep(Duration::from_millis(100));
            let mut sink = Vec::new();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.read_to_end(&mut sink);
        }
    }));
    // Admin slowloris and idle sessions.
    attacks.push(attack(&stop, move || {
        let conns: Vec<TcpStream> = (0..50)
            .filter_map(|_| TcpStream::connect(addrs.admin).ok())
            .collect();
        for mut c in conns.iter().take(20) {
            let _ = c.write_all(b"s");
        }
        std::thread::sleep(Duration::from_secs(3));
    }));
    // A flood of new UDP names from another address.
    let flood = UdpSocket::bind("127.0.0.2:0").unwrap();
    let k = AtomicU64::new(0);
    attacks.push(attack(&stop, move || {
        for _ in 0..200 {
            let i = k.fetch_add(1, Ordering::Relaxed);
            let _ = flood.send_to(format!("N{i},ts,t,1,SEQ:1").as_bytes(), addrs.udp);
        }
        std::thread::sleep(Duration::from_millis(40));
    }));
    // Tiny cycles from 64 ports of one address (metered STATUS).
    let ports: Vec<UdpSocket> = (0..64)
        .map(|_| UdpSocket::bind("127.0.0.4:0").unwrap())
        .collect();
    let c = AtomicU64::new(0);
    attacks.push(attack(&stop, move || {
        let cy = c.fetch_add(1, Ordering::Relaxed);
        for (i, p) in ports.iter().enumerate() {
            let _ = p.send_to(format!("T{i},,t,1,SEQ:10,CYCLE:{cy}").as_bytes(), addrs.udp);
        }
        std::thread::sleep(Duration::from_millis(50));
    }));
    // Readings for the good devices' names from a foreign address.
    let spoof = UdpSocket::bind("127.0.0.3:0").unwrap();
    let j = AtomicU64::new(0);
    attacks.push(attack(&stop, move || {
        let i = j.fetch_add(1, Ordering::Relaxed) as usize % GOOD;
        let name = format!("G{:02}{:03}", i / 100, i % 100);
        let _ = spoof.send_to(
            format!("{name},ts,good,1,SEQ:10,CYCLE:999999").as_bytes(),
            addrs.udp,
        );
        std::thread::sleep(Duration::from_millis(2));
    }));

    // The operator: a command to every good device every 2 s, plus forged
    // text now and then.
    let mut op = Admin::connect(addrs.admin);
    let started = Instant::now();
    let mut waves = 0;
    let mut rss_mid = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        let v = op.cmd("send type=good SET_INTERVAL 5");
        if v["ok"] != true {
            panic!("{v}: {}", hub.stats());
        }
        assert_eq!(v["refused"], 0, "{v}");
        loop {
            let d = op.read();
            if d.get("done").is_some() {
                assert_eq!(
                    d["acked"],
                    GOOD as u64,
                    "a wave lost a device: {d} {}",
                    hub.stats()
                );
                break;
            }
        }
        waves += 1;
        if waves == 3 {
            rss_mid = hub.rss_kib();
        }
        let v = op.cmd("send Flood0 x\" device=Forged");
        assert!(v.get("ok").is_some(), "{v}");
        std::thread::sleep(Duration::from_secs(2));
    }
    stop.store(true, Ordering::Relaxed);
    for a in attacks {
        a.join().unwrap();
    }
    for s in shards {
        s.join().unwrap();
    }
    let st = hub.stats();
    let rss_end = hub.rss_kib();
    let t = &tally;
    let acks_sent = t.acks_sent.load(Ordering::Relaxed);
    let log = hub.wait_log("ACK device=G");
    let ack_lines = log.lines().filter(|l| l.contains(" ACK device=G")).count() as u64;
    let (cycles, statuses) = (
        t.cycles_sent.load(Ordering::Relaxed),
        t.statuses.load(Ordering::Relaxed),
    );
    let bad = t.bad_statuses.load(Ordering::Relaxed);
    eprintln!(
        "soak {secs}s: {waves} waves, {acks_sent} ACKs sent / {ack_lines} logged, {cycles} cycles / {statuses} STATUS, RSS {rss_start}->{rss_mid}->{rss_end} KiB, kernel drops {}, stats udp {}, loop {}",
        st["udp_rcvbuf_drops"], st["udp"], st["loop"]
    );
    assert_eq!(
        ack_lines, acks_sent,
        "every ACK of a good device is one ACK line"
    );
    assert_eq!(st["log"]["dropped"], 0, "{st}");
    let kernel_drops = st["udp_rcvbuf_drops"].as_u64().unwrap_or(0);
    assert!(
        statuses + kernel_drops >= cycles,
        "every whole cycle answered: {statuses} of {cycles} (kernel drops {kernel_drops})"
    );
    assert!(
        bad <= kernel_drops,
        "{bad} partial STATUS, {kernel_drops} kernel drops"
    );
    assert!(st["udp"]["wrong_source"].as_u64() > Some(0), "{st}");
    assert!(st["unsolicited_ack_disconnects"].as_u64() > Some(0), "{st}");
    // Flat: from the third wave (the tables full) to the end, at most
    // 8 MiB more, besides the recorder's SQLite page cache, which fills as
    // the database grows up to its fixed cap (`CACHE_KIB`, 64 MiB).
    let cache_kib = u64::from(hub::recorder::schema::CACHE_KIB);
    assert!(
        rss_end < rss_mid + 8 * 1024 + cache_kib,
        "RSS {rss_start} -> {rss_mid} -> {rss_end} KiB"
    );
    assert!(st["loop"]["admin_slow_closed"].as_u64() > Some(0), "{st}");
    let _: SocketAddr = addrs.udp;
    hub.stop();
}
