//! How one device follows the stages, sans-IO.
//!
//! Rate target: the fleet's datagrams are due where the integral of the
//! target (datagrams offered since the origin) crosses `m + ½` for
//! `m = 0, 1, 2, …`, and device `j` of `n` sends those with `m ≡ j (mod n)`
//! ([`Pacer`]). So the fleet offers exactly the target's area over every
//! stage, whatever the ramp, with no device waiting on a rate of 0 (a
//! device's gap is `n / rate` where the rate is steady, longer where it is
//! low). Devices target: device `i` is in the fleet while the target is
//! above `i` ([`intervals`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Stages;

impl Stages {
    /// The target's integral from the origin to `t` (s): datagrams offered
    /// by then, for a rate target.
    pub fn area_before(&self, t: f64) -> f64 {
        let mut area = 0.0;
        for (start, len, a, b) in self.segments() {
            if t <= start {
                break;
            }
            let x = (t - start).min(len);
            area += a * x + (b - a) / (2.0 * len) * x * x;
        }
        area
    }

    /// The first time (s from the origin) at which the integral reaches
    /// `area`; `None` when the stages never offer that much.
    pub fn time_of_area(&self, area: f64) -> Option<f64> {
        let mut left = area;
        for (start, len, a, b) in self.segments() {
            let whole = (a + b) / 2.0 * len;
            if left <= whole && whole > 0.0 {
                // a·x + k·x² = left, with k = (b − a) / 2len; the form
                // 2·left / (a + √(a² + 4k·left)) is stable for either sign of k.
                let k = (b - a) / (2.0 * len);
                let disc = (a * a + 4.0 * k * left).max(0.0);
                let den = a + disc.sqrt();
                let x = if den > 0.0 { 2.0 * left / den } else { 0.0 };
                return Some(start + x.clamp(0.0, len));
            }
            left -= whole;
        }
        None
    }
}

/// One device's datagram times under a rate target. Its `k`-th datagram is
/// the fleet's number `k·n + j`.
#[derive(Debug, Clone)]
pub struct Pacer {
    stages: Arc<Stages>,
    origin: Instant,
    /// Devices in the fleet (`n`).
    stride: f64,
    /// This device's place among them (`j`).
    index: f64,
    /// The next of this device's datagrams to hand out.
    next_k: u64,
}

impl Pacer {
    /// Device `index` of `devices`, the stages starting at `origin`.
    pub fn new(stages: Arc<Stages>, origin: Instant, devices: u32, index: u32) -> Self {
        Pacer {
            stages,
            origin,
            stride: f64::from(devices.max(1)),
            index: f64::from(index),
            next_k: 0,
        }
    }

    fn due(&self, k: u64) -> Option<Instant> {
        let area = k as f64 * self.stride + self.index + 0.5;
        let t = self.stages.time_of_area(area)?;
        Some(self.origin + Duration::from_secs_f64(t))
    }

    /// This device's first datagram at or after `t` (it registered then);
    /// `None` when the stages offer it nothing more.
    pub fn first_at_or_after(&mut self, t: Instant) -> Option<Instant> {
        let since = t.saturating_duration_since(self.origin).as_secs_f64();
        let done = self.stages.area_before(since);
        let k = ((done - self.index - 0.5) / self.stride).ceil().max(0.0) as u64;
        self.next_k = k;
        // Rounding can put `due(k)` a hair before `t`: then it is the next.
        let at = self.next_due()?;
        if at + Duration::from_micros(1) < t {
            return self.next_due();
        }
        Some(at)
    }

    /// The intended time of this device's next datagram.
    pub fn next_due(&mut self) -> Option<Instant> {
        let at = self.due(self.next_k)?;
        self.next_k += 1;
        Some(at)
    }
}

/// The spans `[on, off)` (s from the origin) in which device `i` is in the
/// fleet under a devices target: where the target is above `i`. Adjacent
/// spans are joined; the last may end at the stages' end.
pub fn intervals(stages: &Stages, i: u32) -> Vec<(f64, f64)> {
    let level = f64::from(i);
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (start, len, a, b) in stages.segments() {
        let end = start + len;
        let span = if a == b {
            (a > level).then_some((start, end))
        } else {
            // Where the ramp crosses the level.
            let x = start + (level - a) / (b - a) * len;
            if b > a {
                (x < end).then_some((x.max(start), end))
            } else {
                (x > start).then_some((start, x.min(end)))
            }
        };
        let Some((on, off)) = span.filter(|(on, off)| off > on) else {
            continue;
        };
        match out.last_mut() {
            Some(last) if (last.1 - on).abs() < 1e-9 => last.1 = off,
            _ => out.push((on, off)),
        }
    }
    out
}

