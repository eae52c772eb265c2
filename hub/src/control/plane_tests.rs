//! Tests of the control rules, grouped by state; time is passed in.

use super::*;
use crate::control::wave::WaveReport;

const A: ConnId = ConnId(1);
const B: ConnId = ConnId(2);

fn peer(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

struct Fixture {
    cp: ControlPlane,
    t0: Instant,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            cp: ControlPlane::new(ControlConfig::default()),
            t0: Instant::now(),
        }
    }
    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }
    fn actions(&mut self) -> Vec<Action> {
        let mut v = Vec::new();
        self.cp.take_actions(&mut v);
        v
    }
    fn connect(&mut self, conn: ConnId, ms: u64) {
        let now = self.at(ms);
        self.cp.on_connect(now, conn, peer(40000 + conn.0 as u16));
    }
    fn msg(&mut self, conn: ConnId, ms: u64, line: &str, framing: Framing) -> Vec<Action> {
        let now = self.at(ms);
        self.cp.on_message(now, conn, line.as_bytes(), framing);
        self.actions()
    }
    fn register(&mut self, conn: ConnId, name: &str, framing: Framing) {
        self.connect(conn, 0);
        self.msg(conn, 0, &format!("DEVICE {name} TYPE temperature"), framing);
    }
}

fn sends(actions: &[Action], conn: ConnId) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { conn: c, bytes } if *c == conn => {
                Some(String::from_utf8_lossy(bytes).into_owned())
            }
            _ => None,
        })
        .collect()
}

fn closes(actions: &[Action]) -> Vec<ConnId> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Close { conn } => Some(*conn),
            _ => None,
        })
        .collect()
}

fn waves_done(actions: &[Action]) -> Vec<WaveReport> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::WaveDone { report: r, .. } => Some(*r),
            _ => None,
        })
        .collect()
}

fn logged(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(e) => Some(e.to_string()),
            _ => None,
        })
        .collect()
}

mod registration {
    use super::*;

    #[test]
    fn both_framings_register_and_commands_follow_the_framing() {
        let mut f = Fixture::new();
        f.register(A, "Bare01", Framing::Bare);
        f.register(B, "Line01", Framing::Newline);
        assert_eq!(f.cp.registered(), 2);
        let now = f.at(1);
        f.cp.submit(now, &Target::All, Command::SetInterval(3));
        let acts = f.actions();
        assert_eq!(sends(&acts, A), vec!["SET_INTERVAL 3"]);
        assert_eq!(sends(&acts, B), vec!["SET_INTERVAL 3\n"]);
    }

    #[test]
    fn first_message_must_be_a_registration() {
        let mut f = Fixture::new();
        f.connect(A, 0);
        let acts = f.msg(A, 1, "GET / HTTP/1.1", Framing::Newline);
        assert_eq!(sends(&acts, A), vec!["ERROR unknown message\n"]);
        assert_eq!(closes(&acts), vec![A]);
        f.connect(B, 0);
        let acts = f.msg(B, 1, "ACK Command Executed", Framing::Bare);
        assert!(sends(&acts, B)[0].starts_with("ERROR first message must be DEVICE"));
        assert_eq!(f.cp.stats().protocol_errors, 2);
        assert_eq!(f.cp.connections(), 0);
    }

    #[test]
    fn a_second_device_message_is_a_violation() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        let acts = f.msg(A, 5, "DEVICE S1 TYPE temperature", Framing::Newline);
        assert_eq!(sends(&acts, A), vec!["ERROR already registered\n"]);
        assert_eq!(closes(&acts), vec![A]);
        assert!(!f.cp.is_registered("S1"));
    }

    #[test]
    fn the_deadline_closes_a_connection_that_never_registers() {
        // Partial lines never reach the plane (the shell's framer holds
        // them), so only the clock decides; the slow-drip case is tested
        // on a real hub in `tests/hostile_tcp.rs`.
        let mut f = Fixture::new();
        f.connect(A, 0);
        f.cp.on_tick(f.at(9_999));
        assert!(closes(&f.actions()).is_empty());
        f.cp.on_tick(f.at(10_000));
        let acts = f.actions();
        assert_eq!(
            sends(&acts, A),
            vec!["ERROR registration deadline passed\n"]
        );
        assert_eq!(closes(&acts), vec![A]);
        assert_eq!(f.cp.stats().registration_timeouts, 1);
    }

    #[test]
    fn a_registered_device_has_no_deadline() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        f.cp.on_tick(f.at(60_000));
        assert!(closes(&f.actions()).is_empty());
    }
}

