//! Property tests of flag validation: whatever numbers are given, building
//! a config never panics, and a config that is accepted can be planned
//! (every interval and instant it implies is computable, non-zero where a
//! pacer divides by it, and far from overflow).

use std::time::{Duration, Instant};

use clap::Parser;
use proptest::prelude::*;

use super::*;
use crate::cli::{Cli, Cmd};

fn args(v: &[String]) -> Option<RunArgs> {
    let mut argv = vec!["loadgen".to_string()];
    argv.extend_from_slice(v);
    match Cli::try_parse_from(argv).ok()?.into_cmd() {
        Cmd::Run(a) => Some(a),
        _ => None,
    }
}

/// Numbers across every magnitude, with the awkward ones.
fn wild() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-1.0),
        Just(f64::MIN_POSITIVE),
        Just(1e-300),
        Just(1e300),
        Just(f64::INFINITY),
        Just(f64::NAN),
        (-30i32..30, 1.0f64..10.0).prop_map(|(e, m)| m * 10f64.powi(e)),
    ]
}

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0s".to_string()),
        Just("18446744073709551615s".to_string()),
        (0u64..u64::MAX).prop_map(|n| format!("{n}ms")),
        (0u64..100_000_000).prop_map(|n| format!("{n}s")),
        (0u64..1000).prop_map(|n| format!("{n}h")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_flag_value_panics_and_accepted_ones_can_be_planned(
        rate in proptest::option::of(wild()),
        connect_rate in wild(),
        devices in prop_oneof![Just(0u32), Just(1), Just(5000), Just(MAX_DEVICES), Just(u32::MAX)],
        duration in duration_text(),
        warmup in duration_text(),
        interval in duration_text(),
        status_timeout in duration_text(),
        lag in wild(),
        first_id in prop_oneof![Just(0u64), Just(1), Just(u64::MAX - 3), Just(u64::MAX)],
    ) {
        let mut v: Vec<String> = [
            "--devices", &devices.to_string(),
            "--connect-rate", &connect_rate.to_string(),
            "--duration", &duration,
            "--warmup", &warmup,
            "--interval", &interval,
            "--status-timeout", &status_timeout,
            "--max-send-lag-ms", &lag.to_string(),
            "--first-id", &first_id.to_string(),
        ].iter().map(|s| s.to_string()).collect();
        if let Some(r) = rate {
            v.push("--rate".into());
            v.push(r.to_string());
        }
        let Some(a) = args(&v) else { return Ok(()) };
        let Ok(c) = RunConfig::from_args(&a, 2, 1) else { return Ok(()) };
        // What run.rs derives from the config, checked.
        let now = Instant::now();
        let stop = now
            .checked_add(c.warmup)
            .and_then(|t| t.checked_add(c.duration))
            .and_then(|t| t.checked_add(c.drain));
        prop_assert!(stop.is_some());
        let ramp = Duration::try_from_secs_f64(f64::from(c.devices) / c.connect_rate);
        prop_assert!(ramp.is_ok_and(|d| d <= MAX_RAMP), "{:?}", c.connect_rate);
        prop_assert!(Duration::from_secs_f64(1.0 / c.connect_rate) >= MIN_GAP / 2);
        if let Pace::OpenLoop { rate } = c.pace {
            let gap = Duration::try_from_secs_f64(f64::from(c.devices) / rate);
            prop_assert!(gap.is_ok_and(|g| g >= MIN_GAP / 2 && g <= MAX_RAMP), "{rate}");
        }
        prop_assert!(!c.max_send_lag.is_zero());
    }
}

