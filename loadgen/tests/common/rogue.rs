//! Deliberately broken hubs for loadgen's verdict tests, written once. A
//! [`Rogue`] listens on loopback port 0 (TCP control, UDP data, admin) and
//! misbehaves in one [`Flaw`]. What it answers is decided by small sans-IO
//! functions ([`status_reply`], [`Cycles`]); the threads only move bytes.
//! Every thread polls a stop flag and exits when the `Rogue` is dropped.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How the hub is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    /// Accepts and reads, never answers anything (no STATUS).
    Silent,
    /// Answers every cycle with text that is not a STATUS.
    GarbageStatus,
    /// `STATUS RECEIVED 10/10 PACKETS; MISSING: [1, 2, 3]`.
    ContradictoryStatus,
    /// Answers each cycle with the previous cycle's STATUS.
    WrongCycle,
    /// Closes every connection right after the registration line.
    CloseAtRegistration,
    /// `ERROR hub full`, then close.
    HubFull,
    /// After registration, one line that never ends.
    EndlessLine,
    /// After registration, commands as fast as the socket takes them.
    CommandFlood,
    /// Sends commands in small bursts (50 every 5 ms: a 200 ms stall of
    /// loadgen still reads under the 64 KiB flood cap) and never reads the
    /// ACKs.
    SlowReader,
    /// A correct data side, but the admin port accepts and never answers.
    AdminSilent,
    /// A correct data side, and nothing listens on the admin port.
    AdminAbsent,
    /// Nothing on the admin port, and every STATUS correct but
    /// [`LATE_STATUS`] late (within a `--status-timeout` longer than that).
    AdminAbsentLate,
    /// Nothing listens anywhere (the ports are bound, then released).
    Nothing,
    /// Counts every datagram of a cycle as a packet received, duplicates
    /// included (`STATUS RECEIVED 11/10 PACKETS`), a hidden bug `--duplicate`
    /// must reveal.
    DoubleCountsDuplicates,
    /// Drops a SEQ lower than one already seen in its cycle as late, so a
    /// reordered SEQ is reported missing: a hidden bug `--reorder` must
    /// reveal.
    ReorderedAsMissing,
    /// A correct hub that takes at most this many datagrams in each second
    /// (counted from the first) and drops the rest unseen, as a hub whose
    /// receive buffer overflows past some rate.
    DropAbove(u64),
}

/// A broken hub on loopback.
pub struct Rogue {
    pub tcp: u16,
    pub udp: u16,
    pub admin: u16,
    stop: Arc<AtomicBool>,
    /// The "nothing listens" ports, held bound (see [`dead_tcp`]).
    _held: Vec<socket2::Socket>,
}

impl Drop for Rogue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const TICK: Duration = Duration::from_millis(20);
/// How late [`Flaw::AdminAbsentLate`] answers a cycle.
pub const LATE_STATUS: Duration = Duration::from_millis(1500);

/// A loopback TCP port where nothing listens: a socket bound to it and
/// held (in `held`) without `listen`, so a connect is refused and no other
/// test can be handed the port meanwhile (a port bound and released was,
/// under parallel tests: a "dead" hub then registered devices).
fn dead_tcp(held: &mut Vec<socket2::Socket>) -> u16 {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = s.local_addr().unwrap().as_socket().unwrap().port();
    held.push(s);
    port
}

