//! # loadgen
//!
//! Thousands of virtual devices against a hub, with exact loss accounting
//! and latency histograms as JSON.
//!
//! Data flows: [`cli`] → [`config`] (validated) → [`limits`] (preflight) →
//! `run` starts an embedded hub if needed, worker threads (each a mio loop
//! over a shard of [`device`]s, sans-IO state machines) and the operator
//! (admin-port waves); workers send [`accounting`] counters and [`histo`]
//! histograms to the main thread every second (progress) and at the end
//! (report). The main thread turns those into the report's per-second
//! [`timeline`] and the fleet's [`outage`]s; devices and operator reconnect
//! with [`backoff`]. [`classic`] plays the original single-device clients.
//!
//! Offline tools read reports back ([`reportfile`]): [`merge`] adds reports
//! of one load exactly, [`hgrm`] exports histograms for HdrHistogram
//! plotters, [`table`] prints reports side by side for `scripts/compare.sh`.
//! [`limits_bench`] measures the machine's bare limits beside the hub.
//! [`shard`] splits one fleet over many processes and machines (`--shard`,
//! `--start-at`) and checks a merged set of shard reports.
pub mod accounting;
pub mod backoff;
pub mod checks;
pub mod classic;
pub mod cli;
pub mod cli_error;
pub mod config;
pub mod device;
pub mod embedded;
pub mod evidence;
pub mod hgrm;
pub mod histo;
pub mod limits;
pub mod limits_bench;
pub mod machine;
pub mod merge;
pub mod operator;
pub mod outage;
pub mod progress;
pub mod report;
pub mod reportfile;
pub mod rng;
pub mod run;
pub mod shard;
pub mod summary;
pub mod table;
pub mod timeline;
pub mod timestamp;
pub mod worker;
