//! The named checks of the faults beyond loss: only when the fault was
//! asked for, each judges what PROTOCOL.md (or, where it is silent,
//! `loadgen/MEASUREMENTS.md`) says a hub must do with it. Called from
//! [`checks::evaluate`](super::checks::evaluate); read only the built report.

pub use super::check_names::{
    CORRUPTED_REJECTED, DUPLICATES_COUNTED_ONCE, FAULT_NAMES as NAMES, REORDERED_RECEIVED,
};
use crate::config::RunConfig;
use crate::report::checks::{check, Check};
use crate::report::Report;

fn hub(n: Option<u64>) -> String {
    n.map_or_else(|| "?".to_string(), |n| n.to_string())
}

/// Adds the checks of the faults `cfg` asked for to `v`.
pub fn push(r: &Report, cfg: &RunConfig, v: &mut Vec<Check>) {
    let u = &r.udp;
    let f = &u.faults;
    if cfg.faults.duplicate > 0.0 {
        v.push(check(
            DUPLICATES_COUNTED_ONCE,
            f.duplicates_overcounted == 0,
            format!(
                "{} duplicate copies sent, {} STATUS counted more packets than distinct SEQs arrived (hub: {} duplicates, {} late)",
                u.fates.duplicated,
                f.duplicates_overcounted,
                hub(f.hub_duplicates),
                hub(f.hub_late)
            ),
            cfg,
        ));
    }
    if cfg.faults.reorder > 0.0 {
        v.push(check(
            REORDERED_RECEIVED,
            f.reordered_missing == 0,
            format!(
                "{} sent out of order: {} reported received, {} reported missing",
                f.reordered_sent, u.fates.reordered, f.reordered_missing
            ),
            cfg,
        ));
    }
    if cfg.faults.corrupt > 0.0 {
        v.push(check(
            CORRUPTED_REJECTED,
            f.corrupted_not_missing == 0,
            format!(
                "{} corrupted datagrams sent, {} counted received (hub: {} malformed)",
                u.fates.corrupted,
                f.corrupted_not_missing,
                hub(f.hub_malformed)
            ),
            cfg,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::checks::{evaluate, known};
    use crate::report::fixture;

    const FLAGS: [&str; 8] = [
        "--duplicate",
        "0.1",
        "--reorder",
        "0.1",
        "--corrupt",
        "0.05",
        "--delay",
        "20±5",
    ];

    fn find<'a>(v: &'a [Check], name: &str) -> Option<&'a Check> {
        v.iter().find(|c| c.name == name)
    }

    #[test]
    fn only_the_faults_asked_for_are_checked() {
        let r = fixture::report(&["--devices", "3"]);
        assert!(NAMES.iter().all(|n| find(&r.checks, n).is_none()));
        let r = fixture::report(&["--devices", "3", "--reorder", "0.2"]);
        assert!(find(&r.checks, REORDERED_RECEIVED).is_some_and(|c| c.passed));
        assert!(find(&r.checks, DUPLICATES_COUNTED_ONCE).is_none());
        assert!(NAMES.iter().all(|n| known(n)));
    }

    #[test]
    fn each_check_fails_on_its_own_figure() {
        let mut r = fixture::report(&FLAGS);
        let cfg = r.config.clone();
        for n in NAMES {
            assert!(find(&r.checks, n).is_some_and(|c| c.passed), "{n}");
        }
        r.udp.faults.duplicates_overcounted = 2;
        r.udp.faults.reordered_missing = 3;
        r.udp.faults.corrupted_not_missing = 4;
        let v = evaluate(&r, &cfg);
        for (n, fig) in [
            (DUPLICATES_COUNTED_ONCE, "2 STATUS counted more packets"),
            (REORDERED_RECEIVED, "3 reported missing"),
            (CORRUPTED_REJECTED, "4 counted received"),
        ] {
            let c = find(&v, n).unwrap();
            assert!(!c.passed && !c.allowed, "{n}");
            assert!(c.figure.contains(fig), "{n}: {}", c.figure);
        }
        // Waived by name like any other check.
        let mut cfg = cfg;
        cfg.allow_failed_checks = vec![REORDERED_RECEIVED.into()];
        assert!(
            find(&evaluate(&r, &cfg), REORDERED_RECEIVED)
                .unwrap()
                .allowed
        );
    }

    #[test]
    fn the_summary_shows_the_new_fates_and_the_faults_line() {
        let r = fixture::report(&FLAGS);
        let s = crate::report::summary::render(&r);
        assert!(s.contains("+ reordered 0 + missing"), "{s}");
        assert!(s.contains("+ corrupted 0 + injected"), "{s}");
        assert!(
            s.contains("faults (reorder 0.1, duplicate 0.1, corrupt 0.05, delay 20±5 ms): on the wire 700 = sent 700 + duplicated 0"),
            "{s}"
        );
        assert!(
            s.contains("injected_delay") && s.contains("status_hub"),
            "{s}"
        );
        let plain = crate::report::summary::render(&fixture::report(&["--devices", "3"]));
        assert!(
            !plain.contains("faults (") && !plain.contains("reordered"),
            "{plain}"
        );
    }
}
