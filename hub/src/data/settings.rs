//! The data plane's settings ([`DataConfig`], validated) and its counters
//! ([`DataStats`], the `udp` section of `stats`): plain data.

use std::fmt;
use std::time::Duration;

use crate::limits::{
    CYCLE_LEN, CYCLE_TIMEOUT, MAX_CYCLE_LEN, MAX_UDP_DEVICES, REPLY_BURST, REPLY_RATE_PER_SEC,
    UDP_IDLE_EVICT,
};

/// Settings of the data plane; [`Default`] takes them from [`crate::limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataConfig {
    /// Packets per cycle, `1..=MAX_CYCLE_LEN`; a higher SEQ is malformed.
    pub cycle_len: u32,
    /// An open cycle that gains no packet for this long closes (rule 3).
    pub cycle_timeout: Duration,
    /// Devices tracked at once.
    pub max_devices: usize,
    /// A device with no datagram for this long (and no open cycle) is evicted.
    pub idle_evict: Duration,
    /// STATUS replies one source may receive per second, sustained.
    pub reply_rate_per_sec: u32,
    /// STATUS replies one source may receive at once.
    pub reply_burst: u32,
    /// The same for all sources of one /24 (IPv4) or /64 (IPv6).
    pub reply_prefix_rate_per_sec: u32,
    pub reply_prefix_burst: u32,
    /// Devices not registered over TCP tracked at once (at most
    /// `max_devices`); past it the oldest stranger is evicted.
    pub max_strangers: usize,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            cycle_len: CYCLE_LEN,
            cycle_timeout: CYCLE_TIMEOUT,
            max_devices: MAX_UDP_DEVICES,
            idle_evict: UDP_IDLE_EVICT,
            reply_rate_per_sec: REPLY_RATE_PER_SEC,
            reply_burst: REPLY_BURST,
            reply_prefix_rate_per_sec: REPLY_RATE_PER_SEC.saturating_mul(4),
            reply_prefix_burst: REPLY_BURST.saturating_mul(4),
            max_strangers: MAX_UDP_DEVICES,
        }
    }
}

/// Why a [`DataConfig`] cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `cycle_len` outside `1..=MAX_CYCLE_LEN` (the received set is a `u64`).
    CycleLen(u32),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::CycleLen(n) => {
                write!(f, "cycle length {n} is not between 1 and {MAX_CYCLE_LEN}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

impl DataConfig {
    /// Checks the settings [`DataPlane::new`](super::DataPlane::new) relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_CYCLE_LEN).contains(&self.cycle_len) {
            return Err(ConfigError::CycleLen(self.cycle_len));
        }
        Ok(())
    }
}

/// Counters of everything the plane has seen and done.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataStats {
    /// Every datagram handed in, whatever became of it.
    pub datagrams: u64,
    /// Unparseable, or SEQ above the cycle length; dropped unanswered.
    pub malformed: u64,
    /// Readings accepted: a new SEQ of an open cycle (what the recorder
    /// is offered and the latest reading shows).
    pub accepted: u64,
    /// A SEQ the open cycle already held (same `CYCLE`).
    pub duplicates: u64,
    /// For a cycle already closed (lower or closed `CYCLE`).
    pub late: u64,
    /// Refused by the caller's registration filter.
    pub unknown_device: u64,
    /// For a name registered over TCP, from another address: dropped.
    pub wrong_source: u64,
    /// Cycles closed by their last SEQ (rule 1).
    pub closed_last_seq: u64,
    /// Cycles closed by a packet of a newer cycle (rule 2).
    pub closed_newer_cycle: u64,
    /// Cycles closed by the idle timeout (rule 3).
    pub closed_timeout: u64,
    /// Packets received, summed over closed cycles.
    pub packets_received: u64,
    /// Packets missing, summed over closed cycles.
    pub packets_missing: u64,
    /// STATUS replies passed to the sink.
    pub statuses_sent: u64,
    /// STATUS replies withheld by the rate limiter (address or prefix).
    pub statuses_rate_limited: u64,
    /// Of those, withheld by the prefix's bucket.
    pub statuses_prefix_limited: u64,
    /// STATUS replies no larger than their cycle's datagrams, sent without
    /// asking the limiter.
    pub statuses_unmetered: u64,
    /// STATUS replies withheld because even the header exceeded the
    /// amplification cap.
    pub statuses_too_large: u64,
    /// Devices in the table now.
    pub devices_tracked: u64,
    /// Devices evicted as idle.
    pub devices_evicted: u64,
    /// Strangers tracked now (names not registered over TCP).
    pub strangers_tracked: u64,
    /// Strangers evicted, oldest first, to make room for a newer name.
    pub strangers_evicted: u64,
    /// Datagrams of new devices dropped because the table was full (of
    /// registered devices).
    pub table_full_drops: u64,
}
