//! The staged run's verdict. Each stage is judged on the run's own limits:
//! unexplained loss within `--max-unexplained-loss` (default 0), no datagram
//! of unknown fate (every cycle answered), send-lag p99 within
//! `--max-send-lag-ms` and, with `--max-p99-ms`, STATUS p99 within it. The
//! knee is the first stage where one of them is crossed; the figures of
//! that stage are its evidence. As in the whole-run checks, loss in a stage
//! where the generator fell behind is not the hub's: that stage breaks on
//! its send lag alone.
//!
//! The run gets a named check `knee` (failed when even the first stage
//! broke), and the whole-run load checks (`unexplained_loss`,
//! `cycles_answered`, `generator_schedule`, `max_p99_ms`) that failed only
//! because of stages at or past a knee found past the first stage are
//! waived (`allowed`, their figure says so): finding the knee is what a
//! staged run is for, so it exits 0 when stages 1…k−1 held, 1 when stage 1
//! did not (or any other check failed).

use crate::config::RunConfig;
use crate::report::checks::{self, Check};
use crate::report::Report;

use super::figures::{Breach, Knee, StageFigures, StagesReport};
use super::{StageTarget, Stages};

pub use crate::report::check_names::KNEE;

/// Whole-run checks a knee past the first stage explains.
pub const LOAD_CHECKS: [&str; 4] = [
    checks::UNEXPLAINED_LOSS,
    checks::CYCLES_ANSWERED,
    checks::GENERATOR_SCHEDULE,
    checks::MAX_P99_MS,
];

/// The figures of `f` over the run's limits, the deciding one first.
pub fn breaches(f: &StageFigures, cfg: &RunConfig) -> Vec<Breach> {
    let mut v = Vec::new();
    let lag_limit_ms = cfg.max_send_lag.as_secs_f64() * 1e3;
    let lag_ms = f.send_lag_p99_us as f64 / 1e3;
    let saturated = lag_ms > lag_limit_ms;
    let loss_limit = cfg.max_unexplained_loss.unwrap_or(0);
    if !saturated && f.unexplained_loss.unsigned_abs() > loss_limit {
        v.push(Breach {
            figure: "unexplained_loss".into(),
            value: f.unexplained_loss as f64,
            limit: loss_limit as f64,
            text: format!("unexplained loss {} > {loss_limit}", f.unexplained_loss),
        });
    }
    if f.fates.unknown > 0 || f.unanswered_cycles > 0 {
        v.push(Breach {
            figure: "fates_unknown".into(),
            value: f.fates.unknown as f64,
            limit: 0.0,
            text: format!(
                "{} datagrams of unknown fate > 0 ({} cycles unanswered)",
                f.fates.unknown, f.unanswered_cycles
            ),
        });
    }
    if saturated {
        v.push(Breach {
            figure: "send_lag_p99_ms".into(),
            value: lag_ms,
            limit: lag_limit_ms,
            text: format!(
                "send lag p99 {lag_ms:.1} ms > {lag_limit_ms} ms (the generator fell behind, not the hub)"
            ),
        });
    }
    if let Some(ms) = cfg.max_p99_ms {
        let p99 = f.status_us.p99 as f64 / 1e3;
        if p99 > ms {
            v.push(Breach {
                figure: "status_p99_ms".into(),
                value: p99,
                limit: ms,
                text: format!("STATUS p99 {p99:.1} ms > {ms} ms"),
            });
        }
    }
    v
}

fn value(x: f64, target: StageTarget) -> String {
    format!("{}{}", x, target.unit())
}

fn range(f: &StageFigures, target: StageTarget) -> String {
    if f.target_start == f.target_end {
        value(f.target_end, target)
    } else {
        format!("{}→{}", f.target_start, value(f.target_end, target))
    }
}

