//! TCP control messages: what a device sends (`DEVICE … TYPE …`, `ACK …`) and
//! what the hub sends (operator commands, `ERROR …`).

use std::fmt;

use super::ident::{self, IdentError};
use crate::limits::{MAX_INTERVAL_SECS, MAX_LINE};

/// The ACK text the original client sends.
pub const ACK_TEXT: &str = "ACK Command Executed";

/// A message from a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMsg<'a> {
    /// `DEVICE <name> TYPE <type>`.
    Register { name: &'a str, kind: &'a str },
    /// `ACK` alone or followed by text, e.g. `ACK Command Executed`.
    Ack,
}

/// Why a device message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgError {
    Empty,
    /// Bytes outside printable ASCII (NUL, controls, invalid UTF-8, …).
    NotPrintable,
    /// Neither `DEVICE …` nor `ACK …` (an HTTP request line, say).
    Unknown,
    /// `DEVICE` without exactly `<name> TYPE <type>` after it.
    BadRegistration,
    BadName(IdentError),
    BadType(IdentError),
}

impl fmt::Display for MsgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgError::Empty => f.write_str("empty message"),
            MsgError::NotPrintable => f.write_str("message is not printable ASCII"),
            MsgError::Unknown => f.write_str("unknown message"),
            MsgError::BadRegistration => {
                f.write_str("registration must be DEVICE <name> TYPE <type>")
            }
            MsgError::BadName(e) => write!(f, "device name {e}"),
            MsgError::BadType(e) => write!(f, "device type {e}"),
        }
    }
}

impl std::error::Error for MsgError {}

/// True for printable ASCII (space through `~`).
#[inline]
pub fn is_printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| (0x20..0x7f).contains(&b))
}

impl<'a> DeviceMsg<'a> {
    /// Parses one framed line (terminator already removed).
    pub fn parse(line: &'a [u8]) -> Result<Self, MsgError> {
        if line.is_empty() {
            return Err(MsgError::Empty);
        }
        if !is_printable(line) {
            return Err(MsgError::NotPrintable);
        }
        // Printable ASCII is valid UTF-8.
        let text = std::str::from_utf8(line).map_err(|_| MsgError::NotPrintable)?;
        if text == "ACK" || text.starts_with("ACK ") {
            return Ok(DeviceMsg::Ack);
        }
        let Some(rest) = text.strip_prefix("DEVICE ") else {
            return Err(if text == "DEVICE" {
                MsgError::BadRegistration
            } else {
                MsgError::Unknown
            });
        };
        let mut parts = rest.split(' ');
        let (Some(name), Some("TYPE"), Some(kind), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(MsgError::BadRegistration);
        };
        let name = ident::check(name.as_bytes()).map_err(MsgError::BadName)?;
        let kind = ident::check(kind.as_bytes()).map_err(MsgError::BadType)?;
        Ok(DeviceMsg::Register { name, kind })
    }
}

impl fmt::Display for DeviceMsg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceMsg::Register { name, kind } => write!(f, "DEVICE {name} TYPE {kind}"),
            DeviceMsg::Ack => f.write_str(ACK_TEXT),
        }
    }
}

/// An operator command, as sent to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `SET_INTERVAL <seconds>`, 1 ≤ seconds ≤ 86400.
    SetInterval(u32),
    /// `ACTIVATE_ALARM`.
    ActivateAlarm,
    /// Any other printable text; the original client still ACKs it.
    Generic(Box<str>),
}

/// Why operator text is not a command a device can be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    Empty,
    TooLong,
    NotPrintable,
    /// `quit` closes a connection; it is never sent as text.
    Quit,
    BadInterval,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Empty => f.write_str("empty command"),
            CommandError::TooLong => write!(f, "command longer than {MAX_LINE} bytes"),
            CommandError::NotPrintable => f.write_str("command is not printable ASCII"),
            CommandError::Quit => f.write_str("quit closes the connection; it is not sent"),
            CommandError::BadInterval => write!(
                f,
                "SET_INTERVAL takes a whole number of seconds from 1 to {MAX_INTERVAL_SECS}"
            ),
        }
    }
}

impl std::error::Error for CommandError {}

