//! The `stats` reply: the counters of both planes, the event loop's own,
//! the log writer's, the kernel's drop counter and ACK RTT percentiles.

use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};

use super::event_loop::EventLoop;
use super::kernel;

/// How long the kernel's drop counters in `stats` may be reused.
pub const KERNEL_STATS_TTL: std::time::Duration = std::time::Duration::from_millis(100);

/// The kernel's counters as last read: when, per-socket drops, system-wide
/// receive-buffer errors.
pub type KernelStats = std::cell::Cell<Option<(Instant, Option<u64>, Option<u64>)>>;

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

impl EventLoop {
    /// The kernel's drop counters, read from /proc at most every
    /// [`KERNEL_STATS_TTL`]: /proc/net/udp lists every UDP socket of the
    /// machine, so reading it per `stats` would let a burst of `stats`
    /// lines cost the loop milliseconds each.
    fn kernel_drops(&self, now: Instant) -> (Option<u64>, Option<u64>) {
        if let Some((at, d, s)) = self.kernel_stats.get() {
            if now.saturating_duration_since(at) < KERNEL_STATS_TTL {
                return (d, s);
            }
        }
        let (d, s) = (
            kernel::udp_drops(&self.udp),
            kernel::snmp_udp_rcvbuf_errors(),
        );
        self.kernel_stats.set(Some((now, d, s)));
        (d, s)
    }

    pub(super) fn stats_json(&self, now: Instant) -> Value {
        let kernel_drops = self.kernel_drops(now);
        let c = self.control.stats();
        let mut v = json!({
            "uptime_s": now.saturating_duration_since(self.started).as_secs_f64(),
            "connections": self.device_conns,
            "max_connections": self.max_conns,
            "admin_sessions": self.admin_conns,
            "registered": self.control.registered(),
            "udp": self.data.stats(),
            "udp_rcvbuf_granted": self.udp_granted,
            "udp_rcvbuf_drops": kernel_drops.0,
            "snmp_udp_rcvbuf_errors": kernel_drops.1,
            "loop": self.stats,
            "log": self.log.stats(),
            "stdout": self.out.stats(),
            "stderr": self.err.stats(),
            "ack_rtt_us": percentiles(self.control.ack_rtt()),
        });
        if let Some(sig) = &self.signals {
            v["loop"]["signals_ignored"] = sig
                .ignored
                .load(std::sync::atomic::Ordering::Relaxed)
                .into();
        }
        if let Some(r) = &self.recorder {
            v["recorder"] = json!(r.stats());
        }
        if let Some(h) = &self.http {
            v["http"] = json!(h.stats);
        }
        // The control counters sit at the top level (registrations, acks…).
        if let (Value::Object(top), Ok(Value::Object(ctl))) = (&mut v, serde_json::to_value(c)) {
            top.extend(ctl);
        }
        v
    }
}
