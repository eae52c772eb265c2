//! The `stats` reply: the counters of both planes, the event loop's own
//! ([`ShellStats`]), the log writer's, the kernel's drop counters and ACK
//! RTT percentiles.
//!
//! A leaf: [`Snapshot`] is built from plain data and borrowed parts by the
//! loop, so this file uses none of the shell's other files but `stdio` and
//! `http` (for their counter types).

use serde_json::Value;

use super::stdio::Output;
use crate::control::ControlPlane;
use crate::data::DataPlane;
use crate::eventlog::EventLog;
use crate::ops::counters::{HttpStats, ShellStats};
use crate::ops::wire::{HubStats, LoopStats, Percentiles};
use crate::recorder::Recorder;

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
    /// The `stats` object, typed ([`HubStats`] is what the admin port
    /// sends and what loadgen and the tests read back).
    pub fn to_stats(&self) -> HubStats {
        HubStats {
            uptime_s: self.uptime_s,
            connections: self.connections as u64,
            max_connections: self.max_connections as u64,
            admin_sessions: self.admin_sessions as u64,
            registered: self.control.registered() as u64,
            udp: self.data.stats().clone(),
            udp_rcvbuf_granted: self.udp_rcvbuf_granted as u64,
            udp_rcvbuf_drops: self.kernel_drops.0,
            snmp_udp_rcvbuf_errors: self.kernel_drops.1,
            event_loop: LoopStats {
                shell: self.shell.clone(),
                signals_ignored: self.signals_ignored,
            },
            log: self.log.stats(),
            stdout: self.out.stats(),
            stderr: self.err.stats(),
            ack_rtt_us: Percentiles::of(self.control.ack_rtt()),
            recorder: self.recorder.map(|r| r.stats()),
            http: self.http.cloned(),
            control: self.control.stats().clone(),
        }
    }

    /// [`to_stats`](Self::to_stats) as JSON (for `/metrics`, which walks it).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.to_stats()).unwrap_or(Value::Null)
    }
}
