//! The log writer thread: batches lines, writes them at least every
//! [`LOG_FLUSH`], and keeps writing to the *path* whatever logrotate does.
//!
//! - **Moved or removed** (`create` mode, `mv`, `rm`): before each flush
//!   (at most every [`LOG_FLUSH`]; once a second when idle) the path is
//!   compared with the open file (device and inode); when they differ, or
//!   SIGHUP asked, the path is opened again, so the lines go where the path
//!   points now.
//! - **Truncated** (`copytruncate` mode): logrotate copies the file, then
//!   truncates it; lines written between its copy and its truncate would be
//!   in neither file. The writer knows where each of its writes landed
//!   (`O_APPEND`, then the file offset), so it notices the file shrinking
//!   under it. It then finds the copy (the newest file next to the log whose
//!   name starts with the log's name), checks that the copy's last bytes are
//!   the bytes it wrote there, and writes again exactly the bytes past the
//!   copy's end. Each line so lands in exactly one file. A copy it cannot
//!   find or verify (compressed at once, renamed elsewhere) is counted in
//!   `truncations_unverified` and nothing is written twice.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::{file_id, open_append, LogCounters, LogMsg};
use crate::limits::LOG_FLUSH;
use crate::timefmt::write_rfc3339;

/// How often an idle writer checks its path (and a SIGHUP's request).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Bytes batched before a write, between flush intervals.
const BATCH: usize = 64 * 1024;

/// Bytes of recent writes kept to repair a `copytruncate`: more than one
/// rotation's window (copy + fsync + truncate) at any plausible log rate.
const RETAIN: usize = 4 * 1024 * 1024;

/// How far back a file's modification time may be to count as the copy.
const COPY_AGE: Duration = Duration::from_secs(30);

/// Lines lost since writes started failing.
struct Loss {
    since: SystemTime,
    lines: u64,
    error: String,
}

pub(super) struct Writer {
    pub path: PathBuf,
    pub id: Option<(u64, u64)>,
    pub file: File,
    pub buf: Vec<u8>,
    /// Lines in `buf` (each ends in `\n`).
    buf_lines: u64,
    /// While writes fail: when the first line was lost and how many since.
    loss: Option<Loss>,
    /// The file offset just past our last write (the file's size then).
    pub end: u64,
    /// Our recent writes: (offset, bytes), oldest first, at most RETAIN.
    pub recent: VecDeque<(u64, Vec<u8>)>,
    pub retained: usize,
    /// Where an event's line is formatted, reused.
    line: String,
    pub c: Arc<LogCounters>,
    pub reopen: Arc<AtomicBool>,
}

impl Writer {
    pub fn new(path: PathBuf, file: File, c: Arc<LogCounters>, reopen: Arc<AtomicBool>) -> Writer {
        let end = file.metadata().map(|m| m.len()).unwrap_or(0);
        Writer {
            path,
            id: file_id(&file),
            file,
            buf: Vec::with_capacity(BATCH),
            buf_lines: 0,
            loss: None,
            end,
            recent: VecDeque::new(),
            retained: 0,
            line: String::with_capacity(256),
            c,
            reopen,
        }
    }

    fn fail(&self, e: io::Error) {
        self.c.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.c.last_error.lock() {
            *last = Some(e.to_string());
        }
    }

