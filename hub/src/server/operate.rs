//! Carrying out operator commands from the console and the admin port, and
//! routing a wave's final tally back to whoever started it.
//!
//! Routing (`impl EventLoop`): a `send` goes to the control plane with its
//! [`Origin`], which the wave carries and hands back in `Action::WaveDone`
//! ([`EventLoop::wave_done`]); the console's channel, stdout and classic
//! mode are the operator side's (`operator.rs`).

use std::time::Instant;

use super::console::ConsoleInput;
use super::event_loop::{EventLoop, WAKER};
use crate::control::Origin;
use crate::control::{Target, WaveReport};
use crate::limits::MAX_ADMIN_LINE;
use crate::ops::{OpCommand, Reply};

/// Console lines run per turn of the loop; the rest wait for the next.
pub const CONSOLE_BUDGET: usize = 64;

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
                let (wave, reached, refused) =
                    self.control
                        .submit_from(now, &target, command, Some(origin));
                if let (Target::Device(name), 0) = (&target, reached) {
                    // The error is the answer: no tally follows.
                    self.control.disown(wave);
                    return Reply::Error(format!("unknown device '{name}'"));
                }
                if let (Target::Device(name), 1) = (&target, refused) {
                    // The wave is already done (failed); its tally is moot.
                    self.control.disown(wave);
                    return Reply::Error(format!(
                        "device '{name}' has {} commands queued; command refused",
                        self.cfg.command_queue
                    ));
                }
                Reply::Sent {
                    wave,
                    reached,
                    refused,
                }
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
            OpCommand::List => self.op_list(None, now),
            OpCommand::ListType(kind) => self.op_list(Some(&kind), now),
            OpCommand::Get(name) => self.op_get(&name, now),
            OpCommand::History(args) => self.op_history(args, origin),
            OpCommand::Stats => Reply::Stats(self.stats_json(now)),
            OpCommand::Shutdown => {
                self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                Reply::ShuttingDown
            }
            OpCommand::Help => Reply::Help,
        }
    }

    /// A wave finished: its tally goes to whoever asked for it.
    pub(super) fn wave_done(&mut self, report: WaveReport, origin: Option<Origin>, now: Instant) {
        match origin {
            Some(Origin::Console) if self.op.classic.is_none() => {
                self.op.println(&Reply::WaveDone(report).to_text());
            }
            Some(Origin::Admin(id)) => {
                if let Some(idx) = self.conns.slot_of(id) {
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
        let Some(rx) = self.op.console.clone() else {
            return;
        };
        for taken in 0.. {
            if taken == CONSOLE_BUDGET {
                // The rest wait for the next turn (the waker raises no new
                // edge for lines already queued): devices, the admin port
                // and UDP get their turn between console batches.
                self.again.push(WAKER);
                self.stats.console_budget_spent += 1;
                break;
            }
            let Ok(input) = rx.try_recv() else {
                break;
            };
            let line = match input {
                ConsoleInput::Line(l) => l,
                ConsoleInput::TooLong(n) => {
                    self.stats.console_lines_refused += 1;
                    self.op.println(&format!(
                        "error: line of {n} bytes is longer than {MAX_ADMIN_LINE}; refused"
                    ));
                    continue;
                }
            };
            if let Some(classic) = &mut self.op.classic {
                let input = classic.on_operator(&line);
                let text = input.text.clone();
                self.op.out.print(&text);
                if let Some(name) = input.quit {
                    self.control.quit(now, &name);
                }
                if let Some((name, command)) = input.send {
                    self.control.submit(now, &Target::Device(name), command);
                }
            } else {
                let reply = self.operate(&line, Origin::Console, now);
                if !matches!(reply, Reply::Deferred) {
                    self.op.println(&reply.to_text());
                }
            }
            // Apply point (b): see `EventLoop::apply`.
            self.apply(now);
        }
        self.op.check_console_output();
    }
}
