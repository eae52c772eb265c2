//! One device's cycle: which SEQs of the open cycle have arrived (a `u64`
//! bitmap, bit `i` = SEQ `i + 1`), the cycle's number, and the three rules of
//! PROTOCOL.md that close it. No I/O and no clock: `now` is passed in, and a
//! closed cycle is handed back as its bitmap for the caller to report.

use std::time::{Duration, Instant};

/// Whether the device's current cycle is still taking packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Packets are arriving; `bits` holds the SEQs received so far.
    Open { bits: u64 },
    /// The cycle was reported. With `CYCLE`, packets for it are now late;
    /// without, the next packet starts a new cycle.
    Closed,
}

/// Where a cycle number came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numbering {
    /// The hub's own count: the device sends no `CYCLE`, so old and new
    /// cycles can only be told apart by SEQ.
    Local,
    /// The sender's `CYCLE:<k>`, so lower numbers are known to be late.
    Sender,
}

/// What one packet did to the cycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// For a cycle that is already closed (only knowable with `CYCLE`).
    Late,
    /// A SEQ the open cycle already holds, with the same `CYCLE`.
    Duplicate,
    /// The SEQ was recorded. `superseded` is the bitmap of the cycle this
    /// packet closed by starting a newer one (rule 2); `completed` is the
    /// bitmap of the cycle it closed by being `SEQ:<cycle_len>` (rule 1).
    /// Both may be set: the packet closed the old cycle and then its own.
    Recorded {
        superseded: Option<u64>,
        completed: Option<u64>,
    },
}

/// The cycle state of one device.
#[derive(Debug, Clone, Copy)]
pub struct CycleState {
    number: u64,
    numbering: Numbering,
    phase: Phase,
    /// When the open cycle last gained a SEQ. Duplicates do not count: a
    /// replayed packet must not keep a cycle open (and silent) forever.
    last_progress: Instant,
}

impl CycleState {
    /// A device with no open cycle; its first packet starts one.
    pub fn new(now: Instant) -> Self {
        CycleState {
            number: 0,
            numbering: Numbering::Local,
            phase: Phase::Closed,
            last_progress: now,
        }
    }

