//! Idle costs nothing (issue 10, item 7): with thousands of devices
//! tracked over TCP and UDP, an idle hub wakes about once a second (its
//! sleep cap), not on a fixed 50 ms tick that scans every device. The
//! count of wake-ups is the hub's own (`loop.wakeups`), so the test does
//! not depend on how loaded the machine is.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{assert_serves, eventually, Device, HubProc};

#[test]
fn an_idle_hub_wakes_about_once_a_second_whatever_it_tracks() {
    let hub = HubProc::start(&["--max-udp-devices", "50000", "--max-udp-strangers", "50000"]);
    assert_serves(&hub, "Before");
    let tcp: Vec<Device> = (0..300)
        .map(|i| Device::register(hub.tcp, &format!("Idle{i}"), "t", true))
        .collect();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let n = 5000u64;
    for d in 0..n {
        for seq in 1..=10 {
            let b = format!("U{d},ts,t,1,SEQ:{seq}");
            let _ = s.send_to(b.as_bytes(), hub.udp);
        }
        if d % 200 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let tracked = eventually(|| {
        let st = hub.stats();
        let ok = st["registered"].as_u64() >= Some(300)
            && st["udp"]["devices_tracked"].as_u64() >= Some(n * 9 / 10);
        ok.then_some(st)
    })
    .expect("devices tracked");
    // Past every cycle's timeout check (3 s): only the idle checks at 60 s
    // remain, and the 1 s cap.
    std::thread::sleep(Duration::from_millis(3500));
    let w0 = hub.stats()["loop"]["wakeups"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let st = hub.stats();
    let w1 = st["loop"]["wakeups"].as_u64().unwrap();
    eprintln!(
        "idle 3 s with {} UDP and {} TCP devices: {} wake-ups",
        st["udp"]["devices_tracked"],
        st["registered"],
        w1 - w0
    );
    // 3 for the cap, a few for the two stats sessions; a 50 ms tick is 60.
    assert!(w1 - w0 <= 12, "{} wake-ups in 3 s idle: {tracked}", w1 - w0);
    assert_serves(&hub, "After");
    drop(tcp);
    hub.stop();
}
