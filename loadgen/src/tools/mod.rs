//! Offline tools: subcommands that read reports back from disk and never
//! touch a hub.
//!
//! - [`reportfile`] loads and checks a report file (bounded, versioned),
//!   into the typed `report::Report` (or, for `merge`, its JSON tree too);
//! - [`merge`] adds the reports of one load (shards) exactly;
//! - [`table`] prints reports side by side (`scripts/compare.sh`);
//! - [`hgrm`] exports histograms for HdrHistogram plotters;
//! - [`html`] writes reports as one self-contained HTML page (`report`).
pub mod hgrm;
pub mod html;
pub mod merge;
pub mod reportfile;
pub mod table;
