//! One virtual device, sans-IO. A [`Device`] is its control side (connect,
//! register, answer commands, reconnect with jittered backoff) plus its data
//! side ([`data::Data`]: cycles, loss, STATUS matching). The worker owns the
//! sockets; it asks [`Device::next_wake`] when to call back, feeds in events
//! with the current time, and writes whatever bytes the device hands back.
//! Every count goes into the [`Ctx`] the worker passes in.

pub mod data;
pub mod faults;
pub mod line;
mod stage;
pub mod verify;

use std::io;
use std::ops::Deref;
use std::time::{Duration, Instant};

use hub::protocol::{Command, Datagram};

use crate::live::backoff::Backoff;
use crate::report::accounting::Counters;
use crate::report::evidence::{self, Samples};
use crate::report::histo::{Kind, Latencies};
use crate::rng::SplitMix64;
use data::{Data, Outgoing, Pacing};

/// First reconnect delay after the hub closes a device.
pub const RECONNECT_BASE: Duration = Duration::from_millis(50);
/// Longest reconnect delay (the backoff doubles up to here).
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Default `--registration-grace`: an `ERROR …` or a close this soon after
/// the registration line is the hub refusing the device (the protocol has
/// no registration reply, so silence is the only "yes").
pub const REGISTRATION_GRACE: Duration = Duration::from_millis(500);

/// Why a registered connection ended, as the worker saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// The hub closed cleanly (EOF).
    Eof,
    /// A reset or another socket error.
    Reset,
    /// Loadgen closed it: the hub broke the protocol (endless line, flood,
    /// not reading ACKs).
    Violation,
}

/// What the worker lends a device while it handles one event.
pub struct Ctx<'a> {
    pub counters: &'a mut Counters,
    pub lat: &'a mut Latencies,
    /// Cycles started and commands sent before this are warm-up.
    pub measure_from: Instant,
    /// No new cycle, connect or reconnect at or after this.
    pub stop_at: Instant,
    /// Verbatim evidence (refused STATUS, refusals, violations).
    pub samples: &'a mut Samples,
    /// A datagram sent later than this after its intended time is late.
    pub max_lag: Duration,
}

impl Ctx<'_> {
    fn measuring(&self, t: Instant) -> bool {
        t >= self.measure_from
    }
}

/// The control connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Connect (or reconnect) at `at`.
    Waiting { at: Instant },
    /// `connect()` issued at `since`, not yet established.
    Connecting { since: Instant },
    /// Registered at `since`; answering commands.
    Up { since: Instant },
    /// The hub refused the registration; waiting for the close.
    Refused,
    /// Run over; no more connects.
    Stopped,
    /// Out of the fleet by the devices stage target (see `stage.rs`).
    Parked,
}

/// What a command line asks of the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Write `ACK Command Executed\n`.
    Ack,
    /// Nothing to write (`ERROR …`; the hub will close).
    None,
}

/// One virtual device.
#[derive(Debug)]
pub struct Device {
    pub name: Box<str>,
    pub kind: Box<str>,
    link: Link,
    /// Reconnect delays; reset by each registration. Refused connects while
    /// the hub is down count as failures too, so they back off, not spin.
    backoff: Backoff,
    ever_registered: bool,
    /// This connection's registration is the device's first, so a refusal
    /// takes back `ever_registered`.
    first_registration: bool,
    /// The hub sent `ERROR …` on this connection (after the grace).
    error_seen: bool,
    /// See [`REGISTRATION_GRACE`].
    pub grace: Duration,
    rng: SplitMix64,
    /// The data side; the worker reaches it only through `Device`'s methods.
    data: Data,
    alarm: bool,
    /// Devices stages: when this device is in the fleet (`stage.rs`).
    stage: Option<Box<stage::Membership>>,
    /// It left by the stage target; its next registration is a rejoin.
    rejoining: bool,
}

impl Device {
    pub fn new(
        name: Box<str>,
        kind: Box<str>,
        connect_at: Instant,
        rng: SplitMix64,
        data: Data,
    ) -> Self {
        Device {
            name,
            kind,
            link: Link::Waiting { at: connect_at },
            backoff: Backoff::new(RECONNECT_BASE, RECONNECT_MAX),
            ever_registered: false,
            first_registration: false,
            error_seen: false,
            grace: REGISTRATION_GRACE,
            rng,
            data,
            alarm: false,
            stage: None,
            rejoining: false,
        }
    }

