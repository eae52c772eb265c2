//! The datagram timestamp, `YYYY-MM-DD HH:MM:SS` in UTC, as the original
//! client sends it. Workers refresh one cached string per second rather than
//! formatting per datagram.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_unix(secs: u64) -> String {
    hub::timefmt::format_datetime(secs)
}

/// The current wall-clock time, formatted.
pub fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_unix(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00");
        assert_eq!(format_unix(1_761_157_215), "2025-10-22 18:20:15");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00");
    }
}
