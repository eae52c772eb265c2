//! The latest reading of each device and its per-device UDP counters, kept
//! inline in the device's table entry.
//!
//! Text fields are fixed-size inline buffers ([`InlineText`]) sized by the
//! protocol's own caps, so updating the latest reading of a known device
//! copies bytes and allocates nothing.

use std::fmt;
use std::net::SocketAddr;
use std::time::Instant;

use crate::limits::{MAX_IDENT, MAX_TIMESTAMP};
use crate::protocol::Datagram;

/// Text of at most `N` bytes stored inline (no heap).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InlineText<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> InlineText<N> {
    /// Empty text.
    pub const fn new() -> Self {
        InlineText {
            len: 0,
            bytes: [0; N],
        }
    }

    /// Text holding `s`, cut at `N` bytes (on a char boundary). The parser
    /// already refuses longer fields, so the cut never happens in practice.
    pub fn from_str_lossy(s: &str) -> Self {
        let mut t = Self::new();
        t.set(s);
        t
    }

    /// Replaces the text with `s` (cut as in [`from_str_lossy`](Self::from_str_lossy)).
    pub fn set(&mut self, s: &str) {
        let mut n = s.len().min(N).min(u8::MAX as usize);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        self.len = n as u8;
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 prefixes of a `&str` are ever stored.
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl<const N: usize> Default for InlineText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for InlineText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for InlineText<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last reading the plane accepted from one device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latest {
    pub value: f64,
    /// The device's own timestamp text, as sent.
    pub timestamp: InlineText<MAX_TIMESTAMP>,
    pub kind: InlineText<MAX_IDENT>,
    /// When the hub received it (the loop's `now`).
    pub received: Instant,
    pub seq: u32,
    pub cycle: Option<u64>,
    pub src: SocketAddr,
}

impl Latest {
    /// The reading `d`, received at `now` from `src`.
    pub fn of(d: &Datagram<'_>, now: Instant, src: SocketAddr) -> Self {
        Latest {
            value: d.value,
            timestamp: InlineText::from_str_lossy(d.timestamp),
            kind: InlineText::from_str_lossy(d.kind),
            received: now,
            seq: d.seq,
            cycle: d.cycle,
            src,
        }
    }

    /// Seconds since the hub received it.
    pub fn age_secs(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.received).as_secs_f64()
    }
}

/// One device's share of the plane's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeviceCounters {
    /// Datagrams applied to its state (accepted, duplicate or late).
    pub datagrams: u64,
    /// Readings accepted (new SEQ of an open cycle).
    pub accepted: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Cycles closed, by any rule.
    pub cycles: u64,
    /// Packets received, summed over closed cycles.
    pub received: u64,
    /// Packets missing, summed over closed cycles.
    pub missing: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_text_keeps_whole_chars() {
        let t = InlineText::<4>::from_str_lossy("abé");
        assert_eq!(t.as_str(), "abé");
        let cut = InlineText::<3>::from_str_lossy("abé");
        assert_eq!(cut.as_str(), "ab");
        let mut t = InlineText::<8>::new();
        t.set("long text");
        assert_eq!(t.as_str(), "long tex");
        t.set("x");
        assert_eq!(t.to_string(), "x");
    }

    #[test]
    fn latest_copies_the_datagram() {
        let d = Datagram::parse(b"S1,2025-10-22 18:20:15,temperature,24.8,SEQ:3,CYCLE:7").unwrap();
        let now = Instant::now();
        let src = SocketAddr::from(([127, 0, 0, 1], 9));
        let l = Latest::of(&d, now, src);
        assert_eq!(l.value, 24.8);
        assert_eq!(l.timestamp.as_str(), "2025-10-22 18:20:15");
        assert_eq!(l.kind.as_str(), "temperature");
        assert_eq!((l.seq, l.cycle, l.src), (3, Some(7), src));
        assert_eq!(l.age_secs(now), 0.0);
    }
}
