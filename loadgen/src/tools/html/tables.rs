//! The summary tables of one report's section: devices, datagram fates and
//! the loss accounting, commands and waves, latency percentiles per kind,
//! the generator, CPU, the recorder, the loss diagnosis and the verbatim
//! evidence. Each is a function of the [`Input`] writing into the page's
//! [`Markup`]; figures a reader (or test) looks up carry an id
//! `<letter>-<name>` and their plain value in `data-value`.

use std::fmt::Display;

use crate::report::Report;
use crate::tools::html::escape::Markup;
use crate::tools::html::Input;

/// Waves listed row by row; a longer run's list ends with how many more.
pub const MAX_WAVE_ROWS: usize = 200;

/// One row of a name–value table; `id` names a key figure.
pub struct Kv {
    name: &'static str,
    value: String,
    id: Option<&'static str>,
}

/// A plain row.
pub fn kv(name: &'static str, value: impl Display) -> Kv {
    Kv {
        name,
        value: value.to_string(),
        id: None,
    }
}

/// A key figure's row (`id="<letter>-<id>" data-value="…"`).
pub fn fig(name: &'static str, id: &'static str, value: impl Display) -> Kv {
    Kv {
        name,
        value: value.to_string(),
        id: Some(id),
    }
}

/// `v`, or `-` when absent (as `loadgen table` prints it).
pub fn opt<T: Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Microseconds as milliseconds, three decimals.
pub fn ms(us: u64) -> String {
    format!("{:.3}", us as f64 / 1e3)
}

/// A name–value table with a caption.
pub fn kv_table(m: &mut Markup, letter: char, caption: &str, rows: &[Kv]) {
    m.open("table", &[("class", &"kv")])
        .el("caption", &[], caption);
    for r in rows {
        m.open("tr", &[]).el("th", &[], r.name);
        match r.id {
            Some(id) => {
                let id = format!("{letter}-{id}");
                m.el(
                    "td",
                    &[("class", &"n"), ("id", &id), ("data-value", &r.value)],
                    &r.value,
                )
            }
            None => m.el("td", &[("class", &"n")], &r.value),
        };
        m.close("tr");
    }
    m.close("table");
}

/// A table with a header row and text cells.
pub fn grid(m: &mut Markup, class: &'static str, head: &[&str], rows: &[Vec<String>]) {
    m.open("table", &[("class", &class)]).open("tr", &[]);
    for h in head {
        m.el("th", &[], h);
    }
    m.close("tr");
    for r in rows {
        m.open("tr", &[]);
        for c in r {
            m.el("td", &[], c);
        }
        m.close("tr");
    }
    m.close("table");
}

/// Opens a row of tables side by side (closed by the caller).
fn flex(m: &mut Markup) {
    m.open("div", &[("class", &"kvs")]);
}

pub fn devices(m: &mut Markup, i: &Input) {
    let d = &i.report.devices;
    let c = &d.disconnects_by_cause;
    flex(m);
    kv_table(
        m,
        i.letter,
        "fleet",
        &[
            fig("requested", "devices-requested", d.requested),
            fig("registered", "devices-registered", d.registered),
            kv("refused", d.refused),
            fig("up at end", "devices-up_at_end", d.up_at_end),
            kv("peak up", d.peak_up),
            kv("registrations", d.registrations),
            kv("reconnects", d.reconnects),
            kv("connect failures", d.connect_failures),
            kv("time to register all, ms", opt(d.time_to_register_all_ms)),
        ],
    );
    kv_table(
        m,
        i.letter,
        "disconnects and outages",
        &[
            kv("disconnects", d.disconnects),
            kv("… end of stream", c.eof),
            kv("… reset", c.reset),
            kv("… ERROR line", c.error_line),
            kv("… hub violation", c.hub_violation),
            kv("hub protocol violations", d.hub_violations),
            kv("outages", d.outage_count),
            kv("longest outage, ms", opt(d.longest_outage_ms)),
            kv("outages in all, ms", opt(d.outage_total_ms)),
        ],
    );
    kv_table(
        m,
        i.letter,
        "the hub's count",
        &[
            kv("hub says registered", opt(d.hub_registered)),
            kv("hub shared with others", d.hub_shared),
        ],
    );
    m.close("div");
}

