//! The names of the named checks, and which ones `--allow-failed-check`
//! accepts: plain constants, below both the flags ([`crate::config`]
//! validates `--allow-failed-check` against them) and the checks
//! ([`super::checks`], [`super::fault_checks`], [`crate::stages::knee`]),
//! so neither depends on the other.

/// Every check, in the order the summary prints them.
pub const NAMES: [&str; 14] = [
    DEVICES_REGISTERED,
    DEVICES_UP_AT_END,
    CYCLES_ANSWERED,
    STATUS_VALID,
    COMMANDS_ACKED,
    ADMIN_REACHABLE,
    UNEXPLAINED_LOSS,
    GENERATOR_SCHEDULE,
    SNAPSHOT_COMPLETE,
    ACCOUNTING_IDENTITY,
    HUB_AGREES,
    HUB_PROTOCOL,
    HUB_RECORDER,
    MAX_P99_MS,
];
/// Every requested device registered, none refused.
pub const DEVICES_REGISTERED: &str = "devices_registered";
/// Every requested device still registered at the end.
pub const DEVICES_UP_AT_END: &str = "devices_up_at_end";
/// Every measured cycle the hub saw got a valid STATUS.
pub const CYCLES_ANSWERED: &str = "cycles_answered";
/// No STATUS failed validation or contradicted what was sent.
pub const STATUS_VALID: &str = "status_valid";
/// Every command of every measured wave acknowledged.
pub const COMMANDS_ACKED: &str = "commands_acked";
/// The admin port answered whenever it was required: waves or kicks were
/// asked for, or `--require-admin`. Without them a hub with no admin port
/// passes, and the checks that need its counts say "not cross-checked".
pub const ADMIN_REACHABLE: &str = "admin_reachable";
/// `unexplained_loss` within `--max-unexplained-loss` (default 0); loss
/// the generator's overload blurred is reported beside it, not in it.
pub const UNEXPLAINED_LOSS: &str = "unexplained_loss";
/// The generator kept its schedule (send-lag p99 within `--max-send-lag-ms`).
pub const GENERATOR_SCHEDULE: &str = "generator_schedule";
/// Every worker's final counters made it into the report.
pub const SNAPSHOT_COMPLETE: &str = "snapshot_complete";
/// The accounting identities of SCHEMA.md hold.
pub const ACCOUNTING_IDENTITY: &str = "accounting_identity";
/// The hub's own registered count equals loadgen's at the end.
pub const HUB_AGREES: &str = "hub_agrees";
/// The hub never broke the protocol (endless line, flood, unread ACKs).
pub const HUB_PROTOCOL: &str = "hub_protocol";
/// The hub's recorder counters add up (accepted = written + dropped +
/// errors + in flight); only when the hub reports a recorder.
pub const HUB_RECORDER: &str = "hub_recorder";
/// `--max-p99-ms` (only when given).
pub const MAX_P99_MS: &str = "max_p99_ms";
/// `--min-registered` (only when given).
pub const MIN_REGISTERED: &str = "min_registered";

/// True for a name `--allow-failed-check` accepts.
pub fn known(name: &str) -> bool {
    NAMES.contains(&name) || name == MIN_REGISTERED || name == KNEE || FAULT_NAMES.contains(&name)
}

/// Every name `--allow-failed-check` accepts, for its error message.
pub fn all() -> Vec<&'static str> {
    let mut v = NAMES.to_vec();
    v.push(MIN_REGISTERED);
    v.extend(FAULT_NAMES);
    v.push(KNEE);
    v
}

/// `--duplicate`: no STATUS counted a duplicated SEQ twice.
pub const DUPLICATES_COUNTED_ONCE: &str = "duplicates_counted_once";
/// `--reorder`: every SEQ sent out of order within its cycle was counted
/// received.
pub const REORDERED_RECEIVED: &str = "reordered_received";
/// `--corrupt`: no corrupted datagram was counted received.
pub const CORRUPTED_REJECTED: &str = "corrupted_rejected";

/// The fault checks (`report::fault_checks`), in the order they are added.
pub const FAULT_NAMES: [&str; 3] = [
    DUPLICATES_COUNTED_ONCE,
    REORDERED_RECEIVED,
    CORRUPTED_REJECTED,
];

/// `--stages`: the first stage held (the knee, if any, is past it).
pub const KNEE: &str = "knee";
