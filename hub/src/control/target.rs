//! Which devices an operator `send` or `quit` selects, and the rule that
//! decides it ([`Target::selects`]). Besides one device, every device and a
//! type, an operator can select the devices of one load generator:
//! `prefix=<p>` (names starting with `p`) or `prefix=<p>,ids=<a>-<b>` (names
//! `p` followed by a decimal number `a <= n <= b`, any zero padding). A
//! load generator that shares the hub with others (a shard of a bigger
//! fleet) sends its waves this way, so they reach only its own devices.

/// Longest digit run after the prefix read as a device number (u64 holds 19).
pub const MAX_ID_DIGITS: usize = 19;

/// Which devices a `send` targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Device(String),
    All,
    Type(String),
    /// Names starting with `prefix`; with `ids`, only `prefix` + a number in
    /// that inclusive range.
    Prefix {
        prefix: String,
        ids: Option<(u64, u64)>,
    },
}

impl Target {
    /// True when the device `name` of type `kind` is one of the target's.
    pub fn selects(&self, name: &str, kind: &str) -> bool {
        match self {
            Target::Device(n) => n == name,
            Target::All => true,
            Target::Type(t) => t == kind,
            Target::Prefix { prefix, ids } => {
                let Some(rest) = name.strip_prefix(prefix.as_str()) else {
                    return false;
                };
                match ids {
                    None => true,
                    Some((first, last)) => number(rest).is_some_and(|n| *first <= n && n <= *last),
                }
            }
        }
    }
}

/// `rest` as a device number: 1..=[`MAX_ID_DIGITS`] ASCII digits, nothing else.
fn number(rest: &str) -> Option<u64> {
    if rest.is_empty() || rest.len() > MAX_ID_DIGITS || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_id_range_select_one_generators_devices() {
        let p = Target::Prefix {
            prefix: "Sensor".into(),
            ids: Some((7, 12)),
        };
        for (name, want) in [
            ("Sensor07", true),
            ("Sensor007", true),
            ("Sensor12", true),
            ("Sensor06", false),
            ("Sensor13", false),
            ("Sensor", false),
            ("Sensor1x", false),
            ("Sensor-8", false),
            ("Other08", false),
            ("Sensor99999999999999999999", false),
        ] {
            assert_eq!(p.selects(name, "t"), want, "{name}");
        }
        let any = Target::Prefix {
            prefix: "Gen2-".into(),
            ids: None,
        };
        assert!(any.selects("Gen2-x", "t"));
        assert!(!any.selects("Gen1-x", "t"));
        assert!(Target::Type("t".into()).selects("a", "t"));
        assert!(!Target::Device("a".into()).selects("b", "t"));
    }

    proptest::proptest! {
        /// A name `prefix` + `n` (any padding) is selected exactly when
        /// `first <= n <= last`, and the grammar gives that target back.
        #[test]
        fn the_range_is_exact(prefix in "[A-Za-z_.:-]{1,20}", n in 0u64..100_000, a in 0u64..100_000, b in 0u64..100_000, width in 1usize..8) {
            let (first, last) = (a.min(b), a.max(b));
            let line = format!("send prefix={prefix},ids={first}-{last} ACTIVATE_ALARM");
            let Ok(crate::ops::OpCommand::Send { target, .. }) = crate::ops::OpCommand::parse(&line) else {
                panic!("{line} does not parse");
            };
            let name = format!("{prefix}{n:0width$}");
            proptest::prop_assert_eq!(target.selects(&name, "t"), first <= n && n <= last);
        }
    }
}
