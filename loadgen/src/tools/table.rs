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
//!   fates_missing fates_unknown status_p99_ms`, and `stage` (0 outside
//!   the stages) for a staged run.
//!
//! The rows are data first ([`report_rows`], [`limits_rows`]), text
//! second ([`render`]), so `loadgen report` shows the same table as HTML.
//!
//! Run reports are read typed ([`Report`], through
//! `reportfile::load_typed`); the limits files are another format, read as
//! JSON by key (their writer, `preflight::limits_bench`, builds them with
//! `json!`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::Pace;
use crate::report::histo::LatencySummary;
use crate::report::Report;
use crate::tools::reportfile::{at, check_report, load, typed, FileError};

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
pub fn label(r: &Report) -> String {
    let d = r.config.devices;
    match rate(r) {
        Some(rate) => format!("{d}d-rate{rate:.0}"),
        None => format!("{d}d-loss{}", r.config.loss),
    }
}

/// The open-loop rate, `None` closed loop.
fn rate(r: &Report) -> Option<f64> {
    match r.config.pace {
        Pace::OpenLoop { rate } => Some(rate),
        Pace::ClosedLoop { .. } => None,
    }
}

/// A number of a limits file at `path`.
fn f(r: &Value, path: &str) -> Option<f64> {
    at(r, path).and_then(Value::as_f64)
}

/// Rows of plain report figures: name and reading.
type Figure = fn(&Report) -> Option<f64>;

/// The loss accounting rows, below the latencies.
const FIGURES: [(&str, Figure); 12] = [
    ("udp generated", |r| Some(r.udp.generated as f64)),
    ("udp sent", |r| Some(r.udp.sent as f64)),
    ("injected drops", |r| Some(r.udp.injected_drops as f64)),
    ("reported missing", |r| Some(r.udp.reported_missing as f64)),
    ("unexplained loss", |r| Some(r.udp.unexplained_loss as f64)),
    ("status timeouts", |r| Some(r.udp.status_timeouts as f64)),
    ("hub rcvbuf drops", |r| {
        r.loss_diagnosis.hub_udp_rcvbuf_drops.map(|d| d as f64)
    }),
    ("waves acked", |r| Some(r.commands.acked as f64)),
    ("waves timed out", |r| Some(r.commands.timed_out as f64)),
    ("recorder written", |r| {
        r.recorder.as_ref().map(|x| x.stats.written as f64)
    }),
    ("recorder dropped", |r| {
        r.recorder
            .as_ref()
            .map(|x| x.stats.dropped_queue_full as f64)
    }),
    ("recorder errors", |r| {
        r.recorder.as_ref().map(|x| x.stats.write_errors as f64)
    }),
];

/// One row of the table: a metric's name and one cell per column, as
/// printed (`loadgen report` lays the same rows out as HTML).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub name: String,
    pub cells: Vec<String>,
}

/// A row of numbers; each column after the first carries its ratio to the
/// first.
fn ratios(name: &str, vals: &[Option<f64>], decimals: usize) -> Row {
    let first = vals.first().copied().flatten();
    let cells = vals
        .iter()
        .enumerate()
        .map(|(i, v)| match (v, first) {
            (None, _) => "-".to_string(),
            (Some(v), _) if i == 0 => format!("{v:.decimals$}"),
            (Some(v), Some(b)) if b != 0.0 => format!("{v:.decimals$} ({:.2}x)", v / b),
            (Some(v), _) => format!("{v:.decimals$} (-)"),
        })
        .collect();
    Row {
        name: name.to_string(),
        cells,
    }
}

/// A report's column letter: `A`, `B`, … (past the 26th the text table
/// runs into punctuation; `loadgen report` takes at most 26 reports).
pub fn letter(i: usize) -> char {
    (b'A' + i as u8) as char
}

/// The rows of run reports: registrations, rate, latencies of every kind
/// some report measured, the loss accounting, the identity.
pub fn report_rows(reports: &[(String, Report)]) -> Vec<Row> {
    let col =
        |g: &dyn Fn(&Report) -> Option<f64>| reports.iter().map(|(_, r)| g(r)).collect::<Vec<_>>();
    let mut rows = vec![
        ratios(
            "devices registered",
            &col(&|r| Some(r.devices.registered as f64)),
            0,
        ),
        ratios("datagrams/s", &col(&|r| Some(r.udp.datagrams_per_s)), 0),
    ];
    for k in KINDS {
        if reports
            .iter()
            .all(|(_, r)| r.latency_us.get(k).map_or(0, |l| l.count) == 0)
        {
            continue;
        }
        for (p, q) in [
            ("p50", (|l| l.p50) as fn(&LatencySummary) -> u64),
            ("p99", |l| l.p99),
            ("p99.9", |l| l.p999),
        ] {
            let ms = col(&|r| r.latency_us.get(k).map(|l| q(l) as f64 / 1000.0));
            rows.push(ratios(&format!("{k} {p} ms"), &ms, 3));
        }
    }
    for (name, g) in FIGURES {
        rows.push(ratios(name, &col(&g), 0));
    }
    rows.push(Row {
        name: "identity".into(),
        cells: reports
            .iter()
            .map(|(_, r)| {
                if r.udp.identity == "ok" {
                    "ok"
                } else {
                    "FAILED"
                }
                .into()
            })
            .collect(),
    });
    rows
}