/// `--delay` texts: valid, malformed and out of range.
fn delay_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..3000).prop_map(|n| n.to_string()),
        (0u32..3000, 0u32..3000).prop_map(|(a, b)| format!("{a}±{b}")),
        (0u32..3000, 0u32..3000).prop_map(|(a, b)| format!("{a}+-{b}")),
        "[0-9±+. -]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever fault values are given, building a config never panics;
    /// an accepted one has probabilities in range, a delay within its
    /// limit, and (open loop) a line a device can hold.
    #[test]
    fn fault_flags_never_panic_and_accepted_ones_are_in_range(
        reorder in wild(),
        duplicate in wild(),
        corrupt in wild(),
        delay in proptest::option::of(delay_text()),
        rate in proptest::option::of(wild()),
    ) {
        let mut v: Vec<String> = vec![
            format!("--reorder={reorder}"),
            format!("--duplicate={duplicate}"),
            format!("--corrupt={corrupt}"),
        ];
        if let Some(d) = &delay {
            v.push(format!("--delay={d}"));
        }
        if let Some(r) = rate {
            v.push(format!("--rate={r}"));
        }
        let Some(a) = args(&v) else { return Ok(()) };
        let Ok(c) = RunConfig::from_args(&a, 2, 1) else { return Ok(()) };
        let f = c.faults;
        prop_assert!((0.0..=1.0).contains(&f.reorder) && (0.0..=1.0).contains(&f.duplicate));
        prop_assert!((0.0..1.0).contains(&f.corrupt));
        prop_assert!(f.delay.jitter_ms <= f.delay.ms);
        prop_assert!(f.delay.max() <= Duration::from_millis(u64::from(crate::device::faults::MAX_DELAY_MS)));
        if let Pace::OpenLoop { rate } = c.pace {
            let held = f.delay.max().as_secs_f64() * rate / f64::from(c.devices);
            prop_assert!(held <= crate::device::line::MAX_HELD as f64, "{held}");
        }
    }
}

/// `--stages` texts: well-formed items of any magnitude, and broken ones.
fn stage_text() -> impl Strategy<Value = String> {
    let item = prop_oneof![
        (duration_text(), wild()).prop_map(|(d, v)| format!("{d}:{v}")),
        (1u64..5000, 0u32..100).prop_map(|(ms, v)| format!("{ms}ms:{v}")),
        Just(String::new()),
        Just("1s".to_string()),
        Just("x:1".to_string()),
        Just("-1s:5".to_string()),
        Just("1s:5:6".to_string()),
    ];
    proptest::collection::vec(item, 0..6).prop_map(|v| v.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_stages_text_panics_and_accepted_ones_can_be_paced(
        text in stage_text(),
        devices in prop_oneof![Just(1u32), Just(50), Just(MAX_DEVICES)],
        target in prop_oneof![Just("rate"), Just("devices")],
        duration in proptest::option::of(duration_text()),
    ) {
        let mut v: Vec<String> = ["--devices", &devices.to_string(), "--stages", &text, "--stage-target", target]
            .iter().map(|s| s.to_string()).collect();
        if let Some(d) = &duration {
            v.push("--duration".into());
            v.push(d.clone());
        }
        let Some(a) = args(&v) else { return Ok(()) };
        let Ok(c) = RunConfig::from_args(&a, 2, 1) else { return Ok(()) };
        let s = c.stages.clone().expect("--stages given");
        prop_assert_eq!(c.duration, s.total());
        prop_assert!(s.total() <= MAX_RUN && !s.is_empty() && s.peak() > 0.0);
        let now = Instant::now();
        let clock = crate::stages::clock::StageClock::new(&s, now + c.warmup);
        prop_assert_eq!(clock.phase_at(now + c.warmup), Some(0));
        prop_assert_eq!(clock.phase_at(now + c.warmup + s.total()), Some(s.len() - 1));
        match s.target {
            crate::stages::StageTarget::Rate => {
                let total = s.area_before(s.total().as_secs_f64());
                prop_assert!(total.is_finite() && total > 0.0);
                let t = s.time_of_area(total * 0.999);
                prop_assert!(t.is_some_and(|t| t.is_finite() && t <= s.total().as_secs_f64() + 1e-6));
                let mut p = crate::stages::pace::Pacer::new(std::sync::Arc::new(s.clone()), now, c.devices, c.devices - 1);
                let first = p.first_at_or_after(now);
                if let (Some(a), Some(b)) = (first, p.next_due()) {
                    prop_assert!(b >= a);
                }
            }
            crate::stages::StageTarget::Devices => {
                prop_assert!(s.peak() <= f64::from(c.devices));
                for i in [0, c.devices - 1] {
                    let spans = crate::stages::pace::intervals(&s, i);
                    prop_assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0));
                    prop_assert!(spans.iter().all(|(on, off)| on < off));
                }
            }
        }
    }
}
