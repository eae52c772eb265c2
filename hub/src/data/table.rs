//! The bounded device table: device name → its UDP state.
//!
//! States live in a slab (`Vec`) and a `HashMap<Box<str>, u32>` maps names to
//! slots, looked up by `&str`, so a datagram from a known device allocates
//! nothing; only a brand-new name allocates its key. The table never grows
//! past `max`. Each slot carries a generation, so a timer or queue entry for
//! a slot that was freed and reused is recognised as stale.
//!
//! **Strangers** (names not registered over TCP) hold at most
//! `max_strangers` slots, and a stranger's state is the only kind ever
//! evicted to make room: when the table (or the strangers' share) is full,
//! the oldest stranger is evicted for the newcomer, first in first out.
//! A registered device's state is never evicted for anyone; a registered
//! newcomer is refused only when every slot holds a registered device.
//!
//! The map keeps std's keyed SipHash: names come from the network, and a
//! predictable hash would let a sender pile every name into one probe chain.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use super::cycle::CycleState;
use super::latest::{DeviceCounters, Latest};

/// Everything the hub keeps about one device on the data channel.
#[derive(Debug, Clone, Copy)]
pub struct Device {
    pub cycle: CycleState,
    /// Where a timeout STATUS goes: the source of the device's last datagram.
    pub last_src: SocketAddr,
    /// Length of that datagram, which caps the timeout STATUS's size.
    pub last_len: u16,
    /// When any datagram of the device last arrived, for idle eviction.
    pub last_seen: Instant,
    /// Bytes received for the open cycle: what its sender paid for its
    /// STATUS. A STATUS no larger is never rate limited.
    pub paid: u32,
    /// Registered over TCP when last seen: never evicted for a stranger.
    pub registered: bool,
    /// A cycle-timeout timer is pending for this device, due then.
    pub cycle_timer: Option<Instant>,
    /// The last reading accepted, once there is one.
    pub latest: Option<Latest>,
    /// The device's own counters.
    pub counters: DeviceCounters,
}

impl Device {
    fn new(now: Instant, src: SocketAddr, len: u16, registered: bool) -> Self {
        Device {
            cycle: CycleState::new(now),
            last_src: src,
            last_len: len,
            last_seen: now,
            paid: 0,
            registered,
            cycle_timer: None,
            latest: None,
            counters: DeviceCounters::default(),
        }
    }
}

/// The table was full; the new name was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// A slot and its generation: what timers hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotRef {
    pub slot: u32,
    pub gen: u32,
}

/// What [`DeviceTable::get_or_insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub at: SlotRef,
    /// The name was new.
    pub inserted: bool,
    /// A stranger's state was evicted to make room (its open cycle, if
    /// any, is lost unanswered).
    pub evicted_stranger: bool,
}

#[derive(Debug)]
struct Slot {
    dev: Device,
    name: Box<str>,
    gen: u32,
    live: bool,
}

/// Device states by name, at most `max` of them.
#[derive(Debug)]
pub struct DeviceTable {
    index: HashMap<Box<str>, u32>,
    slots: Vec<Slot>,
    /// Slots freed by eviction, reused before the slab grows.
    free: Vec<u32>,
    max: usize,
    max_strangers: usize,
    /// Live strangers.
    strangers: usize,
    /// Strangers in arrival order (entries may be stale: freed, reused or
    /// since registered; they are skipped).
    fifo: VecDeque<SlotRef>,
}

impl DeviceTable {
    /// An empty table holding at most `max` devices (and at most `u32::MAX`,
    /// the slot index width), of which at most `max_strangers` strangers.
    pub fn new(max: usize) -> Self {
        Self::with_strangers(max, max)
    }

    /// Like [`new`](Self::new), with the strangers' share capped.
    pub fn with_strangers(max: usize, max_strangers: usize) -> Self {
        let max = max.min(u32::MAX as usize);
        DeviceTable {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            max,
            max_strangers: max_strangers.min(max),
            strangers: 0,
            fifo: VecDeque::new(),
        }
    }

    /// Devices tracked now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True when no device is tracked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Strangers tracked now.
    pub fn strangers(&self) -> usize {
        self.strangers
    }

