//! Chart primitives, as inline SVG built through [`Markup`] (so labels from
//! a report are escaped like any other text). Two kinds:
//!
//! - [`LineChart`]: series of `(x, y)` points over a linear x axis (the
//!   timeline, in seconds) or a percentile axis ([`XScale::Percentile`]:
//!   x is `-log10(1 - q)`, so 90 %, 99 %, 99.9 % are evenly spaced, as
//!   HdrHistogram's plotter draws a spectrum), with vertical [`Mark`]s:
//!   command waves, and boundaries between stages of a run;
//! - bar charts, in [`bars`](super::bars), on the same [`Map`] and palette.
//!
//! Every chart is `<svg class="chart">` with a `<title>`, sized by a
//! `viewBox` so it scales with the page. Nothing here reads a report.

use std::fmt::Write as _;

use crate::tools::html::escape::Markup;

/// Width of every chart, in SVG units (the page scales it).
pub const WIDTH: f64 = 760.0;
/// Height of a line chart.
pub const LINE_HEIGHT: f64 = 260.0;
/// Room left of the plot for the y tick labels.
const LEFT: f64 = 70.0;
/// Room right of the plot, for the last x tick label.
const RIGHT: f64 = 40.0;
/// Room above the plot for the title and the mark labels.
pub const TOP: f64 = 46.0;
/// Room below the plot for the x tick labels, the axis name and the legend.
const BOTTOM: f64 = 62.0;
/// Rows the mark labels are staggered over, so neighbours do not overlap.
const MARK_ROWS: usize = 2;
/// Width of one legend character, roughly, at the legend's font size.
const LEGEND_CHAR_W: f64 = 6.2;
/// Tick marks aimed for on a linear axis.
const TICKS: usize = 5;
/// Marks labelled on one chart; past this many (a long run's waves) only
/// their lines are drawn, so labels never pile up into a black band.
pub const MAX_MARK_LABELS: usize = 12;
/// Percentile axis: nines shown at most (99.9999 %).
pub const MAX_NINES: f64 = 6.0;
/// Line colours, one per series, in order (then again).
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// How x values map to the axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XScale {
    Linear,
    /// x is `-log10(1 - q)`; ticks at each nine (0 %, 90 %, 99 %, …).
    Percentile,
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// What a vertical mark stands for (each kind is drawn its own way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// A command wave was sent.
    Wave,
    /// One stage of the run ends and the next begins (the measured window's
    /// edges; a staged run's stage changes).
    Boundary,
}

impl MarkKind {
    fn class(self) -> &'static str {
        match self {
            MarkKind::Wave => "mark wave",
            MarkKind::Boundary => "mark boundary",
        }
    }
}

/// A vertical line at `x`: a short label above the plot, the whole story
/// as its tooltip (`<title>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub x: f64,
    pub label: String,
    pub tip: String,
    pub kind: MarkKind,
}

/// A line chart (see the module docs).
#[derive(Debug, Clone)]
pub struct LineChart<'a> {
    /// The `id` of the `<svg>` (stable, for readers and tests).
    pub id: String,
    pub title: String,
    pub x_label: &'static str,
    pub y_label: &'static str,
    pub x_scale: XScale,
    pub series: &'a [Series],
    pub marks: &'a [Mark],
}

/// `lo..hi` onto `a..b` (values outside are clamped to the ends).
#[derive(Debug, Clone, Copy)]
pub struct Map {
    pub lo: f64,
    pub hi: f64,
    pub a: f64,
    pub b: f64,
}

impl Map {
    pub fn at(&self, v: f64) -> f64 {
        let span = self.hi - self.lo;
        let t = if span > 0.0 {
            (v - self.lo) / span
        } else {
            0.0
        };
        self.a + t.clamp(0.0, 1.0) * (self.b - self.a)
    }
}

