use super::*;
use hdrhistogram::Histogram;
use serde_json::json;

#[test]
fn stats_leaves_become_counters_and_listed_gauges() {
    let mut e = Exposition::new();
    e.stats(&json!({
        "uptime_s": 1.5,
        "registered": 3,
        "registrations": 7,
        "udp": {"datagrams": 42, "devices_tracked": 2},
        "recorder": {"path": "x.db", "db_open": true, "written": 5, "last_error": null},
        "ack_rtt_us": {"p50": 1},
    }));
    let page = e.finish();
    for want in [
        "# TYPE hub_uptime_seconds gauge\nhub_uptime_seconds 1.5\n",
        "# TYPE hub_registered_devices gauge\nhub_registered_devices 3\n",
        "# TYPE hub_registrations_total counter\nhub_registrations_total 7\n",
        "# TYPE hub_udp_datagrams_total counter\nhub_udp_datagrams_total 42\n",
        "# TYPE hub_udp_devices_tracked gauge\nhub_udp_devices_tracked 2\n",
        "hub_recorder_db_open 1\n",
        "hub_recorder_written_total 5\n",
    ] {
        assert!(page.contains(want), "{want:?} not in\n{page}");
    }
    assert!(!page.contains("p50") && !page.contains("path"), "{page}");
    // Every series has HELP and TYPE right before it.
    let lines: Vec<&str> = page.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if !l.starts_with('#') {
            let name = l.split([' ', '{']).next().unwrap();
            assert!(
                lines[..i]
                    .iter()
                    .any(|h| *h == format!("# TYPE {name} counter")
                        || *h == format!("# TYPE {name} gauge")),
                "{l}"
            );
        }
    }
}

#[test]
fn the_histogram_is_cumulative_in_seconds() {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for us in [300, 800, 20_000, 3_000_000] {
        h.record(us).unwrap();
    }
    let mut e = Exposition::new();
    e.histogram_us("hub_ack_rtt_seconds", "ACK round trip.", &h);
    let page = e.finish();
    assert!(page.contains("# TYPE hub_ack_rtt_seconds histogram\n"));
    assert!(
        page.contains("hub_ack_rtt_seconds_bucket{le=\"0.0005\"} 1\n"),
        "{page}"
    );
    assert!(page.contains("hub_ack_rtt_seconds_bucket{le=\"0.001\"} 2\n"));
    assert!(page.contains("hub_ack_rtt_seconds_bucket{le=\"0.025\"} 3\n"));
    assert!(page.contains("hub_ack_rtt_seconds_bucket{le=\"2.5\"} 3\n"));
    assert!(page.contains("hub_ack_rtt_seconds_bucket{le=\"5\"} 4\n"));
    assert!(page.contains("hub_ack_rtt_seconds_bucket{le=\"+Inf\"} 4\n"));
    assert!(page.contains("hub_ack_rtt_seconds_count 4\n"));
    let sum: f64 = page
        .lines()
        .find_map(|l| l.strip_prefix("hub_ack_rtt_seconds_sum "))
        .unwrap()
        .parse()
        .unwrap();
    assert!((sum - 3.0211).abs() < 0.01, "{sum}");
}

#[test]
fn device_series_escape_their_labels() {
    let samples = [
        DeviceSample {
            device: "S1",
            kind: "temperature",
            value: 24.5,
            age_s: 0.25,
        },
        DeviceSample {
            device: "a\"b\\c",
            kind: "x",
            value: f64::NAN,
            age_s: 1.0,
        },
    ];
    let mut e = Exposition::new();
    e.devices(&samples);
    let page = e.finish();
    assert!(page.contains("hub_sensor_value{device=\"S1\",type=\"temperature\"} 24.5\n"));
    assert!(page.contains("hub_sensor_age_seconds{device=\"S1\",type=\"temperature\"} 0.25\n"));
    assert!(
        page.contains("hub_sensor_value{device=\"a\\\"b\\\\c\",type=\"x\"} NaN\n"),
        "{page}"
    );
    assert_eq!(page.matches("# TYPE").count(), 2);
}
