//! The live run: everything that has sockets open while the fleet runs.
//!
//! - [`run`] starts the [`embedded`] hub (or targets an external one),
//!   spawns the [`worker`] threads on the [`fleet`] plan and the
//!   [`operator`] thread, merges what the workers send once a second
//!   ([`collect`], [`progress`]) and builds the report at the end;
//! - [`fleet`] decides what each worker gets (devices, addresses, rates,
//!   the run's instants); [`collect`] holds one state per worker on the
//!   main thread and turns their messages into fleet figures;
//! - [`worker`] is one thread's mio loop over a shard of sans-IO
//!   [`device`](crate::device)s: it owns the TCP/UDP sockets and moves bytes;
//!   its [`connector`] thread opens them (socket, options, `connect`) so a
//!   connection storm spreads over two cores;
//! - [`operator`] plays the admin (command waves, stats) on the admin port;
//! - [`backoff`] spaces the reconnects of devices and operator.
//!
//! What the run records and how it is judged (counters, histograms,
//! evidence, checks, the summary) is not here but in
//! [`report`](crate::report): those are plain data types the devices fill
//! and the report reads, with no socket or thread of their own, so the
//! offline tools and tests use them without starting a run.
pub mod backoff;
pub mod collect;
pub mod connector;
pub mod embedded;
pub mod fleet;
pub mod mmsg;
pub mod operator;
pub mod progress;
pub mod run;
pub mod worker;
