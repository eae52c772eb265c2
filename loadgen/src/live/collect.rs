//! The main thread's side of the workers: one [`WorkerState`] per worker
//! (its thread, its latest cumulative counters, when its shard was all
//! registered, its open outage, its evidence, whether it is done) and what
//! the fleet shares (merged histograms, closed outage spans). Workers send
//! cumulative counters and per-tick histograms ([`WorkerMsg`]); a worker's
//! messages after its `Done` are ignored. No I/O: messages in, fleet
//! figures out.

use std::io;
use std::thread::JoinHandle;
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::live::worker::{Report, WorkerMsg};
use crate::report::accounting::Counters;
use crate::report::evidence::Samples;
use crate::report::histo::{new_histogram, Kind, Latencies};
use crate::report::outage::{self, OutageSummary};
use crate::report::timeline::p99;
use crate::stages::clock::Tally;

/// What the main thread knows of one worker.
#[derive(Default)]
pub struct WorkerState {
    /// Its thread, once spawned (joined at the end if every worker is done).
    pub thread: Option<JoinHandle<io::Result<()>>>,
    /// Its latest cumulative counters.
    pub counters: Counters,
    /// When the last device of its shard first registered.
    pub all_registered_at: Option<Instant>,
    /// Start of its shard's outage in progress.
    pub outage_open_since: Option<Instant>,
    /// Its evidence so far (each report carries all of it).
    pub samples: Samples,
    /// It sent `Done`.
    pub done: bool,
}

/// Everything the main thread collects from the workers.
pub struct Collector {
    workers: Vec<WorkerState>,
    lat: Latencies,
    /// STATUS latencies of the second being sampled (the timeline's p99).
    second_status: Histogram<u64>,
    /// Closed outage spans of every shard.
    outage_spans: Vec<(Instant, Instant)>,
    /// `--stages`: counters at each boundary, histograms per stage.
    stages: Option<Tally>,
}

impl Collector {
    /// A collector for `n` workers, none heard from yet.
    pub fn new(n: usize) -> Self {
        Collector {
            workers: (0..n).map(|_| WorkerState::default()).collect(),
            lat: Latencies::new(),
            second_status: new_histogram(),
            outage_spans: Vec::new(),
            stages: None,
        }
    }

    /// Also keeps the figures of `n` stages.
    pub fn with_stages(mut self, n: usize) -> Self {
        self.stages = Some(Tally::new(self.workers.len(), n));
        self
    }

    /// The stages' tally (`None` without stages).
    pub fn take_stages(&mut self) -> Option<Tally> {
        self.stages.take()
    }

    /// Keeps worker `id`'s thread, to be joined at the end.
    pub fn spawned(&mut self, id: usize, thread: JoinHandle<io::Result<()>>) {
        self.workers[id].thread = Some(thread);
    }

    /// Takes in one worker message.
    pub fn absorb(&mut self, msg: WorkerMsg) {
        let (r, fin) = match msg {
            WorkerMsg::Tick(r) => (r, false),
            WorkerMsg::Done(r) => (r, true),
        };
        let Report {
            worker,
            counters,
            lat,
            all_registered_at,
            outages,
            outage_open_since,
            samples,
            stage,
        } = r;
        let w = &mut self.workers[worker];
        if w.done {
            return;
        }
        if let Some(t) = &mut self.stages {
            t.absorb(worker, stage, &counters, &lat);
        }
        w.counters = counters;
        w.all_registered_at = all_registered_at;
        self.outage_spans.extend_from_slice(&outages);
        w.outage_open_since = outage_open_since;
        w.samples = samples;
        self.lat.merge(&lat);
        let _ = self.second_status.add(lat.get(Kind::Status));
        w.done |= fin;
    }

    /// Every worker sent `Done`.
    pub fn all_done(&self) -> bool {
        self.workers.iter().all(|w| w.done)
    }

    /// How many workers sent `Done`.
    pub fn reported(&self) -> u64 {
        self.workers.iter().filter(|w| w.done).count() as u64
    }

    /// The fleet's counters: the sum of each worker's latest.
    pub fn totals(&self) -> Counters {
        let mut t = Counters::default();
        self.workers.iter().for_each(|w| t.add(&w.counters));
        t
    }

