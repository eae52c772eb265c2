//! Stages (k6's `stages`, Tsung's phases): one run that moves its load
//! through a list of `DURATION:TARGET` steps, `--stages 30s:1000,1m:5000,30s:0`,
//! to find where the hub breaks (the knee) in one go.
//!
//! Each stage ramps the target linearly from the previous stage's end value
//! (the first from 0) to its own value over its duration; a stage whose
//! value equals the previous one holds it. The stages start at the end of
//! the warm-up (during the warm-up the target is 0: devices connect, nothing
//! is offered) and the measured run lasts their sum. The target is, by
//! `--stage-target`, the fleet's offered datagram rate (`rate`, open loop:
//! every device paces its share, see [`pace`]) or the number of connected
//! devices (`devices`: device `i` is in the fleet while the target is above
//! `i`, see [`pace::intervals`]).
//!
//! Data flow: [`Stages`] (parsed here, validated in `config`) → the fleet
//! plan gives each device its [`pace::Pacer`] or its membership intervals →
//! each worker tags its reports with the stage in progress
//! ([`clock::StageClock`]) → the main thread's [`clock::Tally`] keeps the
//! counters at each boundary and one histogram set per stage →
//! [`figures`] builds the per-stage figures → [`knee`] judges them and
//! finds the first stage that broke → [`text`] prints the summary's
//! `stages` section. Everything but the clock reads is sans-IO: times are
//! offsets from the stages' origin, passed in.

pub mod clock;
pub mod figures;
pub mod knee;
pub mod pace;
pub mod text;

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Most stages one run may have: each keeps a histogram set (a few hundred
/// KB) on the main thread, and a knee search needs a handful, not hundreds.
pub const MAX_STAGES: usize = 64;

/// What the stages' values are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageTarget {
    /// The fleet's offered datagram rate per second (open loop).
    #[default]
    Rate,
    /// The number of connected devices.
    Devices,
}

impl StageTarget {
    /// The unit a value is printed with.
    pub fn unit(self) -> &'static str {
        match self {
            StageTarget::Rate => "/s",
            StageTarget::Devices => " devices",
        }
    }
}

/// One stage: ramp to `target` over `duration_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub duration_ms: u64,
    pub target: f64,
}

impl Stage {
    pub fn duration(&self) -> Duration {
        Duration::from_millis(self.duration_ms)
    }
}

/// A parsed `--stages` with its `--stage-target`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stages {
    pub target: StageTarget,
    pub list: Vec<Stage>,
}

/// Why a `--stages` text cannot be run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageError(pub String);

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--stages: {}", self.0)
    }
}

impl std::error::Error for StageError {}

