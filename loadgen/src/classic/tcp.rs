//! The original `tcp_client.py`: register with no terminator, then for each
//! command one `recv(1024)`, say what it does, send `ACK Command Executed`.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::{resolve, ClassicArgs, ClassicError, Transcript};
use hub::protocol::{Command, ACK_TEXT};

/// What the original client prints on a command (after "Received command").
pub fn action_line(name: &str, command: &str) -> String {
    match Command::parse(command) {
        Ok(Command::SetInterval(n)) => {
            format!("[{name}] Changing reporting interval to {n} seconds (simulated).")
        }
        Ok(Command::ActivateAlarm) => format!("[{name}] Alarm activated (simulated)."),
        _ => format!("[{name}] Executing generic command (simulated)."),
    }
}

pub fn run(args: &ClassicArgs, out: &Transcript) -> Result<(), ClassicError> {
    let name = &args.name;
    let addr = resolve(&args.hub, args.tcp_port)?;
    let mut s = TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(10))
        .map_err(|e| ClassicError::Connect(addr, e))?;
    s.set_read_timeout(Some(args.idle_timeout))?;
    out.line(&format!("[{name}] Connected to Smart Hub at {addr}"));
    let reg = format!("DEVICE {name} TYPE {}", args.kind);
    s.write_all(reg.as_bytes())?;
    out.line(&format!("[{name}] Sent registration: {reg}"));
    let mut buf = [0u8; 1024];
    loop {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                out.line(&format!(
                    "[{name}] No command for {:?}; giving up.",
                    args.idle_timeout
                ));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            out.line(&format!("[{name}] Server closed connection."));
            break;
        }
        let text = String::from_utf8_lossy(&buf[..n]);
        let command = text.trim_end_matches(['\n', '\r']);
        out.line(&format!("[{name}] Received command: {command}"));
        out.line(&action_line(name, command));
        s.write_all(ACK_TEXT.as_bytes())?;
        out.line(&format!("[{name}] Sent ACK."));
    }
    out.line(&format!("[{name}] Closing connection."));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_action_lines() {
        assert_eq!(
            action_line("Sensor01", "SET_INTERVAL 3"),
            "[Sensor01] Changing reporting interval to 3 seconds (simulated)."
        );
        assert_eq!(
            action_line("Sensor01", "ACTIVATE_ALARM"),
            "[Sensor01] Alarm activated (simulated)."
        );
        assert_eq!(
            action_line("Sensor01", "REBOOT"),
            "[Sensor01] Executing generic command (simulated)."
        );
    }
}
