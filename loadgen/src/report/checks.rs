//! The run's verdict as named checks (k6's checks and thresholds, Jepsen's
//! rule that "unknown" is never "fine"). Each [`Check`] passes or fails with
//! the figure it was judged on; any failed check makes the report's `ok`
//! false and the exit code 1, unless `--allow-failed-check NAME` waives it.
//! [`evaluate`] reads only the built report, so the verdict is derived from
//! the same evidence a reader of the JSON sees.

use serde::{Deserialize, Serialize};

pub use super::check_names::*;
use crate::config::RunConfig;
use crate::report::histo::Kind;
use crate::report::Report;

/// One named check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    /// What it was judged on, one line.
    pub figure: String,
    /// Failed, but waived by `--allow-failed-check`.
    pub allowed: bool,
    /// Could not be judged: what it compares with was not available (the
    /// hub's own counts, with no admin port and none required). Never a
    /// pass (`passed` is false) and never fails the run. Absent (false) in
    /// reports before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_checked: bool,
    /// In a merged report, the input the check is from (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Check {
    /// Failed and not waived: fails the run.
    pub fn fails_run(&self) -> bool {
        !self.passed && !self.allowed && !self.not_checked
    }

    /// A check that could not be judged (see [`Check::not_checked`]).
    pub(super) fn unchecked(name: &str, figure: String) -> Check {
        Check {
            name: name.to_string(),
            passed: false,
            allowed: false,
            not_checked: true,
            file: None,
            figure,
        }
    }
}

pub(super) fn check(name: &str, passed: bool, figure: String, cfg: &RunConfig) -> Check {
    Check {
        name: name.to_string(),
        passed,
        allowed: !passed && cfg.allow_failed_checks.iter().any(|n| n == name),
        not_checked: false,
        file: None,
        figure,
    }
}

