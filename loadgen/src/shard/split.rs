//! The deterministic split of one fleet over `N` shards: shard `I` holds
//! the contiguous device numbers `[⌊I·D/N⌋, ⌊(I+1)·D/N⌋)`, so every device
//! is in exactly one shard and shard sizes differ by at most one. Fleet
//! rates (`--rate`, `--connect-rate`) are split in proportion to the
//! devices, so each shard's rate per device is the fleet's.

use std::fmt;

/// Most shards one fleet may be split into (a shard holds at least one
/// device, and merge reads every shard's report).
pub const MAX_SHARDS: u32 = 65_536;

/// One shard of a fleet: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl ShardSpec {
    /// Checks `index < count <= MAX_SHARDS`.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!("shard count must be 1..={MAX_SHARDS}, not {count}"));
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is not below the shard count {count} (indices count from 0)"
            ));
        }
        Ok(ShardSpec { index, count })
    }

    /// Parses `I/N`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("--shard `{s}`: expected I/N (e.g. 0/3) or auto"))?;
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("--shard `{s}`: `{t}` is not a whole number"))
        };
        Self::new(num(i)?, num(n)?).map_err(|e| format!("--shard `{s}`: {e}"))
    }

    /// The shard's devices as `(offset, count)` within a fleet of
    /// `devices`: the offset is the 0-based fleet index of its first device.
    pub fn devices(&self, devices: u32) -> (u32, u32) {
        let at = |i: u32| (u64::from(i) * u64::from(devices) / u64::from(self.count)) as u32;
        let (lo, hi) = (at(self.index), at(self.index + 1));
        (lo, hi - lo)
    }

    /// The shard's part of a fleet-wide `rate` over `devices` devices.
    pub fn rate(&self, rate: f64, devices: u32) -> f64 {
        let (_, n) = self.devices(devices);
        rate * f64::from(n) / f64::from(devices)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_device_in_exactly_one_shard_for_awkward_counts() {
        for devices in [1u32, 2, 3, 7, 10, 97, 100, 1000, 19_800, 999_983] {
            for count in [1u32, 2, 3, 4, 6, 7, 11, 13, 64, 97] {
                if count > devices {
                    continue;
                }
                let mut next = 0;
                let mut sizes = Vec::new();
                for index in 0..count {
                    let (off, n) = ShardSpec::new(index, count).unwrap().devices(devices);
                    assert_eq!(off, next, "{index}/{count} of {devices}: gap or overlap");
                    assert!(n >= 1, "{index}/{count} of {devices} is empty");
                    next = off + n;
                    sizes.push(n);
                }
                assert_eq!(next, devices, "{count} shards of {devices} miss devices");
                let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(
                    hi - lo <= 1,
                    "{count} shards of {devices}: sizes {lo}..{hi}"
                );
            }
        }
    }

    #[test]
    fn rates_sum_to_the_fleet_rate_and_keep_the_rate_per_device() {
        for (rate, devices, count) in [
            (50_000.0, 19_800u32, 3u32),
            (1_000_003.0, 7, 3),
            (2000.0, 10, 4),
            (0.7, 97, 13),
            (123_456.789, 999_983, 64),
        ] {
            let parts: Vec<f64> = (0..count)
                .map(|i| ShardSpec::new(i, count).unwrap().rate(rate, devices))
                .collect();
            let sum: f64 = parts.iter().sum();
            // Exact in real numbers; in f64 to a few ulps of the total.
            assert!(
                (sum - rate).abs() <= 1e-12 * rate,
                "{count} shards of {rate}/s sum to {sum}"
            );
            for (i, p) in parts.iter().enumerate() {
                let (_, n) = ShardSpec::new(i as u32, count).unwrap().devices(devices);
                let per = p / f64::from(n);
                let want = rate / f64::from(devices);
                assert!(
                    (per - want).abs() <= 1e-12 * want,
                    "shard {i}: {per} per device"
                );
            }
        }
    }

    #[test]
    fn parse_and_bounds() {
        assert_eq!(
            ShardSpec::parse("2/3").unwrap(),
            ShardSpec { index: 2, count: 3 }
        );
        assert_eq!(ShardSpec::parse("2/3").unwrap().to_string(), "2/3");
        for bad in ["3/3", "1/0", "x/3", "1", "-1/3", "1/70000"] {
            assert!(ShardSpec::parse(bad).is_err(), "{bad}");
        }
        assert!(ShardSpec::parse("3/3")
            .unwrap_err()
            .contains("count from 0"));
    }
}