impl Command {
    /// Parses operator text (surrounding white space ignored).
    pub fn parse(text: &str) -> Result<Self, CommandError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CommandError::Empty);
        }
        if text.len() > MAX_LINE {
            return Err(CommandError::TooLong);
        }
        if !is_printable(text.as_bytes()) {
            return Err(CommandError::NotPrintable);
        }
        if text == "quit" {
            return Err(CommandError::Quit);
        }
        if text == "ACTIVATE_ALARM" {
            return Ok(Command::ActivateAlarm);
        }
        if let Some(arg) = text.strip_prefix("SET_INTERVAL") {
            let arg = arg.trim();
            return match arg.parse::<u32>() {
                Ok(n)
                    if (1..=MAX_INTERVAL_SECS).contains(&n)
                        && arg.starts_with(|c: char| c.is_ascii_digit()) =>
                {
                    Ok(Command::SetInterval(n))
                }
                _ => Err(CommandError::BadInterval),
            };
        }
        Ok(Command::Generic(text.into()))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::SetInterval(n) => write!(f, "SET_INTERVAL {n}"),
            Command::ActivateAlarm => f.write_str("ACTIVATE_ALARM"),
            Command::Generic(t) => f.write_str(t),
        }
    }
}

/// The line the hub sends once before closing for a protocol violation.
pub fn error_line(reason: &dyn fmt::Display) -> String {
    format!("ERROR {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_round_trips() {
        let m = DeviceMsg::parse(b"DEVICE Sensor01 TYPE temperature").unwrap();
        assert_eq!(
            m,
            DeviceMsg::Register {
                name: "Sensor01",
                kind: "temperature"
            }
        );
        assert_eq!(m.to_string(), "DEVICE Sensor01 TYPE temperature");
        assert_eq!(DeviceMsg::parse(m.to_string().as_bytes()), Ok(m));
    }

    #[test]
    fn ack_forms() {
        assert_eq!(DeviceMsg::parse(ACK_TEXT.as_bytes()), Ok(DeviceMsg::Ack));
        assert_eq!(DeviceMsg::parse(b"ACK"), Ok(DeviceMsg::Ack));
        assert_eq!(DeviceMsg::parse(b"ACKNOWLEDGE"), Err(MsgError::Unknown));
        assert_eq!(DeviceMsg::Ack.to_string(), ACK_TEXT);
    }

    #[test]
    fn hostile_lines_are_refused_with_a_reason() {
        let cases: &[(&[u8], MsgError)] = &[
            (b"", MsgError::Empty),
            (b"GET / HTTP/1.1", MsgError::Unknown),
            (b"DEVICE", MsgError::BadRegistration),
            (b"DEVICE a", MsgError::BadRegistration),
            (b"DEVICE a TYPE", MsgError::BadRegistration),
            (b"DEVICE a KIND t", MsgError::BadRegistration),
            (b"DEVICE a TYPE t extra", MsgError::BadRegistration),
            (b"DEVICE  a TYPE t", MsgError::BadRegistration),
            (b"DEVICE a,b TYPE t", MsgError::BadName(IdentError::BadChar)),
            (b"DEVICE a TYPE t/u", MsgError::BadType(IdentError::BadChar)),
            (b"DEVICE a\0 TYPE t", MsgError::NotPrintable),
            (b"DEVICE caf\xc3\xa9 TYPE t", MsgError::NotPrintable),
            (b"\xff\xfe", MsgError::NotPrintable),
            (b"ACK\r", MsgError::NotPrintable),
        ];
        for (line, want) in cases {
            assert_eq!(DeviceMsg::parse(line), Err(*want), "{line:?}");
        }
        let long_name = format!("DEVICE {} TYPE t", "n".repeat(65));
        assert_eq!(
            DeviceMsg::parse(long_name.as_bytes()),
            Err(MsgError::BadName(IdentError::TooLong))
        );
    }

    #[test]
    fn commands_round_trip() {
        for text in [
            "SET_INTERVAL 3",
            "ACTIVATE_ALARM",
            "REBOOT now",
            "SET_INTERVAL 86400",
        ] {
            let c = Command::parse(text).unwrap();
            assert_eq!(c.to_string(), text);
            assert_eq!(Command::parse(&c.to_string()), Ok(c));
        }
        assert_eq!(
            Command::parse(" SET_INTERVAL 3 "),
            Ok(Command::SetInterval(3))
        );
    }

    #[test]
    fn bad_commands_are_refused() {
        assert_eq!(Command::parse(""), Err(CommandError::Empty));
        assert_eq!(Command::parse("quit"), Err(CommandError::Quit));
        for bad in [
            "SET_INTERVAL",
            "SET_INTERVAL 0",
            "SET_INTERVAL 86401",
            "SET_INTERVAL x",
            "SET_INTERVAL -1",
            "SET_INTERVAL +3",
        ] {
            assert_eq!(Command::parse(bad), Err(CommandError::BadInterval), "{bad}");
        }
        assert_eq!(Command::parse(&"x".repeat(257)), Err(CommandError::TooLong));
        assert_eq!(Command::parse("a\u{7}b"), Err(CommandError::NotPrintable));
    }
}
