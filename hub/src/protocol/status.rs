//! The hub's STATUS reply: `STATUS RECEIVED x/n PACKETS[; MISSING: [a, b]]`.
//!
//! The hub encodes it into a fixed buffer with a size cap so that a STATUS is
//! never much larger than the datagram that caused it; when the full list of
//! missing SEQs does not fit, the list ends in `...` (the counts in the
//! header stay exact). The load generator parses it back.

use std::fmt;
use std::io::Write;

use crate::limits::MAX_CYCLE_LEN;

/// Room for the longest STATUS (a 64-packet cycle with all but one missing).
pub const STATUS_BUF: usize = 512;

/// One cycle's outcome. `missing` has bit `i` set when SEQ `i + 1` is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub received: u32,
    pub total: u32,
    pub missing: u64,
    /// Set when parsing a list that ended in `...`.
    pub truncated: bool,
}

/// Why bytes are not a STATUS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusError {
    Malformed,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a STATUS line")
    }
}

impl std::error::Error for StatusError {}

impl Status {
    /// The STATUS of a cycle of `total` packets whose received set is
    /// `received_bits` (bit `i` = SEQ `i + 1`).
    pub fn from_bits(received_bits: u64, total: u32) -> Self {
        debug_assert!((1..=MAX_CYCLE_LEN).contains(&total));
        let all = if total == 64 {
            u64::MAX
        } else {
            (1u64 << total) - 1
        };
        let got = received_bits & all;
        Status {
            received: got.count_ones(),
            total,
            missing: all & !got,
            truncated: false,
        }
    }

    /// Packets reported missing.
    pub fn missing_count(&self) -> u32 {
        self.total - self.received
    }

    /// Writes the STATUS into `out` using at most `max_len` bytes; the
    /// missing list is cut short with `...` when it does not fit. Returns
    /// `None` when even the header does not fit.
    pub fn encode_capped(&self, out: &mut [u8; STATUS_BUF], max_len: usize) -> Option<usize> {
        let max_len = max_len.min(STATUS_BUF);
        let mut w = &mut out[..];
        write!(
            w,
            "STATUS RECEIVED {}/{} PACKETS",
            self.received, self.total
        )
        .ok()?;
        let mut len = STATUS_BUF - w.len();
        if len > max_len {
            return None;
        }
        if self.missing == 0 {
            return Some(len);
        }
        const OPEN: &[u8] = b"; MISSING: [";
        const MORE: &[u8] = b"...]";
        if len + OPEN.len() + MORE.len() > max_len {
            return Some(len);
        }
        out[len..len + OPEN.len()].copy_from_slice(OPEN);
        len += OPEN.len();
        let mut first = true;
        let mut bits = self.missing;
        while bits != 0 {
            let seq = bits.trailing_zeros() + 1;
            bits &= bits - 1;
            let mut item = [0u8; 8];
            let mut iw = &mut item[..];
            if !first {
                iw.write_all(b", ").ok()?;
            }
            write!(iw, "{seq}").ok()?;
            let n = 8 - iw.len();
            // Keep room for `...]` unless this is the last item.
            let tail = if bits == 0 { 1 } else { MORE.len() + 2 };
            if len + n + tail > max_len {
                let sep: &[u8] = if first { b"" } else { b", " };
                out[len..len + sep.len()].copy_from_slice(sep);
                len += sep.len();
                out[len..len + MORE.len()].copy_from_slice(MORE);
                return Some(len + MORE.len());
            }
            out[len..len + n].copy_from_slice(&item[..n]);
            len += n;
            first = false;
        }
        out[len] = b']';
        Some(len + 1)
    }

    /// Parses a STATUS line (a trailing `\n` is allowed).
    pub fn parse(bytes: &[u8]) -> Result<Self, StatusError> {
        let text = std::str::from_utf8(bytes).map_err(|_| StatusError::Malformed)?;
        let text = text.trim_end_matches(['\n', '\r']);
        let rest = text
            .strip_prefix("STATUS RECEIVED ")
            .ok_or(StatusError::Malformed)?;
        let (counts, list) = match rest.split_once(" PACKETS") {
            Some((c, l)) => (c, l),
            None => return Err(StatusError::Malformed),
        };
        let (r, t) = counts.split_once('/').ok_or(StatusError::Malformed)?;
        let received: u32 = r.parse().map_err(|_| StatusError::Malformed)?;
        let total: u32 = t.parse().map_err(|_| StatusError::Malformed)?;
        if total == 0 || total > MAX_CYCLE_LEN || received > total {
            return Err(StatusError::Malformed);
        }
        let mut st = Status {
            received,
            total,
            missing: 0,
            truncated: false,
        };
        if list.is_empty() {
            return Ok(st);
        }
        let inner = list
            .strip_prefix("; MISSING: [")
            .and_then(|l| l.strip_suffix(']'))
            .ok_or(StatusError::Malformed)?;
        for item in inner.split(", ").filter(|s| !s.is_empty()) {
            if item == "..." {
                st.truncated = true;
                continue;
            }
            let seq: u32 = item.parse().map_err(|_| StatusError::Malformed)?;
            if seq == 0 || seq > total {
                return Err(StatusError::Malformed);
            }
            st.missing |= 1 << (seq - 1);
        }
        Ok(st)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; STATUS_BUF];
        let n = self.encode_capped(&mut buf, STATUS_BUF).ok_or(fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_original_wording() {
        assert_eq!(
            Status::from_bits(0x3ff, 10).to_string(),
            "STATUS RECEIVED 10/10 PACKETS"
        );
        let s = Status::from_bits(0x3ff & !(1 << 2) & !(1 << 6), 10);
        assert_eq!(
            s.to_string(),
            "STATUS RECEIVED 8/10 PACKETS; MISSING: [3, 7]"
        );
        assert_eq!(s.missing_count(), 2);
    }

    #[test]
    fn round_trips() {
        for (bits, total) in [
            (0x3ff, 10),
            (0x2, 10),
            (0, 10),
            (0, 64),
            (u64::MAX, 64),
            (1, 1),
        ] {
            let s = Status::from_bits(bits, total);
            assert_eq!(Status::parse(s.to_string().as_bytes()), Ok(s), "{s}");
        }
    }

    #[test]
    fn capped_encoding_truncates_the_list_but_keeps_exact_counts() {
        let s = Status::from_bits(1, 64);
        let mut buf = [0u8; STATUS_BUF];
        for cap in [30, 40, 45, 60, 100, 200] {
            match s.encode_capped(&mut buf, cap) {
                None => assert!(cap < 29),
                Some(n) => {
                    assert!(n <= cap, "cap {cap} got {n}");
                    let back = Status::parse(&buf[..n]).unwrap();
                    assert_eq!((back.received, back.total), (1, 64));
                    assert_eq!(back.missing & !s.missing, 0);
                }
            }
        }
        assert_eq!(s.encode_capped(&mut buf, 20), None);
        let n = s.encode_capped(&mut buf, 60).unwrap();
        assert!(Status::parse(&buf[..n]).unwrap().truncated);
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            &b"STATUS"[..],
            b"STATUS RECEIVED 11/10 PACKETS",
            b"STATUS RECEIVED 1/0 PACKETS",
            b"STATUS RECEIVED 1/10 PACKETS; MISSING: [11]",
            b"\xff",
        ] {
            assert!(Status::parse(bad).is_err(), "{bad:?}");
        }
    }
}
