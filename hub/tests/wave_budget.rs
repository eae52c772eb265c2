//! A wave to thousands of devices is written over several turns of the
//! loop (`SEND_BUDGET`, 1024 lines to devices a turn), so UDP and
//! every connection are served between; every device still gets its
//! command once, in order, and the wave's tally is whole. The budget is
//! the turn's, not each event's.

mod common;

use common::{eventually, Admin, Device, HubProc, Sensor};
use hub::ops::client::typed;
use hub::ops::wire::{SentReply, WaveDone};

#[test]
fn a_wave_past_the_send_budget_reaches_everyone_over_several_turns() {
    let hub = HubProc::start(&[]);
    let n = 2500u64;
    let mut devices: Vec<Device> = (0..n)
        .map(|i| Device::register(hub.tcp, &format!("W{i:05}"), "t", true))
        .collect();
    eventually(|| (hub.typed_stats().registered == n).then_some(())).expect("all registered");
    let mut a = Admin::connect(hub.admin);
    let sent: SentReply = typed(&a.cmd("send * SET_INTERVAL 7")).unwrap();
    assert_eq!(sent.reached, n);
    // A device streaming meanwhile is answered while the wave goes out.
    let sensor = Sensor::new(hub.udp);
    for seq in 1..=10 {
        sensor.reading("Streamer", seq, None);
    }
    for d in &mut devices {
        assert_eq!(d.recv_text(), "SET_INTERVAL 7\n");
        d.send("ACK Command Executed");
    }
    assert_eq!(sensor.recv_status(), "STATUS RECEIVED 10/10 PACKETS");
    let done: WaveDone = typed(&a.read()).unwrap();
    assert_eq!((done.wave, done.acked, done.failed), (sent.wave, n, 0));
    let st = hub.typed_stats();
    // 2500 lines at 1024 a turn: at least two turns left work for the next.
    assert!(
        st.event_loop.shell.send_budget_spent >= 2,
        "{:?}",
        st.event_loop
    );
    // The budget is the turn's: ACKs arriving while the wave goes out (each
    // its own event in the turn) never buy more lines in the same turn.
    let most = st.event_loop.shell.max_sends_per_turn;
    assert!(
        (1..=1024).contains(&most),
        "one turn wrote {most} lines: {:?}",
        st.event_loop
    );
    assert_eq!(st.control.commands_sent, n);
    hub.stop();
}
