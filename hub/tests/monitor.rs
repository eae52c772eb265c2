//! The hub monitors: `get`, `list` with last values, `list type=`,
//! `history` (admin and console), `/metrics`, `/healthz` and the HTTP
//! listener's limits, against a real hub on port 0.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{eventually, http_get, http_raw, Device, HubProc, Sensor, WAIT};
use serde_json::Value;

fn send_cycle(s: &Sensor, name: &str, kind: &str, cycle: u64, base: f64) {
    for seq in 1..=10 {
        let v = base + f64::from(seq);
        let d = format!("{name},2025-10-22 18:20:{seq:02},{kind},{v},SEQ:{seq},CYCLE:{cycle}");
        s.send(d.as_bytes());
    }
    assert!(s.recv_status().starts_with("STATUS RECEIVED 10/10"));
}

fn wait_accepted(hub: &HubProc, n: u64) -> Value {
    eventually(|| {
        let s = hub.stats();
        (s["udp"]["accepted"] == n && s["recorder"]["in_flight"] == 0).then_some(s)
    })
    .unwrap_or_else(|| panic!("never accepted {n}: {}", hub.stats()))
}

#[test]
fn get_and_list_show_the_latest_reading() {
    let hub = HubProc::start(&["--no-console"]);
    let _t = Device::register(hub.tcp, "T1", "temperature", true);
    let _h = Device::register(hub.tcp, "H1", "humidity", true);
    let _q = Device::register(hub.tcp, "Q1", "humidity", true);
    eventually(|| (hub.stats()["registered"] == 3).then_some(())).unwrap();
    let s = Sensor::new(hub.udp);
    send_cycle(&s, "T1", "temperature", 4, 20.0);
    send_cycle(&s, "H1", "humidity", 1, 50.0);
    wait_accepted(&hub, 20);

    let mut admin = hub.admin();
    let g = admin.cmd("get T1");
    assert_eq!(g["ok"], true, "{g}");
    assert_eq!(g["device"], "T1");
    let l = &g["latest"];
    assert_eq!(l["value"], 30.0, "{g}");
    assert_eq!(l["type"], "temperature");
    assert_eq!(l["device_ts"], "2025-10-22 18:20:10");
    assert_eq!(
        (l["seq"].as_u64(), l["cycle"].as_u64()),
        (Some(10), Some(4))
    );
    assert_eq!(l["src"], s.sock.local_addr().unwrap().to_string());
    assert!(l["age_s"].as_f64().unwrap() < WAIT.as_secs_f64());
    assert!(l["hub_us"].as_i64().unwrap() > 1_600_000_000_000_000);
    let r = &g["registration"];
    assert_eq!(
        (r["type"].as_str(), r["framing"].as_str()),
        (Some("temperature"), Some("newline"))
    );
    assert_eq!(r["pending_commands"], 0);
    let u = &g["udp"];
    assert_eq!(
        (u["received"].as_u64(), u["missing"].as_u64()),
        (Some(10), Some(0))
    );
    assert_eq!(
        (u["cycles"].as_u64(), u["duplicates"].as_u64()),
        (Some(1), Some(0))
    );

    assert_eq!(admin.cmd("get Nobody")["ok"], false);
    // Registered, but no reading yet.
    let q = admin.cmd("get Q1");
    assert_eq!(
        (q["ok"].as_bool(), q["latest"].is_null()),
        (Some(true), true),
        "{q}"
    );

    // `list` streams one object per device, then `{"ok":true,"listed":N}`.
    let mut list = |cmd: &str| -> Vec<serde_json::Value> {
        admin.send(cmd);
        let mut devs = Vec::new();
        loop {
            let v = admin.read();
            if let Some(n) = v.get("listed") {
                assert_eq!(n.as_u64(), Some(devs.len() as u64), "{v}");
                return devs;
            }
            assert_eq!(v["ok"], true, "{v}");
            devs.push(v);
        }
    };
    let devs = list("list");
    assert_eq!(devs.len(), 3);
    let h1 = devs.iter().find(|d| d["device"] == "H1").unwrap();
    assert_eq!(h1["value"], 60.0);
    assert!(h1["age_s"].as_f64().is_some());
    assert!(devs.iter().find(|d| d["device"] == "Q1").unwrap()["value"].is_null());

    let names: Vec<String> = list("list type=humidity")
        .iter()
        .map(|d| d["device"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["H1", "Q1"]);
    assert_eq!(list("list type=none").len(), 0);
    hub.stop();
}

#[test]
fn history_comes_back_newest_first_on_admin_and_console() {
    let mut hub = HubProc::start(&[]);
    let s = Sensor::new(hub.udp);
    for cycle in 1..=3 {
        send_cycle(&s, "S1", "temperature", cycle, cycle as f64 * 100.0);
    }
    send_cycle(&s, "S2", "temperature", 1, 0.0);
    wait_accepted(&hub, 40);

    let mut admin = hub.admin();
    let head = admin.cmd("history S1 limit=12");
    assert_eq!(head["ok"], true, "{head}");
    assert_eq!(
        (head["history"].as_str(), head["rows"].as_u64()),
        (Some("S1"), Some(12))
    );
    let rows: Vec<Value> = (0..12).map(|_| admin.read()).collect();
    let seen: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| (r["cycle"].as_u64().unwrap(), r["seq"].as_u64().unwrap()))
        .collect();
    let mut want = Vec::new();
    for (c, sq) in [
        (3u64, 10u64),
        (3, 9),
        (3, 8),
        (3, 7),
        (3, 6),
        (3, 5),
        (3, 4),
        (3, 3),
        (3, 2),
        (3, 1),
        (2, 10),
        (2, 9),
    ] {
        want.push((c, sq));
    }
    assert_eq!(seen, want);
    assert_eq!(rows[0]["value"], 310.0);
    assert_eq!(rows[0]["device"], "S1");
    // since= filters by hub time: everything here is recent.
    let all = admin.cmd("history S1 since=1h");
    assert_eq!(all["rows"], 30);
    for _ in 0..30 {
        admin.read();
    }
    // The cap holds whatever limit= asks for (named limit MAX_HISTORY_ROWS).
    let capped = admin.cmd("history S1 limit=999999");
    assert_eq!(capped["rows"], 30);
    for _ in 0..30 {
        admin.read();
    }
    assert_eq!(admin.cmd("history Nobody")["rows"], 0);
    assert_eq!(admin.cmd("history S1 limit=x")["ok"], false);

    hub.console("history S2 limit=3");
    let out = hub.wait_stdout("row(s) of S2");
    assert!(out.contains("3 row(s) of S2"), "{out}");
    assert!(out.contains("2025-10-22 18:20:10"), "{out}");
    let stats = hub.stats();
    // Four admin queries and the console one (limit=x never reached it).
    assert_eq!(stats["recorder"]["history_queries"], 5, "{stats}");
    hub.stop();
}