/// Judges every stage and finds the knee.
pub fn judge(stages: &Stages, mut list: Vec<StageFigures>, cfg: &RunConfig) -> StagesReport {
    for f in &mut list {
        f.breaches = breaches(f, cfg);
        f.held = f.breaches.is_empty();
    }
    let t = stages.target;
    let knee = list.iter().find(|f| !f.held).map(|f| Knee {
        stage: f.stage,
        target_start: f.target_start,
        target_end: f.target_end,
        evidence: f.breaches.clone(),
    });
    let held = knee.as_ref().map_or(list.len() as u32, |k| k.stage - 1);
    let verdict = match &knee {
        None => format!(
            "held through all {} stages (peak {})",
            list.len(),
            value(stages.peak(), t)
        ),
        Some(k) => {
            let f = &list[k.stage as usize - 1];
            let why: Vec<&str> = k.evidence.iter().map(|b| b.text.as_str()).collect();
            let before = match held {
                0 => "no stage held".to_string(),
                h => format!(
                    "held up to stage {h} ({})",
                    value(list[h as usize - 1].target_end, t)
                ),
            };
            format!(
                "{before}; broke in stage {} ({}): {}",
                k.stage,
                range(f, t),
                why.join(", ")
            )
        }
    };
    StagesReport {
        target: t,
        list,
        knee,
        held,
        verdict,
    }
}

