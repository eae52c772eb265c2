//! A wave: one operator `send` to one or many devices, tallied until every
//! targeted device has ACKed, timed out or gone away.

use std::time::{Duration, Instant};

/// Identifies a wave for the operator who started it.
pub type WaveId = u64;

/// The final tally of a wave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaveReport {
    pub id: WaveId,
    pub reached: u64,
    pub acked: u64,
    pub timed_out: u64,
    /// Targeted devices that disconnected (or were dropped) before ACKing.
    pub failed: u64,
    pub elapsed: Duration,
}

/// A wave in progress.
#[derive(Debug)]
pub(crate) struct Wave {
    pub report: WaveReport,
    pub started: Instant,
}

impl Wave {
    pub fn new(id: WaveId, started: Instant) -> Self {
        Wave {
            report: WaveReport {
                id,
                reached: 0,
                acked: 0,
                timed_out: 0,
                failed: 0,
                elapsed: Duration::ZERO,
            },
            started,
        }
    }

    /// True once every reached device has an outcome.
    pub fn is_done(&self) -> bool {
        let r = &self.report;
        r.acked + r.timed_out + r.failed >= r.reached
    }
}

/// What became of one targeted device's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Acked,
    TimedOut,
    Failed,
}
