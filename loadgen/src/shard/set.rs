//! What `loadgen merge` checks before it adds shard reports: that they are
//! one whole run. Every report carries a `shard` section, or none does
//! (generators started by hand merge as before, with merge's own disjoint
//! range and config checks). For shard reports:
//! - one run id (`run.run_id`) and one fleet (`shard.count`, `fleet_*`):
//!   a report of another run is *foreign* and named;
//! - each index `0..N` at most once (a *duplicate* is named with both files),
//!   and each shard holds exactly the devices the split gives its index;
//! - every index present: *missing* ones are named, and the merge refuses
//!   unless `--partial`, when the merged report's `shards.missing` lists them.
//!
//! It reads the reports typed ([`Report`]: `run.run_id`, `shard`, `config`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ShardInfo, ShardSpec};
use crate::report::Report;

/// The merged report's `shards` section.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SetSummary {
    pub run_id: String,
    pub count: u32,
    /// Indices merged, ascending.
    pub present: Vec<u32>,
    /// Indices not merged (only with `--partial`).
    pub missing: Vec<u32>,
    /// True when some shards are missing.
    pub partial: bool,
}

/// Why the reports are not one whole run of shards. `loadgen merge`
/// refuses with it as is; it is defined here, not by merge, so this check
/// depends on nothing of the merge that calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetError(pub String);

impl std::fmt::Display for SetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot merge: {}", self.0)
    }
}

impl std::error::Error for SetError {}

fn refuse(s: String) -> SetError {
    SetError(s)
}

