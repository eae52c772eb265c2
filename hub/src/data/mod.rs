//! The UDP data plane, sans-IO: datagrams in, STATUS replies out.
//!
//! It owns no socket and never reads the clock. The event loop hands each
//! received datagram to [`DataPlane::on_datagram`] with `now` and its source,
//! calls [`DataPlane::on_tick`] every tick, and sends whatever the plane
//! passes to its [`StatusSink`]. Flow of one datagram:
//!
//! 1. [`Datagram::parse`] (zero-alloc); a malformed one is counted, never
//!    answered.
//! 2. The caller's admission check says whether the name is registered over
//!    TCP and, if so, whether the datagram came from that connection's
//!    address (others are dropped and counted).
//! 3. [`table`] finds the device's state by name (bounded; strangers are
//!    evicted oldest first, registered devices never).
//! 4. [`cycle`] applies the packet and says which cycles it closed (0–2).
//! 5. Each closed cycle is counted and its STATUS encoded on the stack,
//!    capped at [`STATUS_AMPLIFICATION`] × the datagram's length. A STATUS
//!    no larger than the bytes its cycle brought in costs the hub less than
//!    its sender paid and is always sent; a larger one (a cycle of one tiny
//!    datagram) needs a token from its source address's and prefix's
//!    buckets in [`limiter`].
//!
//! Timers are deadlines in two heaps (cycle timeouts, idle eviction), one
//! entry per device, so [`DataPlane::on_tick`] touches only what is due and
//! [`DataPlane::poll_timeout`] says when that is: an idle hub costs the same
//! with 0 or 100 000 devices tracked.
//!
//! A datagram from a known device allocates nothing on this path.
//!
//! Beside the plane: [`settings`] (its configuration and counters),
//! [`table`], [`cycle`], [`latest`] (last readings), [`limiter`].

pub mod cycle;
pub mod latest;
pub mod limiter;
pub mod settings;
pub mod table;

#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Instant;

pub use cycle::{CycleState, Outcome};
pub use latest::{DeviceCounters, InlineText, Latest};
pub use limiter::{Limited, ReplyLimiter};
pub use settings::{ConfigError, DataConfig, DataStats};
pub use table::{Device, DeviceTable, Entry, SlotRef, TableFull};

use crate::limits::STATUS_AMPLIFICATION;
use crate::protocol::status::STATUS_BUF;
use crate::protocol::{Datagram, Status};

/// Where the plane puts the STATUS replies it decides to send.
pub trait StatusSink {
    /// Sends `bytes` (one STATUS, no terminator) to `dest`.
    fn send_status(&mut self, dest: SocketAddr, bytes: &[u8]);

    /// Sees each reading the plane accepts (a new SEQ of an open cycle,
    /// from a tracked device), received at `now` from `src`, before any
    /// STATUS it causes. The recorder hangs here; the default ignores it.
    fn accepted(&mut self, _d: &Datagram<'_>, _now: Instant, _src: SocketAddr) {}
}

/// What the caller knows about a datagram's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Not registered over TCP; served (and evicted first).
    Stranger,
    /// Registered over TCP, and from an acceptable address.
    Registered,
    /// Registered over TCP from another address: dropped, counted.
    WrongSource,
    /// Not registered, and the hub serves registered names only: dropped.
    Unknown,
}

/// A timer heap entry: when, and for which slot.
type Timer = Reverse<(Instant, SlotRef)>;

