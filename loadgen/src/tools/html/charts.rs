//! One report's charts, from its typed sections to [`svg`](super::svg) primitives:
//!
//! - the per-second `timeline` as four line charts sharing the time axis
//!   (rates, devices up, trouble, STATUS p99), each with the run's
//!   [`marks`]: command waves, the measured window's edges (from
//!   `config.warmup` and `config.duration`) and, for a staged run, where
//!   each stage begins;
//! - a latency spectrum per kind with samples ([`spectrum_series`], also
//!   overlaid by `compare`);
//! - loss by fate, and CPU, as bar charts.
//!
//! Chart ids are `<letter>-<chart>`, e.g. `A-timeline-rate`,
//! `A-spectrum-status`, `A-loss`, `A-cpu`.

use crate::report::Report;
use crate::tools::html::bars::{Bar, BarChart};
use crate::tools::html::escape::Markup;
use crate::tools::html::spectrum::Spectrum;
use crate::tools::html::svg::{LineChart, Mark, MarkKind, Series, XScale};
use crate::tools::html::Input;
use crate::tools::table::label;

/// Waves and stage boundaries on the timeline's axis (seconds since the
/// run started, the origin of `timeline[].t_s` and `wave_list[].sent_at_ms`).
pub fn marks(r: &Report) -> Vec<Mark> {
    let mut v: Vec<Mark> = r
        .commands
        .wave_list
        .iter()
        .map(|w| Mark {
            x: w.sent_at_ms as f64 / 1e3,
            label: format!("w{}", w.id),
            tip: format!(
                "wave {} at {} ms: {} ({}/{} acked)",
                w.id, w.sent_at_ms, w.command, w.acked, w.reached
            ),
            kind: MarkKind::Wave,
        })
        .collect();
    let warmup = r.config.warmup.as_secs_f64();
    if warmup > 0.0 {
        v.push(Mark {
            x: warmup,
            label: "measured".into(),
            tip: "warm-up ends, the measured window begins".into(),
            kind: MarkKind::Boundary,
        });
    }
    v.push(Mark {
        x: warmup + r.config.duration.as_secs_f64(),
        label: "stop".into(),
        tip: "the measured window ends; trailing STATUS drain".into(),
        kind: MarkKind::Boundary,
    });
    v.extend(super::stages::marks(r));
    v
}

/// A series of one timeline column.
fn column(
    r: &Report,
    label: &str,
    f: impl Fn(&crate::report::timeline::Sample) -> Option<f64>,
) -> Series {
    let points = r
        .timeline
        .iter()
        .flatten()
        .filter_map(|s| Some((s.t_s as f64, f(s)?)))
        .collect();
    Series {
        label: label.into(),
        points,
    }
}

pub fn timeline(m: &mut Markup, i: &Input) {
    let r = &i.report;
    if r.timeline.as_ref().is_none_or(|t| t.is_empty()) {
        m.el(
            "p",
            &[("class", &"note")],
            "No timeline (a report from before the per-second timeline).",
        );
        return;
    }
    let marks = marks(r);
    let charts: [(&str, &str, &str, Vec<Series>); 4] = [
        (
            "rate",
            "datagrams and STATUS per second",
            "per second",
            vec![
                column(r, "datagrams sent", |s| Some(s.datagrams_sent as f64)),
                column(r, "STATUS matched", |s| Some(s.statuses as f64)),
            ],
        ),
        (
            "devices",
            "devices registered",
            "devices",
            vec![column(r, "devices up", |s| Some(s.devices_up as f64))],
        ),
        (
            "trouble",
            "trouble per second",
            "per second",
            vec![
                column(r, "fates missing", |s| Some(s.fates_missing as f64)),
                column(r, "fates unknown", |s| Some(s.fates_unknown as f64)),
                column(r, "STATUS timeouts", |s| Some(s.status_timeouts as f64)),
                column(r, "reconnects", |s| Some(s.reconnects as f64)),
                column(r, "connect failures", |s| Some(s.connect_failures as f64)),
            ],
        ),
        (
            "p99",
            "STATUS p99 of each second, ms",
            "ms",
            vec![
                // A second without STATUS has no p99 (0 in the report): left out.
                column(r, "STATUS p99", |s| {
                    (s.statuses > 0).then(|| s.status_p99_us as f64 / 1e3)
                }),
            ],
        ),
    ];
    for (id, title, y_label, series) in charts {
        m.append(
            &LineChart {
                id: format!("{}-timeline-{id}", i.letter),
                title: format!("{}: {title}", i.letter),
                x_label: "seconds since the start (dashed: waves; long dashes: stage boundaries)",
                y_label,
                x_scale: XScale::Linear,
                series: &series,
                marks: &marks,
            }
            .render(),
        );
    }
}