#[test]
fn history_without_a_recorder_says_so() {
    let hub = HubProc::start(&["--no-console", "--no-recorder"]);
    let v = hub.admin().cmd("history S1");
    assert_eq!(v["ok"], false);
    assert!(
        v["error"].as_str().unwrap().contains("recorder is off"),
        "{v}"
    );
    assert!(hub.stats().get("recorder").is_none());
    assert!(!hub.dir.join("readings.db").exists());
    hub.stop();
}

#[test]
fn metrics_health_and_not_found() {
    let hub = HubProc::start(&["--no-console", "--metrics-per-device"]);
    let _d = Device::register(hub.tcp, "M1", "temperature", true);
    eventually(|| (hub.stats()["registered"] == 1).then_some(())).unwrap();
    let s = Sensor::new(hub.udp);
    send_cycle(&s, "M1", "temperature", 1, 0.5);
    wait_accepted(&hub, 10);

    let (code, page) = http_get(hub.metrics, "/metrics");
    assert_eq!(code, 200);
    for want in [
        "# TYPE hub_udp_datagrams_total counter\nhub_udp_datagrams_total 10\n",
        "# TYPE hub_registered_devices gauge\nhub_registered_devices 1\n",
        "hub_recorder_accepted_total 10\n",
        "hub_recorder_written_total 10\n",
        "hub_recorder_dropped_queue_full_total 0\n",
        "hub_recorder_write_errors_total 0\n",
        "# TYPE hub_recorder_queue_rows gauge\n",
        "# TYPE hub_ack_rtt_seconds histogram\n",
        "hub_ack_rtt_seconds_bucket{le=\"+Inf\"} 0\n",
        "hub_sensor_value{device=\"M1\",type=\"temperature\"} 10.5\n",
        "# TYPE hub_sensor_age_seconds gauge\n",
    ] {
        assert!(page.contains(want), "{want:?} not in the page:\n{page}");
    }
    let (code, body) = http_get(hub.metrics, "/healthz");
    assert_eq!(code, 200, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (h["ok"].as_bool(), h["recorder"].as_str()),
        (Some(true), Some("ok"))
    );
    assert_eq!(http_get(hub.metrics, "/").0, 404);
    assert_eq!(
        http_raw(hub.metrics, b"DELETE /metrics HTTP/1.1\r\n\r\n").0,
        405
    );
    assert_eq!(http_raw(hub.metrics, b"\x01\x02 nonsense\r\n\r\n").0, 400);
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Pad: ".to_vec();
    big.resize(20_000, b'a');
    assert_eq!(http_raw(hub.metrics, &big).0, 431);
    let st = hub.stats();
    let http = &st["http"];
    assert_eq!(
        (http["not_found"].as_u64(), http["too_large"].as_u64()),
        (Some(1), Some(1)),
        "{st}"
    );
    assert_eq!(http["bad_requests"], 1);
    assert!(http["last_render_s"].as_f64().is_some());
    hub.stop();
}

