//! Counters of everything a worker's devices did. Each worker owns one
//! [`Counters`] (plain integers, no atomics on the hot path) and sends a
//! cumulative copy to the main thread once a second; the main thread sums
//! the latest copy of each worker. [`Counters::unexplained_loss`] and
//! [`Counters::identity_holds`] state the accounting identities the report
//! and the tests rely on.

use serde::{Deserialize, Serialize};

macro_rules! counters {
    ($($(#[$m:meta])* $f:ident),* $(,)?) => {
        /// Cumulative per-worker counts (UDP counts cover measured cycles only,
        /// i.e. cycles started after the warm-up). Reading a report, a
        /// counter an older build did not have reads as 0.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Counters { $($(#[$m])* pub $f: u64,)* }

        impl Counters {
            /// Adds `o` field by field.
            pub fn add(&mut self, o: &Counters) { $(self.$f += o.$f;)* }

            /// `self − earlier` field by field (0 where a gauge fell): the
            /// counts between two cumulative snapshots.
            pub fn minus(&self, earlier: &Counters) -> Counters {
                Counters { $($f: self.$f.saturating_sub(earlier.$f),)* }
            }
        }
    };
}

counters! {
    // ---- control channel ----
    /// `connect()` calls issued (first connects and reconnects).
    connects_started,
    /// Connects that failed or were refused.
    connect_failures,
    /// Registrations written (first ones and re-registrations).
    registrations,
    /// Devices that registered at least once.
    ever_registered,
    /// Registrations after the hub closed an earlier connection.
    reconnects,
    /// Connections the hub closed (EOF or error) while the run was live,
    /// after the registration grace (the sum of the four causes below).
    disconnects,
    /// … by a clean close (EOF).
    disconnects_eof,
    /// … by a reset or another socket error.
    disconnects_reset,
    /// … after an `ERROR …` line from the hub.
    disconnects_error_line,
    /// … by loadgen, because the hub broke the protocol (see `hub_violations`).
    disconnects_violation,
    /// Registrations the hub refused: an `ERROR …` reply or a close within
    /// the registration grace. A refused device does not count as registered.
    registrations_refused,
    /// Hub protocol violations that got a device disconnected: a line over
    /// the line cap, more inbound bytes per read burst than the inbound cap,
    /// more unanswered commands than the queue cap.
    hub_violations,
    /// Gauge: devices registered right now.
    up,
    /// Highest `up` this worker saw (the report's peak sums these, an upper
    /// bound of the fleet's peak).
    up_peak,
    /// `ERROR …` lines received from the hub.
    errors_received,
    /// Command lines received.
    commands_received,
    /// `SET_INTERVAL n` received and applied.
    set_interval_applied,
    /// `ACTIVATE_ALARM` received.
    alarms_activated,
    /// ACK lines written.
    acks_sent,
    // ---- data channel, measured cycles ----
    /// Datagrams generated (sent + injected drops + send errors).
    generated,
    /// Datagrams handed to the kernel.
    sent,
    /// Datagrams dropped on purpose (`--loss`).
    injected_drops,
    /// Datagrams the kernel refused to send (EAGAIN, ENOBUFS…).
    send_errors,
    /// Cycles started.
    cycles_started,
    /// STATUS replies matched to a cycle (closed cycles).
    statuses,
    /// Cycles whose STATUS did not come within the STATUS timeout.
    status_timeouts,
    /// Cycles whose every datagram was dropped before sending: the hub never
    /// saw them, so no STATUS is expected and none is waited for.
    unseen_cycles,
    /// Cycles still waiting for STATUS when the drain deadline passed.
    open_at_end,
    /// Sum of `received` over closed cycles.
    reported_received,
    /// Sum of `total - received` over closed cycles.
    reported_missing,
    /// Injected drops that belong to closed cycles.
    injected_in_closed,
    /// Send errors that belong to closed cycles.
    send_errors_in_closed,
    /// SEQs a STATUS listed missing that loadgen did send (exact only when
    /// the list is not truncated).
    missing_not_injected,
    /// SEQs loadgen dropped that a STATUS counted as received: a sign that a
    /// STATUS was matched to the wrong cycle.
    injected_not_missing,
    /// STATUS lists cut short with `...`.
    truncated_statuses,
    /// STATUS with no cycle waiting for it (late, after a timeout).
    stray_statuses,
    /// Datagrams from the hub that do not parse as STATUS (a subset of
    /// `status_invalid`).
    malformed_statuses,
    /// STATUS datagrams refused by validation (malformed, wrong total,
    /// counts that contradict the list): never matched to a cycle.
    status_invalid,
    /// Valid STATUS that claimed a SEQ arrived which loadgen never sent to
    /// the cycle it would match: not matched (it belongs to another cycle).
    status_unfit,
    /// STATUS matched while more than one cycle awaited one (open loop,
    /// no cycle number in STATUS): the match is FIFO, not certain.
    uncertain_matches,
    /// Cycles given up when a later cycle's STATUS arrived (their own
    /// STATUS was lost): like a timeout, their datagrams are `unknown`.
    status_skipped,
    // ---- datagram fates (measured cycles) ----
    /// Sent datagrams a valid STATUS of their cycle counted as received.
    fate_received,
    /// Sent datagrams a valid STATUS of their cycle listed missing: real loss.
    fate_missing,
    /// Sent datagrams whose cycle got no valid STATUS (timed out, skipped,
    /// open at the end): their fate is unknown, never counted as explained.
    fate_unknown,
    /// Datagrams of a cycle cut short by the stop (never generated; the hub
    /// reports them missing).
    cut_at_stop,
    /// Cut datagrams that belong to closed cycles.
    cut_in_closed,
    /// Datagrams sent more than `--max-send-lag-ms` after their intended
    /// time: the generator could not keep its schedule.
    late_sends,
    /// Gauge: cycles started and not yet closed, timed out or abandoned
    /// (all cycles, warm-up included).
    in_flight,
    // ---- faults beyond loss (measured cycles; see device/faults.rs) ----
    /// Sent datagrams corrupted by `--corrupt` so they no longer parse: the
    /// hub must drop them, so their SEQs are explained when reported
    /// missing. A fate, settled when the kernel takes the datagram.
    fate_corrupted,
    /// Corrupted datagrams that belong to closed cycles.
    corrupted_in_closed,
    /// Corrupted datagrams a STATUS counted as received: the hub accepted a
    /// datagram PROTOCOL.md calls malformed.
    corrupted_not_missing,
    /// Datagrams sent after a later SEQ of their cycle (`--reorder`).
    reordered,
    /// Reordered datagrams a valid STATUS counted received: a fate (they
    /// are not in `fate_received`).
    fate_reordered,
    /// Reordered datagrams a valid STATUS listed missing: the hub treated
    /// an out-of-order SEQ as lost (they are in `fate_missing`).
    reordered_missing,
    /// Duplicate copies (`--duplicate`) the kernel took: extra datagrams on
    /// the wire, never readings; their fate is `duplicated`. They are not
    /// in `generated` or `sent`.
    duplicated,
    /// Duplicate copies the kernel refused.
    duplicate_send_errors,
    /// STATUS that counted more packets than distinct SEQs arrived, for a
    /// cycle that had a duplicate on the wire: the hub counted a duplicate
    /// twice (valid or not, see `Data::on_status`).
    duplicates_overcounted,
    /// Datagrams generated but still held by `--delay` when the run ended
    /// (a drain shorter than the delay, or an abort): never sent.
    unsent_at_end,
    // ---- stages (`--stages`) ----
    /// Of `cut_at_stop`: datagrams of cycles a rate stage cut short because
    /// the next datagram was due too long after the last (the target fell
    /// low), so the hub's cycle timeout never splits a cycle.
    cut_by_stages,
    /// Devices that closed their connection because the devices target fell
    /// below them (after their cycle's STATUS; never a hub failure).
    stage_leaves,
    /// Registrations of devices coming back when the target rose again.
    stage_rejoins,
    /// Gauge: devices out of the fleet by the stage target right now.
    stage_out,
}

impl Counters {
    /// `reported_missing − injected drops − send errors − cut − corrupted`,
    /// over closed cycles: loss nobody on loadgen's side explains. Zero on
    /// a healthy run.
    pub fn unexplained_loss(&self) -> i64 {
        self.reported_missing as i64
            - self.injected_in_closed as i64
            - self.send_errors_in_closed as i64
            - self.cut_in_closed as i64
            - self.corrupted_in_closed as i64
    }

    /// The identities every run must satisfy, whatever the loss and the
    /// faults: generated = sent + injected + errors + unsent; each sent
    /// datagram is received, reordered, missing, unknown or corrupted;
    /// every cycle is closed, timed out, unseen or open; each closed cycle
    /// reports exactly `cycle_len` packets. (Duplicate copies are extra:
    /// `duplicated`, beside these.)
    pub fn identity_holds(&self, cycle_len: u32) -> Result<(), String> {
        let out = self.sent + self.injected_drops + self.send_errors + self.unsent_at_end;
        if self.generated != out {
            return Err(format!(
                "generated {} != sent {} + injected {} + send errors {} + unsent {}",
                self.generated,
                self.sent,
                self.injected_drops,
                self.send_errors,
                self.unsent_at_end
            ));
        }
        let fates = self.fate_received
            + self.fate_reordered
            + self.fate_missing
            + self.fate_unknown
            + self.fate_corrupted;
        if self.sent != fates {
            return Err(format!(
                "sent {} != received {} + reordered {} + missing {} + unknown {} + corrupted {}",
                self.sent,
                self.fate_received,
                self.fate_reordered,
                self.fate_missing,
                self.fate_unknown,
                self.fate_corrupted
            ));
        }
        let resolved = self.statuses
            + self.status_timeouts
            + self.status_skipped
            + self.unseen_cycles
            + self.open_at_end;
        if self.cycles_started != resolved {
            return Err(format!(
                "cycles {} != statuses {} + timeouts {} + skipped {} + unseen {} + open {}",
                self.cycles_started,
                self.statuses,
                self.status_timeouts,
                self.status_skipped,
                self.unseen_cycles,
                self.open_at_end
            ));
        }
        let expect = self.statuses * u64::from(cycle_len);
        if self.reported_received + self.reported_missing != expect {
            return Err(format!(
                "received {} + missing {} != statuses × cycle_len {expect}",
                self.reported_received, self.reported_missing
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_unexplained() {
        let mut a = Counters {
            reported_missing: 5,
            injected_in_closed: 4,
            ..Default::default()
        };
        let b = Counters {
            reported_missing: 1,
            injected_in_closed: 3,
            ..Default::default()
        };
        a.add(&b);
        assert_eq!(a.reported_missing, 6);
        assert_eq!(a.unexplained_loss(), -1);
    }

    #[test]
    fn identity_catches_a_lost_cycle() {
        let mut c = Counters {
            generated: 20,
            sent: 19,
            injected_drops: 1,
            cycles_started: 2,
            statuses: 2,
            reported_received: 19,
            reported_missing: 1,
            fate_received: 19,
            ..Default::default()
        };
        assert_eq!(c.identity_holds(10), Ok(()));
        c.cycles_started = 3;
        assert!(c.identity_holds(10).is_err());
    }
}
