//! What the operator sees of devices' data: the `history` arguments and the
//! typed replies of `list`, `get` and `history` (one JSON shape each, with
//! `Serialize` and `Deserialize`, so clients parse what the hub writes).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::OpError;
use crate::data::DeviceCounters;
use crate::recorder::{HistoryRow, MAX_HISTORY_ROWS};

/// The usage line of `history`.
pub const HISTORY_USAGE: &str = "history <device> [since=<duration>] [limit=<n>]";

/// Rows `history` returns when no `limit=` is given.
pub const HISTORY_DEFAULT_ROWS: usize = 100;

/// `history <device> [since=<duration>] [limit=<n>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryArgs {
    pub device: String,
    /// Only rows received within this long.
    pub since: Option<Duration>,
    /// At most this many rows, capped at [`MAX_HISTORY_ROWS`].
    pub limit: usize,
}

impl HistoryArgs {
    /// Parses what follows `history`.
    pub fn parse(rest: &str) -> Result<HistoryArgs, OpError> {
        let usage = OpError::Usage(HISTORY_USAGE);
        let mut words = rest.split_whitespace();
        let device = words.next().ok_or(usage.clone())?.to_string();
        let mut args = HistoryArgs {
            device,
            since: None,
            limit: HISTORY_DEFAULT_ROWS,
        };
        for w in words {
            if let Some(d) = w.strip_prefix("since=") {
                args.since = Some(crate::duration::parse_duration(d).map_err(|_| usage.clone())?);
            } else if let Some(n) = w.strip_prefix("limit=") {
                let n: usize = n.parse().map_err(|_| usage.clone())?;
                if n == 0 {
                    return Err(usage);
                }
                args.limit = n.min(MAX_HISTORY_ROWS);
            } else {
                return Err(usage);
            }
        }
        Ok(args)
    }
}

/// One line of `list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub peer: String,
    /// The latest value the device sent over UDP, if any.
    pub value: Option<f64>,
    /// Seconds since it arrived.
    pub age_s: Option<f64>,
}

/// The latest reading as `get` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestView {
    pub value: f64,
    #[serde(rename = "type")]
    pub kind: String,
    /// The device's own timestamp text.
    pub device_ts: String,
    /// Hub receive time, µs since the Unix epoch.
    pub hub_us: i64,
    pub age_s: f64,
    pub seq: u32,
    pub cycle: Option<u64>,
    pub src: String,
}

/// The TCP registration as `get` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationView {
    #[serde(rename = "type")]
    pub kind: String,
    pub peer: String,
    /// `newline` or `bare`.
    pub framing: String,
    /// Commands queued, plus the one awaiting its ACK.
    pub pending_commands: usize,
    pub owed_late_acks: usize,
}

/// The `get <device>` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceView {
    pub device: String,
    /// `None` when the device is not registered over TCP now.
    pub registration: Option<RegistrationView>,
    /// `None` when the hub has no UDP reading from it (or evicted its state).
    pub latest: Option<LatestView>,
    /// `None` when the hub tracks no UDP state for it.
    pub udp: Option<DeviceCounters>,
}

/// The header line of a `history` reply on the admin port; `rows` JSON
/// lines (each a [`HistoryRow`]) follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryHeader {
    pub ok: bool,
    pub history: String,
    pub rows: usize,
}

/// The console's table of `history` rows.
pub fn history_table(device: &str, rows: &[HistoryRow]) -> String {
    let mut s = format!(
        "{:<27} {:<12} {:>14} {:>6} {:>10}  device timestamp\n",
        "hub time", "type", "value", "seq", "cycle"
    );
    for r in rows {
        let mut when = String::new();
        let t = std::time::UNIX_EPOCH + Duration::from_micros(r.hub_us.max(0) as u64);
        crate::timefmt::write_rfc3339(&mut when, t);
        let cycle = r.cycle.map_or("-".to_string(), |c| c.to_string());
        s.push_str(&format!(
            "{when:<27} {:<12} {:>14} {:>6} {cycle:>10}  {}\n",
            r.kind, r.value, r.seq, r.device_ts
        ));
    }
    s.push_str(&format!("{} row(s) of {device}", rows.len()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_row_per_reading() {
        let rows = vec![HistoryRow {
            device: "S1".into(),
            kind: "temperature".into(),
            value: 24.5,
            device_ts: "2025-10-22 18:20:15".into(),
            hub_us: 1_700_000_000_000_000,
            seq: 3,
            cycle: Some(9),
        }];
        let t = history_table("S1", &rows);
        assert_eq!(t.lines().count(), 3);
        assert!(
            t.contains("24.5") && t.contains("2025-10-22 18:20:15"),
            "{t}"
        );
        assert!(t.ends_with("1 row(s) of S1"));
    }
}
