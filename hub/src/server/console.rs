//! The operator console: a thread reads stdin lines and hands them to the
//! loop over a channel, waking it with the `Waker`. Every line is capped
//! at [`MAX_ADMIN_LINE`] bytes while it is read: the rest of an over-long
//! line is discarded unbuffered and the loop is told to refuse it, never to
//! run it. Memory stays bounded whatever stdin holds (`hub < /dev/zero`).

use std::io::BufRead;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Sender;
use mio::Waker;

use crate::limits::MAX_ADMIN_LINE;

/// One thing read from stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleInput {
    Line(String),
    /// A line longer than the cap: refused, with its length in bytes.
    TooLong(u64),
}

/// Bytes discarded at full speed before the reader slows to 64 MiB/s, so
/// an endless line (`/dev/zero`) does not take a core from the loop.
const FREE_DISCARD: u64 = 1 << 20;

/// Reads capped lines from `input` until EOF or an error, passing each to
/// `emit`; stops early when `emit` returns false.
pub fn read_lines(mut input: impl BufRead, mut emit: impl FnMut(ConsoleInput) -> bool) {
    loop {
        let mut line = Vec::new();
        let mut len: u64 = 0;
        let ended = loop {
            let buf = match input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if buf.is_empty() {
                break false;
            }
            let (take, found) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if len + take as u64 <= MAX_ADMIN_LINE as u64 {
                line.extend_from_slice(&buf[..take]);
            } else {
                line.clear();
            }
            len += take as u64;
            input.consume(take + usize::from(found));
            if found {
                break true;
            }
            if len > FREE_DISCARD {
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        if !ended && len == 0 {
            return;
        }
        let item = if len > MAX_ADMIN_LINE as u64 {
            ConsoleInput::TooLong(len)
        } else {
            let text = String::from_utf8_lossy(&line);
            ConsoleInput::Line(text.trim_end_matches('\r').to_string())
        };
        if !emit(item) || !ended {
            return;
        }
    }
}

/// Starts the stdin reader. It ends at EOF; the hub keeps running.
pub fn spawn_stdin(tx: Sender<ConsoleInput>, waker: Arc<Waker>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("hub-console".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            read_lines(stdin.lock(), |item| {
                tx.send(item).is_ok() && waker.wake().is_ok()
            });
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<ConsoleInput> {
        let mut got = Vec::new();
        read_lines(std::io::BufReader::with_capacity(16, input), |i| {
            got.push(i);
            true
        });
        got
    }

    #[test]
    fn over_long_lines_are_refused_and_the_next_line_is_read() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\nstats\r\nlast");
        assert_eq!(
            lines(&input),
            vec![
                ConsoleInput::TooLong(5000),
                ConsoleInput::Line("stats".into()),
                ConsoleInput::Line("last".into()),
            ]
        );
        let exact = [vec![b'y'; MAX_ADMIN_LINE], b"\n".to_vec()].concat();
        assert_eq!(
            lines(&exact),
            vec![ConsoleInput::Line("y".repeat(MAX_ADMIN_LINE))]
        );
        assert_eq!(lines(b""), vec![]);
        assert_eq!(lines(&vec![b'z'; 2000]), vec![ConsoleInput::TooLong(2000)]);
    }
}
