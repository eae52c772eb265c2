//! Classic mode: the original `tcp_server.py` / `udp_server.py` terminal
//! output, line for line, driven by the same control-plane events.
//!
//! Sans-IO: it turns [`Event`]s and operator lines into the text the
//! original printed (with its prompt, which ends without a newline); the
//! event loop prints it through its bounded stdout queue. The device being prompted for is the one that
//! registered last and is still connected.

use std::net::SocketAddr;

use crate::control::{CloseReason, Event};
use crate::protocol::Command;

/// `[Server] TCP Smart Hub listening on 127.0.0.1:5050`
pub fn tcp_banner(addr: SocketAddr) -> String {
    format!("[Server] TCP Smart Hub listening on {addr}")
}

/// `[UDP Server] Smart Hub Data Collector listening on 127.0.0.1:6060`
pub fn udp_banner(addr: SocketAddr) -> String {
    format!("[UDP Server] Smart Hub Data Collector listening on {addr}")
}

/// Python's repr of a socket address tuple: `('127.0.0.1', 63403)`.
pub fn py_addr(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => format!("('{}', {})", v.ip(), v.port()),
        SocketAddr::V6(v) => format!(
            "('{}', {}, {}, {})",
            v.ip(),
            v.port(),
            v.flowinfo(),
            v.scope_id()
        ),
    }
}

fn prompt(name: &str) -> String {
    format!("[Server] Enter command for {name} (e.g., 'SET_INTERVAL 3' or 'ACTIVATE_ALARM', 'quit' to disconnect): ")
}

/// What an operator line asks for.
#[derive(Debug, Default, PartialEq)]
pub struct OperatorInput {
    pub text: String,
    pub quit: Option<String>,
    pub send: Option<(String, Command)>,
}

/// The classic presenter.
#[derive(Debug, Default)]
pub struct Classic {
    current: Option<String>,
}

impl Classic {
    pub fn new() -> Self {
        Classic::default()
    }

    /// The text for one control-plane event (often empty).
    pub fn on_event(&mut self, ev: &Event) -> String {
        match ev {
            Event::Connected { peer } => {
                format!("[Server] Connected to device at {}\n", py_addr(*peer))
            }
            Event::Registered {
                name, kind, line, ..
            } => {
                self.current = Some(name.to_string());
                format!(
                    "[Server] Received registration: {line}\n[Server] Registered DEVICE={name} TYPE={kind}\n{}",
                    prompt(name)
                )
            }
            Event::CommandSent { name, command } => {
                format!("[Server] Sent command to {name}: {command}\n")
            }
            Event::Ack { name, text, .. } => format!(
                "[Server] Received ACK from {name}: {text}\n{}",
                prompt(name)
            ),
            Event::AckTimeout { name, .. } => format!(
                "[Server] No ACK received from {name} (timeout).\n{}",
                prompt(name)
            ),
            Event::Disconnected { name, peer, reason } => {
                if name.is_some() && name.as_deref() == self.current.as_deref() {
                    self.current = None;
                }
                match reason {
                    CloseReason::Shutdown => String::new(),
                    _ => format!("[Server] Connection to {} closed.\n", py_addr(*peer)),
                }
            }
            _ => String::new(),
        }
    }

    /// One line the operator typed at the prompt.
    pub fn on_operator(&mut self, line: &str) -> OperatorInput {
        let line = line.trim();
        let Some(name) = self.current.clone() else {
            return OperatorInput {
                text: "[Server] No device connected.\n".into(),
                ..Default::default()
            };
        };
        if line.is_empty() {
            return OperatorInput {
                text: prompt(&name),
                ..Default::default()
            };
        }
        if line == "quit" {
            return OperatorInput {
                text: format!("[Server] Closing connection with {name}\n"),
                quit: Some(name),
                send: None,
            };
        }
        match Command::parse(line) {
            Ok(c) => OperatorInput {
                text: String::new(),
                quit: None,
                send: Some((name, c)),
            },
            Err(e) => OperatorInput {
                text: format!("[Server] Invalid command: {e}\n{}", prompt(&name)),
                ..Default::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer() -> SocketAddr {
        "127.0.0.1:63403".parse().unwrap()
    }

    #[test]
    fn the_seed_transcript() {
        let mut c = Classic::new();
        let mut out = String::new();
        out += &c.on_event(&Event::Connected { peer: peer() });
        out += &c.on_event(&Event::Registered {
            name: "Sensor01".into(),
            kind: "temperature".into(),
            peer: peer(),
            line: "DEVICE Sensor01 TYPE temperature".into(),
        });
        let input = c.on_operator("SET_INTERVAL 3");
        assert_eq!(
            input.send,
            Some(("Sensor01".into(), Command::SetInterval(3)))
        );
        out += "SET_INTERVAL 3\n"; // the operator's echo on a terminal
        out += &c.on_event(&Event::CommandSent {
            name: "Sensor01".into(),
            command: Command::SetInterval(3),
        });
        out += &c.on_event(&Event::Ack {
            name: "Sensor01".into(),
            command: Command::SetInterval(3),
            rtt: Duration::from_millis(1),
            text: crate::control::AckText::Standard,
        });
        out += "quit\n";
        let q = c.on_operator("quit");
        assert_eq!(q.quit.as_deref(), Some("Sensor01"));
        out += &q.text;
        out += &c.on_event(&Event::Disconnected {
            name: Some("Sensor01".into()),
            peer: peer(),
            reason: CloseReason::Quit,
        });
        let want = "\
[Server] Connected to device at ('127.0.0.1', 63403)
[Server] Received registration: DEVICE Sensor01 TYPE temperature
[Server] Registered DEVICE=Sensor01 TYPE=temperature
[Server] Enter command for Sensor01 (e.g., 'SET_INTERVAL 3' or 'ACTIVATE_ALARM', 'quit' to disconnect): SET_INTERVAL 3
[Server] Sent command to Sensor01: SET_INTERVAL 3
[Server] Received ACK from Sensor01: ACK Command Executed
[Server] Enter command for Sensor01 (e.g., 'SET_INTERVAL 3' or 'ACTIVATE_ALARM', 'quit' to disconnect): quit
[Server] Closing connection with Sensor01
[Server] Connection to ('127.0.0.1', 63403) closed.
";
        assert_eq!(out, want);
        assert_eq!(c.on_operator("x").text, "[Server] No device connected.\n");
    }
}