mod takeover {
    use super::*;

    #[test]
    fn a_duplicate_name_takes_over_and_the_old_acks_never_count() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        let (w1, _) = f.cp.submit(
            f.at(1),
            &Target::Device("S1".into()),
            Command::ActivateAlarm,
        );
        f.actions();
        f.connect(B, 2);
        let acts = f.msg(B, 3, "DEVICE S1 TYPE temperature", Framing::Newline);
        assert_eq!(closes(&acts), vec![A]);
        let done = waves_done(&acts);
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].id, done[0].failed, done[0].acked), (w1, 1, 0));
        assert!(logged(&acts)
            .iter()
            .any(|l| l.starts_with("TAKEOVER device=S1")));
        assert_eq!(f.cp.stats().takeovers, 1);
        // The new connection gets a command; the old one's late ACK is ignored.
        f.cp.submit(
            f.at(4),
            &Target::Device("S1".into()),
            Command::SetInterval(5),
        );
        f.actions();
        let acts = f.msg(A, 5, "ACK Command Executed", Framing::Newline);
        assert!(acts.is_empty(), "{acts:?}");
        assert_eq!(f.cp.stats().acks, 0);
        let acts = f.msg(B, 6, "ACK Command Executed", Framing::Newline);
        assert_eq!(f.cp.stats().acks, 1);
        assert_eq!(waves_done(&acts)[0].acked, 1);
    }
}

mod commands {
    use super::*;

