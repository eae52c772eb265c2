//! The UDP reading: `<name>,<timestamp>,<type>,<value>,SEQ:<n>[,CYCLE:<k>]`.
//!
//! [`Datagram::parse`] borrows from the received bytes and allocates nothing;
//! [`Datagram::encode`] writes into a caller's buffer.

use std::fmt;
use std::io::{self, Write};

use super::ident::{self, IdentError};
use crate::limits::{MAX_DATAGRAM, MAX_TIMESTAMP};

/// One sensor reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Datagram<'a> {
    pub name: &'a str,
    /// Opaque text without commas (the original sends `YYYY-MM-DD HH:MM:SS`).
    pub timestamp: &'a str,
    pub kind: &'a str,
    pub value: f64,
    /// 1-based position in the cycle. Parsing only checks `seq ≥ 1`; the
    /// cycle length is the data plane's to enforce.
    pub seq: u32,
    /// *(ext)* The sender's cycle counter.
    pub cycle: Option<u64>,
}

/// Why a datagram is malformed. Malformed datagrams are counted and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramError {
    TooLong,
    /// Fewer than 5 or more than 6 comma-separated fields.
    FieldCount,
    BadName(IdentError),
    BadType(IdentError),
    BadTimestamp,
    /// Not a finite decimal number (NaN, inf, text, empty).
    BadValue,
    /// Not `SEQ:<n>` with 1 ≤ n < 2^32.
    BadSeq,
    /// Not `CYCLE:<k>` with k < 2^64.
    BadCycle,
}

impl fmt::Display for DatagramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatagramError::TooLong => write!(f, "datagram longer than {MAX_DATAGRAM} bytes"),
            DatagramError::FieldCount => f.write_str("wrong number of fields"),
            DatagramError::BadName(e) => write!(f, "device name {e}"),
            DatagramError::BadType(e) => write!(f, "device type {e}"),
            DatagramError::BadTimestamp => f.write_str("bad timestamp"),
            DatagramError::BadValue => f.write_str("value is not a finite decimal number"),
            DatagramError::BadSeq => f.write_str("bad SEQ field"),
            DatagramError::BadCycle => f.write_str("bad CYCLE field"),
        }
    }
}

impl std::error::Error for DatagramError {}

impl<'a> Datagram<'a> {
    /// Parses one datagram; a single trailing `\n` (or `\r\n`) is allowed.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DatagramError> {
        if bytes.len() > MAX_DATAGRAM {
            return Err(DatagramError::TooLong);
        }
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let mut fields = bytes.split(|&b| b == b',');
        let mut next = || fields.next().ok_or(DatagramError::FieldCount);
        let name = next()?;
        let timestamp = next()?;
        let kind = next()?;
        let value = next()?;
        let seq = next()?;
        let cycle = fields.next();
        if fields.next().is_some() {
            return Err(DatagramError::FieldCount);
        }
        let name = ident::check(name).map_err(DatagramError::BadName)?;
        let kind = ident::check(kind).map_err(DatagramError::BadType)?;
        if timestamp.len() > MAX_TIMESTAMP || !super::control::is_printable(timestamp) {
            return Err(DatagramError::BadTimestamp);
        }
        let timestamp = std::str::from_utf8(timestamp).map_err(|_| DatagramError::BadTimestamp)?;
        let value = parse_value(value).ok_or(DatagramError::BadValue)?;
        let seq = seq
            .strip_prefix(b"SEQ:")
            .and_then(parse_uint)
            .filter(|&n| (1..=u32::MAX as u64).contains(&n))
            .ok_or(DatagramError::BadSeq)? as u32;
        let cycle = match cycle {
            None => None,
            Some(c) => Some(
                c.strip_prefix(b"CYCLE:")
                    .and_then(parse_uint)
                    .ok_or(DatagramError::BadCycle)?,
            ),
        };
        Ok(Datagram {
            name,
            timestamp,
            kind,
            value,
            seq,
            cycle,
        })
    }

    /// Writes the datagram into `out` and returns its length.
    pub fn encode(&self, out: &mut [u8]) -> io::Result<usize> {
        let cap = out.len();
        let mut w = &mut out[..];
        write!(
            w,
            "{},{},{},{},SEQ:{}",
            self.name, self.timestamp, self.kind, self.value, self.seq
        )?;
        if let Some(c) = self.cycle {
            write!(w, ",CYCLE:{c}")?;
        }
        Ok(cap - w.len())
    }
}

