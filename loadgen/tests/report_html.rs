//! `loadgen report` opened in a real browser (headless Chromium, see
//! `common::browser`): committed reports of both schema versions side by
//! side, a fresh small run, and a report full of hostile hub text. Each page
//! must load with no console message, no page error and no request outside
//! the file, draw every chart, and show the report's own figures (verdict,
//! checks, unexplained loss, STATUS p99, …) and `loadgen table`'s rows. A
//! control page with a script error and an outside image proves those
//! checks can fail. Bad inputs get one line and exit 2.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::browser::{self, Visit};
use common::fleet::{run_bounded, temp_dir};
use loadgen::report::Report;
use loadgen::tools::reportfile::load_typed;

/// Longest a `loadgen report` or `table` call may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn loadgen(args: &[String]) -> Output {
    run_bounded(
        Path::new(env!("CARGO_BIN_EXE_loadgen")),
        args,
        &[],
        TOOL_TIMEOUT,
    )
}

/// `loadgen report FILES -o out`, which must succeed.
fn report(files: &[PathBuf], out: &Path) {
    let mut args = vec!["report".to_string()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    args.extend(["-o".into(), out.display().to_string()]);
    let o = loadgen(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A page that loaded cleanly: the script ran to the load event, no page
/// error, no console message, no request, every chart drawn.
fn assert_clean(v: &Visit) {
    assert_eq!(v.root_attr("data-loaded"), Some("1"), "the load event ran");
    assert_eq!(
        v.root_attr("data-errors"),
        Some("0"),
        "{:?}",
        v.root_attr("data-error-text")
    );
    assert_eq!(v.console(), Vec::<&str>::new());
    assert_eq!(v.page_requests(), Vec::<String>::new());
    assert_eq!(v.root_attr("data-external-refs"), Some("0"));
    let charts = v.root_attr("data-charts").unwrap();
    assert!(charts.parse::<u32>().unwrap() > 0);
    assert_eq!(v.root_attr("data-charts-drawn"), Some(charts));
}

/// The figures of report `r` under `letter` on the page are the report's.
fn assert_figures(v: &Visit, letter: char, r: &Report) {
    let fig = |id: &str| {
        v.figure(&format!("{letter}-{id}"))
            .unwrap_or_else(|| panic!("no figure {letter}-{id}"))
            .to_string()
    };
    assert_eq!(fig("verdict"), if r.ok { "ok" } else { "failed" });
    assert_eq!(fig("checks"), r.checks.len().to_string());
    assert_eq!(fig("unexplained_loss"), r.udp.unexplained_loss.to_string());
    assert_eq!(
        fig("lat-status-p99"),
        r.latency_us["status"].p99.to_string()
    );
    assert_eq!(fig("udp-sent"), r.udp.sent.to_string());
    assert_eq!(fig("devices-registered"), r.devices.registered.to_string());
    assert_eq!(fig("schema_version"), r.schema_version.to_string());
    let rows = v
        .dom
        .matches(&format!("id=\"{letter}-checks-table\""))
        .count();
    assert_eq!(rows, usize::from(!r.checks.is_empty()));
}

/// The cells of the page's comparison row `name`, column by column.
fn compare_row<'a>(dom: &'a str, name: &str) -> Vec<&'a str> {
    let key = format!("<tr data-metric=\"{name}\">");
    let at = dom.find(&key).unwrap_or_else(|| panic!("no row {name:?}"));
    let row = &dom[at..at + dom[at..].find("</tr>").unwrap()];
    row.split("data-col=\"")
        .skip(1)
        .map(|c| &c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()])
        .collect()
}

