//! The shell's own counters as the `stats` reply carries them: plain
//! data, below both the server (which counts into them) and
//! [`wire`](super::wire) (which puts them on the admin port), so neither
//! depends on the other.

use serde::{Deserialize, Serialize};

/// Counters kept by the event loop itself.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ShellStats {
    /// Connections accepted and closed at once because of `--max-connections`.
    pub rejected_full: u64,
    /// Connections shed (accepted and closed) while out of descriptors.
    pub shed_no_fds: u64,
    /// `accept` failures for lack of descriptors.
    pub fd_exhausted: u64,
    pub accept_errors: u64,
    /// Lines over `--max-line` (the connection was closed).
    pub oversize_lines: u64,
    /// Peers dropped because they stopped reading.
    pub outbuf_overflows: u64,
    pub udp_send_errors: u64,
    pub udp_recv_errors: u64,
    /// Times the loop woke from its wait (events, deadlines, or its 1 s cap).
    pub wakeups: u64,
    /// SIGHUPs taken (each reopens the log).
    pub signals_hup: u64,
    /// SIGUSR1s taken (each logs a STATS line).
    pub signals_usr1: u64,
    /// Admin sessions evicted at the session cap to make room.
    pub admin_evicted: u64,
    /// Admin sessions closed for no complete line within the idle timeout.
    pub admin_idle_closed: u64,
    /// Admin sessions closed for a line not completed within its deadline.
    pub admin_slow_closed: u64,
    /// Admin lines over 1024 bytes (answered, then closed).
    pub admin_oversize_lines: u64,
    /// Console lines over the cap, refused unrun.
    pub console_lines_refused: u64,
    /// Turns that ran `CONSOLE_BUDGET`
    /// console lines and left the rest for the next turn.
    pub console_budget_spent: u64,
    /// Turns that wrote `SEND_BUDGET`
    /// lines to devices and left the rest for the next turn.
    pub send_budget_spent: u64,
    /// The most lines to devices one turn wrote (at most
    /// `SEND_BUDGET` but at shutdown).
    #[serde(default)]
    pub max_sends_per_turn: u64,
    /// Started in the background of a terminal: no console.
    pub console_background: bool,
}

/// Counters of the metrics listener (`stats.http`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct HttpStats {
    pub accepted: u64,
    /// Accepted and closed at once: [`crate::metrics::http::MAX_HTTP_CONNS`] were open.
    pub rejected_full: u64,
    pub requests: u64,
    pub not_found: u64,
    /// Heads over [`MAX_HTTP_REQUEST`](crate::metrics::http::MAX_HTTP_REQUEST) bytes (answered 431).
    pub too_large: u64,
    /// Unparseable requests (answered 400).
    pub bad_requests: u64,
    /// Closed for taking longer than [`crate::metrics::http::HTTP_IDLE`].
    pub idle_closed: u64,
    pub io_errors: u64,
    /// Loop time the last `/metrics` page took to build, seconds.
    pub last_render_s: f64,
    /// The longest so far, seconds.
    pub max_render_s: f64,
    /// The loop thread's CPU time the last page took, seconds (the wall
    /// time above also counts being descheduled on a busy machine).
    pub last_render_cpu_s: f64,
}

/// Counters of one stream, for `stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutputStats {
    /// Messages dropped because the queue was full (nobody reading).
    pub dropped: u64,
    /// The stream failed (EPIPE, …): nothing more is written.
    pub closed: bool,
}