    /// When the worker must next call [`poll_connect`](Self::poll_connect)
    /// or [`poll_data`](Self::poll_data).
    pub fn next_wake(&self) -> Option<Instant> {
        let link = match self.link {
            Link::Waiting { at } => Some(at),
            _ => None,
        };
        [link, self.data.next_wake(), self.stage_wake()]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn is_up(&self) -> bool {
        matches!(self.link, Link::Up { .. })
    }

    /// A `connect()` is in progress: the worker's next readiness event on
    /// the control socket says whether it succeeded.
    pub fn is_connecting(&self) -> bool {
        matches!(self.link, Link::Connecting { .. })
    }

    pub fn alarm_active(&self) -> bool {
        self.alarm
    }

    /// True when a connect is due now: the worker should open the socket.
    pub fn poll_connect(&mut self, now: Instant, ctx: &mut Ctx) -> bool {
        match self.link {
            Link::Waiting { at } if at <= now => {
                if now >= ctx.stop_at {
                    self.link = Link::Stopped;
                    return false;
                }
                self.link = Link::Connecting { since: now };
                ctx.counters.connects_started += 1;
                true
            }
            _ => false,
        }
    }

    /// The socket could not be opened or the connect failed.
    pub fn on_connect_failed(&mut self, now: Instant, ctx: &mut Ctx) {
        ctx.counters.connect_failures += 1;
        self.schedule_reconnect(now);
    }

    /// The connection is established: appends the registration line to
    /// `out` and starts the data channel.
    pub fn on_connected(&mut self, now: Instant, out: &mut Vec<u8>, ctx: &mut Ctx) {
        let Link::Connecting { since } = self.link else {
            return;
        };
        out.extend_from_slice(b"DEVICE ");
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(b" TYPE ");
        out.extend_from_slice(self.kind.as_bytes());
        out.push(b'\n');
        self.link = Link::Up { since: now };
        self.backoff.reset();
        self.error_seen = false;
        let c = &mut *ctx.counters;
        c.registrations += 1;
        c.up += 1;
        c.up_peak = c.up_peak.max(c.up);
        self.first_registration = !self.ever_registered;
        if std::mem::take(&mut self.rejoining) {
            c.stage_rejoins += 1;
            c.stage_out -= 1;
        } else if self.ever_registered {
            c.reconnects += 1;
        } else {
            c.ever_registered += 1;
            self.ever_registered = true;
        }
        ctx.lat
            .record(Kind::Connect, now.saturating_duration_since(since));
        // Spread the fleet's cycles over one period instead of a thundering herd.
        let offset = self.data.period().mul_f64(self.rng.next_f64());
        self.data.start(now + offset);
    }

    /// One line from the hub. `wave_sent` is when the operator's current
    /// wave was written to the admin port, if one is in progress.
    pub fn on_line(
        &mut self,
        now: Instant,
        line: &[u8],
        wave_sent: Option<Instant>,
        ctx: &mut Ctx,
    ) -> Reply {
        if line.starts_with(b"ERROR") {
            ctx.counters.errors_received += 1;
            match self.link {
                Link::Up { since } if now.saturating_duration_since(since) < self.grace => {
                    self.refuse(&evidence::show(line), ctx);
                }
                _ => self.error_seen = true,
            }
            return Reply::None;
        }
        if self.link == Link::Refused {
            return Reply::None;
        }
        ctx.counters.commands_received += 1;
        let text = std::str::from_utf8(line).unwrap_or("");
        match Command::parse(text) {
            Ok(Command::SetInterval(n)) => {
                ctx.counters.set_interval_applied += 1;
                self.data.set_interval(Duration::from_secs(u64::from(n)));
            }
            Ok(Command::ActivateAlarm) => {
                ctx.counters.alarms_activated += 1;
                self.alarm = true;
            }
            // The original client answers any other text too.
            Ok(Command::Generic(_)) | Err(_) => {}
        }
        if let Some(sent) = wave_sent.filter(|&t| ctx.measuring(t)) {
            ctx.lat
                .record(Kind::CommandDelivery, now.saturating_duration_since(sent));
        }
        Reply::Ack
    }

    /// The ACK for the last command was written at `now`.
    pub fn ack_written(&mut self, now: Instant, wave_sent: Option<Instant>, ctx: &mut Ctx) {
        ctx.counters.acks_sent += 1;
        if let Some(sent) = wave_sent.filter(|&t| ctx.measuring(t)) {
            ctx.lat
                .record(Kind::CommandRtt, now.saturating_duration_since(sent));
        }
    }

    /// The hub took back this registration: the device is not registered.
    fn refuse(&mut self, reason: &str, ctx: &mut Ctx) {
        self.link = Link::Refused;
        let c = &mut *ctx.counters;
        c.up -= 1;
        c.registrations_refused += 1;
        if self.first_registration {
            c.ever_registered -= 1;
            self.ever_registered = false;
            self.first_registration = false;
        }
        evidence::keep(&mut ctx.samples.refusals, || {
            format!("{}: {reason}", self.name)
        });
    }

    /// The connection ended (the hub closed it, or loadgen did because of
    /// a hub protocol violation).
    pub fn on_closed(&mut self, now: Instant, cause: CloseCause, ctx: &mut Ctx) {
        match self.link {
            Link::Up { since } => {
                let early = now.saturating_duration_since(since) < self.grace;
                if early && !self.error_seen && cause != CloseCause::Violation {
                    let ms = self.grace.as_millis();
                    self.refuse(&format!("closed within {ms} ms of registering"), ctx);
                } else {
                    ctx.counters.up -= 1;
                    if now < ctx.stop_at {
                        let c = &mut *ctx.counters;
                        c.disconnects += 1;
                        match cause {
                            CloseCause::Violation => c.disconnects_violation += 1,
                            _ if self.error_seen => c.disconnects_error_line += 1,
                            CloseCause::Eof => c.disconnects_eof += 1,
                            CloseCause::Reset => c.disconnects_reset += 1,
                        }
                    }
                }
            }
            Link::Refused => {}
            Link::Connecting { .. } => ctx.counters.connect_failures += 1,
            Link::Waiting { .. } | Link::Stopped | Link::Parked => return,
        }
        self.error_seen = false;
        self.schedule_reconnect(now);
    }

    fn schedule_reconnect(&mut self, now: Instant) {
        self.link = Link::Waiting {
            at: now + self.backoff.next_delay(&mut self.rng),
        };
    }

    /// Run over: no more connects; pending cycles are counted as open.
    /// (`up` keeps counting it: the report's `up_at_end`.)
    pub fn finish(&mut self, ctx: &mut Ctx) {
        self.link = Link::Stopped;
        self.data.abandon(ctx);
    }

    /// Expires STATUS timeouts and ends rests that are over (the data
    /// side's timer; see [`next_wake`](Self::next_wake)).
    pub fn poll_data(&mut self, now: Instant, ctx: &mut Ctx) {
        self.data.poll(now, ctx);
    }

    /// The next datagram due, if any.
    pub fn next_datagram(&mut self, now: Instant, ctx: &mut Ctx) -> Option<Outgoing> {
        self.data.next_datagram(now, &mut self.rng, ctx)
    }

    /// The wire form of `out`: this device's name and type, the worker's
    /// cached `timestamp`, and a value that ramps with the sequence number
    /// (with `out`'s corruption, if any, applied when encoded).
    pub fn datagram<'a>(&'a self, out: Outgoing, timestamp: &'a str) -> Wire<'a> {
        Wire {
            datagram: Datagram {
                name: &self.name,
                timestamp,
                kind: &self.kind,
                value: f64::from(200 + out.seq) / 10.0,
                seq: out.seq,
                cycle: Some(out.cycle),
            },
            corrupt: out.corrupt,
        }
    }

    /// Reports whether the kernel took `out` (from
    /// [`next_datagram`](Self::next_datagram) at `now`). A batch's reports
    /// may follow all of its `next_datagram` calls.
    pub fn datagram_sent(&mut self, out: Outgoing, ok: bool, now: Instant, ctx: &mut Ctx) {
        self.data.sent(out, ok, now, ctx);
    }

    /// A datagram arrived on the device's UDP socket (a STATUS, or not).
    pub fn on_status(&mut self, now: Instant, bytes: &[u8], ctx: &mut Ctx) {
        self.data.on_status(now, bytes, ctx);
    }
}

/// A datagram as it goes on the wire: the reading, and the damage
/// `--corrupt` does to its bytes. It reads as the [`Datagram`] it carries.
#[derive(Debug, Clone, Copy)]
pub struct Wire<'a> {
    pub datagram: Datagram<'a>,
    pub corrupt: Option<faults::Corruption>,
}

impl Wire<'_> {
    /// Writes the datagram into `out`, corrupted if it is to be, and
    /// returns its length.
    pub fn encode(&self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.datagram.encode(out)?;
        if let Some(c) = self.corrupt {
            c.apply(&mut out[..n]);
        }
        Ok(n)
    }
}

impl<'a> Deref for Wire<'a> {
    type Target = Datagram<'a>;
    fn deref(&self) -> &Datagram<'a> {
        &self.datagram
    }
}

/// Builds the data side for a run's pacing.
pub fn data_for(pacing: Pacing, cycle_len: u32, status_timeout: Duration, loss: f64) -> Data {
    Data::new(pacing, cycle_len, status_timeout, loss)
}

#[cfg(test)]
mod tests;