    /// The state of `name`, if tracked.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Device> {
        let slot = *self.index.get(name)?;
        Some(&mut self.slots[slot as usize].dev)
    }

    /// The state at `at`, if the slot still holds the same device.
    pub fn at_mut(&mut self, at: SlotRef) -> Option<&mut Device> {
        let s = self.slots.get_mut(at.slot as usize)?;
        (s.live && s.gen == at.gen).then_some(&mut s.dev)
    }

    /// The state of `name`, if tracked.
    pub fn get(&self, name: &str) -> Option<&Device> {
        let slot = *self.index.get(name)?;
        Some(&self.slots[slot as usize].dev)
    }

    /// Every tracked device with its name, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Device)> {
        self.index
            .iter()
            .map(|(name, &slot)| (&**name, &self.slots[slot as usize].dev))
    }

    /// The state of `name`, adding a fresh one (its last datagram from `src`,
    /// `len` bytes long) if it is new and there is room, evicting the oldest
    /// stranger if need be. `registered` says whether the name is
    /// registered over TCP now.
    pub fn get_or_insert(
        &mut self,
        name: &str,
        now: Instant,
        src: SocketAddr,
        len: u16,
        registered: bool,
    ) -> Result<(Entry, &mut Device), TableFull> {
        if let Some(&slot) = self.index.get(name) {
            let s = &mut self.slots[slot as usize];
            if s.dev.registered != registered {
                s.dev.registered = registered;
                if registered {
                    self.strangers -= 1;
                } else {
                    self.strangers += 1;
                    self.fifo.push_back(SlotRef { slot, gen: s.gen });
                }
            }
            let at = SlotRef { slot, gen: s.gen };
            let entry = Entry {
                at,
                inserted: false,
                evicted_stranger: false,
            };
            return Ok((entry, &mut self.slots[slot as usize].dev));
        }
        let full = self.index.len() >= self.max;
        let strangers_full = !registered && self.strangers >= self.max_strangers;
        let mut evicted_stranger = false;
        if full || strangers_full {
            if !self.evict_oldest_stranger() {
                return Err(TableFull);
            }
            evicted_stranger = true;
        }
        let fresh = Device::new(now, src, len, registered);
        let slot = match self.free.pop() {
            Some(slot) => {
                let s = &mut self.slots[slot as usize];
                s.dev = fresh;
                s.name = name.into();
                s.gen = s.gen.wrapping_add(1);
                s.live = true;
                slot
            }
            None => {
                self.slots.push(Slot {
                    dev: fresh,
                    name: name.into(),
                    gen: 0,
                    live: true,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(name.into(), slot);
        let at = SlotRef {
            slot,
            gen: self.slots[slot as usize].gen,
        };
        if !registered {
            self.strangers += 1;
            self.fifo.push_back(at);
            self.compact_fifo();
        }
        let entry = Entry {
            at,
            inserted: true,
            evicted_stranger,
        };
        Ok((entry, &mut self.slots[slot as usize].dev))
    }

    /// Frees the slot at `at` if it still holds the same device.
    pub fn evict(&mut self, at: SlotRef) -> bool {
        let Some(s) = self.slots.get_mut(at.slot as usize) else {
            return false;
        };
        if !s.live || s.gen != at.gen {
            return false;
        }
        s.live = false;
        if !s.dev.registered {
            self.strangers -= 1;
        }
        let name = std::mem::take(&mut s.name);
        self.index.remove(&name);
        self.free.push(at.slot);
        true
    }

    fn evict_oldest_stranger(&mut self) -> bool {
        while let Some(at) = self.fifo.pop_front() {
            let s = &self.slots[at.slot as usize];
            if s.live && s.gen == at.gen && !s.dev.registered {
                return self.evict(at);
            }
        }
        false
    }

    /// Keeps the FIFO within twice the live strangers (stale entries pile
    /// up as strangers leave by idleness or register).
    fn compact_fifo(&mut self) {
        if self.fifo.len() > 2 * self.strangers + 1024 {
            let slots = &self.slots;
            self.fifo.retain(|at| {
                let s = &slots[at.slot as usize];
                s.live && s.gen == at.gen && !s.dev.registered
            });
        }
    }

    /// Visits every device once; those for which `keep` returns false are
    /// evicted. Returns how many were. O(n): for tests and tools; the
    /// plane's timers never scan.
    pub fn sweep(&mut self, mut keep: impl FnMut(&mut Device) -> bool) -> usize {
        let mut gone = Vec::new();
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.live && !keep(&mut s.dev) {
                gone.push(SlotRef {
                    slot: i as u32,
                    gen: s.gen,
                });
            }
        }
        for at in &gone {
            self.evict(*at);
        }
        gone.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn src() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9))
    }

    #[test]
    fn lookups_find_the_same_state() {
        let now = Instant::now();
        let mut t = DeviceTable::new(4);
        t.get_or_insert("a", now, src(), 10, false)
            .unwrap()
            .1
            .last_len = 42;
        let (e, d) = t.get_or_insert("a", now, src(), 10, false).unwrap();
        assert_eq!(d.last_len, 42);
        assert!(!e.inserted);
        assert_eq!(t.get_mut("a").unwrap().last_len, 42);
        assert!(t.get_mut("b").is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn strangers_are_evicted_oldest_first_and_registered_devices_never() {
        let now = Instant::now();
        let mut t = DeviceTable::new(3);
        t.get_or_insert("reg", now, src(), 1, true).unwrap();
        t.get_or_insert("s1", now, src(), 1, false).unwrap();
        t.get_or_insert("s2", now, src(), 1, false).unwrap();
        // Full: a stranger evicts the oldest stranger, never "reg".
        let (e, _) = t.get_or_insert("s3", now, src(), 1, false).unwrap();
        assert!(e.evicted_stranger);
        assert!(t.get_mut("s1").is_none());
        assert!(t.get_mut("reg").is_some());
        // A registered newcomer evicts a stranger too.
        t.get_or_insert("reg2", now, src(), 1, true).unwrap();
        assert!(t.get_mut("s2").is_none());
        t.get_or_insert("reg3", now, src(), 1, true).unwrap();
        assert_eq!(t.strangers(), 0);
        // Every slot registered: the next name is refused, whoever it is.
        assert_eq!(
            t.get_or_insert("s4", now, src(), 1, false).err(),
            Some(TableFull)
        );
        assert_eq!(
            t.get_or_insert("reg4", now, src(), 1, true).err(),
            Some(TableFull)
        );
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn the_strangers_share_is_capped() {
        let now = Instant::now();
        let mut t = DeviceTable::with_strangers(10, 2);
        for i in 0..100 {
            t.get_or_insert(&format!("flood{i}"), now, src(), 1, false)
                .unwrap();
        }
        assert_eq!(t.strangers(), 2);
        assert_eq!(t.len(), 2);
        assert!(t.get_mut("flood99").is_some() && t.get_mut("flood98").is_some());
        for i in 0..8 {
            t.get_or_insert(&format!("reg{i}"), now, src(), 1, true)
                .unwrap();
        }
        assert_eq!(t.len(), 10);
        assert!(t.fifo.len() <= 2 * t.strangers() + 1024);
    }

    #[test]
    fn evicted_slots_are_reused_with_a_new_generation() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(61);
        let mut t = DeviceTable::new(2);
        let (old, _) = t.get_or_insert("old", t0, src(), 1, false).unwrap();
        t.get_or_insert("new", later, src(), 1, false).unwrap();
        let idle = Duration::from_secs(60);
        let evicted = t.sweep(|d| later.saturating_duration_since(d.last_seen) < idle);
        assert_eq!(evicted, 1);
        assert_eq!(t.len(), 1);
        assert!(t.get_mut("old").is_none());
        let (fresh, d) = t.get_or_insert("third", later, src(), 7, false).unwrap();
        assert_eq!(d.last_len, 7);
        assert_eq!(fresh.at.slot, old.at.slot);
        assert_ne!(fresh.at.gen, old.at.gen);
        assert!(
            t.at_mut(old.at).is_none(),
            "a stale reference finds nothing"
        );
        assert!(t.at_mut(fresh.at).is_some());
        assert_eq!(t.slots.len(), 2);
    }

    #[test]
    fn zero_capacity_tracks_nothing() {
        let mut t = DeviceTable::new(0);
        assert!(t
            .get_or_insert("a", Instant::now(), src(), 1, false)
            .is_err());
        assert!(t.is_empty());
    }
}
