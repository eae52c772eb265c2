//! Hostile senders on the UDP data channel (issue cases 10–13): malformed
//! datagrams, amplification and reply rate, a flood of names and sources,
//! and send errors, each while a well-behaved device keeps being served.

mod common;

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use common::{assert_serves, eventually, skip_unless_ci, HubProc, Probe, Sensor, WellBehaved};

fn udp(hub: &HubProc, key: &str) -> u64 {
    hub.stats()["udp"][key].as_u64().unwrap()
}

/// Case 10: every kind of malformed datagram is counted and dropped, and
/// never answered.
#[test]
fn malformed_datagrams_are_counted_dropped_and_unanswered() {
    let hub = HubProc::start(&[]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let s = Sensor::new(hub.udp);
    let huge = vec![b'x'; 60_000];
    let long_ok_prefix = format!("S,{},t,1,SEQ:1", "t".repeat(600));
    let bad: &[&[u8]] = &[
        &huge,                                        // oversized
        long_ok_prefix.as_bytes(),                    // over 512 bytes
        b"S,ts,t,1",                                  // missing SEQ
        b"S,ts,t",                                    // missing fields
        b"S,ts,t,1,SEQ:1,CYCLE:1,extra",              // too many fields
        b",ts,t,1,SEQ:1",                             // empty name
        b"S,ts,t,abc,SEQ:1",                          // non-numeric value
        b"S,ts,t,,SEQ:1",                             // empty value
        b"S,ts,t,NaN,SEQ:1",                          // NaN
        b"S,ts,t,nan,SEQ:1",                          // nan
        b"S,ts,t,inf,SEQ:1",                          // infinite
        b"S,ts,t,-Infinity,SEQ:1",                    // infinite
        b"S,ts,t,1e999,SEQ:1",                        // overflows to inf
        b"S,ts,t,0x10,SEQ:1",                         // hex
        b"S,ts,t,1,SEQ:0",                            // zero SEQ
        b"S,ts,t,1,SEQ:11",                           // past the cycle
        b"S,ts,t,1,SEQ:4294967296",                   // past u32
        b"S,ts,t,1,SEQ:99999999999999999999999999",   // huge
        b"S,ts,t,1,SEQ:-1",                           // negative
        b"S,ts,t,1,SEQ:",                             // empty
        b"S,ts,t,1,SEQ:1x",                           // trailing junk
        b"S,ts,t,1,seq:1",                            // wrong case
        b"S,ts,t,1,SEQ:1,CYCLE:18446744073709551616", // past u64
        b"S,ts,t,1,SEQ:1,CYCLE:x",                    // non-numeric cycle
        b"Sen,sor,ts,t,1,SEQ:1",                      // comma in name
        b"S,t,s,t,1,SEQ:1",                           // comma in timestamp
        b"S\0,ts,t,1,SEQ:1",                          // NUL in name
        b"S,ts\xff,t,1,SEQ:1",                        // invalid UTF-8
        b"S,ts,t y,1,SEQ:1",                          // space in type
        b"S,ts,t,1,SEQ:1\n\n",                        // two newlines
        b"",                                          // empty
    ];
    for b in bad {
        s.send(b);
    }
    assert!(
        s.silent_for(Duration::from_millis(500)),
        "a malformed datagram was answered"
    );
    let malformed = eventually(|| {
        let m = udp(&hub, "malformed");
        (m >= bad.len() as u64).then_some(m)
    });
    assert_eq!(malformed, Some(bad.len() as u64));
    probe.finish();
    hub.stop();
}

/// Case 10: duplicate and reordered SEQs are counted, never double-counted.
#[test]
fn duplicates_and_reordering_are_counted_not_double_counted() {
    let hub = HubProc::start(&[]);
    let s = Sensor::new(hub.udp);
    // Reordered within a cycle, with CYCLE: one 10/10.
    for seq in [2, 1, 4, 3, 6, 5, 8, 7, 9, 10] {
        s.reading("Order", seq, Some(1));
    }
    assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    // Duplicates of every SEQ in cycle 2 still give 10/10.
    for seq in 1..=9 {
        s.reading("Order", seq, Some(2));
        s.reading("Order", seq, Some(2));
    }
    s.reading("Order", 10, Some(2));
    assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    // Late packets of closed cycles and a replayed last SEQ: no reply.
    s.reading("Order", 3, Some(1));
    s.reading("Order", 10, Some(2));
    assert!(s.silent_for(Duration::from_millis(300)));
    let u = &hub.stats()["udp"];
    assert_eq!(u["duplicates"], 9, "{u}");
    assert_eq!(u["late"], 2, "{u}");
    assert_eq!(u["packets_received"], 20, "{u}");
    assert_eq!(u["statuses_sent"], 2, "{u}");
    hub.stop();
}

/// Case 10: with `--udp-registered-only`, names never registered over TCP
/// are counted in `unknown_device` and dropped unanswered.
#[test]
fn unknown_devices_are_dropped_when_registration_is_required() {
    let hub = HubProc::start(&["--udp-registered-only"]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let s = Sensor::new(hub.udp);
    for seq in 1..=10 {
        s.reading("Stranger", seq, None);
    }
    assert!(s.silent_for(Duration::from_millis(400)));
    probe.finish();
    assert_eq!(udp(&hub, "unknown_device"), 10);
    hub.stop();
    // Without the flag the original client, which never registers, works.
    let open = HubProc::start(&[]);
    let s = Sensor::new(open.udp);
    for seq in 1..=10 {
        s.reading("Stranger", seq, None);
    }
    assert_eq!(s.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    open.stop();
}

/// Case 11: no STATUS is larger than 3× the datagram that caused it.
#[test]
fn no_status_is_larger_than_three_times_its_datagram() {
    let hub = HubProc::start(&["--cycle-len", "64", "--cycle-timeout", "300ms"]);
    let s = Sensor::new(hub.udp);
    let mut checked = 0;
    // The shortest legal datagrams, with most of the cycle missing, make
    // the longest STATUS for the fewest bytes in.
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        let keep: Vec<u32> = (1..=64).filter(|n| n % (i as u32 + 2) == 0).collect();
        let mut last_len = 0;
        for &seq in &keep {
            let d = format!("{name},,t,1,SEQ:{seq}");
            last_len = d.len();
            s.send(d.as_bytes());
        }
        let st = s.recv_status();
        assert!(st.starts_with("STATUS RECEIVED "), "{st}");
        assert!(
            st.len() <= 3 * last_len,
            "STATUS of {} bytes for a {last_len}-byte datagram: {st}",
            st.len()
        );
        checked += 1;
    }
    // Closed by a timeout, the cap is the device's last datagram.
    let d = b"e,,t,1,SEQ:2";
    s.send(d);
    let st = s.recv_status();
    assert!(st.len() <= 3 * d.len(), "{st}");
    assert!(st.ends_with("...]") || !st.contains("MISSING"), "{st}");
    assert_eq!(checked, 4);
    hub.stop();
}

/// Case 11: replies to one source are rate-limited; other sources are not
/// held back by it.
#[test]
fn replies_to_one_source_are_rate_limited() {
    let hub = HubProc::start(&["--reply-rate", "5", "--reply-burst", "10"]);
    let mut steady = WellBehaved::register(hub.addrs(), "Steady").unwrap();
    // Whole cycles cost the hub less than they brought in: never limited,
    // however many come from one address.
    let s = Sensor::new(hub.udp);
    let cycles = 100;
    for c in 0..cycles {
        for seq in 1..=10 {
            s.reading("Chatty", seq, Some(c));
        }
    }
    let mut got = 0;
    // Generous per reply (a loaded machine), then nothing more may come.
    while got < cycles && !s.silent_for(Duration::from_secs(2)) {
        got += 1;
    }
    assert_eq!(got, cycles, "every whole cycle answered");
    assert!(
        s.silent_for(Duration::from_millis(300)),
        "one STATUS per cycle"
    );
    // Tiny one-datagram cycles from 64 ports of one address: their STATUS
    // is larger than the datagram, so the address's bucket (not the
    // port's) limits them all together.
    let ports: Vec<UdpSocket> = (0..64)
        .map(|_| {
            let u = UdpSocket::bind("127.0.0.1:0").unwrap();
            // Read only once the hub has sent everything (see below).
            u.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            u
        })
        .collect();
    let before = hub.stats()["udp"].clone();
    let count = |u: &serde_json::Value, k: &str| u[k].as_u64().unwrap();
    let started = std::time::Instant::now();
    for round in 0..10u64 {
        for (i, p) in ports.iter().enumerate() {
            let d = format!("T{i},,t,1,SEQ:10,CYCLE:{round}");
            p.send_to(d.as_bytes(), hub.udp).unwrap();
        }
    }
    // Wait until the hub has decided on all 640 (answered or limited), so
    // a slow turn of a loaded machine cannot leave a reply in flight.
    let u = common::eventually(|| {
        let u = hub.stats()["udp"].clone();
        let decided = count(&u, "statuses_sent") - count(&before, "statuses_sent")
            + count(&u, "statuses_rate_limited")
            - count(&before, "statuses_rate_limited");
        (decided >= 640).then_some(u)
    })
    .expect("the hub decided on every tiny cycle");
    let elapsed = started.elapsed().as_secs_f64();
    let sent = count(&u, "statuses_sent") - count(&before, "statuses_sent");
    let limited = count(&u, "statuses_rate_limited") - count(&before, "statuses_rate_limited");
    let mut tiny_got = 0u64;
    let mut buf = [0u8; 512];
    for p in &ports {
        while p.recv_from(&mut buf).is_ok() {
            tiny_got += 1;
        }
    }
    let allowed = 10.0 + 5.0 * (elapsed + 1.0);
    assert!(
        tiny_got >= 10,
        "the burst should get through, got {tiny_got}"
    );
    assert!(
        (tiny_got as f64) <= allowed,
        "{tiny_got} replies to 64 ports of one address in {elapsed:.2}s, allowed {allowed}"
    );
    // Every STATUS the hub sent arrived, and every tiny cycle was either
    // answered or limited.
    assert_eq!(tiny_got, sent, "{u}");
    assert_eq!(limited + tiny_got, 640, "{u}");
    assert!(u["statuses_unmetered"].as_u64().unwrap() >= cycles, "{u}");
    steady.exercise().unwrap();
    hub.stop();
}

/// A registered name's readings are accepted only from its TCP
/// connection's address: a forged or foreign source cannot close its
/// cycle, steal its STATUS or reflect one at a victim. `--udp-any-source`
/// turns the check off.
#[test]
fn a_registered_name_is_served_only_at_its_tcp_address() {
    let hub = HubProc::start(&[]);
    let probe = common::Probe::start(hub.addrs(), "Probe");
    let _dev = common::Device::register(hub.tcp, "Dev01", "t", true);
    hub.wait_log("REGISTER device=Dev01");
    let attacker = UdpSocket::bind("127.0.0.2:0").unwrap();
    attacker
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for seq in 1..=10 {
        let d = format!("Dev01,ts,t,1,SEQ:{seq}");
        attacker.send_to(d.as_bytes(), hub.udp).unwrap();
    }
    let mut buf = [0u8; 512];
    assert!(
        attacker.recv_from(&mut buf).is_err(),
        "the attacker got a STATUS"
    );
    let real = Sensor::new(hub.udp);
    for seq in 1..=10 {
        real.reading("Dev01", seq, None);
    }
    assert_eq!(real.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    assert_eq!(hub.stats()["udp"]["wrong_source"], 10);
    probe.finish();
    hub.stop();

    let hub = HubProc::start(&["--udp-any-source"]);
    let _dev = common::Device::register(hub.tcp, "Dev01", "t", true);
    hub.wait_log("REGISTER device=Dev01");
    for seq in 1..=10 {
        let d = format!("Dev01,ts,t,1,SEQ:{seq}");
        attacker.send_to(d.as_bytes(), hub.udp).unwrap();
    }
    assert!(
        attacker.recv_from(&mut buf).is_ok(),
        "--udp-any-source serves any address"
    );
    hub.stop();
}

/// A second hub on a UDP port in use is refused (exit 1), like TCP.
#[test]
fn a_udp_port_in_use_is_refused() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = std::env::temp_dir().join(format!("hub-udp-in-use-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hub"))
        .current_dir(&dir)
        .args(["--tcp-port", "0", "--admin-port", "0", "--no-console"])
        .args(["--udp-port", &port])
        .arg("--log-file")
        .arg(dir.join("log.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot bind UDP"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Case 12: a flood under 50 000 names from 199 source addresses. Device
/// state stays capped, idle entries are evicted, memory stays bounded,
/// and a device that was already being served keeps its STATUS.
#[test]
fn a_flood_of_names_and_sources_stays_capped_and_is_evicted() {
    let hub = HubProc::start(&[
        "--max-udp-devices",
        "1000",
        "--udp-idle-evict",
        "500ms",
        "--cycle-timeout",
        "300ms",
    ]);
    let mut steady = WellBehaved::register(hub.addrs(), "Steady").unwrap();
    steady.status_round().unwrap();
    let rss_before = hub.rss_kib();
    let sources: Vec<UdpSocket> = (2..=200)
        .map(|i| UdpSocket::bind(format!("127.0.0.{i}:0")).unwrap())
        .collect();
    let mut max_tracked = 0;
    for batch in 0..50 {
        for k in 0..1000 {
            let n = batch * 1000 + k;
            let d = format!("Flood{n},ts,temperature,1.5,SEQ:1");
            let src = &sources[n % sources.len()];
            let _ = src.send_to(d.as_bytes(), hub.udp);
            if k % 250 == 0 {
                // Pace the flood so the kernel does not drop the steady
                // device's datagrams along with the flood's.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        if batch % 10 == 9 {
            steady.status_round().unwrap();
            let u = &hub.stats()["udp"];
            max_tracked = max_tracked.max(u["devices_tracked"].as_u64().unwrap());
        }
    }
    let u = hub.stats()["udp"].clone();
    assert!(max_tracked <= 1000, "{u}");
    // Strangers hold at most 3/4 of the table, evicted oldest first; the
    // registered device's state is never among them.
    assert!(u["strangers_evicted"].as_u64().unwrap() > 40_000, "{u}");
    assert!(u["strangers_tracked"].as_u64().unwrap() <= 750, "{u}");
    assert_eq!(u["table_full_drops"], 0, "{u}");
    // Once the flood is idle its state is evicted.
    let evicted = eventually(|| {
        let u = hub.stats()["udp"].clone();
        (u["devices_tracked"].as_u64().unwrap() <= 1).then_some(u)
    })
    .expect("the flood's state was never evicted");
    // The 750 strangers left when the flood stopped go idle and are evicted.
    assert!(
        evicted["devices_evicted"].as_u64().unwrap() >= 700,
        "{evicted}"
    );
    let growth = hub.rss_kib().saturating_sub(rss_before);
    assert!(growth < 20 * 1024, "RSS grew {growth} KiB");
    assert_serves(&hub, "After");
    hub.stop();
}

/// Case 13: STATUS replies to devices that have vanished (their port is
/// closed, so the kernel answers ICMP port unreachable) never end the loop.
#[test]
fn send_errors_to_vanished_devices_never_end_the_loop() {
    let mut hub = HubProc::start(&["--cycle-timeout", "200ms"]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let mut gone: Vec<SocketAddr> = Vec::new();
    for i in 0..200 {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        gone.push(s.local_addr().unwrap());
        for seq in 1..=9 {
            // SEQ 10 never comes: the STATUS goes out on the timeout,
            // after the socket is closed.
            let d = format!("Gone{i},ts,t,1,SEQ:{seq}");
            s.send_to(d.as_bytes(), hub.udp).unwrap();
        }
        if i % 2 == 0 {
            // Half of them close their cycle, then vanish before the reply.
            s.send_to(format!("Gone{i},ts,t,1,SEQ:10").as_bytes(), hub.udp)
                .unwrap();
        }
        drop(s);
    }
    let u = eventually(|| {
        let u = hub.stats()["udp"].clone();
        let closed = u["closed_timeout"].as_u64().unwrap();
        (closed >= 100).then_some(u)
    })
    .expect("the STATUS replies did not all go out");
    assert!(hub.alive(), "the hub died");
    probe.finish();
    eprintln!("after vanished devices: {u}");
    // Every closed cycle was answered although nobody was left to read it:
    // an unconnected UDP socket's sends to a closed port succeed, so the
    // vanished peers cost no send errors and no receive errors either.
    assert!(u["statuses_sent"].as_u64().unwrap() >= 100, "{u}");
    let l = hub.stats()["loop"].clone();
    assert_eq!(l["udp_send_errors"].as_u64(), Some(0), "{l}");
    assert_eq!(l["udp_recv_errors"].as_u64(), Some(0), "{l}");
    assert_serves(&hub, "After");
    hub.stop();
}

/// Sends one UDP datagram with a forged source address through a raw
/// socket (the tests run as root). Loopback only: `dst` must be 127/8.
fn spoofed_udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> std::io::Result<()> {
    assert!(dst.ip().is_loopback() && src.ip().octets()[0] == 127);
    let udp_len = 8 + payload.len();
    let mut pkt = Vec::with_capacity(20 + udp_len);
    // IPv4 header; the kernel fills in the checksum and the ID.
    pkt.extend_from_slice(&[0x45, 0]);
    pkt.extend_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    pkt.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    pkt.extend_from_slice(&src.ip().octets());
    pkt.extend_from_slice(&dst.ip().octets());
    // UDP header; a zero checksum means "none" on IPv4.
    pkt.extend_from_slice(&src.port().to_be_bytes());
    pkt.extend_from_slice(&dst.port().to_be_bytes());
    pkt.extend_from_slice(&(udp_len as u16).to_be_bytes());
    pkt.extend_from_slice(&[0, 0]);
    pkt.extend_from_slice(payload);
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes(dst.ip().octets());
        let n = libc::sendto(
            fd,
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        let err = std::io::Error::last_os_error();
        libc::close(fd);
        if n < 0 {
            return Err(err);
        }
    }
    Ok(())
}

/// Case 13: STATUS sends that fail outright (a forged source of
/// 127.255.255.255, the loopback broadcast address, so `sendto` gets
/// EACCES) are counted and never end the loop.
#[test]
fn failing_status_sends_are_counted_and_survived() {
    let mut hub = HubProc::start(&[]);
    let SocketAddr::V4(dst) = hub.udp else {
        panic!("IPv4 hub")
    };
    let src: SocketAddrV4 = "127.255.255.255:9999".parse().unwrap();
    let probe = Probe::start(hub.addrs(), "Probe");
    let mut sent = 0;
    for c in 0..50u64 {
        for seq in 1..=10 {
            let d = format!("Spoofed,ts,t,1,SEQ:{seq},CYCLE:{c}");
            if let Err(e) = spoofed_udp(src, dst, d.as_bytes()) {
                probe.finish();
                skip_unless_ci(&format!("no raw sockets here ({e})"));
                return;
            }
            sent += 1;
        }
    }
    let errors = eventually(|| {
        let n = hub.stats()["loop"]["udp_send_errors"].as_u64().unwrap();
        (n >= 50).then_some(n)
    });
    assert_eq!(errors, Some(50), "one failed send per closed cycle");
    assert_eq!(sent, 500);
    assert!(hub.alive());
    probe.finish();
    assert_serves(&hub, "After");
    hub.stop();
}
