//! A staged run (`--stages`) on the page: where each stage begins on the
//! timeline ([`marks`]), and the stages' table with the knee ([`table`]):
//! per stage its window, target, offered and achieved rates, loss, STATUS
//! and command percentiles and verdict, the first stage that broke picked
//! out (`A-knee`, `data-value` its stage, 0 when every stage held).

use std::fmt::Write as _;

use crate::report::Report;
use crate::tools::html::escape::Markup;
use crate::tools::html::svg::{Mark, MarkKind};
use crate::tools::html::tables::{grid, ms};
use crate::tools::html::Input;

/// A boundary mark where each stage begins (seconds since the start).
pub fn marks(r: &Report) -> Vec<Mark> {
    let Some(s) = &r.stages else {
        return Vec::new();
    };
    s.list
        .iter()
        .map(|f| Mark {
            x: f.start_ms as f64 / 1e3,
            label: format!("s{}", f.stage),
            tip: format!(
                "stage {} begins: target {} → {}",
                f.stage,
                num(f.target_start),
                num(f.target_end)
            ),
            kind: MarkKind::Boundary,
        })
        .collect()
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The stages' table and verdict line; nothing for a run without stages.
pub fn table(m: &mut Markup, i: &Input) {
    let Some(s) = &i.report.stages else {
        return;
    };
    let knee = s.knee.as_ref().map_or(0, |k| k.stage);
    let id = format!("{}-knee", i.letter);
    m.el(
        "p",
        &[
            ("id", &id),
            ("data-value", &knee),
            ("class", &if knee == 0 { "ok" } else { "failed" }),
        ],
        &s.verdict,
    );
    let rows: Vec<Vec<String>> = s
        .list
        .iter()
        .map(|f| {
            let mut verdict = if f.held {
                "held".to_string()
            } else {
                "broke".to_string()
            };
            for b in &f.breaches {
                let _ = write!(verdict, "; {}", b.text);
            }
            vec![
                f.stage.to_string(),
                format!(
                    "{:.1}–{:.1}",
                    f.start_ms as f64 / 1e3,
                    f.end_ms as f64 / 1e3
                ),
                format!("{} → {}", num(f.target_start), num(f.target_end)),
                f.planned_per_s.map_or("–".into(), |p| format!("{p:.0}")),
                format!("{:.0}", f.offered_per_s),
                format!("{:.0}", f.achieved_per_s),
                f.fates.missing.to_string(),
                f.fates.unknown.to_string(),
                f.unexplained_loss.to_string(),
                format!("{} / {}", ms(f.status_us.p50), ms(f.status_us.p99)),
                format!("{} / {}", ms(f.command_us.p50), ms(f.command_us.p99)),
                verdict,
            ]
        })
        .collect();
    grid(
        m,
        "stages",
        &[
            "stage",
            "window, s",
            "target",
            "planned /s",
            "offered /s",
            "achieved /s",
            "missing",
            "unknown",
            "unexplained",
            "STATUS p50 / p99, ms",
            "command p50 / p99, ms",
            "verdict",
        ],
        &rows,
    );
}
