//! One report's section of the page, top to bottom: the run, the verdict
//! and every check, then devices, the timeline, datagrams (fates, loss
//! accounting, loss by fate, the diagnosis), commands, latency (table and
//! spectra), generator and CPU, the recorder, the verbatim evidence, the
//! hub's own `stats` reply and, for a merged report, its inputs. The
//! tables are [`tables`]' and the charts [`charts`]'; this file only
//! orders them.

use crate::report::checks::Check;
use crate::tools::html::escape::Markup;
use crate::tools::html::{charts, stages, tables, Input};
use crate::tools::table::label;

/// How a check reads: its row's class and its state in words.
pub fn state(c: &Check) -> (&'static str, &'static str) {
    match (c.passed, c.allowed, c.not_checked) {
        (_, _, true) => ("check unchecked", "not cross-checked"),
        (true, _, _) => ("check ok", "passed"),
        (false, true, _) => ("check allowed", "failed (allowed)"),
        (false, false, _) => ("check failed", "failed"),
    }
}

/// The verdict line and the checks table.
pub fn verdict(m: &mut Markup, i: &Input) {
    let r = &i.report;
    let failed = r.checks.iter().filter(|c| c.fails_run()).count();
    let (class, word) = if r.ok {
        ("verdict ok", "ok")
    } else {
        ("verdict failed", "FAILED")
    };
    let l = i.letter;
    m.open("p", &[("class", &class)]).text("verdict: ");
    let id = format!("{l}-verdict");
    m.el(
        "strong",
        &[
            ("id", &id),
            ("data-value", &if r.ok { "ok" } else { "failed" }),
        ],
        word,
    );
    m.text(" — ");
    let id = format!("{l}-checks");
    m.el(
        "span",
        &[("id", &id), ("data-value", &r.checks.len())],
        r.checks.len(),
    );
    m.text(" checks, ");
    let id = format!("{l}-checks-failed");
    m.el("span", &[("id", &id), ("data-value", &failed)], failed);
    m.text(" failing the run").close("p");
    if r.checks.is_empty() {
        m.el("p", &[("class", &"note")], "No named checks: a report from before them (schema 1); its verdict is `ok` and the breaches below.");
    } else {
        let from = r.checks.iter().any(|c| c.file.is_some());
        let id = format!("{l}-checks-table");
        m.open("table", &[("class", &"checks"), ("id", &id)])
            .open("tr", &[]);
        m.el("th", &[], "check")
            .el("th", &[], "state")
            .el("th", &[], "figure");
        if from {
            m.el("th", &[], "from");
        }
        m.close("tr");
        for c in &r.checks {
            let (class, word) = state(c);
            m.open(
                "tr",
                &[
                    ("class", &class),
                    ("data-name", &c.name),
                    ("data-passed", &c.passed),
                ],
            );
            m.el("td", &[], &c.name)
                .el("td", &[], word)
                .el("td", &[], &c.figure);
            if from {
                m.el("td", &[], c.file.as_deref().unwrap_or(""));
            }
            m.close("tr");
        }
        m.close("table");
    }
    if !r.breaches.is_empty() {
        let id = format!("{l}-breaches");
        m.el("h4", &[], "breaches").open("ul", &[("id", &id)]);
        for b in &r.breaches {
            m.open("li", &[]).el("code", &[], b).close("li");
        }
        m.close("ul");
    }
}

fn h3(m: &mut Markup, t: &str) {
    m.el("h3", &[], t);
}

/// The merged report's inputs and shard set, if it is one.
fn merged(m: &mut Markup, i: &Input) {
    let r = &i.report;
    let Some(from) = &r.merged_from else {
        return;
    };
    h3(m, "Merged from");
    if let Some(s) = &r.shards {
        m.el(
            "p",
            &[],
            format_args!(
                "run {}: {} of {} shards present {:?}, missing {:?}{}",
                s.run_id,
                s.present.len(),
                s.count,
                s.present,
                s.missing,
                if s.partial { " (partial)" } else { "" }
            ),
        );
    }
    let rows: Vec<Vec<String>> = from
        .iter()
        .map(|f| {
            vec![
                f.file.clone(),
                tables::opt(f.shard),
                f.devices.to_string(),
                f.first_id.to_string(),
                f.seed.to_string(),
                f.start_time.clone(),
            ]
        })
        .collect();
    tables::grid(
        m,
        "merged",
        &["file", "shard", "devices", "first id", "seed", "started"],
        &rows,
    );
}

/// The whole section of one report.
pub fn section(i: &Input) -> Markup {
    let r = &i.report;
    let mut m = Markup::new();
    let id = format!("report-{}", i.letter);
    m.open("section", &[("class", &"report"), ("id", &id)]);
    m.el(
        "h2",
        &[],
        format_args!("{}: {} ({})", i.letter, i.file, label(r)),
    );
    tables::run(&mut m, i);
    h3(&mut m, "Verdict");
    verdict(&mut m, i);
    h3(&mut m, "Devices");
    tables::devices(&mut m, i);
    if r.stages.is_some() {
        h3(&mut m, "Stages");
        stages::table(&mut m, i);
    }
    h3(&mut m, "Timeline");
    charts::timeline(&mut m, i);
    h3(&mut m, "Datagrams");
    tables::udp(&mut m, i);
    charts::loss(&mut m, i);
    tables::loss_diagnosis(&mut m, i);
    h3(&mut m, "Commands");
    tables::commands(&mut m, i);
    h3(&mut m, "Latency");
    tables::latency(&mut m, i);
    charts::spectra(&mut m, i);
    h3(&mut m, "Generator and CPU");
    tables::generator(&mut m, i);
    tables::cpu(&mut m, i);
    charts::cpu(&mut m, i);
    h3(&mut m, "Recorder");
    tables::recorder(&mut m, i);
    h3(&mut m, "Evidence");
    tables::evidence(&mut m, i);
    h3(&mut m, "The hub's stats reply");
    match &r.hub_stats {
        None => m.el(
            "p",
            &[("class", &"note")],
            "None (the admin port did not answer).",
        ),
        Some(v) => {
            let text = serde_json::to_string_pretty(v).unwrap_or_default();
            let id = format!("{}-hub-stats", i.letter);
            m.open("details", &[])
                .el("summary", &[], "as the hub sent it");
            m.el("pre", &[("id", &id)], text).close("details")
        }
    };
    merged(&mut m, i);
    m.close("section");
    m
}