impl fmt::Display for Datagram<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{},{},{},{},SEQ:{}",
            self.name, self.timestamp, self.kind, self.value, self.seq
        )?;
        if let Some(c) = self.cycle {
            write!(f, ",CYCLE:{c}")?;
        }
        Ok(())
    }
}

/// A decimal number: optional sign, digits, optional fraction and exponent.
/// Letters other than `e`/`E` (so `NaN`, `inf`) are refused up front.
fn parse_value(b: &[u8]) -> Option<f64> {
    if b.is_empty() || b.len() > 32 {
        return None;
    }
    if !b
        .iter()
        .all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return None;
    }
    let v: f64 = std::str::from_utf8(b).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

/// Digits only, no sign, at most 20 of them, must fit a `u64`.
fn parse_uint(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGINAL: &[u8] = b"Sensor01,2025-10-22 18:20:15,temperature,24.8,SEQ:5";

    #[test]
    fn parses_the_original_datagram() {
        let d = Datagram::parse(ORIGINAL).unwrap();
        assert_eq!(d.name, "Sensor01");
        assert_eq!(d.timestamp, "2025-10-22 18:20:15");
        assert_eq!(d.kind, "temperature");
        assert_eq!(d.value, 24.8);
        assert_eq!(d.seq, 5);
        assert_eq!(d.cycle, None);
        assert_eq!(d.to_string().as_bytes(), ORIGINAL);
    }

    #[test]
    fn round_trips_with_cycle_and_newline() {
        let d =
            Datagram::parse(b"S-1,t,humidity,-3.25,SEQ:10,CYCLE:18446744073709551615\n").unwrap();
        assert_eq!(d.cycle, Some(u64::MAX));
        let mut buf = [0u8; 256];
        let n = d.encode(&mut buf).unwrap();
        assert_eq!(Datagram::parse(&buf[..n]), Ok(d));
        assert_eq!(d.to_string().as_bytes(), &buf[..n]);
    }

    #[test]
    fn encode_refuses_a_short_buffer() {
        let d = Datagram::parse(ORIGINAL).unwrap();
        assert!(d.encode(&mut [0u8; 10]).is_err());
    }

    #[test]
    fn malformed_datagrams_say_why() {
        use DatagramError::*;
        let cases: &[(&[u8], DatagramError)] = &[
            (b"", FieldCount),
            (b",t,k,1,SEQ:1", BadName(IdentError::Empty)),
            (b"a,b,c,1", FieldCount),
            (b"a,t,k,1,SEQ:1,CYCLE:1,x", FieldCount),
            (b"a,b,t,1,SEQ:1,", BadCycle),
            (b"a b,t,k,1,SEQ:1", BadName(IdentError::BadChar)),
            (b"a,t,k k,1,SEQ:1", BadType(IdentError::BadChar)),
            (b"a,t\0,k,1,SEQ:1", BadTimestamp),
            (b"a,t,k,NaN,SEQ:1", BadValue),
            (b"a,t,k,inf,SEQ:1", BadValue),
            (b"a,t,k,1e999,SEQ:1", BadValue),
            (b"a,t,k,,SEQ:1", BadValue),
            (b"a,t,k,abc,SEQ:1", BadValue),
            (b"a,t,k,1,SEQ:0", BadSeq),
            (b"a,t,k,1,SEQ:", BadSeq),
            (b"a,t,k,1,SEQ:-1", BadSeq),
            (b"a,t,k,1,SEQ:4294967296", BadSeq),
            (b"a,t,k,1,SEQ:99999999999999999999999", BadSeq),
            (b"a,t,k,1,seq:1", BadSeq),
            (b"a,t,k,1,SEQ:1,CYCLE:x", BadCycle),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                Datagram::parse(bytes),
                Err(*want),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
        let long_ts = format!("a,{},k,1,SEQ:1", "t".repeat(65));
        assert_eq!(Datagram::parse(long_ts.as_bytes()), Err(BadTimestamp));
        assert_eq!(Datagram::parse(&[b'a'; 513]), Err(TooLong));
    }
}
