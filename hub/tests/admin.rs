//! The admin port under a hostile or careless operator side (issue 10,
//! item 5): one JSON object per line for every reply, idle and slow
//! sessions closed, a session cap that never locks the operator out, `list`
//! of any size within the output cap, and a burst of `send *` refused to
//! the operator instead of costing healthy devices. A well-behaved device
//! is served throughout.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{eventually, Admin, Device, HubProc, Probe, WAIT};
use serde_json::Value;

/// Everything the hub sends on `s` until it closes; each line must be JSON.
fn json_lines_to_close(s: TcpStream) -> Vec<Value> {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut out = Vec::new();
    for line in BufReader::new(s).lines() {
        let Ok(line) = line else { break };
        out.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}")));
    }
    out
}

#[test]
fn an_over_long_admin_line_gets_a_json_error() {
    let hub = HubProc::start(&[]);
    let mut s = TcpStream::connect(hub.admin).unwrap();
    s.write_all(&vec![b'x'; 2000]).unwrap();
    let got = json_lines_to_close(s);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["ok"], false);
    assert!(got[0]["error"]
        .as_str()
        .unwrap()
        .contains("longer than 1024"));
    assert_eq!(hub.stats()["loop"]["admin_oversize_lines"], 1);
    hub.stop();
}

#[test]
fn idle_and_slow_sessions_never_lock_the_operator_out() {
    let hub = HubProc::start(&[
        "--max-admin-sessions",
        "8",
        "--admin-idle-timeout",
        "2s",
        "--admin-line-deadline",
        "1s",
    ]);
    let probe = Probe::start(hub.addrs(), "Probe");
    // 40 sessions dribbling a byte every 200 ms: each is closed once its
    // line is 1 s old, however many bytes it sent.
    let admin = hub.admin;
    let slow: Vec<_> = (0..40)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(admin).unwrap();
                let started = Instant::now();
                while started.elapsed() < Duration::from_secs(3) {
                    if s.write_all(b"s").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                let mut rest = Vec::new();
                s.set_read_timeout(Some(WAIT)).unwrap();
                let _ = s.read_to_end(&mut rest);
                rest
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut op = Admin::connect(hub.admin);
    assert_eq!(op.cmd("stats")["ok"], true);
    for t in slow {
        let got = String::from_utf8(t.join().unwrap()).unwrap();
        let v: Value =
            serde_json::from_str(got.trim_end()).unwrap_or_else(|e| panic!("{got:?}: {e}"));
        assert_eq!(v["error"], "line not completed within 1 s; closing", "{v}");
    }
    assert_eq!(hub.stats()["loop"]["admin_slow_closed"], 40);
    // 500 idle connections: trimmed to 128 once their grace is over, the
    // rest closed when idle; the operator gets in at once, again and again.
    let idle: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(hub.admin).unwrap())
        .collect();
    for _ in 0..5 {
        let mut op = Admin::connect(hub.admin);
        let v = op.cmd("stats");
        assert_eq!(v["ok"], true, "{v}");
    }
    // Every idle connection ends evicted or timed out (the first operator
    // session times out too).
    let st = eventually(|| {
        let st = hub.stats();
        let l = &st["loop"];
        let gone = l["admin_idle_closed"].as_u64()? + l["admin_evicted"].as_u64()?;
        (gone > 500).then_some(st)
    })
    .expect("idle sessions closed");
    // 8 seats and at most 128 sessions that never sent a line.
    assert!(st["admin_sessions"].as_u64() <= Some(8 + 128), "{st}");
    for s in idle {
        for v in json_lines_to_close(s) {
            assert_eq!(v["ok"], false, "{v}");
        }
    }
    // The first operator session was idle 2 s: closed too, with a reason.
    assert_eq!(op.read()["error"], "idle for 2 s; closing");
    probe.finish();
    hub.stop();
}

