//! The event log (`server_log.txt`): one timestamped line per event, written
//! by a thread of its own so that a slow or failing disk never stalls the
//! event loop. The line grammar is in [`crate::logfield`].
//!
//! The loop hands finished lines to a channel capped at [`LOG_QUEUE`] ([`EventLog::record`]);
//! when the channel is full the line is dropped and counted. Lines of class
//! [`LogClass::Noise`] (what a peer can cause at will) are dropped once the
//! queue is half full, so a flooding peer never costs a lifecycle line
//! (REGISTER, COMMAND, ACK, DISCONNECT, SHUTDOWN).
//!
//! The writer (`writer.rs`) flushes at least every [`crate::limits::LOG_FLUSH`], and flushes and fsyncs
//! when the log is closed. At each flush it also checks that the path still
//! names the file it writes: when the file was moved or removed (logrotate's
//! `create`, or an operator's `mv`/`rm`) it opens the path again, and
//! [`EventLog::reopen`] (SIGHUP) asks for the same at once. The file is
//! opened with `O_APPEND`, so after a `copytruncate` writes go to the new
//! end of the file, never past a hole. Write errors are counted and the
//! last one kept, for `stats`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crossbeam_channel::{unbounded, Sender};
use serde::Serialize;

use crate::limits::LOG_QUEUE;

mod writer;
use crate::timefmt::write_rfc3339;
use writer::Writer;

pub use crate::control::events::LogClass;
use crate::control::Event;

/// What the loop hands the writer: a line it formatted, or a control-plane
/// event and when it happened, formatted on the writer's thread (so a
/// command or an ACK costs the loop no allocation).
pub(crate) enum LogMsg {
    Text(String),
    Event(SystemTime, Event),
}

/// Counters shared between the loop and the writer thread.
#[derive(Debug, Default)]
pub struct LogCounters {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    pub dropped_noise: AtomicU64,
    pub errors: AtomicU64,
    pub reopens: AtomicU64,
    pub truncations: AtomicU64,
    pub truncations_unverified: AtomicU64,
    pub truncation_bytes_rewritten: AtomicU64,
    /// Lines the writer took that never reached the file (a failed write:
    /// ENOSPC, EIO, …), counted line by line.
    pub lines_lost: AtomicU64,
    /// Writes are failing now (set at the first lost line, cleared by the
    /// first write that lands).
    pub losing: AtomicBool,
    /// Times writes started failing (each a gap the log will mark), so the
    /// loop sees a loss that began and ended between two of its looks.
    pub loss_starts: AtomicU64,
    /// Lines the writer added itself: one `LOG_LINES_LOST` notice each time
    /// writing resumed after a loss.
    pub notices: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

/// A snapshot of [`LogCounters`] for `stats`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct LogStats {
    pub written: u64,
    /// Every line dropped, of either class.
    pub dropped: u64,
    /// Of those, [`LogClass::Noise`] lines shed at half a queue.
    pub dropped_noise: u64,
    pub errors: u64,
    /// Times the path was opened again (SIGHUP, or the file moved/removed).
    pub reopens: u64,
    /// Times the file shrank under the writer (logrotate `copytruncate`).
    pub truncations: u64,
    /// Of those, when the copy could not be found or verified (bytes
    /// written in the copy-to-truncate window may be lost).
    pub truncations_unverified: u64,
    /// Bytes written again after a truncation because the copy missed them.
    pub truncation_bytes_rewritten: u64,
    /// Of `written` (the lines the writer took), those that never reached
    /// the file because a write failed; the file holds `written −
    /// lines_lost + notices` lines once the queue is flushed.
    #[serde(default)]
    pub lines_lost: u64,
    /// Writes are failing now.
    #[serde(default)]
    pub losing: bool,
    /// Times writes started failing (gaps in the file, one notice each).
    #[serde(default)]
    pub loss_starts: u64,
    /// `LOG_LINES_LOST` lines the writer added when writing resumed.
    #[serde(default)]
    pub notices: u64,
    pub last_error: Option<String>,
}

/// Where the log's losses stand ([`EventLog::loss`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossState {
    pub losing: bool,
    /// Times writes started failing so far.
    pub starts: u64,
    /// Lines lost so far, in all.
    pub lost: u64,
}