    pub fn run(mut self, rx: Receiver<LogMsg>) {
        let mut last_flush = Instant::now();
        let mut last_check = Instant::now();
        loop {
            // With lines waiting, wake at the flush interval; idle, only
            // once a second to follow the path (an idle hub costs nothing).
            let wait = if self.buf.is_empty() {
                IDLE_CHECK.saturating_sub(last_check.elapsed())
            } else {
                LOG_FLUSH.saturating_sub(last_flush.elapsed())
            };
            match rx.recv_timeout(wait) {
                Ok(LogMsg::Text(line)) => {
                    self.buf.extend_from_slice(line.as_bytes());
                    self.buf_lines += 1;
                    self.c.written.fetch_add(1, Ordering::Relaxed);
                }
                Ok(LogMsg::Event(at, event)) => {
                    // Formatted here, in a buffer kept between lines.
                    self.line.clear();
                    write_rfc3339(&mut self.line, at);
                    self.line.push(' ');
                    let _ = std::fmt::Write::write_fmt(&mut self.line, format_args!("{event}\n"));
                    self.buf.extend_from_slice(self.line.as_bytes());
                    self.buf_lines += 1;
                    self.c.written.fetch_add(1, Ordering::Relaxed);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let due = last_flush.elapsed() >= LOG_FLUSH;
            if !self.buf.is_empty() && (due || self.buf.len() >= BATCH) {
                // Follow the path first, so lines go where it points now.
                if last_check.elapsed() >= LOG_FLUSH {
                    self.follow_path();
                    last_check = Instant::now();
                }
                self.flush();
                last_flush = Instant::now();
            } else if last_check.elapsed() >= IDLE_CHECK
                || (self.reopen.load(Ordering::Relaxed) && due)
            {
                self.follow_path();
                last_check = Instant::now();
            }
        }
        self.flush();
        if let Err(e) = self.file.sync_all() {
            self.fail(e);
        }
    }

    /// Writes the batch, then checks where it landed.
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        // A truncation since our last write shows as a file shorter than
        // what we wrote; repair before adding more.
        let mut base = self.file.metadata().map(|m| m.len()).ok();
        if base.is_some_and(|len| len < self.end) {
            self.truncated();
            base = self.file.metadata().map(|m| m.len()).ok();
        }
        let mut chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(BATCH));
        let mut lines = std::mem::take(&mut self.buf_lines);
        if let Some(loss) = &self.loss {
            // Writing resumes: the first line says what is missing.
            let mut notice = String::with_capacity(160);
            write_rfc3339(&mut notice, SystemTime::now());
            notice.push_str(" LOG_LINES_LOST count=");
            notice.push_str(&loss.lines.to_string());
            notice.push_str(" since=");
            write_rfc3339(&mut notice, loss.since);
            notice.push_str(" error=");
            notice.push_str(&format!("{:?}", loss.error));
            notice.push('\n');
            chunk.splice(0..0, notice.into_bytes());
            lines += 1;
        }
        let had_loss = self.loss.is_some();
        if let Err((e, done)) = write_counted(&mut self.file, &chunk) {
            self.lose(&chunk, done, lines, had_loss, base, e);
            return;
        }
        if had_loss {
            self.loss = None;
            self.c.notices.fetch_add(1, Ordering::Relaxed);
            self.c.losing.store(false, Ordering::Relaxed);
        }
        let Ok(pos) = self.file.stream_position() else {
            // Not seekable (a pipe, a character device): nothing to track.
            return;
        };
        let start = pos.saturating_sub(chunk.len() as u64);
        if start < self.end {
            // Truncated between the check and the write: the chunk itself
            // is safe in the new file; what came before it may not be.
            let last = (start, chunk);
            self.truncated();
            self.remember(last.0, last.1);
        } else {
            self.remember(start, chunk);
        }
        self.end = self.file.stream_position().unwrap_or(pos);
    }

    /// A write failed after `done` bytes of `chunk` (`lines` lines; the
    /// first a resume notice when `notice`): the complete lines written
    /// stay, a line cut short is cut back out of the file (so the file
    /// holds whole lines only), every other line is counted lost.
    fn lose(
        &mut self,
        chunk: &[u8],
        done: usize,
        lines: u64,
        notice: bool,
        base: Option<u64>,
        e: io::Error,
    ) {
        let whole = chunk[..done]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if whole < done {
            // Only when the file still ends with our cut line (a logrotate
            // truncation in between must not be extended with zeros).
            if let Some(base) = base {
                let ours = self
                    .file
                    .metadata()
                    .is_ok_and(|m| m.len() == base + done as u64);
                if ours {
                    let _ = self.file.set_len(base + whole as u64);
                }
            }
        }
        let kept = chunk[..whole].iter().filter(|&&b| b == b'\n').count() as u64;
        // A notice that made it out is the writer's own line, not a lost
        // one; the loss it reported goes on (the notice comes again).
        let notice_kept = notice && kept > 0;
        if notice_kept {
            // The gap so far is on record: what is lost now is a new one.
            self.c.notices.fetch_add(1, Ordering::Relaxed);
            self.loss = None;
        }
        let lost = lines - kept - u64::from(notice && !notice_kept);
        self.c.lines_lost.fetch_add(lost, Ordering::Relaxed);
        if self.loss.is_none() {
            self.c.loss_starts.fetch_add(1, Ordering::Relaxed);
        }
        self.c.losing.store(true, Ordering::Relaxed);
        let loss = self.loss.get_or_insert_with(|| Loss {
            since: SystemTime::now(),
            lines: 0,
            error: String::new(),
        });
        loss.lines += lost;
        loss.error = e.to_string();
        if let Some(base) = base {
            // Where our bytes end now (the cut-back line is gone), so the
            // next flush does not take the cut for a logrotate truncation.
            if whole > 0 {
                self.remember(base, chunk[..whole].to_vec());
            }
            self.end = base + whole as u64;
        }
        self.fail(e);
    }

    fn remember(&mut self, at: u64, mut bytes: Vec<u8>) {
        // A batch that grew past BATCH doubled its capacity: keep only its
        // bytes, so RETAIN bounds the memory held and not half of it.
        bytes.shrink_to_fit();
        self.retained += bytes.len();
        self.recent.push_back((at, bytes));
        while self.retained > RETAIN && self.recent.len() > 1 {
            let (_, old) = self.recent.pop_front().expect("non-empty");
            self.retained -= old.len();
        }
    }

    /// The file shrank under us (copytruncate): write again the bytes the
    /// copy does not hold, then track the new file from its current end.
    fn truncated(&mut self) {
        self.repair();
        self.end = self.file.metadata().map(|m| m.len()).unwrap_or(0);
    }

