//! The original `udp_client.py`: cycles of SEQ 1..=n readings (no
//! `CYCLE:`), then one STATUS wait, then a pause.

use std::net::UdpSocket;

use super::{resolve, ClassicArgs, ClassicError, Transcript};
use crate::rng::SplitMix64;
use hub::protocol::Datagram;

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
            let ts = crate::timestamp::now();
            let d = Datagram {
                name: name.as_str(),
                timestamp: &ts,
                kind: &args.kind,
                value,
                seq,
                cycle: None,
            };
            let n = d.encode(&mut buf)?;
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
