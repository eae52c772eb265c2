//! The device and admin listeners, and the descriptor kept back for
//! shedding connections when descriptors run out.
//!
//! A leaf: [`Listeners`] owns the two listening sockets (dropped at
//! shutdown, so no connection is taken after it) and the spare. What an
//! accepted connection becomes is `accept.rs`'s routing.

use std::fs::File;

use mio::net::TcpListener;

/// Opens the descriptor kept back for shedding connections.
fn spare_fd() -> Option<File> {
    File::open("/dev/null").ok()
}

/// See the module docs.
pub(super) struct Listeners {
    device: Option<TcpListener>,
    admin: Option<TcpListener>,
    spare: Option<File>,
}

/// What [`Listeners::shed_one`] managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shed {
    /// A waiting connection was accepted and closed.
    pub shed: bool,
    /// The spare is back: accepting may go on.
    pub more: bool,
}

impl Listeners {
    pub fn new(device: TcpListener, admin: TcpListener) -> Self {
        Listeners {
            device: Some(device),
            admin: Some(admin),
            spare: spare_fd(),
        }
    }

    /// The device listener (`None` once closed).
    pub fn device(&self) -> Option<&TcpListener> {
        self.device.as_ref()
    }

    /// The admin listener (`None` once closed).
    pub fn admin(&self) -> Option<&TcpListener> {
        self.admin.as_ref()
    }

    /// Stops listening (shutdown).
    pub fn close(&mut self) {
        self.device = None;
        self.admin = None;
    }

    /// Uses the spare descriptor to take one waiting device connection and
    /// close it at once (the client sees a clean close instead of hanging
    /// in the backlog), then opens the spare again.
    pub fn shed_one(&mut self) -> Shed {
        let Some(spare) = self.spare.take() else {
            self.spare = spare_fd();
            return Shed {
                shed: false,
                more: false,
            };
        };
        drop(spare);
        let shed = match &self.device {
            Some(l) => l.accept().is_ok(),
            None => false,
        };
        self.spare = spare_fd();
        Shed {
            shed,
            more: shed && self.spare.is_some(),
        }
    }
}