/// The rate sweep's knee in one line, when the reports have one.
pub fn knee_line(reports: &[(String, Report)]) -> Option<String> {
    let (clean, lossy) = knee(reports)?;
    let clean = clean.map_or("none".to_string(), |c| format!("{c:.0}/s"));
    Some(format!(
        "rate sweep knee: trouble from --rate {lossy:.0}/s (last clean: {clean})"
    ))
}

/// The rows of `limits` files: hub ÷ bare ratios and the medians behind
/// them.
pub fn limits_rows(limits: &[(String, Value)]) -> Vec<Row> {
    let col = |p: &str| limits.iter().map(|(_, r)| f(r, p)).collect::<Vec<_>>();
    [
        ("udp cpu per datagram", "ratios.udp_cpu_per_datagram", 2),
        ("connect+register rate", "ratios.register_rate", 2),
        ("command wave time", "ratios.wave_time", 2),
        ("bare udp ns/datagram", "udp.median_bare_ns", 0),
        ("hub udp ns/datagram", "udp.median_hub_ns", 0),
        ("bare accepts/s", "accept.median_bare_per_s", 0),
        ("hub registrations/s", "accept.median_hub_per_s", 0),
        ("bare fan-out ms", "fanout.median_bare_ms", 2),
        ("hub wave ms", "fanout.median_hub_ms", 2),
        ("command wave time (large)", "ratios.wave_time_large", 2),
        ("bare fan-out ms (large)", "fanout_large.median_bare_ms", 2),
        ("hub wave ms (large)", "fanout_large.median_hub_ms", 2),
    ]
    .iter()
    .map(|&(name, path, decimals)| ratios(name, &col(path), decimals))
    .collect()
}

fn write_row(out: &mut String, row: &Row) {
    let _ = write!(out, "{:<NAME_W$}", row.name);
    for cell in &row.cells {
        let _ = write!(out, "{cell:>COL_W$}");
    }
    out.push('\n');
}

fn header(out: &mut String, title: &str, cols: impl Iterator<Item = String>) {
    let _ = write!(out, "{title:<NAME_W$}");
    for c in cols {
        let _ = write!(out, "{c:>COL_W$}");
    }
    out.push('\n');
}

/// The side-by-side table of `reports` and `limits` (each `(name, doc)`).
pub fn render(reports: &[(String, Report)], limits: &[(String, Value)]) -> String {
    let mut out = String::new();
    for (i, (n, r)) in reports.iter().enumerate() {
        let _ = writeln!(out, "{}: {n} ({})", letter(i), label(r));
    }
    for (i, (n, _)) in limits.iter().enumerate() {
        let _ = writeln!(out, "L{}: {n}", i + 1);
    }
    if !reports.is_empty() {
        out.push('\n');
        header(
            &mut out,
            "metric",
            (0..reports.len()).map(|i| letter(i).to_string()),
        );
        for row in report_rows(reports) {
            write_row(&mut out, &row);
        }
        if let Some(line) = knee_line(reports) {
            let _ = writeln!(out, "{line}");
        }
    }
    if !limits.is_empty() {
        out.push('\n');
        header(
            &mut out,
            "limits, hub / bare",
            (0..limits.len()).map(|i| format!("L{}", i + 1)),
        );
        for row in limits_rows(limits) {
            write_row(&mut out, &row);
        }
    }
    out
}