#[test]
fn committed_reports_of_both_schemas_render_and_compare() {
    let dir = temp_dir("report-html-committed");
    let files = [
        root().join("loadgen/tests/fixtures/v2run.json"),
        root().join("bench-results/20261124T004546Z_06ab99a_d100-loss0.02.json"),
    ];
    let page = dir.join("committed.html");
    report(&files, &page);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"));
    let v = browser::open(&page, &dir);
    assert_clean(&v);
    let reports: Vec<Report> = files.iter().map(|f| load_typed(f).unwrap()).collect();
    assert_eq!(
        (reports[0].schema_version, reports[1].schema_version),
        (2, 1)
    );
    for (letter, r) in ['A', 'B'].into_iter().zip(&reports) {
        assert_figures(&v, letter, r);
    }
    let checks: usize = reports.iter().map(|r| r.checks.len()).sum();
    assert_eq!(
        v.root_attr("data-check-rows"),
        Some(checks.to_string().as_str())
    );
    // The comparison table holds what `loadgen table` prints.
    let mut args = vec!["table".to_string()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let t = loadgen(&args);
    assert!(t.status.success());
    let text = String::from_utf8(t.stdout).unwrap();
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("metric"))
        .skip(1)
        .take_while(|l| !l.is_empty() && !l.starts_with("rate sweep"))
        .collect();
    assert!(rows.len() > 10, "{text}");
    for line in rows {
        let (name, cells) = line.split_at(28);
        let want: Vec<&str> = [&cells[..20], &cells[20..]].map(str::trim).to_vec();
        assert_eq!(compare_row(&v.dom, name.trim_end()), want, "{line}");
    }
    assert!(v.dom.contains("id=\"compare-spectrum-status\""));
}

