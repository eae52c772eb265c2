//! The report: what a run records and what it concludes, as plain data
//! (no sockets, no threads).
//!
//! - [`accounting`] counters and [`histo`] latency histograms, filled by each
//!   worker's devices and merged by the main thread;
//! - [`evidence`], the bounded verbatim samples behind a failed check;
//!   [`diagnosis`], the one line on where unexplained loss went;
//! - [`timeline`] (one sample per second) and [`outage`]s of the fleet;
//! - [`schema`], the report's serde structs (the schema `SCHEMA.md`
//!   documents), re-exported here as `report::Report` etc.;
//! - [`check_names`], every check's name (below config and the checks);
//! - [`checks`], the named verdict ([`fault_checks`] for `--reorder`,
//!   `--duplicate`, `--corrupt`), and [`summary`], its human rendering;
//! - [`timestamp`], the UTC stamp datagrams and reports carry;
//! - `fixture` (tests only), a fully built report for the readers' tests.
pub mod accounting;
pub mod check_names;
pub mod checks;
pub mod diagnosis;
pub mod evidence;
pub mod fault_checks;
#[cfg(test)]
pub mod fixture;
pub mod histo;
pub mod outage;
pub mod schema;
pub mod summary;
pub mod timeline;
pub mod timestamp;

pub use schema::*;