/// Evenly spaced round ticks (1, 2 or 5 × 10^k apart) from 0 to at least
/// `max`; the last tick is the axis end.
pub fn nice_ticks(max: f64) -> Vec<f64> {
    if !(max.is_finite() && max > 0.0) {
        return vec![0.0, 1.0];
    }
    let raw = max / TICKS as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let n = (max / step).ceil() as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A tick's text: as few decimals as its step needs.
pub fn tick_text(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 || step <= 0.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{v:.decimals$}")
}

/// The percentile at `-log10(1 - q) = nines`: `0%`, `90%`, `99.9%`.
pub fn percentile_text(nines: f64) -> String {
    let q = 100.0 * (1.0 - 10f64.powf(-nines));
    let decimals = (nines - 2.0).max(0.0).ceil() as usize;
    format!("{q:.decimals$}%")
}

fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

impl LineChart<'_> {
    /// The x range drawn.
    fn x_range(&self) -> (f64, f64) {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter(|p| finite(p)).map(|p| p.0));
        match self.x_scale {
            XScale::Percentile => {
                let top = xs.fold(1.0f64, f64::max).ceil().min(MAX_NINES);
                (0.0, top)
            }
            XScale::Linear => {
                let marks = self.marks.iter().map(|m| m.x).filter(|x| x.is_finite());
                let (lo, hi) = xs
                    .chain(marks)
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                        (lo.min(x), hi.max(x))
                    });
                if lo > hi {
                    (0.0, 1.0)
                } else {
                    (lo.min(0.0), if hi > lo.min(0.0) { hi } else { lo + 1.0 })
                }
            }
        }
    }

    pub fn render(&self) -> Markup {
        let (x0, x1) = self.x_range();
        let y_max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().filter(|p| finite(p)).map(|p| p.1))
            .fold(0.0f64, f64::max);
        let yt = nice_ticks(y_max);
        let y_top = *yt.last().expect("two ticks at least");
        let (w, h) = (WIDTH, LINE_HEIGHT);
        let (pl, pr, pt, pb) = (LEFT, w - RIGHT, TOP, h - BOTTOM);
        let xm = Map {
            lo: x0,
            hi: x1,
            a: pl,
            b: pr,
        };
        let ym = Map {
            lo: 0.0,
            hi: y_top,
            a: pb,
            b: pt,
        };
        let mut m = open_chart("chart", &self.id, (w, h), &self.title, pl);
        m.empty(
            "rect",
            &[
                ("class", &"frame"),
                ("x", &pl),
                ("y", &pt),
                ("width", &(pr - pl)),
                ("height", &(pb - pt)),
            ],
        );
        let ystep = yt.get(1).copied().unwrap_or(1.0);
        for &v in &yt {
            let y = r1(ym.at(v));
            m.empty(
                "line",
                &[
                    ("class", &"grid"),
                    ("x1", &pl),
                    ("x2", &pr),
                    ("y1", &y),
                    ("y2", &y),
                ],
            );
            m.el(
                "text",
                &[("class", &"tick y"), ("x", &(pl - 6.0)), ("y", &(y + 4.0))],
                tick_text(v, ystep),
            );
        }
        let xt: Vec<(f64, String)> = match self.x_scale {
            XScale::Percentile => (0..=x1 as usize)
                .map(|k| (k as f64, percentile_text(k as f64)))
                .collect(),
            XScale::Linear => {
                let t = nice_ticks(x1 - x0);
                let step = t.get(1).copied().unwrap_or(1.0);
                t.into_iter()
                    .map(|v| v + x0)
                    .filter(|v| *v <= x1 + 1e-9)
                    .map(|v| (v, tick_text(v, step)))
                    .collect()
            }
        };
        for (v, label) in &xt {
            let x = r1(xm.at(*v));
            m.empty(
                "line",
                &[
                    ("class", &"grid"),
                    ("x1", &x),
                    ("x2", &x),
                    ("y1", &pt),
                    ("y2", &pb),
                ],
            );
            m.el(
                "text",
                &[("class", &"tick x"), ("x", &x), ("y", &(pb + 16.0))],
                label,
            );
        }
        m.el(
            "text",
            &[
                ("class", &"axis x"),
                ("x", &((pl + pr) / 2.0)),
                ("y", &(pb + 32.0)),
            ],
            self.x_label,
        );
        let (ly, lx) = ((pt + pb) / 2.0, 14.0);
        let rot = format!("rotate(-90 {lx} {ly})");
        m.el(
            "text",
            &[
                ("class", &"axis y"),
                ("x", &lx),
                ("y", &ly),
                ("transform", &rot),
            ],
            self.y_label,
        );
        self.draw_marks(&mut m, xm, pt, pb);
        self.draw_series(&mut m, xm, ym, pl, h - 12.0);
        m.close("svg");
        m
    }
}

impl LineChart<'_> {
    /// Each mark's line over the plot, its label above it (rows staggered).
    fn draw_marks(&self, m: &mut Markup, xm: Map, pt: f64, pb: f64) {
        let labelled = self.marks.len() <= MAX_MARK_LABELS;
        let marks = self.marks.iter().filter(|mk| mk.x.is_finite());
        for (i, mk) in marks.enumerate() {
            let x = r1(xm.at(mk.x));
            m.open("g", &[("class", &mk.kind.class())]);
            m.el("title", &[], &mk.tip);
            m.empty(
                "line",
                &[("x1", &x), ("x2", &x), ("y1", &(pt - 10.0)), ("y2", &pb)],
            );
            if labelled {
                let y = pt - 4.0 - 12.0 * (i % MARK_ROWS) as f64;
                m.el("text", &[("x", &(x + 2.0)), ("y", &y)], &mk.label);
            }
            m.close("g");
        }
    }

    /// Each series' path, and the legend in one row at `legend_y`.
    fn draw_series(&self, m: &mut Markup, xm: Map, ym: Map, left: f64, legend_y: f64) {
        let mut lx = left;
        for (i, s) in self.series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let mut d = String::new();
            for (j, p) in s.points.iter().filter(|p| finite(p)).enumerate() {
                let cmd = if j == 0 { 'M' } else { 'L' };
                let _ = write!(d, "{cmd}{:.1} {:.1} ", xm.at(p.0), ym.at(p.1));
            }
            m.open(
                "path",
                &[
                    ("class", &"series"),
                    ("stroke", &colour),
                    ("d", &d.trim_end()),
                ],
            );
            m.el("title", &[], &s.label).close("path");
            m.empty(
                "rect",
                &[
                    ("x", &r1(lx)),
                    ("y", &(legend_y - 9.0)),
                    ("width", &10),
                    ("height", &10),
                    ("fill", &colour),
                ],
            );
            m.el(
                "text",
                &[
                    ("class", &"legend"),
                    ("x", &r1(lx + 14.0)),
                    ("y", &legend_y),
                ],
                &s.label,
            );
            lx += 30.0 + LEGEND_CHAR_W * s.label.chars().count() as f64;
        }
    }
}

