//! The summary's `stages` section: one row per stage (window, target,
//! planned / offered / achieved datagrams per second, fates, STATUS and
//! command p50/p99, held or what broke) and the verdict line. Pure: the
//! report's section in, text out.

use std::fmt::Write;

use super::figures::StagesReport;
use super::StageTarget;

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1e3)
}

/// Appends the section for `s` to `o`.
pub fn render(o: &mut String, s: &StagesReport) {
    let what = match s.target {
        StageTarget::Rate => "datagrams/s",
        StageTarget::Devices => "devices",
    };
    let _ = writeln!(o, "\n  stages (target: {what})");
    let _ = writeln!(
        o,
        "    {:<5} {:>13} {:>13} {:>8} {:>8} {:>8} {:>7} {:>7} {:>6} {:>15} {:>15}  verdict",
        "stage",
        "window s",
        "target",
        "planned",
        "offered",
        "achieved",
        "missing",
        "unknown",
        "unexpl",
        "STATUS p50/p99",
        "command p50/p99"
    );
    for f in &s.list {
        let target = if f.target_start == f.target_end {
            format!("{}", f.target_end)
        } else {
            format!("{}→{}", f.target_start, f.target_end)
        };
        let verdict = if f.held {
            "held".to_string()
        } else {
            let first = f.breaches.first().map_or("", |b| b.text.as_str());
            format!("BROKE: {first}")
        };
        let _ = writeln!(
            o,
            "    {:<5} {:>13} {:>13} {:>8} {:>8.0} {:>8.0} {:>7} {:>7} {:>6} {:>15} {:>15}  {verdict}",
            f.stage,
            format!("{:.1}–{:.1}", f.start_ms as f64 / 1e3, f.end_ms as f64 / 1e3),
            target,
            f.planned_per_s.map_or("-".to_string(), |p| format!("{p:.0}")),
            f.offered_per_s,
            f.achieved_per_s,
            f.fates.missing,
            f.fates.unknown,
            f.unexplained_loss,
            format!("{}/{}ms", ms(f.status_us.p50), ms(f.status_us.p99)),
            format!("{}/{}ms", ms(f.command_us.p50), ms(f.command_us.p99)),
        );
    }
    let _ = writeln!(o, "    {}", s.verdict);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::figures::{Breach, Pct, StageFigures};

    #[test]
    fn a_row_per_stage_and_the_verdict() {
        let f = |stage, from, to, held| StageFigures {
            stage,
            start_ms: 1000 * u64::from(stage - 1),
            end_ms: 1000 * u64::from(stage),
            target_start: from,
            target_end: to,
            planned_per_s: Some((from + to) / 2.0),
            offered_per_s: (from + to) / 2.0,
            sent_per_s: 0.0,
            achieved_per_s: 1.0,
            devices_up_end: 5,
            fates: Default::default(),
            cut: 0,
            cycles_started: 1,
            statuses: 1,
            unanswered_cycles: 0,
            unexplained_loss: if held { 0 } else { 9 },
            send_lag_p99_us: 0,
            late_sends: 0,
            status_us: Pct {
                p50: 1500,
                p99: 2500,
                count: 3,
            },
            command_us: Pct::default(),
            held,
            breaches: if held {
                Vec::new()
            } else {
                vec![Breach {
                    figure: "unexplained_loss".into(),
                    value: 9.0,
                    limit: 0.0,
                    text: "unexplained loss 9 > 0".into(),
                }]
            },
        };
        let s = StagesReport {
            target: StageTarget::Rate,
            list: vec![f(1, 0.0, 500.0, true), f(2, 500.0, 500.0, false)],
            knee: None,
            held: 1,
            verdict: "held up to stage 1 (500/s); broke in stage 2 (500/s): unexplained loss 9 > 0"
                .into(),
        };
        let mut o = String::new();
        render(&mut o, &s);
        let lines: Vec<&str> = o.lines().collect();
        assert_eq!(lines[1], "  stages (target: datagrams/s)");
        assert!(
            lines[3].contains("0→500")
                && lines[3].contains("1.5/2.5ms")
                && lines[3].ends_with("held"),
            "{o}"
        );
        assert!(lines[4].ends_with("BROKE: unexplained loss 9 > 0"), "{o}");
        assert!(
            lines[5].trim_start().starts_with("held up to stage 1"),
            "{o}"
        );
    }
}