    /// Every histogram merged so far.
    pub fn latencies(&self) -> &Latencies {
        &self.lat
    }

    /// The p99 STATUS latency (µs) of the second since the last
    /// [`next_second`](Self::next_second).
    pub fn second_status_p99(&self) -> u64 {
        p99(&self.second_status)
    }

    /// Starts the next second of the timeline.
    pub fn next_second(&mut self) {
        self.second_status.reset();
    }

    /// Milliseconds from `start` until every shard was all registered, if
    /// every one was.
    pub fn time_to_register_all_ms(&self, start: Instant) -> Option<u64> {
        self.fleet_registered_at()
            .map(|t| t.saturating_duration_since(start).as_millis() as u64)
    }

    /// The fleet's outages, counted from its first full registration to
    /// `stop_at` (an outage still open counts until `stop_at`); `None` when
    /// the fleet was never all registered.
    pub fn outages(&mut self, stop_at: Instant) -> Option<OutageSummary> {
        let from = self.fleet_registered_at()?;
        let open = self.workers.iter().filter_map(|w| w.outage_open_since);
        self.outage_spans.extend(open.map(|s| (s, stop_at)));
        Some(outage::summarize(&mut self.outage_spans, from, stop_at))
    }

    /// Every worker's evidence, merged (capped like each list).
    pub fn evidence(&self) -> Samples {
        let mut e = Samples::default();
        self.workers.iter().for_each(|w| e.merge(&w.samples));
        e
    }

