//! Every cap the hub enforces, in one place. Each one has a CLI flag where
//! an operator may reasonably want another value (see `config.rs`).

use std::time::Duration;

/// Longest control message in bytes, excluding the terminator. PROTOCOL.md
/// fixes 256: the longest legal message (`DEVICE` + two 64-byte identifiers)
/// is 84 bytes, so 256 leaves room for operator text and nothing more.
pub const MAX_LINE: usize = 256;

/// Longest device name or type, in bytes (PROTOCOL.md).
pub const MAX_IDENT: usize = 64;

/// Longest datagram timestamp field, in bytes (PROTOCOL.md).
pub const MAX_TIMESTAMP: usize = 64;

/// Longest datagram the hub parses. A legal datagram is at most about
/// 64+64+64+24+12+26 bytes; anything longer is malformed by definition.
pub const MAX_DATAGRAM: usize = 512;

/// Longest cycle the data plane can track: the received set is a `u64` bitmap.
pub const MAX_CYCLE_LEN: u32 = 64;

/// Largest `SET_INTERVAL` argument, one day (PROTOCOL.md).
pub const MAX_INTERVAL_SECS: u32 = 86_400;

/// Commands queued per device behind the outstanding one. A device that lets
/// more pile up is not reading and is dropped (its memory must stay bounded).
pub const COMMAND_QUEUE: usize = 64;

/// Commands whose ACK timed out but may still arrive late. ACKs come in order,
/// so each late ACK is matched to the oldest of these; past this many the
/// device is out of step for good and is disconnected.
pub const MAX_LATE_ACKS_OWED: usize = 16;

/// Unsolicited ACKs (nothing outstanding, nothing owed) a device may send
/// after its last command before it is disconnected. A device ACKs each
/// command once; a stream of ACKs is a peer trying to fill the log.
pub const MAX_UNSOLICITED_ACKS: u32 = 16;

/// Repeated protocol events of one device within this window are folded
/// into one log line with a count.
pub const LOG_FOLD_WINDOW: Duration = Duration::from_secs(1);

/// Bytes queued for one TCP peer that has stopped reading. Past it the
/// connection is closed rather than buffering without bound.
pub const MAX_OUTBUF: usize = 64 * 1024;

/// Registration deadline default (PROTOCOL.md).
pub const REGISTRATION_DEADLINE: Duration = Duration::from_secs(10);

/// ACK timeout default, as in the original hub.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Cycle idle timeout default (PROTOCOL.md rule 3).
pub const CYCLE_TIMEOUT: Duration = Duration::from_secs(3);

/// Default cycle length (PROTOCOL.md).
pub const CYCLE_LEN: u32 = 10;

/// Devices whose UDP cycle state the hub keeps at once. A flood of fresh
/// names cannot grow memory past this; idle entries are evicted.
pub const MAX_UDP_DEVICES: usize = 100_000;

/// A device's UDP state idle this long is evicted.
pub const UDP_IDLE_EVICT: Duration = Duration::from_secs(60);

/// A STATUS is never larger than this many times the datagram that caused it,
/// so the hub cannot be used as a traffic amplifier.
pub const STATUS_AMPLIFICATION: usize = 3;

/// STATUS replies one source address (whatever its port) may receive per
/// second, sustained, when each is larger than the datagrams it answers.
/// Whole cycles are never limited: their STATUS is smaller than they are.
pub const REPLY_RATE_PER_SEC: u32 = 2_000;

/// STATUS replies one source address may receive in a burst.
pub const REPLY_BURST: u32 = 500;

/// STATUS replies (larger than what they answer) all the addresses of one
/// /24 or /64 may receive per second: four addresses' worth.
pub const REPLY_PREFIX_RATE_PER_SEC: u32 = 4 * REPLY_RATE_PER_SEC;

/// The same, in a burst.
pub const REPLY_PREFIX_BURST: u32 = 4 * REPLY_BURST;

/// Slots in the per-source reply rate limiter (hashed; colliding sources
/// share a bucket, which only ever limits more, never less).
pub const REPLY_LIMITER_SLOTS: usize = 4096;

/// How often the event loop wakes with nothing to do, to run timers.
pub const TICK: Duration = Duration::from_millis(50);

/// The log file is flushed at least this often.
pub const LOG_FLUSH: Duration = Duration::from_millis(100);

/// Log lines queued for the writer thread. When the disk stalls the loop
/// drops lines (counted) rather than stalling.
pub const LOG_QUEUE: usize = 65_536;

/// Requested UDP receive buffer (the kernel may grant less; see rmem_max).
pub const UDP_RCVBUF: usize = 4 * 1024 * 1024;

/// Listen backlog for the device listener.
pub const LISTEN_BACKLOG: i32 = 4096;

/// Descriptors kept back from the connection limit for the listener, the UDP
/// socket, the log, epoll, the waker, admin sessions and the spare fd.
pub const FD_RESERVE: u64 = 40;

/// Admin sessions at once (loopback tooling, not devices). At the cap a new
/// session evicts the longest idle one, so the operator is never locked out.
pub const MAX_ADMIN_SESSIONS: usize = 32;

/// An admin session with no complete line for this long is closed.
pub const ADMIN_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// An admin line begun must be completed within this, so a session cannot
/// be held open by a byte at a time.
pub const ADMIN_LINE_DEADLINE: Duration = Duration::from_secs(10);

/// Longest admin or console command line.
pub const MAX_ADMIN_LINE: usize = 1024;
