//! One reading on its way to the database: [`Row`], fixed-size and inline,
//! so offering it to the bounded queue allocates nothing.

use serde::{Deserialize, Serialize};

use crate::data::InlineText;
use crate::limits::{MAX_IDENT, MAX_TIMESTAMP};
use crate::protocol::Datagram;

/// A reading as the loop hands it to the writer thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub device: InlineText<MAX_IDENT>,
    pub kind: InlineText<MAX_IDENT>,
    pub value: f64,
    pub device_ts: InlineText<MAX_TIMESTAMP>,
    /// Hub receive time, µs since the Unix epoch.
    pub hub_us: i64,
    pub seq: u32,
    pub cycle: Option<u64>,
}

impl Row {
    /// The reading `d`, received at `hub_us`.
    pub fn of(d: &Datagram<'_>, hub_us: i64) -> Self {
        Row {
            device: InlineText::from_str_lossy(d.name),
            kind: InlineText::from_str_lossy(d.kind),
            value: d.value,
            device_ts: InlineText::from_str_lossy(d.timestamp),
            hub_us,
            seq: d.seq,
            cycle: d.cycle,
        }
    }
}

/// One row of a `history` reply (the admin port's JSON line per row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub device: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: f64,
    /// The device's own timestamp text.
    pub device_ts: String,
    /// Hub receive time, µs since the Unix epoch.
    pub hub_us: i64,
    pub seq: u32,
    pub cycle: Option<u64>,
}

/// Microseconds since the Unix epoch, now (wall clock; 0 before 1970).
pub fn unix_us_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
