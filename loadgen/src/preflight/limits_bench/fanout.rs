//! (c) Command fan-out: one line to each of `n` held connections and a
//! one-line reply from each. Bare: a thread writes to every connection,
//! then reads every reply (blocking, in order). Hub: `send * ACTIVATE_ALARM`
//! on the admin port with `n` registered devices, timed from the admin line
//! to the wave's `done` reply. Both face the same [`fleet::Responder`].

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::{accept, fleet, hub_config, BenchError};
use crate::live::operator::{typed, Admin, WAVE_TIMEOUT};
use hub::ops::wire::{SentReply, WaveDone};
use serde::Deserialize;

/// The command line written to every device.
pub const COMMAND: &str = "ACTIVATE_ALARM";

/// Wave times of one round.
#[derive(Debug, Clone, Default)]
pub struct Waves {
    /// Observed time per wave (bare: first write → last reply read; hub:
    /// admin line written → `done` read).
    pub observed: Vec<Duration>,
    /// Hub only: the hub's own `elapsed_us` per wave.
    pub hub_elapsed: Vec<Duration>,
}

/// `waves` bare fan-outs over `n` connections.
pub fn bare_round(n: usize, waves: usize) -> Result<Waves, BenchError> {
    let l = accept::listener()?;
    let addr = l.local_addr()?;
    let (go_tx, go_rx): (Sender<()>, Receiver<()>) = bounded(1);
    let (done_tx, done_rx) = bounded(1);
    let server = std::thread::Builder::new()
        .name("bare-fanout".into())
        .spawn(move || -> Result<(), BenchError> {
            let mut conns: Vec<(TcpStream, BufReader<TcpStream>)> = Vec::with_capacity(n);
            let mut line = String::new();
            for _ in 0..n {
                let (s, _) = l.accept()?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                s.set_nodelay(true)?;
                let mut r = BufReader::new(s.try_clone()?);
                line.clear();
                r.read_line(&mut line)?; // the registration
                conns.push((s, r));
            }
            let cmd = format!("{COMMAND}\n");
            while go_rx.recv().is_ok() {
                let t = Instant::now();
                for (w, _) in &mut conns {
                    w.write_all(cmd.as_bytes())?;
                }
                for (_, r) in &mut conns {
                    line.clear();
                    if r.read_line(&mut line)? == 0 {
                        return Err(BenchError::Timeout("a device closed".into()));
                    }
                }
                let _ = done_tx.send(t.elapsed());
            }
            Ok(())
        })?;
    let devices = fleet::connect(addr, n);
    let responder = devices.and_then(fleet::Responder::start);
    let mut out = Waves::default();
    let mut result = Ok(());
    if let Ok(_r) = &responder {
        for _ in 0..waves {
            let _ = go_tx.send(());
            match done_rx.recv_timeout(WAVE_TIMEOUT) {
                Ok(d) => out.observed.push(d),
                Err(_) => {
                    result = Err(BenchError::Timeout("bare fan-out wave".into()));
                    break;
                }
            }
        }
    }
    drop(go_tx);
    let acks = responder?.stop();
    server
        .join()
        .map_err(|_| BenchError::Thread("bare-fanout"))??;
    result?;
    acks?;
    Ok(out)
}

/// `waves` hub waves over `n` registered devices.
pub fn hub_round(n: usize, waves: usize) -> Result<Waves, BenchError> {
    let hub = hub::server::Hub::bind(hub_config())?.spawn()?;
    let res = hub_waves(hub.tcp_addr, hub.admin_addr, n, waves);
    hub.shutdown()?;
    res
}

fn hub_waves(
    tcp: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    n: usize,
    waves: usize,
) -> Result<Waves, BenchError> {
    let responder = fleet::Responder::start(fleet::connect(tcp, n)?)?;
    let res = (|| {
        accept::wait_registered(admin, n as u64, Instant::now() + accept::ROUND_LIMIT)?;
        let mut a = Admin::connect(admin)?;
        let mut out = Waves::default();
        for _ in 0..waves {
            let t = Instant::now();
            a.send_line(&format!("send * {COMMAND}"))?;
            let deadline = t + WAVE_TIMEOUT;
            let sent: SentReply = typed(&a.next_json(deadline, "the wave reply")?)?;
            loop {
                let v = a.next_json(deadline, "a wave's done")?;
                let Ok(done) = WaveDone::deserialize(&v) else {
                    return Err(BenchError::Timeout(format!("not the wave's done: {v}")));
                };
                if done.wave != sent.wave {
                    continue;
                }
                out.observed.push(t.elapsed());
                out.hub_elapsed.push(Duration::from_micros(done.elapsed_us));
                if done.acked != n as u64 {
                    let acked = done.acked;
                    return Err(BenchError::Timeout(format!("wave acked {acked} of {n}")));
                }
                break;
            }
        }
        Ok(out)
    })();
    responder.stop()?;
    res
}
