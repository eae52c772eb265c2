//! `.hgrm` export: a histogram as HdrHistogram's percentile-distribution
//! text (Java `Histogram.outputPercentileDistribution(out, 5, 1.0)`), the
//! format HdrHistogram's plotters (`plotFiles.html`, `hdr-plot`) read.
//!
//! Values are in **microseconds** (the report's unit; a plotter's scaling
//! ratio of 1000 shows milliseconds). [`write_report`] turns every latency
//! kind of a report into `<stem>.<kind>.hgrm`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use crate::report::histo::decode_histogram;
use crate::tools::reportfile::{load_typed, FileError};

/// Percentile ticks per half distance to 100%, as HdrHistogram's tools use.
pub const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// HdrHistogram's sub-bucket count for `sigfig` significant digits: the
/// power of two that holds `2 × 10^sigfig` distinct values.
fn sub_bucket_count(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// The percentile distribution of `h`, byte for byte in the Java layout.
pub fn format(h: &Histogram<u64>) -> String {
    let digits = usize::from(h.sigfig());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !h.is_empty() {
        for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = v.value_iterated_to() as f64;
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:>12.digits$} {q:>2.12} {total:>10}");
            }
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.digits$}, StdDeviation   = {:>12.digits$}]",
        h.mean(),
        h.stdev()
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.digits$}, Total count    = {:>12}]",
        h.max() as f64,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    );
    out
}

/// Writes one `<stem>.<kind>.hgrm` per latency kind of the report at
/// `report` into `out_dir` (default: beside the report); returns the paths.
pub fn write_report(report: &Path, out_dir: Option<&Path>) -> Result<Vec<PathBuf>, FileError> {
    let doc = load_typed(report)?;
    let stem = report
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("report")
        .to_string();
    let dir = out_dir
        .map(Path::to_path_buf)
        .or_else(|| report.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir).map_err(|e| FileError::Io(dir.clone(), e))?;
    }
    let mut written = Vec::new();
    for (kind, summary) in &doc.latency_us {
        let h = decode_histogram(&summary.hist).ok_or_else(|| {
            FileError::Shape(format!(
                "{}: latency_us.{kind}.hist does not decode",
                report.display()
            ))
        })?;
        let path = dir.join(format!("{stem}.{kind}.hgrm"));
        std::fs::write(&path, format(&h)).map_err(|e| FileError::Io(path.clone(), e))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::histo::new_histogram;

    #[test]
    fn tiny_histogram_in_java_layout() {
        let mut h = new_histogram();
        for v in [100u64, 200, 300, 400] {
            h.record(v).unwrap();
        }
        let text = format(&h);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "     100.000 0.000000000000          1           1.00"
        );
        assert_eq!(
            lines[3],
            "     100.000 0.100000000000          1           1.11"
        );
        // The last data line is the 100th percentile, without 1/(1-p).
        let last = lines[lines.len() - 4];
        assert_eq!(last, "     400.000 1.000000000000          4");
        assert_eq!(
            lines[lines.len() - 3],
            "#[Mean    =      250.000, StdDeviation   =      111.803]"
        );
        assert_eq!(
            lines[lines.len() - 2],
            "#[Max     =      400.000, Total count    =            4]"
        );
        assert_eq!(
            lines[lines.len() - 1],
            format!(
                "#[Buckets = {:>12}, SubBuckets     =         2048]",
                h.buckets()
            )
        );
        // Percentiles never go down; counts end at the total.
        let qs: Vec<f64> = lines[2..lines.len() - 3]
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
            .collect();
        assert!(qs.windows(2).all(|w| w[0] <= w[1]), "{qs:?}");
    }

    #[test]
    fn sub_buckets_match_hdrhistogram() {
        assert_eq!(sub_bucket_count(3), 2048);
        assert_eq!(sub_bucket_count(2), 256);
        assert_eq!(sub_bucket_count(1), 32);
    }
}
