//! Reading reports back from disk for the offline subcommands (`merge`,
//! `hgrm`, `table`). [`load_typed`] gives a [`Report`]: the schema's own
//! structs, which read schema 1 and 2 alike (keys newer than the oldest
//! reports have defaults, see `report::schema`). [`load_report`] gives the
//! JSON tree, for `merge`, which writes each input's own keys back.
//! Reading is bounded ([`MAX_REPORT_BYTES`], histograms in
//! `histo::decode_histogram`), and both refuse, in one line naming the file,
//! a file that is not a loadgen report of a schema version this build
//! knows, or (typed) one whose sections do not fit the schema.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::report::Report;

/// Largest report file read (a 5000-device run is well under 1 MB; the cap
/// only stops a wrong path from filling memory).
pub const MAX_REPORT_BYTES: u64 = 32 << 20;

/// Report schema versions this build reads (1: before datagram fates and
/// checks; 2: current).
pub const KNOWN_SCHEMAS: [u64; 2] = [1, 2];

/// Sections every loadgen report has (`timeline` is newer than schema 1's
/// first reports, so it is optional).
pub const REQUIRED: [&str; 6] = ["run", "config", "devices", "udp", "latency_us", "counters"];

/// Why a report file could not be used.
#[derive(Debug)]
pub enum FileError {
    Io(PathBuf, io::Error),
    Json(PathBuf, serde_json::Error),
    TooLarge(PathBuf),
    /// Valid JSON, but not the layout expected (one line says what).
    Shape(String),
    /// A known report version whose sections do not fit [`Report`].
    Schema(PathBuf, serde_json::Error),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            FileError::Json(p, e) => write!(f, "{}: not JSON: {e}", p.display()),
            FileError::TooLarge(p) => {
                write!(f, "{}: larger than {MAX_REPORT_BYTES} bytes", p.display())
            }
            FileError::Shape(s) => f.write_str(s),
            FileError::Schema(p, e) => {
                write!(f, "{}: does not fit the report schema: {e}", p.display())
            }
        }
    }
}

impl std::error::Error for FileError {}

/// Reads one JSON document.
pub fn load(path: &Path) -> Result<Value, FileError> {
    use std::io::Read;
    let io_err = |e| FileError::Io(path.to_path_buf(), e);
    if std::fs::metadata(path).map_err(io_err)?.len() > MAX_REPORT_BYTES {
        return Err(FileError::TooLarge(path.to_path_buf()));
    }
    // Read through a cap too: the file may grow, or be a pipe.
    let mut text = Vec::new();
    std::fs::File::open(path)
        .map_err(io_err)?
        .take(MAX_REPORT_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(io_err)?;
    if text.len() as u64 > MAX_REPORT_BYTES {
        return Err(FileError::TooLarge(path.to_path_buf()));
    }
    parse_report_bytes(&text).map_err(|e| match e {
        Parsed::Json(e) => FileError::Json(path.to_path_buf(), e),
        Parsed::Shape(s) => FileError::Shape(format!("{}: {s}", path.display())),
    })
}

/// Reads one loadgen report (see [`check_report`]).
pub fn load_report(path: &Path) -> Result<Value, FileError> {
    let v = load(path)?;
    check_report(&v).map_err(|s| FileError::Shape(format!("{}: {s}", path.display())))?;
    Ok(v)
}

/// Reads one loadgen report into the schema's structs: [`load_report`]'s
/// checks, then [`typed`].
pub fn load_typed(path: &Path) -> Result<Report, FileError> {
    typed(path, &load_report(path)?)
}

/// The typed reading of `v`, a document [`check_report`] passed, read from
/// `path` (named in the error).
pub fn typed(path: &Path, v: &Value) -> Result<Report, FileError> {
    Report::deserialize(v).map_err(|e| FileError::Schema(path.to_path_buf(), e))
}

/// Why bytes are not a usable document.
#[derive(Debug)]
pub enum Parsed {
    Json(serde_json::Error),
    Shape(String),
}

/// Parses a JSON document (the fuzz target's entry point).
pub fn parse_report_bytes(bytes: &[u8]) -> Result<Value, Parsed> {
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        return Err(Parsed::Shape(format!(
            "larger than {MAX_REPORT_BYTES} bytes"
        )));
    }
    serde_json::from_slice(bytes).map_err(Parsed::Json)
}

