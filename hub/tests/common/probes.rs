//! Probes for the hostile-input suites: a well-behaved device that must
//! keep registering, ACKing and getting STATUS while an attack goes on.

use std::time::Duration;

use super::{eventually, Admin, Device, HubAddrs, HubProc, Sensor};

/// A well-behaved device, for checking a hub that may be under attack: a
/// TCP connection registered with newline framing, an admin session held
/// open, and a UDP socket of its own. Every wait is bounded by [`WAIT`].
pub struct WellBehaved {
    pub name: String,
    pub dev: Device,
    pub admin: Admin,
    pub sensor: Sensor,
}

impl WellBehaved {
    /// Connects, registers `name` and waits until the hub knows it (an
    /// admin `send` to it is accepted). That first command is ACKed too.
    pub fn register(hub: HubAddrs, name: &str) -> Result<WellBehaved, String> {
        let dev = Device::register(hub.tcp, name, "probe", true);
        let mut me = WellBehaved {
            name: name.to_string(),
            dev,
            admin: Admin::connect(hub.admin),
            sensor: Sensor::new(hub.udp),
        };
        let cmd = format!("send {name} SET_INTERVAL 5");
        // Registration is asynchronous: retry until the hub knows the name.
        eventually(|| (me.admin.cmd(&cmd)["ok"] == true).then_some(()))
            .ok_or_else(|| format!("{name}: never registered"))?;
        me.finish_command()?;
        Ok(me)
    }

    fn finish_command(&mut self) -> Result<(), String> {
        let name = &self.name;
        let got = self.dev.recv();
        if got != b"SET_INTERVAL 5\n" {
            return Err(format!("{name}: expected the command, got {got:?}"));
        }
        self.dev.send("ACK Command Executed");
        let done = self.admin.read();
        if done["acked"] != 1 {
            return Err(format!("{name}: wave not acked: {done}"));
        }
        Ok(())
    }

    /// One command ACKed, then one full UDP cycle answered with a STATUS.
    pub fn exercise(&mut self) -> Result<(), String> {
        let name = self.name.clone();
        let v = self.admin.cmd(&format!("send {name} SET_INTERVAL 5"));
        if v["ok"] != true {
            return Err(format!("{name}: send refused: {v}"));
        }
        self.finish_command()?;
        self.status_round()
    }

    /// A full UDP cycle, which must be answered 10/10.
    pub fn status_round(&mut self) -> Result<(), String> {
        let name = &self.name;
        self.sensor.cycle(name, 10);
        let mut buf = [0u8; 2048];
        match self.sensor.sock.recv_from(&mut buf) {
            Ok((n, _)) if &buf[..n] == b"STATUS RECEIVED 10/10 PACKETS" => Ok(()),
            Ok((n, _)) => Err(format!(
                "{name}: bad STATUS {:?}",
                String::from_utf8_lossy(&buf[..n])
            )),
            Err(e) => Err(format!("{name}: no STATUS: {e}")),
        }
    }
}

/// One round of a fresh well-behaved device: register, ACK, STATUS.
pub fn well_behaved_round(hub: HubAddrs, name: &str) -> Result<(), String> {
    WellBehaved::register(hub, name)?.status_round()
}

/// Panics unless a fresh well-behaved device gets through a round.
pub fn assert_serves(hub: &HubProc, name: &str) {
    if let Err(e) = well_behaved_round(hub.addrs(), name) {
        panic!("the hub no longer serves a well-behaved device: {e}");
    }
}

/// Runs [`well_behaved_round`] over and over on a thread of its own while
/// an attack goes on, each round under a fresh name `<prefix>-<n>`, so it
/// proves that new devices keep registering, ACKing and getting STATUS.
pub struct Probe {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<u32, String>>>,
}

impl Probe {
    pub fn start(hub: HubAddrs, prefix: &str) -> Probe {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let prefix = prefix.to_string();
        let thread = std::thread::spawn(move || {
            let mut rounds = 0u32;
            // At least one round, however soon the attack ends.
            loop {
                well_behaved_round(hub, &format!("{prefix}-{rounds}"))?;
                rounds += 1;
                if flag.load(Ordering::Relaxed) {
                    return Ok(rounds);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Probe {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the probe; panics if any round failed. Returns the rounds done.
    pub fn finish(mut self) -> u32 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let rounds = self
            .thread
            .take()
            .unwrap()
            .join()
            .expect("probe thread")
            .unwrap_or_else(|e| panic!("well-behaved device failed during the attack: {e}"));
        rounds
    }
}