impl Stages {
    /// Parses `30s:1000,1m:5000,30s:0` (durations as everywhere else:
    /// `500ms`, `2m`, plain seconds; values non-negative numbers, whole
    /// ones for `devices`). Range checks against the fleet are `config`'s.
    pub fn parse(text: &str, target: StageTarget) -> Result<Stages, StageError> {
        let bad = |m: String| StageError(m);
        let items: Vec<&str> = text.split(',').map(str::trim).collect();
        if items.iter().all(|s| s.is_empty()) {
            return Err(bad(
                "no stages (expected DURATION:TARGET,…, e.g. 30s:1000,1m:5000,30s:0)".into(),
            ));
        }
        if items.len() > MAX_STAGES {
            return Err(bad(format!("{} stages, at most {MAX_STAGES}", items.len())));
        }
        let mut list = Vec::with_capacity(items.len());
        for (n, item) in items.iter().enumerate() {
            let n = n + 1;
            let Some((d, v)) = item.split_once(':') else {
                return Err(bad(format!(
                    "stage {n} `{item}`: expected DURATION:TARGET (e.g. 30s:1000)"
                )));
            };
            if d.trim_start().starts_with('-') {
                return Err(bad(format!(
                    "stage {n} `{item}`: the duration must be positive"
                )));
            }
            let dur = hub::duration::parse_duration(d)
                .map_err(|e| bad(format!("stage {n} `{item}`: {e}")))?;
            let duration_ms = dur.as_millis() as u64;
            if duration_ms == 0 {
                return Err(bad(format!(
                    "stage {n} `{item}`: the duration must be positive (at least 1ms)"
                )));
            }
            let value: f64 = v.trim().parse().map_err(|_| {
                bad(format!(
                    "stage {n} `{item}`: target `{}` is not a number",
                    v.trim()
                ))
            })?;
            if !(value.is_finite() && value >= 0.0) {
                return Err(bad(format!(
                    "stage {n} `{item}`: the target must be a finite number ≥ 0"
                )));
            }
            if target == StageTarget::Devices && value.fract() != 0.0 {
                return Err(bad(format!(
                    "stage {n} `{item}`: a devices target must be a whole number"
                )));
            }
            list.push(Stage {
                duration_ms,
                target: value,
            });
        }
        Ok(Stages { target, list })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The measured run: the sum of the stages.
    pub fn total(&self) -> Duration {
        Duration::from_millis(self.list.iter().map(|s| s.duration_ms).sum())
    }

    /// Stage `i`'s start, from the stages' origin.
    pub fn start_of(&self, i: usize) -> Duration {
        Duration::from_millis(self.list[..i].iter().map(|s| s.duration_ms).sum())
    }

    /// Stage `i`'s end.
    pub fn end_of(&self, i: usize) -> Duration {
        self.start_of(i) + self.list[i].duration()
    }

    /// The target when stage `i` begins (the previous stage's value; 0
    /// for the first).
    pub fn from_value(&self, i: usize) -> f64 {
        if i == 0 {
            0.0
        } else {
            self.list[i - 1].target
        }
    }

    /// The highest value of any stage.
    pub fn peak(&self) -> f64 {
        self.list.iter().map(|s| s.target).fold(0.0, f64::max)
    }

    /// The last stage's value: the target at the stop.
    pub fn last_value(&self) -> f64 {
        self.list.last().map_or(0.0, |s| s.target)
    }

    /// The stage in progress `t` after the origin (`None` from the end on).
    pub fn stage_at(&self, t: Duration) -> Option<usize> {
        let ms = t.as_secs_f64() * 1e3;
        let mut end = 0.0;
        for (i, s) in self.list.iter().enumerate() {
            end += s.duration_ms as f64;
            if ms < end {
                return Some(i);
            }
        }
        None
    }

    /// The target `t` after the origin: on the ramp of the stage in
    /// progress, the last value from the end on.
    pub fn value_at(&self, t: Duration) -> f64 {
        match self.stage_at(t) {
            None => self.last_value(),
            Some(i) => {
                let (a, b) = (self.from_value(i), self.list[i].target);
                let x =
                    (t - self.start_of(i)).as_secs_f64() / self.list[i].duration().as_secs_f64();
                a + (b - a) * x
            }
        }
    }

    /// Segments `(start s, length s, from, to)` of the piecewise linear target.
    pub(crate) fn segments(&self) -> impl Iterator<Item = (f64, f64, f64, f64)> + '_ {
        let mut start = 0.0;
        self.list.iter().enumerate().map(move |(i, s)| {
            let len = s.duration_ms as f64 / 1e3;
            let seg = (start, len, self.from_value(i), s.target);
            start += len;
            seg
        })
    }

    /// `value · t` from the stage's start: the number of datagrams a rate
    /// target offers by stage `i`'s end, or device-seconds.
    pub fn area_of(&self, i: usize) -> f64 {
        let s = &self.list[i];
        (self.from_value(i) + s.target) / 2.0 * (s.duration_ms as f64 / 1e3)
    }

