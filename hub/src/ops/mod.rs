//! Operator commands, shared by the stdin console and the admin port: the
//! grammar ([`OpCommand::parse`]), with no I/O. The event loop executes them.
//!
//! ```text
//! send <device> <command…>     send * <command…>     send type=<type> <command…>
//! send prefix=<p>[,ids=<a>-<b>] <command…>
//! quit <device>                list                  stats
//! shutdown                     help
//! get <device>                 list type=<type>
//! history <device> [since=<duration>] [limit=<n>]
//! ```
//! `send <target> quit` is the same as `quit <target>`. `prefix=<p>` selects
//! the names starting with `p`; with `,ids=<a>-<b>` only `p` followed by a
//! number from `a` to `b` (how a load-generator shard reaches only its own
//! devices on a shared hub).

use std::fmt;

use crate::control::Target;
pub mod client;
pub mod counters;
pub mod inspect;
pub mod reply;
pub mod wire;
pub use reply::Reply;

use crate::protocol::{Command, CommandError};

/// A parsed operator command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpCommand {
    Send {
        target: Target,
        command: Command,
    },
    Quit(Target),
    List,
    Stats,
    Shutdown,
    Help,
    /// `list type=<type>`: registered devices of one type.
    ListType(String),
    /// `get <device>`: its latest reading, registration and UDP counters.
    Get(String),
    /// `history <device> [since=…] [limit=…]`: recorded rows, newest first.
    History(inspect::HistoryArgs),
}

