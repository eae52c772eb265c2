//! Replies to operator commands: one JSON object per line on the admin
//! port, one human line on the console. Both come from the same [`Reply`].

use std::net::SocketAddr;

use serde_json::{json, Value};

use crate::control::{WaveId, WaveReport};
use crate::ops::HELP;

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
    List(Vec<(String, String, SocketAddr)>),
    Stats(Value),
    ShuttingDown,
    Help,
    Error(String),
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
            Reply::List(devs) => {
                json!({"ok": true, "devices": devs.iter().map(|(n, t, p)| json!({"name": n, "type": t, "peer": p.to_string()})).collect::<Vec<_>>()})
            }
            Reply::Stats(s) => json!({"ok": true, "stats": s}),
            Reply::ShuttingDown => json!({"ok": true, "shutdown": true}),
            Reply::Help => json!({"ok": true, "help": HELP}),
            Reply::Error(e) => json!({"ok": false, "error": e}),
        }
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
                for (n, t, p) in devs {
                    s.push_str(&format!("{n} {t} {p}\n"));
                }
                s.push_str(&format!("{} device(s)", devs.len()));
                s
            }
            Reply::Stats(v) => v.to_string(),
            Reply::ShuttingDown => "shutting down".into(),
            Reply::Help => HELP.into(),
            Reply::Error(e) => format!("error: {e}"),
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