/// The data plane: device cycles, STATUS replies and their limits.
#[derive(Debug)]
pub struct DataPlane {
    cfg: DataConfig,
    table: DeviceTable,
    limiter: ReplyLimiter,
    stats: DataStats,
    /// Cycle timeouts: at most one entry per device (a closed cycle's entry
    /// is kept for the device's next cycle, or pruned by `poll_timeout`).
    cycle_timers: BinaryHeap<Timer>,
    /// Idle eviction checks: one entry per device.
    idle_timers: BinaryHeap<Timer>,
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
            table: DeviceTable::with_strangers(cfg.max_devices, cfg.max_strangers),
            limiter: ReplyLimiter::with_prefix(
                cfg.reply_rate_per_sec,
                cfg.reply_burst,
                cfg.reply_prefix_rate_per_sec,
                cfg.reply_prefix_burst,
            ),
            stats: DataStats::default(),
            cycle_timers: BinaryHeap::new(),
            idle_timers: BinaryHeap::new(),
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
        self.handle(now, src, bytes, |_| Admit::Stranger, |_| {}, sink);
    }

    /// The general form: `admit(name)` says what the caller knows of the
    /// name (see [`Admit`]); `observe` sees each datagram the plane goes on
    /// to apply, before any STATUS it causes.
    pub fn on_datagram_checked(
        &mut self,
        now: Instant,
        src: SocketAddr,
        bytes: &[u8],
        admit: impl FnOnce(&str) -> Admit,
        observe: impl FnOnce(&Datagram<'_>),
        sink: &mut impl StatusSink,
    ) {
        self.handle(now, src, bytes, admit, observe, sink);
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
        let admit = |name: &str| {
            if known(name) {
                Admit::Registered
            } else {
                Admit::Unknown
            }
        };
        self.handle(now, src, bytes, admit, |_| {}, sink);
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
        self.handle(now, src, bytes, |_| Admit::Stranger, observe, sink);
    }

    /// Runs the timers that are due: closes cycles idle for `cycle_timeout`
    /// (rule 3, STATUS to the last source seen) and evicts state idle for
    /// `idle_evict`. Touches only due entries, never every device.
    pub fn on_tick(&mut self, now: Instant, sink: &mut impl StatusSink) {
        let DataConfig {
            cycle_timeout,
            idle_evict,
            cycle_len,
            ..
        } = self.cfg;
        while let Some(&Reverse((due, at))) = self.cycle_timers.peek() {
            if due > now {
                break;
            }
            self.cycle_timers.pop();
            let Some(dev) = self.table.at_mut(at) else {
                continue;
            };
            if dev.cycle_timer != Some(due) {
                continue;
            }
            dev.cycle_timer = None;
            let Some(deadline) = dev.cycle.deadline(cycle_timeout) else {
                continue;
            };
            if deadline > now {
                dev.cycle_timer = Some(deadline);
                self.cycle_timers.push(Reverse((deadline, at)));
                continue;
            }
            if let Some(bits) = dev.cycle.expire(now, cycle_timeout) {
                let (dest, cap_base, paid) = (dev.last_src, usize::from(dev.last_len), dev.paid);
                dev.paid = 0;
                let mut closer = Closer {
                    stats: &mut self.stats,
                    limiter: &mut self.limiter,
                    sink: &mut *sink,
                    now,
                    cycle_len,
                };
                closer.close(
                    CloseRule::Timeout,
                    bits,
                    dest,
                    cap_base,
                    paid,
                    &mut dev.counters,
                );
            }
        }
        while let Some(&Reverse((due, at))) = self.idle_timers.peek() {
            if due > now {
                break;
            }
            self.idle_timers.pop();
            let Some(dev) = self.table.at_mut(at) else {
                continue;
            };
            // An open cycle still owes its STATUS, so it is never evicted.
            let next = if dev.cycle.is_open() {
                now + idle_evict
            } else {
                dev.last_seen + idle_evict
            };
            if next <= now {
                self.table.evict(at);
                self.stats.devices_evicted += 1;
            } else {
                self.idle_timers.push(Reverse((next, at)));
            }
        }
        self.stats.devices_tracked = self.table.len() as u64;
        self.stats.strangers_tracked = self.table.strangers() as u64;
    }

    /// Drops the timers of evicted devices once they outnumber the live
    /// ones, so a flood of new names (each evicting a stranger) keeps the
    /// heaps within twice the table. Amortised O(1) per insert.
    fn compact_timers(&mut self) {
        let limit = 2 * self.table.len() + 1024;
        let table = &mut self.table;
        for heap in [&mut self.idle_timers, &mut self.cycle_timers] {
            if heap.len() > limit {
                heap.retain(|Reverse((_, at))| table.at_mut(*at).is_some());
            }
        }
    }

    /// When [`on_tick`](Self::on_tick) next has something to do (quinn's
    /// `poll_timeout`); `None` with no device tracked. Cycle timers made
    /// moot (the cycle closed, the device left) are dropped from the front
    /// first, so they never wake the loop.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((due, at))) = self.cycle_timers.peek() {
            match self.table.at_mut(at) {
                // Still owed: the loop must wake for it.
                Some(d) if d.cycle_timer == Some(due) && d.cycle.is_open() => break,
                // The cycle closed: its check is moot. A device keeps at
                // most one entry, so a known device's timers never grow
                // the heap (and never allocate).
                Some(d) if d.cycle_timer == Some(due) => d.cycle_timer = None,
                _ => {}
            }
            self.cycle_timers.pop();
        }
        let c = self.cycle_timers.peek().map(|Reverse((t, _))| *t);
        let i = self.idle_timers.peek().map(|Reverse((t, _))| *t);
        match (c, i) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
        admit: impl FnOnce(&str) -> Admit,
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
        let registered = match admit(d.name) {
            Admit::Stranger => false,
            Admit::Registered => true,
            Admit::WrongSource => {
                self.stats.wrong_source += 1;
                return;
            }
            Admit::Unknown => {
                self.stats.unknown_device += 1;
                return;
            }
        };
        // Datagram::parse refuses anything over MAX_DATAGRAM, far below this.
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        let (entry, dev) = match self.table.get_or_insert(d.name, now, src, len, registered) {
            Ok(found) => found,
            Err(TableFull) => {
                self.stats.table_full_drops += 1;
                return;
            }
        };
        if entry.evicted_stranger {
            self.stats.strangers_evicted += 1;
        }
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
        let paid_before = dev.paid;
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
                let mut paid = paid_before.saturating_add(u32::from(len));
                if let Some(bits) = superseded {
                    closer.close(
                        CloseRule::NewerCycle,
                        bits,
                        src,
                        bytes.len(),
                        paid_before,
                        counters,
                    );
                    paid = u32::from(len);
                }
                if let Some(bits) = completed {
                    closer.close(CloseRule::LastSeq, bits, src, bytes.len(), paid, counters);
                    paid = 0;
                }
                dev.paid = paid;
            }
        }
        let timeout = self.cfg.cycle_timeout;
        if dev.cycle_timer.is_none() {
            if let Some(deadline) = dev.cycle.deadline(timeout) {
                dev.cycle_timer = Some(deadline);
                self.cycle_timers.push(Reverse((deadline, entry.at)));
            }
        }
        if entry.inserted {
            self.idle_timers
                .push(Reverse((now + self.cfg.idle_evict, entry.at)));
            if entry.evicted_stranger {
                self.compact_timers();
            }
        }
        self.stats.devices_tracked = self.table.len() as u64;
        self.stats.strangers_tracked = self.table.strangers() as u64;
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
    /// closed it, or for a timeout the device's last one). A STATUS larger
    /// than `paid` (the bytes the cycle brought in) needs the limiter's
    /// leave. The device's own counters `dev` count the cycle too.
    fn close(
        &mut self,
        rule: CloseRule,
        bits: u64,
        dest: SocketAddr,
        cause_len: usize,
        paid: u32,
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
        if n <= paid as usize {
            stats.statuses_unmetered += 1;
        } else if let Err(why) = self.limiter.check(self.now, dest) {
            stats.statuses_rate_limited += 1;
            if why == Limited::Prefix {
                stats.statuses_prefix_limited += 1;
            }
            return;
        }
        self.sink.send_status(dest, &buf[..n]);
        stats.statuses_sent += 1;
    }
}