/// Why an operator line was refused (one line for the operator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    Empty,
    Unknown(String),
    Usage(&'static str),
    BadCommand(CommandError),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Empty => f.write_str("empty command (try: help)"),
            OpError::Unknown(w) => write!(f, "unknown command '{w}' (try: help)"),
            OpError::Usage(u) => write!(f, "usage: {u}"),
            OpError::BadCommand(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OpError {}

/// One line of help per command.
pub const HELP: &str = "commands: send <device|*|type=<type>|prefix=<p>[,ids=<a>-<b>]> <command…> | quit <device|*|type=<type>|prefix=<p>[,ids=<a>-<b>]> | list [type=<type>] | get <device> | history <device> [since=<duration>] [limit=<n>] | stats | shutdown | help";

/// Usage of the `prefix=` target, for its errors.
const PREFIX_USAGE: &str = "prefix=<p> or prefix=<p>,ids=<first>-<last> (first <= last)";

fn target(word: &str) -> Result<Target, OpError> {
    if word == "*" {
        Ok(Target::All)
    } else if let Some(t) = word.strip_prefix("type=") {
        Ok(Target::Type(t.to_string()))
    } else if let Some(p) = word.strip_prefix("prefix=") {
        prefix_target(p)
    } else {
        Ok(Target::Device(word.to_string()))
    }
}

/// `<p>` or `<p>,ids=<a>-<b>`; `,` is no identifier byte, so the split is
/// unambiguous.
fn prefix_target(p: &str) -> Result<Target, OpError> {
    let (prefix, ids) = match p.split_once(',') {
        None => (p, None),
        Some((prefix, range)) => {
            let (a, b) = range
                .strip_prefix("ids=")
                .and_then(|r| r.split_once('-'))
                .ok_or(OpError::Usage(PREFIX_USAGE))?;
            let n = |s: &str| s.parse::<u64>().map_err(|_| OpError::Usage(PREFIX_USAGE));
            let (a, b) = (n(a)?, n(b)?);
            if a > b {
                return Err(OpError::Usage(PREFIX_USAGE));
            }
            (prefix, Some((a, b)))
        }
    };
    if prefix.is_empty() || crate::protocol::ident::check(prefix.as_bytes()).is_err() {
        return Err(OpError::Usage(PREFIX_USAGE));
    }
    Ok(Target::Prefix {
        prefix: prefix.to_string(),
        ids,
    })
}

impl OpCommand {
    pub fn parse(line: &str) -> Result<OpCommand, OpError> {
        let line = line.trim();
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let rest = rest.trim();
        match word {
            "" => Err(OpError::Empty),
            "send" => {
                let (who, text) = rest
                    .split_once(char::is_whitespace)
                    .ok_or(OpError::Usage("send <device|*|type=<type>> <command…>"))?;
                let target = target(who)?;
                match Command::parse(text) {
                    Ok(command) => Ok(OpCommand::Send { target, command }),
                    Err(CommandError::Quit) => Ok(OpCommand::Quit(target)),
                    Err(e) => Err(OpError::BadCommand(e)),
                }
            }
            "quit" if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
                Ok(OpCommand::Quit(target(rest)?))
            }
            "quit" => Err(OpError::Usage("quit <device|*|type=<type>>")),
            "list" if rest.is_empty() => Ok(OpCommand::List),
            "list" if rest.starts_with("type=") && !rest.contains(char::is_whitespace) => {
                Ok(OpCommand::ListType(rest["type=".len()..].to_string()))
            }
            "list" => Err(OpError::Usage("list [type=<type>]")),
            "get" if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
                Ok(OpCommand::Get(rest.to_string()))
            }
            "get" => Err(OpError::Usage("get <device>")),
            "history" => inspect::HistoryArgs::parse(rest).map(OpCommand::History),
            "stats" if rest.is_empty() => Ok(OpCommand::Stats),
            "shutdown" if rest.is_empty() => Ok(OpCommand::Shutdown),
            "help" => Ok(OpCommand::Help),
            "stats" | "shutdown" => {
                Err(OpError::Usage("list | stats | shutdown take no arguments"))
            }
            other => Err(OpError::Unknown(other.chars().take(32).collect())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar() {
        assert_eq!(
            OpCommand::parse("send Sensor01 SET_INTERVAL 3"),
            Ok(OpCommand::Send {
                target: Target::Device("Sensor01".into()),
                command: Command::SetInterval(3)
            })
        );
        assert_eq!(
            OpCommand::parse("send * ACTIVATE_ALARM"),
            Ok(OpCommand::Send {
                target: Target::All,
                command: Command::ActivateAlarm
            })
        );
        assert_eq!(
            OpCommand::parse("send type=humidity REBOOT now"),
            Ok(OpCommand::Send {
                target: Target::Type("humidity".into()),
                command: Command::Generic("REBOOT now".into())
            })
        );
        assert_eq!(
            OpCommand::parse("send S1 quit"),
            Ok(OpCommand::Quit(Target::Device("S1".into())))
        );
        assert_eq!(
            OpCommand::parse("quit S1"),
            Ok(OpCommand::Quit(Target::Device("S1".into())))
        );
        assert_eq!(
            OpCommand::parse("send prefix=Sensor,ids=7-12 ACTIVATE_ALARM"),
            Ok(OpCommand::Send {
                target: Target::Prefix {
                    prefix: "Sensor".into(),
                    ids: Some((7, 12))
                },
                command: Command::ActivateAlarm
            })
        );
        assert_eq!(
            OpCommand::parse("quit prefix=Gen2-"),
            Ok(OpCommand::Quit(Target::Prefix {
                prefix: "Gen2-".into(),
                ids: None
            }))
        );
        assert_eq!(OpCommand::parse(" stats "), Ok(OpCommand::Stats));
        assert_eq!(OpCommand::parse("list"), Ok(OpCommand::List));
        assert_eq!(OpCommand::parse("shutdown"), Ok(OpCommand::Shutdown));
        assert_eq!(
            OpCommand::parse("list type=humidity"),
            Ok(OpCommand::ListType("humidity".into()))
        );
        assert_eq!(OpCommand::parse("get S1"), Ok(OpCommand::Get("S1".into())));
        assert_eq!(
            OpCommand::parse("history S1 since=1h limit=5000"),
            Ok(OpCommand::History(inspect::HistoryArgs {
                device: "S1".into(),
                since: Some(std::time::Duration::from_secs(3600)),
                limit: crate::recorder::MAX_HISTORY_ROWS,
            }))
        );
        assert_eq!(
            OpCommand::parse("history S1"),
            Ok(OpCommand::History(inspect::HistoryArgs {
                device: "S1".into(),
                since: None,
                limit: inspect::HISTORY_DEFAULT_ROWS,
            }))
        );
    }

    #[test]
    fn errors_are_one_line_and_say_what_to_do() {
        for (line, want) in [
            ("", "empty command (try: help)"),
            ("frobnicate", "unknown command 'frobnicate' (try: help)"),
            ("send", "usage: send <device|*|type=<type>> <command…>"),
            ("send S1", "usage: send <device|*|type=<type>> <command…>"),
            (
                "send S1 SET_INTERVAL zero",
                "SET_INTERVAL takes a whole number of seconds from 1 to 86400",
            ),
            ("quit", "usage: quit <device|*|type=<type>>"),
            (
                "send prefix= ACTIVATE_ALARM",
                "usage: prefix=<p> or prefix=<p>,ids=<first>-<last> (first <= last)",
            ),
            (
                "send prefix=S,ids=9-2 ACTIVATE_ALARM",
                "usage: prefix=<p> or prefix=<p>,ids=<first>-<last> (first <= last)",
            ),
            (
                "send prefix=S,ids=1-x ACTIVATE_ALARM",
                "usage: prefix=<p> or prefix=<p>,ids=<first>-<last> (first <= last)",
            ),
            (
                "quit prefix=S,range=1-2",
                "usage: prefix=<p> or prefix=<p>,ids=<first>-<last> (first <= last)",
            ),
            (
                "stats now",
                "usage: list | stats | shutdown take no arguments",
            ),
            ("list x", "usage: list [type=<type>]"),
            ("get", "usage: get <device>"),
            ("get a b", "usage: get <device>"),
            (
                "history",
                "usage: history <device> [since=<duration>] [limit=<n>]",
            ),
            (
                "history S1 limit=0",
                "usage: history <device> [since=<duration>] [limit=<n>]",
            ),
            (
                "history S1 since=soon",
                "usage: history <device> [since=<duration>] [limit=<n>]",
            ),
            (
                "history S1 color=red",
                "usage: history <device> [since=<duration>] [limit=<n>]",
            ),
        ] {
            let e = OpCommand::parse(line).unwrap_err().to_string();
            assert_eq!(e, want, "{line:?}");
            assert!(!e.contains('\n'));
        }
    }
}
