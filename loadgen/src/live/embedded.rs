//! The embedded default: when no `--hub` is given, loadgen binds the hub
//! library on free loopback ports and runs it on its own thread (named
//! `hub`, so its CPU can be told apart), then shuts it down after the run.
//! Its recorder writes to a temporary file (removed afterwards) unless
//! `--hub-recorder PATH` or `--hub-no-recorder` says otherwise, so a run
//! never leaves a `readings.db` in the working directory.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use hub::recorder::RecorderStats;
use hub::server::{Hub, HubConfig, HubHandle};

use crate::config::HubRecorder;

/// A running embedded hub.
pub struct EmbeddedHub {
    handle: HubHandle,
    pub log_file: PathBuf,
    /// The recorder's file, removed at shutdown when it was temporary.
    temp_db: Option<PathBuf>,
}

/// Where the hub listens.
#[derive(Debug, Clone, Copy)]
pub struct HubAddrs {
    pub tcp: SocketAddr,
    pub udp: SocketAddr,
    pub admin: SocketAddr,
}

impl EmbeddedHub {
    /// Binds and spawns a hub whose cycle length matches the fleet's.
    pub fn start(
        log_file: Option<PathBuf>,
        cycle_len: u32,
        recorder: &HubRecorder,
    ) -> io::Result<(EmbeddedHub, HubAddrs)> {
        let log_file = log_file.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("loadgen-hub-{}.log", std::process::id()))
        });
        let mut cfg = HubConfig::embedded(log_file.clone());
        cfg.cycle_len = cycle_len;
        let temp_db = match recorder {
            HubRecorder::Temp => {
                let p = std::env::temp_dir()
                    .join(format!("loadgen-hub-{}-readings.db", std::process::id()));
                remove_db(&p);
                cfg.recorder = Some(p.clone());
                Some(p)
            }
            HubRecorder::Path(p) => {
                cfg.recorder = Some(p.clone());
                None
            }
            HubRecorder::Off => None,
        };
        let hub = Hub::bind(cfg)?;
        let handle = hub.spawn()?;
        let addrs = HubAddrs {
            tcp: handle.tcp_addr,
            udp: handle.udp_addr,
            admin: handle.admin_addr,
        };
        Ok((
            EmbeddedHub {
                handle,
                log_file,
                temp_db,
            },
            addrs,
        ))
    }

    /// Stops the hub's loop, flushes its log, lets the recorder commit
    /// everything queued and joins the threads. Returns the recorder's
    /// final counters (`None` without a recorder).
    pub fn shutdown(self) -> io::Result<Option<RecorderStats>> {
        let probe = self.handle.recorder_probe();
        self.handle.shutdown()?;
        let stats = probe.map(|p| p.stats());
        if let Some(p) = &self.temp_db {
            remove_db(p);
        }
        Ok(stats)
    }
}

/// Removes a SQLite database with its WAL and shared-memory files.
fn remove_db(p: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
    }
}