    #[test]
    fn one_outstanding_at_a_time_in_order() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        let t = Target::Device("S1".into());
        f.cp.submit(f.at(1), &t, Command::SetInterval(3));
        f.cp.submit(f.at(1), &t, Command::ActivateAlarm);
        assert_eq!(sends(&f.actions(), A), vec!["SET_INTERVAL 3\n"]);
        let acts = f.msg(A, 11, "ACK Command Executed", Framing::Newline);
        assert_eq!(sends(&acts, A), vec!["ACTIVATE_ALARM\n"]);
        let log = logged(&acts);
        assert!(
            log[0].starts_with("ACK device=S1 command=\"SET_INTERVAL 3\" rtt_ms=10.000"),
            "{log:?}"
        );
        assert_eq!(f.cp.ack_rtt().len(), 1);
        let h = f.cp.ack_rtt();
        assert!(h.equivalent(h.max(), 10_000), "max {}", h.max());
    }

    #[test]
    fn a_timed_out_ack_arriving_late_is_never_credited_to_the_next_command() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        let t = Target::Device("S1".into());
        let (w1, _) = f.cp.submit(f.at(0), &t, Command::SetInterval(3));
        let (w2, _) = f.cp.submit(f.at(0), &t, Command::ActivateAlarm);
        f.actions();
        f.cp.on_tick(f.at(10_000));
        let acts = f.actions();
        assert_eq!(sends(&acts, A), vec!["ACTIVATE_ALARM\n"]);
        assert_eq!(
            waves_done(&acts)[0],
            WaveReport {
                id: w1,
                reached: 1,
                acked: 0,
                timed_out: 1,
                failed: 0,
                elapsed: Duration::from_secs(10)
            }
        );
        // The first ACK answers SET_INTERVAL (late), the second ACTIVATE_ALARM.
        let acts = f.msg(A, 10_500, "ACK Command Executed", Framing::Newline);
        assert!(logged(&acts)[0].starts_with("LATE_ACK device=S1 command=\"SET_INTERVAL 3\""));
        assert!(waves_done(&acts).is_empty());
        let acts = f.msg(A, 10_600, "ACK Command Executed", Framing::Newline);
        assert_eq!(waves_done(&acts)[0].id, w2);
        assert_eq!(waves_done(&acts)[0].acked, 1);
        let s = f.cp.stats();
        assert_eq!((s.acks, s.late_acks, s.ack_timeouts), (1, 1, 1));
        // A stray extra ACK is counted, not matched.
        f.msg(A, 10_700, "ACK", Framing::Newline);
        assert_eq!(f.cp.stats().unexpected_acks, 1);
    }

    #[test]
    fn a_device_owing_too_many_late_acks_is_dropped() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        let t = Target::Device("S1".into());
        for _ in 0..=limits::MAX_LATE_ACKS_OWED {
            f.cp.submit(f.at(0), &t, Command::ActivateAlarm);
        }
        f.actions();
        let mut closed = Vec::new();
        for i in 1..=limits::MAX_LATE_ACKS_OWED as u64 + 1 {
            f.cp.on_tick(f.at(i * 10_000));
            closed.extend(closes(&f.actions()));
        }
        assert_eq!(closed, vec![A]);
    }

    #[test]
    fn a_full_queue_refuses_the_command_and_keeps_the_device() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        let t = Target::Device("S1".into());
        for _ in 0..=limits::COMMAND_QUEUE {
            let (_, _, refused) = f.cp.submit_counted(f.at(0), &t, Command::ActivateAlarm);
            assert_eq!(refused, 0);
        }
        f.actions();
        let (_, reached, refused) = f.cp.submit_counted(f.at(0), &t, Command::ActivateAlarm);
        assert_eq!((reached, refused), (1, 1));
        let acts = f.actions();
        assert!(closes(&acts).is_empty(), "the device stays: {acts:?}");
        assert_eq!(
            waves_done(&acts).len(),
            1,
            "the refused wave is done at once"
        );
        assert!(f.cp.is_registered("S1"));
        assert_eq!(f.cp.stats().queue_overflows, 1);
        assert_eq!(f.cp.stats().commands_failed, 1);
        // The device drains its queue as it ACKs.
        let acts = f.msg(A, 1, "ACK", Framing::Newline);
        assert_eq!(sends(&acts, A), vec!["ACTIVATE_ALARM\n".to_string()]);
    }

    #[test]
    fn unsolicited_acks_fold_into_one_line_and_past_the_limit_disconnect() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        f.actions();
        let max = limits::MAX_UNSOLICITED_ACKS;
        let mut lines = Vec::new();
        for i in 0..max {
            lines.extend(logged(&f.msg(A, u64::from(i), "ACK", Framing::Newline)));
        }
        assert_eq!(lines, vec!["UNEXPECTED_ACK device=S1 count=1".to_string()]);
        // The rest are folded and written once the window passes.
        let now = f.at(1000 + u64::from(max));
        f.cp.on_tick(now);
        let folded = logged(&f.actions());
        assert_eq!(
            folded,
            vec![format!("UNEXPECTED_ACK device=S1 count={}", max - 1)]
        );
        // One more is past the limit: ERROR and disconnect, counted.
        let acts = f.msg(A, 2000, "ACK", Framing::Newline);
        assert_eq!(closes(&acts), vec![A]);
        assert!(
            sends(&acts, A)[0].starts_with("ERROR more than 16 ACKs"),
            "{acts:?}"
        );
        assert_eq!(f.cp.stats().unsolicited_ack_disconnects, 1);
        assert_eq!(f.cp.stats().unexpected_acks, u64::from(max) + 1);
    }

    #[test]
    fn a_command_resets_the_unsolicited_count_and_flushes_the_fold() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        for round in 0..3u64 {
            for i in 0..limits::MAX_UNSOLICITED_ACKS as u64 {
                f.msg(A, round * 100 + i, "ACK", Framing::Newline);
            }
            f.cp.submit(
                f.at(round * 100 + 50),
                &Target::Device("S1".into()),
                Command::ActivateAlarm,
            );
            let lines = logged(&f.actions());
            assert_eq!(lines[0], "UNEXPECTED_ACK device=S1 count=15", "{lines:?}");
            f.msg(A, round * 100 + 60, "ACK", Framing::Newline);
        }
        assert!(f.cp.is_registered("S1"));
    }

    #[test]
    fn waves_target_all_or_a_type_and_finish_when_all_answer() {
        let mut f = Fixture::new();
        f.register(A, "T1", Framing::Newline);
        f.connect(B, 0);
        f.msg(B, 0, "DEVICE H1 TYPE humidity", Framing::Newline);
        let (_, reached) = f.cp.submit(
            f.at(0),
            &Target::Type("humidity".into()),
            Command::ActivateAlarm,
        );
        assert_eq!(reached, 1);
        f.msg(B, 1, "ACK Command Executed", Framing::Newline);
        let (id, reached) = f.cp.submit(f.at(2), &Target::All, Command::SetInterval(9));
        assert_eq!(reached, 2);
        f.actions();
        assert!(waves_done(&f.msg(A, 3, "ACK Command Executed", Framing::Newline)).is_empty());
        let now = f.at(4);
        f.cp.on_closed(now, B, CloseReason::PeerClosed);
        let done = waves_done(&f.actions());
        assert_eq!(
            done[0],
            WaveReport {
                id,
                reached: 2,
                acked: 1,
                timed_out: 0,
                failed: 1,
                elapsed: Duration::from_millis(2)
            }
        );
    }

    #[test]
    fn a_wave_that_reaches_nobody_is_done_at_once() {
        let mut f = Fixture::new();
        let (id, reached) = f.cp.submit(
            f.at(0),
            &Target::Device("nobody".into()),
            Command::ActivateAlarm,
        );
        assert_eq!(reached, 0);
        assert_eq!(waves_done(&f.actions())[0].id, id);
    }

    #[test]
    fn quit_closes_and_fails_pending() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Bare);
        f.cp.submit(
            f.at(0),
            &Target::Device("S1".into()),
            Command::ActivateAlarm,
        );
        f.actions();
        assert!(f.cp.quit(f.at(1), "S1"));
        let acts = f.actions();
        assert_eq!(closes(&acts), vec![A]);
        assert_eq!(waves_done(&acts)[0].failed, 1);
        assert!(logged(&acts)
            .iter()
            .any(|l| l.contains("reason=\"operator quit\"")));
        assert!(!f.cp.quit(f.at(1), "S1"));
    }
}

