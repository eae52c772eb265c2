//! The database layout, versioned with `PRAGMA user_version`, and opening a
//! database the writer can use (WAL, `synchronous=NORMAL`).
//!
//! Version 1:
//! ```sql
//! CREATE TABLE readings (
//!     id        INTEGER PRIMARY KEY,  -- insertion order
//!     device    TEXT    NOT NULL,
//!     type      TEXT    NOT NULL,
//!     value     REAL    NOT NULL,
//!     device_ts TEXT    NOT NULL,     -- the device's timestamp text, as sent
//!     hub_us    INTEGER NOT NULL,     -- hub receive time, µs since the epoch
//!     seq       INTEGER NOT NULL,
//!     cycle     INTEGER               -- NULL when the datagram had none
//! );
//! CREATE INDEX readings_device_newest ON readings (device, hub_us DESC);
//! ```
//! A `CYCLE` above 2^63−1 does not fit SQLite's INTEGER and is stored as
//! its decimal text.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// The schema version this hub writes.
pub const SCHEMA_VERSION: i64 = 1;

/// How long a statement waits for a lock held by another process (a
/// `sqlite3` reader, say) before it fails and the batch is counted lost.
pub const BUSY_TIMEOUT: Duration = Duration::from_millis(200);

const CREATE_V1: &str = "
CREATE TABLE IF NOT EXISTS readings (
    id        INTEGER PRIMARY KEY,
    device    TEXT    NOT NULL,
    type      TEXT    NOT NULL,
    value     REAL    NOT NULL,
    device_ts TEXT    NOT NULL,
    hub_us    INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    cycle     INTEGER
);
CREATE INDEX IF NOT EXISTS readings_device_newest ON readings (device, hub_us DESC);
PRAGMA user_version = 1;
";

/// SQLite page cache of the writer's connection, KiB.
pub const CACHE_KIB: u32 = 64 * 1024;

/// WAL pages before SQLite checkpoints them into the database (the
/// default is 1,000): an index page dirtied by several commits between two
/// checkpoints is copied once.
pub const CHECKPOINT_PAGES: u32 = 16_384;

/// The statement every row goes through (prepared once, cached).
pub const INSERT: &str = "INSERT INTO readings (device, type, value, device_ts, hub_us, seq, cycle) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// One device's rows, newest first, from `?2` (µs) on, at most `?3`.
pub const HISTORY: &str = "SELECT device, type, value, device_ts, hub_us, seq, cycle FROM readings WHERE device = ?1 AND hub_us >= ?2 ORDER BY hub_us DESC, id DESC LIMIT ?3";

/// Opens (creating if need be) the database at `path`, in WAL mode, at
/// [`SCHEMA_VERSION`]. A database of another version is refused.
pub fn open(path: &Path) -> Result<Connection, String> {
    let c = Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    prepare(&c).map_err(|e| format!("cannot use {}: {e}", path.display()))?;
    Ok(c)
}

fn prepare(c: &Connection) -> Result<(), String> {
    let s = |e: rusqlite::Error| e.to_string();
    c.busy_timeout(BUSY_TIMEOUT).map_err(s)?;
    let mode: String = c
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(s)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("journal_mode is {mode}, not wal"));
    }
    // NORMAL: in WAL mode a commit is durable against a crash of the hub,
    // not of the OS. The cache keeps the hot part of the "device, newest
    // first" index in memory (inserts land all over it, one leaf per
    // device); the default 2 MiB cache made each insert a page read once
    // the table outgrew it.
    c.execute_batch(&format!(
        "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-{CACHE_KIB}; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}"
    ))
    .map_err(s)?;
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(s)?;
    match version {
        0 => c.execute_batch(CREATE_V1).map_err(s),
        SCHEMA_VERSION => Ok(()),
        v => Err(format!(
            "schema version {v} is not {SCHEMA_VERSION} (written by another hub?)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("hub-schema-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&d);
        d
    }

    #[test]
    fn creates_version_1_in_wal_and_reopens() {
        let p = tmp("v1.db");
        let c = open(&p).unwrap();
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let idx: String = c
            .query_row(
                "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='readings'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(idx, "readings_device_newest");
        drop(c);
        assert!(open(&p).is_ok());
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn refuses_another_version() {
        let p = tmp("v9.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch("PRAGMA user_version = 9").unwrap();
        drop(c);
        let e = open(&p).unwrap_err();
        assert!(e.contains("schema version 9"), "{e}");
        let _ = std::fs::remove_file(&p);
    }

    #[test]
    fn an_unwritable_path_is_an_error_not_a_panic() {
        assert!(open(Path::new("/nonexistent-dir/x/readings.db")).is_err());
    }
}
