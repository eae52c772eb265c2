//! The bounded device table: device name → its UDP state.
//!
//! States live in a slab (`Vec`) and a `HashMap<Box<str>, u32>` maps names to
//! slots, looked up by `&str`, so a datagram from a known device allocates
//! nothing; only a brand-new name allocates its key. The table never grows
//! past its cap: a new name when full is refused (the caller counts it), and
//! [`DeviceTable::sweep`] frees idle entries, leaving their slots for reuse.
//!
//! The map keeps std's keyed SipHash: names come from the network, and a
//! predictable hash would let a sender pile every name into one probe chain.

use std::collections::HashMap;
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
    /// The last reading accepted, once there is one.
    pub latest: Option<Latest>,
    /// The device's own counters.
    pub counters: DeviceCounters,
}

impl Device {
    fn new(now: Instant, src: SocketAddr, len: u16) -> Self {
        Device {
            cycle: CycleState::new(now),
            last_src: src,
            last_len: len,
            last_seen: now,
            latest: None,
            counters: DeviceCounters::default(),
        }
    }
}

/// The table was full; the new name was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// Device states by name, at most `max` of them.
#[derive(Debug)]
pub struct DeviceTable {
    index: HashMap<Box<str>, u32>,
    slots: Vec<Device>,
    /// Slots freed by eviction, reused before the slab grows.
    free: Vec<u32>,
    max: usize,
}

impl DeviceTable {
    /// An empty table holding at most `max` devices (and at most `u32::MAX`,
    /// the slot index width).
    pub fn new(max: usize) -> Self {
        DeviceTable {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            max: max.min(u32::MAX as usize),
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

    /// The state of `name`, if tracked.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Device> {
        let slot = *self.index.get(name)?;
        Some(&mut self.slots[slot as usize])
    }

    /// The state of `name`, if tracked.
    pub fn get(&self, name: &str) -> Option<&Device> {
        let slot = *self.index.get(name)?;
        Some(&self.slots[slot as usize])
    }

    /// Every tracked device with its name, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Device)> {
        self.index
            .iter()
            .map(|(name, &slot)| (&**name, &self.slots[slot as usize]))
    }

    /// The state of `name`, adding a fresh one (its last datagram from `src`,
    /// `len` bytes long) if it is new and there is room.
    pub fn get_or_insert(
        &mut self,
        name: &str,
        now: Instant,
        src: SocketAddr,
        len: u16,
    ) -> Result<&mut Device, TableFull> {
        if let Some(&slot) = self.index.get(name) {
            return Ok(&mut self.slots[slot as usize]);
        }
        if self.index.len() >= self.max {
            return Err(TableFull);
        }
        let fresh = Device::new(now, src, len);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = fresh;
                slot
            }
            None => {
                self.slots.push(fresh);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(name.into(), slot);
        Ok(&mut self.slots[slot as usize])
    }

    /// Visits every device once; those for which `keep` returns false are
    /// evicted. Returns how many were. O(n), meant for the periodic tick.
    pub fn sweep(&mut self, mut keep: impl FnMut(&mut Device) -> bool) -> usize {
        let slots = &mut self.slots;
        let free = &mut self.free;
        let before = self.index.len();
        self.index.retain(|_, &mut slot| {
            let kept = keep(&mut slots[slot as usize]);
            if !kept {
                free.push(slot);
            }
            kept
        });
        before - self.index.len()
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
        t.get_or_insert("a", now, src(), 10).unwrap().last_len = 42;
        assert_eq!(t.get_or_insert("a", now, src(), 10).unwrap().last_len, 42);
        assert_eq!(t.get_mut("a").unwrap().last_len, 42);
        assert!(t.get_mut("b").is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn refuses_new_names_when_full_but_still_serves_known_ones() {
        let now = Instant::now();
        let mut t = DeviceTable::new(2);
        t.get_or_insert("a", now, src(), 1).unwrap();
        t.get_or_insert("b", now, src(), 1).unwrap();
        assert_eq!(t.get_or_insert("c", now, src(), 1).err(), Some(TableFull));
        assert!(t.get_or_insert("a", now, src(), 1).is_ok());
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn sweep_evicts_and_reuses_slots() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(61);
        let mut t = DeviceTable::new(2);
        t.get_or_insert("old", t0, src(), 1).unwrap();
        t.get_or_insert("new", later, src(), 1).unwrap();
        let idle = Duration::from_secs(60);
        let evicted = t.sweep(|d| later.saturating_duration_since(d.last_seen) < idle);
        assert_eq!(evicted, 1);
        assert_eq!(t.len(), 1);
        assert!(t.get_mut("old").is_none());
        // The freed slot takes the next name without growing the slab.
        let fresh = t.get_or_insert("third", later, src(), 7).unwrap();
        assert_eq!(fresh.last_len, 7);
        assert_eq!(fresh.last_seen, later);
        assert_eq!(t.slots.len(), 2);
        assert_eq!(t.get_mut("new").unwrap().last_seen, later);
    }

    #[test]
    fn zero_capacity_tracks_nothing() {
        let mut t = DeviceTable::new(0);
        assert!(t.get_or_insert("a", Instant::now(), src(), 1).is_err());
        assert!(t.is_empty());
    }
}