/// [`intervals`] as instants after `origin`. A span that reaches the
/// stages' end while the last value keeps the device in has no end
/// (`None`): the device stays up through the stop, as `devices_up_at_end`
/// expects; one the last ramp ends at the stop leaves after its last STATUS.
pub fn membership(stages: &Stages, i: u32, origin: Instant) -> Vec<(Instant, Option<Instant>)> {
    let at = |s: f64| origin + Duration::from_secs_f64(s);
    let total = stages.total().as_secs_f64();
    let stays = f64::from(i) < stages.last_value();
    intervals(stages, i)
        .into_iter()
        .map(|(on, off)| (at(on), (!(stays && off >= total - 1e-9)).then(|| at(off))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::StageTarget;

    fn rate(s: &str) -> Arc<Stages> {
        Arc::new(Stages::parse(s, StageTarget::Rate).unwrap())
    }

    #[test]
    fn the_integral_and_its_inverse_agree() {
        let s = rate("2s:1000,2s:1000,1s:0");
        assert_eq!(s.area_before(0.0), 0.0);
        assert!((s.area_before(2.0) - 1000.0).abs() < 1e-9);
        assert!((s.area_before(4.0) - 3000.0).abs() < 1e-9);
        assert!((s.area_before(99.0) - 3500.0).abs() < 1e-9);
        for a in [0.5, 10.0, 999.0, 1500.0, 3000.0, 3400.0, 3499.9] {
            let t = s.time_of_area(a).unwrap();
            assert!((s.area_before(t) - a).abs() < 1e-6, "{a}: t {t}");
        }
        assert_eq!(s.time_of_area(3500.1), None);
    }

    /// The fleet's datagrams per stage are the stage's area, within one
    /// per device, and every device's times only go forward.
    #[test]
    fn a_fleet_of_pacers_offers_each_stages_area() {
        let s = rate("2s:500,2s:1000,1s:0");
        let origin = Instant::now();
        let n = 50;
        let mut per_stage = [0u64; 3];
        for j in 0..n {
            let mut p = Pacer::new(s.clone(), origin, n, j);
            let mut last = origin;
            let mut t = p.first_at_or_after(origin);
            while let Some(at) = t {
                assert!(at >= last);
                last = at;
                let st = s.stage_at(at - origin).expect("within the stages");
                per_stage[st] += 1;
                t = p.next_due();
            }
        }
        for (i, got) in per_stage.iter().enumerate() {
            let want = s.area_of(i);
            assert!(
                (*got as f64 - want).abs() <= f64::from(n),
                "stage {i}: {got} vs {want}"
            );
        }
        assert_eq!(per_stage.iter().sum::<u64>(), 500 + 1500 + 500);
    }

    #[test]
    fn a_late_device_joins_at_its_next_due_time() {
        let s = rate("10s:100");
        let origin = Instant::now();
        let mut p = Pacer::new(s, origin, 10, 3);
        let late = origin + Duration::from_secs(5);
        let first = p.first_at_or_after(late).unwrap();
        assert!(
            first >= late && first < late + Duration::from_millis(250),
            "{:?}",
            first - late
        );
        let second = p.next_due().unwrap();
        // Around 50/s fleet-wide at 5 s, so one of ten devices every ~0.2 s.
        let gap = (second - first).as_secs_f64();
        assert!((0.15..0.25).contains(&gap), "{gap}");
    }

    #[test]
    fn device_membership_follows_the_target() {
        let s = Stages::parse("2s:10,2s:10,2s:0", StageTarget::Devices).unwrap();
        // Device 0 joins as soon as the target leaves 0, device 9 at 1.8 s.
        assert_eq!(intervals(&s, 0), [(0.0, 6.0)]);
        let i9 = intervals(&s, 9);
        assert_eq!(i9.len(), 1);
        assert!(
            (i9[0].0 - 1.8).abs() < 1e-9 && (i9[0].1 - 4.2).abs() < 1e-9,
            "{i9:?}"
        );
        assert!(intervals(&s, 10).is_empty());
        let up_down_up = Stages::parse("1s:4,1s:0,1s:4", StageTarget::Devices).unwrap();
        let i2 = intervals(&up_down_up, 2);
        assert_eq!(i2.len(), 2, "{i2:?}");
        assert!((i2[0].0 - 0.5).abs() < 1e-9 && (i2[0].1 - 1.5).abs() < 1e-9);
        assert!((i2[1].0 - 2.5).abs() < 1e-9 && (i2[1].1 - 3.0).abs() < 1e-9);
    }
}
