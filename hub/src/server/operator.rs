//! The operator side of the shell: the console (stdin lines in, stdout and
//! stderr out, written off the loop), classic mode's transcript, and the
//! `history` queries out at the recorder with who asked for each.
//!
//! Waves in progress are not kept here: a wave carries its
//! [`Origin`] inside the control plane (its one map of waves), and comes
//! back with it in `Action::WaveDone`.
//!
//! A leaf: uses `console` and `stdio` only. What the commands *do* is in
//! `operate.rs` (it needs the planes).

use std::collections::HashMap;

use crossbeam_channel::Receiver;

use super::console::ConsoleInput;
use super::stdio::{Output, Stream};
use crate::classic::Classic;
use crate::control::Origin;

/// See the module docs.
pub(super) struct OperatorSide {
    /// Lines typed on the console (`None`: no console, or it went off).
    pub console: Option<Receiver<ConsoleInput>>,
    /// Stdout and stderr, written off the loop (bounded, never blocking).
    pub out: Output,
    pub err: Output,
    /// Classic mode's transcript of events and operator lines.
    pub classic: Option<Classic>,
    /// `history` queries out at the recorder, by tag.
    history_waits: HashMap<u64, Origin>,
    next_query: u64,
}

impl OperatorSide {
    pub fn new(classic: bool) -> Self {
        OperatorSide {
            console: None,
            out: Output::spawn(Stream::Stdout),
            err: Output::spawn(Stream::Stderr),
            classic: classic.then(Classic::new),
            history_waits: HashMap::new(),
            next_query: 1,
        }
    }

    /// One line to stdout through the bounded queue.
    pub fn println(&self, text: &str) {
        let mut s = String::with_capacity(text.len() + 1);
        s.push_str(text);
        s.push('\n');
        self.out.print(&s);
    }

    /// Stdout failed (EPIPE): the console goes off, once, and says so on
    /// stderr; the hub goes on.
    pub fn check_console_output(&mut self) {
        if self.out.is_closed() && self.console.is_some() {
            self.console = None;
            self.err
                .print("hub: stdout is closed; the console is off (the admin port still works)\n");
        }
    }

    /// The tag for the next `history` query.
    pub fn next_query_tag(&mut self) -> u64 {
        let tag = self.next_query;
        self.next_query += 1;
        tag
    }

    /// `tag` went to the recorder for `origin`.
    pub fn awaiting(&mut self, tag: u64, origin: Origin) {
        self.history_waits.insert(tag, origin);
    }

    /// Who asked for the answer tagged `tag` (once).
    pub fn answered(&mut self, tag: u64) -> Option<Origin> {
        self.history_waits.remove(&tag)
    }
}
