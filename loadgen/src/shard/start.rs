//! `--start-at <RFC 3339>` / `--start-in <duration>`: one wall-clock instant
//! at which every shard begins its ramp, wherever and whenever it was
//! launched. [`parse_rfc3339`] reads the instant (UTC `Z` or a `±HH:MM`
//! offset, optional fraction); [`StartInfo`] is what the report records:
//! the instant asked for, the instant the shard actually started, and the
//! skew between them (how late the shard was: a launch after the instant,
//! or scheduling delay).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Longest a shard waits for `--start-at`: a start further away is almost
/// certainly a typo (wrong day or time zone), and a shard should not sit
/// idle for days.
pub const MAX_START_WAIT: Duration = Duration::from_secs(24 * 3600);

/// When the run began, as the report records it (`run.start`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StartInfo {
    /// The `--start-at` instant (or launch + `--start-in`), RFC 3339 UTC;
    /// `null` when the run started as soon as it could.
    pub requested: Option<String>,
    /// Wall-clock instant the run's clock starts at (first connect, origin of
    /// the timeline), Unix milliseconds.
    pub started_unix_ms: u64,
    /// `started − requested`, ms: how late this shard started (negative:
    /// early). `null` without a requested instant.
    pub skew_ms: Option<f64>,
    /// How long the shard waited for the instant after launch, ms.
    pub waited_ms: u64,
}

/// Unix milliseconds of `t` (0 before 1970).
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The RFC 3339 UTC text of `t` with milliseconds.
pub fn format(t: SystemTime) -> String {
    let mut s = String::new();
    hub::timefmt::write_rfc3339(&mut s, t);
    s
}

/// Resolves `--start-at`/`--start-in` against the launch time `now`:
/// `None` when neither is given; an error past [`MAX_START_WAIT`].
pub fn resolve(
    start_at: Option<&str>,
    start_in: Option<Duration>,
    now: SystemTime,
) -> Result<Option<SystemTime>, String> {
    let at = match (start_at, start_in) {
        (Some(_), Some(_)) => return Err("give --start-at or --start-in, not both".into()),
        (Some(s), None) => parse_rfc3339(s).map_err(|e| format!("--start-at `{s}`: {e}"))?,
        (None, Some(d)) => now + d,
        (None, None) => return Ok(None),
    };
    if at.duration_since(now).is_ok_and(|d| d > MAX_START_WAIT) {
        return Err(format!(
            "--start-at {} is more than {} h away (check the date and time zone)",
            format(at),
            MAX_START_WAIT.as_secs() / 3600
        ));
    }
    Ok(Some(at))
}

/// Longest single sleep while waiting, so a wall-clock step (NTP) is seen
/// within this long.
const WAIT_STEP: Duration = Duration::from_millis(200);

/// Sleeps until `lead` before the wall-clock instant `at` (at once if that
/// has passed), never longer than [`MAX_START_WAIT`]; returns how long it
/// slept.
pub fn sleep_until(at: SystemTime, lead: Duration) -> Duration {
    let began = std::time::Instant::now();
    let target = at.checked_sub(lead).unwrap_or(at);
    while began.elapsed() < MAX_START_WAIT {
        match target.duration_since(SystemTime::now()) {
            Ok(left) if !left.is_zero() => std::thread::sleep(left.min(WAIT_STEP)),
            _ => break,
        }
    }
    began.elapsed()
}

/// `a − b` in milliseconds, signed.
pub fn signed_ms(a: SystemTime, b: SystemTime) -> f64 {
    match a.duration_since(b) {
        Ok(d) => d.as_secs_f64() * 1000.0,
        Err(e) => -e.duration().as_secs_f64() * 1000.0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (`t`/`z`/space accepted
/// as RFC 3339 allows).
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let b = s.as_bytes();
    let bad = || "expected an RFC 3339 time like 2026-12-01T12:00:00Z".to_string();
    if b.len() < 20 || !s.is_ascii() {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        let t = &s[r];
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d == 0
        || d > mdays[mo as usize - 1]
        || h > 23
        || mi > 59
        || sec > 59
    {
        return Err(format!("{s}: no such date or time"));
    }
    let mut i = 19;
    let mut nanos = 0u64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() {
            return Err(bad());
        }
        let digits: String = frac.chars().chain("000000000".chars()).take(9).collect();
        nanos = digits.parse().map_err(|_| bad())?;
    }
    let offset_s: i64 = match &s[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6 && matches!(o.as_bytes()[0], b'+' | b'-') && o.as_bytes()[3] == b':' => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let v = i64::from(oh * 3600 + om * 60);
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(i64::from(y), mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + sec)
        - offset_s;
    let secs = u64::try_from(secs).map_err(|_| format!("{s}: before 1970"))?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_nanos(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> u64 {
        unix_ms(parse_rfc3339(s).unwrap())
    }

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2025-10-22T18:20:15Z"), 1_761_157_215_000);
        assert_eq!(at("2025-10-22T20:20:15+02:00"), 1_761_157_215_000);
        assert_eq!(at("2025-10-22T13:50:15.25-04:30"), 1_761_157_215_250);
        assert_eq!(at("2000-02-29 00:00:00z"), 951_782_400_000);
        let t = parse_rfc3339("2026-12-01T12:00:00.123456Z").unwrap();
        assert_eq!(format(t), "2026-12-01T12:00:00.123456Z");
    }

    #[test]
    fn refuses_what_is_not_an_instant() {
        for s in [
            "",
            "2026-12-01",
            "2026-12-01T12:00:00",
            "2026-12-01T12:00:00+0200",
            "2026-13-01T12:00:00Z",
            "2025-02-29T12:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T12:00:00.Z",
            "1969-12-31T23:59:59Z",
            "tomorrow at noon, please",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn sleeps_until_the_lead_before_the_instant() {
        let at = SystemTime::now() + Duration::from_millis(150);
        sleep_until(at, Duration::from_millis(50));
        // Woken no earlier than the lead before the instant.
        assert!(signed_ms(SystemTime::now(), at) >= -50.0 - 1.0);
        // An instant in the past returns at once.
        assert!(sleep_until(UNIX_EPOCH, Duration::ZERO) < Duration::from_secs(1));
        assert_eq!(
            signed_ms(UNIX_EPOCH, UNIX_EPOCH + Duration::from_millis(5)),
            -5.0
        );
    }

    #[test]
    fn resolve_bounds_the_wait() {
        let now = UNIX_EPOCH + Duration::from_secs(1_761_157_215);
        assert_eq!(resolve(None, None, now), Ok(None));
        assert_eq!(
            resolve(None, Some(Duration::from_secs(5)), now),
            Ok(Some(now + Duration::from_secs(5)))
        );
        // An instant in the past is allowed: the shard starts at once and
        // records how late it was.
        assert!(resolve(Some("2025-10-22T18:00:00Z"), None, now)
            .unwrap()
            .is_some());
        let e = resolve(Some("2025-10-24T18:00:00Z"), None, now).unwrap_err();
        assert!(e.contains("more than 24 h"), "{e}");
        assert!(resolve(Some("2025-10-22T18:00:00Z"), Some(Duration::ZERO), now).is_err());
    }
}
