//! The live progress line on stderr. On a terminal it is redrawn in place
//! once a second; when stderr is not a terminal one plain line is printed
//! every `--progress-every` (1 s, iperf3's `-i` convention); `--quiet`
//! prints nothing. The line is built by the
//! pure [`line`] from merged counters and histograms.

use std::io::Write;
use std::time::Duration;

use crate::report::accounting::Counters;
use crate::report::histo::{Kind, Latencies};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Tty,
    Plain,
}

impl Mode {
    pub fn detect(quiet: bool) -> Mode {
        // SAFETY: isatty has no preconditions.
        if quiet {
            Mode::Off
        } else if unsafe { libc::isatty(2) } == 1 {
            Mode::Tty
        } else {
            Mode::Plain
        }
    }
}

/// Prints progress lines according to the mode.
pub struct Progress {
    mode: Mode,
    plain_every: Duration,
    last_plain: Option<Duration>,
    last_sent: u64,
    last_at: Duration,
}

impl Progress {
    pub fn new(mode: Mode, plain_every: Duration) -> Self {
        Progress {
            mode,
            plain_every,
            last_plain: None,
            last_sent: 0,
            last_at: Duration::ZERO,
        }
    }

    /// Called about once a second with the run's elapsed time.
    pub fn update(&mut self, elapsed: Duration, devices: u32, c: &Counters, lat: &Latencies) {
        let dt = (elapsed - self.last_at.min(elapsed))
            .as_secs_f64()
            .max(1e-3);
        let rate = (c.sent.saturating_sub(self.last_sent)) as f64 / dt;
        self.last_sent = c.sent;
        self.last_at = elapsed;
        let text = line(elapsed, devices, rate, c, lat);
        let mut err = std::io::stderr().lock();
        match self.mode {
            Mode::Off => {}
            Mode::Tty => {
                let _ = write!(err, "\r\x1b[2K{text}");
            }
            Mode::Plain => {
                if self
                    .last_plain
                    .is_none_or(|t| elapsed + Duration::from_millis(50) >= t + self.plain_every)
                {
                    self.last_plain = Some(elapsed);
                    let _ = writeln!(err, "{text}");
                }
            }
        }
    }

    /// Ends the in-place line.
    pub fn finish(&mut self) {
        if self.mode == Mode::Tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}

fn p99_ms(lat: &Latencies, k: Kind) -> String {
    let h = lat.get(k);
    if h.is_empty() {
        "-".into()
    } else {
        format!("{:.2}", h.value_at_quantile(0.99) as f64 / 1000.0)
    }
}

/// One progress line.
pub fn line(elapsed: Duration, devices: u32, rate: f64, c: &Counters, lat: &Latencies) -> String {
    let loss = if c.generated > 0 {
        100.0 * c.injected_drops as f64 / c.generated as f64
    } else {
        0.0
    };
    format!(
        "[{:>5.1}s] up {}/{} | {:.0} dgram/s | sent {} inj {} ({loss:.2}%) missing {} unexplained {} unknown {} invalid {} | p99 ms: status {} cmd {} connect {}",
        elapsed.as_secs_f64(),
        c.up,
        devices,
        rate,
        c.sent,
        c.injected_drops,
        c.reported_missing,
        c.unexplained_loss(),
        c.fate_unknown,
        c.status_invalid,
        p99_ms(lat, Kind::Status),
        p99_ms(lat, Kind::CommandRtt),
        p99_ms(lat, Kind::Connect),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_the_essentials() {
        let c = Counters {
            up: 3,
            sent: 98,
            generated: 100,
            injected_drops: 2,
            ..Default::default()
        };
        let mut lat = Latencies::new();
        lat.record_us(Kind::Status, 1500);
        let l = line(Duration::from_secs(2), 5, 49.0, &c, &lat);
        assert!(
            l.contains("up 3/5") && l.contains("49 dgram/s") && l.contains("(2.00%)"),
            "{l}"
        );
        assert!(l.contains("status 1.50") && l.contains("cmd -"), "{l}");
    }
}
