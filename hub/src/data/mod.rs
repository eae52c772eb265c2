//! The UDP data plane, sans-IO: datagrams in, STATUS replies out.
//!
//! It owns no socket and never reads the clock. The event loop hands each
//! received datagram to [`DataPlane::on_datagram`] with `now` and its source,
//! calls [`DataPlane::on_tick`] every tick, and sends whatever the plane
//! passes to its [`StatusSink`]. Flow of one datagram:
//!
//! 1. [`Datagram::parse`] (zero-alloc); a malformed one is counted, never
//!    answered.
//! 2. [`table`] finds the device's state by name (bounded; a new name when
//!    full is dropped).
//! 3. [`cycle`] applies the packet and says which cycles it closed (0–2).
//! 4. Each closed cycle is counted and its STATUS encoded on the stack,
//!    capped at [`STATUS_AMPLIFICATION`] × the datagram's length, and sent
//!    if the source's bucket in [`limiter`] allows.
//!
//! A datagram from a known device allocates nothing on this path.

pub mod cycle;
pub mod latest;
pub mod limiter;
pub mod table;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use cycle::{CycleState, Outcome};
pub use latest::{DeviceCounters, InlineText, Latest};
pub use limiter::ReplyLimiter;
pub use table::{Device, DeviceTable, TableFull};

use crate::limits::{
    CYCLE_LEN, CYCLE_TIMEOUT, MAX_CYCLE_LEN, MAX_UDP_DEVICES, REPLY_BURST, REPLY_RATE_PER_SEC,
    STATUS_AMPLIFICATION, UDP_IDLE_EVICT,
};
use crate::protocol::status::STATUS_BUF;
use crate::protocol::{Datagram, Status};

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
    /// Checks the settings [`DataPlane::new`] relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_CYCLE_LEN).contains(&self.cycle_len) {
            return Err(ConfigError::CycleLen(self.cycle_len));
        }
        Ok(())
    }
}

/// Where the plane puts the STATUS replies it decides to send.
pub trait StatusSink {
    /// Sends `bytes` (one STATUS, no terminator) to `dest`.
    fn send_status(&mut self, dest: SocketAddr, bytes: &[u8]);

    /// Sees each reading the plane accepts (a new SEQ of an open cycle,
    /// from a tracked device), received at `now` from `src`, before any
    /// STATUS it causes. The recorder hangs here; the default ignores it.
    fn accepted(&mut self, _d: &Datagram<'_>, _now: Instant, _src: SocketAddr) {}
}

/// Counters of everything the plane has seen and done.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
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
    /// STATUS replies withheld by the per-source rate limiter.
    pub statuses_rate_limited: u64,
    /// STATUS replies withheld because even the header exceeded the
    /// amplification cap.
    pub statuses_too_large: u64,
    /// Devices in the table now.
    pub devices_tracked: u64,
    /// Devices evicted as idle.
    pub devices_evicted: u64,
    /// Datagrams of new devices dropped because the table was full.
    pub table_full_drops: u64,
}

/// The data plane: device cycles, STATUS replies and their limits.
#[derive(Debug)]
pub struct DataPlane {
    cfg: DataConfig,
    table: DeviceTable,
    limiter: ReplyLimiter,
    stats: DataStats,
}