/// Handle to the writer thread.
pub struct EventLog {
    tx: Option<Sender<LogMsg>>,
    counters: Arc<LogCounters>,
    reopen: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl EventLog {
    /// Opens (appends to) `path` and starts the writer.
    pub fn open(path: &Path) -> io::Result<EventLog> {
        let file = open_append(path)?;
        // Unbounded in type, bounded here by [`LOG_QUEUE`] (see `send`): its
        // blocks are allocated as lines queue and freed as they drain, so an
        // idle hub holds no 65,536-slot array (about 6 MB of `LogMsg`).
        let (tx, rx) = unbounded::<LogMsg>();
        let counters = Arc::new(LogCounters::default());
        let reopen = Arc::new(AtomicBool::new(false));
        let w = Writer::new(path.to_path_buf(), file, counters.clone(), reopen.clone());
        let thread = std::thread::Builder::new()
            .name("hub-log".into())
            .spawn(move || w.run(rx))?;
        Ok(EventLog {
            tx: Some(tx),
            counters,
            reopen,
            thread: Some(thread),
        })
    }

    /// Timestamps a lifecycle `event` and queues it; never blocks.
    pub fn line(&self, event: &dyn std::fmt::Display) {
        self.record(event, LogClass::Lifecycle);
    }

    /// Timestamps `event` and queues it unless its class is shed; never blocks.
    pub fn record(&self, event: &dyn std::fmt::Display, class: LogClass) {
        if !self.admits(class) {
            return;
        }
        let mut s = String::with_capacity(96);
        write_rfc3339(&mut s, SystemTime::now());
        s.push(' ');
        let _ = std::fmt::Write::write_fmt(&mut s, format_args!("{event}\n"));
        self.send(LogMsg::Text(s));
    }

    /// Queues a control-plane event, timestamped now and formatted by the
    /// writer: nothing is allocated here. Shed like [`record`](Self::record).
    pub fn event(&self, event: Event) {
        if self.admits(event.class()) {
            self.send(LogMsg::Event(SystemTime::now(), event));
        }
    }

    /// False (and counted) when a line of `class` is to be shed now.
    fn admits(&self, class: LogClass) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        if class == LogClass::Noise && tx.len() >= LOG_QUEUE / 2 {
            self.counters.dropped_noise.fetch_add(1, Ordering::Relaxed);
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    fn send(&self, msg: LogMsg) {
        let Some(tx) = &self.tx else {
            return;
        };
        if tx.len() >= LOG_QUEUE || tx.send(msg).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether writes are failing now, how often they started to, and the
    /// lines lost so far: what the loop reports on stderr when it changes
    /// (read every tick: atomics only, no lock).
    pub fn loss(&self) -> LossState {
        let c = &self.counters;
        LossState {
            losing: c.losing.load(Ordering::Relaxed),
            starts: c.loss_starts.load(Ordering::Relaxed),
            lost: c.lines_lost.load(Ordering::Relaxed),
        }
    }

    /// The last write error, if any (kept after writing resumes).
    pub fn last_error(&self) -> Option<String> {
        self.counters
            .last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or(None)
    }

    /// Asks the writer to open the path again (logrotate's `postrotate`
    /// SIGHUP); done within one flush interval, after the lines queued so far.
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    pub fn stats(&self) -> LogStats {
        let c = &self.counters;
        LogStats {
            written: c.written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            dropped_noise: c.dropped_noise.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            reopens: c.reopens.load(Ordering::Relaxed),
            truncations: c.truncations.load(Ordering::Relaxed),
            truncations_unverified: c.truncations_unverified.load(Ordering::Relaxed),
            truncation_bytes_rewritten: c.truncation_bytes_rewritten.load(Ordering::Relaxed),
            lines_lost: c.lines_lost.load(Ordering::Relaxed),
            losing: c.losing.load(Ordering::Relaxed),
            loss_starts: c.loss_starts.load(Ordering::Relaxed),
            notices: c.notices.load(Ordering::Relaxed),
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

/// (device, inode) of an open file, to tell whether the path still names it.
fn file_id(f: &File) -> Option<(u64, u64)> {
    f.metadata().ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

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
    fn noise_is_shed_before_lifecycle_lines() {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::env::temp_dir().join(format!("hub-log-noise-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A FIFO nobody reads yet: the writer blocks once the pipe and its
        // buffer are full, so the queue fills whatever the disk's speed.
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let mut log = EventLog::open(&fifo).unwrap();
        for _ in 0..LOG_QUEUE * 2 {
            log.record(&"UNEXPECTED_ACK device=x count=1", LogClass::Noise);
        }
        for _ in 0..100 {
            log.line(&"ACK device=y");
        }
        let s = log.stats();
        assert!(s.dropped_noise > 0, "{s:?}");
        assert_eq!(
            s.dropped, s.dropped_noise,
            "no lifecycle line was dropped: {s:?}"
        );
        // Drain the FIFO while the log closes.
        let drain = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return all,
                    Ok(n) => all.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(1))
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        });
        log.close();
        let text = String::from_utf8(drain.join().unwrap()).unwrap();
        assert_eq!(text.matches("ACK device=y").count(), 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_moved_or_removed_file_is_reopened_at_the_path() {
        let dir = std::env::temp_dir().join(format!("hub-log-mv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.txt");
        let mut log = EventLog::open(&path).unwrap();
        log.line(&"A");
        let wait_for = |p: &Path, what: &str| {
            let deadline = Instant::now() + std::time::Duration::from_secs(10);
            while !std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains(what)
            {
                assert!(Instant::now() < deadline, "{what} never reached {p:?}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        };
        wait_for(&path, "A");
        std::fs::rename(&path, dir.join("log.1")).unwrap();
        // The writer notices at a flush, then B lands in the new file.
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !path.exists() {
            assert!(Instant::now() < deadline, "path never recreated");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        log.line(&"B");
        wait_for(&path, "B");
        std::fs::remove_file(&path).unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !path.exists() {
            assert!(Instant::now() < deadline, "path never recreated after rm");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        log.line(&"C");
        log.close();
        assert_eq!(
            std::fs::read_to_string(dir.join("log.1"))
                .unwrap()
                .lines()
                .count(),
            1
        );
        assert!(std::fs::read_to_string(&path).unwrap().ends_with("Z C\n"));
        assert!(log.stats().reopens >= 2);
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
