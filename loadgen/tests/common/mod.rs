//! Helpers shared by loadgen's integration tests.
#![allow(dead_code)]

pub mod browser;
pub mod fleet;
pub mod slurm;

use serde_json::Value;

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