/// Ok when `v` is a loadgen report this build reads: a known
/// `schema_version` and every [`REQUIRED`] section, each an object;
/// otherwise one line saying what is wrong.
pub fn check_report(v: &Value) -> Result<(), String> {
    if !v.is_object() {
        return Err("not a loadgen report (not a JSON object)".into());
    }
    let ver = match v.get("schema_version") {
        None => return Err("not a loadgen report (no schema_version)".into()),
        Some(x) => x.as_u64(),
    };
    match ver {
        Some(n) if KNOWN_SCHEMAS.contains(&n) => {}
        _ => {
            return Err(format!(
                "schema_version {} is not one this loadgen reads ({:?})",
                v["schema_version"], KNOWN_SCHEMAS
            ))
        }
    }
    for k in REQUIRED {
        if !v.get(k).is_some_and(Value::is_object) {
            return Err(format!(
                "not a loadgen report: section `{k}` missing or malformed"
            ));
        }
    }
    Ok(())
}

/// Follows `a.b.c` through objects.
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal(ver: u64) -> Value {
        json!({"schema_version": ver, "run": {}, "config": {}, "devices": {},
               "udp": {}, "latency_us": {}, "counters": {}})
    }

    #[test]
    fn only_known_reports_pass() {
        assert!(check_report(&minimal(1)).is_ok());
        assert!(check_report(&minimal(2)).is_ok());
        let e = check_report(&minimal(99)).unwrap_err();
        assert!(e.contains("schema_version 99"), "{e}");
        let mut v = minimal(2);
        v.as_object_mut().unwrap().remove("udp");
        assert!(check_report(&v).unwrap_err().contains("`udp`"));
        assert!(check_report(&json!({"kind": "limits"})).is_err());
        assert!(check_report(&json!([1, 2])).is_err());
    }

    /// What the fuzz target (`loadgen/fuzz`) does, on its seed corpus plus
    /// a few hostile cuts of it: every call returns, none panics.
    #[test]
    fn the_fuzz_targets_calls_survive_the_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/report");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            for cut in [bytes.len(), bytes.len() / 2, 7, 0] {
                let data = &bytes[..cut.min(bytes.len())];
                if let Ok(s) = std::str::from_utf8(data) {
                    let _ = crate::report::histo::decode_histogram(s.trim());
                }
                if let Ok(v) = parse_report_bytes(data) {
                    if check_report(&v).is_ok() {
                        let _ = typed(Path::new("corpus"), &v);
                        for k in v["latency_us"].as_object().into_iter().flatten() {
                            let _ = crate::report::histo::decode_histogram(
                                k.1["hist"].as_str().unwrap_or(""),
                            );
                        }
                        n += 1;
                    }
                }
            }
        }
        assert!(n >= 2, "the corpus holds valid reports");
    }

    fn tmp(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("reportfile-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn every_committed_report_loads_typed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        crate::report::fixture::committed_reports(&root.join("../bench-results"), &mut files);
        crate::report::fixture::committed_reports(&root.join("tests/fixtures"), &mut files);
        assert!(files.len() >= 100, "{} reports", files.len());
        for p in &files {
            let r = load_typed(p).unwrap_or_else(|e| panic!("{e}"));
            assert!(KNOWN_SCHEMAS.contains(&u64::from(r.schema_version)));
        }
    }

    #[test]
    fn a_report_outside_the_schema_is_one_line_naming_file_and_field() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2run.json");
        let mut v: Value = serde_json::from_slice(&std::fs::read(&fixture).unwrap()).unwrap();
        v["udp"]["sent"] = serde_json::json!("many");
        let p = tmp("bent.json", &v.to_string());
        let e = load_typed(&p).unwrap_err().to_string();
        v["udp"].as_object_mut().unwrap().remove("sent");
        let q = tmp("short.json", &v.to_string());
        let f = load_typed(&q).unwrap_err().to_string();
        // The size cap and version check come first, as for the tree.
        v["schema_version"] = serde_json::json!(99);
        let r = tmp("future.json", &v.to_string());
        let g = load_typed(&r).unwrap_err().to_string();
        for x in [&p, &q, &r] {
            let _ = std::fs::remove_file(x);
        }
        assert!(
            e.starts_with(&format!(
                "{}: does not fit the report schema: ",
                p.display()
            )) && e.contains("invalid type: string \"many\"")
                && e.lines().count() == 1,
            "{e}"
        );
        assert!(f.contains("missing field `sent`"), "{f}");
        assert!(g.contains("schema_version 99"), "{g}");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_unread() {
        let p = std::env::temp_dir().join(format!("big-report-{}.json", std::process::id()));
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(MAX_REPORT_BYTES + 1).unwrap();
        let e = load(&p).unwrap_err().to_string();
        let t = load_typed(&p).unwrap_err().to_string();
        let _ = std::fs::remove_file(&p);
        assert!(e.contains("larger than"), "{e}");
        assert!(t.contains("larger than"), "{t}");
    }
}