/// One decimal, for coordinates.
pub fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// A chart's `<svg>` opened (`class`, `id`, a `w`×`h` view box), with its
/// title as a tooltip and as text at `title_x`; the caller closes it.
pub fn open_chart(
    class: &'static str,
    id: &str,
    (w, h): (impl std::fmt::Display, impl std::fmt::Display),
    title: &str,
    title_x: impl std::fmt::Display,
) -> Markup {
    let mut m = Markup::new();
    let vb = format!("0 0 {w} {h}");
    m.open(
        "svg",
        &[
            ("class", &class),
            ("id", &id),
            ("viewBox", &vb),
            ("role", &"img"),
        ],
    );
    m.el("title", &[], title);
    m.el(
        "text",
        &[("class", &"title"), ("x", &title_x), ("y", &16)],
        title,
    );
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(nice_ticks(10.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(46_346.0).last(), Some(&50_000.0));
        assert_eq!(nice_ticks(0.0), [0.0, 1.0]);
        assert_eq!(nice_ticks(f64::NAN), [0.0, 1.0]);
        let t = nice_ticks(0.031);
        assert!(t.last().unwrap() >= &0.031 && t.len() <= 8, "{t:?}");
        assert_eq!(tick_text(0.5, 0.1), "0.5");
        assert_eq!(tick_text(20000.0, 10000.0), "20000");
    }

    #[test]
    fn percentile_ticks_read_as_nines() {
        let t: Vec<String> = (0..5).map(|k| percentile_text(k as f64)).collect();
        assert_eq!(t, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }

    fn chart<'a>(series: &'a [Series], marks: &'a [Mark]) -> String {
        LineChart {
            id: "c1".into(),
            title: "STATUS <p99>".into(),
            x_label: "s",
            y_label: "ms",
            x_scale: XScale::Linear,
            series,
            marks,
        }
        .render()
        .into_string()
    }

    #[test]
    fn a_line_per_series_and_a_line_per_mark_each_kind_its_class() {
        let series = [
            Series {
                label: "sent".into(),
                points: vec![(1.0, 10.0), (2.0, 30.0), (3.0, f64::NAN)],
            },
            Series {
                label: "up".into(),
                points: vec![(1.0, 5.0)],
            },
        ];
        let marks = [
            Mark {
                x: 1.5,
                label: "w1".into(),
                tip: "wave 1".into(),
                kind: MarkKind::Wave,
            },
            Mark {
                x: 2.0,
                label: "ramp".into(),
                tip: "stage \"ramp\" ends".into(),
                kind: MarkKind::Boundary,
            },
        ];
        let s = chart(&series, &marks);
        assert!(s.starts_with("<svg class=\"chart\" id=\"c1\""), "{s}");
        assert_eq!(s.matches("<path class=\"series\"").count(), 2);
        assert_eq!(s.matches("<g class=\"mark wave\">").count(), 1);
        assert_eq!(s.matches("<g class=\"mark boundary\">").count(), 1);
        assert!(s.contains("stage &quot;ramp&quot; ends") && s.contains("STATUS &lt;p99&gt;"));
        // The NaN point is left out of the path: M, then one L.
        let d = s.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(
            (d.matches('M').count(), d.matches('L').count()),
            (1, 1),
            "{d}"
        );
        // The highest point (30 of an axis to 30) touches the plot's top.
        assert!(d.ends_with(&format!("{TOP:.1}")), "{d}");
    }

    #[test]
    fn many_marks_lose_their_labels_not_their_lines() {
        let marks: Vec<Mark> = (0..=MAX_MARK_LABELS)
            .map(|i| Mark {
                x: i as f64,
                label: format!("w{i}"),
                tip: format!("w{i}"),
                kind: MarkKind::Wave,
            })
            .collect();
        let s = chart(&[], &marks);
        assert_eq!(s.matches("<g class=\"mark wave\">").count(), marks.len());
        assert!(!s.contains(">w3</text>"), "{s}");
        assert!(s.contains("<title>w3</title>"));
    }

    #[test]
    fn percentile_axis_ends_at_the_last_nine_reached() {
        let series = [Series {
            label: "a".into(),
            points: vec![(0.0, 1.0), (2.3, 4.0)],
        }];
        let s = LineChart {
            id: "p".into(),
            title: "t".into(),
            x_label: "percentile",
            y_label: "ms",
            x_scale: XScale::Percentile,
            series: &series,
            marks: &[],
        }
        .render()
        .into_string();
        assert!(
            s.contains(">99.9%</text>") && !s.contains(">99.99%</text>"),
            "{s}"
        );
    }
}
