//! The event log (`server_log.txt`): one timestamped line per event, written
//! by a thread of its own so that a slow or failing disk never stalls the
//! event loop.
//!
//! The loop hands finished lines to a bounded channel ([`EventLog::line`]);
//! when the channel is full the line is dropped and counted. The writer
//! flushes at least every [`LOG_FLUSH`], and flushes and fsyncs when the log
//! is closed. Write errors are counted and the last one kept, for `stats`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender, TrySendError};
use serde::Serialize;

use crate::limits::{LOG_FLUSH, LOG_QUEUE};
use crate::timefmt::write_rfc3339;

/// Counters shared between the loop and the writer thread.
#[derive(Debug, Default)]
pub struct LogCounters {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub errors: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// A snapshot of [`LogCounters`] for `stats`.
#[derive(Debug, Clone, Serialize)]
pub struct LogStats {
    pub written: u64,
    pub dropped: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}

/// Handle to the writer thread.
pub struct EventLog {
    tx: Option<Sender<String>>,
    counters: Arc<LogCounters>,
    thread: Option<JoinHandle<()>>,
}

impl EventLog {
    /// Opens (appends to) `path` and starts the writer.
    pub fn open(path: &Path) -> io::Result<EventLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = bounded::<String>(LOG_QUEUE);
        let counters = Arc::new(LogCounters::default());
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name("hub-log".into())
            .spawn(move || writer(file, rx, c))?;
        Ok(EventLog {
            tx: Some(tx),
            counters,
            thread: Some(thread),
        })
    }

    /// Timestamps `event` and queues it; never blocks.
    pub fn line(&self, event: &dyn std::fmt::Display) {
        let mut s = String::with_capacity(96);
        write_rfc3339(&mut s, SystemTime::now());
        s.push(' ');
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{event}\n"));
        if let Some(tx) = &self.tx {
            match tx.try_send(s) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    pub fn stats(&self) -> LogStats {
        let c = &self.counters;
        LogStats {
            written: c.written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            last_error: c.last_error.lock().map(|e| e.clone()).unwrap_or(None),
        }
    }

    /// Flushes, fsyncs and stops the writer.
    pub fn close(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer(file: File, rx: crossbeam_channel::Receiver<String>, c: Arc<LogCounters>) {
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let mut last_flush = Instant::now();
    let fail = |e: io::Error| {
        c.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = c.last_error.lock() {
            *last = Some(e.to_string());
        }
    };
    loop {
        let wait = LOG_FLUSH.saturating_sub(last_flush.elapsed());
        match rx.recv_timeout(wait) {
            Ok(line) => match out.write_all(line.as_bytes()) {
                Ok(()) => {
                    c.written.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => fail(e),
            },
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_flush.elapsed() >= LOG_FLUSH {
            if let Err(e) = out.flush() {
                fail(e);
            }
            last_flush = Instant::now();
        }
    }
    if let Err(e) = out.flush() {
        fail(e);
    }
    if let Err(e) = out.get_ref().sync_all() {
        fail(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_timestamped_and_synced_on_close() {
        let dir = std::env::temp_dir().join(format!("hub-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.txt");
        let _ = std::fs::remove_file(&path);
        let mut log = EventLog::open(&path).unwrap();
        log.line(&"REGISTER device=S1");
        log.line(&"ACK device=S1");
        log.close();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with("Z REGISTER device=S1"), "{}", lines[0]);
        assert_eq!(log.stats().written, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_disk_is_counted_not_fatal() {
        let Ok(mut log) = EventLog::open(Path::new("/dev/full")) else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true and /dev/full cannot be opened"
            );
            return; // no /dev/full on this system
        };
        log.line(&"x");
        log.close();
        let s = log.stats();
        assert!(s.errors >= 1, "{s:?}");
        assert!(s.last_error.is_some());
    }
}
