//! One worker thread: a mio `Poll` over a shard of devices plus a timer heap
//! of their next wake-ups. The loop only moves bytes: readiness events and
//! due timers become calls on the sans-IO [`Device`]s, whose answers
//! (registration, ACKs, datagrams) are written here. Once a second the
//! worker sends its counters and histograms to the main thread
//! ([`WorkerMsg::Tick`]); after the run it drains pending STATUSes until
//! none are in flight or the drain deadline passes, then sends
//! [`WorkerMsg::Done`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use super::connector::{Connector, Opened, Request};
use super::mmsg::{self, RecvBatch, SendBatch};
use crate::device::data::Outgoing;
use crate::device::{CloseCause, Ctx, Device, Reply};
use crate::report::accounting::Counters;
use crate::report::evidence::{self, Samples};
use crate::report::histo::Latencies;
use crate::report::outage::OutageTracker;
use hub::limits::MAX_LINE;
use hub::protocol::{LineFramer, ACK_TEXT};

/// Longest the loop sleeps, so stop and abort flags are seen promptly.
pub const MAX_POLL_WAIT: Duration = Duration::from_millis(100);
/// How often counters and histograms go to the main thread: on each whole
/// second after the run's start (`epoch`), so every worker reports the same
/// instant and the report's timeline is not smeared.
pub const TICK: Duration = Duration::from_secs(1);
/// Readiness events handled per `poll` call.
pub const EVENTS: usize = 1024;
/// Bytes read from a socket per `read` call.
pub const READ_BUF: usize = 4096;
/// After the stop time, wait at least this long for trailing ACKs.
pub const MIN_DRAIN: Duration = Duration::from_millis(200);
/// Socket errors (a refused datagram's ICMP) skipped per UDP readiness
/// event before giving up on it; each is reported once by the kernel.
pub const MAX_UDP_ERRORS_PER_EVENT: u32 = 8;
/// Datagrams one device sends per timer call. A device behind its open-loop
/// schedule sends its backlog in batches, each against a fresh clock, with
/// the stop checked in between; a batch of more than one goes out in one
/// `sendmmsg` ([`mmsg`]).
pub const SEND_BATCH: usize = mmsg::BATCH;
/// Timer calls per loop pass before the loop re-reads the clock, polls and
/// checks the stop again; an overloaded worker so never spins past the end.
pub const TIMER_BATCH: usize = 512;
pub use super::connector::DEVICE_SNDBUF;
/// The token of the worker's [`Connector`] waker (devices use `2i`, `2i+1`).
const WAKE: Token = Token(usize::MAX);
/// Longest a finished worker keeps its connections for the final stats.
pub const MAX_RELEASE_WAIT: Duration = Duration::from_secs(15);
/// Bytes one device may receive in one read burst. A correct hub sends one
/// command at a time (a few dozen bytes) and waits for its ACK; a hub that
/// sends more is flooding: the device is disconnected (a hub violation).
pub const MAX_INBOUND_BURST: usize = 64 * 1024;
/// Commands one device may hold unanswered (ACKs not yet written because
/// the hub does not read them): past it, the device is disconnected.
pub const MAX_QUEUED_ACKS: usize = 64;

/// What a worker tells the main thread.
#[derive(Debug)]
pub enum WorkerMsg {
    /// Cumulative counters and the histograms recorded since the last tick.
    Tick(Report),
    /// Final counters and the last histograms; the worker has exited.
    Done(Report),
}

/// One report from a worker.
#[derive(Debug)]
pub struct Report {
    pub worker: usize,
    pub counters: Counters,
    pub lat: Box<Latencies>,
    /// When the last device of this shard first registered.
    pub all_registered_at: Option<Instant>,
    /// Outages of this shard that ended since the last report.
    pub outages: Vec<(Instant, Instant)>,
    /// Start of this shard's outage in progress.
    pub outage_open_since: Option<Instant>,
    /// Verbatim evidence so far (capped).
    pub samples: Samples,
}

