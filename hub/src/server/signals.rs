//! Signals, for the `hub` binary ([`super::Hub::handle_signals`]); an
//! embedded hub (tests, loadgen) leaves the process's signals alone.
//!
//! | signal | what the hub does |
//! |---|---|
//! | SIGINT, SIGTERM, SIGQUIT | stop: flush, fsync, `SHUTDOWN`, exit 0 |
//! | SIGHUP | reopen the log path (logrotate's `postrotate`) |
//! | SIGUSR1 | write one `STATS stats="{…}"` line to the log |
//! | SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGXCPU | counted (`loop.signals_ignored`), nothing else |
//! | SIGPIPE, SIGTTIN, SIGTTOU, SIGXFSZ | ignored: the write or read fails with an error the hub already handles |
//!
//! Handlers only set flags and write a byte to a socket pair the loop
//! polls, so a signal wakes the loop at once however long it sleeps.

use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use signal_hook::consts::*;

/// What the handlers tell the loop.
pub(super) struct Signals {
    pub wake: mio::net::UnixStream,
    pub reopen: Arc<AtomicBool>,
    pub snapshot: Arc<AtomicBool>,
    pub ignored: Arc<AtomicU64>,
}

/// Signals that stop the hub cleanly.
const STOP: [i32; 3] = [SIGINT, SIGTERM, SIGQUIT];
/// Signals whose default would kill the hub but that mean nothing to it.
const COUNTED: [i32; 7] = [
    SIGUSR2,
    SIGALRM,
    SIGVTALRM,
    SIGPROF,
    SIGIO,
    libc::SIGPWR,
    SIGXCPU,
];
/// Signals set to SIG_IGN, so the call that raised them fails instead.
const IGNORED: [i32; 4] = [SIGPIPE, SIGTTIN, SIGTTOU, SIGXFSZ];

impl Signals {
    /// Installs every handler. `stop` is the loop's stop flag.
    pub fn install(stop: Arc<AtomicBool>) -> io::Result<Signals> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        let s = Signals {
            wake: mio::net::UnixStream::from_std(rx),
            reopen: Arc::new(AtomicBool::new(false)),
            snapshot: Arc::new(AtomicBool::new(false)),
            ignored: Arc::new(AtomicU64::new(0)),
        };
        let wake = |sig| -> io::Result<()> {
            signal_hook::low_level::pipe::register(sig, tx.try_clone()?)?;
            Ok(())
        };
        for sig in STOP {
            signal_hook::flag::register(sig, stop.clone())?;
            wake(sig)?;
        }
        signal_hook::flag::register(SIGHUP, s.reopen.clone())?;
        wake(SIGHUP)?;
        signal_hook::flag::register(SIGUSR1, s.snapshot.clone())?;
        wake(SIGUSR1)?;
        for sig in COUNTED {
            let n = s.ignored.clone();
            // SAFETY: the action only touches an atomic, which is
            // async-signal-safe.
            unsafe {
                signal_hook::low_level::register(sig, move || {
                    n.fetch_add(1, Ordering::Relaxed);
                })?;
            }
        }
        for sig in IGNORED {
            // SAFETY: setting a disposition to SIG_IGN has no handler to run.
            unsafe {
                libc::signal(sig, libc::SIG_IGN);
            }
        }
        Ok(s)
    }

    /// Empties the wake-up socket (its bytes only say "look at the flags").
    pub fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while let Ok(n) = self.wake.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}
