//! The admin port's wire format, typed: one struct per reply line, each
//! `Serialize` (the hub writes its replies through them) and `Deserialize`
//! (loadgen's operator, `loadgen limits` and the tests read them back).
//! Unknown keys are ignored when reading, so a newer hub with more counters
//! still parses; a missing key is an error, never a silent zero.
//!
//! | command | lines |
//! |---|---|
//! | `send …` | [`SentReply`], then its [`WaveDone`] (when it reached anyone) |
//! | `quit …` | [`ClosedReply`] |
//! | `list [type=]` | one [`ListLine`] per device, then [`ListSummary`] |
//! | `get <device>` | [`GetReply`] |
//! | `history <device>` | [`HistoryHeader`], then one [`HistoryRow`](crate::recorder::HistoryRow) per row |
//! | `stats` | [`StatsReply`] |
//! | `shutdown` | [`ShutdownReply`] |
//! | `help` | [`HelpReply`] |
//! | any refusal | [`ErrorReply`] |
//!
//! `loadgen/SCHEMA.md` and the README describe the same lines for people.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use crate::ops::inspect::{DeviceView, HistoryHeader};

use crate::control::ControlStats;
use crate::data::DataStats;
use crate::eventlog::LogStats;
use crate::ops::counters::{HttpStats, OutputStats, ShellStats};
use crate::recorder::RecorderStats;

/// A command wave was sent (`send`): the first reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentReply {
    pub ok: bool,
    pub wave: u64,
    /// Devices the command was sent to.
    pub reached: u64,
    /// Devices whose command queue was full (refused to the operator).
    pub refused: u64,
}

/// A wave finished: every device ACKed, timed out or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveDone {
    pub ok: bool,
    pub wave: u64,
    /// Always true: tells this line from a [`SentReply`].
    pub done: bool,
    pub reached: u64,
    pub acked: u64,
    pub timed_out: u64,
    pub failed: u64,
    /// First command written → last ACK or timeout, hub-side.
    pub elapsed_us: u64,
}

/// Connections closed by `quit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedReply {
    pub ok: bool,
    pub closed: u64,
}

/// One device of a streamed `list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListLine {
    pub ok: bool,
    pub device: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub peer: String,
    /// The latest value it sent over UDP, if any.
    pub value: Option<f64>,
    /// Seconds since that value arrived.
    pub age_s: Option<f64>,
}

/// The last line of a `list`: how many device lines preceded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSummary {
    pub ok: bool,
    pub listed: u64,
}

/// `get <device>`: the device view with `"ok":true` beside its keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetReply {
    pub ok: bool,
    #[serde(flatten)]
    pub view: DeviceView,
}

/// p50…max of a microsecond histogram, and its count.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub count: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            count: h.len(),
        }
    }
}

/// `stats.loop`: the event loop's own counters.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct LoopStats {
    #[serde(flatten)]
    pub shell: ShellStats,
    /// Signals received and ignored (SIGUSR2, SIGPIPE…); absent when the
    /// hub installed no signal handling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signals_ignored: Option<u64>,
}

/// The `stats` object: both planes, the loop, the writers, the kernel.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct HubStats {
    pub uptime_s: f64,
    /// Device connections open.
    pub connections: u64,
    pub max_connections: u64,
    pub admin_sessions: u64,
    /// Devices registered now.
    pub registered: u64,
    pub udp: DataStats,
    /// The UDP receive buffer the kernel granted, bytes.
    pub udp_rcvbuf_granted: u64,
    /// The socket's receive-buffer drops (`SO_MEMINFO`), if readable.
    pub udp_rcvbuf_drops: Option<u64>,
    /// The machine's `Udp: RcvbufErrors` (`/proc/net/snmp`), if readable.
    pub snmp_udp_rcvbuf_errors: Option<u64>,
    #[serde(rename = "loop")]
    pub event_loop: LoopStats,
    pub log: LogStats,
    pub stdout: OutputStats,
    pub stderr: OutputStats,
    pub ack_rtt_us: Percentiles,
    /// Absent with `--no-recorder`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<RecorderStats>,
    /// Absent without a metrics listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpStats>,
    /// The control plane's counters, at the top level.
    #[serde(flatten)]
    pub control: ControlStats,
}

/// `stats`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatsReply {
    pub ok: bool,
    pub stats: HubStats,
}

/// `shutdown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownReply {
    pub ok: bool,
    pub shutdown: bool,
}

/// `help`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpReply {
    pub ok: bool,
    pub help: String,
}

/// Any refusal: `"ok":false` and one line of reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub ok: bool,
    pub error: String,
}

/// Just the `ok` of any reply line, to tell a refusal from an answer
/// before reading the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct OkOnly {
    pub ok: bool,
}
