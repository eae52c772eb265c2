//! The recorder: every accepted reading into SQLite, off the event loop.
//!
//! The loop calls [`Recorder::offer`] for each reading the data plane
//! accepts; it copies the reading into a fixed-size [`Row`] and
//! `try_send`s it on a bounded channel (no allocation, never a wait). A
//! full queue drops the row and counts it. The writer thread ([`writer`])
//! commits rows in batches, by count ([`BATCH_ROWS`]) or age
//! ([`BATCH_INTERVAL`]), applies retention in small steps, and answers
//! `history` queries, whose replies go back on a channel with a wake of
//! the loop's `Waker`.
//!
//! Accounting, exact once the queue is drained (at shutdown, or whenever
//! `in_flight` is 0): `accepted = written + dropped_queue_full + write_errors`.

pub mod row;
pub mod schema;
pub mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender, TryRecvError, TrySendError};
use mio::Waker;
use serde::{Deserialize, Serialize};

pub use row::{unix_us_now, HistoryRow, Row};
use writer::Writer;

use crate::protocol::Datagram;

/// Rows queued for the writer. At ~200 bytes a row this is ~13 MB, about
/// 13 s of 5,000 devices at 1 reading/s: room for a slow disk, yet bounded.
pub const RECORDER_QUEUE: usize = 65_536;

/// A batch is committed once it holds this many rows…
///
/// Large on purpose: every row also lands in the "device, newest first"
/// index, on its device's leaf page, and a commit writes each page it
/// dirtied to the WAL whole. With thousands of devices a small batch
/// writes about one 4 KiB page per row; 32,768 rows over 5,000 devices
/// put several rows on each page (measured: 4,096-row batches managed
/// ~20k rows/s at 1M rows, see bench-results).
pub const BATCH_ROWS: usize = 32_768;

/// …or once its oldest row is this old (rows are visible to `history`
/// at once: a query commits the open batch first).
pub const BATCH_INTERVAL: Duration = Duration::from_secs(1);

/// With a batch open, the writer looks at the queue this often (rather
/// than being woken per row).
pub const DRAIN_EVERY: Duration = Duration::from_millis(10);

/// Rows the writer takes from the queue per turn at most (two batches).
const DRAIN_PER_TURN: usize = 2 * BATCH_ROWS;

/// Retention runs this often when it found nothing more to delete.
pub const RETENTION_EVERY: Duration = Duration::from_secs(10);

/// Default retention (`--recorder-keep`).
pub const RECORDER_KEEP: Duration = Duration::from_secs(7 * 86_400);

/// Rows a `history` reply carries at most, whatever `limit=` asks.
pub const MAX_HISTORY_ROWS: usize = 1_000;

/// `history` queries waiting for the writer; more are refused ("busy").
pub const HISTORY_QUEUE: usize = 16;

/// A write error within this long makes `/healthz` report the recorder
/// unhealthy.
pub const ERROR_HEALTH_WINDOW: Duration = Duration::from_secs(10);

/// Where and how the recorder writes.
#[derive(Debug, Clone)]
pub struct RecorderConfig {
    pub path: PathBuf,
    /// Rows older than this are deleted; `None` keeps everything.
    pub keep: Option<Duration>,
    pub queue: usize,
}

/// Counters shared by the loop (offers) and the writer thread (outcomes).
#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub dropped_queue_full: AtomicU64,
    pub written: AtomicU64,
    pub write_errors: AtomicU64,
    pub batches: AtomicU64,
    pub retention_deleted: AtomicU64,
    pub queries: AtomicU64,
    /// Rows in the writer's uncommitted batch.
    pub pending: AtomicU64,
    pub open: AtomicBool,
    pub last_commit_us: AtomicI64,
    pub last_error_us: AtomicI64,
    last_error: Mutex<Option<String>>,
}

impl Counters {
    fn set_error(&self, e: String) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(e);
        }
    }
}

/// The recorder's counters, as `stats` shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecorderStats {
    pub path: String,
    /// Readings offered (every reading the data plane accepted).
    pub accepted: u64,
    pub written: u64,
    pub dropped_queue_full: u64,
    pub write_errors: u64,
    /// accepted − written − dropped − errors: queued or in the open batch.
    pub in_flight: u64,
    pub queue_depth: u64,
    pub queue_capacity: u64,
    pub batches: u64,
    pub retention_deleted: u64,
    pub history_queries: u64,
    pub db_open: bool,
    /// Seconds since the last commit while rows wait (0 when none wait).
    pub lag_s: f64,
    pub last_error: Option<String>,
    /// Seconds since the last failed write, if any.
    pub last_error_age_s: Option<f64>,
}

