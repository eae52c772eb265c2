//! The event log on a file system that fills mid-run (issue 18): every line
//! that does not reach the file is counted (`log.lines_lost`), the hub says
//! so on stderr when it starts and when it stops, and once there is room
//! again the log resumes by itself with one `LOG_LINES_LOST` line. Exact:
//! lines in the file + lines counted lost = lines the hub produced.

mod common;

use std::io::Write;
use std::time::Duration;

use common::{eventually, Admin, Device, HubProc, Opts, SmallDisk};
use serde_json::Value;

/// Lines the hub produced so far, and what became of them.
fn log_stats(admin: &mut Admin) -> Value {
    admin.cmd("stats")["stats"]["log"].clone()
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

/// Registers `count` devices named `{prefix}{i}` (one REGISTER line each),
/// then closes them (one DISCONNECT line each).
fn churn(hub: &HubProc, prefix: &str, count: usize) {
    let devs: Vec<Device> = (0..count)
        .map(|i| Device::register(hub.tcp, &format!("{prefix}{i:04}"), "t", true))
        .collect();
    eventually(|| (hub.typed_stats().registered >= count as u64).then_some(()))
        .expect("all registered");
    drop(devs);
    eventually(|| (hub.typed_stats().registered == 0).then_some(())).expect("all gone");
}

/// Fills what is left of the file system at `path` (until ENOSPC).
fn fill(path: &std::path::Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

fn stderr_line(hub: &HubProc, needle: &str, seen: &mut Vec<String>) -> String {
    let rx = hub.stderr.as_ref().expect("stderr captured");
    let found = eventually(|| {
        while let Ok(l) = rx.try_recv() {
            seen.push(l);
        }
        seen.iter().find(|l| l.contains(needle)).cloned()
    });
    found.unwrap_or_else(|| panic!("no stderr line with {needle:?}: {seen:?}"))
}

#[test]
fn a_log_that_fills_counts_every_line_lost_and_resumes_by_itself() {
    let mnt = std::env::temp_dir().join(format!("hub-logdisk-{}", std::process::id()));
    let Some(disk) = SmallDisk::mount(mnt, "256k") else {
        return;
    };
    let log = disk.dir.join("server_log.txt");
    let hub = HubProc::start_opts(
        &["--no-recorder", "--no-console"],
        Opts {
            log: Some(log.clone()),
            capture_stderr: true,
            ..Opts::default()
        },
    );
    let mut admin = Admin::connect(hub.admin);
    let mut seen = Vec::new();

    // Room: everything is written.
    churn(&hub, "Before", 50);
    let st = eventually(|| {
        let st = log_stats(&mut admin);
        let lines = std::fs::read_to_string(&log).unwrap().lines().count() as u64;
        (lines == n(&st, "written")).then_some(st)
    })
    .expect("every line written while there is room");
    assert_eq!(n(&st, "lines_lost"), 0, "{st}");

    // Full: the lines produced now cannot be written, and are counted.
    let filler = disk.dir.join("filler");
    fill(&filler);
    churn(&hub, "During", 200);
    let st = eventually(|| {
        let st = log_stats(&mut admin);
        (st["losing"] == true && n(&st, "lines_lost") >= 100).then_some(st)
    })
    .unwrap_or_else(|| panic!("no lines counted lost: {}", log_stats(&mut admin)));
    assert!(
        st["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("No space left"),
        "{st}"
    );
    let started = stderr_line(&hub, "cannot write", &mut seen);
    assert!(started.contains("No space left"), "{started}");

    // Room again: the log resumes by itself, with one line for the gap.
    std::fs::remove_file(&filler).unwrap();
    churn(&hub, "After", 50);
    let st = eventually(|| {
        let st = log_stats(&mut admin);
        let text = std::fs::read_to_string(&log).unwrap();
        let hub_lines = text
            .lines()
            .filter(|l| !l.contains(" LOG_LINES_LOST "))
            .count() as u64;
        // Nothing queued any more: every line taken is in the file or lost.
        (st["losing"] == false && hub_lines + n(&st, "lines_lost") == n(&st, "written"))
            .then_some(st)
    })
    .unwrap_or_else(|| panic!("never resumed or never settled: {}", log_stats(&mut admin)));
    let stopped = stderr_line(&hub, "writing again", &mut seen);
    assert!(
        stopped.contains(&format!("{} lines lost", n(&st, "lines_lost"))),
        "{stopped} vs {st}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.ends_with('\n'), "whole lines only");
    let notices: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" LOG_LINES_LOST "))
        .collect();
    assert_eq!(notices.len() as u64, n(&st, "notices"), "{st}");
    assert_eq!(notices.len(), 1, "one gap, one line: {notices:?}");
    assert_eq!(n(&st, "loss_starts"), 1, "{st}");
    // The notices' counts add up to the lines lost (each counts its gap).
    let counted: u64 = notices
        .iter()
        .map(|l| {
            let c = l.split("count=").nth(1).unwrap().split(' ').next().unwrap();
            c.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(counted, n(&st, "lines_lost"), "{notices:?}");
    assert!(
        notices[0].contains(&format!("count={}", n(&st, "lines_lost")))
            && notices[0].contains("since=")
            && notices[0].contains("No space left"),
        "{}",
        notices[0]
    );
    // Every line the hub produced: in the file, or counted lost (none was
    // dropped at the queue, so `written` is every line produced).
    assert_eq!(n(&st, "dropped"), 0, "{st}");
    let hub_lines = text.lines().count() as u64 - n(&st, "notices");
    assert_eq!(hub_lines + n(&st, "lines_lost"), n(&st, "written"), "{st}");
    // The lines on either side of the gap made it; some of the gap's did not.
    for prefix in ["Before", "After"] {
        let regs = text.matches(&format!("REGISTER device={prefix}")).count();
        assert_eq!(regs, 50, "{prefix}");
    }
    assert!(text.matches("REGISTER device=During").count() < 200);
    // /metrics carries the count too.
    let page = common::http_get(hub.metrics, "/metrics").1;
    assert!(
        page.contains("# TYPE hub_log_losing gauge\nhub_log_losing 0\n"),
        "{page}"
    );
    assert!(
        page.lines()
            .any(|l| l.starts_with("hub_log_lines_lost_total ")
                && l.ends_with(&format!(" {}", n(&st, "lines_lost")))),
        "{}",
        page.lines()
            .filter(|l| l.contains("log"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    std::thread::sleep(Duration::from_millis(10));
    hub.stop();
}
