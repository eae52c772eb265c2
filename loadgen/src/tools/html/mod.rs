//! `loadgen report RUN.json [MORE.json …] -o report.html`: reports as one
//! self-contained HTML page a person opens: no network, no external script,
//! font or style sheet (a Content-Security-Policy of `default-src 'none'`
//! says so to the browser too); charts are inline SVG drawn here.
//!
//! Data flows one way: [`run`] loads each file typed (through
//! `reportfile::load_typed`, so schema 1 and 2 reports alike, with its size
//! cap and one-line errors) and decodes its histograms once ([`Input`]);
//! [`render`] lays the page out:
//!
//! - [`compare`]: with several reports, `loadgen table`'s rows as an HTML
//!   table and the spectra of every report overlaid, kind by kind;
//! - [`page`]: each report's section: run, verdict and checks, then
//!   [`tables`] (devices, datagram fates and loss accounting, commands,
//!   latency percentiles, generator, CPU, recorder, evidence) and
//!   [`charts`] (timeline with waves and stage boundaries marked, spectra,
//!   loss by fate, CPU), and for a staged run [`stages`] (the stages'
//!   table, the knee, each stage's start on the timeline);
//! - [`svg`] and [`bars`], the chart primitives, [`spectrum`], histogram to percentile
//!   curve, and [`escape`], the [`escape::Markup`] builder every piece goes
//!   through, so hub-sent text is always escaped.
//!
//! Key figures carry stable ids (`A-verdict`, `A-checks`,
//! `A-unexplained_loss`, `A-lat-status-p99`, … with a `data-value`), and a
//! small inline script records page errors and what the browser drew on the
//! root element (`data-errors`, `data-charts-drawn`, …), for readers and
//! for `tests/report_html.rs`, which opens the page in headless Chromium.

pub mod bars;
pub mod charts;
pub mod compare;
pub mod escape;
pub mod page;
pub mod spectrum;
pub mod stages;
pub mod svg;
pub mod tables;

use std::path::{Path, PathBuf};

use crate::report::Report;
use crate::tools::html::escape::Markup;
use crate::tools::html::spectrum::Spectrum;
use crate::tools::reportfile::{load_typed, FileError};
use crate::tools::table;

/// Reports one page takes: one column letter each, `A` to `Z`, as
/// `loadgen table` names them.
pub const MAX_REPORTS: usize = 26;

/// Latency kinds in the order the page shows them (any other kind a newer
/// report has follows, in its key order).
pub const KINDS: [&str; 7] = [
    "status",
    "status_raw",
    "command_delivery",
    "command_rtt",
    "wave",
    "connect",
    "send_lag",
];

/// One report, ready to lay out.
#[derive(Debug, Clone)]
pub struct Input {
    /// Its column letter (`A`…), also the prefix of its element ids.
    pub letter: char,
    /// The path it was read from, as given.
    pub file: String,
    pub report: Report,
    /// Each latency kind with samples, in [`KINDS`] order, as a curve.
    pub spectra: Vec<(String, Spectrum)>,
}

impl Input {
    /// `report` read from `file`, the `i`th input; decodes its histograms.
    pub fn new(i: usize, file: String, report: Report) -> Result<Input, FileError> {
        let mut keys: Vec<&String> = report.latency_us.keys().collect();
        keys.sort_by_key(|k| KINDS.iter().position(|x| x == k).unwrap_or(KINDS.len()));
        let mut spectra = Vec::new();
        for k in keys {
            let s = &report.latency_us[k];
            if s.count > 0 {
                spectra.push((k.clone(), spectrum::decode(&file, k, s)?));
            }
        }
        Ok(Input {
            letter: table::letter(i),
            file,
            report,
            spectra,
        })
    }
}

/// Content-Security-Policy of the page: nothing from anywhere; only the
/// page's own inline style and script.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'";

