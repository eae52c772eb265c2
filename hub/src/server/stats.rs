//! The `stats` reply: the counters of both planes, the event loop's own
//! ([`ShellStats`]), the log writer's, the kernel's drop counters and ACK
//! RTT percentiles.
//!
//! A leaf: [`Snapshot`] is built from plain data and borrowed parts by the
//! loop, so this file uses none of the shell's other files but `stdio` and
//! `http` (for their counter types).

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};

use super::http::HttpStats;
use super::stdio::Output;
use crate::control::ControlPlane;
use crate::data::DataPlane;
use crate::eventlog::EventLog;
use crate::recorder::Recorder;

/// Counters kept by the event loop itself.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize)]
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
    /// Turns that ran [`CONSOLE_BUDGET`](super::operate::CONSOLE_BUDGET)
    /// console lines and left the rest for the next turn.
    pub console_budget_spent: u64,
    /// Started in the background of a terminal: no console.
    pub console_background: bool,
}

/// p50…max of a microsecond histogram.
pub fn percentiles(h: &Histogram<u64>) -> Value {
    json!({
        "p50": h.value_at_quantile(0.50),
        "p90": h.value_at_quantile(0.90),
        "p99": h.value_at_quantile(0.99),
        "p999": h.value_at_quantile(0.999),
        "max": h.max(),
        "count": h.len(),
    })
}

/// Everything the `stats` reply reads, borrowed for one reply.
pub(super) struct Snapshot<'a> {
    pub uptime_s: f64,
    pub connections: usize,
    pub max_connections: usize,
    pub admin_sessions: usize,
    pub control: &'a ControlPlane,
    pub data: &'a DataPlane,
    pub udp_rcvbuf_granted: usize,
    /// Per-socket drops and system-wide receive-buffer errors.
    pub kernel_drops: (Option<u64>, Option<u64>),
    pub shell: &'a ShellStats,
    pub log: &'a EventLog,
    pub out: &'a Output,
    pub err: &'a Output,
    /// Signals ignored (`None`: the hub does not handle signals).
    pub signals_ignored: Option<u64>,
    pub recorder: Option<&'a Recorder>,
    pub http: Option<&'a HttpStats>,
}

impl Snapshot<'_> {
    pub fn to_json(&self) -> Value {
        let c = self.control.stats();
        let mut v = json!({
            "uptime_s": self.uptime_s,
            "connections": self.connections,
            "max_connections": self.max_connections,
            "admin_sessions": self.admin_sessions,
            "registered": self.control.registered(),
            "udp": self.data.stats(),
            "udp_rcvbuf_granted": self.udp_rcvbuf_granted,
            "udp_rcvbuf_drops": self.kernel_drops.0,
            "snmp_udp_rcvbuf_errors": self.kernel_drops.1,
            "loop": self.shell,
            "log": self.log.stats(),
            "stdout": self.out.stats(),
            "stderr": self.err.stats(),
            "ack_rtt_us": percentiles(self.control.ack_rtt()),
        });
        if let Some(n) = self.signals_ignored {
            v["loop"]["signals_ignored"] = n.into();
        }
        if let Some(r) = self.recorder {
            v["recorder"] = json!(r.stats());
        }
        if let Some(h) = self.http {
            v["http"] = json!(h);
        }
        // The control counters sit at the top level (registrations, acks…).
        if let (Value::Object(top), Ok(Value::Object(ctl))) = (&mut v, serde_json::to_value(c)) {
            top.extend(ctl);
        }
        v
    }
}
