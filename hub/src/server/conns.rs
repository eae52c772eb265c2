//! The connection table: every TCP connection of the device and admin
//! ports, in slots indexed by `token - FIRST_CONN`.
//!
//! It owns the slots, their free list, the map from [`ConnId`] to slot,
//! the admin sessions' slots (so admin timers never scan devices), the
//! device and admin counts, and the list of connections to drop at the end
//! of the batch. A slot is only reused after [`ConnTable::reap`], which the
//! loop runs after each event batch, so a stale event never reaches a new
//! connection. It knows nothing of what lines mean.

use std::collections::HashMap;

use mio::{Interest, Registry, Token};

use super::conn::{Conn, Role};
use crate::control::ConnId;
use crate::limits::MAX_ADMIN_LINE;

/// Tokens of TCP connections start here (below are the listeners, the UDP
/// socket, the waker and the signal pipe).
pub(super) const FIRST_CONN: usize = 16;

/// See the module docs.
pub(super) struct ConnTable {
    slots: Vec<Option<Conn>>,
    free: Vec<usize>,
    ids: HashMap<ConnId, usize>,
    next_id: u64,
    /// Slots of the admin sessions, so their timers never scan devices.
    admin_slots: Vec<usize>,
    devices: usize,
    admins: usize,
    /// The device connection cap in force (`--max-connections`).
    max_devices: usize,
    /// Device lines at most this long (`--max-line`).
    max_line: usize,
    /// Output buffer cap per connection (`--max-outbuf`).
    max_outbuf: usize,
    /// Marked during the batch, dropped by [`Self::reap`].
    closing: Vec<usize>,
}

impl ConnTable {
    pub fn new(max_devices: usize, max_line: usize, max_outbuf: usize) -> Self {
        ConnTable {
            slots: Vec::new(),
            free: Vec::new(),
            ids: HashMap::new(),
            next_id: 1,
            admin_slots: Vec::new(),
            devices: 0,
            admins: 0,
            max_devices,
            max_line,
            max_outbuf,
            closing: Vec::new(),
        }
    }

    pub fn get(&self, idx: usize) -> Option<&Conn> {
        self.slots.get(idx)?.as_ref()
    }

    pub fn get_mut(&mut self, idx: usize) -> Option<&mut Conn> {
        self.slots.get_mut(idx)?.as_mut()
    }

    /// The slot of a live connection.
    pub fn slot_of(&self, id: ConnId) -> Option<usize> {
        self.ids.get(&id).copied()
    }

    /// Device connections open.
    pub fn devices(&self) -> usize {
        self.devices
    }

    /// Admin sessions open.
    pub fn admins(&self) -> usize {
        self.admins
    }

    pub fn max_devices(&self) -> usize {
        self.max_devices
    }

    /// True when another device connection would pass the cap.
    pub fn devices_full(&self) -> bool {
        self.devices >= self.max_devices
    }

    /// The admin sessions' slots (closing ones included).
    pub fn admin_slots(&self) -> &[usize] {
        &self.admin_slots
    }

    /// Every live connection, for the last flush at shutdown.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Conn> {
        self.slots.iter_mut().flatten()
    }

    /// Takes a new connection into a free slot and registers it.
    pub fn insert(
        &mut self,
        registry: &Registry,
        mut stream: mio::net::TcpStream,
        role: Role,
    ) -> Option<(usize, ConnId)> {
        let idx = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let token = Token(FIRST_CONN + idx);
        if registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .is_err()
        {
            self.free.push(idx);
            return None;
        }
        let id = ConnId(self.next_id);
        self.next_id += 1;
        let max_line = match role {
            Role::Device => self.max_line,
            Role::Admin => MAX_ADMIN_LINE,
        };
        self.slots[idx] = Some(Conn::new(stream, id, role, max_line, self.max_outbuf));
        self.ids.insert(id, idx);
        match role {
            Role::Device => self.devices += 1,
            Role::Admin => {
                self.admins += 1;
                self.admin_slots.push(idx);
            }
        }
        Some((idx, id))
    }

    /// Marks a connection to be dropped at the end of the batch, flushing
    /// what it has queued. False if it was already marked (or is gone).
    pub fn mark_closing(&mut self, idx: usize) -> bool {
        let Some(conn) = self.get_mut(idx) else {
            return false;
        };
        if conn.closing {
            return false;
        }
        conn.closing = true;
        let _ = conn.flush();
        self.closing.push(idx);
        true
    }

    /// Drops the connections marked during the batch and frees their slots.
    pub fn reap(&mut self, registry: &Registry) {
        for idx in std::mem::take(&mut self.closing) {
            if let Some(mut conn) = self.slots[idx].take() {
                let _ = registry.deregister(&mut conn.stream);
                self.ids.remove(&conn.id);
                match conn.role {
                    Role::Device => self.devices -= 1,
                    Role::Admin => {
                        self.admins -= 1;
                        self.admin_slots.retain(|&i| i != idx);
                    }
                }
                self.free.push(idx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::net::{TcpListener, TcpStream};
    use mio::Poll;

    fn stream(l: &TcpListener) -> TcpStream {
        TcpStream::connect(l.local_addr().unwrap()).unwrap()
    }

    #[test]
    fn slots_are_counted_by_role_and_reused_only_after_reap() {
        let poll = Poll::new().unwrap();
        let l = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut t = ConnTable::new(1, 256, 4096);
        let (d, did) = t.insert(poll.registry(), stream(&l), Role::Device).unwrap();
        let (a, aid) = t.insert(poll.registry(), stream(&l), Role::Admin).unwrap();
        assert_ne!(did, aid);
        assert_eq!((t.devices(), t.admins()), (1, 1));
        assert!(t.devices_full(), "cap of 1 device reached");
        assert_eq!(t.admin_slots(), &[a]);
        assert_eq!(t.slot_of(did), Some(d));

        assert!(t.mark_closing(d));
        assert!(!t.mark_closing(d), "marked once");
        // Marked, not gone: a stale event in this batch still finds it.
        assert!(t.get(d).is_some_and(|c| c.closing));
        assert_eq!(t.devices(), 1);
        t.reap(poll.registry());
        assert!(t.get(d).is_none());
        assert_eq!(t.slot_of(did), None);
        assert_eq!((t.devices(), t.admins()), (0, 1));
        assert!(!t.devices_full());

        // The freed slot is reused, under a new id.
        let (d2, did2) = t.insert(poll.registry(), stream(&l), Role::Device).unwrap();
        assert_eq!(d2, d);
        assert_ne!(did2, did);
        t.mark_closing(a);
        t.reap(poll.registry());
        assert!(t.admin_slots().is_empty());
        assert_eq!(t.admins(), 0);
    }
}
