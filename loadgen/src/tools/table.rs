//! `loadgen table A.json B.json …`: reports side by side, each column with
//! its ratio to the first (datagrams/s, p50/p99/p99.9 per latency kind in
//! ms, the loss accounting), then the `limits` files (`"kind":"limits"`)
//! with their hub ÷ bare ratios. With `--data-dir` it also writes the
//! inputs of `scripts/compare.sh`'s gnuplot charts:
//!
//! - `inputs.tsv`: `stem<TAB>label<TAB>pace` per report;
//! - `scenarios.dat`: closed-loop reports, `label dgram/s unexplained
//!   injected_drops reported_missing status_timeouts`;
//! - `sweep.dat`: open-loop reports by offered rate, `rate dgram/s
//!   unexplained missing_not_injected status_timeouts`;
//! - `knee.dat`: `last_clean_rate first_troubled_rate` (empty: no knee);
//! - `timeline.<stem>.dat`: per report with a `timeline`, one line per
//!   second: `t_s datagrams_sent statuses status_timeouts devices_up
//!   fates_missing fates_unknown status_p99_ms`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::tools::reportfile::{at, load, FileError};

/// Latency kinds shown, in order.
pub const KINDS: [&str; 6] = [
    "status",
    "status_raw",
    "command_delivery",
    "command_rtt",
    "wave",
    "connect",
];

/// Width of the metric name column.
const NAME_W: usize = 28;
/// Width of a value column.
const COL_W: usize = 20;

/// A short label: `5000d-loss0.02` (closed loop) or `1000d-rate200000`.
pub fn label(r: &Value) -> String {
    let d = at(r, "config.devices").and_then(Value::as_u64).unwrap_or(0);
    match at(r, "config.pace.rate").and_then(Value::as_f64) {
        Some(rate) => format!("{d}d-rate{rate:.0}"),
        None => {
            let loss = at(r, "config.loss").and_then(Value::as_f64).unwrap_or(0.0);
            format!("{d}d-loss{loss}")
        }
    }
}

fn f(r: &Value, path: &str) -> Option<f64> {
    at(r, path).and_then(Value::as_f64)
}

/// One row: a name and a value per column; ratios to the first column.
fn row(out: &mut String, name: &str, vals: &[Option<f64>], decimals: usize) {
    let _ = write!(out, "{name:<NAME_W$}");
    let first = vals.first().copied().flatten();
    for (i, v) in vals.iter().enumerate() {
        let cell = match (v, first) {
            (None, _) => "-".to_string(),
            (Some(v), _) if i == 0 => format!("{v:.decimals$}"),
            (Some(v), Some(b)) if b != 0.0 => format!("{v:.decimals$} ({:.2}x)", v / b),
            (Some(v), _) => format!("{v:.decimals$} (-)"),
        };
        let _ = write!(out, "{cell:>COL_W$}");
    }
    out.push('\n');
}

fn header(out: &mut String, title: &str, n: usize, letter0: u8) {
    let _ = write!(out, "{title:<NAME_W$}");
    for i in 0..n {
        let _ = write!(out, "{:>COL_W$}", (letter0 + i as u8) as char);
    }
    out.push('\n');
}

