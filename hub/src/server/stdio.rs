//! Standard output and error, off the loop: the loop hands text to a
//! bounded queue ([`Output::print`]) and a thread of its own writes it.
//! When nobody drains the terminal or pipe, the queue fills and text is
//! dropped and counted; the loop never waits. When the reader is gone
//! (EPIPE, or any other write error) the output is marked closed and the
//! loop turns the console off; the hub goes on.

use crate::ops::counters::OutputStats;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Sender, TrySendError};

/// Messages queued for stdout (or stderr) before more are dropped. Each is
/// one reply or one classic-mode event, so this bounds memory too.
pub const OUTPUT_QUEUE: usize = 256;

/// Which stream.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Handle to a writer thread.
pub struct Output {
    tx: Option<Sender<String>>,
    dropped: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
}

impl Output {
    /// Starts the writer for `stream`.
    pub fn spawn(stream: Stream) -> Output {
        let (tx, rx) = bounded::<String>(OUTPUT_QUEUE);
        let closed = Arc::new(AtomicBool::new(false));
        let flag = closed.clone();
        let spawned = std::thread::Builder::new()
            .name("hub-stdio".into())
            .spawn(move || {
                let mut out: Box<dyn Write> = match stream {
                    Stream::Stdout => Box::new(io::stdout()),
                    Stream::Stderr => Box::new(io::stderr()),
                };
                for text in rx {
                    if out
                        .write_all(text.as_bytes())
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        flag.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            });
        if spawned.is_err() {
            closed.store(true, Ordering::Relaxed);
        }
        Output {
            tx: spawned.ok().map(|_| tx),
            dropped: Arc::new(AtomicU64::new(0)),
            closed,
        }
    }

    /// Queues `text` as is (a newline is the caller's); never blocks.
    pub fn print(&self, text: &str) {
        if text.is_empty() || self.is_closed() {
            return;
        }
        let Some(tx) = &self.tx else {
            return;
        };
        match tx.try_send(text.to_string()) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// True once a write failed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> OutputStats {
        OutputStats {
            dropped: self.dropped.load(Ordering::Relaxed),
            closed: self.is_closed(),
        }
    }
}

/// True when stdin is a terminal whose foreground process group is not
/// ours (`hub &` from an interactive shell): reading it would stop the
/// whole process with SIGTTIN.
pub fn stdin_is_background_tty() -> bool {
    // SAFETY: plain queries on descriptor 0.
    unsafe {
        if libc::isatty(0) != 1 {
            return false;
        }
        let fg = libc::tcgetpgrp(0);
        fg == -1 || fg != libc::getpgrp()
    }
}
