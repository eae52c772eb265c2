//! `/metrics` and `/healthz`, sans-IO: the Prometheus text exposition of
//! the hub's counters, and the HTTP request parsing and replies. The event
//! loop's HTTP shell (`server::http`) moves the bytes.
//!
//! Every numeric leaf of the `stats` reply becomes one series, named from
//! its path (`udp.datagrams` → `hub_udp_datagrams_total`): a counter unless
//! [`GAUGES`] lists it as a gauge (with its name in base units). So a
//! counter added to `stats` is exported without touching this file. The
//! ACK round-trip time is a histogram with fixed buckets ([`RTT_BUCKETS_S`]);
//! per-device series come only when asked for (`--metrics-per-device`).

pub mod exposition;
pub mod http;

pub use exposition::Exposition;

/// Default HTTP port for `/metrics` (the port range Prometheus exporters use).
pub const METRICS_PORT: u16 = 9464;

/// `stats` paths that are gauges, with the metric name (base units) and help.
pub const GAUGES: &[(&str, &str, &str)] = &[
    (
        "uptime_s",
        "hub_uptime_seconds",
        "Seconds since the hub started.",
    ),
    (
        "connections",
        "hub_connected_devices",
        "Device TCP connections open now, registered or not.",
    ),
    (
        "max_connections",
        "hub_max_connections",
        "The device connection cap in force.",
    ),
    (
        "admin_sessions",
        "hub_admin_sessions",
        "Admin port sessions open now.",
    ),
    (
        "registered",
        "hub_registered_devices",
        "Devices registered over TCP now.",
    ),
    (
        "udp.devices_tracked",
        "hub_udp_devices_tracked",
        "Devices whose UDP state the hub keeps now.",
    ),
    (
        "udp_rcvbuf_granted",
        "hub_udp_rcvbuf_granted_bytes",
        "UDP receive buffer the kernel granted.",
    ),
    (
        "recorder.in_flight",
        "hub_recorder_in_flight_rows",
        "Readings accepted but not yet written, dropped or failed.",
    ),
    (
        "recorder.queue_depth",
        "hub_recorder_queue_rows",
        "Rows waiting in the recorder's queue.",
    ),
    (
        "recorder.queue_capacity",
        "hub_recorder_queue_capacity_rows",
        "Capacity of the recorder's queue.",
    ),
    (
        "log.losing",
        "hub_log_losing",
        "1 while the event log's writes fail (lines are counted in hub_log_lines_lost_total).",
    ),
    (
        "recorder.db_open",
        "hub_recorder_db_open",
        "1 while the recorder's database is open.",
    ),
    (
        "recorder.lag_s",
        "hub_recorder_lag_seconds",
        "Seconds since the last commit while rows wait (0 when none wait).",
    ),
    (
        "http.last_render_s",
        "hub_metrics_render_seconds",
        "Loop time the last /metrics page took to build.",
    ),
    (
        "http.max_render_s",
        "hub_metrics_render_max_seconds",
        "Longest loop time a /metrics page took to build.",
    ),
    (
        "http.last_render_cpu_s",
        "hub_metrics_render_cpu_seconds",
        "Loop thread CPU time the last /metrics page took to build.",
    ),
    (
        "recorder.last_error_age_s",
        "hub_recorder_last_error_age_seconds",
        "Seconds since the last failed write.",
    ),
];

/// `stats` leaves that are not exported as plain series.
pub const SKIPPED: &[&str] = &["ack_rtt_us"];

/// Upper bounds of the ACK round-trip histogram's buckets, in seconds.
pub const RTT_BUCKETS_S: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One device's series (`--metrics-per-device`).
#[derive(Debug, Clone, Copy)]
pub struct DeviceSample<'a> {
    pub device: &'a str,
    pub kind: &'a str,
    pub value: f64,
    pub age_s: f64,
}

#[cfg(test)]
mod tests;