#[test]
fn a_fresh_run_renders_with_its_own_figures() {
    let dir = temp_dir("report-html-fresh");
    let json = dir.join("fresh.json");
    let run: Vec<String> = [
        "--devices",
        "20",
        "--duration",
        "2s",
        "--interval",
        "200ms",
        "--command-every",
        "1s",
        "--seed",
        "5",
        "--quiet",
        "--summary",
        "none",
        "--out",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([json.display().to_string()])
    .collect();
    let o = loadgen(&run);
    // A check may fail on a loaded machine; the report is written either way.
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let page = dir.join("fresh.html");
    report(std::slice::from_ref(&json), &page);
    let v = browser::open(&page, &dir);
    assert_clean(&v);
    let r = load_typed(&json).unwrap();
    assert!(r.latency_us["status"].count > 0 && !r.commands.wave_list.is_empty());
    assert_figures(&v, 'A', &r);
    assert_eq!(
        v.root_attr("data-check-rows"),
        Some(r.checks.len().to_string().as_str())
    );
    // Waves are marked on the timeline, the window's end as a boundary.
    assert!(v.dom.matches("<g class=\"mark wave\">").count() >= 4 * r.commands.wave_list.len());
    assert!(v.dom.contains("<g class=\"mark boundary\">"));
}

/// Hub-sent text that would run script, load an image or break out of an
/// attribute if it were pasted into the page unescaped.
const HOSTILE: &str = concat!(
    "\"'><script>document.documentElement.setAttribute('data-pwned','script')</script>",
    "<img src=\"http://127.0.0.1:9/pwned.png\" ",
    "onerror=\"document.documentElement.setAttribute('data-pwned','img')\">",
    "<svg onload=\"document.documentElement.setAttribute('data-pwned','svg')\"></svg>"
);

#[test]
fn hostile_hub_text_stays_text_in_the_browser() {
    let dir = temp_dir("report-html-hostile");
    let src = root().join("loadgen/tests/fixtures/v2run.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(src).unwrap()).unwrap();
    v["evidence"]["refusals"] = serde_json::json!([HOSTILE]);
    v["evidence"]["violations"] = serde_json::json!([HOSTILE]);
    v["commands"]["errors"] = serde_json::json!([HOSTILE]);
    v["checks"][0]["figure"] = serde_json::json!(HOSTILE);
    v["hub_stats"]["note"] = serde_json::json!(HOSTILE);
    v["loss_diagnosis"]["explanation"] = serde_json::json!(HOSTILE);
    let json = dir.join("hostile.json");
    std::fs::write(&json, v.to_string()).unwrap();
    let page = dir.join("hostile.html");
    report(std::slice::from_ref(&json), &page);
    let visit = browser::open(&page, &dir);
    assert_clean(&visit);
    assert_eq!(visit.root_attr("data-pwned"), None, "hostile markup ran");
    assert!(!visit.dom.contains("<img") && !visit.dom.contains("<script>document"));
    // Shown as text, every time (the DOM dump re-escapes < and >).
    let shown = "&lt;script&gt;document.documentElement.setAttribute('data-pwned','script')";
    assert!(visit.dom.matches(shown).count() >= 6, "{}", visit.dom);
}

/// A page with a script error, a console message and an outside image,
/// with and without the report's Content-Security-Policy: the checks above
/// see each (so a clean result means something).
#[test]
fn the_browser_checks_can_fail() {
    let dir = temp_dir("report-html-control");
    let page = dir.join("base.html");
    report(&[root().join("loadgen/tests/fixtures/v2run.json")], &page);
    let html = std::fs::read_to_string(&page).unwrap();
    let bad = "<img src=\"http://127.0.0.1:9/control.png\"><script>console.error('control'); noSuchFunction();</script></body>";
    let csp_start = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .unwrap();
    let csp_end = csp_start + html[csp_start..].find("/>").unwrap() + 2;
    let open_page = format!("{}{}", &html[..csp_start], &html[csp_end..]).replace("</body>", bad);
    let p = dir.join("control-open.html");
    std::fs::write(&p, open_page).unwrap();
    let v = browser::open(&p, &dir);
    assert_eq!(v.root_attr("data-loaded"), Some("1"));
    let errors: u32 = v.root_attr("data-errors").unwrap().parse().unwrap();
    assert!(
        errors >= 2,
        "script error and failed image: {:?}",
        v.root_attr("data-error-text")
    );
    assert!(
        v.console().iter().any(|l| l.contains("control")),
        "{}",
        v.log
    );
    assert_eq!(v.page_requests(), ["http://127.0.0.1:9/control.png"]);
    // With the policy the image is refused before any request, and said so.
    let p = dir.join("control-csp.html");
    std::fs::write(&p, html.replace("</body>", bad)).unwrap();
    let v = browser::open(&p, &dir);
    let text = v.root_attr("data-error-text").unwrap_or("");
    assert!(
        text.contains("blocked http://127.0.0.1:9/control.png"),
        "{text}"
    );
    assert!(v.console().len() >= 2, "{}", v.log);
    assert_eq!(v.page_requests(), Vec::<String>::new());
}

#[test]
fn bad_inputs_are_one_line_and_exit_2() {
    let dir = temp_dir("report-html-bad");
    let v2 = root().join("loadgen/tests/fixtures/v2run.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&v2).unwrap()).unwrap();
    doc["schema_version"] = serde_json::json!(3);
    let future = dir.join("future.json");
    std::fs::write(&future, doc.to_string()).unwrap();
    doc["schema_version"] = serde_json::json!(2);
    doc["latency_us"]["status"]["hist"] = serde_json::json!("bm90IGEgaGlzdG9ncmFt");
    let broken = dir.join("broken-hist.json");
    std::fs::write(&broken, doc.to_string()).unwrap();
    let text = dir.join("text.json");
    std::fs::write(&text, "hello").unwrap();
    let cases = [
        (text, "not JSON"),
        (
            root().join("loadgen/tests/fixtures/limits.json"),
            "not a loadgen report",
        ),
        (future, "schema_version 3 is not one this loadgen reads"),
        (broken, "latency_us.status.hist does not decode"),
        (dir.join("missing.json"), "No such file"),
        (dir.clone(), "Is a directory"),
    ];
    let out = dir.join("never.html");
    for (bad, want) in cases {
        let args = [
            "report".to_string(),
            v2.display().to_string(),
            bad.display().to_string(),
            "-o".into(),
            out.display().to_string(),
        ];
        let o = loadgen(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("loadgen: ") && err.contains(want),
            "{want}: {err}"
        );
        assert!(!out.exists(), "no page for bad input");
    }
    // Without -o the page goes to stdout.
    let o = loadgen(&["report".into(), v2.display().to_string()]);
    assert!(o.status.success() && o.stdout.starts_with(b"<!DOCTYPE html>"));
}
