//! The writer thread's side: a batch of rows written in one transaction
//! through a cached prepared statement, retention in small deletes, and
//! `history` queries. It owns the only connection to the database.
//!
//! Failure never ends it: a batch that cannot be written (full disk, locked
//! or vanished file) is rolled back and counted in `write_errors`, and a
//! database that cannot be opened is retried every [`REOPEN_EVERY`].

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use rusqlite::{params, Connection};

use super::row::{unix_us_now, HistoryRow, Row};
use super::schema;
use super::Counters;

/// A database that could not be opened (or broke) is tried again this often.
pub const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// Rows one retention delete removes: small, so the writer is never held
/// up for long (a big backlog goes in many such steps).
pub const RETENTION_BATCH: i64 = 1_000;

/// The database side of the recorder.
pub struct Writer {
    path: PathBuf,
    conn: Option<Connection>,
    last_open_try: Option<Instant>,
    batch: Vec<Row>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Opens `path` (a failure is counted and retried later, never fatal).
    pub fn new(path: PathBuf, counters: Arc<Counters>, now: Instant) -> Self {
        let mut w = Writer {
            path,
            conn: None,
            last_open_try: None,
            batch: Vec::new(),
            counters,
        };
        w.ensure_open(now);
        w
    }

    /// Rows waiting for the next commit.
    pub fn pending(&self) -> usize {
        self.batch.len()
    }

    /// Queues a row for the next commit.
    pub fn push(&mut self, row: Row) {
        self.batch.push(row);
        self.counters
            .pending
            .store(self.batch.len() as u64, Ordering::Relaxed);
    }

    fn ensure_open(&mut self, now: Instant) -> bool {
        if self.conn.is_some() {
            return true;
        }
        if self
            .last_open_try
            .is_some_and(|t| now.saturating_duration_since(t) < REOPEN_EVERY)
        {
            return false;
        }
        self.last_open_try = Some(now);
        match schema::open(&self.path) {
            Ok(c) => {
                self.conn = Some(c);
                self.counters.open.store(true, Ordering::Relaxed);
                true
            }
            Err(e) => {
                self.counters.open.store(false, Ordering::Relaxed);
                self.counters.set_error(e);
                false
            }
        }
    }

    /// Writes the batch in one transaction. Rows that cannot be written
    /// are counted in `write_errors`; the batch is empty afterwards.
    pub fn flush(&mut self, now: Instant) {
        if self.batch.is_empty() {
            return;
        }
        let n = self.batch.len() as u64;
        let result = if self.ensure_open(now) {
            let conn = self.conn.as_mut().expect("opened above");
            write_batch(conn, &self.batch)
        } else {
            Err("database not open".to_string())
        };
        self.batch.clear();
        let c = &self.counters;
        match result {
            Ok(()) => {
                c.written.fetch_add(n, Ordering::Relaxed);
                c.batches.fetch_add(1, Ordering::Relaxed);
                c.last_commit_us.store(unix_us_now(), Ordering::Relaxed);
            }
            Err(e) => {
                c.write_errors.fetch_add(n, Ordering::Relaxed);
                c.last_error_us.store(unix_us_now(), Ordering::Relaxed);
                c.set_error(e);
            }
        }
        c.pending.store(0, Ordering::Relaxed);
    }

    /// Deletes at most [`RETENTION_BATCH`] rows older than `cutoff_us`.
    /// True if it may have left more to delete.
    pub fn retention_step(&mut self, now: Instant, cutoff_us: i64) -> bool {
        if !self.ensure_open(now) {
            return false;
        }
        let conn = self.conn.as_ref().expect("opened above");
        // Rows go in in receive order, so the oldest are the lowest ids: look
        // at the first RETENTION_BATCH only (no scan of the whole table).
        let last_old: rusqlite::Result<Option<i64>> = conn.query_row(
            "SELECT max(id) FROM (SELECT id, hub_us FROM readings ORDER BY id LIMIT ?1) WHERE hub_us < ?2",
            params![RETENTION_BATCH, cutoff_us],
            |r| r.get(0),
        );
        let deleted = match last_old {
            Ok(Some(id)) => conn.execute("DELETE FROM readings WHERE id <= ?1", params![id]),
            Ok(None) => Ok(0),
            Err(e) => Err(e),
        };
        match deleted {
            Ok(n) => {
                self.counters
                    .retention_deleted
                    .fetch_add(n as u64, Ordering::Relaxed);
                n as i64 >= RETENTION_BATCH
            }
            Err(e) => {
                self.counters.set_error(format!("retention: {e}"));
                false
            }
        }
    }

    /// One device's rows, newest first (the batch is committed first, so
    /// the answer includes every row accepted so far).
    pub fn history(
        &mut self,
        now: Instant,
        device: &str,
        since_us: i64,
        limit: usize,
    ) -> Result<Vec<HistoryRow>, String> {
        self.flush(now);
        if !self.ensure_open(now) {
            return Err("the recorder's database is not open".into());
        }
        let conn = self.conn.as_ref().expect("opened above");
        let mut stmt = conn
            .prepare_cached(schema::HISTORY)
            .map_err(|e| e.to_string())?;
        let rows = stmt
            .query_map(params![device, since_us, limit as i64], |r| {
                let cycle = match r.get::<_, Value>(6)? {
                    Value::Integer(i) => u64::try_from(i).ok(),
                    Value::Text(t) => t.parse().ok(),
                    _ => None,
                };
                Ok(HistoryRow {
                    device: r.get(0)?,
                    kind: r.get(1)?,
                    value: r.get(2)?,
                    device_ts: r.get(3)?,
                    hub_us: r.get(4)?,
                    seq: r.get(5)?,
                    cycle,
                })
            })
            .map_err(|e| e.to_string())?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    }
}

fn write_batch(conn: &mut Connection, batch: &[Row]) -> Result<(), String> {
    let tx = conn.transaction().map_err(|e| e.to_string())?;
    {
        let mut stmt = tx
            .prepare_cached(schema::INSERT)
            .map_err(|e| e.to_string())?;
        for r in batch {
            let cycle = match r.cycle {
                None => Value::Null,
                Some(k) => match i64::try_from(k) {
                    Ok(i) => Value::Integer(i),
                    Err(_) => Value::Text(k.to_string()),
                },
            };
            stmt.execute(params![
                r.device.as_str(),
                r.kind.as_str(),
                r.value,
                r.device_ts.as_str(),
                r.hub_us,
                r.seq,
                cycle
            ])
            .map_err(|e| e.to_string())?;
        }
    }
    // Dropping an uncommitted transaction rolls it back.
    tx.commit().map_err(|e| e.to_string())
}