/// The side-by-side table of `reports` and `limits` (each `(name, doc)`).
pub fn render(reports: &[(String, Value)], limits: &[(String, Value)]) -> String {
    let mut out = String::new();
    for (i, (n, r)) in reports.iter().enumerate() {
        let _ = writeln!(out, "{}: {n} ({})", (b'A' + i as u8) as char, label(r));
    }
    for (i, (n, _)) in limits.iter().enumerate() {
        let _ = writeln!(out, "L{}: {n}", i + 1);
    }
    if !reports.is_empty() {
        out.push('\n');
        header(&mut out, "metric", reports.len(), b'A');
        let col = |p: &str| reports.iter().map(|(_, r)| f(r, p)).collect::<Vec<_>>();
        row(
            &mut out,
            "devices registered",
            &col("devices.registered"),
            0,
        );
        row(&mut out, "datagrams/s", &col("udp.datagrams_per_s"), 0);
        for k in KINDS {
            if reports
                .iter()
                .all(|(_, r)| f(r, &format!("latency_us.{k}.count")).unwrap_or(0.0) == 0.0)
            {
                continue;
            }
            for (p, key) in [("p50", "p50"), ("p99", "p99"), ("p99.9", "p999")] {
                let ms: Vec<Option<f64>> = col(&format!("latency_us.{k}.{key}"))
                    .into_iter()
                    .map(|v| v.map(|us| us / 1000.0))
                    .collect();
                row(&mut out, &format!("{k} {p} ms"), &ms, 3);
            }
        }
        for (name, p) in [
            ("udp generated", "udp.generated"),
            ("udp sent", "udp.sent"),
            ("injected drops", "udp.injected_drops"),
            ("reported missing", "udp.reported_missing"),
            ("unexplained loss", "udp.unexplained_loss"),
            ("status timeouts", "udp.status_timeouts"),
            ("hub rcvbuf drops", "loss_diagnosis.hub_udp_rcvbuf_drops"),
            ("waves acked", "commands.acked"),
            ("waves timed out", "commands.timed_out"),
            ("recorder written", "recorder.written"),
            ("recorder dropped", "recorder.dropped_queue_full"),
            ("recorder errors", "recorder.write_errors"),
        ] {
            row(&mut out, name, &col(p), 0);
        }
        let _ = write!(out, "{:<NAME_W$}", "identity");
        for (_, r) in reports {
            let id = at(r, "udp.identity").and_then(Value::as_str).unwrap_or("-");
            let _ = write!(out, "{:>COL_W$}", if id == "ok" { "ok" } else { "FAILED" });
        }
        out.push('\n');
        if let Some((clean, lossy)) = knee(reports) {
            let clean = clean.map_or("none".to_string(), |c| format!("{c:.0}/s"));
            let _ = writeln!(
                out,
                "rate sweep knee: trouble from --rate {lossy:.0}/s (last clean: {clean})"
            );
        }
    }
    if !limits.is_empty() {
        out.push('\n');
        let _ = write!(out, "{:<NAME_W$}", "limits, hub / bare");
        for i in 0..limits.len() {
            let _ = write!(out, "{:>COL_W$}", format!("L{}", i + 1));
        }
        out.push('\n');
        let col = |p: &str| limits.iter().map(|(_, r)| f(r, p)).collect::<Vec<_>>();
        row(
            &mut out,
            "udp cpu per datagram",
            &col("ratios.udp_cpu_per_datagram"),
            2,
        );
        row(
            &mut out,
            "connect+register rate",
            &col("ratios.register_rate"),
            2,
        );
        row(&mut out, "command wave time", &col("ratios.wave_time"), 2);
        row(
            &mut out,
            "bare udp ns/datagram",
            &col("udp.median_bare_ns"),
            0,
        );
        row(
            &mut out,
            "hub udp ns/datagram",
            &col("udp.median_hub_ns"),
            0,
        );
        row(
            &mut out,
            "bare accepts/s",
            &col("accept.median_bare_per_s"),
            0,
        );
        row(
            &mut out,
            "hub registrations/s",
            &col("accept.median_hub_per_s"),
            0,
        );
        row(
            &mut out,
            "bare fan-out ms",
            &col("fanout.median_bare_ms"),
            2,
        );
        row(&mut out, "hub wave ms", &col("fanout.median_hub_ms"), 2);
        row(
            &mut out,
            "command wave time (large)",
            &col("ratios.wave_time_large"),
            2,
        );
        row(
            &mut out,
            "bare fan-out ms (large)",
            &col("fanout_large.median_bare_ms"),
            2,
        );
        row(
            &mut out,
            "hub wave ms (large)",
            &col("fanout_large.median_hub_ms"),
            2,
        );
    }
    out
}