/// A wave carries who asked for it (the hub's one map of waves in
/// progress and their origins) and hands it back when it is done.
mod wave_origin {
    use super::*;
    use crate::control::Origin;

    fn origins_done(actions: &[Action]) -> Vec<(WaveId, Option<Origin>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::WaveDone { report, origin } => Some((report.id, *origin)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_origin_comes_back_with_the_tally_and_is_waited_on_until_then() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        f.actions();
        let admin = Origin::Admin(ConnId(7));
        let (w, reached, refused) = f.cp.submit_from(
            f.at(1),
            &Target::Device("S1".into()),
            Command::ActivateAlarm,
            Some(admin),
        );
        assert_eq!((reached, refused), (1, 0));
        assert!(f.cp.waits_for(admin));
        assert!(!f.cp.waits_for(Origin::Console));
        assert!(origins_done(&f.actions()).is_empty());
        let acts = f.msg(A, 5, "ACK Command Executed", Framing::Newline);
        assert_eq!(origins_done(&acts), vec![(w, Some(admin))]);
        assert!(!f.cp.waits_for(admin), "a finished wave is forgotten");
    }

    #[test]
    fn a_wave_done_at_once_keeps_its_origin_unless_disowned() {
        let mut f = Fixture::new();
        // No device: the wave is done at once, its WaveDone still queued.
        let (w1, reached, _) = f.cp.submit_from(
            f.at(0),
            &Target::All,
            Command::ActivateAlarm,
            Some(Origin::Console),
        );
        assert_eq!(reached, 0);
        let (w2, _, _) = f.cp.submit_from(
            f.at(0),
            &Target::Device("Nobody".into()),
            Command::ActivateAlarm,
            Some(Origin::Console),
        );
        f.cp.disown(w2);
        assert_eq!(
            origins_done(&f.actions()),
            vec![(w1, Some(Origin::Console)), (w2, None)]
        );
    }

    #[test]
    fn disowning_a_wave_in_progress_leaves_its_tally_to_nobody() {
        let mut f = Fixture::new();
        f.register(A, "S1", Framing::Newline);
        let admin = Origin::Admin(ConnId(9));
        let (w, _, _) =
            f.cp.submit_from(f.at(0), &Target::All, Command::SetInterval(2), Some(admin));
        f.cp.disown(w);
        assert!(!f.cp.waits_for(admin));
        let acts = f.msg(A, 5, "ACK Command Executed", Framing::Newline);
        assert_eq!(origins_done(&acts), vec![(w, None)]);
    }
}