#[test]
fn per_device_series_only_when_asked() {
    let hub = HubProc::start(&["--no-console"]);
    let s = Sensor::new(hub.udp);
    send_cycle(&s, "P1", "temperature", 1, 0.0);
    wait_accepted(&hub, 10);
    let (_, page) = http_get(hub.metrics, "/metrics");
    assert!(page.contains("hub_udp_datagrams_total 10\n"));
    assert!(!page.contains("hub_sensor_value"), "{page}");
    hub.stop();
}

#[test]
fn http_connections_are_capped_and_idle_ones_do_not_block_scrapes() {
    let hub = HubProc::start(&["--no-console", "--metrics-max-conns", "4"]);
    // Fill every slot with a client that never finishes its request.
    let cap = 4;
    let mut idle: Vec<TcpStream> = (0..cap)
        .map(|_| {
            let mut c = TcpStream::connect(hub.metrics).unwrap();
            c.write_all(b"GET /metr").unwrap();
            c
        })
        .collect();
    // The loop keeps serving devices meanwhile.
    let s = Sensor::new(hub.udp);
    send_cycle(&s, "I1", "temperature", 1, 0.0);
    // Past the cap a connection gets a 503 and is closed at once (the
    // close may also reach the client as a reset).
    let rejected = eventually(|| match common::http_try(hub.metrics, "/healthz") {
        Some((503, _)) | None => Some(()),
        Some(_) => None,
    });
    assert!(
        rejected.is_some(),
        "a connection past the cap must be refused"
    );
    assert!(hub.stats()["http"]["rejected_full"].as_u64().unwrap() >= 1);
    // Closing one frees its slot.
    idle.pop();
    let served = eventually(|| {
        matches!(common::http_try(hub.metrics, "/healthz"), Some((200, _))).then_some(())
    });
    assert!(served.is_some());
    drop(idle);
    std::thread::sleep(Duration::from_millis(50));
    hub.stop();
}

#[test]
fn a_client_that_never_finishes_its_request_is_closed_when_idle() {
    use std::io::Read;
    let hub = HubProc::start(&["--no-console", "--metrics-idle", "300ms"]);
    let mut slow = TcpStream::connect(hub.metrics).unwrap();
    slow.set_read_timeout(Some(WAIT)).unwrap();
    // One byte at a time does not keep it open: the limit counts from accept.
    for b in b"GET /me" {
        slow.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    let mut buf = [0u8; 64];
    let n = slow.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without a reply");
    let closed = eventually(|| (hub.stats()["http"]["idle_closed"] == 1).then_some(()));
    assert!(closed.is_some(), "{}", hub.stats()["http"]);
    assert_eq!(http_get(hub.metrics, "/healthz").0, 200);
    hub.stop();
}
