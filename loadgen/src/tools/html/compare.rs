//! Several reports side by side: `loadgen table`'s rows ([`table::report_rows`],
//! the same cells it prints, ratios to the first column included) as an
//! HTML table, its rate-sweep knee, then one chart per latency kind with
//! every report's spectrum overlaid. Rows carry `data-metric` (the row's
//! name) and cells `data-col` (the report's letter).

use crate::report::Report;
use crate::tools::html::escape::Markup;
use crate::tools::html::svg::{LineChart, Series, XScale};
use crate::tools::html::{charts, Input, KINDS};
use crate::tools::table::{self, label};

/// The comparison section of `inputs`.
pub fn section(inputs: &[Input]) -> Markup {
    let mut m = Markup::new();
    m.open("section", &[("id", &"compare")]);
    m.el("h2", &[], "Side by side");
    m.open("ul", &[]);
    for i in inputs {
        m.el(
            "li",
            &[],
            format_args!("{}: {} ({})", i.letter, i.file, label(&i.report)),
        );
    }
    m.close("ul");
    let pairs: Vec<(String, Report)> = inputs
        .iter()
        .map(|i| (i.file.clone(), i.report.clone()))
        .collect();
    m.open("table", &[("id", &"compare-table")])
        .open("tr", &[])
        .el("th", &[], "metric");
    for i in inputs {
        m.el("th", &[], i.letter);
    }
    m.close("tr");
    for row in table::report_rows(&pairs) {
        m.open("tr", &[("data-metric", &row.name)])
            .el("th", &[], &row.name);
        for (i, c) in inputs.iter().zip(&row.cells) {
            m.el("td", &[("class", &"n"), ("data-col", &i.letter)], c);
        }
        m.close("tr");
    }
    m.close("table");
    if let Some(line) = table::knee_line(&pairs) {
        m.el("p", &[("id", &"compare-knee")], line);
    }
    m.el("h3", &[], "Latency spectra, overlaid");
    for kind in kinds(inputs) {
        let series: Vec<Series> = inputs
            .iter()
            .filter_map(|i| {
                let (_, s) = i.spectra.iter().find(|(k, _)| *k == kind)?;
                Some(charts::spectrum_series(
                    format!("{} {}", i.letter, label(&i.report)),
                    s,
                ))
            })
            .collect();
        m.append(
            &LineChart {
                id: format!("compare-spectrum-{kind}"),
                title: format!("{kind} latency by percentile, every report"),
                x_label: "percentile",
                y_label: "ms",
                x_scale: XScale::Percentile,
                series: &series,
                marks: &[],
            }
            .render(),
        );
    }
    m.close("section");
    m
}

/// Kinds some input has samples of: [`KINDS`] order, then others by name.
fn kinds(inputs: &[Input]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for i in inputs {
        for (k, _) in &i.spectra {
            if !v.contains(k) {
                v.push(k.clone());
            }
        }
    }
    v.sort_by_key(|k| {
        (
            KINDS.iter().position(|x| x == k).unwrap_or(KINDS.len()),
            k.clone(),
        )
    });
    v
}
