//! The monitoring side of the loop: `list`/`get`/`history` from the data
//! plane's latest readings and the recorder, answers coming back from the
//! recorder thread, the `/metrics` page and `/healthz`.
//!
//! Routing (`impl EventLoop`): reads the planes and the recorder; the
//! metrics listener itself is `http.rs`'s [`HttpServer`](super::http::HttpServer),
//! driven from here (accept, read a request, answer it, tick).

use std::time::Instant;

use serde_json::json;

use super::event_loop::EventLoop;
use crate::control::Framing;
use crate::control::Origin;
use crate::metrics::http::{response, Route, PROMETHEUS_TEXT};
use crate::metrics::{DeviceSample, Exposition};
use crate::ops::inspect::{DeviceView, HistoryArgs, LatestView, ListEntry, RegistrationView};
use crate::ops::Reply;
use crate::recorder::{unix_us_now, Query, QueryRefused};

impl EventLoop {
    /// `list` and `list type=<type>`: registered devices with their last value.
    pub(super) fn op_list(&self, kind: Option<&str>, now: Instant) -> Reply {
        let table = self.data.table();
        let mut devs: Vec<ListEntry> = self
            .control
            .devices()
            .filter(|(_, k, _)| kind.is_none_or(|want| *k == want))
            .map(|(n, k, p)| {
                let latest = table.get(n).and_then(|d| d.latest.as_ref());
                ListEntry {
                    name: n.to_string(),
                    kind: k.to_string(),
                    peer: p.to_string(),
                    value: latest.map(|l| l.value),
                    age_s: latest.map(|l| l.age_secs(now)),
                }
            })
            .collect();
        devs.sort_by(|a, b| a.name.cmp(&b.name));
        Reply::List(devs)
    }

    /// `get <device>`.
    pub(super) fn op_get(&self, name: &str, now: Instant) -> Reply {
        let registration = self.control.registration(name).map(|r| RegistrationView {
            kind: r.kind,
            peer: r.peer.to_string(),
            framing: match r.framing {
                Framing::Newline => "newline".into(),
                Framing::Bare => "bare".into(),
            },
            pending_commands: r.queued + usize::from(r.outstanding),
            owed_late_acks: r.owed_late,
        });
        let dev = self.data.table().get(name);
        if registration.is_none() && dev.is_none() {
            return Reply::Error(format!("unknown device '{name}'"));
        }
        let wall_now = unix_us_now();
        let latest = dev.and_then(|d| d.latest.as_ref()).map(|l| {
            let age = l.age_secs(now);
            LatestView {
                value: l.value,
                kind: l.kind.to_string(),
                device_ts: l.timestamp.to_string(),
                hub_us: wall_now - (age * 1e6) as i64,
                age_s: age,
                seq: l.seq,
                cycle: l.cycle,
                src: l.src.to_string(),
            }
        });
        Reply::Get(Box::new(DeviceView {
            device: name.to_string(),
            registration,
            latest,
            udp: dev.map(|d| d.counters),
        }))
    }

    /// `history …`: handed to the recorder thread; the reply comes later.
    pub(super) fn op_history(&mut self, args: HistoryArgs, origin: Origin) -> Reply {
        let Some(rec) = &self.recorder else {
            return Reply::Error("the recorder is off (--no-recorder)".into());
        };
        let tag = self.op.next_query_tag();
        let since_us = args
            .since
            .map_or(i64::MIN, |d| unix_us_now() - d.as_micros() as i64);
        let q = Query {
            tag,
            device: args.device,
            since_us,
            limit: args.limit,
        };
        match rec.query(q) {
            Ok(()) => {
                self.op.awaiting(tag, origin);
                Reply::Deferred
            }
            Err(QueryRefused::Busy) => {
                Reply::Error("recorder busy: too many history queries".into())
            }
            Err(QueryRefused::Stopped) => Reply::Error("the recorder has stopped".into()),
        }
    }

