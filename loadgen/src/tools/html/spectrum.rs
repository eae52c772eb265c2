//! Latency spectra: each histogram of a report (`latency_us.<kind>.hist`,
//! decoded as `loadgen hgrm` decodes it) as a percentile curve, the points
//! HdrHistogram's percentile distribution lists
//! ([`TICKS_PER_HALF_DISTANCE`] per half distance to 100 %), placed on
//! the percentile axis of [`XScale::Percentile`](super::svg::XScale::Percentile) in milliseconds.

use hdrhistogram::Histogram;

use crate::report::histo::{decode_histogram, LatencySummary};
use crate::tools::hgrm::TICKS_PER_HALF_DISTANCE;
use crate::tools::html::svg::MAX_NINES;
use crate::tools::reportfile::FileError;

/// One kind's curve: `(-log10(1 - q), ms)` points, `q` rising.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    /// Samples in the histogram.
    pub count: u64,
    pub points: Vec<(f64, f64)>,
}

/// The curve of `h` (no points when it is empty). The 100th percentile has
/// no finite place on the axis: it is drawn at the last nine the samples
/// reach (`log10(count)`, rounded up), where the plotter draws it too.
pub fn of(h: &Histogram<u64>) -> Spectrum {
    let count = h.len();
    if h.is_empty() {
        return Spectrum {
            count,
            points: Vec::new(),
        };
    }
    let end = (count as f64).log10().ceil().clamp(1.0, MAX_NINES);
    let mut points = Vec::new();
    for v in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        let q = v.quantile_iterated_to();
        let x = if q < 1.0 {
            (-(1.0 - q).log10()).min(end)
        } else {
            end
        };
        points.push((x, v.value_iterated_to() as f64 / 1000.0));
    }
    Spectrum { count, points }
}

/// The curve of one `latency_us` entry of the report at `file`; a histogram
/// that does not decode is one line naming file and kind.
pub fn decode(file: &str, kind: &str, s: &LatencySummary) -> Result<Spectrum, FileError> {
    let h = decode_histogram(&s.hist).ok_or_else(|| {
        FileError::Shape(format!("{file}: latency_us.{kind}.hist does not decode"))
    })?;
    Ok(of(&h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::histo::{encode_histogram, new_histogram};

    #[test]
    fn a_curve_rises_from_the_minimum_to_the_maximum() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let s = of(&h);
        assert_eq!(s.count, 1000);
        let first = s.points[0];
        let last = *s.points.last().unwrap();
        assert_eq!(first, (0.0, 0.01));
        assert_eq!(last.0, 3.0, "1000 samples reach 99.9 %");
        assert!((last.1 - 10.0).abs() < 0.01, "{last:?}");
        assert!(s
            .points
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }

    #[test]
    fn empty_and_broken_histograms() {
        assert!(of(&new_histogram()).points.is_empty());
        let mut s = LatencySummary::of(&new_histogram());
        s.hist = "not base64!".into();
        let e = decode("r.json", "status", &s).unwrap_err().to_string();
        assert_eq!(e, "r.json: latency_us.status.hist does not decode");
        let mut h = new_histogram();
        h.record(5).unwrap();
        s.hist = encode_histogram(&h);
        let one = decode("r.json", "status", &s).unwrap();
        assert_eq!(one.count, 1);
        assert!(one.points.iter().all(|p| p.0 <= 1.0), "{:?}", one.points);
    }
}