    /// "30s:1000,1m:5000" as given (durations in ms).
    pub fn describe(&self) -> String {
        self.list
            .iter()
            .map(|s| format!("{}ms:{}", s.duration_ms, s.target))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The values against the fleet: a rate target replaces `--rate`
    /// (`rate_given`) and must leave every device at least `min_gap`
    /// between datagrams; a devices target asks for at most `devices`;
    /// and some stage must ask for something.
    pub fn check_fleet(
        &self,
        devices: u32,
        rate_given: bool,
        min_gap: Duration,
    ) -> Result<(), StageError> {
        let bad = |m: String| Err(StageError(m));
        if self.peak() == 0.0 {
            return bad("every stage's target is 0: nothing would run".into());
        }
        let over = |limit: f64| self.list.iter().position(|st| st.target > limit);
        match self.target {
            StageTarget::Rate => {
                if rate_given {
                    return bad(
                        "--rate sets the rate too: drop --rate, or use --stage-target devices"
                            .into(),
                    );
                }
                let max = f64::from(devices) / min_gap.as_secs_f64();
                if let Some(i) = over(max) {
                    return bad(format!(
                        "stage {} asks for {}/s: more than one datagram per {min_gap:?} per device (at most {max} with {devices} devices)",
                        i + 1,
                        self.list[i].target,
                    ));
                }
            }
            StageTarget::Devices => {
                if let Some(i) = over(f64::from(devices)) {
                    return bad(format!(
                        "stage {} asks for {} devices, more than --devices {devices}",
                        i + 1,
                        self.list[i].target,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Devices that registered at least once in a healthy run, and devices
    /// up at the end: with `--stage-target devices`, those the target ever
    /// reached and the one it ends on; otherwise `None` (every device).
    pub fn expected_devices(&self, devices: u32) -> Option<(u64, u64)> {
        (self.target == StageTarget::Devices).then(|| {
            let n = u64::from(devices);
            (
                (self.peak() as u64).min(n),
                (self.last_value() as u64).min(n),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Stages, StageError> {
        Stages::parse(s, StageTarget::Rate)
    }

    #[test]
    fn parses_k6_style_stages() {
        let s = p("30s:1000, 1m:5000,500ms:0").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.list[1],
            Stage {
                duration_ms: 60_000,
                target: 5000.0
            }
        );
        assert_eq!(s.total(), Duration::from_millis(90_500));
        assert_eq!(s.start_of(2), Duration::from_secs(90));
        assert_eq!(s.end_of(2), Duration::from_millis(90_500));
        assert_eq!(s.peak(), 5000.0);
        assert_eq!(s.from_value(0), 0.0);
        assert_eq!(s.from_value(2), 5000.0);
    }

    #[test]
    fn bad_specs_say_which_stage_and_why() {
        for (text, why) in [
            ("", "no stages"),
            (" , ", "no stages"),
            ("30s", "stage 1 `30s`: expected DURATION:TARGET"),
            ("1s:10,soon:5", "stage 2 `soon:5`: `soon` is not a duration"),
            ("0s:10", "stage 1 `0s:10`: the duration must be positive"),
            ("-1s:10", "stage 1 `-1s:10`: the duration must be positive"),
            ("1s:lots", "target `lots` is not a number"),
            ("1s:-5", "must be a finite number ≥ 0"),
            ("1s:inf", "must be a finite number ≥ 0"),
            ("1s:NaN", "must be a finite number ≥ 0"),
            ("1s:10,,2s:5", "stage 2 ``: expected"),
        ] {
            let e = p(text).unwrap_err().to_string();
            assert!(
                e.starts_with("--stages: ") && e.contains(why),
                "{text:?}: {e}"
            );
        }
        let e = Stages::parse("1s:2.5", StageTarget::Devices).unwrap_err();
        assert!(e.0.contains("whole number"), "{e}");
        let many = vec!["1s:1"; MAX_STAGES + 1].join(",");
        assert!(p(&many).unwrap_err().0.contains("at most"));
    }

    #[test]
    fn the_target_ramps_linearly_from_the_previous_value() {
        let s = p("2s:1000,2s:1000,1s:0").unwrap();
        let at = |ms: u64| s.value_at(Duration::from_millis(ms));
        assert_eq!(at(0), 0.0);
        assert_eq!(at(500), 250.0);
        assert_eq!(at(1999), 999.5);
        assert_eq!(at(2000), 1000.0);
        assert_eq!(at(3000), 1000.0);
        assert_eq!(at(4500), 500.0);
        assert_eq!(at(5000), 0.0);
        assert_eq!(at(9000), 0.0);
        assert_eq!(s.stage_at(Duration::from_millis(1999)), Some(0));
        assert_eq!(s.stage_at(Duration::from_millis(2000)), Some(1));
        assert_eq!(s.stage_at(Duration::from_millis(4999)), Some(2));
        assert_eq!(s.stage_at(Duration::from_millis(5000)), None);
        assert_eq!(s.area_of(0), 1000.0);
        assert_eq!(s.area_of(1), 2000.0);
        assert_eq!(s.area_of(2), 500.0);
    }

    #[test]
    fn values_are_checked_against_the_fleet() {
        let us = Duration::from_micros(1);
        let ok = p("1s:100,1s:0").unwrap();
        assert_eq!(ok.check_fleet(10, false, us), Ok(()));
        let e = ok.check_fleet(10, true, us).unwrap_err().to_string();
        assert!(e.contains("drop --rate"), "{e}");
        let e = p("1s:0,2s:0")
            .unwrap()
            .check_fleet(10, false, us)
            .unwrap_err();
        assert!(e.0.contains("every stage's target is 0"), "{e}");
        let e = p("1s:5,1s:20000000")
            .unwrap()
            .check_fleet(10, false, us)
            .unwrap_err();
        assert!(e.0.starts_with("stage 2 asks for 20000000/s"), "{e}");
        let d = Stages::parse("1s:10,1s:60", StageTarget::Devices).unwrap();
        let e = d.check_fleet(50, false, us).unwrap_err().to_string();
        assert_eq!(
            e,
            "--stages: stage 2 asks for 60 devices, more than --devices 50"
        );
        // A devices target leaves the pacing to --rate or --interval.
        assert_eq!(d.check_fleet(60, true, us), Ok(()));
    }

    #[test]
    fn expected_devices_follow_a_devices_target_only() {
        let d = Stages::parse("1s:30,1s:50,1s:10", StageTarget::Devices).unwrap();
        assert_eq!(d.expected_devices(50), Some((50, 10)));
        assert_eq!(p("1s:30").unwrap().expected_devices(50), None);
    }
}
