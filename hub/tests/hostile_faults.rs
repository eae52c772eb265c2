//! Resource attacks and faults (issue cases 5, 6, 7, 14 and 15): connection
//! floods past the cap and past the descriptor limit, peers that never
//! read, a log that cannot be written, and the hub killed mid-run. Case 16
//! (restart under the load generator) lives with the load generator.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{
    assert_serves, eventually, skip_unless_ci, Admin, Device, HubAddrs, HubProc, Probe, WellBehaved,
};

/// True if the hub answered `ERROR hub full` and closed; false if the
/// connection is still open with nothing to read.
fn was_rejected(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => {
                assert_eq!(got, b"ERROR hub full\n");
                return true;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => {
                assert!(got.is_empty(), "{got:?}");
                return false;
            }
        }
    }
}

/// Case 5: connections past `--max-connections` are accepted and closed at
/// once; twice over, to show that the slots come back.
#[test]
fn a_connection_flood_past_the_cap_is_shed_and_slots_come_back() {
    let hub = HubProc::start(&["--max-connections", "20"]);
    let mut steady = WellBehaved::register(hub.addrs(), "Steady").unwrap();
    for round in 1..=2u64 {
        let mut flood: Vec<TcpStream> = (0..60)
            .map(|_| TcpStream::connect(hub.tcp).unwrap())
            .collect();
        let want = 41 * round; // 60 minus the 19 free slots
        let rejected = eventually(|| {
            let n = hub.stats()["loop"]["rejected_full"].as_u64().unwrap();
            (n >= want).then_some(n)
        });
        assert_eq!(rejected, Some(want));
        // The device that was in before the flood is still served.
        steady.exercise().unwrap();
        let shed = flood.iter_mut().map(was_rejected).filter(|&r| r).count();
        assert_eq!(shed, 41, "round {round}");
        assert_eq!(hub.stats()["connections"], 20);
        drop(flood);
        assert!(
            eventually(|| (hub.stats()["connections"] == 1).then_some(())).is_some(),
            "round {round}: the flood's slots were not freed"
        );
    }
    assert_serves(&hub, "After");
    hub.stop();
}

/// Case 6: with `RLIMIT_NOFILE` at 64 and a cap far above it, a flood of
/// 200 held connections runs the hub out of descriptors. It sheds them,
/// does not spin, does not exit, keeps serving the device it had, and
/// serves new ones once descriptors free up.
#[test]
fn descriptor_exhaustion_neither_spins_nor_exits() {
    let mut hub = HubProc::start_with(&["--max-connections", "1000"], Some(64));
    let mut steady = WellBehaved::register(hub.addrs(), "Steady").unwrap();
    let mut flood: Vec<TcpStream> = Vec::new();
    for _ in 0..200 {
        // The kernel completes handshakes into the backlog; a connect may
        // only fail if the backlog is full, which is fine for a flood.
        if let Ok(s) = TcpStream::connect(hub.tcp) {
            flood.push(s);
        }
    }
    let st = eventually(|| {
        let st = steady.admin.cmd("stats")["stats"].clone();
        (st["loop"]["shed_no_fds"].as_u64().unwrap() > 0).then_some(st)
    })
    .expect("the hub never ran out of descriptors");
    assert!(st["loop"]["fd_exhausted"].as_u64().unwrap() > 0, "{st}");
    std::thread::sleep(Duration::from_millis(300));
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu_before = hub.cpu_ticks();
    let wall = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    let cpu = (hub.cpu_ticks() - cpu_before) as f64 / hz;
    let share = cpu / wall.elapsed().as_secs_f64();
    assert!(share < 0.3, "the hub used {:.0}% of a core", share * 100.0);
    assert!(hub.alive(), "the hub exited");
    steady.exercise().unwrap();
    drop(flood);
    assert!(
        eventually(|| (steady.admin.cmd("stats")["stats"]["connections"] == 1).then_some(()))
            .is_some(),
        "the flood's connections were not all closed"
    );
    assert_serves(&hub, "After");
    hub.stop();
}