pub fn udp(m: &mut Markup, i: &Input) {
    let r = &i.report;
    let u = &r.udp;
    let f = &u.fates;
    if r.schema_version < 2 {
        m.el("p", &[("class", &"note")], "A schema 1 report: datagram fates were not counted yet (shown as 0); the loss accounting below was.");
    }
    flex(m);
    kv_table(
        m,
        i.letter,
        "fates (generated = the sum)",
        &[
            fig("generated", "udp-generated", u.generated),
            kv("received", f.received),
            fig("missing", "fates-missing", f.missing),
            fig("unknown", "fates-unknown", f.unknown),
            kv("injected", f.injected),
            kv("send errors", f.send_errors),
            kv("reordered (received)", f.reordered),
            kv("corrupted (hub must drop)", f.corrupted),
            kv("unsent (held by --delay at the end)", f.unsent),
            kv("duplicated (extra copies, beside the sum)", f.duplicated),
            fig("identity", "udp-identity", &u.identity),
        ],
    );
    kv_table(
        m,
        i.letter,
        "loss accounting",
        &[
            fig("sent", "udp-sent", u.sent),
            kv("datagrams/s", format!("{:.0}", u.datagrams_per_s)),
            kv("injected drops", u.injected_drops),
            kv("reported missing", u.reported_missing),
            kv("reported received", u.reported_received),
            kv("injected in closed cycles", u.injected_in_closed_cycles),
            fig("unexplained loss", "unexplained_loss", u.unexplained_loss),
            kv("blurred by overload", u.blurred_by_overload),
            kv("missing, not injected", u.missing_not_injected),
            kv("injected, not missing", u.injected_not_missing),
            kv("cut at stop", u.cut_at_stop),
        ],
    );
    kv_table(
        m,
        i.letter,
        "cycles and STATUS",
        &[
            kv("cycles started", u.cycles_started),
            kv("STATUS matched", u.statuses),
            fig("STATUS timeouts", "status_timeouts", u.status_timeouts),
            kv("unseen cycles", u.unseen_cycles),
            kv("open at end", u.open_at_end),
            kv("STATUS invalid", u.status_invalid),
            kv("STATUS contradicting", u.status_unfit),
            kv("STATUS skipped", u.status_skipped),
            kv("stray STATUS", u.stray_statuses),
            kv("uncertain matches", u.uncertain_matches),
        ],
    );
    m.close("div");
}

pub fn loss_diagnosis(m: &mut Markup, i: &Input) {
    let l = &i.report.loss_diagnosis;
    let snmp = l.snmp_udp_delta.as_ref();
    kv_table(
        m,
        i.letter,
        "where loss went",
        &[
            kv(
                "hub socket receive-buffer drops",
                opt(l.hub_udp_rcvbuf_drops),
            ),
            kv(
                "/proc/net/snmp RcvbufErrors +",
                opt(snmp.map(|s| s.rcvbuf_errors)),
            ),
            kv("/proc/net/snmp InErrors +", opt(snmp.map(|s| s.in_errors))),
            kv(
                "STATUS rate-limited by the hub",
                opt(l.statuses_rate_limited),
            ),
            fig("explanation", "loss-explanation", &l.explanation),
        ],
    );
}