/// A free loopback UDP port with nothing bound (datagrams to it are
/// refused; it cannot be held and stay refusing).
fn dead_udp() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Rogue {
    pub fn start(flaw: Flaw) -> Rogue {
        let stop = Arc::new(AtomicBool::new(false));
        let mut held = Vec::new();
        if flaw == Flaw::Nothing {
            return Rogue {
                tcp: dead_tcp(&mut held),
                udp: dead_udp(),
                admin: dead_tcp(&mut held),
                stop,
                _held: held,
            };
        }
        let registered = Arc::new(AtomicU64::new(0));
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        if flaw == Flaw::SlowReader {
            // A small receive window, so unread ACKs back up soon.
            let s = socket2::SockRef::from(&tcp);
            s.set_recv_buffer_size(4096).unwrap();
        }
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ports = (
            tcp.local_addr().unwrap().port(),
            udp.local_addr().unwrap().port(),
        );
        let admin_port = if matches!(flaw, Flaw::AdminAbsent | Flaw::AdminAbsentLate) {
            dead_tcp(&mut held)
        } else {
            let admin = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = admin.local_addr().unwrap().port();
            let (st, reg) = (stop.clone(), registered.clone());
            thread::spawn(move || {
                accept_loop(admin, st, move |s, st| admin_conn(s, flaw, &reg, &st))
            });
            port
        };
        let (st, reg) = (stop.clone(), registered.clone());
        thread::spawn(move || accept_loop(tcp, st, move |s, st| device_conn(s, flaw, &reg, &st)));
        let st = stop.clone();
        thread::spawn(move || udp_loop(udp, flaw, &st));
        Rogue {
            tcp: ports.0,
            udp: ports.1,
            admin: admin_port,
            stop,
            _held: held,
        }
    }

    /// loadgen's flags to target this hub.
    pub fn args(&self) -> Vec<String> {
        vec![
            "--hub".into(),
            "127.0.0.1".into(),
            "--tcp-port".into(),
            self.tcp.to_string(),
            "--udp-port".into(),
            self.udp.to_string(),
            "--admin-port".into(),
            self.admin.to_string(),
        ]
    }
}

fn accept_loop<F>(l: TcpListener, stop: Arc<AtomicBool>, handle: F)
where
    F: Fn(TcpStream, Arc<AtomicBool>) + Send + Sync + Clone + 'static,
{
    l.set_nonblocking(true).unwrap();
    while !stop.load(Ordering::Relaxed) {
        match l.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                let (h, st) = (handle.clone(), stop.clone());
                thread::spawn(move || h(s, st));
            }
            Err(_) => thread::sleep(TICK),
        }
    }
}

/// One device connection, misbehaving as `flaw` says.
fn device_conn(mut s: TcpStream, flaw: Flaw, registered: &AtomicU64, stop: &AtomicBool) {
    let _ = s.set_read_timeout(Some(TICK));
    let mut buf = [0u8; 4096];
    // Wait for the registration line.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) if buf[..n].contains(&b'\n') => break,
            Ok(_) => {}
            Err(_) if Instant::now() < deadline && !stop.load(Ordering::Relaxed) => {}
            Err(_) => return,
        }
    }
    match flaw {
        Flaw::CloseAtRegistration => return,
        Flaw::HubFull => {
            let _ = s.write_all(b"ERROR hub full\n");
            return;
        }
        _ => {}
    }
    registered.fetch_add(1, Ordering::Relaxed);
    let _ = s.set_write_timeout(Some(TICK));
    let flood_line = vec![b'A'; 64 * 1024];
    let commands = b"ACTIVATE_ALARM\n".repeat(2048);
    while !stop.load(Ordering::Relaxed) {
        let step = match flaw {
            Flaw::EndlessLine => s.write(&flood_line).map(|_| ()),
            Flaw::CommandFlood => {
                let _ = s.read(&mut buf);
                s.write(&commands).map(|_| ())
            }
            Flaw::SlowReader => {
                thread::sleep(Duration::from_millis(5));
                s.write_all(&commands[..15 * 50])
            }
            _ => match s.read(&mut buf) {
                Ok(0) => break,
                _ => Ok(()),
            },
        };
        if let Err(e) = step {
            if !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                break;
            }
        }
    }
    registered.fetch_sub(1, Ordering::Relaxed);
}

