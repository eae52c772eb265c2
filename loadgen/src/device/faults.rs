//! Network faults beyond `--loss`, decided per datagram before sending:
//! `--reorder`, `--duplicate`, `--corrupt` and `--delay MS[±JITTER]`.
//! [`Faults`] is the validated setting (it is part of the report's
//! `config`); [`Dice::roll`] decides what happens to one datagram; a
//! [`Corruption`] is applied to the encoded bytes. The hold-back and
//! release timing lives in [`super::line`]. Nothing here reads the clock.
//!
//! Every decision is a pure function of the run seed, the device, the
//! datagram's cycle and SEQ ([`Dice`] hashes them), so the same seed gives
//! the same faults on the same datagrams whatever the timing, the pacing,
//! the thread count or the other faults drawn.
//!
//! What each fault promises, so the accounting stays exact (see
//! `loadgen/MEASUREMENTS.md`):
//! - a **duplicate** is a second, identical copy sent right after the
//!   original: an extra datagram on the wire, never a second reading;
//! - a **reordered** datagram is held back and sent after the next one of
//!   its cycle, never after the cycle's last SEQ (so the hub still sees it
//!   inside the cycle);
//! - a **corrupted** datagram has one byte of its value or SEQ field
//!   replaced by a byte that field cannot hold, so PROTOCOL.md requires the
//!   hub to drop it as malformed (a corruption the protocol cannot detect,
//!   a plausible other value, is not injected: nothing could judge it);
//! - a **delay** holds each datagram `MS ± JITTER` before sending, in
//!   order (a jittered delay never reorders: that is `--reorder`'s job).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Longest `--delay` (mean plus jitter), ms. Below the hub's 3 s cycle
/// timeout (`hub::limits::CYCLE_TIMEOUT`) with room to spare, so a delay
/// never makes the hub close a cycle between two of its datagrams.
pub const MAX_DELAY_MS: u32 = 2_000;

/// Longest a datagram held back for `--reorder` waits for the next one of
/// its cycle. Past it, it goes out in order (and is not counted reordered),
/// so a slow open-loop schedule never holds a datagram near the hub's cycle
/// timeout. A closed-loop cycle sends its next datagram at once.
pub const MAX_REORDER_HOLD: Duration = Duration::from_millis(500);

/// Bytes a corrupted field gets: none is a digit, a sign, `.`, `e`/`E`, a
/// letter of `SEQ:`, a comma or a line end, so the value stops being a
/// decimal number and `SEQ:<n>` stops being one.
pub const CORRUPT_BYTES: &[u8] = b"x#/!?*@%";

/// `--delay MS[±JITTER]`: each datagram is held `ms ± jitter_ms`
/// (uniform), in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delay {
    pub ms: u32,
    pub jitter_ms: u32,
}

impl Delay {
    /// Parses `MS`, `MS±JITTER` or `MS+-JITTER` (whole milliseconds).
    pub fn parse(s: &str) -> Result<Delay, String> {
        let s = s.trim();
        let (ms, jitter) = match s.split_once('±').or_else(|| s.split_once("+-")) {
            Some((a, b)) => (a.trim(), Some(b.trim())),
            None => (s, None),
        };
        let num = |t: &str, what: &str| -> Result<u32, String> {
            t.parse::<u32>()
                .map_err(|_| format!("--delay {s}: {what} `{t}` is not a whole number of ms"))
        };
        let d = Delay {
            ms: num(ms, "delay")?,
            jitter_ms: jitter.map_or(Ok(0), |j| num(j, "jitter"))?,
        };
        if d.jitter_ms > d.ms {
            return Err(format!("--delay {s}: the jitter must not exceed the delay"));
        }
        if d.ms.saturating_add(d.jitter_ms) > MAX_DELAY_MS {
            return Err(format!(
                "--delay {s}: delay + jitter must be at most {MAX_DELAY_MS} ms (below the hub's 3 s cycle timeout)"
            ));
        }
        Ok(d)
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0
    }

    /// The longest delay this setting can give.
    pub fn max(&self) -> Duration {
        Duration::from_millis(u64::from(self.ms + self.jitter_ms))
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.jitter_ms == 0 {
            write!(f, "{} ms", self.ms)
        } else {
            write!(f, "{}±{} ms", self.ms, self.jitter_ms)
        }
    }
}

/// The faults of a run (all off by default). Reading an older report's
/// `config`, which has no `faults`, gives all off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Probability that a datagram is sent after the next one of its cycle.
    pub reorder: f64,
    /// Probability that a datagram is sent twice.
    pub duplicate: f64,
    /// Probability that a datagram is corrupted so it no longer parses.
    pub corrupt: f64,
    pub delay: Delay,
}

impl Faults {
    /// True when any fault is on.
    pub fn any(&self) -> bool {
        self.reorder > 0.0 || self.duplicate > 0.0 || self.corrupt > 0.0 || !self.delay.is_zero()
    }

