//! The control plane's commands and waves: a wave submitted to its
//! targets ([`ControlPlane::submit_from`]), each device's command sent at
//! once or queued behind the one in flight, written with its ACK deadline,
//! and the wave's tally resolved as outcomes arrive. Part of
//! [`ControlPlane`]; the ACK side that resolves outcomes is in `plane.rs`.

use std::io::Write as _;
use std::time::Instant;

use super::*;

impl ControlPlane {
    /// Queues `command` for every device `target` names. Returns the wave
    /// and how many devices it reached; a wave that reached none is done at
    /// once (and reported as such).
    pub fn submit(&mut self, now: Instant, target: &Target, command: Command) -> (WaveId, u64) {
        let (id, reached, _) = self.submit_counted(now, target, command);
        (id, reached)
    }

    /// Like [`submit`](Self::submit), and also says how many of the devices
    /// reached refused the command because their queue was full.
    pub fn submit_counted(
        &mut self,
        now: Instant,
        target: &Target,
        command: Command,
    ) -> (WaveId, u64, u64) {
        self.submit_from(now, target, command, None)
    }

    /// Like [`submit_counted`](Self::submit_counted), for someone waiting
    /// on the tally: the wave carries `origin` (the plane never looks
    /// inside) and hands it back in its [`Action::WaveDone`]. This is the
    /// hub's one map of waves in progress and who asked for them.
    pub fn submit_from(
        &mut self,
        now: Instant,
        target: &Target,
        command: Command,
        origin: Option<Origin>,
    ) -> (WaveId, u64, u64) {
        let id = self.next_wave;
        self.next_wave += 1;
        let names: Vec<Name> = match target {
            Target::Device(n) => self
                .devices
                .get_key_value(n.as_str())
                .map(|(k, _)| k.clone())
                .into_iter()
                .collect(),
            Target::All => self.devices.keys().cloned().collect(),
            _ => self
                .devices
                .iter()
                .filter(|(n, d)| target.selects(n, &d.kind))
                .map(|(n, _)| n.clone())
                .collect(),
        };
        let mut wave = Wave::new(id, now, origin);
        wave.report.reached = names.len() as u64;
        self.waves.insert(id, wave);
        let mut refused = 0;
        for name in &names {
            if !self.enqueue(now, name, command.clone(), id) {
                refused += 1;
            }
        }
        self.check_wave(now, id);
        (id, names.len() as u64, refused)
    }

    /// Nobody waits for `wave`'s tally any more (its sender got an error
    /// instead): whether it is still in progress or just finished and its
    /// [`Action::WaveDone`] not yet taken, it will report to nobody.
    pub fn disown(&mut self, wave: WaveId) {
        if let Some(w) = self.waves.get_mut(&wave) {
            w.origin = None;
        }
        for a in &mut self.actions {
            if let Action::WaveDone { report, origin } = a {
                if report.id == wave {
                    *origin = None;
                }
            }
        }
    }

    /// True while a wave `origin` asked for is in progress.
    pub fn waits_for(&self, origin: Origin) -> bool {
        self.waves.values().any(|w| w.origin == Some(origin))
    }

    /// Queues `command` for `name`; false if its queue was full, in which
    /// case the command failed (logged, counted) and the device stays.
    pub(super) fn enqueue(
        &mut self,
        now: Instant,
        name: &Name,
        command: Command,
        wave: WaveId,
    ) -> bool {
        let Some(dev) = self.devices.get_mut(name) else {
            return true;
        };
        if dev.queue.len() >= self.cfg.queue_cap {
            self.stats.queue_overflows += 1;
            self.actions.push(Action::Log(Event::CommandFailed {
                name: name.clone(),
                command,
                reason: CloseReason::QueueFull,
            }));
            self.stats.commands_failed += 1;
            self.resolve(now, wave, Outcome::Failed);
            return false;
        }
        let p = Pending {
            command,
            wave: Some(wave),
            sent_at: None,
        };
        if dev.inflight.is_none() && dev.queue.is_empty() {
            // Nothing ahead of it: sent at once, and the device's queue is
            // never allocated (most devices never have a command waiting).
            self.send_pending(now, name, p);
        } else {
            dev.queue.push_back(p);
            if dev.inflight.is_none() {
                self.send_next(now, name);
            }
        }
        true
    }

    pub(super) fn send_next(&mut self, now: Instant, name: &Name) {
        let Some(dev) = self.devices.get_mut(name) else {
            return;
        };
        if dev.inflight.is_some() {
            return;
        }
        let Some(p) = dev.queue.pop_front() else {
            return;
        };
        self.send_pending(now, name, p);
    }

    /// Writes `p` to the device (which has nothing in flight) and starts
    /// its ACK timer.
    pub(super) fn send_pending(&mut self, now: Instant, name: &Name, mut p: Pending) {
        let Some(dev) = self.devices.get_mut(name) else {
            return;
        };
        dev.unsolicited = 0;
        if dev.folded > 0 {
            self.flush_fold(name);
        }
        let Some(dev) = self.devices.get_mut(name) else {
            return;
        };
        p.sent_at = Some(now);
        // A spent buffer if the shell gave one back, else one sized for the
        // longest usual command and its terminator.
        let mut bytes = self.spare.pop().unwrap_or_default();
        bytes.clear();
        bytes.reserve(COMMAND_BYTES);
        let _ = write!(bytes, "{}", p.command);
        bytes.extend_from_slice(dev.framing.terminator());
        let conn = dev.conn;
        self.actions.push(Action::Log(Event::CommandSent {
            name: name.clone(),
            command: p.command.clone(),
        }));
        dev.inflight = Some((p, now));
        self.ack_deadlines
            .push_back((now + self.cfg.ack_timeout, conn));
        self.stats.commands_sent += 1;
        self.actions.push(Action::Send { conn, bytes });
    }

    pub(super) fn resolve(&mut self, now: Instant, wave: WaveId, outcome: Outcome) {
        if let Some(w) = self.waves.get_mut(&wave) {
            match outcome {
                Outcome::Acked => w.report.acked += 1,
                Outcome::TimedOut => w.report.timed_out += 1,
                Outcome::Failed => w.report.failed += 1,
            }
            self.check_wave(now, wave);
        }
    }

    pub(super) fn check_wave(&mut self, now: Instant, wave: WaveId) {
        if self.waves.get(&wave).is_some_and(Wave::is_done) {
            let mut w = self.waves.remove(&wave).expect("present");
            w.report.elapsed = now.saturating_duration_since(w.started);
            self.actions.push(Action::WaveDone {
                report: w.report,
                origin: w.origin,
            });
        }
    }
}
