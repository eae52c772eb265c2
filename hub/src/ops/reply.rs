//! Replies to operator commands: one JSON object per line on the admin
//! port, one human line on the console. Both come from the same [`Reply`].

use serde_json::{json, Value};

use crate::control::{WaveId, WaveReport};
use crate::ops::inspect::{history_table, DeviceView, HistoryHeader, ListEntry};
use crate::ops::HELP;
use crate::recorder::HistoryRow;

/// The outcome of one operator command (or a wave finishing later).
#[derive(Debug, Clone)]
pub enum Reply {
    /// `refused`: devices whose command queue was full (the command
    /// failed for them; they stay connected).
    Sent {
        wave: WaveId,
        reached: u64,
        refused: u64,
    },
    WaveDone(WaveReport),
    Closed(u64),
    List(Vec<ListEntry>),
    Get(Box<DeviceView>),
    /// Recorded rows of one device, newest first.
    History {
        device: String,
        rows: Vec<HistoryRow>,
    },
    Stats(Value),
    ShuttingDown,
    Help,
    Error(String),
    /// Nothing to say now: the answer comes later (`history`).
    Deferred,
}

impl Reply {
    /// The admin form: `{"ok":…, …}`.
    pub fn to_json(&self) -> Value {
        match self {
            Reply::Sent {
                wave,
                reached,
                refused,
            } => json!({"ok": true, "wave": wave, "reached": reached, "refused": refused}),
            Reply::WaveDone(r) => json!({
                "ok": true, "wave": r.id, "done": true, "reached": r.reached,
                "acked": r.acked, "timed_out": r.timed_out, "failed": r.failed,
                "elapsed_us": r.elapsed.as_micros() as u64,
            }),
            Reply::Closed(n) => json!({"ok": true, "closed": n}),
            Reply::List(devs) => json!({"ok": true, "devices": devs}),
            Reply::Get(d) => {
                let mut v = serde_json::to_value(d).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("ok".into(), Value::Bool(true));
                }
                v
            }
            Reply::History { device, rows } => json!(HistoryHeader {
                ok: true,
                history: device.clone(),
                rows: rows.len(),
            }),
            Reply::Stats(s) => json!({"ok": true, "stats": s}),
            Reply::ShuttingDown => json!({"ok": true, "shutdown": true}),
            Reply::Help => json!({"ok": true, "help": HELP}),
            Reply::Error(e) => json!({"ok": false, "error": e}),
            Reply::Deferred => Value::Null,
        }
    }

    /// True for the replies the admin port streams line by line as the
    /// peer reads ([`admin_lines`](Self::admin_lines)): `list` and `history`,
    /// whose length grows with the fleet or the limit.
    pub fn is_streamed(&self) -> bool {
        matches!(self, Reply::List(_) | Reply::History { .. })
    }

    /// The admin form as separate lines (no terminators): for `list`, one
    /// object per device (`{"ok":true,"device":…,"type":…,"peer":…,
    /// "value":…,"age_s":…}`) then `{"ok":true,"listed":N}`; for `history`,
    /// the header then one object per row; otherwise the one JSON object.
    pub fn admin_lines(&self) -> Vec<String> {
        match self {
            Reply::List(devs) => {
                let mut v: Vec<String> = devs
                    .iter()
                    .map(|d| {
                        json!({"ok": true, "device": d.name, "type": d.kind, "peer": d.peer,
                               "value": d.value, "age_s": d.age_s})
                        .to_string()
                    })
                    .collect();
                v.push(json!({"ok": true, "listed": devs.len()}).to_string());
                v
            }
            Reply::History { rows, .. } => {
                let mut v = vec![self.to_json().to_string()];
                v.extend(
                    rows.iter()
                        .map(|r| serde_json::to_string(r).unwrap_or_default()),
                );
                v
            }
            Reply::Deferred => Vec::new(),
            _ => vec![self.to_json().to_string()],
        }
    }

    /// The admin form as the bytes sent: one JSON line, and for `history`
    /// a JSON line per row after the header.
    pub fn to_admin_lines(&self) -> String {
        if let Reply::Deferred = self {
            return String::new();
        }
        let mut text = self.to_json().to_string();
        text.push('\n');
        if let Reply::History { rows, .. } = self {
            for r in rows {
                text.push_str(&serde_json::to_string(r).unwrap_or_default());
                text.push('\n');
            }
        }
        text
    }

    /// The console form: one line (`list` is one line per device).
    pub fn to_text(&self) -> String {
        match self {
            Reply::Sent {
                wave,
                reached,
                refused: 0,
            } => format!("wave {wave}: sent to {reached} device(s)"),
            Reply::Sent {
                wave,
                reached,
                refused,
            } => format!(
                "wave {wave}: sent to {reached} device(s), refused by {refused} with a full queue"
            ),
            Reply::WaveDone(r) => format!(
                "wave {}: done in {:.1} ms: {} acked, {} timed out, {} failed of {}",
                r.id,
                r.elapsed.as_secs_f64() * 1e3,
                r.acked,
                r.timed_out,
                r.failed,
                r.reached
            ),
            Reply::Closed(n) => format!("closed {n} connection(s)"),
            Reply::List(devs) => {
                let mut s = String::new();
                for d in devs {
                    let last = match (d.value, d.age_s) {
                        (Some(v), Some(a)) => format!(" last={v} age={a:.1}s"),
                        _ => " last=- age=-".to_string(),
                    };
                    s.push_str(&format!("{} {} {}{last}\n", d.name, d.kind, d.peer));
                }
                s.push_str(&format!("{} device(s)", devs.len()));
                s
            }
            Reply::Get(d) => serde_json::to_string(d).unwrap_or_default(),
            Reply::History { device, rows } => history_table(device, rows),
            Reply::Stats(v) => v.to_string(),
            Reply::ShuttingDown => "shutting down".into(),
            Reply::Help => HELP.into(),
            Reply::Error(e) => format!("error: {e}"),
            Reply::Deferred => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wave_done_has_the_documented_keys() {
        let r = Reply::WaveDone(WaveReport {
            id: 3,
            reached: 2,
            acked: 1,
            timed_out: 1,
            failed: 0,
            elapsed: Duration::from_millis(5),
        });
        let v = r.to_json();
        for k in [
            "ok",
            "wave",
            "done",
            "reached",
            "acked",
            "timed_out",
            "failed",
            "elapsed_us",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["elapsed_us"], 5000);
        assert_eq!(
            r.to_text(),
            "wave 3: done in 5.0 ms: 1 acked, 1 timed out, 0 failed of 2"
        );
    }

    #[test]
    fn errors_are_ok_false() {
        assert_eq!(
            Reply::Error("x".into()).to_json(),
            json!({"ok": false, "error": "x"})
        );
    }
}