/// The gnuplot inputs described in the module docs.
pub fn write_data(reports: &[(String, Report)], dir: &Path) -> Result<(), FileError> {
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
        let open = rate(r);
        let _ = writeln!(
            inputs,
            "{stem}\t{}\t{}",
            label(r),
            if open.is_some() { "open" } else { "closed" }
        );
        if let Some(tl) = &r.timeline {
            // A staged run's samples carry their stage: a ninth column.
            let staged = tl.iter().any(|s| s.stage.is_some());
            let mut t = String::from(
                "# t_s datagrams_sent statuses status_timeouts devices_up fates_missing fates_unknown status_p99_ms",
            );
            t.push_str(if staged { " stage\n" } else { "\n" });
            for s in tl {
                let _ = write!(
                    t,
                    "{} {} {} {} {} {} {} {:.3}",
                    s.t_s,
                    s.datagrams_sent,
                    s.statuses,
                    s.status_timeouts,
                    s.devices_up,
                    s.fates_missing,
                    s.fates_unknown,
                    s.status_p99_us as f64 / 1e3
                );
                match (staged, s.stage) {
                    (false, _) => t.push('\n'),
                    (true, n) => {
                        let _ = writeln!(t, " {}", n.unwrap_or(0));
                    }
                }
            }
            let p = dir.join(format!("timeline.{stem}.dat"));
            std::fs::write(&p, t).map_err(|e| FileError::Io(p.clone(), e))?;
        }
        let u = &r.udp;
        // Written as f64, as they always were (`1e21` past 2^53 stays `1e21`).
        let g = |n: u64| n as f64;
        match open {
            None => {
                let _ = writeln!(
                    scen,
                    "{} {:.1} {} {} {} {}",
                    label(r),
                    u.datagrams_per_s,
                    u.unexplained_loss as f64,
                    g(u.injected_drops),
                    g(u.reported_missing),
                    g(u.status_timeouts)
                );
            }
            Some(rate) => sweep.push((
                rate,
                format!(
                    "{rate:.0} {:.1} {} {} {}\n",
                    u.datagrams_per_s,
                    u.unexplained_loss as f64,
                    g(u.missing_not_injected),
                    g(u.status_timeouts)
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
pub fn troubled(r: &Report) -> bool {
    r.udp.unexplained_loss != 0 || r.udp.status_timeouts > 0 || r.udp.identity != "ok"
}

/// The rate sweep's knee: `(highest clean rate below it, first troubled
/// rate)`, or `None` when no open-loop report is troubled.
pub fn knee(reports: &[(String, Report)]) -> Option<(Option<f64>, f64)> {
    let mut pts: Vec<(f64, bool)> = reports
        .iter()
        .filter_map(|(_, r)| Some((rate(r)?, troubled(r))))
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
            check_report(&d).map_err(|e| FileError::Shape(format!("{name}: {e}")))?;
            reports.push((name, typed(p, &d)?));
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
    use crate::report::fixture;
    use serde_json::json;

    #[test]
    fn ratios_to_the_first_column() {
        let r = |d: &str, dps: f64| {
            let mut r = fixture::report(&["--devices", d, "--loss", "0"]);
            r.udp.datagrams_per_s = dps;
            r.latency_us.retain(|k, _| k == "status");
            let s = r.latency_us.get_mut("status").unwrap();
            (s.p50, s.p99, s.p999, s.count) = (1000, 2000, 4000, 5);
            r
        };
        let l = json!({"kind": "limits", "ratios": {"udp_cpu_per_datagram": 1.5}});
        let t = render(
            &[
                ("a".into(), r("100", 1000.0)),
                ("b".into(), r("1000", 2500.0)),
            ],
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

    /// Committed reports of every vintage (schema 1 fixtures, a schema 2
    /// run, a recorder run, a merged shard set, an open-loop sweep) and two
    /// limits files render exactly as `loadgen table` rendered them when it
    /// still read JSON paths (`tests/fixtures/table/`, written by that
    /// build), data files included.
    #[test]
    fn a_staged_timeline_gets_a_stage_column() {
        let mut r = fixture::report(&["--devices", "3"]);
        let tl = r.timeline.as_mut().unwrap();
        tl[1].stage = Some(2);
        let dir = std::env::temp_dir().join(format!("table-staged-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_data(&[("s.json".to_string(), r)], &dir).unwrap();
        let t = std::fs::read_to_string(dir.join("timeline.s.dat")).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].ends_with(" status_p99_ms stage"), "{t}");
        assert!(lines[1].ends_with(" 0") && lines[2].ends_with(" 2"), "{t}");
    }

    #[test]
    fn committed_reports_render_as_before() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let want = root.join("loadgen/tests/fixtures/table");
        let names = [
            "loadgen/tests/fixtures/half1.json",
            "loadgen/tests/fixtures/half2.json",
            "loadgen/tests/fixtures/rate500.json",
            "loadgen/tests/fixtures/rate2000.json",
            "loadgen/tests/fixtures/v2run.json",
            "bench-results/20261201T112800Z_9167a15_recorder/r1-on.json",
            "bench-results/20261201T114854Z_605b2d6_shards/rate-20000/slurm-1/merged.json",
            "bench-results/20261201T123951Z_0179032_storm5000-1.json",
            "bench-results/20261124T004546Z_06ab99a_sweep-d1000-rate300000.json",
        ];
        let reports: Vec<(String, Report)> = names
            .iter()
            .map(|n| {
                let r = crate::tools::reportfile::load_typed(&root.join(n)).unwrap();
                (n.to_string(), r)
            })
            .collect();
        let limits: Vec<(String, Value)> = [
            "loadgen/tests/fixtures/limits.json",
            "bench-results/20261201T123904Z_0179032_limits.json",
        ]
        .iter()
        .map(|n| (n.to_string(), load(&root.join(n)).unwrap()))
        .collect();
        let text = render(&reports, &limits);
        assert_eq!(
            text,
            std::fs::read_to_string(want.join("render.txt")).unwrap()
        );
        let dir = std::env::temp_dir().join(format!("table-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_data(&reports, &dir).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(&want)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "render.txt")
            .collect();
        files.sort();
        let mut got: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, files);
        for f in &files {
            assert_eq!(
                std::fs::read_to_string(dir.join(f)).unwrap(),
                std::fs::read_to_string(want.join(f)).unwrap(),
                "{f}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
        // The knee: an open-loop report in trouble, one clean below it.
        let mut hot = reports[3].clone();
        hot.1.udp.status_timeouts = 1;
        let k = knee(&[reports[2].clone(), hot]);
        assert_eq!(k, Some((Some(500.0), 2000.0)));
    }
}
