//! The `stats` reply: the counters of both planes, the event loop's own,
//! the log writer's, the kernel's drop counter and ACK RTT percentiles.

use std::time::Instant;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::{json, Value};

use super::event_loop::EventLoop;
use super::kernel;

/// Counters kept by the event loop itself.
#[derive(Debug, Default, Clone, Serialize)]
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
    pub(super) fn stats_json(&self, now: Instant) -> Value {
        let c = self.control.stats();
        let mut v = json!({
            "uptime_s": now.saturating_duration_since(self.started).as_secs_f64(),
            "connections": self.device_conns,
            "max_connections": self.max_conns,
            "admin_sessions": self.admin_conns,
            "registered": self.control.registered(),
            "udp": self.data.stats(),
            "udp_rcvbuf_granted": self.udp_granted,
            "udp_rcvbuf_drops": kernel::udp_drops(&self.udp),
            "snmp_udp_rcvbuf_errors": kernel::snmp_udp_rcvbuf_errors(),
            "loop": self.stats,
            "log": self.log.stats(),
            "ack_rtt_us": percentiles(self.control.ack_rtt()),
        });
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
