//! Horizontal bar charts (loss by fate, CPU): one bar per figure on one
//! linear scale from 0, the figure printed beside each bar, as inline SVG
//! through [`Markup`] like [`svg`](super::svg)'s line charts.

use crate::tools::html::escape::Markup;
use crate::tools::html::svg::{r1, Map, PALETTE, TOP, WIDTH};

/// Height of one bar, gap included.
const BAR_ROW: f64 = 24.0;
/// Room left of the bars for their names.
const BAR_LABEL_W: f64 = 190.0;
/// Room right of the longest bar for its figure.
const BAR_FIGURE_W: f64 = 170.0;

/// One bar: a name, its value and the figure printed beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub figure: String,
}

/// Horizontal bars on one linear scale (see the module docs).
#[derive(Debug, Clone)]
pub struct BarChart<'a> {
    pub id: String,
    pub title: String,
    pub bars: &'a [Bar],
}

impl BarChart<'_> {
    pub fn render(&self) -> Markup {
        let h = TOP + BAR_ROW * self.bars.len() as f64 + 10.0;
        let (x0, x1) = (BAR_LABEL_W, WIDTH - BAR_FIGURE_W);
        let max = self
            .bars
            .iter()
            .map(|b| b.value)
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let xm = Map {
            lo: 0.0,
            hi: max,
            a: x0,
            b: x1,
        };
        let mut m = super::svg::open_chart("chart bars", &self.id, (WIDTH, h), &self.title, 8);
        for (i, b) in self.bars.iter().enumerate() {
            let y = TOP + BAR_ROW * i as f64;
            let v = if b.value.is_finite() {
                b.value.max(0.0)
            } else {
                0.0
            };
            let w = r1(xm.at(v) - x0);
            let colour = PALETTE[i % PALETTE.len()];
            m.el(
                "text",
                &[
                    ("class", &"bar-label"),
                    ("x", &(x0 - 8.0)),
                    ("y", &(y + 14.0)),
                ],
                &b.label,
            );
            m.empty(
                "rect",
                &[
                    ("x", &x0),
                    ("y", &(y + 3.0)),
                    ("width", &w),
                    ("height", &(BAR_ROW - 6.0)),
                    ("fill", &colour),
                    ("data-value", &b.value),
                ],
            );
            m.el(
                "text",
                &[
                    ("class", &"bar-figure"),
                    ("x", &(x0 + w + 6.0)),
                    ("y", &(y + 14.0)),
                ],
                &b.figure,
            );
        }
        m.close("svg");
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_linearly_and_carry_their_figures() {
        let bars = [
            Bar {
                label: "missing".into(),
                value: 10.0,
                figure: "10 (1%)".into(),
            },
            Bar {
                label: "unknown".into(),
                value: 5.0,
                figure: "5".into(),
            },
            Bar {
                label: "none".into(),
                value: 0.0,
                figure: "0".into(),
            },
        ];
        let s = BarChart {
            id: "b".into(),
            title: "loss".into(),
            bars: &bars,
        }
        .render()
        .into_string();
        let widths: Vec<f64> = s
            .split("width=\"")
            .skip(1)
            .map(|w| w.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(widths.len(), 3);
        assert_eq!(widths[0], WIDTH - BAR_FIGURE_W - BAR_LABEL_W);
        assert_eq!(widths[1], widths[0] / 2.0);
        assert_eq!(widths[2], 0.0);
        assert!(s.contains(">10 (1%)</text>"));
    }
}
