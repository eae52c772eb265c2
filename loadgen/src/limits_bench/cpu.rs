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
    fn median_and_thread_cpu() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[]), 0.0);
        // Accounting may lag a fresh thread; burn a little CPU first.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu(tid()) > std::time::Duration::ZERO);
    }
}
