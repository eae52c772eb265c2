//! A device's UDP socket: the due datagrams out (one `send`, or one
//! `sendmmsg` for a batch) and the STATUS replies in (`recvmmsg`), as
//! methods of the [`Worker`] that owns the sockets.

use std::os::fd::AsRawFd;
use std::time::Instant;

use super::{mmsg, Worker, MAX_UDP_ERRORS_PER_EVENT, SEND_BATCH};

impl Worker {
    /// Generates every datagram the device has due (up to [`SEND_BATCH`]),
    /// then sends them: one `send` for one, one `sendmmsg` for several.
    /// Each datagram is tried once and reported with its own outcome, as
    /// one `send` each would; the reports follow the whole batch's
    /// generation (the device accounts for that, see `Device::datagram_sent`).
    pub(super) fn pump_datagrams(&mut self, i: usize, now: Instant) {
        let Worker {
            slots,
            meter,
            ts,
            sbatch,
            souts,
            ..
        } = self;
        let slot = &mut slots[i];
        let mut ctx = meter.ctx();
        // A fresh clock: `now` may be stale after a long pass.
        let now = now.max(Instant::now());
        slot.dev.poll_data(now, &mut ctx);
        sbatch.clear();
        souts.clear();
        for _ in 0..SEND_BATCH {
            let Some(o) = slot.dev.next_datagram(now, &mut ctx) else {
                break;
            };
            let d = slot.dev.datagram(o, ts);
            if sbatch.push(|buf| d.encode(buf)) {
                souts.push(o);
            } else {
                slot.dev.datagram_sent(o, false, now, &mut ctx);
            }
        }
        let Some(udp) = slot.udp.as_ref() else {
            for &o in souts.iter() {
                slot.dev.datagram_sent(o, false, now, &mut ctx);
            }
            return;
        };
        let fd = udp.as_raw_fd();
        if souts.len() == 1 {
            let ok = sbatch.send_one(fd, 0);
            slot.dev.datagram_sent(souts[0], ok, now, &mut ctx);
            return;
        }
        let mut from = 0;
        while from < souts.len() {
            let took = sbatch.send(fd, from).unwrap_or(0);
            for &o in &souts[from..from + took] {
                slot.dev.datagram_sent(o, true, now, &mut ctx);
            }
            from += took;
            // `sendmmsg` stops at the first datagram the kernel refused
            // (and reports its error only when it is the first): that one
            // was tried and failed; go on after it.
            if let Some(&o) = souts.get(from) {
                slot.dev.datagram_sent(o, false, now, &mut ctx);
                from += 1;
            }
        }
    }

    /// Takes every waiting datagram, [`mmsg::BATCH`] per `recvmmsg`; a
    /// batch that is not full found the queue empty and ends the drain.
    pub(super) fn on_udp_readable(&mut self, i: usize, now: Instant) {
        let Worker {
            slots,
            meter,
            rbatch,
            ..
        } = self;
        let slot = &mut slots[i];
        let mut ctx = meter.ctx();
        let Some(udp) = slot.udp.as_ref() else { return };
        let fd = udp.as_raw_fd();
        let mut errors = 0;
        loop {
            match rbatch.recv(fd) {
                Ok(n) => {
                    for k in 0..n {
                        slot.dev.on_status(now, rbatch.get(k), &mut ctx);
                    }
                    // An ICMP error met after some datagrams ends the batch
                    // early too; it arrived during this call, so its wake-up
                    // raises a new edge and the next event reports it first.
                    if n < mmsg::BATCH {
                        break;
                    }
                }
                // A datagram sent while the hub was down came back as ICMP
                // port unreachable. The kernel reports that once, ahead of
                // any STATUS still queued: keep draining, or that STATUS
                // sits unread (edge-triggered) and is later matched to the
                // wrong cycle.
                Err(_) if errors < MAX_UDP_ERRORS_PER_EVENT => errors += 1,
                Err(_) => break,
            }
        }
        // A STATUS may end a wait: the next cycle can be due right away.
        self.pump_datagrams(i, now);
    }
}
