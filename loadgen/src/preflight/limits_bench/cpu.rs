//! Per-thread CPU time (shared with the hub's own benchmark, in
//! `hub::server::kernel`) and the median the ratios are taken of.

pub use hub::server::kernel::{find_thread, thread_cpu, tid};

/// Median of a non-empty list (upper median for even lengths); 0 if empty.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_middle() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 3.0);
        assert_eq!(median(&[]), 0.0);
    }
}
