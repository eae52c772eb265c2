//! Reading reports back from disk for the offline subcommands (`merge`,
//! `hgrm`, `table`): a report is handled as a JSON tree, so files written by
//! older builds with extra or missing optional keys still load.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Largest report file read (a 5000-device run is well under 1 MB; the cap
/// only stops a wrong path from filling memory).
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// Why a report file could not be used.
#[derive(Debug)]
pub enum FileError {
    Io(PathBuf, io::Error),
    Json(PathBuf, serde_json::Error),
    TooLarge(PathBuf),
    /// Valid JSON, but not the layout expected (one line says what).
    Shape(String),
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
        }
    }
}

impl std::error::Error for FileError {}

/// Reads one JSON document.
pub fn load(path: &Path) -> Result<Value, FileError> {
    let io_err = |e| FileError::Io(path.to_path_buf(), e);
    if std::fs::metadata(path).map_err(io_err)?.len() > MAX_REPORT_BYTES {
        return Err(FileError::TooLarge(path.to_path_buf()));
    }
    let text = std::fs::read(path).map_err(io_err)?;
    serde_json::from_slice(&text).map_err(|e| FileError::Json(path.to_path_buf(), e))
}

/// Follows `a.b.c` through objects.
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}
