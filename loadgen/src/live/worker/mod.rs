//! One worker thread: a mio `Poll` over a shard of devices plus a timer heap
//! of their next wake-ups. The loop only moves bytes: readiness events and
//! due timers become calls on the sans-IO [`Device`]s, whose answers
//! (registration, ACKs, datagrams) are written here. Once a second the
//! worker sends its counters and histograms to the main thread
//! ([`WorkerMsg::Tick`]); after the run it drains pending STATUSes until
//! none are in flight or the drain deadline passes, then sends
//! [`WorkerMsg::Done`].
//!
//! Here: the plan, the loop, the timers and the device slots; `tcp` the
//! control connection's readiness and closing, `udp` the data channel's
//! sends and STATUS replies, [`super::connector`] opens both
//! sockets on its own thread.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use mio::net::{TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use super::connector::{Connector, Opened, Request};
use super::mmsg::{self, RecvBatch, SendBatch};
use crate::device::data::Outgoing;
use crate::device::{Ctx, Device};
use crate::report::accounting::Counters;
use crate::report::evidence::Samples;
use crate::report::histo::Latencies;
use crate::report::outage::OutageTracker;
use crate::stages::clock::StageClock;
use hub::limits::MAX_LINE;
use hub::protocol::LineFramer;
use tcp::Ready;

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

mod tcp;
mod udp;
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
    /// With `--stages`: the stage every count and sample of this report
    /// was taken in (`None`: the warm-up, or no stages).
    pub stage: Option<usize>,
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
    /// `--stages`: their boundaries, so reports never straddle one.
    pub stages: Option<StageClock>,
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
    stage_clock: Option<StageClock>,
    /// The stage the counts since the last report were taken in.
    stage: Option<usize>,
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
        w.cross_stage(now, &tx);
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
        // A device out by the stage target is no outage.
        let present = w.meter.counters.up + w.meter.counters.stage_out;
        w.outages.observe(now, present, all_registered);
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
            stages,
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
            stage_clock: stages,
            stage: None,
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
            stage: self.stage,
        }
    }

    /// Stages: before handling anything at `now`, reports what the stage
    /// that ended holds, so every report's counts belong to one stage.
    fn cross_stage(&mut self, now: Instant, tx: &Sender<WorkerMsg>) {
        let Some(clock) = &self.stage_clock else {
            return;
        };
        let s = clock.phase_at(now);
        if s != self.stage {
            let _ = tx.send(WorkerMsg::Tick(self.report()));
            self.stage = s;
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
        if self.slots[i].dev.poll_stage(now) {
            self.leave(i);
        }
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

    fn finish(&mut self) {
        let Worker { slots, meter, .. } = self;
        for slot in slots.iter_mut() {
            let mut ctx = meter.ctx();
            slot.dev.finish(&mut ctx);
        }
    }
}

#[cfg(test)]
mod tests;