/// The admin side, in the hub's typed schema: `stats` reports the
/// registered count (every other counter zero); waves reach no one.
fn admin_conn(s: TcpStream, flaw: Flaw, registered: &AtomicU64, stop: &AtomicBool) {
    let _ = s.set_read_timeout(Some(TICK));
    let mut w = s.try_clone().unwrap();
    let mut r = std::io::BufReader::new(s);
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        match std::io::BufRead::read_line(&mut r, &mut line) {
            Ok(0) => return,
            Ok(_) if line.ends_with('\n') => {
                if flaw != Flaw::AdminSilent {
                    let mut reply = if line.trim() == "stats" {
                        let stats = hub::ops::wire::HubStats {
                            registered: registered.load(Ordering::Relaxed),
                            ..Default::default()
                        };
                        serde_json::to_string(&hub::ops::wire::StatsReply { ok: true, stats })
                    } else {
                        serde_json::to_string(&hub::ops::wire::SentReply {
                            ok: true,
                            wave: 1,
                            reached: 0,
                            refused: 0,
                        })
                    }
                    .expect("serializable");
                    reply.push('\n');
                    let _ = w.write_all(reply.as_bytes());
                }
                line.clear();
            }
            _ => {}
        }
    }
}

/// One source's cycle.
#[derive(Debug, Default, Clone, Copy)]
pub struct Open {
    cycle: u64,
    /// SEQs received (bit `i` = SEQ `i + 1`).
    bits: u64,
    /// The previous cycle's bits.
    prev: u64,
    /// Datagrams taken into this cycle, duplicates included.
    packets: u32,
    /// Highest SEQ taken.
    highest: u32,
    /// Answered: later datagrams of this cycle are late and ignored.
    closed: bool,
}

/// Per-source cycle state of the data side (sans-IO).
#[derive(Default)]
pub struct Cycles {
    open: HashMap<SocketAddr, Open>,
}

/// A datagram's SEQ and CYCLE.
fn seq_cycle(d: &[u8]) -> Option<(u32, u64)> {
    let t = std::str::from_utf8(d).ok()?;
    let mut seq = None;
    let mut cycle = 0;
    for f in t.trim_end().split(',') {
        if let Some(v) = f.strip_prefix("SEQ:") {
            seq = v.parse().ok();
        }
        if let Some(v) = f.strip_prefix("CYCLE:") {
            cycle = v.parse().ok()?;
        }
    }
    Some((seq?, cycle))
}

/// `STATUS RECEIVED x/n PACKETS[; MISSING: [...]]` of `bits`, `x` being
/// `received` (the bits' count for a correct hub).
fn status_text(bits: u64, received: u32, len: u32) -> String {
    let missing: Vec<String> = (1..=len)
        .filter(|s| bits & (1 << (s - 1)) == 0)
        .map(|s| s.to_string())
        .collect();
    if missing.is_empty() {
        format!("STATUS RECEIVED {received}/{len} PACKETS")
    } else {
        format!(
            "STATUS RECEIVED {received}/{len} PACKETS; MISSING: [{}]",
            missing.join(", ")
        )
    }
}

/// `STATUS RECEIVED x/n PACKETS[; MISSING: [...]]` of `bits`.
pub fn status_of(bits: u64, len: u32) -> String {
    status_text(bits, bits.count_ones(), len)
}

/// What the flawed hub answers for a closed cycle.
fn status_reply(flaw: Flaw, c: &Open, len: u32) -> Option<String> {
    match flaw {
        Flaw::Silent => None,
        Flaw::GarbageStatus => Some("STATUS RECEIVED lots of PACKETS".into()),
        Flaw::ContradictoryStatus => Some(format!(
            "STATUS RECEIVED {len}/{len} PACKETS; MISSING: [1, 2, 3]"
        )),
        Flaw::WrongCycle => Some(status_of(c.prev, len)),
        Flaw::DoubleCountsDuplicates => Some(status_text(c.bits, c.packets, len)),
        _ => Some(status_of(c.bits, len)),
    }
}

