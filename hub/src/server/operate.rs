//! Carrying out operator commands from the console and the admin port, and
//! routing a wave's final tally back to whoever started it.

use std::time::Instant;

use super::event_loop::{EventLoop, Origin};
use crate::control::{Target, WaveReport};
use crate::ops::{OpCommand, Reply};

impl EventLoop {
    /// Parses and runs one operator line.
    pub(super) fn operate(&mut self, line: &str, origin: Origin, now: Instant) -> Reply {
        match OpCommand::parse(line) {
            Ok(op) => self.execute(op, origin, now),
            Err(e) => Reply::Error(e.to_string()),
        }
    }

    fn execute(&mut self, op: OpCommand, origin: Origin, now: Instant) -> Reply {
        match op {
            OpCommand::Send { target, command } => {
                let (wave, reached) = self.control.submit(now, &target, command);
                if let (Target::Device(name), 0) = (&target, reached) {
                    return Reply::Error(format!("unknown device '{name}'"));
                }
                self.waves.insert(wave, origin);
                Reply::Sent { wave, reached }
            }
            OpCommand::Quit(target) => {
                let names: Vec<String> = match &target {
                    Target::Device(n) => vec![n.clone()],
                    _ => self
                        .control
                        .devices()
                        .filter(|(n, k, _)| target.selects(n, k))
                        .map(|(n, _, _)| n.to_string())
                        .collect(),
                };
                let closed = names.iter().filter(|n| self.control.quit(now, n)).count();
                if let (Target::Device(name), 0) = (&target, closed) {
                    return Reply::Error(format!("unknown device '{name}'"));
                }
                Reply::Closed(closed as u64)
            }
            OpCommand::List => {
                let mut devs: Vec<_> = self
                    .control
                    .devices()
                    .map(|(n, k, p)| (n.to_string(), k.to_string(), p))
                    .collect();
                devs.sort();
                Reply::List(devs)
            }
            OpCommand::Stats => Reply::Stats(self.stats_json(now)),
            OpCommand::Shutdown => {
                self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                Reply::ShuttingDown
            }
            OpCommand::Help => Reply::Help,
        }
    }

    pub(super) fn wave_done(&mut self, report: WaveReport, now: Instant) {
        match self.waves.remove(&report.id) {
            Some(Origin::Console) if self.classic.is_none() => {
                println!("{}", Reply::WaveDone(report).to_text());
            }
            Some(Origin::Admin(id)) => {
                if let Some(&idx) = self.ids.get(&id) {
                    let mut text = Reply::WaveDone(report).to_json().to_string();
                    text.push('\n');
                    self.send_to(idx, text.as_bytes(), now);
                }
            }
            _ => {}
        }
    }

    /// Lines typed on the console (stdin thread → channel → waker).
    pub(super) fn console_lines(&mut self, now: Instant) {
        let Some(rx) = self.console.clone() else {
            return;
        };
        while let Ok(line) = rx.try_recv() {
            if let Some(classic) = &mut self.classic {
                let input = classic.on_operator(&line);
                classic.print(&input.text);
                if let Some(name) = input.quit {
                    self.control.quit(now, &name);
                }
                if let Some((name, command)) = input.send {
                    self.control.submit(now, &Target::Device(name), command);
                }
            } else {
                let reply = self.operate(&line, Origin::Console, now);
                println!("{}", reply.to_text());
            }
            self.apply(now);
        }
    }
}