pub fn commands(m: &mut Markup, i: &Input) {
    let c = &i.report.commands;
    flex(m);
    kv_table(
        m,
        i.letter,
        "measured waves",
        &[
            fig("waves", "waves", c.waves),
            kv("commands sent", c.sent),
            fig("acked", "commands-acked", c.acked),
            kv("timed out", c.timed_out),
            kv("failed", c.failed),
        ],
    );
    kv_table(
        m,
        i.letter,
        "devices' side (whole run)",
        &[
            kv("commands received", c.received_by_devices),
            kv("ACKs written", c.acks_written),
            kv("SET_INTERVAL applied", c.set_interval_applied),
            kv("alarms activated", c.alarms_activated),
            kv("kicks", c.kicks),
            kv("admin reconnects", c.admin_reconnects),
        ],
    );
    m.close("div");
    if !c.wave_list.is_empty() {
        let rows: Vec<Vec<String>> = c
            .wave_list
            .iter()
            .take(MAX_WAVE_ROWS)
            .map(|w| {
                vec![
                    w.id.to_string(),
                    w.command.clone(),
                    w.sent_at_ms.to_string(),
                    w.reached.to_string(),
                    w.acked.to_string(),
                    w.timed_out.to_string(),
                    w.failed.to_string(),
                    ms(w.elapsed_us),
                    ms(w.observed_us),
                    if w.done { "yes" } else { "no" }.into(),
                    if w.measured { "yes" } else { "warm-up" }.into(),
                ]
            })
            .collect();
        m.open("details", &[])
            .el("summary", &[], format_args!("{} waves", c.wave_list.len()));
        grid(
            m,
            "waves",
            &[
                "id",
                "command",
                "sent at ms",
                "reached",
                "acked",
                "timed out",
                "failed",
                "hub ms",
                "observed ms",
                "done",
                "measured",
            ],
            &rows,
        );
        if c.wave_list.len() > MAX_WAVE_ROWS {
            m.el(
                "p",
                &[("class", &"note")],
                format_args!(
                    "… {} more waves (see the JSON)",
                    c.wave_list.len() - MAX_WAVE_ROWS
                ),
            );
        }
        m.close("details");
    }
    list(m, i.letter, "admin-errors", "admin errors", &c.errors);
}

/// A list of verbatim lines (hub-sent text: escaped like all text).
fn list(m: &mut Markup, letter: char, id: &'static str, caption: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let id = format!("{letter}-{id}");
    m.el("h4", &[], caption)
        .open("ul", &[("id", &id), ("class", &"verbatim")]);
    for s in items {
        m.open("li", &[]).el("code", &[], s).close("li");
    }
    m.close("ul");
}

pub fn latency(m: &mut Markup, i: &Input) {
    let r = &i.report;
    m.open("table", &[("class", &"latency")]).open("tr", &[]);
    for h in ["kind, ms", "p50", "p90", "p99", "p99.9", "max", "count"] {
        m.el("th", &[], h);
    }
    m.close("tr");
    let mut keys: Vec<&String> = r.latency_us.keys().collect();
    keys.sort_by_key(|k| {
        super::KINDS
            .iter()
            .position(|x| x == k)
            .unwrap_or(super::KINDS.len())
    });
    for k in keys {
        let l = &r.latency_us[k];
        m.open("tr", &[]).el("th", &[], k);
        for (name, us) in [
            ("p50", l.p50),
            ("p90", l.p90),
            ("p99", l.p99),
            ("p999", l.p999),
            ("max", l.max),
        ] {
            let id = format!("{}-lat-{k}-{name}", i.letter);
            m.el(
                "td",
                &[("class", &"n"), ("id", &id), ("data-value", &us)],
                ms(us),
            );
        }
        let id = format!("{}-lat-{k}-count", i.letter);
        m.el(
            "td",
            &[("class", &"n"), ("id", &id), ("data-value", &l.count)],
            l.count,
        );
        m.close("tr");
    }
    m.close("table");
}

pub fn generator(m: &mut Markup, i: &Input) {
    let g = &i.report.generator;
    kv_table(
        m,
        i.letter,
        "generator schedule",
        &[
            kv("workers", g.workers),
            kv("workers reported", g.workers_reported),
            kv("send lag p99, ms", ms(g.send_lag_p99_us)),
            kv("send lag max, ms", ms(g.send_lag_max_us)),
            kv("late sends", g.late_sends),
            fig("saturated", "generator-saturated", g.saturated),
        ],
    );
}

