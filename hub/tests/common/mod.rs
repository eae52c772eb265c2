//! Test harness of the hub's integration tests, one job per file:
//!
//! - `process`: the real `hub` binary on port 0 ([`HubProc`], [`HubAddrs`]);
//! - `clients`: raw-byte protocol clients ([`Admin`], [`Device`], [`Sensor`]);
//! - `probes`: a well-behaved device kept busy during an attack ([`Probe`]);
//! - `http`: `/metrics` and `/healthz` requests;
//! - `disk`: a small tmpfs to fill ([`SmallDisk`]);
//! - here: bounded waiting ([`eventually`], [`WAIT`]) and the CI rules for
//!   missing tools and capabilities.
//!
//! Every wait is bounded.
#![allow(dead_code)]

mod clients;
mod disk;
mod http;
mod probes;
mod process;

// Each test binary uses its own subset of these.
#[allow(unused_imports)]
pub use clients::{Admin, Device, Sensor};
#[allow(unused_imports)]
pub use disk::SmallDisk;
#[allow(unused_imports)]
pub use http::{http_get, http_raw, http_try};
#[allow(unused_imports)]
pub use probes::{assert_serves, well_behaved_round, Probe, WellBehaved};
#[allow(unused_imports)]
pub use process::{parse_addr, HubAddrs, HubProc, Opts};

use std::process::Command;
use std::time::{Duration, Instant};

/// Upper bound for any single wait in the tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// Polls `f` every 10 ms until it returns `Some`, for at most [`WAIT`].
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A capability this machine lacks (raw sockets, `/dev/full`): outside CI
/// the test says so and returns; under `CI=true` it fails, so a green CI
/// never hides a test that did not run.
pub fn skip_unless_ci(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and this test cannot run: {why}");
    }
    eprintln!("skipped: {why}");
}

/// True if `tool` is on PATH. Without it a test may skip, except under
/// `CI=true`, where a missing tool fails the test.
pub fn have_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is not installed, and under CI=true nothing skips (.ci/run installs it)"
        );
        eprintln!("skipping: {tool} is not installed");
    }
    found
}
