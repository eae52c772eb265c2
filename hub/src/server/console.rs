//! The operator console: a thread reads stdin lines (each capped) and
//! hands them to the loop over a channel, waking it with the `Waker`.

use std::io::{BufRead, Read};
use std::sync::Arc;

use crossbeam_channel::Sender;
use mio::Waker;

use crate::limits::MAX_ADMIN_LINE;

/// Starts the stdin reader. It ends at EOF; the hub keeps running.
pub fn spawn_stdin(tx: Sender<String>, waker: Arc<Waker>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("hub-console".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            loop {
                let mut line = Vec::new();
                let n = match (&mut input)
                    .take(MAX_ADMIN_LINE as u64 + 1)
                    .read_until(b'\n', &mut line)
                {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if n > MAX_ADMIN_LINE && line.last() != Some(&b'\n') {
                    // Skip the rest of an over-long line.
                    let mut rest = Vec::new();
                    let _ = input.read_until(b'\n', &mut rest);
                    line = b"error: line too long".to_vec();
                }
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches(['\n', '\r'])
                    .to_string();
                if tx.send(text).is_err() || waker.wake().is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}
