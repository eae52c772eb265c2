//! The operator: a client of the hub's admin port (a line protocol with one
//! JSON object per reply line). On its own thread it sends command waves
//! (`send * SET_INTERVAL n`, `send * ACTIVATE_ALARM`, alternating; a shard
//! or a generator on a shared hub sends `send prefix=<p>,ids=<a>-<b> …`) every
//! `--command-every`, waits for each wave's `done` reply, and optionally
//! `quit`s one device every `--kick-every`. Before writing a wave it stores
//! the send time in a shared atomic, which the workers read to time command
//! delivery. [`query`] is a one-shot request (used for the final `stats`).
//! Every read has a deadline; nothing here can hang a run.
//!
//! When the admin connection breaks (the hub restarted, a reply timed out)
//! or cannot be opened, the operator logs the error and reconnects with
//! jittered backoff until the run ends; actions that fall due while it is
//! down run as soon as it is back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use hub::ops::client::{
    check_ok, query, query_stats, typed, Admin, AdminError, CONNECT_TIMEOUT, MAX_REPLY,
    REPLY_TIMEOUT,
};
use hub::ops::wire::{SentReply, WaveDone};
use serde::{Deserialize, Serialize};

use crate::live::backoff::Backoff;
use crate::rng::SplitMix64;

/// Longest wait for a wave's `done` (the hub's ACK timeout is 10 s).
pub const WAVE_TIMEOUT: Duration = Duration::from_secs(15);
/// First wait before reconnecting to the admin port after a failure.
pub const ADMIN_RETRY_BASE: Duration = Duration::from_millis(100);
/// Longest wait between admin reconnect attempts (before jitter), so a hub
/// that comes back is found within about this long.
pub const ADMIN_RETRY_MAX: Duration = Duration::from_secs(2);
/// RNG stream of the operator's jitter (device streams are `0..devices`).
const RNG_STREAM: u64 = u64::MAX;

/// The outcome of one command wave.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Wave {
    pub id: u64,
    pub command: String,
    /// Milliseconds after the run started that the wave was sent.
    pub sent_at_ms: u64,
    pub reached: u64,
    pub acked: u64,
    pub timed_out: u64,
    pub failed: u64,
    /// Hub-side wave time (first command sent → last ACK or timeout).
    pub elapsed_us: u64,
    /// Loadgen-side: `send` written → `done` read.
    pub observed_us: u64,
    /// False when the `done` reply never came (then counts are partial).
    pub done: bool,
    /// Started after the warm-up.
    pub measured: bool,
}

/// What the operator did during the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OperatorLog {
    pub waves: Vec<Wave>,
    pub kicks: u64,
    /// Errors in order; a run of identical ones is one entry ending `(×n)`.
    pub errors: Vec<String>,
    /// Admin connections re-opened after one failed or broke.
    pub reconnects: u64,
    /// The final `stats` found nothing listening on the admin port
    /// (connection refused), as opposed to a port that misbehaved.
    #[serde(default)]
    pub admin_absent: bool,
    /// Repeats of the last error, for the `(×n)` suffix.
    #[serde(skip)]
    last_error: Option<(String, u64)>,
}

impl OperatorLog {
    /// Logs `e`, folding a repeat of the previous error into its entry so a
    /// long outage does not grow the list by one line per retry.
    pub fn error(&mut self, e: impl ToString) {
        let e = e.to_string();
        match &mut self.last_error {
            Some((last, n)) if *last == e && !self.errors.is_empty() => {
                *n += 1;
                *self.errors.last_mut().expect("non-empty") = format!("{e} (×{n})");
            }
            _ => {
                self.errors.push(e.clone());
                self.last_error = Some((e, 1));
            }
        }
    }
}

/// The admin connection, or when to try opening it again.
enum Link {
    Up(Admin),
    Down { retry_at: Instant },
}

/// Opens the admin connection, or logs why not and schedules a retry.
fn connect(
    plan: &OperatorPlan,
    log: &mut OperatorLog,
    backoff: &mut Backoff,
    rng: &mut SplitMix64,
) -> Link {
    let had_failed = backoff.attempts() > 0;
    match Admin::connect(plan.admin) {
        Ok(a) => {
            if had_failed {
                log.reconnects += 1;
            }
            backoff.reset();
            Link::Up(a)
        }
        Err(e) => {
            log.error(e);
            Link::Down {
                retry_at: Instant::now() + backoff.next_delay(rng),
            }
        }
    }
}