#[test]
fn a_session_that_speaks_within_its_grace_survives_a_flood_of_connections() {
    let hub = HubProc::start(&[]);
    // An operator who connects and is slow to type: 500 connections arrive
    // before its first line, yet it is not the one evicted.
    let mut op = Admin::connect(hub.admin);
    let flood: Vec<TcpStream> = (0..500)
        .map(|_| TcpStream::connect(hub.admin).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let v = op.cmd("stats");
    assert_eq!(v["ok"], true, "{v}");
    // Once their grace is over, the silent ones are trimmed to 128 (the
    // polling `stats` session, young and silent for a moment, counts too).
    let evicted = eventually(|| {
        let n = hub.stats()["loop"]["admin_evicted"].as_u64()?;
        (n >= 500 - 128).then_some(n)
    })
    .expect("the silent sessions trimmed after their grace");
    assert!((500 - 128..=500 - 127).contains(&evicted), "{evicted}");
    assert_eq!(op.cmd("stats")["ok"], true);
    drop(flood);
    hub.stop();
}

#[test]
fn list_streams_every_device_past_the_output_cap() {
    let hub = HubProc::start(&["--max-outbuf", "16384"]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let n = 1500;
    let devices: Vec<Device> = (0..n)
        .map(|i| Device::register(hub.tcp, &format!("L{i:05}"), "t", true))
        .collect();
    eventually(|| (hub.stats()["registrations"].as_u64() >= Some(n)).then_some(()))
        .expect("all registered");
    let mut a = Admin::connect(hub.admin);
    a.send("list");
    let mut names = Vec::new();
    let summary = loop {
        let v = a.read();
        assert_eq!(v["ok"], true, "{v}");
        if v.get("listed").is_some() {
            break v;
        }
        names.push(v["device"].as_str().unwrap().to_string());
    };
    assert_eq!(summary["listed"].as_u64(), Some(names.len() as u64));
    let ours = names.iter().filter(|n| n.starts_with('L')).count();
    assert_eq!(ours, n as usize);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // The session still works after the stream.
    assert_eq!(a.cmd("help")["ok"], true);
    assert_eq!(hub.stats()["loop"]["outbuf_overflows"], 0);
    probe.finish();
    drop(devices);
    hub.stop();
}

#[test]
fn a_burst_of_send_star_is_refused_to_the_operator_not_the_devices() {
    let hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let acks: Vec<_> = (0..10)
        .map(|i| {
            let mut d = Device::register(hub.tcp, &format!("H{i}"), "t", true);
            std::thread::spawn(move || {
                d.stream
                    .set_read_timeout(Some(Duration::from_secs(3)))
                    .unwrap();
                let mut r = BufReader::new(d.stream.try_clone().unwrap());
                let mut line = String::new();
                let mut n = 0;
                while r.read_line(&mut line).map(|k| k > 0).unwrap_or(false) {
                    // A slow but healthy device: 1 ms per command.
                    std::thread::sleep(Duration::from_millis(1));
                    d.stream.write_all(b"ACK\n").unwrap();
                    n += 1;
                    line.clear();
                }
                n
            })
        })
        .collect();
    eventually(|| (hub.stats()["registrations"].as_u64() >= Some(10)).then_some(()))
        .expect("registered");
    let mut a = Admin::connect(hub.admin);
    let burst = "send type=t SET_INTERVAL 5\n".repeat(70);
    a.send(burst.trim_end());
    let mut refused = 0;
    let mut sent = 0;
    while sent < 70 {
        let v = a.read();
        if v.get("done").is_some() {
            continue;
        }
        assert_eq!(v["ok"], true, "{v}");
        refused += v["refused"].as_u64().unwrap();
        sent += 1;
    }
    let st = hub.stats();
    assert!(refused > 0, "the burst should overflow some queues: {st}");
    assert_eq!(st["queue_overflows"].as_u64(), Some(refused));
    let log = hub.log_text();
    assert!(!log.contains("DISCONNECT device=H"), "{log}");
    drop(a);
    probe.finish();
    hub.stop();
    for t in acks {
        assert!(t.join().unwrap() > 0);
    }
}