/// Puts the judged stages into `r`: the `knee` check, the load checks a
/// knee past the first stage explains waived, the verdict recomputed.
pub fn apply(r: &mut Report, stages: StagesReport, cfg: &RunConfig) {
    let knee_at = stages.knee.as_ref().map(|k| k.stage);
    let passed = knee_at.is_none_or(|k| k > 1);
    r.checks.push(Check {
        name: KNEE.to_string(),
        passed,
        figure: stages.verdict.clone(),
        allowed: !passed && cfg.allow_failed_checks.iter().any(|n| n == KNEE),
        not_checked: false,
        file: None,
    });
    if let Some(k) = knee_at.filter(|&k| k > 1) {
        for c in r.checks.iter_mut() {
            if LOAD_CHECKS.contains(&c.name.as_str()) && c.fails_run() {
                c.allowed = true;
                c.figure.push_str(&format!(
                    " (past the knee: stage {k}; stages 1–{} held)",
                    k - 1
                ));
            }
        }
    }
    r.stages = Some(stages);
    r.conclude();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;
    use crate::report::Fates;
    use crate::stages::figures::Pct;

    fn fig(stage: u32, from: f64, to: f64) -> StageFigures {
        StageFigures {
            stage,
            start_ms: 0,
            end_ms: 1000,
            target_start: from,
            target_end: to,
            planned_per_s: Some((from + to) / 2.0),
            offered_per_s: 0.0,
            sent_per_s: 0.0,
            achieved_per_s: 0.0,
            devices_up_end: 0,
            fates: Fates::default(),
            cut: 0,
            cycles_started: 1,
            statuses: 1,
            unanswered_cycles: 0,
            unexplained_loss: 0,
            send_lag_p99_us: 1000,
            late_sends: 0,
            status_us: Pct::default(),
            command_us: Pct::default(),
            held: true,
            breaches: Vec::new(),
        }
    }

    fn stages() -> Stages {
        Stages::parse("1s:1000,1s:5000,1s:8000", StageTarget::Rate).unwrap()
    }

    #[test]
    fn the_knee_is_the_first_stage_over_a_limit_with_its_evidence() {
        let cfg = fixture::config(&["--max-p99-ms", "50"]);
        let mut l = vec![
            fig(1, 0.0, 1000.0),
            fig(2, 1000.0, 5000.0),
            fig(3, 5000.0, 8000.0),
        ];
        l[2].unexplained_loss = 123;
        l[2].status_us.p99 = 80_000;
        let s = judge(&stages(), l, &cfg);
        let k = s.knee.as_ref().expect("a knee");
        assert_eq!(k.stage, 3);
        assert_eq!(s.held, 2);
        assert_eq!(k.evidence[0].figure, "unexplained_loss");
        assert_eq!((k.evidence[0].value, k.evidence[0].limit), (123.0, 0.0));
        assert_eq!(k.evidence[1].figure, "status_p99_ms");
        assert_eq!(
            s.verdict,
            "held up to stage 2 (5000/s); broke in stage 3 (5000→8000/s): unexplained loss 123 > 0, STATUS p99 80.0 ms > 50 ms"
        );
    }

    #[test]
    fn an_overloaded_generator_breaks_a_stage_on_its_lag_not_on_loss() {
        let cfg = fixture::config(&[]);
        let mut l = vec![
            fig(1, 0.0, 1000.0),
            fig(2, 1000.0, 5000.0),
            fig(3, 5000.0, 8000.0),
        ];
        l[1].unexplained_loss = 40;
        l[1].send_lag_p99_us = 900_000;
        let s = judge(&stages(), l, &cfg);
        let k = s.knee.unwrap();
        assert_eq!(k.stage, 2);
        assert_eq!(k.evidence.len(), 1);
        assert_eq!(k.evidence[0].figure, "send_lag_p99_ms");
        assert!(
            s.verdict.contains("the generator fell behind"),
            "{}",
            s.verdict
        );
    }

    #[test]
    fn no_knee_means_every_stage_held_and_a_first_stage_knee_holds_none() {
        let cfg = fixture::config(&[]);
        let ok = vec![
            fig(1, 0.0, 1000.0),
            fig(2, 1000.0, 5000.0),
            fig(3, 5000.0, 8000.0),
        ];
        let s = judge(&stages(), ok.clone(), &cfg);
        assert!(s.knee.is_none());
        assert_eq!(s.held, 3);
        assert_eq!(s.verdict, "held through all 3 stages (peak 8000/s)");
        let mut bad = ok;
        bad[0].fates.unknown = 10;
        bad[0].unanswered_cycles = 1;
        let s = judge(&stages(), bad, &cfg);
        assert_eq!(s.held, 0);
        assert!(
            s.verdict.starts_with(
                "no stage held; broke in stage 1 (0→1000/s): 10 datagrams of unknown fate"
            ),
            "{}",
            s.verdict
        );
    }

    #[test]
    fn a_knee_past_the_first_stage_waives_the_load_checks_and_passes() {
        let cfg = fixture::config(&[]);
        let mut r = fixture::report(&["--devices", "7"]);
        let loss = r
            .checks
            .iter_mut()
            .find(|c| c.name == checks::UNEXPLAINED_LOSS)
            .unwrap();
        loss.passed = false;
        let proto = r
            .checks
            .iter_mut()
            .find(|c| c.name == checks::HUB_PROTOCOL)
            .unwrap();
        proto.passed = true;
        r.conclude();
        assert!(!r.ok);
        let mut l = vec![
            fig(1, 0.0, 1000.0),
            fig(2, 1000.0, 5000.0),
            fig(3, 5000.0, 8000.0),
        ];
        l[2].unexplained_loss = 5;
        let mut late = r.clone();
        apply(&mut r, judge(&stages(), l.clone(), &cfg), &cfg);
        let fails = |r: &Report, name: &str| r.breaches.iter().any(|b| b.starts_with(name));
        assert!(
            !fails(&r, "unexplained_loss") && !fails(&r, KNEE),
            "{:?}",
            r.breaches
        );
        let loss = r
            .checks
            .iter()
            .find(|c| c.name == checks::UNEXPLAINED_LOSS)
            .unwrap();
        assert!(
            loss.allowed && loss.figure.contains("past the knee: stage 3"),
            "{}",
            loss.figure
        );
        let knee = r.checks.iter().find(|c| c.name == KNEE).unwrap();
        assert!(knee.passed);
        // A first-stage knee fails the run and waives nothing.
        l[0].unexplained_loss = 5;
        apply(&mut late, judge(&stages(), l, &cfg), &cfg);
        assert!(!late.ok);
        assert!(fails(&late, "knee: no stage held"), "{:?}", late.breaches);
        assert!(fails(&late, "unexplained_loss"));
    }
}
