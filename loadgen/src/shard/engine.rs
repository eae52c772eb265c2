//! `--shard auto`: the shard index and count from the environment of the
//! engine that launched the process. The variables are read through a
//! lookup function, so each engine is tested without touching the process
//! environment.
//!
//! | engine | index | count |
//! |---|---|---|
//! | Slurm (`srun`) | `SLURM_PROCID` | `SLURM_NTASKS` |
//! | Kubernetes Indexed Job | `JOB_COMPLETION_INDEX` | `--shards` |
//! | Open MPI (`mpirun`) | `OMPI_COMM_WORLD_RANK` | `OMPI_COMM_WORLD_SIZE` |
//! | MPICH / Hydra, PMI | `PMI_RANK` | `PMI_SIZE` |

use super::split::ShardSpec;

/// An engine `--shard auto` understands: its name and its (index, count)
/// variables (`None` for the count: `--shards` gives it).
const ENGINES: &[(&str, &str, Option<&str>)] = &[
    ("slurm", "SLURM_PROCID", Some("SLURM_NTASKS")),
    ("kubernetes", "JOB_COMPLETION_INDEX", None),
    (
        "openmpi",
        "OMPI_COMM_WORLD_RANK",
        Some("OMPI_COMM_WORLD_SIZE"),
    ),
    ("pmi", "PMI_RANK", Some("PMI_SIZE")),
];

/// The shard given by the first engine whose index variable is set, and
/// that engine's name. `shards` is `--shards`, required for Kubernetes.
pub fn detect(
    env: &dyn Fn(&str) -> Option<String>,
    shards: Option<u32>,
) -> Result<(ShardSpec, &'static str), String> {
    for &(engine, index_var, count_var) in ENGINES {
        let Some(index) = env(index_var) else {
            continue;
        };
        let num = |var: &str, v: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("--shard auto ({engine}): {var}=`{v}` is not a whole number"))
        };
        let index = num(index_var, &index)?;
        let count = match count_var {
            Some(var) => {
                let v = env(var).ok_or_else(|| {
                    format!("--shard auto ({engine}): {index_var} is set but {var} is not")
                })?;
                let n = num(var, &v)?;
                if let Some(s) = shards.filter(|&s| s != n) {
                    return Err(format!(
                        "--shard auto ({engine}): --shards {s} disagrees with {var}={n}"
                    ));
                }
                n
            }
            None => shards.ok_or_else(|| {
                format!(
                    "--shard auto ({engine}): {index_var} gives only the index; add --shards N (the Job's completions)"
                )
            })?,
        };
        let spec =
            ShardSpec::new(index, count).map_err(|e| format!("--shard auto ({engine}): {e}"))?;
        return Ok((spec, engine));
    }
    let vars: Vec<&str> = ENGINES.iter().map(|e| e.1).collect();
    Err(format!(
        "--shard auto: no launcher variable is set (looked for {}); give --shard I/N instead",
        vars.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(
        vars: &[(&str, &str)],
        shards: Option<u32>,
    ) -> Result<(ShardSpec, &'static str), String> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect(&move |k| m.get(k).cloned(), shards)
    }

    fn spec(index: u32, count: u32) -> ShardSpec {
        ShardSpec { index, count }
    }

    #[test]
    fn each_engine() {
        assert_eq!(
            with(&[("SLURM_PROCID", "2"), ("SLURM_NTASKS", "3")], None),
            Ok((spec(2, 3), "slurm"))
        );
        assert_eq!(
            with(&[("JOB_COMPLETION_INDEX", "4")], Some(5)),
            Ok((spec(4, 5), "kubernetes"))
        );
        assert_eq!(
            with(
                &[("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "8")],
                None
            ),
            Ok((spec(0, 8), "openmpi"))
        );
        assert_eq!(
            with(&[("PMI_RANK", "7"), ("PMI_SIZE", "8")], None),
            Ok((spec(7, 8), "pmi"))
        );
        // --shards may repeat the engine's count.
        assert_eq!(
            with(&[("SLURM_PROCID", "1"), ("SLURM_NTASKS", "3")], Some(3)),
            Ok((spec(1, 3), "slurm"))
        );
    }

    #[test]
    fn clear_errors() {
        let e = with(&[], Some(3)).unwrap_err();
        assert!(
            e.contains("no launcher variable")
                && e.contains("SLURM_PROCID")
                && e.contains("PMI_RANK"),
            "{e}"
        );
        let e = with(&[("JOB_COMPLETION_INDEX", "1")], None).unwrap_err();
        assert!(e.contains("--shards"), "{e}");
        let e = with(&[("JOB_COMPLETION_INDEX", "5")], Some(5)).unwrap_err();
        assert!(e.contains("not below"), "{e}");
        let e = with(&[("SLURM_PROCID", "1")], None).unwrap_err();
        assert!(e.contains("SLURM_NTASKS is not"), "{e}");
        let e = with(&[("SLURM_PROCID", "x"), ("SLURM_NTASKS", "3")], None).unwrap_err();
        assert!(e.contains("SLURM_PROCID=`x`"), "{e}");
        let e = with(&[("PMI_RANK", "1"), ("PMI_SIZE", "4")], Some(3)).unwrap_err();
        assert!(e.contains("disagrees"), "{e}");
    }
}