/// When and what the operator does.
pub struct OperatorPlan {
    pub admin: SocketAddr,
    pub command_every: Option<Duration>,
    /// When the first wave goes out (default: one `command_every` after
    /// `epoch`); a short run sends it as soon as the fleet should be up.
    pub first_wave: Option<Instant>,
    pub set_interval: u32,
    pub kick_every: Option<Duration>,
    /// Devices to `quit`, taken round robin.
    pub kick_names: Vec<String>,
    pub epoch: Instant,
    pub measure_from: Instant,
    pub stop_at: Instant,
    pub wave_sent_ns: Arc<AtomicU64>,
    /// Seeds the reconnect jitter.
    pub seed: u64,
    /// Which devices a wave goes to: `*`, or `prefix=<p>,ids=<a>-<b>` when
    /// other generators share the hub (a shard reaches only its own).
    pub target: String,
}

/// Runs the operator until `stop_at`.
pub fn run(plan: OperatorPlan) -> OperatorLog {
    let mut log = OperatorLog::default();
    if plan.command_every.is_none() && plan.kick_every.is_none() {
        return log;
    }
    let mut rng = SplitMix64::new(plan.seed, RNG_STREAM);
    let mut backoff = Backoff::new(ADMIN_RETRY_BASE, ADMIN_RETRY_MAX);
    let mut link = connect(&plan, &mut log, &mut backoff, &mut rng);
    let mut next_wave = plan
        .command_every
        .map(|d| plan.first_wave.unwrap_or(plan.epoch + d));
    let mut next_kick = plan.kick_every.map(|d| plan.epoch + d);
    let mut kick_i = 0usize;
    let mut alarm_next = false;
    loop {
        let next = match (&link, next_wave, next_kick) {
            (Link::Down { retry_at }, _, _) => *retry_at,
            (Link::Up(_), Some(a), Some(b)) => a.min(b),
            (Link::Up(_), a, b) => a.or(b).expect("one is set"),
        };
        if next >= plan.stop_at {
            break;
        }
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        let admin = match &mut link {
            Link::Up(a) => a,
            Link::Down { .. } => {
                link = connect(&plan, &mut log, &mut backoff, &mut rng);
                continue; // overdue actions run on the next pass
            }
        };
        let now = Instant::now();
        let mut broken = false;
        if next_kick.is_some_and(|t| t <= now) && !plan.kick_names.is_empty() {
            let name = &plan.kick_names[kick_i % plan.kick_names.len()];
            kick_i += 1;
            match admin.request(&format!("quit {name}")) {
                Ok(_) => log.kicks += 1,
                Err(e) => {
                    broken |= e.breaks_connection();
                    log.error(e);
                }
            }
            next_kick = plan.kick_every.map(|d| now + d);
        }
        if !broken && next_wave.is_some_and(|t| t <= now) {
            let command = if alarm_next {
                "ACTIVATE_ALARM".to_string()
            } else {
                format!("SET_INTERVAL {}", plan.set_interval)
            };
            alarm_next = !alarm_next;
            match wave(admin, &plan, &command) {
                Ok(w) => log.waves.push(w),
                Err(e) => {
                    broken |= e.breaks_connection();
                    log.error(e);
                }
            }
            next_wave = plan.command_every.map(|d| Instant::now() + d);
        }
        if broken {
            link = Link::Down {
                retry_at: Instant::now() + backoff.next_delay(&mut rng),
            };
        }
    }
    log
}

/// Sends one `send <target> <command>` wave and waits for its `done`.
fn wave(admin: &mut Admin, plan: &OperatorPlan, command: &str) -> Result<Wave, AdminError> {
    let sent = Instant::now();
    let ns = sent.duration_since(plan.epoch).as_nanos().max(1) as u64;
    plan.wave_sent_ns.store(ns, Ordering::Release);
    let result = wave_inner(admin, &plan.target, command, sent);
    plan.wave_sent_ns.store(0, Ordering::Release);
    let mut w = result?;
    w.sent_at_ms = sent.duration_since(plan.epoch).as_millis() as u64;
    w.measured = sent >= plan.measure_from;
    Ok(w)
}