/// Case 6, the admin side: an admin connection that arrived while the hub
/// was out of descriptors is served once they free up.
#[test]
fn an_admin_session_that_arrived_during_exhaustion_is_served_later() {
    let hub = HubProc::start_with(&["--max-connections", "1000"], Some(48));
    let mut steady = WellBehaved::register(hub.addrs(), "Steady").unwrap();
    let flood: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(hub.tcp).ok())
        .collect();
    eventually(|| {
        let st = steady.admin.cmd("stats")["stats"].clone();
        (st["loop"]["shed_no_fds"].as_u64().unwrap() > 0).then_some(())
    })
    .expect("the hub never ran out of descriptors");
    let mut late = Admin::connect(hub.admin);
    late.send("stats");
    std::thread::sleep(Duration::from_millis(200));
    drop(flood);
    // No other admin connection arrives to wake the listener up.
    let v = late.read();
    assert_eq!(v["ok"], true, "{v}");
    hub.stop();
}

/// Case 7: a device that never ACKs while commands pile up keeps its
/// connection: the operator's excess is refused to the operator (an error
/// for that device), the device is dropped only if it stops reading; an
/// admin session that never reads is dropped at the output buffer cap.
/// Others are unaffected and memory stays bounded.
#[test]
fn peers_that_never_read_are_dropped_at_their_caps() {
    let hub = HubProc::start(&["--command-queue", "4", "--max-outbuf", "16384"]);
    let probe = Probe::start(hub.addrs(), "Probe");
    let rss_before = hub.rss_kib();
    let _deaf = Device::register(hub.tcp, "Deaf", "t", true);
    hub.wait_log("REGISTER device=Deaf");
    let mut admin = hub.admin();
    for i in 1..=5 {
        assert_eq!(
            admin.cmd(&format!("send Deaf SET_INTERVAL {i}"))["ok"],
            true
        );
    }
    // One in flight, four queued: the sixth is refused, the device stays.
    let v = admin.cmd("send Deaf SET_INTERVAL 6");
    assert_eq!(v["ok"], false, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("4 commands queued"),
        "{v}"
    );
    // `type=t`, not `*`: the probe's devices must only get their own commands.
    let v = admin.cmd("send type=t SET_INTERVAL 7");
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["refused"].as_u64().unwrap() >= 1, "{v}");
    let log = hub.wait_log("COMMAND_FAILED device=Deaf");
    assert!(log.contains("reason=\"command queue full\""), "{log}");
    assert!(!log.contains("DISCONNECT device=Deaf"), "{log}");
    assert_eq!(hub.stats()["queue_overflows"], 2);
    assert_eq!(hub.admin().cmd("list")["device"], "Deaf");

    // An admin client that asks for stats forever and never reads.
    let mut mute = TcpStream::connect(hub.admin).unwrap();
    mute.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let burst = "stats\n".repeat(500);
    let mut dropped = false;
    for _ in 0..100 {
        if mute.write_all(burst.as_bytes()).is_err() {
            dropped = true;
            break;
        }
        let n = hub.stats()["loop"]["outbuf_overflows"].as_u64().unwrap();
        if n > 0 {
            dropped = true;
            break;
        }
    }
    // The hub runs a session's lines 16 a turn and reads no more until they
    // have run, so the drop may come after the writes stopped.
    let overflowed =
        eventually(|| (hub.stats()["loop"]["outbuf_overflows"] == 1).then_some(())).is_some();
    assert!(
        dropped || overflowed,
        "a non-reading admin session was never dropped"
    );
    assert!(overflowed);
    probe.finish();
    let growth = hub.rss_kib().saturating_sub(rss_before);
    assert!(growth < 20 * 1024, "RSS grew {growth} KiB");
    hub.stop();
}