    /// The current (open or last closed) cycle's number: the sender's
    /// `CYCLE`, or the hub's own count for devices that send none.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// True while a cycle is open (its STATUS is still owed).
    pub fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open { .. })
    }

    /// Applies one packet. `seq` must already be checked to lie in
    /// `1..=cycle_len` and `cycle_len` in `1..=64`.
    pub fn accept(
        &mut self,
        now: Instant,
        seq: u32,
        cycle: Option<u64>,
        cycle_len: u32,
    ) -> Outcome {
        debug_assert!((1..=cycle_len).contains(&seq) && cycle_len <= 64);
        let bit = 1u64 << (seq - 1);
        let superseded = match (cycle, self.phase) {
            (Some(k), phase) if self.numbering == Numbering::Sender && k <= self.number => {
                match phase {
                    Phase::Open { bits } if k == self.number => {
                        if bits & bit != 0 {
                            return Outcome::Duplicate;
                        }
                        None
                    }
                    _ => return Outcome::Late,
                }
            }
            // A higher CYCLE, or the first CYCLE after local numbering.
            (Some(k), _) => self.start(k, Numbering::Sender),
            // Without CYCLE a SEQ the open cycle already holds can only mean
            // the sender has moved on.
            (None, Phase::Open { bits }) if bits & bit != 0 => {
                self.start(self.number.wrapping_add(1), Numbering::Local)
            }
            (None, Phase::Open { .. }) => None,
            (None, Phase::Closed) => self.start(self.number.wrapping_add(1), Numbering::Local),
        };
        let Phase::Open { bits } = &mut self.phase else {
            unreachable!("every branch above leaves an open cycle or returns");
        };
        *bits |= bit;
        let bits = *bits;
        self.last_progress = now;
        let completed = (seq == cycle_len).then(|| {
            self.phase = Phase::Closed;
            bits
        });
        Outcome::Recorded {
            superseded,
            completed,
        }
    }

    /// When rule 3 would close the open cycle (`None` when closed).
    pub fn deadline(&self, timeout: Duration) -> Option<Instant> {
        self.is_open().then(|| self.last_progress + timeout)
    }

    /// Rule 3: closes the open cycle if it has gained no SEQ for `timeout`,
    /// returning its bitmap.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Option<u64> {
        match self.phase {
            Phase::Open { bits }
                if now.saturating_duration_since(self.last_progress) >= timeout =>
            {
                self.phase = Phase::Closed;
                Some(bits)
            }
            _ => None,
        }
    }

    /// Opens cycle `number`, returning the bitmap of the cycle it replaces
    /// if that one was still open.
    fn start(&mut self, number: u64, numbering: Numbering) -> Option<u64> {
        let old = match self.phase {
            Phase::Open { bits } => Some(bits),
            Phase::Closed => None,
        };
        self.number = number;
        self.numbering = numbering;
        self.phase = Phase::Open { bits: 0 };
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(superseded: Option<u64>, completed: Option<u64>) -> Outcome {
        Outcome::Recorded {
            superseded,
            completed,
        }
    }

    const NONE: Outcome = Outcome::Recorded {
        superseded: None,
        completed: None,
    };

    fn t(ms: u64) -> Instant {
        // A fixed base keeps the arithmetic readable; only differences matter.
        thread_local!(static BASE: Instant = Instant::now());
        BASE.with(|b| *b + Duration::from_millis(ms))
    }

    #[test]
    fn original_flow_two_full_cycles_back_to_back() {
        let mut c = CycleState::new(t(0));
        for round in 0..2 {
            for seq in 1..=9 {
                assert_eq!(c.accept(t(seq), seq as u32, None, 10), NONE);
            }
            assert_eq!(c.accept(t(10), 10, None, 10), rec(None, Some(0x3ff)));
            assert!(!c.is_open());
            assert_eq!(c.number(), round + 1);
        }
    }

    #[test]
    fn cycle_len_one_closes_on_every_packet() {
        let mut c = CycleState::new(t(0));
        for _ in 0..3 {
            assert_eq!(c.accept(t(0), 1, None, 1), rec(None, Some(1)));
        }
        assert_eq!(c.accept(t(0), 1, Some(7), 1), rec(None, Some(1)));
        assert_eq!(c.accept(t(0), 1, Some(7), 1), Outcome::Late);
    }

    #[test]
    fn cycle_len_64_uses_every_bit() {
        let mut c = CycleState::new(t(0));
        for seq in 1..64 {
            assert_eq!(c.accept(t(0), seq, Some(1), 64), NONE);
        }
        assert_eq!(c.accept(t(0), 64, Some(1), 64), rec(None, Some(u64::MAX)));
    }

    #[test]
    fn reordered_packets_in_one_cycle_all_count() {
        let mut c = CycleState::new(t(0));
        for seq in [3, 1, 2, 5] {
            assert_eq!(c.accept(t(0), seq, Some(4), 6), NONE);
        }
        assert_eq!(c.accept(t(0), 6, Some(4), 6), rec(None, Some(0b110111)));
        // The straggler SEQ 4 arrives after the cycle closed: late, not new.
        assert_eq!(c.accept(t(0), 4, Some(4), 6), Outcome::Late);
    }

    #[test]
    fn higher_cycle_closes_the_open_one_and_may_close_itself() {
        let mut c = CycleState::new(t(0));
        c.accept(t(0), 1, Some(1), 10);
        c.accept(t(0), 2, Some(1), 10);
        assert_eq!(c.accept(t(0), 3, Some(5), 10), rec(Some(0b11), None));
        assert_eq!(c.number(), 5);
        // SEQ:10 of a still newer cycle: two closes from one packet.
        assert_eq!(
            c.accept(t(0), 10, Some(6), 10),
            rec(Some(0b100), Some(1 << 9))
        );
    }

    #[test]
    fn lower_or_closed_cycles_are_late() {
        let mut c = CycleState::new(t(0));
        c.accept(t(0), 1, Some(5), 2);
        assert_eq!(c.accept(t(0), 1, Some(4), 2), Outcome::Late);
        assert_eq!(c.accept(t(0), 2, Some(5), 2), rec(None, Some(0b11)));
        assert_eq!(c.accept(t(0), 1, Some(5), 2), Outcome::Late);
        assert_eq!(c.accept(t(0), 1, Some(0), 2), Outcome::Late);
        assert_eq!(c.accept(t(0), 1, Some(6), 2), NONE);
    }

    #[test]
    fn duplicates_with_cycle_are_not_counted_twice() {
        let mut c = CycleState::new(t(0));
        c.accept(t(0), 2, Some(1), 3);
        assert_eq!(c.accept(t(0), 2, Some(1), 3), Outcome::Duplicate);
        assert_eq!(c.accept(t(0), 3, Some(1), 3), rec(None, Some(0b110)));
    }

    #[test]
    fn duplicate_without_cycle_starts_the_next_cycle() {
        let mut c = CycleState::new(t(0));
        c.accept(t(0), 1, None, 10);
        c.accept(t(0), 2, None, 10);
        assert_eq!(c.accept(t(0), 2, None, 10), rec(Some(0b11), None));
        assert_eq!(c.number(), 2);
        assert_eq!(
            c.accept(t(0), 10, None, 10),
            rec(None, Some(0b10_0000_0010))
        );
    }

    #[test]
    fn lost_last_packet_closes_by_timeout_only_once_idle_long_enough() {
        let timeout = Duration::from_millis(3000);
        let mut c = CycleState::new(t(0));
        for seq in 1..=9 {
            c.accept(t(100), seq, None, 10);
        }
        assert_eq!(c.expire(t(100), timeout), None);
        assert_eq!(c.expire(t(3099), timeout), None);
        assert_eq!(c.expire(t(3100), timeout), Some(0x1ff));
        assert_eq!(c.expire(t(9000), timeout), None, "reported once");
        // Without CYCLE the next packet starts a fresh cycle.
        assert_eq!(c.accept(t(9000), 1, None, 10), NONE);
    }

    #[test]
    fn duplicates_do_not_hold_a_cycle_open() {
        let timeout = Duration::from_millis(3000);
        let mut c = CycleState::new(t(0));
        c.accept(t(0), 1, Some(1), 10);
        assert_eq!(c.accept(t(2000), 1, Some(1), 10), Outcome::Duplicate);
        assert_eq!(c.expire(t(3000), timeout), Some(1));
    }

    #[test]
    fn switching_between_cycle_and_no_cycle() {
        let mut c = CycleState::new(t(0));
        c.accept(t(0), 1, None, 10);
        // The first CYCLE seen supersedes the locally numbered cycle.
        assert_eq!(c.accept(t(0), 1, Some(0), 10), rec(Some(1), None));
        // A packet without CYCLE joins the open cycle if its SEQ is new.
        assert_eq!(c.accept(t(0), 2, None, 10), NONE);
        assert_eq!(c.accept(t(0), 2, None, 10), rec(Some(0b11), None));
    }

    #[test]
    fn the_highest_cycle_number_does_not_wrap_into_the_past() {
        let mut c = CycleState::new(t(0));
        assert_eq!(c.accept(t(0), 2, Some(u64::MAX), 2), rec(None, Some(0b10)));
        assert_eq!(c.accept(t(0), 1, Some(u64::MAX), 2), Outcome::Late);
        assert_eq!(c.accept(t(0), 1, Some(0), 2), Outcome::Late);
    }
}
