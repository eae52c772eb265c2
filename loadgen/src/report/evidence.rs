//! The first few pieces of evidence behind a failed check, kept verbatim:
//! STATUS datagrams that were refused, the hub's reasons for refusing a
//! registration, the hub protocol violations that got a device
//! disconnected. Each list holds at most [`MAX_SAMPLES`] entries (each at
//! most [`MAX_SAMPLE_BYTES`]), so a hostile hub cannot grow it.

use serde::{Deserialize, Serialize};

/// Entries kept per list (per worker, and in the report).
pub const MAX_SAMPLES: usize = 5;
/// Longest entry kept; longer ones are cut and end in `…`.
pub const MAX_SAMPLE_BYTES: usize = 120;

/// Verbatim evidence, a few entries per kind.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Samples {
    /// STATUS datagrams that failed validation, with the reason.
    pub status_invalid: Vec<String>,
    /// Registrations the hub refused (`ERROR …` or a close), with the reason.
    pub refusals: Vec<String>,
    /// Hub protocol violations (endless line, flood…), with the device.
    pub violations: Vec<String>,
}

/// Printable, capped text of `bytes`.
pub fn show(bytes: &[u8]) -> String {
    let mut s: String = bytes
        .iter()
        .take(MAX_SAMPLE_BYTES)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    if bytes.len() > MAX_SAMPLE_BYTES {
        s.push('…');
    }
    s
}

/// Adds `make()` to `list` unless it is full (`make` runs only then).
pub fn keep(list: &mut Vec<String>, make: impl FnOnce() -> String) {
    if list.len() < MAX_SAMPLES {
        list.push(make());
    }
}

impl Samples {
    /// Adds `o`'s entries until each list is full.
    pub fn merge(&mut self, o: &Samples) {
        for (a, b) in [
            (&mut self.status_invalid, &o.status_invalid),
            (&mut self.refusals, &o.refusals),
            (&mut self.violations, &o.violations),
        ] {
            for s in b {
                keep(a, || s.clone());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.status_invalid.is_empty() && self.refusals.is_empty() && self.violations.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_capped_and_text_is_printable() {
        let mut s = Samples::default();
        for i in 0..20 {
            keep(&mut s.refusals, || format!("r{i}"));
        }
        assert_eq!(s.refusals.len(), MAX_SAMPLES);
        let mut t = Samples::default();
        t.merge(&s);
        t.merge(&s);
        assert_eq!(t.refusals.len(), MAX_SAMPLES);
        assert_eq!(show(b"ok\x00\xff"), "ok??");
        assert!(show(&[b'x'; 1000]).ends_with('…'));
        assert!(show(&[b'x'; 1000]).len() < MAX_SAMPLE_BYTES + 4);
    }
}
