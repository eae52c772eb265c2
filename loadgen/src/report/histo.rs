//! Latency histograms. Each worker records into its own [`Latencies`] (no
//! sharing on the hot path), ships it to the main thread once a second and
//! resets; the main thread merges them exactly. [`LatencySummary`] is the
//! report's view: percentiles plus the histogram itself, serialized as
//! HdrHistogram V2 + DEFLATE + base64 so runs can be merged later.

use std::time::Duration;

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Lowest trackable latency, µs.
pub const LOWEST_US: u64 = 1;
/// Highest trackable latency, µs (60 s); longer samples are clamped.
pub const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 3;

/// What a latency measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `connect()` issued → registration line written on the connected socket.
    Connect,
    /// Admin `send` line written → command line read by the device.
    CommandDelivery,
    /// Admin `send` line written → the device's ACK written back to the hub.
    CommandRtt,
    /// Intended send time of a cycle's last datagram → its STATUS read
    /// (coordinated-omission corrected).
    Status,
    /// Actual send time of a cycle's last datagram → its STATUS read.
    StatusRaw,
    /// Hub-side wave time (`elapsed_us` of the wave's `done` reply).
    Wave,
    /// Intended send time of a datagram → when it was handed to the kernel:
    /// how far the generator fell behind its own schedule.
    SendLag,
    /// `--delay`: how long a cycle's last datagram was held before sending
    /// (one sample per `status` sample; none without `--delay`).
    InjectedDelay,
    /// `--delay`: the hub's share of a `status` sample, that sample minus
    /// its `injected_delay`.
    StatusHub,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Connect,
        Kind::CommandDelivery,
        Kind::CommandRtt,
        Kind::Status,
        Kind::StatusRaw,
        Kind::Wave,
        Kind::SendLag,
        Kind::InjectedDelay,
        Kind::StatusHub,
    ];

    /// Key in the report's `latency_us` object.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Connect => "connect",
            Kind::CommandDelivery => "command_delivery",
            Kind::CommandRtt => "command_rtt",
            Kind::Status => "status",
            Kind::StatusRaw => "status_raw",
            Kind::Wave => "wave",
            Kind::SendLag => "send_lag",
            Kind::InjectedDelay => "injected_delay",
            Kind::StatusHub => "status_hub",
        }
    }
}

/// A new empty histogram with the run's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("static bounds are valid")
}

/// One histogram per [`Kind`].
#[derive(Debug, Clone)]
pub struct Latencies {
    hists: Vec<Histogram<u64>>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new()
    }
}

impl Latencies {
    pub fn new() -> Self {
        Latencies {
            hists: Kind::ALL.iter().map(|_| new_histogram()).collect(),
        }
    }

    /// Records one sample, clamped into the trackable range.
    #[inline]
    pub fn record(&mut self, kind: Kind, d: Duration) {
        self.record_us(kind, d.as_micros() as u64);
    }

    #[inline]
    pub fn record_us(&mut self, kind: Kind, us: u64) {
        let v = us.clamp(LOWEST_US, HIGHEST_US);
        // Cannot fail: v is within bounds.
        let _ = self.hists[kind as usize].record(v);
    }

    pub fn get(&self, kind: Kind) -> &Histogram<u64> {
        &self.hists[kind as usize]
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Latencies) {
        for (a, b) in self.hists.iter_mut().zip(&other.hists) {
            // Same bounds on both sides, so this cannot fail.
            let _ = a.add(b);
        }
    }

    pub fn reset(&mut self) {
        self.hists.iter_mut().for_each(Histogram::reset);
    }

    pub fn is_empty(&self) -> bool {
        self.hists.iter().all(|h| h.is_empty())
    }
}

/// Percentiles of one latency kind, in µs, and the histogram itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LatencySummary {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub count: u64,
    /// HdrHistogram V2 + DEFLATE, base64 (standard alphabet, padded).
    pub hist: String,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        let q = |p: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(p)
            }
        };
        LatencySummary {
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            p999: q(0.999),
            max: if h.is_empty() { 0 } else { h.max() },
            count: h.len(),
            hist: encode_histogram(h),
        }
    }
}

/// Serializes `h` as base64 of the V2 DEFLATE encoding.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Serializing into a Vec cannot fail for a valid histogram.
    let _ = V2DeflateSerializer::new().serialize(h, &mut bytes);
    base64_encode(&bytes)
}