impl RecorderStats {
    /// Why the recorder is not keeping up, if it is not.
    pub fn unhealthy(&self) -> Option<String> {
        if !self.db_open {
            return Some(format!(
                "recorder database not open: {}",
                self.last_error.as_deref().unwrap_or("?")
            ));
        }
        if self
            .last_error_age_s
            .is_some_and(|a| a < ERROR_HEALTH_WINDOW.as_secs_f64())
        {
            return Some(format!(
                "recorder write failed {:.1} s ago: {}",
                self.last_error_age_s.unwrap_or(0.0),
                self.last_error.as_deref().unwrap_or("?")
            ));
        }
        if self.queue_depth * 2 > self.queue_capacity {
            return Some(format!(
                "recorder queue {}/{} rows",
                self.queue_depth, self.queue_capacity
            ));
        }
        None
    }
}

/// A `history` request; `tag` routes the reply back to its asker.
#[derive(Debug, Clone)]
pub struct Query {
    pub tag: u64,
    pub device: String,
    pub since_us: i64,
    pub limit: usize,
}

/// The answer to a [`Query`].
#[derive(Debug, Clone)]
pub struct Answer {
    pub tag: u64,
    pub device: String,
    pub rows: Result<Vec<HistoryRow>, String>,
}

/// Why a query was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryRefused {
    Busy,
    Stopped,
}

/// The loop's handle on the recorder thread.
pub struct Recorder {
    rows: Option<Sender<Row>>,
    queries: Option<Sender<Query>>,
    answers: Receiver<Answer>,
    counters: Arc<Counters>,
    cfg: RecorderConfig,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// Starts the writer thread. Only failing to spawn it is an error; a
    /// database that cannot be opened is reported in the stats and retried.
    pub fn start(cfg: RecorderConfig, waker: Arc<Waker>) -> std::io::Result<Recorder> {
        let (row_tx, row_rx) = bounded(cfg.queue.max(1));
        let (q_tx, q_rx) = bounded(HISTORY_QUEUE);
        let (a_tx, a_rx) = bounded(2 * HISTORY_QUEUE);
        let counters = Arc::new(Counters::default());
        let thread = {
            let counters = counters.clone();
            let cfg = cfg.clone();
            std::thread::Builder::new()
                .name("hub-recorder".into())
                .spawn(move || run(cfg, counters, row_rx, q_rx, a_tx, waker))?
        };
        Ok(Recorder {
            rows: Some(row_tx),
            queries: Some(q_tx),
            answers: a_rx,
            counters,
            cfg,
            thread: Some(thread),
        })
    }