/// `s` as a chart line named `name (n=count)`.
pub fn spectrum_series(name: String, s: &Spectrum) -> Series {
    Series {
        label: format!("{name} (n={})", s.count),
        points: s.points.clone(),
    }
}

pub fn spectra(m: &mut Markup, i: &Input) {
    if i.spectra.is_empty() {
        m.el("p", &[("class", &"note")], "No latency samples.");
    }
    for (kind, s) in &i.spectra {
        let series = [spectrum_series(
            format!("{} {}", i.letter, label(&i.report)),
            s,
        )];
        m.append(
            &LineChart {
                id: format!("{}-spectrum-{kind}", i.letter),
                title: format!("{}: {kind} latency by percentile", i.letter),
                x_label: "percentile",
                y_label: "ms",
                x_scale: XScale::Percentile,
                series: &series,
                marks: &[],
            }
            .render(),
        );
    }
}

/// `n` and its share of `of`.
fn share(n: i64, of: u64) -> String {
    if of == 0 {
        n.to_string()
    } else {
        format!("{n} ({:.3}%)", 100.0 * n as f64 / of as f64)
    }
}

pub fn loss(m: &mut Markup, i: &Input) {
    let r = &i.report;
    let u = &r.udp;
    let f = &u.fates;
    let g = u.generated;
    let bar = |label: &str, n: i64| Bar {
        label: label.into(),
        value: n as f64,
        figure: share(n, g),
    };
    let mut bars = if r.schema_version < 2 {
        vec![
            bar("injected drops", u.injected_drops as i64),
            bar("reported missing", u.reported_missing as i64),
        ]
    } else {
        vec![
            bar("missing (per STATUS)", f.missing as i64),
            bar("unknown (no valid STATUS)", f.unknown as i64),
            bar("injected (on purpose)", f.injected as i64),
            bar("send errors", f.send_errors as i64),
            bar("corrupted (on purpose)", f.corrupted as i64),
            bar("unsent (held by --delay)", f.unsent as i64),
        ]
    };
    bars.push(bar("unexplained loss", u.unexplained_loss));
    if u.blurred_by_overload != 0 {
        bars.push(bar("blurred by overload", u.blurred_by_overload));
    }
    m.append(
        &BarChart {
            id: format!("{}-loss", i.letter),
            title: format!(
                "{}: datagrams not received, of {g} generated ({} received)",
                i.letter,
                if r.schema_version < 2 {
                    u.reported_received
                } else {
                    f.received
                }
            ),
            bars: &bars,
        }
        .render(),
    );
}

pub fn cpu(m: &mut Markup, i: &Input) {
    let c = &i.report.cpu;
    let bar = |label: String, s: f64| Bar {
        label,
        value: s,
        figure: format!("{s:.3} s"),
    };
    let mut bars = vec![bar("generator (loadgen)".into(), c.loadgen_s)];
    if let Some(h) = c.hub_s {
        bars.push(bar("embedded hub".into(), h));
    }
    bars.extend(
        c.threads
            .iter()
            .map(|(n, s)| bar(format!("thread {n}"), *s)),
    );
    m.append(
        &BarChart {
            id: format!("{}-cpu", i.letter),
            title: format!(
                "{}: CPU seconds (threads: those alive at the end)",
                i.letter
            ),
            bars: &bars,
        }
        .render(),
    );
}
