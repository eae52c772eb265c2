//! # loadgen
//!
//! Thousands of virtual devices against a hub, with exact loss accounting
//! and latency histograms as JSON.
//!
//! The crate is laid out by job, one folder each:
//!
//! - [`preflight`]: before a run, does the fleet fit ([`preflight::fit`]),
//!   what is the machine ([`preflight::machine`]), and the `loadgen limits`
//!   command ([`preflight::limits_bench`]) measuring the bare limits;
//! - [`live`]: the run itself: [`live::run`] starts an embedded hub if
//!   needed, worker threads (each a mio loop over a shard of [`device`]s,
//!   sans-IO state machines) and the operator (admin-port waves), merges
//!   what the workers send every second (progress) and at the end;
//! - [`report`]: what the run records and concludes, as plain data:
//!   counters, histograms, evidence, the per-second timeline, outages, the
//!   report's schema, the named checks and the human summary;
//! - [`tools`]: offline subcommands reading reports back ([`tools::reportfile`]):
//!   [`tools::merge`] adds reports of one load exactly, [`tools::hgrm`]
//!   exports histograms for HdrHistogram plotters, [`tools::table`] prints
//!   reports side by side for `scripts/compare.sh`, [`tools::html`] writes
//!   them as one self-contained HTML page (`loadgen report`).
//!
//! Beside them: [`cli`] → [`config`] (validated flags), [`device`] (one
//! virtual device's sans-IO protocol core), [`classic`] (the original
//! single-device clients), [`shard`] (one fleet split over many processes
//! and machines, `--shard`, `--start-at`, and the check of a merged set of
//! shard reports), [`stages`] (`--stages`: the load moved through ramps in
//! one run, judged per stage, and the knee where the hub broke) and [`rng`].
pub mod classic;
pub mod cli;
pub mod cli_error;
pub mod config;
pub mod device;
pub mod live;
pub mod preflight;
pub mod report;
pub mod rng;
pub mod shard;
pub mod stages;
pub mod tools;