/// One device as the worker plans it.
pub struct DeviceSpec {
    pub device: Device,
    /// Source address for its sockets (`--source-ips`), if any.
    pub source: Option<Ipv4Addr>,
}

/// Everything a worker needs, decided by the main thread.
pub struct WorkerPlan {
    pub id: usize,
    pub devices: Vec<DeviceSpec>,
    pub hub_tcp: SocketAddr,
    pub hub_udp: SocketAddr,
    pub measure_from: Instant,
    pub stop_at: Instant,
    pub drain_deadline: Instant,
    /// The run's start: origin of `wave_sent_ns` and of the ticks.
    pub epoch: Instant,
    /// Nanoseconds after `epoch` when the current wave was sent; 0 = none.
    pub wave_sent_ns: Arc<AtomicU64>,
    /// Set by the main thread to end the run early.
    pub abort: Arc<AtomicBool>,
    /// `--max-send-lag-ms`.
    pub max_lag: Duration,
    /// Set by the main thread once it has read the hub's stats: until then
    /// a finished worker keeps its connections open, so the hub's count of
    /// registered devices can be compared with loadgen's.
    pub release: Arc<AtomicBool>,
}

struct Slot {
    dev: Device,
    source: Option<Ipv4Addr>,
    tcp: Option<TcpStream>,
    udp: Option<UdpSocket>,
    framer: LineFramer,
    out: Vec<u8>,
    /// The wake-up this slot has in the heap (older heap entries are stale).
    scheduled: Option<Instant>,
}

/// What every device call needs besides its slot: the shared counters
/// and histograms, and the measuring window.
struct Meter {
    counters: Counters,
    lat: Latencies,
    measure_from: Instant,
    stop_at: Instant,
    samples: Samples,
    max_lag: Duration,
}

impl Meter {
    fn ctx(&mut self) -> Ctx<'_> {
        Ctx {
            counters: &mut self.counters,
            lat: &mut self.lat,
            measure_from: self.measure_from,
            stop_at: self.stop_at,
            samples: &mut self.samples,
            max_lag: self.max_lag,
        }
    }
}

struct Worker {
    meter: Meter,
    plan_id: usize,
    poll: Poll,
    slots: Vec<Slot>,
    heap: BinaryHeap<Reverse<(Instant, u32)>>,
    /// Opens the devices' sockets on its own thread (see [`connector`](super::connector)).
    connector: Connector,
    epoch: Instant,
    drain_deadline: Instant,
    wave_sent_ns: Arc<AtomicU64>,
    abort: Arc<AtomicBool>,
    release: Arc<AtomicBool>,
    ts: String,
    all_registered_at: Option<Instant>,
    outages: OutageTracker,
    rbuf: Box<[u8; READ_BUF]>,
    /// The datagrams of one device's batch, encoded, and what they are.
    sbatch: SendBatch,
    souts: Vec<Outgoing>,
    /// STATUSes taken from one device's socket per `recvmmsg`.
    rbatch: RecvBatch,
}

/// What one `read` on a device's connection gave.
enum Chunk {
    Data(usize),
    Drained,
    Eof,
    Broken,
    TooLong,
}

/// What a readiness event on a device's connection says.
#[derive(Debug, Clone, Copy)]
struct Ready {
    writable: bool,
    /// Something to read: data, end of stream, hang-up or an error.
    input: bool,
}

impl Ready {
    fn of(ev: &mio::event::Event) -> Self {
        Ready {
            writable: ev.is_writable(),
            input: ev.is_readable() || ev.is_read_closed() || ev.is_error(),
        }
    }

    /// A connecting socket that is writable and reports nothing else has
    /// completed its handshake (`SO_ERROR` checked separately).
    fn connected(self) -> bool {
        self.writable && !self.input
    }