    /// Joins the worker threads when every worker is done (a worker still
    /// running past the hard stop is left behind, not waited for).
    pub fn join_if_all_done(&mut self) {
        if !self.all_done() {
            return;
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }

    /// The merged histograms, for the report.
    pub fn into_latencies(self) -> Latencies {
        self.lat
    }

    /// When the last shard was all registered (`None` if one never was).
    fn fleet_registered_at(&self) -> Option<Instant> {
        self.workers
            .iter()
            .map(|w| w.all_registered_at)
            .collect::<Option<Vec<Instant>>>()
            .and_then(|v| v.into_iter().max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn report(worker: usize, registrations: u64) -> Report {
        Report {
            worker,
            counters: Counters {
                registrations,
                ..Counters::default()
            },
            lat: Box::new(Latencies::new()),
            all_registered_at: None,
            outages: Vec::new(),
            outage_open_since: None,
            samples: Samples::default(),
            stage: None,
        }
    }

    #[test]
    fn totals_sum_each_workers_latest_cumulative_counters() {
        let mut c = Collector::new(2);
        c.absorb(WorkerMsg::Tick(report(0, 3)));
        c.absorb(WorkerMsg::Tick(report(1, 5)));
        // Cumulative: a later tick replaces, never adds.
        c.absorb(WorkerMsg::Tick(report(0, 4)));
        assert_eq!(c.totals().registrations, 9);
        assert!(!c.all_done());
        assert_eq!(c.reported(), 0);
    }

    #[test]
    fn a_worker_is_done_at_its_done_and_later_messages_are_ignored() {
        let mut c = Collector::new(2);
        c.absorb(WorkerMsg::Done(report(1, 5)));
        assert_eq!(c.reported(), 1);
        assert!(!c.all_done());
        let mut late = report(1, 50);
        late.lat.record_us(Kind::Status, 10);
        c.absorb(WorkerMsg::Tick(late));
        assert_eq!(c.totals().registrations, 5);
        assert_eq!(c.latencies().get(Kind::Status).len(), 0);
        c.absorb(WorkerMsg::Done(report(0, 1)));
        assert!(c.all_done());
        assert_eq!(c.reported(), 2);
        assert_eq!(c.totals().registrations, 6);
    }

    #[test]
    fn histograms_merge_and_the_seconds_status_p99_resets() {
        let mut c = Collector::new(2);
        let mut a = report(0, 0);
        a.lat.record_us(Kind::Status, 1000);
        let mut b = report(1, 0);
        b.lat.record_us(Kind::Status, 1000);
        b.lat.record_us(Kind::Connect, 7);
        c.absorb(WorkerMsg::Tick(a));
        c.absorb(WorkerMsg::Tick(b));
        assert_eq!(c.latencies().get(Kind::Status).len(), 2);
        assert_eq!(c.latencies().get(Kind::Connect).len(), 1);
        let p = c.second_status_p99();
        assert!((990..=1010).contains(&p), "{p}");
        c.next_second();
        assert_eq!(c.second_status_p99(), 0);
        // The run's histograms keep everything.
        assert_eq!(c.into_latencies().get(Kind::Status).len(), 2);
    }

    #[test]
    fn a_staged_collector_tallies_reports_by_their_stage() {
        let mut c = Collector::new(2).with_stages(2);
        let mut a = report(0, 4);
        a.stage = Some(1);
        a.lat.record_us(Kind::Status, 500);
        c.absorb(WorkerMsg::Tick(a));
        let mut b = report(1, 3);
        b.stage = Some(0);
        c.absorb(WorkerMsg::Tick(b));
        let t = c.take_stages().expect("stages kept");
        let regs: Vec<u64> = t.ends().iter().map(|e| e.registrations).collect();
        assert_eq!(regs, [0, 3, 7]);
        assert_eq!(t.latencies(1).get(Kind::Status).len(), 1);
        assert!(Collector::new(1).take_stages().is_none());
    }

    #[test]
    fn the_fleet_is_registered_when_its_last_shard_is() {
        let t0 = Instant::now();
        let mut c = Collector::new(2);
        let mut a = report(0, 0);
        a.all_registered_at = Some(t0 + Duration::from_millis(300));
        c.absorb(WorkerMsg::Tick(a));
        assert_eq!(c.time_to_register_all_ms(t0), None);
        assert!(c.outages(t0 + Duration::from_secs(9)).is_none());
        let mut b = report(1, 0);
        b.all_registered_at = Some(t0 + Duration::from_millis(700));
        c.absorb(WorkerMsg::Tick(b));
        assert_eq!(c.time_to_register_all_ms(t0), Some(700));
    }

    #[test]
    fn outages_are_the_union_of_shards_and_an_open_one_lasts_to_the_stop() {
        let t0 = Instant::now();
        let s = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = Collector::new(2);
        let mut a = report(0, 0);
        a.all_registered_at = Some(s(100));
        a.outages = vec![(s(1000), s(1500))];
        let mut b = report(1, 0);
        b.all_registered_at = Some(s(200));
        // Overlaps worker 0's outage: one fleet outage 1000..1800.
        b.outages = vec![(s(1200), s(1800))];
        b.outage_open_since = Some(s(4000));
        c.absorb(WorkerMsg::Tick(a));
        c.absorb(WorkerMsg::Tick(b));
        let o = c.outages(s(5000)).expect("the fleet registered");
        assert_eq!(o.count, 2);
        assert_eq!(o.longest, Duration::from_millis(1000));
        assert_eq!(o.total, Duration::from_millis(1800));
    }

    #[test]
    fn evidence_merges_every_workers_latest() {
        let mut c = Collector::new(2);
        let mut a = report(0, 0);
        a.samples.refusals.push("Sensor01: no".into());
        let mut b = report(1, 0);
        b.samples.violations.push("Sensor02: flood".into());
        c.absorb(WorkerMsg::Tick(a));
        c.absorb(WorkerMsg::Tick(b));
        let e = c.evidence();
        assert_eq!(e.refusals, ["Sensor01: no"]);
        assert_eq!(e.violations, ["Sensor02: flood"]);
    }

    #[test]
    fn threads_are_joined_only_when_every_worker_is_done() {
        let mut c = Collector::new(2);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        c.spawned(
            0,
            std::thread::spawn(move || {
                while !s.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(())
            }),
        );
        c.absorb(WorkerMsg::Done(report(0, 0)));
        // Worker 1 never reported: nothing is joined (this would hang).
        c.join_if_all_done();
        assert!(c.workers[0].thread.is_some());
        c.absorb(WorkerMsg::Done(report(1, 0)));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        c.join_if_all_done();
        assert!(c.workers[0].thread.is_none());
    }
}