    /// Checks the probabilities (the delay is checked by [`Delay::parse`]).
    pub fn validate(&self) -> Result<(), String> {
        for (flag, p, top) in [
            ("--reorder", self.reorder, 1.0),
            ("--duplicate", self.duplicate, 1.0),
            ("--corrupt", self.corrupt, 1.0 - f64::EPSILON),
        ] {
            if !(0.0..=top).contains(&p) {
                let range = if top < 1.0 { "[0, 1)" } else { "[0, 1]" };
                return Err(format!("{flag} must be a probability in {range}"));
            }
        }
        Ok(())
    }

    /// One line for the summary, e.g. `reorder 0.1, duplicate 0.05, delay 50±10 ms`.
    pub fn describe(&self) -> String {
        let mut v = Vec::new();
        for (name, p) in [
            ("reorder", self.reorder),
            ("duplicate", self.duplicate),
            ("corrupt", self.corrupt),
        ] {
            if p > 0.0 {
                v.push(format!("{name} {p}"));
            }
        }
        if !self.delay.is_zero() {
            v.push(format!("delay {}", self.delay));
        }
        if v.is_empty() {
            "none".into()
        } else {
            v.join(", ")
        }
    }
}

/// Which field a [`Corruption`] damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The 4th field, the reading's value.
    Value,
    /// The 5th field, `SEQ:<n>`.
    Seq,
}

/// One byte of one field replaced: applied to the encoded datagram by
/// [`Corruption::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corruption {
    pub field: Field,
    /// Picks the byte within the field (modulo its length).
    pub pick: u8,
    /// One of [`CORRUPT_BYTES`].
    pub byte: u8,
}

impl Corruption {
    /// Replaces one byte of the field in the encoded datagram `buf`. The
    /// result is malformed under PROTOCOL.md: the value is no longer a
    /// decimal number, or the SEQ field no longer `SEQ:<n>`. Returns false
    /// (nothing changed) when `buf` does not have the field.
    pub fn apply(&self, buf: &mut [u8]) -> bool {
        let index = match self.field {
            Field::Value => 3,
            Field::Seq => 4,
        };
        let mut start = 0;
        for _ in 0..index {
            match buf[start..].iter().position(|&b| b == b',') {
                Some(i) => start += i + 1,
                None => return false,
            }
        }
        let len = buf[start..]
            .iter()
            .position(|&b| b == b',' || b == b'\n')
            .unwrap_or(buf.len() - start);
        if len == 0 {
            return false;
        }
        buf[start + usize::from(self.pick) % len] = self.byte;
        true
    }
}

/// What happens to one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Roll {
    pub corrupt: Option<Corruption>,
    pub duplicate: bool,
    /// Held back to go after the next datagram of its cycle.
    pub reorder: bool,
    /// Held this long before sending (before keeping the order).
    pub delay: Duration,
}

/// The fault decisions of one device.
#[derive(Debug, Clone, Copy)]
pub struct Dice {
    faults: Faults,
    seed: u64,
}

/// Separates the fault stream from the loss and backoff stream of the
/// same seed and device.
const SALT: u64 = 0xFA17_5EED_0BAD_F00D;