fn wave_inner(
    admin: &mut Admin,
    target: &str,
    command: &str,
    sent: Instant,
) -> Result<Wave, AdminError> {
    admin.send_line(&format!("send {target} {command}"))?;
    let deadline = sent + WAVE_TIMEOUT;
    let first = check_ok(admin.next_json(deadline, "the wave reply")?)?;
    let first: SentReply = typed(&first)?;
    let id = first.wave;
    let mut w = Wave {
        id,
        command: command.to_string(),
        reached: first.reached,
        ..Wave::default()
    };
    if w.reached == 0 {
        w.done = true;
        return Ok(w);
    }
    loop {
        let v = match admin.next_json(deadline, "the wave's done") {
            Ok(v) => v,
            Err(AdminError::Timeout(_)) => return Ok(w),
            Err(e) => return Err(e),
        };
        // Other lines (another wave's done, a late reply) are not ours.
        let Ok(done) = WaveDone::deserialize(&v) else {
            continue;
        };
        if done.wave != id || !done.done {
            continue;
        }
        w.reached = done.reached;
        w.acked = done.acked;
        w.timed_out = done.timed_out;
        w.failed = done.failed;
        w.elapsed_us = done.elapsed_us;
        w.observed_us = sent.elapsed().as_micros() as u64;
        w.done = true;
        return Ok(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A scripted admin peer: answers each line it reads with `replies`.
    fn fake_admin(replies: Vec<&'static str>) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            for rep in replies {
                w.write_all(rep.as_bytes()).unwrap();
                w.write_all(b"\n").unwrap();
            }
            let _ = r.read_line(&mut line);
        });
        addr
    }

    #[test]
    fn wave_waits_for_its_own_done() {
        let addr = fake_admin(vec![
            r#"{"ok":true,"wave":7,"reached":3,"refused":0}"#,
            r#"{"ok":true,"wave":6,"done":true,"reached":1,"acked":1,"timed_out":0,"failed":0,"elapsed_us":5}"#,
            r#"{"ok":true,"wave":7,"done":true,"reached":3,"acked":2,"timed_out":1,"failed":0,"elapsed_us":900}"#,
        ]);
        let mut a = Admin::connect(addr).unwrap();
        let w = wave_inner(&mut a, "*", "ACTIVATE_ALARM", Instant::now()).unwrap();
        assert_eq!(
            (w.id, w.reached, w.acked, w.timed_out, w.elapsed_us, w.done),
            (7, 3, 2, 1, 900, true)
        );
    }

    /// An admin peer that answers `ok` to every line, but hangs up after
    /// the first line of its first connection (a hub going away).
    fn flaky_admin() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for (n, s) in l.incoming().enumerate() {
                let Ok(s) = s else { return };
                std::thread::spawn(move || {
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    let mut w = s;
                    let mut line = String::new();
                    while matches!(r.read_line(&mut line), Ok(k) if k > 0) {
                        if w.write_all(b"{\"ok\":true}\n").is_err() || n == 0 {
                            return;
                        }
                        line.clear();
                    }
                });
            }
        });
        addr
    }

    #[test]
    fn reconnects_after_the_admin_connection_breaks() {
        let now = Instant::now();
        let log = run(OperatorPlan {
            admin: flaky_admin(),
            command_every: None,
            first_wave: None,
            set_interval: 1,
            kick_every: Some(Duration::from_millis(50)),
            kick_names: vec!["Sensor1".into()],
            epoch: now,
            measure_from: now,
            stop_at: now + Duration::from_millis(800),
            wave_sent_ns: Arc::new(AtomicU64::new(0)),
            seed: 1,
            target: "*".into(),
        });
        assert_eq!(log.reconnects, 1, "{log:?}");
        assert!(log.kicks >= 5, "{log:?}");
        assert_eq!(log.errors.len(), 1, "{log:?}");
    }

    #[test]
    fn repeated_errors_fold_into_one_entry() {
        let mut log = OperatorLog::default();
        for e in ["a", "b", "b", "b", "a"] {
            log.error(e);
        }
        assert_eq!(log.errors, ["a", "b (×3)", "a"]);
    }

    #[test]
    fn a_reply_outside_the_schema_is_an_error_not_a_zero() {
        // `ok` but no wave id: not a wave this operator can follow.
        let addr = fake_admin(vec![r#"{"ok":true,"reached":3}"#]);
        let mut a = Admin::connect(addr).unwrap();
        let e = wave_inner(&mut a, "*", "ACTIVATE_ALARM", Instant::now()).unwrap_err();
        assert!(
            matches!(&e, AdminError::Schema(m) if m.contains("wave")),
            "{e}"
        );
        // `stats` without the counters the checks read.
        let addr = fake_admin(vec![r#"{"ok":true,"stats":{"registered":3}}"#]);
        let e = query_stats(addr).unwrap_err();
        assert!(matches!(e, AdminError::Schema(_)), "{e}");
    }

    #[test]
    fn refusal_is_an_error() {
        let addr = fake_admin(vec![r#"{"ok":false,"error":"no such device"}"#]);
        assert!(matches!(
            query(addr, "quit Nobody"),
            Err(AdminError::Refused(_))
        ));
    }
}
