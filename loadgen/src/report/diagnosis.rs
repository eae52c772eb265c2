//! The loss diagnosis: one line saying where unexplained loss most likely
//! went, from the counters and the kernel's and the hub's drop counters
//! (`loss_diagnosis.explanation` in the report).

use crate::preflight::machine::UdpSnmp;

use super::accounting::Counters;

/// Says where unexplained loss most likely went.
pub fn explain(
    unexplained: i64,
    c: &Counters,
    rcvbuf: Option<u64>,
    snmp: Option<&UdpSnmp>,
    limited: Option<u64>,
) -> String {
    if unexplained == 0 && c.fate_unknown == 0 {
        return "none: every missing datagram was dropped on purpose".into();
    }
    if unexplained == 0 {
        return format!(
            "none among answered cycles; {} datagrams of unanswered cycles have an unknown fate",
            c.fate_unknown
        );
    }
    let mut parts = vec![format!(
        "{unexplained} datagrams missing beyond injected drops"
    )];
    if let Some(d) = rcvbuf.filter(|&d| d > 0) {
        parts.push(format!("hub socket receive-buffer drops: {d}"));
    }
    if let Some(s) = snmp.filter(|s| s.rcvbuf_errors > 0 || s.in_errors > 0) {
        parts.push(format!(
            "/proc/net/snmp Udp RcvbufErrors +{} InErrors +{}",
            s.rcvbuf_errors, s.in_errors
        ));
    }
    if let Some(l) = limited.filter(|&l| l > 0) {
        parts.push(format!("hub rate-limited {l} STATUS replies"));
    }
    if c.injected_not_missing > 0 || c.stray_statuses > 0 {
        parts.push(format!(
            "{} STATUS may be matched to the wrong cycle ({} stray)",
            c.injected_not_missing, c.stray_statuses
        ));
    }
    if parts.len() == 1 {
        parts.push("no kernel or hub drop counter moved".into());
    }
    parts.join("; ")
}