/// The style sheet (system fonts only).
const STYLE: &str = "
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#222}
h1{font-size:1.6em;margin:.2em 0}h2{margin-top:2em;border-bottom:2px solid #ccc}h3{margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:2px 8px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}pre{background:#f7f7f7;padding:.6em;overflow:auto;max-height:30em}
.verdict{font-size:1.3em;padding:.3em .6em;display:inline-block;border-radius:4px}
.ok{color:#14632b}.failed{color:#a11}.allowed{color:#8a5a00}.verdict.ok{background:#e3f4e8}.verdict.failed{background:#fbe4e4}
tr.check.failed td{background:#fdf0f0}.unchecked{color:#666;font-style:italic}.note{color:#666}
svg.chart{width:100%;height:auto;max-width:760px;display:block;margin:.4em 0 1em}
.kvs{display:flex;flex-wrap:wrap;gap:0 2em;align-items:flex-start}caption{font-weight:bold;text-align:left}
svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}svg text{font:11px sans-serif;fill:#333}
svg .title{font-weight:bold;font-size:12px}svg .tick.y,svg .bar-label{text-anchor:end}svg .tick.x,svg .axis.x{text-anchor:middle}
svg .axis.y{text-anchor:middle}svg .series{fill:none;stroke-width:1.6}
svg .mark line{stroke-width:1}svg .mark.wave line{stroke:#e08a00;stroke-dasharray:3 3}svg .mark.wave text{fill:#a36400}
svg .mark.boundary line{stroke:#555;stroke-dasharray:8 3}svg .mark.boundary text{fill:#333;font-style:italic}
";

/// Records page errors, blocked loads and what the browser drew, as
/// attributes of the root element (the page works the same without it).
const SCRIPT: &str = "
(function () {
  var d = document.documentElement, errors = [];
  function note(s) {
    errors.push(String(s));
    d.setAttribute('data-errors', String(errors.length));
    d.setAttribute('data-error-text', errors.join(' | '));
  }
  window.addEventListener('error', function (e) {
    note(e.message || ('failed to load ' + ((e.target && e.target.tagName) || '?')));
  }, true);
  document.addEventListener('securitypolicyviolation', function (e) {
    note('blocked ' + e.blockedURI);
  });
  window.addEventListener('load', function () {
    var charts = document.querySelectorAll('svg.chart'), drawn = 0;
    for (var i = 0; i < charts.length; i++) {
      var b = charts[i].getBoundingClientRect();
      if (b.width > 0 && b.height > 0 && charts[i].querySelector('path, rect')) drawn++;
    }
    d.setAttribute('data-charts', String(charts.length));
    d.setAttribute('data-charts-drawn', String(drawn));
    d.setAttribute('data-check-rows', String(document.querySelectorAll('tr.check').length));
    var refs = document.querySelectorAll('[src], [srcset], [action], [poster], [href]:not([href^=\"#\"])');
    d.setAttribute('data-external-refs', String(refs.length));
    d.setAttribute('data-loaded', '1');
  });
})();
";

/// The page of `inputs` (at least one).
pub fn render(inputs: &[Input]) -> String {
    let mut m = Markup::new();
    m.raw(
        "<!DOCTYPE html>\n<html lang=\"en\" data-errors=\"0\">\n<head>\n<meta charset=\"utf-8\">\n",
    );
    m.empty(
        "meta",
        &[
            ("http-equiv", &"Content-Security-Policy"),
            ("content", &CSP),
        ],
    );
    m.raw("\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let files: Vec<&str> = inputs.iter().map(|i| i.file.as_str()).collect();
    m.el(
        "title",
        &[],
        format_args!("loadgen report: {}", files.join(", ")),
    );
    m.raw("\n<style>")
        .raw(STYLE)
        .raw("</style>\n<script>")
        .raw(SCRIPT);
    m.raw("</script>\n</head>\n<body>\n<header>");
    m.el("h1", &[], "loadgen report");
    m.open("p", &[("class", &"note")]).text(format_args!(
        "{} report{} read by loadgen {}. ",
        inputs.len(),
        if inputs.len() == 1 { "" } else { "s" },
        env!("CARGO_PKG_VERSION")
    ));
    for i in inputs {
        let href = format!("#report-{}", i.letter);
        m.el(
            "a",
            &[("href", &href)],
            format_args!("{}: {}", i.letter, i.file),
        )
        .raw(" ");
    }
    m.close("p").raw("</header>\n");
    if inputs.len() > 1 {
        m.append(&compare::section(inputs));
    }
    for i in inputs {
        m.append(&page::section(i));
    }
    m.raw("</body>\n</html>\n");
    m.into_string()
}

/// Loads `files`, writes the page to `out` (stdout without one).
pub fn run(files: &[PathBuf], out: Option<&Path>) -> Result<(), FileError> {
    if files.len() > MAX_REPORTS {
        return Err(FileError::Shape(format!(
            "{} reports given; one page takes at most {MAX_REPORTS}",
            files.len()
        )));
    }
    let mut inputs = Vec::new();
    for (i, p) in files.iter().enumerate() {
        let r = load_typed(p)?;
        inputs.push(Input::new(i, p.display().to_string(), r)?);
    }
    let html = render(&inputs);
    match out {
        Some(p) => std::fs::write(p, html).map_err(|e| FileError::Io(p.to_path_buf(), e)),
        None => {
            use std::io::Write;
            std::io::stdout()
                .lock()
                .write_all(html.as_bytes())
                .map_err(|e| FileError::Io(PathBuf::from("-"), e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    /// Text a hostile hub could put in a report: tags, quotes, an
    /// attribute break, a script end, control bytes.
    const HOSTILE: &str =
        "\"'><script>document.title='pwned'</script><img src=x onerror=alert(1)>\u{0}</pre>";

    fn page(r: Report) -> String {
        render(&[Input::new(0, "a<b>.json".into(), r).unwrap()])
    }

    #[test]
    fn hub_sent_text_is_escaped_everywhere_it_shows() {
        let mut r = fixture::report(&["--devices", "7", "--loss", "0.02"]);
        r.evidence.refusals.push(HOSTILE.into());
        r.evidence.status_invalid.push(HOSTILE.into());
        r.evidence.violations.push(HOSTILE.into());
        r.commands.errors.push(HOSTILE.into());
        r.commands.wave_list[0].command = HOSTILE.into();
        r.checks[0].figure = HOSTILE.into();
        r.checks[0].name = HOSTILE.into();
        r.breaches.push(HOSTILE.into());
        r.loss_diagnosis.explanation = HOSTILE.into();
        r.udp.identity = HOSTILE.into();
        r.run.command_line.push(HOSTILE.into());
        r.cpu.threads.insert(HOSTILE.into(), 1.0);
        r.hub_stats = Some(serde_json::json!({ "note": HOSTILE, HOSTILE: 1 }));
        let html = page(r);
        // Only the page's own script and no image at all.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        assert!(!html.contains("<img"), "raw markup leaked");
        assert_eq!(html.matches("</pre>").count(), 1, "the hub stats' own");
        assert!(!html.contains('\u{0}'));
        let escaped = escape::escape(HOSTILE);
        // Evidence ×3, error, wave tip, check name and figure, breach,
        // explanation, identity, command line, thread ×2 (table, chart).
        assert!(html.matches(escaped.as_str()).count() >= 13, "{html}");
        assert!(html.contains("a&lt;b&gt;.json"));
    }

    #[test]
    fn key_figures_carry_ids_and_values() {
        let mut r = fixture::report(&["--devices", "7", "--loss", "0.02"]);
        r.udp.unexplained_loss = -3;
        let p99 = r.latency_us["status"].p99;
        let html = page(r.clone());
        for (id, v) in [
            ("A-verdict", if r.ok { "ok" } else { "failed" }.to_string()),
            ("A-checks", r.checks.len().to_string()),
            ("A-unexplained_loss", "-3".into()),
            ("A-lat-status-p99", p99.to_string()),
        ] {
            let want = format!("id=\"{id}\" data-value=\"{v}\"");
            assert!(html.contains(&want), "{want}");
        }
        assert_eq!(html.matches("<tr class=\"check").count(), r.checks.len());
        for chart in ["A-timeline-rate", "A-spectrum-status", "A-loss", "A-cpu"] {
            assert!(html.contains(&format!("id=\"{chart}\"")), "{chart}");
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    /// A staged run shows its stages' table with the knee, and each stage's
    /// start on the timeline; a run without stages shows neither.
    #[test]
    fn a_staged_run_shows_its_stages_and_the_knee() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = std::fs::read_dir(root.join("../bench-results"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("_stages-knee"))
            .expect("the committed stage run");
        let r: Report =
            serde_json::from_str(&std::fs::read_to_string(dir.join("knee.json")).unwrap()).unwrap();
        let s = r.stages.clone().expect("a staged run");
        let knee = s.knee.as_ref().map(|k| k.stage).expect("it broke");
        let html = page(r);
        assert!(
            html.contains(&format!("id=\"A-knee\" data-value=\"{knee}\"")),
            "knee {knee}"
        );
        assert!(html.contains(&escape::escape(&s.verdict)));
        assert_eq!(
            html.matches("<table class=\"stages\">").count(),
            1,
            "one stages table"
        );
        for f in &s.list {
            assert!(
                html.contains(&format!(">s{}<", f.stage)),
                "stage {} marked",
                f.stage
            );
        }
        let plain = page(fixture::report(&["--devices", "7"]));
        assert!(!plain.contains("A-knee") && !plain.contains("class=\"stages\""));
    }

    /// Every committed report (schema 1 and 2, merged sets, sweeps)
    /// renders, and several at once compare.
    #[test]
    fn every_committed_report_renders() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        fixture::committed_reports(&root.join("../bench-results"), &mut files);
        fixture::committed_reports(&root.join("tests/fixtures"), &mut files);
        assert!(files.len() >= 100, "{} reports", files.len());
        let mut inputs = Vec::new();
        for p in &files {
            let r = load_typed(p).unwrap();
            let html = render(&[Input::new(0, p.display().to_string(), r.clone()).unwrap()]);
            assert!(html.contains("id=\"A-verdict\""), "{}", p.display());
            if inputs.len() < 3 {
                let n = inputs.len();
                inputs.push(Input::new(n, p.display().to_string(), r).unwrap());
            }
        }
        let html = render(&inputs);
        assert!(html.contains("id=\"compare-table\"") && html.contains("compare-spectrum-status"));
    }

    #[test]
    fn too_many_reports_is_one_line() {
        let files = vec![PathBuf::from("x.json"); MAX_REPORTS + 1];
        let e = run(&files, None).unwrap_err().to_string();
        assert_eq!(e, "27 reports given; one page takes at most 26");
    }
}
