//! A wave: one operator `send` to one or many devices, tallied until every
//! targeted device has ACKed, timed out or gone away.
//!
//! `Wave` is the tally in progress, with the [`Origin`] the plane carries
//! for the shell; the finished [`WaveReport`] and the ids are plain data in
//! `types.rs` (re-exported here).

use std::time::{Duration, Instant};

pub use super::types::{Origin, WaveId, WaveReport};

/// A wave in progress.
#[derive(Debug)]
pub(crate) struct Wave {
    pub report: WaveReport,
    pub started: Instant,
    /// Who asked for it; handed back in [`Action::WaveDone`](super::Action::WaveDone).
    pub origin: Option<Origin>,
}

impl Wave {
    pub fn new(id: WaveId, started: Instant, origin: Option<Origin>) -> Self {
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
            origin,
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