/// Case 14: the log cannot be written (`/dev/full`: every write fails with
/// ENOSPC). The hub keeps serving, counts the errors and says so in stats.
#[test]
fn an_unwritable_log_is_counted_and_the_hub_keeps_serving() {
    use hub::server::{Hub, HubConfig};
    if !std::path::Path::new("/dev/full").exists() {
        return skip_unless_ci("no /dev/full here");
    }
    let cfg = HubConfig::embedded("/dev/full".into());
    let handle = Hub::bind(cfg).unwrap().spawn().unwrap();
    let addrs = HubAddrs {
        tcp: handle.tcp_addr,
        udp: handle.udp_addr,
        admin: handle.admin_addr,
    };
    let probe = Probe::start(addrs, "Probe");
    // Enough events to fill the writer's buffer and fail its flushes.
    let devs: Vec<Device> = (0..300)
        .map(|i| {
            Device::register(
                addrs.tcp,
                &format!("Fill{i:03}-{}", "x".repeat(48)),
                "t",
                true,
            )
        })
        .collect();
    let mut admin = Admin::connect(addrs.admin);
    let log = eventually(|| {
        let log = admin.cmd("stats")["stats"]["log"].clone();
        (log["errors"].as_u64().unwrap() > 0).then_some(log)
    })
    .expect("no log errors counted");
    let last = log["last_error"].as_str().unwrap_or_default().to_string();
    assert!(last.contains("No space left"), "{log}");
    drop(devs);
    assert!(probe.finish() >= 1);
    common::well_behaved_round(addrs, "After").unwrap();
    handle.shutdown().unwrap();
}

/// Case 15: `kill -9` mid-run loses at most the last flush interval: while
/// new devices keep registering, the test samples the hub's own counters;
/// everything the writer had taken (and every registration the hub had
/// counted) 300 ms (3 flush intervals) before the kill is in the file, the
/// devices of the last half second included.
#[test]
fn kill_9_loses_at_most_the_last_flush_interval() {
    let mut hub = HubProc::start(&[]);
    let mut devs: Vec<Device> = (0..20)
        .map(|i| Device::register(hub.tcp, &format!("K{i:03}"), "t", true))
        .collect();
    hub.wait_log("REGISTER device=K019");
    // The load goes on for ~1 s: a new device every 10 ms, and a sample of
    // (when, lines taken by the writer, registrations) after each one.
    let mut samples = Vec::new();
    for i in 20..120 {
        devs.push(Device::register(hub.tcp, &format!("K{i:03}"), "t", true));
        std::thread::sleep(Duration::from_millis(10));
        let st = hub.stats();
        samples.push((
            std::time::Instant::now(),
            st["log"]["written"].as_u64().unwrap(),
            st["registrations"].as_u64().unwrap(),
        ));
    }
    let killed_at = std::time::Instant::now();
    hub.signal(libc::SIGKILL);
    let log = hub.log_text();
    let lines = log.lines().count() as u64;
    let registers = log.matches(" REGISTER device=K").count() as u64;
    let (at, written, registered) = samples
        .iter()
        .rev()
        .find(|(t, ..)| killed_at - *t >= Duration::from_millis(300))
        .copied()
        .expect("a sample 300 ms before the kill");
    assert!(
        registered > 20,
        "the late sample must cover the load, not only the first 20"
    );
    assert!(
        lines >= written,
        "{lines} lines in the file, {written} taken {:?} before kill -9",
        killed_at - at
    );
    assert!(
        registers >= registered,
        "{registers} REGISTER lines, {registered} registrations counted {:?} before kill -9",
        killed_at - at
    );
    for i in 0..20 {
        assert!(log.contains(&format!(" REGISTER device=K{i:03} ")), "{log}");
    }
}

/// Case 15: SIGTERM under load loses nothing: every line the hub wrote is
/// in the file, whole, and the last is `SHUTDOWN`.
#[test]
fn sigterm_under_load_loses_no_line() {
    let mut hub = HubProc::start(&[]);
    let addrs = hub.addrs();
    let mut steady = WellBehaved::register(addrs, "Steady").unwrap();
    let _devs: Vec<Device> = (0..100)
        .map(|i| Device::register(addrs.tcp, &format!("T{i:03}"), "t", true))
        .collect();
    for _ in 0..20 {
        steady.exercise().unwrap();
    }
    // No pause: SIGTERM lands while the last lines are still buffered.
    let status = hub.signal(libc::SIGTERM);
    assert!(status.success(), "{status}");
    let log = hub.log_text();
    assert!(log.ends_with(" SHUTDOWN\n"), "{log}");
    assert!(
        log.lines().all(|l| l.len() > 20 && l.contains('Z')),
        "{log}"
    );
    assert_eq!(log.matches(" REGISTER device=T").count(), 100);
    // 21 commands (the registration check sends one), each ACKed.
    assert_eq!(log.matches(" ACK device=Steady ").count(), 21);
    assert_eq!(
        log.matches(" DISCONNECT ").count(),
        101,
        "every connection's end is logged at shutdown"
    );
}