    fn repair(&mut self) {
        self.c.truncations.fetch_add(1, Ordering::Relaxed);
        let recent = std::mem::take(&mut self.recent);
        self.retained = 0;
        let Some(copied) = self.copy_len(&recent) else {
            self.c
                .truncations_unverified
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut lost = Vec::new();
        for (at, bytes) in &recent {
            let end = at + bytes.len() as u64;
            if end > copied {
                let from = copied.saturating_sub(*at) as usize;
                lost.extend_from_slice(&bytes[from..]);
            }
        }
        if lost.is_empty() {
            return;
        }
        match self.file.write_all(&lost) {
            Ok(()) => {
                self.c
                    .truncation_bytes_rewritten
                    .fetch_add(lost.len() as u64, Ordering::Relaxed);
                if let Ok(pos) = self.file.stream_position() {
                    self.remember(pos.saturating_sub(lost.len() as u64), lost);
                }
            }
            Err(e) => self.fail(e),
        }
    }

    /// The length of logrotate's copy of our old file, if it can be found
    /// and its tail is what we wrote there.
    fn copy_len(&self, recent: &VecDeque<(u64, Vec<u8>)>) -> Option<u64> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or_else(|| std::path::Path::new("."));
        let name = self.path.file_name()?.to_str()?;
        let now = SystemTime::now();
        let mut best: Option<(SystemTime, PathBuf)> = None;
        for entry in std::fs::read_dir(dir).ok()?.flatten() {
            let fname = entry.file_name();
            let Some(f) = fname.to_str() else { continue };
            if f == name || !f.starts_with(name) || f.ends_with(".gz") {
                continue;
            }
            let Ok(m) = entry.metadata() else { continue };
            let Ok(mtime) = m.modified() else { continue };
            if !m.is_file() || now.duration_since(mtime).unwrap_or_default() > COPY_AGE {
                continue;
            }
            if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
                best = Some((mtime, entry.path()));
            }
        }
        let (_, copy) = best?;
        let mut f = File::open(copy).ok()?;
        let len = f.metadata().ok()?.len();
        // Compare the copy's last bytes (up to 4 KiB) with ours at the same
        // offsets; they must all be within what we remember.
        let first = recent.front()?.0;
        if len < first || len > self.end {
            return None;
        }
        let from = len.saturating_sub(4096).max(first);
        let mut tail = vec![0u8; (len - from) as usize];
        f.seek(SeekFrom::Start(from)).ok()?;
        f.read_exact(&mut tail).ok()?;
        let mut ours = Vec::with_capacity(tail.len());
        for (at, bytes) in recent {
            let end = at + bytes.len() as u64;
            if end <= from || *at >= len {
                continue;
            }
            let a = from.saturating_sub(*at) as usize;
            let b = (len.min(end) - at) as usize;
            ours.extend_from_slice(&bytes[a..b]);
        }
        (ours == tail).then_some(len)
    }

    /// Opens the path again if asked to, or if it no longer names our file.
    fn follow_path(&mut self) {
        let asked = self.reopen.swap(false, Ordering::Relaxed);
        let moved = match std::fs::metadata(&self.path) {
            Ok(m) => Some((m.dev(), m.ino())) != self.id,
            Err(_) => true,
        };
        if !asked && !moved {
            return;
        }
        match open_append(&self.path) {
            Ok(file) => {
                let _ = self.file.sync_all();
                self.id = file_id(&file);
                self.end = file.metadata().map(|m| m.len()).unwrap_or(0);
                self.file = file;
                self.recent.clear();
                self.retained = 0;
                self.c.reopens.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.fail(e),
        }
    }
}

/// `write_all` that says how far it got: the error and the bytes written
/// before it.
fn write_counted(f: &mut File, bytes: &[u8]) -> Result<(), (io::Error, usize)> {
    let mut done = 0;
    while done < bytes.len() {
        match f.write(&bytes[done..]) {
            Ok(0) => return Err((io::ErrorKind::WriteZero.into(), done)),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e, done)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retained_batches_hold_their_bytes_not_their_grown_capacity() {
        let path = std::env::temp_dir().join(format!("writer-retain-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        let mut w = Writer::new(
            path.clone(),
            file,
            Arc::new(LogCounters::default()),
            Arc::new(AtomicBool::new(false)),
        );
        // Batches that overshot BATCH by one line, as a burst leaves them.
        for i in 0..200u64 {
            let mut b = Vec::with_capacity(BATCH);
            b.resize(BATCH + 100, b'x');
            w.remember(i * (BATCH as u64 + 100), b);
        }
        let held: usize = w.recent.iter().map(|(_, b)| b.capacity()).sum();
        assert!(w.retained <= RETAIN + BATCH + 100, "{}", w.retained);
        assert!(
            held <= RETAIN + BATCH + 100,
            "held {held} bytes of capacity"
        );
        let _ = std::fs::remove_file(path);
    }
}
