//! Jittered exponential backoff, sans-IO: the caller owns the clock and the
//! RNG and asks for the next delay after each failure. Devices use it to
//! reconnect to the control port, the operator to reconnect to the admin
//! port, so a hub that restarts is met by a spread-out trickle of connects
//! instead of a synchronised storm or a spinning loop.

use std::time::Duration;

use crate::rng::SplitMix64;

/// Delays `base × 2^(n−1)` after the `n`th consecutive failure, capped at
/// `max`, each multiplied by a jitter drawn from `[0.5, 1.5)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    /// Consecutive failures since the last success.
    attempts: u32,
}

impl Backoff {
    pub const fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            attempts: 0,
        }
    }

    /// A success: the next failure starts again from `base`.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// Consecutive failures so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Records one more failure and returns how long to wait before the next
    /// attempt.
    pub fn next_delay(&mut self, rng: &mut SplitMix64) -> Duration {
        self.attempts = self.attempts.saturating_add(1);
        let exp = self
            .base
            .saturating_mul(1 << self.attempts.min(16).saturating_sub(1));
        exp.min(self.max).mul_f64(0.5 + rng.next_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_with_jitter_up_to_the_cap_and_resets() {
        let mut rng = SplitMix64::new(9, 9);
        let mut b = Backoff::new(50 * MS, 1000 * MS);
        let mut nominal = 50 * MS;
        for _ in 0..40 {
            let d = b.next_delay(&mut rng);
            assert!(
                d >= nominal / 2 && d < nominal * 3 / 2,
                "{d:?} vs {nominal:?}"
            );
            nominal = (nominal * 2).min(1000 * MS);
        }
        assert_eq!(b.attempts(), 40);
        b.reset();
        assert!(b.next_delay(&mut rng) < 75 * MS);
    }
}