impl Cycles {
    /// One datagram from `src`; returns the STATUS of any cycle it closes
    /// (a newer CYCLE closes the open one; the last SEQ closes its own).
    pub fn on_datagram(&mut self, flaw: Flaw, src: SocketAddr, d: &[u8], len: u32) -> Vec<String> {
        let Some((seq, cycle)) = seq_cycle(d) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let e = self.open.entry(src).or_insert(Open {
            cycle,
            ..Open::default()
        });
        if cycle != e.cycle {
            if e.bits != 0 && !e.closed {
                out.extend(status_reply(flaw, e, len));
                e.prev = e.bits;
            }
            *e = Open {
                cycle,
                prev: e.prev,
                ..Open::default()
            };
        }
        if e.closed || !(1..=len).contains(&seq) {
            return out;
        }
        if flaw == Flaw::ReorderedAsMissing && seq < e.highest {
            return out; // "late": the hidden bug
        }
        e.highest = e.highest.max(seq);
        e.packets += 1;
        e.bits |= 1 << (seq - 1);
        if seq == len {
            out.extend(status_reply(flaw, e, len));
            e.prev = e.bits;
            e.closed = true;
        }
        out
    }

    /// The idle timeout: closes every open cycle.
    pub fn on_idle(&mut self, flaw: Flaw, len: u32) -> Vec<(SocketAddr, String)> {
        let mut out = Vec::new();
        for (src, e) in self.open.iter_mut() {
            if e.bits != 0 && !e.closed {
                if let Some(s) = status_reply(flaw, e, len) {
                    out.push((*src, s));
                }
                e.prev = e.bits;
                e.closed = true;
            }
        }
        out
    }
}

/// The datagrams a [`Flaw::DropAbove`] hub lets in (sans-IO): at most
/// `per_s` in each whole second since the first datagram.
pub struct RateCap {
    per_s: u64,
    window: Option<Instant>,
    count: u64,
}

impl RateCap {
    pub fn new(per_s: u64) -> Self {
        RateCap {
            per_s,
            window: None,
            count: 0,
        }
    }

    /// Whether the datagram arriving at `now` is taken.
    pub fn admit(&mut self, now: Instant) -> bool {
        let start = *self.window.get_or_insert(now);
        let whole = now.duration_since(start).as_secs();
        if whole > 0 {
            self.window = Some(start + Duration::from_secs(whole));
            self.count = 0;
        }
        self.count += 1;
        self.count <= self.per_s
    }
}

fn udp_loop(u: UdpSocket, flaw: Flaw, stop: &AtomicBool) {
    u.set_read_timeout(Some(TICK)).unwrap();
    let mut cap = match flaw {
        Flaw::DropAbove(n) => Some(RateCap::new(n)),
        _ => None,
    };
    let mut cycles = Cycles::default();
    let mut buf = [0u8; 2048];
    let mut last = Instant::now();
    let delay = if flaw == Flaw::AdminAbsentLate {
        LATE_STATUS
    } else {
        Duration::ZERO
    };
    // STATUS replies held until due (only the late flaw holds any).
    let mut held: std::collections::VecDeque<(Instant, SocketAddr, String)> = Default::default();
    while !stop.load(Ordering::Relaxed) {
        while held
            .front()
            .is_some_and(|(due, _, _)| *due <= Instant::now())
        {
            let (_, src, s) = held.pop_front().expect("checked");
            let _ = u.send_to(s.as_bytes(), src);
        }
        match u.recv_from(&mut buf) {
            Ok(_) if cap.as_mut().is_some_and(|c| !c.admit(Instant::now())) => {}
            Ok((n, src)) => {
                last = Instant::now();
                for s in cycles.on_datagram(flaw, src, &buf[..n], 10) {
                    if delay.is_zero() {
                        let _ = u.send_to(s.as_bytes(), src);
                    } else {
                        held.push_back((Instant::now() + delay, src, s));
                    }
                }
            }
            Err(_) => {}
        }
        // The cycle timeout runs on what the hub took: datagrams it drops
        // unseen do not keep cycles open.
        if last.elapsed() > Duration::from_millis(300) {
            for (src, s) in cycles.on_idle(flaw, 10) {
                let _ = u.send_to(s.as_bytes(), src);
            }
            last = Instant::now();
        }
    }
}