/// The checks of a built report.
pub fn evaluate(r: &Report, cfg: &RunConfig) -> Vec<Check> {
    let d = &r.devices;
    let u = &r.udp;
    let g = &r.generator;
    let mut v = Vec::new();
    let req = u64::from(d.requested);
    // A devices stage target asks for fewer: those it ever reached, and
    // the number it ends on.
    let (req, req_end) = cfg
        .stages
        .as_ref()
        .and_then(|s| s.expected_devices(d.requested))
        .unwrap_or((req, req));
    v.push(check(
        DEVICES_REGISTERED,
        d.registered == req && d.refused == 0,
        format!(
            "registered {}/{req}, refused {}{}",
            d.registered,
            d.refused,
            r.evidence
                .refusals
                .first()
                .map(|s| format!(" (first: {s})"))
                .unwrap_or_default()
        ),
        cfg,
    ));
    v.push(check(
        DEVICES_UP_AT_END,
        d.up_at_end == req_end,
        format!(
            "up at end {}/{req_end}, disconnects {}",
            d.up_at_end, d.disconnects
        ),
        cfg,
    ));
    let answered = u.statuses;
    let awaited = u.cycles_started - u.unseen_cycles;
    v.push(check(
        CYCLES_ANSWERED,
        answered == awaited && awaited > 0,
        format!(
            "{answered}/{awaited} cycles got a valid STATUS ({} timed out, {} skipped, {} open at end; {} datagrams of unknown fate)",
            u.status_timeouts, u.status_skipped, u.open_at_end, u.fates.unknown
        ),
        cfg,
    ));
    v.push(check(
        STATUS_VALID,
        u.status_invalid == 0 && u.status_unfit == 0,
        format!(
            "{} invalid, {} contradicting what was sent{}",
            u.status_invalid,
            u.status_unfit,
            r.evidence
                .status_invalid
                .first()
                .map(|s| format!(" (first: {s})"))
                .unwrap_or_default()
        ),
        cfg,
    ));
    let c = &r.commands;
    let unfinished = c.wave_list.iter().filter(|w| w.measured && !w.done).count();
    v.push(check(
        COMMANDS_ACKED,
        c.acked == c.sent && c.timed_out == 0 && c.failed == 0 && unfinished == 0,
        if cfg.command_every.is_none() {
            "no waves asked for".to_string()
        } else {
            format!(
                "{} waves: {}/{} acked, {} timed out, {} failed, {unfinished} unfinished",
                c.waves, c.acked, c.sent, c.timed_out, c.failed
            )
        },
        cfg,
    ));
    let wanted = cfg.command_every.is_some() || cfg.kick_every.is_some();
    let required = wanted || cfg.require_admin;
    let answered = r.hub_stats.is_some();
    // Nothing listening, and nothing loadgen had to do needed the port: the
    // hub's own counts are only unavailable (hub_agrees says so). A port
    // that listens but misbehaves (silent, garbage) still fails.
    let absent_unneeded = !required && !answered && c.admin_absent;
    let admin_ok = absent_unneeded || (answered && (!wanted || c.errors.is_empty()));
    let why = match (answered, c.errors.first()) {
        (true, None) => format!("{} answered", r.run.hub_admin),
        (_, Some(e)) => format!("{}: {e}", r.run.hub_admin),
        (false, None) => format!("{}: no stats reply", r.run.hub_admin),
    };
    v.push(check(
        ADMIN_REACHABLE,
        admin_ok,
        if absent_unneeded {
            format!("not required (no waves, no --require-admin); {why}")
        } else {
            why
        },
        cfg,
    ));
    let limit = cfg.max_unexplained_loss.unwrap_or(0);
    // Under overload the missing datagrams are not the hub's: they are
    // reported as blurred (and the generator check fails), never as
    // unexplained loss against the hub.
    let blurred = if u.blurred_by_overload != 0 {
        format!(
            "; {} missing blurred by the generator's overload, not counted against the hub",
            u.blurred_by_overload
        )
    } else {
        String::new()
    };
    let loss_ok = u.unexplained_loss.unsigned_abs() <= limit;
    let loss_fig = format!(
        "{} (limit {limit}; {}){blurred}",
        u.unexplained_loss, r.loss_diagnosis.explanation
    );
    v.push(check(UNEXPLAINED_LOSS, loss_ok, loss_fig, cfg));
    v.push(check(
        GENERATOR_SCHEDULE,
        !g.saturated,
        format!(
            "send lag p99 {:.1} ms, max {:.1} ms (limit {} ms), {} late sends",
            g.send_lag_p99_us as f64 / 1e3,
            g.send_lag_max_us as f64 / 1e3,
            cfg.max_send_lag.as_secs_f64() * 1e3,
            g.late_sends
        ),
        cfg,
    ));
    v.push(check(
        SNAPSHOT_COMPLETE,
        g.workers_reported == g.workers,
        format!(
            "{}/{} workers sent their final counters",
            g.workers_reported, g.workers
        ),
        cfg,
    ));
    v.push(check(
        ACCOUNTING_IDENTITY,
        u.identity == "ok",
        u.identity.clone(),
        cfg,
    ));
    if d.hub_registered.is_none() && absent_unneeded {
        v.push(Check::unchecked(
            HUB_AGREES,
            "not cross-checked: the hub's count is unknown (no stats reply; the admin port was not required)".to_string(),
        ));
    } else {
        v.push(check(
            HUB_AGREES,
            match d.hub_registered {
                Some(h) if d.hub_shared => h >= d.up_at_end,
                h => h == Some(d.up_at_end),
            },
            match d.hub_registered {
                Some(h) if d.hub_shared => format!(
                    "shared hub says {h} registered in all, at least loadgen's {}",
                    d.up_at_end
                ),
                Some(h) => format!("hub says {h} registered, loadgen {}", d.up_at_end),
                None => "the hub's count is unknown (no stats reply)".to_string(),
            },
            cfg,
        ));
    }
    v.push(check(
        HUB_PROTOCOL,
        d.hub_violations == 0,
        format!(
            "{} violations{}",
            d.hub_violations,
            r.evidence
                .violations
                .first()
                .map(|s| format!(" (first: {s})"))
                .unwrap_or_default()
        ),
        cfg,
    ));
    if let Some(rec) = &r.recorder {
        v.push(check(
            HUB_RECORDER,
            rec.identity == "ok",
            format!(
                "{}: {} accepted, {} written, {} dropped, {} write errors",
                rec.identity,
                rec.stats.accepted,
                rec.stats.written,
                rec.stats.dropped_queue_full,
                rec.stats.write_errors
            ),
            cfg,
        ));
    }
    if let Some(ms) = cfg.max_p99_ms {
        let limit = (ms * 1000.0) as u64;
        let worst = [Kind::Status, Kind::CommandDelivery, Kind::CommandRtt]
            .iter()
            .map(|k| (k.key(), r.latency_us[k.key()].p99))
            .max_by_key(|&(_, p)| p)
            .expect("three kinds");
        v.push(check(
            MAX_P99_MS,
            worst.1 <= limit,
            format!(
                "worst p99 {} {:.3} ms (limit {ms} ms)",
                worst.0,
                worst.1 as f64 / 1e3
            ),
            cfg,
        ));
    }
    if let Some(min) = cfg.min_registered {
        v.push(check(
            MIN_REGISTERED,
            d.registered >= u64::from(min),
            format!("registered {} (minimum {min})", d.registered),
            cfg,
        ));
    }
    super::fault_checks::push(r, cfg, &mut v);
    v
}
