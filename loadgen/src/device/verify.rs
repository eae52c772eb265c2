//! Checking a STATUS before it is believed. [`check`] takes the raw bytes
//! and the cycle length and refuses anything a correct hub cannot send:
//! unparsable text, a total that is not the cycle length, a MISSING list
//! whose length contradicts the counts (`10/10 …; MISSING: [1, 2, 3]`), a
//! SEQ listed twice. [`fits`] then checks the STATUS against what was sent
//! for the cycle it would be matched to: a STATUS that says a SEQ arrived
//! which loadgen never sent belongs to another cycle (or lies).

use hub::protocol::Status;

/// Why a STATUS is not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not a STATUS line at all.
    Malformed,
    /// `x/n` with `n` other than `--cycle-len`.
    WrongTotal,
    /// `x + len(MISSING) != n` (or a truncated list that is already full).
    CountMismatch,
    /// A SEQ listed missing twice.
    Duplicate,
}

impl Invalid {
    pub fn as_str(self) -> &'static str {
        match self {
            Invalid::Malformed => "malformed",
            Invalid::WrongTotal => "total is not the cycle length",
            Invalid::CountMismatch => "received + missing != total",
            Invalid::Duplicate => "a SEQ listed twice",
        }
    }
}

/// Parses and validates one STATUS datagram.
pub fn check(bytes: &[u8], cycle_len: u32) -> Result<Status, Invalid> {
    let st = Status::parse(bytes).map_err(|_| Invalid::Malformed)?;
    if st.total != cycle_len {
        return Err(Invalid::WrongTotal);
    }
    // Status::parse folds the list into a bit set; count its items again
    // to catch duplicates.
    let listed = match bytes.iter().position(|&b| b == b'[') {
        Some(i) => bytes[i..]
            .split(|&b| b == b',')
            .filter(|item| item.iter().any(u8::is_ascii_digit))
            .count() as u32,
        None => 0,
    };
    let distinct = st.missing.count_ones();
    if listed != distinct {
        return Err(Invalid::Duplicate);
    }
    let missing = st.missing_count();
    let consistent = if st.truncated {
        distinct < missing
    } else {
        distinct == missing
    };
    if !consistent {
        return Err(Invalid::CountMismatch);
    }
    Ok(st)
}

/// The `x` of `STATUS RECEIVED x/…`, read loosely: also from a STATUS
/// that fails [`check`] (`11/10`, or counts that contradict the list), so a
/// hub that counts a duplicate twice can be told from one that lies
/// otherwise.
pub fn claimed_received(bytes: &[u8]) -> Option<u32> {
    let rest = bytes.strip_prefix(b"STATUS RECEIVED ")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 9 || rest.get(digits) != Some(&b'/') {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// True when `st` can be the STATUS of a cycle whose sent SEQs are the
/// bits of `sent` (of `all`): it never says an unsent SEQ arrived.
pub fn fits(st: &Status, sent: u64, all: u64) -> bool {
    if st.received > sent.count_ones() {
        return false;
    }
    if st.truncated {
        return true;
    }
    let received = all & !st.missing;
    received & !sent == 0
}

#[cfg(test)]
#[path = "verify_cost.rs"]
mod cost;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_correct_hub_passes() {
        for s in [
            &b"STATUS RECEIVED 10/10 PACKETS"[..],
            b"STATUS RECEIVED 8/10 PACKETS; MISSING: [3, 7]\n",
            b"STATUS RECEIVED 0/10 PACKETS; MISSING: [1, 2, ...]",
        ] {
            assert!(check(s, 10).is_ok(), "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn contradictions_are_refused() {
        let cases: [(&[u8], Invalid); 6] = [
            (b"garbage", Invalid::Malformed),
            (b"STATUS RECEIVED 5/5 PACKETS", Invalid::WrongTotal),
            (
                b"STATUS RECEIVED 10/10 PACKETS; MISSING: [1, 2, 3]",
                Invalid::CountMismatch,
            ),
            (
                b"STATUS RECEIVED 8/10 PACKETS; MISSING: [3]",
                Invalid::CountMismatch,
            ),
            (
                b"STATUS RECEIVED 8/10 PACKETS; MISSING: [3, 3]",
                Invalid::Duplicate,
            ),
            (
                b"STATUS RECEIVED 8/10 PACKETS; MISSING: [3, 7, ...]",
                Invalid::CountMismatch,
            ),
        ];
        for (s, why) in cases {
            assert_eq!(check(s, 10), Err(why), "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn the_claimed_count_is_read_even_from_an_invalid_status() {
        assert_eq!(claimed_received(b"STATUS RECEIVED 11/10 PACKETS"), Some(11));
        assert_eq!(
            claimed_received(b"STATUS RECEIVED 10/10 PACKETS; MISSING: [4]"),
            Some(10)
        );
        for s in [
            &b"garbage"[..],
            b"STATUS RECEIVED /10",
            b"STATUS RECEIVED 9999999999/10",
        ] {
            assert_eq!(claimed_received(s), None);
        }
    }

    #[test]
    fn a_status_claiming_an_unsent_seq_does_not_fit() {
        let all = (1 << 10) - 1;
        let st = check(b"STATUS RECEIVED 10/10 PACKETS", 10).unwrap();
        assert!(fits(&st, all, all));
        assert!(!fits(&st, all & !(1 << 4), all));
        let st = check(b"STATUS RECEIVED 9/10 PACKETS; MISSING: [5]", 10).unwrap();
        assert!(fits(&st, all & !(1 << 4), all));
        assert!(fits(&st, all, all), "real loss fits");
    }
}