pub fn cpu(m: &mut Markup, i: &Input) {
    let c = &i.report.cpu;
    let secs = |v: f64| format!("{v:.3}");
    flex(m);
    kv_table(
        m,
        i.letter,
        "CPU, seconds",
        &[
            fig("generator (loadgen)", "cpu-loadgen", secs(c.loadgen_s)),
            fig("embedded hub", "cpu-hub", opt(c.hub_s.map(secs))),
            kv("process user", secs(c.process_user_s)),
            kv("process system", secs(c.process_sys_s)),
        ],
    );
    let rows: Vec<Vec<String>> = c
        .threads
        .iter()
        .map(|(n, s)| vec![n.clone(), secs(*s)])
        .collect();
    if !rows.is_empty() {
        grid(m, "threads", &["thread alive at the end", "CPU s"], &rows);
    }
    m.close("div");
}

pub fn recorder(m: &mut Markup, i: &Input) {
    let Some(rec) = &i.report.recorder else {
        m.el(
            "p",
            &[("class", &"note")],
            "No recorder counters (no recorder, or the hub did not report one).",
        );
        return;
    };
    let s = &rec.stats;
    kv_table(
        m,
        i.letter,
        "the hub's recorder",
        &[
            kv("database", &s.path),
            kv("accepted", s.accepted),
            fig("written", "recorder-written", s.written),
            kv("dropped, queue full", s.dropped_queue_full),
            kv("write errors", s.write_errors),
            kv("in flight", s.in_flight),
            kv("batches", s.batches),
            fig("identity", "recorder-identity", &rec.identity),
            kv("exact (nothing in flight)", rec.exact),
            kv("last error", opt(s.last_error.as_deref())),
        ],
    );
}

pub fn evidence(m: &mut Markup, i: &Input) {
    let e = &i.report.evidence;
    if e.is_empty() {
        m.el(
            "p",
            &[("class", &"note")],
            "No evidence kept (nothing was refused or broken, or a schema 1 report).",
        );
        return;
    }
    list(
        m,
        i.letter,
        "evidence-status_invalid",
        "refused STATUS",
        &e.status_invalid,
    );
    list(
        m,
        i.letter,
        "evidence-refusals",
        "refused registrations",
        &e.refusals,
    );
    list(
        m,
        i.letter,
        "evidence-violations",
        "hub protocol violations",
        &e.violations,
    );
}

/// The run: when, what, where, and the command line.
pub fn run(m: &mut Markup, i: &Input) {
    let r: &Report = &i.report;
    let u = &r.run;
    flex(m);
    kv_table(
        m,
        i.letter,
        "run",
        &[
            fig("schema version", "schema_version", r.schema_version),
            kv("started (UTC)", &u.start_time),
            kv("run id", opt(u.run_id.as_deref())),
            kv("git commit", opt(u.git_commit.as_deref())),
            kv("loadgen", &u.crate_version),
            kv("wall time, s", format!("{:.2}", u.wall_s)),
            kv("seed", u.seed),
            kv(
                "shard",
                opt(r.shard.as_ref().map(|s| format!("{}/{}", s.index, s.count))),
            ),
        ],
    );
    kv_table(
        m,
        i.letter,
        "hub and machine",
        &[
            kv("embedded hub", u.embedded_hub),
            kv("TCP", &u.hub_tcp),
            kv("UDP", &u.hub_udp),
            kv("admin", &u.hub_admin),
            kv("cores", u.machine.cores),
            kv("kernel", opt(u.machine.kernel.as_deref())),
            kv(
                "open files (soft/hard)",
                format!("{}/{}", u.machine.ulimit_n, u.machine.ulimit_n_hard),
            ),
        ],
    );
    m.close("div");
    m.open("p", &[]).text("command line: ");
    m.el("code", &[], u.command_line.join(" ")).close("p");
}
