//! Writing the Prometheus text format (version 0.0.4): `# HELP`, `# TYPE`
//! and samples, into one growing `String`.

use std::fmt::Write;

use hdrhistogram::Histogram;
use serde_json::Value;

use super::{DeviceSample, GAUGES, RTT_BUCKETS_S, SKIPPED};

/// The page being written.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

/// `s` made a legal metric-name fragment (`[a-zA-Z0-9_]`).
fn sanitize(s: &str, out: &mut String) {
    for c in s.chars() {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn label(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn number(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// The finished page.
    pub fn finish(self) -> String {
        self.out
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One unlabelled series with its HELP and TYPE.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        self.header(name, kind, help);
        self.out.push_str(name);
        self.out.push(' ');
        number(v, &mut self.out);
        self.out.push('\n');
    }

    /// Every numeric leaf of the `stats` JSON (see the module docs).
    pub fn stats(&mut self, stats: &Value) {
        let mut path = String::new();
        self.walk(stats, &mut path);
    }

    fn walk(&mut self, v: &Value, path: &mut String) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    if !SKIPPED.contains(&path.as_str()) {
                        self.walk(child, path);
                    }
                    path.truncate(len);
                }
            }
            Value::Number(n) => self.leaf(path, n.as_f64().unwrap_or(f64::NAN)),
            Value::Bool(b) => self.leaf(path, if *b { 1.0 } else { 0.0 }),
            // Text (paths, last errors) and nulls have no number to show.
            _ => {}
        }
    }

    fn leaf(&mut self, path: &str, v: f64) {
        if let Some((_, name, help)) = GAUGES.iter().find(|(p, _, _)| *p == path) {
            self.single(name, "gauge", help, v);
            return;
        }
        let mut name = String::from("hub_");
        sanitize(path, &mut name);
        name.push_str("_total");
        let help = format!("The stats counter {path}.");
        self.single(&name, "counter", &help, v);
    }

    /// A histogram of microsecond values, exported in seconds.
    pub fn histogram_us(&mut self, name: &str, help: &str, h: &Histogram<u64>) {
        self.header(name, "histogram", help);
        for &le in RTT_BUCKETS_S {
            let le_us = (le * 1e6) as u64;
            let n = if h.is_empty() {
                0
            } else {
                h.count_between(0, le_us)
            };
            let _ = write!(self.out, "{name}_bucket{{le=\"");
            number(le, &mut self.out);
            let _ = writeln!(self.out, "\"}} {n}");
        }
        let count = h.len();
        let _ = writeln!(self.out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum_s = if count == 0 {
            0.0
        } else {
            h.mean() * count as f64 / 1e6
        };
        let _ = write!(self.out, "{name}_sum ");
        number(sum_s, &mut self.out);
        let _ = writeln!(self.out, "\n{name}_count {count}");
    }

    /// `hub_sensor_value` and `hub_sensor_age_seconds`, one series each per device.
    pub fn devices(&mut self, samples: &[DeviceSample<'_>]) {
        for (name, help, age) in [
            (
                "hub_sensor_value",
                "The latest value each device sent.",
                false,
            ),
            (
                "hub_sensor_age_seconds",
                "Seconds since each device's latest value arrived.",
                true,
            ),
        ] {
            self.header(name, "gauge", help);
            for s in samples {
                self.out.push_str(name);
                self.out.push_str("{device=\"");
                label(s.device, &mut self.out);
                self.out.push_str("\",type=\"");
                label(s.kind, &mut self.out);
                self.out.push_str("\"} ");
                number(if age { s.age_s } else { s.value }, &mut self.out);
                self.out.push('\n');
            }
        }
    }
}
