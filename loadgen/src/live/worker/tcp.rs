//! A device's TCP connection: readiness (connect completion, reads,
//! lines and the ACKs they call for, flushing) and closing, as methods of
//! the [`Worker`] that owns the sockets.

use std::io::{self, Read, Write};
use std::time::Instant;

use super::{Worker, MAX_INBOUND_BURST, MAX_QUEUED_ACKS};
use crate::device::{CloseCause, Reply};
use crate::report::evidence;
use hub::limits::MAX_LINE;
use hub::protocol::ACK_TEXT;

/// What one `read` on a device's connection gave.
pub(super) enum Chunk {
    Data(usize),
    Drained,
    Eof,
    Broken,
    TooLong,
}

/// What a readiness event on a device's connection says.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ready {
    writable: bool,
    /// Something to read: data, end of stream, hang-up or an error.
    input: bool,
}

impl Ready {
    pub(super) fn of(ev: &mio::event::Event) -> Self {
        Ready {
            writable: ev.is_writable(),
            input: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
        }
    }

    /// A connecting socket that is writable and reports nothing else has
    /// completed its handshake (`SO_ERROR` checked separately).
    pub(super) fn connected(self) -> bool {
        self.writable && !self.input
    }

    #[cfg(test)]
    pub(super) const ANY: Ready = Ready {
        writable: true,
        input: true,
    };
}

impl Worker {
    pub(super) fn on_tcp_event(&mut self, i: usize, now: Instant, ready: Ready) {
        if self.slots[i].tcp.is_none() {
            return; // closed earlier in this batch
        }
        if self.slots[i].dev.is_connecting() {
            let tcp = self.slots[i].tcp.as_ref().expect("checked");
            match tcp.take_error() {
                Ok(None) => {}
                _ => return self.close(i, now, true),
            }
            // Writable with no error and no hang-up is connected
            // (connect(2)); anything else asks the kernel.
            if !ready.connected() {
                match tcp.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                    Err(_) => return self.close(i, now, true),
                }
            }
            let (slot, mut ctx) = self.ctx_parts(i);
            slot.dev.on_connected(now, &mut slot.out, &mut ctx);
        }
        if !self.flush(i) {
            return self.close(i, now, false);
        }
        // Edge-triggered: an event without input carries none (the
        // registration's writable edge); a later line raises its own.
        if ready.input {
            self.read(i, now);
        }
    }

    /// Reads and answers every complete line, chunk by chunk, flushing the
    /// ACKs after each; closes on EOF or error, and on a hub violation
    /// (a line over the cap, a burst over [`MAX_INBOUND_BURST`], more than
    /// [`MAX_QUEUED_ACKS`] ACKs the hub does not read).
    pub(super) fn read(&mut self, i: usize, now: Instant) {
        let wave = self.wave_sent();
        let mut burst = 0usize;
        loop {
            let (step, acks) = self.read_chunk(i, now, wave);
            if acks > 0 {
                let ok = self.flush(i);
                let t = Instant::now();
                let (slot, mut ctx) = self.ctx_parts(i);
                for _ in 0..acks {
                    slot.dev.ack_written(t, wave, &mut ctx);
                }
                if !ok {
                    return self.close(i, now, false);
                }
                if self.slots[i].out.len() > MAX_QUEUED_ACKS * (ACK_TEXT.len() + 1) {
                    let what = format!("more than {MAX_QUEUED_ACKS} commands left unanswered (the hub does not read ACKs)");
                    return self.violation(i, now, &what);
                }
            }
            match step {
                Chunk::Data(n) => {
                    burst += n;
                    if burst > MAX_INBOUND_BURST {
                        let what = format!("more than {MAX_INBOUND_BURST} bytes in one burst");
                        return self.violation(i, now, &what);
                    }
                }
                Chunk::Drained => return,
                Chunk::Eof => return self.close_for(i, now, false, CloseCause::Eof),
                Chunk::Broken => return self.close(i, now, false),
                Chunk::TooLong => {
                    let what = format!("a line longer than {MAX_LINE} bytes");
                    return self.violation(i, now, &what);
                }
            }
        }
    }

    /// One `read` and the lines it completes; ACKs are queued in `out`.
    pub(super) fn read_chunk(
        &mut self,
        i: usize,
        now: Instant,
        wave: Option<Instant>,
    ) -> (Chunk, u32) {
        let Worker {
            slots, meter, rbuf, ..
        } = self;
        let slot = &mut slots[i];
        let mut ctx = meter.ctx();
        let Some(tcp) = slot.tcp.as_mut() else {
            return (Chunk::Drained, 0);
        };
        let n = loop {
            match tcp.read(&mut rbuf[..]) {
                Ok(0) => return (Chunk::Eof, 0),
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (Chunk::Drained, 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return (Chunk::Broken, 0),
            }
        };
        slot.framer.push(&rbuf[..n]);
        let mut acks = 0;
        loop {
            match slot.framer.next_line() {
                Ok(Some(line)) => {
                    if slot.dev.on_line(now, line, wave, &mut ctx) == Reply::Ack {
                        slot.out.extend_from_slice(ACK_TEXT.as_bytes());
                        slot.out.push(b'\n');
                        acks += 1;
                    }
                }
                Ok(None) => return (Chunk::Data(n), acks),
                Err(_) => return (Chunk::TooLong, acks),
            }
        }
    }

    /// Writes queued bytes; false when the connection is broken.
    pub(super) fn flush(&mut self, i: usize) -> bool {
        let slot = &mut self.slots[i];
        let Some(tcp) = slot.tcp.as_mut() else {
            return true;
        };
        while !slot.out.is_empty() {
            match tcp.write(&slot.out) {
                Ok(0) => return false,
                Ok(n) => {
                    slot.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Stages: the device leaves the fleet. Queued ACKs go out first, then
    /// the connection closes cleanly (our FIN); nothing is awaited.
    pub(super) fn leave(&mut self, i: usize) {
        let _ = self.flush(i);
        self.drop_tcp(i);
        let (slot, mut ctx) = self.ctx_parts(i);
        slot.dev.on_left(&mut ctx);
    }

    /// Deregisters and closes the device's connection, with what it had
    /// queued to write.
    fn drop_tcp(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        if let Some(mut tcp) = slot.tcp.take() {
            let _ = self.poll.registry().deregister(&mut tcp);
        }
        slot.out.clear();
    }

    pub(super) fn close(&mut self, i: usize, now: Instant, connect_failed: bool) {
        self.close_for(i, now, connect_failed, CloseCause::Reset);
    }

    /// A hub protocol violation: count it, keep the reason, disconnect.
    pub(super) fn violation(&mut self, i: usize, now: Instant, what: &str) {
        let c = &mut self.meter.counters;
        c.hub_violations += 1;
        let name = &self.slots[i].dev.name;
        evidence::keep(&mut self.meter.samples.violations, || {
            format!("{name}: {what}")
        });
        self.close_for(i, now, false, CloseCause::Violation);
    }

    pub(super) fn close_for(
        &mut self,
        i: usize,
        now: Instant,
        connect_failed: bool,
        cause: CloseCause,
    ) {
        self.drop_tcp(i);
        let (slot, mut ctx) = self.ctx_parts(i);
        if connect_failed {
            slot.dev.on_connect_failed(now, &mut ctx);
        } else {
            slot.dev.on_closed(now, cause, &mut ctx);
        }
    }
}
