//! Per-thread CPU time from the scheduler (`/proc/self/task/<tid>/schedstat`,
//! nanoseconds on the CPU), so a receiver's cost is measured without its
//! sender's.

use std::time::Duration;

/// The calling thread's kernel id.
pub fn tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// CPU time of thread `tid` of this process (zero if it is gone).
pub fn thread_cpu(tid: i32) -> Duration {
    let s = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).unwrap_or_default();
    Duration::from_nanos(parse_schedstat(&s).unwrap_or(0))
}

/// First field of a schedstat line: time spent on the CPU, ns.
pub fn parse_schedstat(s: &str) -> Option<u64> {
    s.split_whitespace().next()?.parse().ok()
}

/// The id of this process's thread named exactly `name`.
pub fn find_thread(name: &str) -> Option<i32> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|e| {
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim_end() == name).then(|| e.file_name().to_str()?.parse().ok())?
        })
}

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
    fn schedstat_and_median() {
        assert_eq!(parse_schedstat("123456 789 10\n"), Some(123456));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[]), 0.0);
        // Accounting may lag a fresh thread; burn a little CPU first.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu(tid()) > Duration::ZERO);
    }
}
