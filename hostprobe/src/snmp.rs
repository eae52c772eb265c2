//! The machine-wide `Udp:` counters of `/proc/net/snmp`: a receive buffer
//! that overflowed anywhere on the host shows up in `RcvbufErrors`.

use std::fs;

use serde::{Deserialize, Serialize};

/// The `Udp:` counters a load test needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpSnmp {
    pub in_datagrams: u64,
    pub in_errors: u64,
    pub rcvbuf_errors: u64,
    pub sndbuf_errors: u64,
}

impl UdpSnmp {
    /// Reads `/proc/net/snmp`, or `None` where it cannot be read.
    pub fn read() -> Option<Self> {
        parse(&fs::read_to_string("/proc/net/snmp").ok()?)
    }

    /// Counter increase from `before` to `self`.
    pub fn since(&self, before: &UdpSnmp) -> UdpSnmp {
        UdpSnmp {
            in_datagrams: self.in_datagrams.saturating_sub(before.in_datagrams),
            in_errors: self.in_errors.saturating_sub(before.in_errors),
            rcvbuf_errors: self.rcvbuf_errors.saturating_sub(before.rcvbuf_errors),
            sndbuf_errors: self.sndbuf_errors.saturating_sub(before.sndbuf_errors),
        }
    }
}

/// Parses the two `Udp:` lines (header, values) of `/proc/net/snmp`.
pub fn parse(text: &str) -> Option<UdpSnmp> {
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().skip(1).collect();
    let values: Vec<u64> = lines
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let get = |k: &str| {
        names
            .iter()
            .position(|n| *n == k)
            .and_then(|i| values.get(i).copied())
            .unwrap_or(0)
    };
    Some(UdpSnmp {
        in_datagrams: get("InDatagrams"),
        in_errors: get("InErrors"),
        rcvbuf_errors: get("RcvbufErrors"),
        sndbuf_errors: get("SndbufErrors"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_udp_lines_and_not_udplite() {
        let t = "Ip: a b\nIp: 1 2\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors\nUdp: 100 0 7 90 5 1 0\nUdpLite: InDatagrams RcvbufErrors\nUdpLite: 9 9\n";
        let s = parse(t).unwrap();
        assert_eq!(
            s,
            UdpSnmp {
                in_datagrams: 100,
                in_errors: 7,
                rcvbuf_errors: 5,
                sndbuf_errors: 1
            }
        );
        assert_eq!(parse("Ip: a\nIp: 1\n"), None);
    }

    #[test]
    fn deltas_never_go_negative() {
        let a = UdpSnmp {
            in_datagrams: 10,
            rcvbuf_errors: 3,
            ..UdpSnmp::default()
        };
        let b = UdpSnmp {
            in_datagrams: 25,
            rcvbuf_errors: 1,
            ..UdpSnmp::default()
        };
        let d = b.since(&a);
        assert_eq!((d.in_datagrams, d.rcvbuf_errors), (15, 0));
    }

    #[test]
    fn this_host_has_the_counters() {
        assert!(UdpSnmp::read().is_some());
    }
}
