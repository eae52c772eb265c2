//! The human summary printed on stderr at the end of a run (k6 style): the
//! checks with ✓/✗ and their figures, the devices, the datagram fates with
//! their identity, rates over the measured window, a latency table per
//! operation and one verdict line. [`render`] is pure (report in, text
//! out); the JSON report stays on stdout or `--out`.

use std::fmt::Write;

use crate::report::histo::Kind;
use crate::report::Report;

/// Latency kinds printed, in order.
const KINDS: [Kind; 9] = [
    Kind::Connect,
    Kind::Status,
    Kind::StatusRaw,
    Kind::InjectedDelay,
    Kind::StatusHub,
    Kind::CommandDelivery,
    Kind::CommandRtt,
    Kind::Wave,
    Kind::SendLag,
];

fn ms(us: u64) -> String {
    format!("{:.2}ms", us as f64 / 1e3)
}

/// `label` and `n` when `shown`, else nothing.
fn some(label: &str, n: u64, shown: bool) -> String {
    if shown {
        format!("{label}{n}")
    } else {
        String::new()
    }
}

/// The faults beyond loss: what was asked, what went on the wire, what
/// the hub made of it.
fn faults_line(r: &Report, o: &mut String) {
    let u = &r.udp;
    let f = &u.faults;
    let _ = writeln!(
        o,
        "    faults ({}): on the wire {} = sent {} + duplicated {}; reordered {} ({} reported missing); corrupted {} ({} counted received); duplicates counted twice {}",
        r.config.faults.describe(),
        f.wire,
        u.sent,
        u.fates.duplicated,
        f.reordered_sent,
        f.reordered_missing,
        u.fates.corrupted,
        f.corrupted_not_missing,
        f.duplicates_overcounted
    );
}

/// The summary of `r`.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\n  checks");
    for c in &r.checks {
        let mark = match (c.passed, c.allowed, c.not_checked) {
            (_, _, true) => "–",
            (true, _, _) => "✓",
            (false, true, _) => "✗ (allowed)",
            (false, false, _) => "✗",
        };
        let _ = writeln!(o, "    {mark} {:<20} {}", c.name, c.figure);
    }
    let d = &r.devices;
    let _ = writeln!(o, "\n  devices");
    let _ = writeln!(
        o,
        "    requested {}  registered {}  refused {}  up at end {}  peak {}  disconnects {} (eof {}, reset {}, error {}, hub violation {})  connect failures {}",
        d.requested,
        d.registered,
        d.refused,
        d.up_at_end,
        d.peak_up,
        d.disconnects,
        d.disconnects_by_cause.eof,
        d.disconnects_by_cause.reset,
        d.disconnects_by_cause.error_line,
        d.disconnects_by_cause.hub_violation,
        d.connect_failures
    );
    let u = &r.udp;
    let f = &u.fates;
    let _ = writeln!(o, "\n  datagrams (measured cycles)");
    let _ = writeln!(
        o,
        "    generated {} = received {}{} + missing {} + unknown {}{} + injected {} + send errors {}{}   identity: {}",
        u.generated,
        f.received,
        some(" + reordered ", f.reordered, r.config.faults.reorder > 0.0),
        f.missing,
        f.unknown,
        some(" + corrupted ", f.corrupted, r.config.faults.corrupt > 0.0),
        f.injected,
        f.send_errors,
        some(" + unsent ", f.unsent, f.unsent > 0),
        u.identity
    );
    if r.config.faults.any() {
        faults_line(r, &mut o);
    }
    let _ = writeln!(
        o,
        "    cycles {}: answered {}, timed out {}, skipped {}, unseen {}, open at end {}; STATUS invalid {}, contradicting {}, stray {}, uncertain matches {}",
        u.cycles_started,
        u.statuses,
        u.status_timeouts,
        u.status_skipped,
        u.unseen_cycles,
        u.open_at_end,
        u.status_invalid,
        u.status_unfit,
        u.stray_statuses,
        u.uncertain_matches
    );
    let secs = r.config.duration.as_secs_f64();
    let _ = writeln!(
        o,
        "    rates over the {secs:.1} s measured window: {:.0} datagrams/s, {:.1} STATUS/s, {:.1} commands/s",
        u.datagrams_per_s,
        u.statuses as f64 / secs,
        r.commands.acked as f64 / secs
    );
    let _ = writeln!(o, "\n  latency");
    let _ = writeln!(
        o,
        "    {:<17} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "", "p50", "p90", "p99", "p99.9", "max", "count"
    );
    for k in KINDS {
        let Some(l) = r.latency_us.get(k.key()) else {
            continue;
        };
        // The delay's rows only with `--delay`.
        if matches!(k, Kind::InjectedDelay | Kind::StatusHub) && l.count == 0 {
            continue;
        }
        let _ = writeln!(
            o,
            "    {:<17} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}",
            k.key(),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max),
            l.count
        );
    }
    if let Some(s) = &r.stages {
        crate::stages::text::render(&mut o, s);
    }
    let failed: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.fails_run())
        .map(|c| c.name.as_str())
        .collect();
    let _ = writeln!(o);
    if failed.is_empty() {
        let _ = writeln!(o, "  verdict: ok ({} checks passed)", r.checks.len());
    } else {
        let _ = writeln!(
            o,
            "  verdict: FAILED ({} of {} checks: {})",
            failed.len(),
            r.checks.len(),
            failed.join(", ")
        );
    }
    o
}
