//! The embedded default: when no `--hub` is given, loadgen binds the hub
//! library on free loopback ports and runs it on its own thread (named
//! `hub`, so its CPU can be told apart), then shuts it down after the run.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use hub::server::{Hub, HubConfig, HubHandle};

/// A running embedded hub.
pub struct EmbeddedHub {
    handle: HubHandle,
    pub log_file: PathBuf,
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
    pub fn start(log_file: Option<PathBuf>, cycle_len: u32) -> io::Result<(EmbeddedHub, HubAddrs)> {
        let log_file = log_file.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("loadgen-hub-{}.log", std::process::id()))
        });
        let mut cfg = HubConfig::embedded(log_file.clone());
        cfg.cycle_len = cycle_len;
        let hub = Hub::bind(cfg)?;
        let handle = hub.spawn()?;
        let addrs = HubAddrs {
            tcp: handle.tcp_addr,
            udp: handle.udp_addr,
            admin: handle.admin_addr,
        };
        Ok((EmbeddedHub { handle, log_file }, addrs))
    }

    /// Stops the hub's loop, flushes its log and joins its thread.
    pub fn shutdown(self) -> io::Result<()> {
        self.handle.shutdown()
    }
}
