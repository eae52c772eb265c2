//! Replies to operator commands: one JSON object per line on the admin
//! port, one human line on the console. Both come from the same [`Reply`].

use serde_json::{json, Value};

use crate::control::{WaveId, WaveReport};
use crate::ops::inspect::{history_table, DeviceView, HistoryHeader, ListEntry};
use crate::ops::wire::{
    ClosedReply, ErrorReply, GetReply, HelpReply, ListLine, ListSummary, SentReply, ShutdownReply,
    WaveDone,
};
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
    /// The admin form: `{"ok":…, …}`, written through the types of
    /// [`wire`](crate::ops::wire).
    pub fn to_json(&self) -> Value {
        let v = match self {
            Reply::Sent {
                wave,
                reached,
                refused,
            } => serde_json::to_value(SentReply {
                ok: true,
                wave: *wave,
                reached: *reached,
                refused: *refused,
            }),
            Reply::WaveDone(r) => serde_json::to_value(WaveDone {
                ok: true,
                wave: r.id,
                done: true,
                reached: r.reached,
                acked: r.acked,
                timed_out: r.timed_out,
                failed: r.failed,
                elapsed_us: r.elapsed.as_micros() as u64,
            }),
            Reply::Closed(n) => serde_json::to_value(ClosedReply {
                ok: true,
                closed: *n,
            }),
            Reply::List(devs) => Ok(json!({"ok": true, "devices": devs})),
            Reply::Get(d) => serde_json::to_value(GetReply {
                ok: true,
                view: (**d).clone(),
            }),
            Reply::History { device, rows } => serde_json::to_value(HistoryHeader {
                ok: true,
                history: device.clone(),
                rows: rows.len(),
            }),
            Reply::Stats(s) => Ok(json!({"ok": true, "stats": s})),
            Reply::ShuttingDown => serde_json::to_value(ShutdownReply {
                ok: true,
                shutdown: true,
            }),
            Reply::Help => serde_json::to_value(HelpReply {
                ok: true,
                help: HELP.into(),
            }),
            Reply::Error(e) => serde_json::to_value(ErrorReply {
                ok: false,
                error: e.clone(),
            }),
            Reply::Deferred => Ok(Value::Null),
        };
        v.unwrap_or(Value::Null)
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
                        serde_json::to_string(&ListLine {
                            ok: true,
                            device: d.name.clone(),
                            kind: d.kind.clone(),
                            peer: d.peer.clone(),
                            value: d.value,
                            age_s: d.age_s,
                        })
                        .unwrap_or_default()
                    })
                    .collect();
                let summary = ListSummary {
                    ok: true,
                    listed: devs.len() as u64,
                };
                v.push(serde_json::to_string(&summary).unwrap_or_default());
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

    /// The admin form as the bytes sent: [`admin_lines`](Self::admin_lines),
    /// each ended by a newline.
    pub fn to_admin_lines(&self) -> String {
        let mut text = String::new();
        for line in self.admin_lines() {
            text.push_str(&line);
            text.push('\n');
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

    /// Every reply line parses back into its type of [`crate::ops::wire`].
    #[test]
    fn every_admin_line_reads_back_into_its_wire_type() {
        use crate::ops::wire::*;
        fn one<T: serde::de::DeserializeOwned>(r: &Reply) -> T {
            let lines = r.admin_lines();
            assert_eq!(lines.len(), 1, "{lines:?}");
            serde_json::from_str(&lines[0]).unwrap_or_else(|e| panic!("{}: {e}", lines[0]))
        }
        let sent: SentReply = one(&Reply::Sent {
            wave: 7,
            reached: 3,
            refused: 1,
        });
        assert_eq!(
            (sent.ok, sent.wave, sent.reached, sent.refused),
            (true, 7, 3, 1)
        );
        let done: WaveDone = one(&Reply::WaveDone(WaveReport {
            id: 7,
            reached: 3,
            acked: 2,
            timed_out: 1,
            failed: 0,
            elapsed: Duration::from_micros(1234),
        }));
        assert!(done.done && done.ok);
        assert_eq!((done.acked, done.timed_out, done.elapsed_us), (2, 1, 1234));
        let e: ErrorReply = one(&Reply::Error("nope".into()));
        assert_eq!((e.ok, e.error.as_str()), (false, "nope"));
        let h: HelpReply = one(&Reply::Help);
        assert_eq!(h.help, HELP);
        let s: ShutdownReply = one(&Reply::ShuttingDown);
        assert!(s.shutdown);
        let c: ClosedReply = one(&Reply::Closed(4));
        assert_eq!(c.closed, 4);
        let list = Reply::List(vec![ListEntry {
            name: "A1".into(),
            kind: "t".into(),
            peer: "127.0.0.1:9".into(),
            value: Some(2.5),
            age_s: None,
        }]);
        let lines = list.admin_lines();
        let dev: ListLine = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (dev.device.as_str(), dev.value, dev.age_s),
            ("A1", Some(2.5), None)
        );
        let sum: ListSummary = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(sum.listed, 1);
        assert_eq!(
            list.to_admin_lines(),
            format!("{}\n{}\n", lines[0], lines[1])
        );
        assert_eq!(Reply::Deferred.to_admin_lines(), "");
    }

    #[test]
    fn errors_are_ok_false() {
        assert_eq!(
            Reply::Error("x".into()).to_json(),
            json!({"ok": false, "error": "x"})
        );
    }
}