    /// Offers one accepted reading; never blocks, never allocates.
    pub fn offer(&self, d: &Datagram<'_>, hub_us: i64) {
        let c = &self.counters;
        c.accepted.fetch_add(1, Ordering::Relaxed);
        let Some(tx) = &self.rows else {
            c.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match tx.try_send(Row::of(d, hub_us)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                c.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Hands a `history` query to the writer thread.
    pub fn query(&self, q: Query) -> Result<(), QueryRefused> {
        let tx = self.queries.as_ref().ok_or(QueryRefused::Stopped)?;
        match tx.try_send(q) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(QueryRefused::Busy),
            Err(TrySendError::Disconnected(_)) => Err(QueryRefused::Stopped),
        }
    }

    /// Answers ready for the loop (after a wake).
    pub fn answers(&self) -> impl Iterator<Item = Answer> + '_ {
        self.answers.try_iter()
    }

    /// A handle that reads the counters from anywhere, also after the hub
    /// has stopped (when they are final: everything queued was committed).
    pub fn probe(&self) -> RecorderProbe {
        RecorderProbe {
            counters: self.counters.clone(),
            cfg: self.cfg.clone(),
        }
    }

    /// The counters now.
    pub fn stats(&self) -> RecorderStats {
        let queue_depth = self.rows.as_ref().map_or(0, |t| t.len() as u64);
        stats_of(&self.counters, &self.cfg, queue_depth)
    }

    /// Stops taking rows, lets the writer commit everything queued, and
    /// joins it.
    pub fn close(&mut self) {
        self.rows.take();
        self.queries.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.close();
    }
}

/// Reads a recorder's counters without the recorder (see [`Recorder::probe`]).
#[derive(Debug, Clone)]
pub struct RecorderProbe {
    counters: Arc<Counters>,
    cfg: RecorderConfig,
}

impl RecorderProbe {
    /// The counters now (the queue depth is not known here: 0).
    pub fn stats(&self) -> RecorderStats {
        stats_of(&self.counters, &self.cfg, 0)
    }
}

fn stats_of(c: &Counters, cfg: &RecorderConfig, queue_depth: u64) -> RecorderStats {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    // `accepted` is read last so in-flight never goes negative.
    let written = get(&c.written);
    let dropped = get(&c.dropped_queue_full);
    let errors = get(&c.write_errors);
    let accepted = get(&c.accepted);
    let in_flight = accepted.saturating_sub(written + dropped + errors);
    let now_us = unix_us_now();
    let age = |us: i64| (now_us - us).max(0) as f64 / 1e6;
    let last_commit = c.last_commit_us.load(Ordering::Relaxed);
    let last_error_us = c.last_error_us.load(Ordering::Relaxed);
    RecorderStats {
        path: cfg.path.display().to_string(),
        accepted,
        written,
        dropped_queue_full: dropped,
        write_errors: errors,
        in_flight,
        queue_depth,
        queue_capacity: cfg.queue as u64,
        batches: get(&c.batches),
        retention_deleted: get(&c.retention_deleted),
        history_queries: get(&c.queries),
        db_open: c.open.load(Ordering::Relaxed),
        lag_s: if in_flight == 0 || last_commit == 0 {
            0.0
        } else {
            age(last_commit)
        },
        last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
        last_error_age_s: (last_error_us != 0).then(|| age(last_error_us)),
    }
}

fn run(
    cfg: RecorderConfig,
    counters: Arc<Counters>,
    rows: Receiver<Row>,
    queries: Receiver<Query>,
    answers: Sender<Answer>,
    waker: Arc<Waker>,
) {
    let mut w = Writer::new(cfg.path.clone(), counters.clone(), Instant::now());
    let mut batch_since: Option<Instant> = None;
    let mut next_retention = Instant::now();
    let mut queries_open = true;
    let (no_rows, no_queries) = (crossbeam_channel::never(), crossbeam_channel::never());
    loop {
        let now = Instant::now();
        // Idle, the writer blocks on the row queue too, so the first row of
        // a batch wakes it (once). With a batch open it waits on queries
        // only and polls the queue every DRAIN_EVERY: the loop's `try_send`
        // then never finds a parked receiver to wake, so a row costs the
        // loop no system call.
        let idle = batch_since.is_none();
        let rows_rx = if idle { &rows } else { &no_rows };
        let q_rx = if queries_open { &queries } else { &no_queries };
        let timeout = if idle {
            next_retention
                .saturating_duration_since(now)
                .min(BATCH_INTERVAL)
        } else {
            DRAIN_EVERY
        };
        select! {
            recv(rows_rx) -> r => match r {
                Ok(row) => {
                    batch_since = Some(now);
                    w.push(row);
                }
                Err(_) => {
                    // The loop closed: every queued row has been received.
                    w.flush(Instant::now());
                    return;
                }
            },
            recv(q_rx) -> q => match q {
                Ok(q) => {
                    counters.queries.fetch_add(1, Ordering::Relaxed);
                    // Rows offered before the query are in the queue: take
                    // them, so the answer includes them.
                    for row in rows.try_iter() {
                        w.push(row);
                    }
                    let rows = w.history(Instant::now(), &q.device, q.since_us, q.limit);
                    batch_since = None;
                    let a = Answer { tag: q.tag, device: q.device, rows };
                    // Bounded: a loop that has stopped draining cannot hold
                    // the writer (and its rows) for more than a second.
                    if answers.send_timeout(a, Duration::from_secs(1)).is_ok() {
                        let _ = waker.wake();
                    }
                }
                Err(_) => queries_open = false,
            },
            default(timeout) => {}
        }
        // Take what is queued, committing full batches as they fill; a
        // bounded amount per turn so queries and retention still get turns.
        for _ in 0..DRAIN_PER_TURN {
            match rows.try_recv() {
                Ok(row) => {
                    batch_since.get_or_insert_with(Instant::now);
                    w.push(row);
                    if w.pending() >= BATCH_ROWS {
                        w.flush(Instant::now());
                        batch_since = None;
                    }
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    w.flush(Instant::now());
                    return;
                }
            }
        }
        let now = Instant::now();
        if batch_since.is_some_and(|t| now.saturating_duration_since(t) >= BATCH_INTERVAL) {
            w.flush(now);
        }
        if w.pending() == 0 {
            batch_since = None;
        }
        if now >= next_retention {
            let more = match cfg.keep {
                Some(keep) => w.retention_step(now, unix_us_now() - keep.as_micros() as i64),
                None => false,
            };
            // A backlog is deleted a batch per turn, between commits.
            next_retention = if more { now } else { now + RETENTION_EVERY };
        }
    }
}

#[cfg(test)]
mod tests;
