//! The admin replies of a real hub read back through the typed schema of
//! `hub::ops::wire`, strictly: a key the types do not know, or a key they
//! need and the hub did not send, fails here. The typed form written back
//! out equals what the hub sent, so the types cover every key.

mod common;

use common::{eventually, Admin, Device, HubProc, Sensor};
use hub::ops::wire::{
    ErrorReply, GetReply, HelpReply, HistoryHeader, ListLine, ListSummary, SentReply, StatsReply,
    WaveDone,
};
use serde_json::Value;

fn read_as<T: serde::de::DeserializeOwned>(a: &mut Admin) -> (T, Value) {
    let v = a.read();
    let t = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"));
    (t, v)
}

#[test]
fn every_admin_reply_of_a_real_hub_reads_back_typed() {
    let hub = HubProc::start(&[]);
    let mut dev = Device::register(hub.tcp, "Wire01", "temperature", true);
    let sensor = Sensor::new(hub.udp);
    eventually(|| (hub.stats()["registered"] == 1).then_some(())).expect("registered");
    for seq in 1..=10 {
        sensor.reading("Wire01", seq, None);
    }
    assert_eq!(sensor.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    let mut a = Admin::connect(hub.admin);

    a.send("send Wire01 SET_INTERVAL 3");
    let (sent, _): (SentReply, _) = read_as(&mut a);
    assert_eq!((sent.ok, sent.reached, sent.refused), (true, 1, 0));
    dev.ack_one();
    let (done, _): (WaveDone, _) = read_as(&mut a);
    assert_eq!((done.wave, done.done, done.acked), (sent.wave, true, 1));

    a.send("list");
    let (line, _): (ListLine, _) = read_as(&mut a);
    assert_eq!(
        (line.device.as_str(), line.kind.as_str()),
        ("Wire01", "temperature")
    );
    assert!(line.value.is_some(), "{line:?}");
    let (sum, _): (ListSummary, _) = read_as(&mut a);
    assert_eq!(sum.listed, 1);

    a.send("get Wire01");
    let (get, raw): (GetReply, _) = read_as(&mut a);
    assert!(get.ok && get.view.registration.is_some() && get.view.latest.is_some());
    assert_eq!(serde_json::to_value(&get).unwrap(), raw);

    // The recorder commits within a second; `history` answers from it.
    let rows = eventually(|| {
        a.send("history Wire01 limit=3");
        let (h, _): (HistoryHeader, _) = read_as(&mut a);
        for _ in 0..h.rows {
            a.read();
        }
        (h.rows == 3).then_some(h.rows)
    });
    assert_eq!(rows, Some(3));

    a.send("help");
    let (help, _): (HelpReply, _) = read_as(&mut a);
    assert!(help.help.contains("history"));
    a.send("frobnicate");
    let (err, _): (ErrorReply, _) = read_as(&mut a);
    assert!(!err.ok && err.error.contains("unknown command"), "{err:?}");

    a.send("stats");
    let (stats, raw): (StatsReply, _) = read_as(&mut a);
    let s = &stats.stats;
    assert_eq!((s.registered, s.connections), (1, 1));
    assert_eq!(s.udp.accepted, 10);
    assert_eq!(s.control.acks, 1);
    assert!(s.recorder.is_some() && s.http.is_some());
    assert!(s.event_loop.signals_ignored.is_some());
    // Nothing the hub sent is lost in the typed form.
    assert_eq!(serde_json::to_value(&stats).unwrap(), raw);
    hub.stop();
}