/// The gnuplot inputs described in the module docs.
pub fn write_data(reports: &[(String, Value)], dir: &Path) -> Result<(), FileError> {
    let mut inputs = String::new();
    let mut scen = String::from(
        "# label dgram_per_s unexplained injected_drops reported_missing status_timeouts\n",
    );
    let mut sweep: Vec<(f64, String)> = Vec::new();
    for (n, r) in reports {
        let stem = Path::new(n)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("report");
        let open = f(r, "config.pace.rate");
        let _ = writeln!(
            inputs,
            "{stem}\t{}\t{}",
            label(r),
            if open.is_some() { "open" } else { "closed" }
        );
        if let Some(tl) = r.get("timeline").and_then(Value::as_array) {
            let mut t = String::from(
                "# t_s datagrams_sent statuses status_timeouts devices_up fates_missing fates_unknown status_p99_ms\n",
            );
            for s in tl {
                let n = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
                let _ = writeln!(
                    t,
                    "{} {} {} {} {} {} {} {:.3}",
                    n("t_s"),
                    n("datagrams_sent"),
                    n("statuses"),
                    n("status_timeouts"),
                    n("devices_up"),
                    n("fates_missing"),
                    n("fates_unknown"),
                    n("status_p99_us") as f64 / 1e3
                );
            }
            let p = dir.join(format!("timeline.{stem}.dat"));
            std::fs::write(&p, t).map_err(|e| FileError::Io(p.clone(), e))?;
        }
        let g = |p: &str| f(r, p).unwrap_or(0.0);
        match open {
            None => {
                let _ = writeln!(
                    scen,
                    "{} {:.1} {} {} {} {}",
                    label(r),
                    g("udp.datagrams_per_s"),
                    g("udp.unexplained_loss"),
                    g("udp.injected_drops"),
                    g("udp.reported_missing"),
                    g("udp.status_timeouts")
                );
            }
            Some(rate) => sweep.push((
                rate,
                format!(
                    "{rate:.0} {:.1} {} {} {}\n",
                    g("udp.datagrams_per_s"),
                    g("udp.unexplained_loss"),
                    g("udp.missing_not_injected"),
                    g("udp.status_timeouts")
                ),
            )),
        }
    }
    sweep.sort_by(|a, b| a.0.total_cmp(&b.0));
    let knee_text = match knee(reports) {
        Some((clean, lossy)) => format!("{} {}\n", clean.unwrap_or(0.0), lossy),
        None => String::new(),
    };
    let sweep_text = "# rate dgram_per_s unexplained missing_not_injected status_timeouts\n"
        .to_string()
        + &sweep.into_iter().map(|s| s.1).collect::<String>();
    for (name, text) in [
        ("inputs.tsv", inputs),
        ("scenarios.dat", scen),
        ("sweep.dat", sweep_text),
        ("knee.dat", knee_text),
    ] {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| FileError::Io(p.clone(), e))?;
    }
    Ok(())
}

/// Whether an open-loop report shows trouble: unexplained loss, STATUS
/// timeouts or a failed accounting identity.
pub fn troubled(r: &Value) -> bool {
    f(r, "udp.unexplained_loss").unwrap_or(0.0) != 0.0
        || f(r, "udp.status_timeouts").unwrap_or(0.0) > 0.0
        || at(r, "udp.identity").and_then(Value::as_str) != Some("ok")
}

/// The rate sweep's knee: `(highest clean rate below it, first troubled
/// rate)`, or `None` when no open-loop report is troubled.
pub fn knee(reports: &[(String, Value)]) -> Option<(Option<f64>, f64)> {
    let mut pts: Vec<(f64, bool)> = reports
        .iter()
        .filter_map(|(_, r)| Some((f(r, "config.pace.rate")?, troubled(r))))
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let i = pts.iter().position(|p| p.1)?;
    Some((i.checked_sub(1).map(|j| pts[j].0), pts[i].0))
}

/// Loads `files`, prints the table, writes the data files if asked.
pub fn run(files: &[PathBuf], data_dir: Option<&Path>) -> Result<(), FileError> {
    let (mut reports, mut limits) = (Vec::new(), Vec::new());
    for p in files {
        let d = load(p)?;
        let name = p.display().to_string();
        if d.get("kind").and_then(Value::as_str) == Some("limits") {
            limits.push((name, d));
        } else if d.get("udp").is_some() {
            crate::tools::reportfile::check_report(&d)
                .map_err(|e| FileError::Shape(format!("{name}: {e}")))?;
            reports.push((name, d));
        } else {
            return Err(FileError::Shape(format!(
                "{name}: neither a loadgen report nor a limits file"
            )));
        }
    }
    print!("{}", render(&reports, &limits));
    if let Some(dir) = data_dir {
        write_data(&reports, dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ratios_to_the_first_column() {
        let r = |d: u64, dps: f64| {
            json!({"config": {"devices": d, "loss": 0.0, "pace": {"kind": "closed_loop"}},
                   "udp": {"datagrams_per_s": dps, "identity": "ok"},
                   "latency_us": {"status": {"p50": 1000, "p99": 2000, "p999": 4000, "count": 5}}})
        };
        let l = json!({"kind": "limits", "ratios": {"udp_cpu_per_datagram": 1.5}});
        let t = render(
            &[("a".into(), r(100, 1000.0)), ("b".into(), r(1000, 2500.0))],
            &[("l".into(), l)],
        );
        assert!(t.contains("A: a (100d-loss0)"), "{t}");
        let line = t.lines().find(|l| l.starts_with("datagrams/s")).unwrap();
        assert!(line.ends_with("2500 (2.50x)"), "{line}");
        assert!(t.contains("status p99 ms"), "{t}");
        assert!(!t.contains("wave p50"), "{t}");
        let line = t
            .lines()
            .find(|l| l.starts_with("udp cpu per datagram"))
            .unwrap();
        assert!(line.ends_with("1.50"), "{line}");
    }
}
