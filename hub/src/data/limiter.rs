//! The STATUS rate limiter: fixed arrays of token buckets, one indexed by a
//! keyed hash of the source *address* (the port is ignored, so 64 source
//! ports share one bucket) and one by its *prefix* (/24 for IPv4, /64 for
//! IPv6), so neither many ports nor many neighbouring addresses multiply
//! what one sender can be sent. A reply needs a token from both.
//!
//! UDP sources can be spoofed, so without a limit the hub could be aimed at a
//! victim. Fixed arrays keep memory constant however many sources there
//! are; sources whose hashes collide share a bucket, which only ever limits
//! more, never less. The hash is keyed per process so an attacker cannot
//! pick addresses that collide with a victim's bucket on purpose.
//!
//! The data plane only asks the limiter about replies larger than what
//! their sender paid for them (see `DataPlane`): whole cycles from any
//! number of devices behind one address are never limited.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
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

/// Token buckets for one key kind.
#[derive(Debug)]
struct Buckets {
    buckets: Box<[Bucket; REPLY_LIMITER_SLOTS]>,
    rate_per_sec: u64,
    /// In [`UNIT`]s.
    burst: u64,
}

impl Buckets {
    fn new(rate_per_sec: u32, burst: u32) -> Self {
        Buckets {
            buckets: Box::new([EMPTY; REPLY_LIMITER_SLOTS]),
            rate_per_sec: u64::from(rate_per_sec),
            burst: u64::from(burst) * UNIT,
        }
    }

    /// Refills `slot` to `now` and says whether it holds a token.
    fn refill(&mut self, now: Instant, slot: usize) -> bool {
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
        b.tokens >= UNIT
    }

    fn take(&mut self, slot: usize) {
        self.buckets[slot].tokens -= UNIT;
    }
}

/// Why a reply was withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    /// The source address's bucket was empty.
    Address,
    /// The address's prefix (/24, /64) bucket was empty.
    Prefix,
}

/// Token buckets for STATUS replies, per address and per prefix.
#[derive(Debug)]
pub struct ReplyLimiter {
    addr: Buckets,
    prefix: Buckets,
    hasher: RandomState,
}

/// The /24 (IPv4) or /64 (IPv6) holding `ip`.
pub fn prefix_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v) => {
            let [a, b, c, _] = v.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v) => {
            let mut o = v.octets();
            o[8..].fill(0);
            IpAddr::from(o)
        }
    }
}

impl ReplyLimiter {
    /// A limiter allowing each source address `burst` replies at once and
    /// `rate_per_sec` sustained, and each prefix four times that.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        Self::with_prefix(
            rate_per_sec,
            burst,
            rate_per_sec.saturating_mul(4),
            burst.saturating_mul(4),
        )
    }

    /// A limiter with its own prefix rate and burst.
    pub fn with_prefix(rate_per_sec: u32, burst: u32, prefix_rate: u32, prefix_burst: u32) -> Self {
        ReplyLimiter {
            addr: Buckets::new(rate_per_sec, burst),
            prefix: Buckets::new(prefix_rate, prefix_burst),
            hasher: RandomState::new(),
        }
    }

    /// Takes one token from `src`'s address and prefix buckets if both have one.
    pub fn check(&mut self, now: Instant, src: SocketAddr) -> Result<(), Limited> {
        let a = self.slot(src);
        let p = self.prefix_slot(src);
        if !self.addr.refill(now, a) {
            return Err(Limited::Address);
        }
        if !self.prefix.refill(now, p) {
            return Err(Limited::Prefix);
        }
        self.addr.take(a);
        self.prefix.take(p);
        Ok(())
    }

    /// Like [`check`](Self::check), as a yes or no.
    pub fn allow(&mut self, now: Instant, src: SocketAddr) -> bool {
        self.check(now, src).is_ok()
    }

    /// The address bucket `src` uses (its port plays no part).
    pub(crate) fn slot(&self, src: SocketAddr) -> usize {
        // REPLY_LIMITER_SLOTS need not be a power of two; `%` is cheap enough.
        (self.hasher.hash_one((0u8, src.ip())) % REPLY_LIMITER_SLOTS as u64) as usize
    }

    fn prefix_slot(&self, src: SocketAddr) -> usize {
        (self.hasher.hash_one((1u8, prefix_of(src.ip()))) % REPLY_LIMITER_SLOTS as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Distinct addresses in distinct /24s for distinct `n`.
    fn addr(n: u16) -> SocketAddr {
        SocketAddr::from(([10, (n >> 8) as u8, n as u8, 1], 5000))
    }

    #[test]
    fn ports_of_one_address_share_its_bucket() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::new(1, 3);
        let ip = [192, 0, 2, 1];
        assert!((0..3).all(|p| l.allow(t0, SocketAddr::from((ip, 1000 + p)))));
        assert_eq!(
            l.check(t0, SocketAddr::from((ip, 2000))),
            Err(Limited::Address)
        );
    }

    #[test]
    fn addresses_of_one_prefix_share_its_bucket() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::with_prefix(100, 100, 1, 5);
        let got = (1..=50u8)
            .filter(|&h| l.allow(t0, SocketAddr::from(([192, 0, 2, h], 9))))
            .count();
        assert_eq!(got, 5);
        assert_eq!(
            l.check(t0, SocketAddr::from(([192, 0, 2, 99], 9))),
            Err(Limited::Prefix)
        );
        // Another /24 is untouched.
        assert!(l.allow(t0, SocketAddr::from(([192, 0, 3, 1], 9))));
        let v6: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        assert_eq!(prefix_of(v6), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
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