    #[cfg(test)]
    const ANY: Ready = Ready {
        writable: true,
        input: true,
    };
}

fn tcp_token(i: usize) -> Token {
    Token(i * 2)
}
fn udp_token(i: usize) -> Token {
    Token(i * 2 + 1)
}

/// Runs a worker to completion.
pub fn run(plan: WorkerPlan, tx: Sender<WorkerMsg>) -> io::Result<()> {
    let mut w = Worker::new(plan)?;
    for i in 0..w.slots.len() {
        w.reschedule(i);
    }
    let mut events = Events::with_capacity(EVENTS);
    let mut next_tick = w.epoch + TICK;
    loop {
        let now = Instant::now();
        let wait = w
            .heap
            .peek()
            .map(|Reverse((t, _))| t.saturating_duration_since(now))
            .unwrap_or(MAX_POLL_WAIT)
            .min(MAX_POLL_WAIT)
            .min(next_tick.saturating_duration_since(now));
        if let Err(e) = w.poll.poll(&mut events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        w.take_opened(now);
        for ev in events.iter() {
            if ev.token() == WAKE {
                continue;
            }
            let i = ev.token().0 / 2;
            if i >= w.slots.len() {
                continue;
            }
            if ev.token().0 % 2 == 0 {
                w.on_tcp_event(i, now, Ready::of(ev));
            } else {
                w.on_udp_readable(i, now);
            }
            w.reschedule(i);
        }
        w.fire_timers(now);
        if w.all_registered_at.is_none() && w.meter.counters.ever_registered == w.slots.len() as u64
        {
            w.all_registered_at = Some(now);
        }
        let all_registered = w.all_registered_at.is_some();
        w.outages.observe(now, w.meter.counters.up, all_registered);
        if now >= next_tick {
            while next_tick <= now {
                next_tick += TICK;
            }
            w.ts = crate::report::timestamp::now();
            let _ = tx.send(WorkerMsg::Tick(w.report()));
        }
        let drained = now >= w.meter.stop_at + MIN_DRAIN && w.meter.counters.in_flight == 0;
        if drained || now >= w.drain_deadline || w.abort.load(Ordering::Relaxed) {
            break;
        }
    }
    w.finish();
    let _ = tx.send(WorkerMsg::Done(w.report()));
    let until = Instant::now() + MAX_RELEASE_WAIT;
    while !w.release.load(Ordering::Acquire) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

impl Worker {
    fn new(plan: WorkerPlan) -> io::Result<Self> {
        let WorkerPlan {
            id,
            devices,
            hub_tcp,
            hub_udp,
            measure_from,
            stop_at,
            drain_deadline,
            epoch,
            wave_sent_ns,
            abort,
            max_lag,
            release,
        } = plan;
        let outages = OutageTracker::new(devices.len());
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let connector = Connector::spawn(format!("lg-connect-{id}"), hub_tcp, hub_udp, waker)?;
        Ok(Worker {
            plan_id: id,
            poll,
            slots: devices
                .into_iter()
                .map(|s| Slot {
                    dev: s.device,
                    source: s.source,
                    tcp: None,
                    udp: None,
                    framer: LineFramer::new(MAX_LINE),
                    out: Vec::new(),
                    scheduled: None,
                })
                .collect(),
            heap: BinaryHeap::new(),
            meter: Meter {
                counters: Counters::default(),
                lat: Latencies::new(),
                measure_from,
                stop_at,
                samples: Samples::default(),
                max_lag,
            },
            connector,
            epoch,
            drain_deadline,
            wave_sent_ns,
            abort,
            release,
            ts: crate::report::timestamp::now(),
            all_registered_at: None,
            outages,
            rbuf: Box::new([0; READ_BUF]),
            sbatch: SendBatch::new(),
            souts: Vec::with_capacity(SEND_BATCH),
            rbatch: RecvBatch::new(),
        })
    }

    /// What the main thread gets now: the cumulative counters, the
    /// histograms recorded since the last report (taken: each sample is
    /// shipped once), the outages closed since the last report, the one in
    /// progress, and the evidence so far.
    fn report(&mut self) -> Report {
        Report {
            worker: self.plan_id,
            counters: self.meter.counters,
            lat: Box::new(std::mem::take(&mut self.meter.lat)),
            all_registered_at: self.all_registered_at,
            outages: self.outages.take_closed(),
            outage_open_since: self.outages.open_since(),
            samples: self.meter.samples.clone(),
        }
    }

    fn ctx_parts(&mut self, i: usize) -> (&mut Slot, Ctx<'_>) {
        (&mut self.slots[i], self.meter.ctx())
    }

    fn wave_sent(&self) -> Option<Instant> {
        match self.wave_sent_ns.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.epoch + Duration::from_nanos(ns)),
        }
    }

    fn reschedule(&mut self, i: usize) {
        let slot = &mut self.slots[i];
        let wake = slot.dev.next_wake();
        if wake != slot.scheduled {
            slot.scheduled = wake;
            if let Some(t) = wake {
                self.heap.push(Reverse((t, i as u32)));
            }
        }
    }

    /// Runs at most [`TIMER_BATCH`] due timers; the rest wait for the next
    /// pass (the loop then polls without sleeping).
    fn fire_timers(&mut self, now: Instant) {
        let mut budget = TIMER_BATCH;
        while let Some(&Reverse((t, i))) = self.heap.peek() {
            if t > now || budget == 0 {
                break;
            }
            budget -= 1;
            self.heap.pop();
            let i = i as usize;
            if self.slots[i].scheduled != Some(t) {
                continue; // stale entry
            }
            self.slots[i].scheduled = None;
            self.service(i, now);
            self.reschedule(i);
        }
    }

    /// A device's timer: connect if due, run its data channel.
    fn service(&mut self, i: usize, now: Instant) {
        let (slot, mut ctx) = self.ctx_parts(i);
        let due = slot.dev.poll_connect(now, &mut ctx);
        if due {
            let slot = &self.slots[i];
            let r = Request {
                slot: i as u32,
                udp: slot.udp.is_none(),
                source: slot.source,
            };
            if !self.connector.open(r) {
                let (slot, mut ctx) = self.ctx_parts(i);
                slot.dev.on_connect_failed(now, &mut ctx);
            }
        }
        self.pump_datagrams(i, now);
    }

    /// Generates every datagram the device has due (up to [`SEND_BATCH`]),
    /// then sends them: one `send` for one, one `sendmmsg` for several.
    /// Each datagram is tried once and reported with its own outcome, as
    /// one `send` each would; the reports follow the whole batch's
    /// generation (the device accounts for that, see `Device::datagram_sent`).
    fn pump_datagrams(&mut self, i: usize, now: Instant) {
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

    /// Takes every device the connector has opened: registers its sockets
    /// with this worker's poll (a connect that already completed shows up
    /// as the first readiness event), or counts the connect failed.
    fn take_opened(&mut self, now: Instant) {
        while let Some(o) = self.connector.take() {
            let i = o.slot as usize;
            self.install_or_fail(o, now);
            self.reschedule(i);
        }
    }

    fn install_or_fail(&mut self, o: Opened, now: Instant) {
        let i = o.slot as usize;
        if let Err(_e) = self.install(o) {
            let (slot, mut ctx) = self.ctx_parts(i);
            slot.dev.on_connect_failed(now, &mut ctx);
        }
    }

    fn install(&mut self, o: Opened) -> io::Result<()> {
        let i = o.slot as usize;
        let slot = &mut self.slots[i];
        if let Some(udp) = o.udp {
            let mut udp = UdpSocket::from_std(udp?);
            self.poll
                .registry()
                .register(&mut udp, udp_token(i), Interest::READABLE)?;
            slot.udp = Some(udp);
        }
        let mut tcp = TcpStream::from_std(o.tcp?);
        self.poll.registry().register(
            &mut tcp,
            tcp_token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        slot.tcp = Some(tcp);
        slot.framer = LineFramer::new(MAX_LINE);
        slot.out.clear();
        Ok(())
    }

    fn on_tcp_event(&mut self, i: usize, now: Instant, ready: Ready) {
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
    fn read(&mut self, i: usize, now: Instant) {
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
    fn read_chunk(&mut self, i: usize, now: Instant, wave: Option<Instant>) -> (Chunk, u32) {
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
    fn flush(&mut self, i: usize) -> bool {
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

    fn close(&mut self, i: usize, now: Instant, connect_failed: bool) {
        self.close_for(i, now, connect_failed, CloseCause::Reset);
    }

    /// A hub protocol violation: count it, keep the reason, disconnect.
    fn violation(&mut self, i: usize, now: Instant, what: &str) {
        let c = &mut self.meter.counters;
        c.hub_violations += 1;
        let name = &self.slots[i].dev.name;
        evidence::keep(&mut self.meter.samples.violations, || {
            format!("{name}: {what}")
        });
        self.close_for(i, now, false, CloseCause::Violation);
    }

    fn close_for(&mut self, i: usize, now: Instant, connect_failed: bool, cause: CloseCause) {
        let Worker {
            slots, poll, meter, ..
        } = self;
        let slot = &mut slots[i];
        if let Some(mut tcp) = slot.tcp.take() {
            let _ = poll.registry().deregister(&mut tcp);
        }
        slot.out.clear();
        let mut ctx = meter.ctx();
        if connect_failed {
            slot.dev.on_connect_failed(now, &mut ctx);
        } else {
            slot.dev.on_closed(now, cause, &mut ctx);
        }
    }

    /// Takes every waiting datagram, [`mmsg::BATCH`] per `recvmmsg`; a
    /// batch that is not full found the queue empty and ends the drain.
    fn on_udp_readable(&mut self, i: usize, now: Instant) {
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

    fn finish(&mut self) {
        let Worker { slots, meter, .. } = self;
        for slot in slots.iter_mut() {
            let mut ctx = meter.ctx();
            slot.dev.finish(&mut ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::data::Pacing;
    use crate::device::data_for;
    use crate::report::histo::Kind;
    use crate::rng::SplitMix64;

    const SEC: Duration = Duration::from_secs(1);

    fn worker(t0: Instant, devices: u32) -> Worker {
        // Never connected to: building a worker opens no socket.
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let pacing = Pacing::Closed { interval: SEC };
        let devices = (0..devices)
            .map(|i| DeviceSpec {
                device: Device::new(
                    format!("Sensor{i}").into(),
                    "temperature".into(),
                    t0,
                    SplitMix64::new(1, u64::from(i)),
                    data_for(pacing, 10, 5 * SEC, 0.0),
                ),
                source: None,
            })
            .collect();
        Worker::new(WorkerPlan {
            id: 3,
            devices,
            hub_tcp: addr,
            hub_udp: addr,
            measure_from: t0,
            stop_at: t0 + 10 * SEC,
            drain_deadline: t0 + 20 * SEC,
            epoch: t0,
            wave_sent_ns: Default::default(),
            abort: Default::default(),
            max_lag: SEC,
            release: Default::default(),
        })
        .expect("a poll instance")
    }

    #[test]
    fn a_report_ships_histograms_and_closed_outages_once_and_counters_cumulatively() {
        let t0 = Instant::now();
        let mut w = worker(t0, 2);
        w.meter.counters.registrations = 2;
        w.meter.lat.record_us(Kind::Status, 500);
        w.meter.samples.refusals.push("Sensor0: refused".into());
        w.all_registered_at = Some(t0);
        w.outages.observe(t0, 2, true);
        w.outages.observe(t0 + SEC, 1, true);
        w.outages.observe(t0 + 2 * SEC, 2, true);
        w.outages.observe(t0 + 3 * SEC, 1, true);

        let a = w.report();
        assert_eq!(a.worker, 3);
        assert_eq!(a.counters.registrations, 2);
        assert_eq!(a.lat.get(Kind::Status).len(), 1);
        assert_eq!(a.all_registered_at, Some(t0));
        assert_eq!(a.outages, [(t0 + SEC, t0 + 2 * SEC)]);
        assert_eq!(a.outage_open_since, Some(t0 + 3 * SEC));
        assert_eq!(a.samples.refusals, ["Sensor0: refused"]);

        w.meter.counters.registrations = 3;
        let b = w.report();
        assert_eq!(b.counters.registrations, 3, "cumulative");
        assert_eq!(b.lat.get(Kind::Status).len(), 0, "shipped once");
        assert!(b.outages.is_empty(), "shipped once");
        assert_eq!(b.outage_open_since, Some(t0 + 3 * SEC), "still open");
        assert_eq!(b.samples.refusals, ["Sensor0: refused"], "kept whole");
    }

    #[test]
    fn a_cycle_due_at_once_goes_out_whole_and_in_order() {
        // A closed-loop cycle is due at once: its 10 datagrams take the
        // `sendmmsg` path; each arrives, in order, and each is counted sent.
        let t0 = Instant::now() - 3 * SEC;
        let mut w = worker(t0, 1);
        let hub = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        udp.connect(hub.local_addr().unwrap()).unwrap();
        udp.set_nonblocking(true).unwrap();
        w.slots[0].udp = Some(UdpSocket::from_std(udp));
        let (slot, mut ctx) = w.ctx_parts(0);
        assert!(slot.dev.poll_connect(t0, &mut ctx));
        slot.dev.on_connected(t0, &mut Vec::new(), &mut ctx);
        w.pump_datagrams(0, Instant::now());
        assert_eq!(w.meter.counters.sent, 10, "{:?}", w.meter.counters);
        assert_eq!(w.meter.counters.send_errors, 0);
        hub.set_read_timeout(Some(5 * SEC)).unwrap();
        let mut buf = [0u8; 512];
        for seq in 1..=10 {
            let n = hub.recv(&mut buf).expect("every datagram arrives");
            let d = hub::protocol::Datagram::parse(&buf[..n]).expect("a well-formed datagram");
            assert_eq!((d.name, d.seq, d.cycle), ("Sensor0", seq, Some(1)));
        }
    }

    #[test]
    fn a_batch_without_a_socket_is_counted_refused_and_its_cycle_awaits_the_timeout() {
        let t0 = Instant::now() - 3 * SEC;
        let mut w = worker(t0, 1);
        let (slot, mut ctx) = w.ctx_parts(0);
        assert!(slot.dev.poll_connect(t0, &mut ctx));
        slot.dev.on_connected(t0, &mut Vec::new(), &mut ctx);
        w.pump_datagrams(0, Instant::now());
        let c = &w.meter.counters;
        assert_eq!((c.sent, c.send_errors, c.in_flight), (0, 10, 1), "{c:?}");
    }

    #[test]
    fn a_new_worker_has_every_device_waiting_and_none_connecting() {
        let t0 = Instant::now();
        let mut w = worker(t0, 3);
        for i in 0..w.slots.len() {
            w.reschedule(i);
        }
        assert_eq!(w.heap.len(), 3);
        assert!(w.slots.iter().all(|s| !s.dev.is_connecting()));
        assert!(w.slots.iter().all(|s| s.tcp.is_none() && s.udp.is_none()));
        // A readiness event for a slot without a socket is ignored.
        w.on_tcp_event(0, t0, Ready::ANY);
        assert_eq!(w.meter.counters, Counters::default());
    }
}