impl Dice {
    /// The dice of device number `device` (its global index) in a run
    /// seeded with `seed`.
    pub fn new(faults: Faults, seed: u64, device: u64) -> Dice {
        let mut g = SplitMix64::new(seed ^ SALT, device);
        Dice {
            faults,
            seed: g.next_u64(),
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The faults of SEQ `seq` of cycle `cycle`: the same for the same
    /// seed, device, cycle and SEQ, whatever else happened. Every draw is
    /// made whether or not its fault is on, so turning one fault on does
    /// not move another's choices.
    pub fn roll(&self, cycle: u64, seq: u32) -> Roll {
        let f = &self.faults;
        let mut g = SplitMix64::new(
            self.seed ^ cycle.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            u64::from(seq),
        );
        let corrupt = g.next_f64() < f.corrupt;
        let pick = g.next_u64();
        let duplicate = g.next_f64() < f.duplicate;
        let reorder = g.next_f64() < f.reorder;
        let jitter = g.next_f64() * 2.0 - 1.0;
        let d = &f.delay;
        let ms = f64::from(d.ms) + jitter * f64::from(d.jitter_ms);
        Roll {
            corrupt: corrupt.then(|| Corruption {
                field: if pick & 1 == 0 {
                    Field::Value
                } else {
                    Field::Seq
                },
                pick: (pick >> 8) as u8,
                byte: CORRUPT_BYTES[(pick >> 16) as usize % CORRUPT_BYTES.len()],
            }),
            duplicate,
            reorder,
            delay: Duration::from_secs_f64(ms.max(0.0) / 1e3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub::protocol::Datagram;

    fn faults(reorder: f64, duplicate: f64, corrupt: f64, delay: &str) -> Faults {
        Faults {
            reorder,
            duplicate,
            corrupt,
            delay: Delay::parse(delay).unwrap(),
        }
    }

    #[test]
    fn delay_flags_parse_and_refuse() {
        assert_eq!(
            Delay::parse("50").unwrap(),
            Delay {
                ms: 50,
                jitter_ms: 0
            }
        );
        assert_eq!(
            Delay::parse("50±10").unwrap(),
            Delay {
                ms: 50,
                jitter_ms: 10
            }
        );
        assert_eq!(
            Delay::parse("50+-10").unwrap(),
            Delay::parse("50 ± 10").unwrap()
        );
        for bad in [
            "", "fast", "-5", "50±", "50±x", "1.5", "10±20", "1999±2", "5000",
        ] {
            let e = Delay::parse(bad).unwrap_err();
            assert!(e.starts_with("--delay"), "{bad}: {e}");
        }
        assert_eq!(Delay::parse("2000").unwrap().max(), Duration::from_secs(2));
    }

    #[test]
    fn probabilities_are_checked() {
        assert!(faults(1.0, 1.0, 0.5, "0").validate().is_ok());
        for f in [
            faults(-0.1, 0.0, 0.0, "0"),
            faults(0.0, 1.5, 0.0, "0"),
            faults(0.0, 0.0, 1.0, "0"),
            faults(f64::NAN, 0.0, 0.0, "0"),
        ] {
            assert!(f.validate().is_err(), "{f:?}");
        }
        assert!(!Faults::default().any());
        assert_eq!(Faults::default().describe(), "none");
        assert_eq!(
            faults(0.1, 0.0, 0.02, "50±5").describe(),
            "reorder 0.1, corrupt 0.02, delay 50±5 ms"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_and_others_differ() {
        let f = faults(0.3, 0.3, 0.3, "50±20");
        let a = Dice::new(f, 7, 3);
        let b = Dice::new(f, 7, 3);
        let rolls = |d: &Dice| -> Vec<Roll> {
            (1..=20u64)
                .flat_map(|c| (1..=10).map(move |s| (c, s)))
                .map(|(c, s)| d.roll(c, s))
                .collect()
        };
        assert_eq!(rolls(&a), rolls(&b));
        assert_ne!(rolls(&a), rolls(&Dice::new(f, 8, 3)), "another seed");
        assert_ne!(rolls(&a), rolls(&Dice::new(f, 7, 4)), "another device");
        // Turning a fault off moves no other fault's choices.
        let only_dup = Dice::new(faults(0.0, 0.3, 0.0, "0"), 7, 3);
        let dups = |d: &Dice| rolls(d).iter().map(|r| r.duplicate).collect::<Vec<_>>();
        assert_eq!(dups(&a), dups(&only_dup));
    }

    #[test]
    fn rates_and_delays_are_what_was_asked() {
        let d = Dice::new(faults(0.1, 0.2, 0.05, "50±10"), 1, 0);
        let n = 20_000;
        let rolls: Vec<Roll> = (0..n)
            .map(|i| d.roll(i / 10, (i % 10) as u32 + 1))
            .collect();
        let count = |f: fn(&Roll) -> bool| rolls.iter().filter(|r| f(r)).count();
        assert!((1_700..2_300).contains(&count(|r| r.reorder)));
        assert!((3_600..4_400).contains(&count(|r| r.duplicate)));
        assert!((800..1_200).contains(&count(|r| r.corrupt.is_some())));
        let lo = Duration::from_millis(40);
        let hi = Duration::from_millis(60);
        assert!(rolls.iter().all(|r| (lo..=hi).contains(&r.delay)));
        let mean = rolls.iter().map(|r| r.delay.as_secs_f64()).sum::<f64>() / n as f64;
        assert!((0.0495..0.0505).contains(&mean), "{mean}");
        let off = Dice::new(Faults::default(), 1, 0);
        assert!((0..1000).all(|i| off.roll(i, 1) == Roll::default()));
    }

    #[test]
    fn every_corruption_makes_the_datagram_malformed() {
        let d = Dice::new(faults(0.0, 0.0, 0.9, "0"), 5, 1);
        let mut corrupted = 0;
        for cycle in 1..200u64 {
            for seq in 1..=10u32 {
                let Some(c) = d.roll(cycle, seq).corrupt else {
                    continue;
                };
                let g = Datagram {
                    name: "Sensor0001",
                    timestamp: "2026-12-01 13:00:00",
                    kind: "temperature",
                    value: f64::from(200 + seq) / 10.0,
                    seq,
                    cycle: Some(cycle),
                };
                let mut buf = [0u8; 256];
                let n = g.encode(&mut buf).unwrap();
                let before = buf[..n].to_vec();
                assert!(c.apply(&mut buf[..n]));
                assert_ne!(&buf[..n], &before[..], "{c:?}");
                assert!(
                    Datagram::parse(&buf[..n]).is_err(),
                    "{c:?} left {} parseable",
                    String::from_utf8_lossy(&buf[..n])
                );
                corrupted += 1;
            }
        }
        assert!(corrupted > 1500, "{corrupted}");
    }

    #[test]
    fn a_corruption_needs_its_field() {
        let c = Corruption {
            field: Field::Seq,
            pick: 0,
            byte: b'x',
        };
        let mut short = *b"a,b,c,1";
        assert!(!c.apply(&mut short));
        assert_eq!(&short, b"a,b,c,1");
    }
}
