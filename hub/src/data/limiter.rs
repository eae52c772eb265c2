//! The per-source STATUS rate limiter: a fixed array of token buckets,
//! indexed by a keyed hash of the source address.
//!
//! UDP sources can be spoofed, so without a limit the hub could be aimed at a
//! victim. A fixed array keeps memory constant however many sources there
//! are; sources whose hashes collide share a bucket, which only ever limits
//! more, never less. The hash is keyed per process so an attacker cannot
//! pick addresses that collide with a victim's bucket on purpose.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::Instant;

use crate::limits::REPLY_LIMITER_SLOTS;

/// Fixed-point units per token: a token accrues `rate` units per nanosecond,
/// so refills are exact integers and boundaries behave as documented.
const UNIT: u64 = 1_000_000_000;

/// One token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// In [`UNIT`]s of a token.
    tokens: u64,
    /// `None` for a bucket no source has used yet: it starts full.
    last: Option<Instant>,
}

const EMPTY: Bucket = Bucket {
    tokens: 0,
    last: None,
};

/// Token buckets for STATUS replies, one per hash slot.
#[derive(Debug)]
pub struct ReplyLimiter {
    buckets: Box<[Bucket; REPLY_LIMITER_SLOTS]>,
    rate_per_sec: u64,
    /// In [`UNIT`]s.
    burst: u64,
    hasher: RandomState,
}

impl ReplyLimiter {
    /// A limiter allowing each source `burst` replies at once and
    /// `rate_per_sec` sustained.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        ReplyLimiter {
            buckets: Box::new([EMPTY; REPLY_LIMITER_SLOTS]),
            rate_per_sec: u64::from(rate_per_sec),
            burst: u64::from(burst) * UNIT,
            hasher: RandomState::new(),
        }
    }

    /// Takes one token from `src`'s bucket if it has one.
    pub fn allow(&mut self, now: Instant, src: SocketAddr) -> bool {
        let slot = self.slot(src);
        let b = &mut self.buckets[slot];
        b.tokens = match b.last {
            None => self.burst,
            Some(last) => {
                let nanos = now.saturating_duration_since(last).as_nanos();
                let gained = nanos.saturating_mul(u128::from(self.rate_per_sec));
                let gained = u64::try_from(gained).unwrap_or(u64::MAX);
                b.tokens.saturating_add(gained).min(self.burst)
            }
        };
        // Never move `last` backwards, or an out-of-order `now` would refill
        // the same interval twice.
        b.last = Some(b.last.map_or(now, |last| last.max(now)));
        if b.tokens >= UNIT {
            b.tokens -= UNIT;
            true
        } else {
            false
        }
    }

    /// The bucket `src` uses.
    pub(crate) fn slot(&self, src: SocketAddr) -> usize {
        // REPLY_LIMITER_SLOTS need not be a power of two; `%` is cheap enough.
        (self.hasher.hash_one(src) % REPLY_LIMITER_SLOTS as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], port))
    }

    #[test]
    fn burst_then_exhaustion_then_refill_over_time() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::new(10, 3);
        let a = addr(1);
        assert!((0..3).all(|_| l.allow(t0, a)));
        assert!(!l.allow(t0, a));
        // 10/s refills one token every 100 ms, and no sooner.
        assert!(!l.allow(t0 + Duration::from_millis(99), a));
        assert!(l.allow(t0 + Duration::from_millis(100), a));
        assert!(!l.allow(t0 + Duration::from_millis(100), a));
        // A long pause refills to the burst, not beyond it.
        let later = t0 + Duration::from_secs(60);
        assert!((0..3).all(|_| l.allow(later, a)));
        assert!(!l.allow(later, a));
    }

    #[test]
    fn sources_in_different_slots_are_independent() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::new(1, 1);
        let a = addr(1);
        let b = (2..).map(addr).find(|&b| l.slot(b) != l.slot(a)).unwrap();
        assert!(l.allow(t0, a));
        assert!(!l.allow(t0, a));
        assert!(l.allow(t0, b));
    }

    #[test]
    fn colliding_sources_share_a_bucket() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::new(1, 2);
        let a = addr(1);
        let b = (2..=u16::MAX)
            .map(addr)
            .find(|&b| l.slot(b) == l.slot(a))
            .expect("65k ports over 4096 slots must collide");
        assert!(l.allow(t0, a));
        assert!(l.allow(t0, b));
        assert!(!l.allow(t0, a));
    }

    #[test]
    fn time_going_backwards_refills_nothing() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut l = ReplyLimiter::new(1, 1);
        let a = addr(1);
        assert!(l.allow(t0, a));
        assert!(!l.allow(t0 - Duration::from_secs(5), a));
        assert!(!l.allow(t0 + Duration::from_millis(999), a));
        assert!(l.allow(t0 + Duration::from_secs(1), a));
    }

    #[test]
    fn zero_burst_never_replies() {
        let mut l = ReplyLimiter::new(1000, 0);
        assert!(!l.allow(Instant::now(), addr(1)));
    }
}