impl DataPlane {
    /// A plane with no devices.
    ///
    /// # Panics
    /// If `cfg` fails [`DataConfig::validate`]; check it first when it comes
    /// from the command line.
    pub fn new(cfg: DataConfig) -> Self {
        if let Err(e) = cfg.validate() {
            panic!("invalid data plane config: {e}");
        }
        DataPlane {
            cfg,
            table: DeviceTable::new(cfg.max_devices),
            limiter: ReplyLimiter::new(cfg.reply_rate_per_sec, cfg.reply_burst),
            stats: DataStats::default(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &DataConfig {
        &self.cfg
    }

    /// Handles one received datagram. Any STATUS that must go out (0, 1 or
    /// 2 of them) is passed to `sink`.
    pub fn on_datagram(
        &mut self,
        now: Instant,
        src: SocketAddr,
        bytes: &[u8],
        sink: &mut impl StatusSink,
    ) {
        self.handle(now, src, bytes, |_| true, |_| {}, sink);
    }

    /// Like [`on_datagram`](Self::on_datagram), but for a hub that only
    /// accepts registered devices: the caller's `known(name)` says whether
    /// the name is registered; unknown ones are counted in `unknown_device`
    /// and dropped, no reply.
    pub fn on_datagram_filtered(
        &mut self,
        now: Instant,
        src: SocketAddr,
        bytes: &[u8],
        known: impl FnOnce(&str) -> bool,
        sink: &mut impl StatusSink,
    ) {
        self.handle(now, src, bytes, known, |_| {}, sink);
    }

    /// Like [`on_datagram`](Self::on_datagram), and shows `observe` each
    /// datagram the plane goes on to apply (not malformed ones, nor those
    /// dropped because the table is full), before any STATUS it causes is
    /// sent: classic mode prints each reading ahead of its STATUS.
    pub fn on_datagram_with(
        &mut self,
        now: Instant,
        src: SocketAddr,
        bytes: &[u8],
        observe: impl FnOnce(&Datagram<'_>),
        sink: &mut impl StatusSink,
    ) {
        self.handle(now, src, bytes, |_| true, observe, sink);
    }

    /// Closes cycles idle for `cycle_timeout` (rule 3, STATUS to the last
    /// source seen) and evicts state idle for `idle_evict`. O(devices).
    pub fn on_tick(&mut self, now: Instant, sink: &mut impl StatusSink) {
        let DataConfig {
            cycle_timeout,
            idle_evict,
            ..
        } = self.cfg;
        let mut closer = Closer {
            stats: &mut self.stats,
            limiter: &mut self.limiter,
            sink,
            now,
            cycle_len: self.cfg.cycle_len,
        };
        let evicted = self.table.sweep(|dev| {
            if let Some(bits) = dev.cycle.expire(now, cycle_timeout) {
                let cap_base = usize::from(dev.last_len);
                closer.close(
                    CloseRule::Timeout,
                    bits,
                    dev.last_src,
                    cap_base,
                    &mut dev.counters,
                );
            }
            // An open cycle still owes its STATUS, so it is never evicted.
            dev.cycle.is_open() || now.saturating_duration_since(dev.last_seen) < idle_evict
        });
        self.stats.devices_evicted += evicted as u64;
        self.stats.devices_tracked = self.table.len() as u64;
    }

    /// The counters so far.
    pub fn stats(&self) -> &DataStats {
        &self.stats
    }

    /// The devices tracked now, with their latest readings and counters.
    pub fn table(&self) -> &DeviceTable {
        &self.table
    }

    fn handle(
        &mut self,
        now: Instant,
        src: SocketAddr,
        bytes: &[u8],
        known: impl FnOnce(&str) -> bool,
        observe: impl FnOnce(&Datagram<'_>),
        sink: &mut impl StatusSink,
    ) {
        self.stats.datagrams += 1;
        let cycle_len = self.cfg.cycle_len;
        let d = match Datagram::parse(bytes) {
            Ok(d) if d.seq <= cycle_len => d,
            _ => {
                self.stats.malformed += 1;
                return;
            }
        };
        if !known(d.name) {
            self.stats.unknown_device += 1;
            return;
        }
        // Datagram::parse refuses anything over MAX_DATAGRAM, far below this.
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        let dev = match self.table.get_or_insert(d.name, now, src, len) {
            Ok(dev) => dev,
            Err(TableFull) => {
                self.stats.table_full_drops += 1;
                return;
            }
        };
        observe(&d);
        dev.last_src = src;
        dev.last_len = len;
        dev.last_seen = now;
        let mut closer = Closer {
            stats: &mut self.stats,
            limiter: &mut self.limiter,
            sink,
            now,
            cycle_len,
        };
        dev.counters.datagrams += 1;
        match dev.cycle.accept(now, d.seq, d.cycle, cycle_len) {
            Outcome::Late => {
                closer.stats.late += 1;
                dev.counters.late += 1;
            }
            Outcome::Duplicate => {
                closer.stats.duplicates += 1;
                dev.counters.duplicates += 1;
            }
            Outcome::Recorded {
                superseded,
                completed,
            } => {
                closer.stats.accepted += 1;
                dev.counters.accepted += 1;
                match &mut dev.latest {
                    // Copies in place: a known device allocates nothing.
                    Some(l) => {
                        l.value = d.value;
                        l.timestamp.set(d.timestamp);
                        l.kind.set(d.kind);
                        l.received = now;
                        l.seq = d.seq;
                        l.cycle = d.cycle;
                        l.src = src;
                    }
                    None => dev.latest = Some(Latest::of(&d, now, src)),
                }
                closer.sink.accepted(&d, now, src);
                // The old cycle's STATUS goes first, as it closed first.
                let counters = &mut dev.counters;
                if let Some(bits) = superseded {
                    closer.close(CloseRule::NewerCycle, bits, src, bytes.len(), counters);
                }
                if let Some(bits) = completed {
                    closer.close(CloseRule::LastSeq, bits, src, bytes.len(), counters);
                }
            }
        }
        self.stats.devices_tracked = self.table.len() as u64;
    }
}

/// Which rule of PROTOCOL.md closed a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseRule {
    LastSeq,
    NewerCycle,
    Timeout,
}

/// What closing a cycle touches, borrowed apart from the device table so a
/// cycle can be closed while its device is borrowed.
struct Closer<'a, S> {
    stats: &'a mut DataStats,
    limiter: &'a mut ReplyLimiter,
    sink: &'a mut S,
    now: Instant,
    cycle_len: u32,
}

impl<S: StatusSink> Closer<'_, S> {
    /// Counts a closed cycle and sends its STATUS to `dest`, no larger than
    /// STATUS_AMPLIFICATION × `cause_len` (the length of the datagram that
    /// closed it, or for a timeout the device's last one).
    fn close(
        &mut self,
        rule: CloseRule,
        bits: u64,
        dest: SocketAddr,
        cause_len: usize,
        dev: &mut DeviceCounters,
    ) {
        let stats = &mut *self.stats;
        match rule {
            CloseRule::LastSeq => stats.closed_last_seq += 1,
            CloseRule::NewerCycle => stats.closed_newer_cycle += 1,
            CloseRule::Timeout => stats.closed_timeout += 1,
        }
        let status = Status::from_bits(bits, self.cycle_len);
        stats.packets_received += u64::from(status.received);
        stats.packets_missing += u64::from(status.missing_count());
        dev.cycles += 1;
        dev.received += u64::from(status.received);
        dev.missing += u64::from(status.missing_count());
        let mut buf = [0u8; STATUS_BUF];
        let cap = STATUS_AMPLIFICATION.saturating_mul(cause_len);
        let Some(n) = status.encode_capped(&mut buf, cap) else {
            stats.statuses_too_large += 1;
            return;
        };
        if !self.limiter.allow(self.now, dest) {
            stats.statuses_rate_limited += 1;
            return;
        }
        self.sink.send_status(dest, &buf[..n]);
        stats.statuses_sent += 1;
    }
}
