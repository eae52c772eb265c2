//! Helpers shared by loadgen's integration tests.
#![allow(dead_code)]

pub mod browser;
pub mod fleet;
pub mod slurm;

use std::process::{Command, Output};

use serde_json::Value;

/// The loadgen binary with `args` and `--quiet`, to completion.
pub fn loadgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--quiet")
        .output()
        .expect("run loadgen")
}

/// The JSON report on `out`'s stdout (stderr shown when it is not one).
pub fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The named check of report `r`.
pub fn check<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {}", r["checks"]))
}

/// The `u64` at a dotted path of a report, e.g. `udp.unexplained_loss`.
pub fn u(v: &Value, path: &str) -> u64 {
    let mut x = v;
    for k in path.split('.') {
        x = &x[k];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{path} is not a u64: {x}"))
}

pub mod rogue;