fn list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// Checks the set; `Ok(None)` when no report is a shard.
pub fn check(reports: &[(String, Report)], partial: bool) -> Result<Option<SetSummary>, SetError> {
    let shards: Vec<(&str, &Report, Option<&ShardInfo>)> = reports
        .iter()
        .map(|(n, r)| (n.as_str(), r, r.shard.as_ref()))
        .collect();
    if shards.iter().all(|s| s.2.is_none()) {
        return Ok(None);
    }
    if let Some((plain, _, _)) = shards.iter().find(|s| s.2.is_none()) {
        let (sharded, _, _) = shards.iter().find(|s| s.2.is_some()).expect("one is");
        return Err(refuse(format!(
            "{plain} is not a shard but {sharded} is: merge one run's shards, or reports of hand-started generators, not both"
        )));
    }
    let run_id = |r: &Report| r.run.run_id.clone().unwrap_or_default();
    let (first_name, first_doc, first) = (shards[0].0, shards[0].1, shards[0].2.expect("sharded"));
    let id = run_id(first_doc);
    let mut by_index: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, d, s) in &shards {
        let s = s.expect("sharded");
        let theirs = run_id(d);
        if theirs != id {
            return Err(refuse(format!(
                "{name} is shard {}/{} of run `{theirs}`, not of run `{id}` ({first_name}): a foreign shard",
                s.index, s.count
            )));
        }
        let fleet = |s: &ShardInfo| {
            (
                s.count,
                s.fleet_devices,
                s.fleet_first_id,
                s.fleet_seed,
                s.fleet_rate.map(f64::to_bits),
                s.fleet_connect_rate.to_bits(),
            )
        };
        if fleet(s) != fleet(first) {
            return Err(refuse(format!(
                "{name}: run `{id}` but another fleet than {first_name} (count, devices, first id, seed or rates differ)"
            )));
        }
        let spec = ShardSpec::new(s.index, s.count).map_err(|e| refuse(format!("{name}: {e}")))?;
        if let Some(other) = by_index.insert(s.index, name) {
            return Err(refuse(format!(
                "shard {} of run `{id}` appears twice: {other} and {name}",
                s.index
            )));
        }
        let (offset, n) = spec.devices(s.fleet_devices);
        let want_first = s.fleet_first_id + u64::from(offset);
        let (got_first, got_n) = (d.config.first_id, d.config.devices);
        if (got_first, got_n) != (want_first, n) {
            return Err(refuse(format!(
                "{name}: shard {spec} should hold {n} devices from {want_first} but holds {got_n} from {got_first}"
            )));
        }
    }
    let present: Vec<u32> = by_index.keys().copied().collect();
    let missing: Vec<u32> = (0..first.count)
        .filter(|i| !by_index.contains_key(i))
        .collect();
    if !missing.is_empty() && !partial {
        return Err(refuse(format!(
            "run `{id}`: shard{} {} of {} missing (add --partial to merge the {} present)",
            if missing.len() == 1 { "" } else { "s" },
            list(&missing),
            first.count,
            present.len()
        )));
    }
    Ok(Some(SetSummary {
        run_id: id,
        count: first.count,
        partial: !missing.is_empty(),
        present,
        missing,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shard `index` of `count` of a 10-device fleet from 1, in run `run`.
    fn shard(run: &str, index: u32, count: u32) -> (String, Report) {
        let (off, n) = ShardSpec::new(index, count).unwrap().devices(10);
        let mut r = crate::report::fixture::report(&["--devices", &n.to_string()]);
        r.run.run_id = Some(run.into());
        r.config.first_id = 1 + u64::from(off);
        r.shard = Some(ShardInfo {
            index,
            count,
            engine: "flag".into(),
            fleet_devices: 10,
            fleet_first_id: 1,
            fleet_seed: 7,
            fleet_rate: None,
            fleet_connect_rate: 100.0,
        });
        (format!("{run}-{index}.json"), r)
    }

    #[test]
    fn a_whole_set_passes_in_any_order() {
        let docs = vec![shard("r", 2, 3), shard("r", 0, 3), shard("r", 1, 3)];
        let s = check(&docs, false).unwrap().unwrap();
        assert_eq!(
            s,
            SetSummary {
                run_id: "r".into(),
                count: 3,
                present: vec![0, 1, 2],
                missing: vec![],
                partial: false
            }
        );
    }

    #[test]
    fn missing_shards_are_named_and_refused_unless_partial() {
        let docs = vec![shard("r", 0, 5), shard("r", 3, 5)];
        let e = check(&docs, false).unwrap_err().to_string();
        assert_eq!(
            e,
            "cannot merge: run `r`: shards 1, 2, 4 of 5 missing (add --partial to merge the 2 present)"
        );
        let s = check(&docs, true).unwrap().unwrap();
        assert_eq!(
            (s.present, s.missing, s.partial),
            (vec![0, 3], vec![1, 2, 4], true)
        );
    }

    #[test]
    fn duplicate_foreign_and_overlapping_shards_are_refused() {
        let e = check(&[shard("r", 0, 2), shard("r", 0, 2)], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("shard 0 of run `r` appears twice: r-0.json and r-0.json"),
            "{e}"
        );
        let e = check(&[shard("r", 0, 2), shard("other", 1, 2)], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("other-1.json is shard 1/2 of run `other`, not of run `r`"),
            "{e}"
        );
        // A shard holding more than its split (overlapping its neighbour).
        let mut wide = shard("r", 1, 2);
        wide.1.config.first_id = 4;
        wide.1.config.devices = 7;
        let e = check(&[shard("r", 0, 2), wide], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("should hold 5 devices from 6 but holds 7 from 4"),
            "{e}"
        );
        // Another fleet under the same run id (another split count).
        let e = check(&[shard("r", 0, 2), shard("r", 1, 3)], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another fleet"), "{e}");
        // Shards mixed with a hand-started report.
        let mut plain = shard("r", 1, 2);
        plain.1.shard = None;
        let e = check(&[shard("r", 0, 2), plain], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is not a shard"), "{e}");
        // No shard anywhere: merge's own checks apply.
        let (mut a, mut b) = (shard("r", 0, 2), shard("r", 1, 2));
        a.1.shard = None;
        b.1.shard = None;
        assert_eq!(check(&[a, b], false).unwrap(), None);
    }
}
