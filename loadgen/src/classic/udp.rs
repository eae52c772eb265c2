//! The original `udp_client.py`: cycles of SEQ 1..=n readings (no
//! `CYCLE:`), then one STATUS wait, then a pause.

use std::net::UdpSocket;

use super::{resolve, ClassicArgs, ClassicError, Transcript};
use crate::rng::SplitMix64;

pub fn run(args: &ClassicArgs, out: &Transcript) -> Result<(), ClassicError> {
    let name = &args.name;
    let addr = resolve(&args.hub, args.udp_port)?;
    let bind = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let sock = UdpSocket::bind(bind)?;
    sock.set_read_timeout(Some(args.status_timeout))?;
    let mut rng = SplitMix64::new(args.seed, 0);
    out.line(&format!(
        "[{name}] UDP client sending to Smart Hub at {addr}"
    ));
    let mut cycle = 0u64;
    let mut buf = [0u8; 1024];
    let mut status = [0u8; 2048];
    while args.cycles == 0 || cycle < args.cycles {
        cycle += 1;
        for seq in 1..=args.cycle_len {
            // One decimal, 20.0 to 30.0, as the original's readings.
            let value = (200.0 + (rng.next_f64() * 100.0).floor()) / 10.0;
            let ts = crate::report::timestamp::now();
            let n = encode(&mut buf, name, &ts, &args.kind, value, seq)?;
            out.line(&format!(
                "[{name}] Sending packet SEQ:{seq} - {}={value:.1}",
                args.kind
            ));
            sock.send_to(&buf[..n], addr)?;
            if seq < args.cycle_len {
                std::thread::sleep(args.packet_gap);
            }
        }
        match sock.recv_from(&mut status) {
            Ok((n, _)) => out.line(&format!(
                "[{name}] {}",
                String::from_utf8_lossy(&status[..n]).trim_end()
            )),
            Err(_) => out.line(&format!("[{name}] No status received (timeout).")),
        }
        out.line(&format!(
            "[{name}] Cycle complete. Starting a new cycle...\n"
        ));
        if args.cycles == 0 || cycle < args.cycles {
            std::thread::sleep(args.cycle_pause);
        }
    }
    Ok(())
}

/// The original client's datagram: the value as Python prints a float with
/// one decimal (`24.0`, never `24`), and no `CYCLE` (the original sends none).
fn encode(
    out: &mut [u8],
    name: &str,
    ts: &str,
    kind: &str,
    value: f64,
    seq: u32,
) -> std::io::Result<usize> {
    use std::io::Write;
    let cap = out.len();
    let mut w = &mut out[..];
    write!(w, "{name},{ts},{kind},{value:.1},SEQ:{seq}")?;
    Ok(cap - w.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_value_keeps_its_decimal_like_the_original() {
        let mut buf = [0u8; 128];
        let n = encode(
            &mut buf,
            "Sensor01",
            "2025-10-22 18:20:15",
            "temperature",
            24.0,
            5,
        )
        .unwrap();
        assert_eq!(
            &buf[..n],
            b"Sensor01,2025-10-22 18:20:15,temperature,24.0,SEQ:5"
        );
        let d = hub::protocol::Datagram::parse(&buf[..n]).unwrap();
        assert_eq!((d.value, d.seq, d.cycle), (24.0, 5, None));
    }
}
