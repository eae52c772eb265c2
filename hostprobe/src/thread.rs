//! CPU time per thread, from `/proc/self/task/<tid>/schedstat` (the
//! nanoseconds the scheduler ran the thread, user and system together), so
//! a benchmark can measure a receiver without its sender.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

/// The calling thread's kernel id.
pub fn tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// CPU time of thread `tid` of this process (zero if it is gone).
pub fn thread_cpu(tid: i32) -> Duration {
    let s = fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).unwrap_or_default();
    Duration::from_nanos(parse_schedstat(&s).unwrap_or(0))
}

/// First field of a schedstat line: time spent on the CPU, ns.
pub fn parse_schedstat(s: &str) -> Option<u64> {
    s.split_whitespace().next()?.parse().ok()
}

/// The id of this process's thread named exactly `name` (the hub's loop
/// thread is named `hub`).
pub fn find_thread(name: &str) -> Option<i32> {
    fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find_map(|e| {
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim_end() == name).then(|| e.file_name().to_str()?.parse().ok())?
        })
}

/// CPU seconds per thread name of this process (threads sharing a name
/// are added up), from the same schedstat clock as [`thread_cpu`].
pub fn cpu_by_name() -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let p = e.path();
        let Some(ns) = fs::read_to_string(p.join("schedstat"))
            .ok()
            .and_then(|s| parse_schedstat(&s))
        else {
            continue;
        };
        let name = fs::read_to_string(p.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        *out.entry(name).or_insert(0.0) += ns as f64 / 1e9;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burn(d: Duration) {
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < d {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    #[test]
    fn schedstat_lines_parse() {
        assert_eq!(parse_schedstat("123456 789 10\n"), Some(123456));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn a_busy_thread_is_found_by_name_and_its_cpu_counted() {
        let h = std::thread::Builder::new()
            .name("probe-busy".into())
            .spawn(|| {
                burn(Duration::from_millis(40));
                let me = tid();
                (me, find_thread("probe-busy"), thread_cpu(me), cpu_by_name())
            })
            .unwrap();
        let (me, found, cpu, by_name) = h.join().unwrap();
        assert_eq!(found, Some(me));
        assert!(cpu >= Duration::from_millis(10), "{cpu:?}");
        assert!(by_name["probe-busy"] >= 0.01, "{by_name:?}");
        assert!(find_thread("no-such-thread-name").is_none());
        assert_eq!(thread_cpu(-1), Duration::ZERO, "a gone thread reads zero");
    }
}