/// Longest base64 histogram read back: a full 1 µs…60 s histogram with
/// every bucket used encodes to well under this.
pub const MAX_HIST_B64: usize = 1 << 20;
/// Longest inflated histogram payload read back (bounds the decoder's
/// buffer, whatever length a file declares).
pub const MAX_HIST_INFLATED: usize = 4 << 20;
const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_COMPRESSED_COOKIE: u32 = 0x1c84_9304 | 0x10;
/// The V2 header after the cookie: payload length, normalizing offset,
/// digits, lowest, highest, integer-to-double ratio.
const V2_HEADER: usize = 4 + 4 + 4 + 8 + 8 + 8;

/// Inverse of [`encode_histogram`] (for `merge`, `hgrm` and tests), in
/// bounded memory: the text, the inflated payload and the declared bounds
/// (those of [`new_histogram`] at most) are checked before the decoder
/// allocates anything, so a hostile file costs at most a few MB.
pub fn decode_histogram(s: &str) -> Option<Histogram<u64>> {
    use std::io::Read;
    if s.len() > MAX_HIST_B64 {
        return None;
    }
    let bytes = base64_decode(s)?;
    let be32 = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let be64 = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    if be32(&bytes, 0)? != V2_COMPRESSED_COOKIE {
        return None;
    }
    let len = be32(&bytes, 4)? as usize;
    let body = bytes.get(8..8 + len)?;
    let mut inner = Vec::new();
    flate2::read::ZlibDecoder::new(body)
        .take(MAX_HIST_INFLATED as u64 + 1)
        .read_to_end(&mut inner)
        .ok()?;
    if inner.len() > MAX_HIST_INFLATED || be32(&inner, 0)? != V2_COOKIE {
        return None;
    }
    let payload = be32(&inner, 4)? as usize;
    let digits = be32(&inner, 12)?;
    let (low, high) = (be64(&inner, 16)?, be64(&inner, 24)?);
    let fits = payload <= inner.len() - (4 + V2_HEADER).min(inner.len())
        && digits <= 5
        && low >= 1
        && high <= HIGHEST_US.saturating_mul(1000);
    if !fits {
        return None;
    }
    Deserializer::new().deserialize(&mut &inner[..]).ok()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding. Written here to avoid a dependency for
/// forty lines.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s {
        let v = B64.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_decode("Zm9vYmE=").unwrap(), b"fooba");
    }

    #[test]
    fn merge_is_exact_and_round_trips() {
        let mut a = Latencies::new();
        let mut b = Latencies::new();
        for us in 1..=1000 {
            a.record_us(Kind::Status, us);
            b.record_us(Kind::Status, us * 1000);
        }
        b.record(Kind::Connect, Duration::from_secs(600)); // clamped to 60 s
        a.merge(&b);
        let s = LatencySummary::of(a.get(Kind::Status));
        assert_eq!(s.count, 2000);
        assert!(s.p50 >= 999 && s.p50 <= 1001, "{}", s.p50);
        let back = decode_histogram(&s.hist).unwrap();
        assert_eq!(back, *a.get(Kind::Status));
        assert_eq!(
            a.get(Kind::Connect).max(),
            a.get(Kind::Connect).highest_equivalent(HIGHEST_US)
        );
    }

    #[test]
    fn hostile_histograms_are_refused_in_bounded_memory() {
        let mut a = Latencies::new();
        a.record_us(Kind::Status, 1234);
        let good = encode_histogram(a.get(Kind::Status));
        assert!(decode_histogram(&good).is_some());
        let mut raw = base64_decode(&good).unwrap();
        // A declared compressed length far past the data.
        raw[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode_histogram(&base64_encode(&raw)).is_none());
        // An inner header declaring a 4 GB payload.
        let mut inner = Vec::new();
        inner.extend_from_slice(&V2_COOKIE.to_be_bytes());
        inner.extend_from_slice(&u32::MAX.to_be_bytes());
        inner.extend_from_slice(&[0; 4]);
        inner.extend_from_slice(&3u32.to_be_bytes());
        inner.extend_from_slice(&1u64.to_be_bytes());
        inner.extend_from_slice(&HIGHEST_US.to_be_bytes());
        inner.extend_from_slice(&1f64.to_be_bytes());
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut z, &inner).unwrap();
        let body = z.finish().unwrap();
        let mut outer = V2_COMPRESSED_COOKIE.to_be_bytes().to_vec();
        outer.extend_from_slice(&(body.len() as u32).to_be_bytes());
        outer.extend_from_slice(&body);
        assert!(decode_histogram(&base64_encode(&outer)).is_none());
        assert!(decode_histogram(&"A".repeat(MAX_HIST_B64 + 4)).is_none());
        assert!(decode_histogram("not base64!").is_none());
    }

    #[test]
    fn empty_summary_is_zeroes() {
        let s = LatencySummary::of(&new_histogram());
        assert_eq!((s.p99, s.max, s.count), (0, 0, 0));
    }
}
