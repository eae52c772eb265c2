//! Field values of the event log, escaped so that no text a peer or the
//! operator supplies can forge a field, an event or a line.
//!
//! The grammar every log line follows (also in the README):
//!
//! ```text
//! line   = timestamp " " EVENT *(" " key "=" value) "\n"
//! EVENT  = 1*(A-Z / "_")           key = 1*(a-z / 0-9 / "_")
//! value  = bare / quoted
//! bare   = 1*(A-Z / a-z / 0-9 / "_" / "." / ":" / "-" / "[" / "]" / "/")
//! quoted = DQUOTE *(plain / escape) DQUOTE
//! plain  = any byte 0x20..=0x7e except DQUOTE and "\"
//! escape = "\\" / "\"" / "\n" / "\r" / "\t" / "\x" 2HEXDIG  ; any other byte
//! ```
//!
//! [`Quoted`] always quotes (free text: commands, reasons); [`Bare`] writes
//! a value bare when every byte is a bare byte and quotes it otherwise
//! (names, types). Neither allocates.

use std::fmt::{self, Write};

/// True for the bytes a bare value may hold.
pub fn is_bare_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-' | b'[' | b']' | b'/')
}

/// Writes `s` escaped (without the surrounding quotes).
fn write_escaped(f: &mut dyn Write, s: &str) -> fmt::Result {
    for b in s.bytes() {
        match b {
            b'"' => f.write_str("\\\"")?,
            b'\\' => f.write_str("\\\\")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            b'\t' => f.write_str("\\t")?,
            0x20..=0x7e => f.write_char(b as char)?,
            _ => write!(f, "\\x{b:02x}")?,
        }
    }
    Ok(())
}

/// Escapes whatever a `Display` writes, as it writes it.
struct Escaper<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for Escaper<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_escaped(self.0, s)
    }
}

/// A value always written in quotes, escaped.
pub struct Quoted<T>(pub T);

impl<T: fmt::Display> fmt::Display for Quoted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        write!(Escaper(f), "{}", self.0)?;
        f.write_char('"')
    }
}

/// A value written bare when it can be, quoted and escaped otherwise.
pub struct Bare<'a>(pub &'a str);

impl fmt::Display for Bare<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() && self.0.bytes().all(is_bare_byte) {
            f.write_str(self.0)
        } else {
            Quoted(self.0).fmt(f)
        }
    }
}

/// Splits one log line (without its timestamp) into its event and fields,
/// undoing the escapes; `None` if the line breaks the grammar. Tests and
/// tools use it to read the log back.
pub fn parse_fields(rest: &str) -> Option<(String, Vec<(String, String)>)> {
    let b = rest.as_bytes();
    let mut i = b.iter().position(|&c| c == b' ').unwrap_or(b.len());
    let event = &rest[..i];
    if event.is_empty() || !event.bytes().all(|c| c.is_ascii_uppercase() || c == b'_') {
        return None;
    }
    let mut fields = Vec::new();
    while i < b.len() {
        if b[i] != b' ' {
            return None;
        }
        i += 1;
        let k0 = i;
        while i < b.len() && b[i] != b'=' {
            let c = b[i];
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
                return None;
            }
            i += 1;
        }
        if i == k0 || i == b.len() {
            return None;
        }
        let key = rest[k0..i].to_string();
        i += 1;
        let mut val = Vec::new();
        if b.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match *b.get(i)? {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        let (byte, used) = match *b.get(i + 1)? {
                            b'"' => (b'"', 2),
                            b'\\' => (b'\\', 2),
                            b'n' => (b'\n', 2),
                            b'r' => (b'\r', 2),
                            b't' => (b'\t', 2),
                            b'x' => (u8::from_str_radix(rest.get(i + 2..i + 4)?, 16).ok()?, 4),
                            _ => return None,
                        };
                        val.push(byte);
                        i += used;
                    }
                    c @ 0x20..=0x7e => {
                        val.push(c);
                        i += 1;
                    }
                    _ => return None,
                }
            }
        } else {
            let v0 = i;
            while i < b.len() && b[i] != b' ' {
                if !is_bare_byte(b[i]) {
                    return None;
                }
                i += 1;
            }
            if i == v0 {
                return None;
            }
            val.extend_from_slice(&b[v0..i]);
        }
        fields.push((key, String::from_utf8_lossy(&val).into_owned()));
    }
    Some((event.to_string(), fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backslashes_and_control_bytes_are_escaped() {
        let s = Quoted("x\" device=Forged reason=\"a\\b\nc\x01é").to_string();
        assert_eq!(s, r#""x\" device=Forged reason=\"a\\b\nc\x01\xc3\xa9""#);
        assert!(!s.contains('\n'));
    }

    #[test]
    fn bare_only_when_safe() {
        assert_eq!(Bare("Sensor01").to_string(), "Sensor01");
        assert_eq!(Bare("[::1]:5050").to_string(), "[::1]:5050");
        assert_eq!(Bare("a b").to_string(), "\"a b\"");
        assert_eq!(Bare("a=b").to_string(), "\"a=b\"");
        assert_eq!(Bare("").to_string(), "\"\"");
    }

    #[test]
    fn every_string_round_trips_through_the_grammar() {
        for text in [
            "x\" device=Forged reason=\"operator quit",
            "back\\slash",
            "\n\r\t\x00\x7f",
            "plain",
            "",
            "ünï",
        ] {
            let line = format!("COMMAND device={} command={}", Bare("D1"), Quoted(text));
            let (ev, fields) = parse_fields(&line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(ev, "COMMAND");
            assert_eq!(
                fields,
                vec![
                    ("device".to_string(), "D1".to_string()),
                    ("command".to_string(), text.to_string())
                ],
                "{line}"
            );
        }
    }

    #[test]
    fn broken_lines_are_refused() {
        for bad in [
            "lower x=1",
            "EV x",
            "EV x=\"open",
            "EV =1",
            "EV x=a\"b",
            "EV x=\"\\q\"",
        ] {
            assert!(parse_fields(bad).is_none(), "{bad}");
        }
    }
}