    /// Answers the recorder thread sent back (after a wake).
    pub(super) fn recorder_answers(&mut self, now: Instant) {
        let Some(rec) = &self.recorder else { return };
        let answers: Vec<_> = rec.answers().collect();
        for a in answers {
            let reply = match a.rows {
                Ok(rows) => Reply::History {
                    device: a.device,
                    rows,
                },
                Err(e) => Reply::Error(format!("history: {e}")),
            };
            match self.op.answered(a.tag) {
                Some(Origin::Console) => self.op.println(&reply.to_text()),
                Some(Origin::Admin(id)) => {
                    if let Some(idx) = self.conns.slot_of(id) {
                        if reply.is_streamed() {
                            self.start_list(idx, reply.admin_lines(), now);
                        } else {
                            self.send_to(idx, reply.to_admin_lines().as_bytes(), now);
                        }
                    }
                }
                None => {}
            }
        }
    }

    /// The `/metrics` page.
    pub(super) fn metrics_page(&self, now: Instant) -> String {
        let mut e = Exposition::new();
        e.stats(&self.stats_json(now));
        e.histogram_us(
            "hub_ack_rtt_seconds",
            "Command to ACK round-trip time.",
            self.control.ack_rtt(),
        );
        if self.cfg.metrics_per_device {
            let samples: Vec<DeviceSample<'_>> = self
                .data
                .table()
                .iter()
                .filter_map(|(name, d)| {
                    d.latest.as_ref().map(|l| DeviceSample {
                        device: name,
                        kind: l.kind.as_str(),
                        value: l.value,
                        age_s: l.age_secs(now),
                    })
                })
                .collect();
            e.devices(&samples);
        }
        e.finish()
    }

    /// `/healthz`: 200 while the loop turns (it answers this) and the
    /// recorder keeps up, 503 with the reasons otherwise.
    pub(super) fn health(&self, now: Instant) -> (u16, String) {
        let mut reasons = Vec::new();
        let recorder = match &self.recorder {
            None => "off".to_string(),
            Some(r) => match r.stats().unhealthy() {
                None => "ok".into(),
                Some(why) => {
                    reasons.push(why.clone());
                    why
                }
            },
        };
        let ok = reasons.is_empty();
        let body = json!({
            "ok": ok,
            "uptime_s": now.saturating_duration_since(self.started).as_secs_f64(),
            "registered": self.control.registered(),
            "recorder": recorder,
            "reasons": reasons,
        });
        (if ok { 200 } else { 503 }, format!("{body}\n"))
    }

    /// New connections on the metrics port.
    pub(super) fn http_accept(&mut self, now: Instant) {
        if let Some(http) = &mut self.http {
            if !http.accept(self.poll.registry(), now) {
                self.accept_blocked = true;
            }
        }
    }

    /// A readable or writable event on HTTP connection `idx`: a whole
    /// request is answered from the planes at once.
    pub(super) fn http_event(&mut self, idx: usize, now: Instant) {
        let Some(http) = &mut self.http else { return };
        match http.read(self.poll.registry(), idx) {
            Some(Ok(req)) => {
                let out = self.http_reply(req.route, req.head, now);
                if let Some(http) = &mut self.http {
                    http.answer(idx, out);
                }
            }
            Some(Err(())) => return,
            None => {}
        }
        if let Some(http) = &mut self.http {
            http.flush(self.poll.registry(), idx);
        }
    }

    /// HTTP connections past their idle limit are closed.
    pub(super) fn http_tick(&mut self, now: Instant) {
        if let Some(http) = &mut self.http {
            http.tick(self.poll.registry(), now);
        }
    }

    /// The bytes answering one request.
    fn http_reply(&mut self, route: Route, head: bool, now: Instant) -> Vec<u8> {
        match route {
            Route::Metrics => {
                let (t0, cpu0) = (Instant::now(), super::http::thread_cpu_s());
                let page = self.metrics_page(now);
                let took = t0.elapsed();
                let cpu = super::http::thread_cpu_s() - cpu0;
                if let Some(http) = &mut self.http {
                    let secs = took.as_secs_f64();
                    http.stats.last_render_s = secs;
                    http.stats.max_render_s = http.stats.max_render_s.max(secs);
                    http.stats.last_render_cpu_s = cpu;
                }
                response(200, PROMETHEUS_TEXT, &page, head)
            }
            Route::Health => {
                let (code, body) = self.health(now);
                response(code, "application/json", &body, head)
            }
            Route::NotFound => {
                if let Some(http) = &mut self.http {
                    http.stats.not_found += 1;
                }
                response(
                    404,
                    "text/plain",
                    "not found (try /metrics or /healthz)\n",
                    head,
                )
            }
            Route::BadMethod => response(405, "text/plain", "only GET and HEAD\n", head),
        }
    }
}
