//! Accepting device and admin connections, within the connection cap and
//! without spinning when descriptors run out.
//!
//! When `accept` fails with EMFILE/ENFILE the loop closes its spare
//! descriptor, accepts the waiting connection, closes it at once (the
//! client sees a clean close instead of hanging in the backlog) and opens
//! the spare again. If even that fails, accepting pauses until the next
//! tick: the loop never busy-spins and never exits for lack of descriptors.
//!
//! Routing only (`impl EventLoop`): the listeners and the spare are
//! `listeners.rs`'s; new connections go into the connection table
//! (`conns.rs`) and, for devices, to the control plane; the actions
//! that causes are applied once the event is dispatched.

use std::io::{self, Write};
use std::time::Instant;

use super::conn::Role;
use super::event_loop::EventLoop;

fn out_of_fds(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

impl EventLoop {
    pub(super) fn accept_devices(&mut self, now: Instant) {
        loop {
            let Some(listener) = self.listeners.device() else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    if self.conns.devices_full() {
                        self.stats.rejected_full += 1;
                        let _ = stream.write(b"ERROR hub full\n");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    match self
                        .conns
                        .insert(self.poll.registry(), stream, Role::Device)
                    {
                        Some((_, id)) => self.control.on_connect(now, id, peer),
                        None => self.stats.accept_errors += 1,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) if out_of_fds(&e) => {
                    self.stats.fd_exhausted += 1;
                    let shed = self.listeners.shed_one();
                    if shed.shed {
                        self.stats.shed_no_fds += 1;
                    }
                    if !shed.more {
                        self.accept_blocked = true;
                        return;
                    }
                }
                Err(_) => {
                    self.stats.accept_errors += 1;
                    self.accept_blocked = true;
                    return;
                }
            }
        }
    }

    pub(super) fn accept_admin(&mut self, now: Instant) {
        loop {
            let Some(listener) = self.listeners.admin() else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, _)) => {
                    if !self.admin_room(now) {
                        let _ =
                            stream.write(b"{\"ok\":false,\"error\":\"too many admin sessions\"}\n");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    if self
                        .conns
                        .insert(self.poll.registry(), stream, Role::Admin)
                        .is_none()
                    {
                        self.stats.accept_errors += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    if out_of_fds(&e) {
                        self.stats.fd_exhausted += 1;
                    } else {
                        self.stats.accept_errors += 1;
                    }
                    // The waiting session raises no new edge: retry on a tick.
                    self.accept_blocked = true;
                    return;
                }
            }
        }
    }
}
