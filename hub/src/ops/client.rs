//! A client of the hub's admin port: one line per command, one JSON object
//! per reply line, every read under a deadline and every reply line capped
//! at [`MAX_REPLY`] bytes, so a hub that stalls or streams garbage costs a
//! bounded wait and bounded memory. Replies are read into the types of
//! [`wire`](crate::ops::wire) with [`typed`].
//!
//! The one admin client of the workspace: loadgen's operator and `loadgen
//! limits`, the hub's benchmarks and the tests of both crates use it.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::ops::wire::{HubStats, StatsReply};

/// Connect timeout to the admin port.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for one reply line of a plain request.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest admin reply line accepted.
pub const MAX_REPLY: usize = 1 << 20;
/// Why the admin conversation failed.
#[derive(Debug)]
pub enum AdminError {
    Io(io::Error),
    Timeout(&'static str),
    /// The hub answered `{"ok":false,…}` or something that is not JSON.
    Refused(String),
    /// The hub answered `"ok":true` with a line the hub's reply types
    /// (`hub::ops::wire`) do not read: a different or broken hub.
    Schema(String),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Io(e) => write!(f, "admin port: {e}"),
            AdminError::Timeout(what) => write!(f, "admin port: timed out waiting for {what}"),
            AdminError::Refused(r) => write!(f, "admin port refused: {r}"),
            AdminError::Schema(r) => write!(f, "admin port answered outside the hub's schema: {r}"),
        }
    }
}

impl std::error::Error for AdminError {}

impl AdminError {
    /// The connection is no longer usable (as opposed to a refusal the hub
    /// answered on a healthy connection).
    pub fn breaks_connection(&self) -> bool {
        matches!(self, AdminError::Io(_) | AdminError::Timeout(_))
    }
}

impl From<io::Error> for AdminError {
    fn from(e: io::Error) -> Self {
        AdminError::Io(e)
    }
}

/// A line-oriented admin connection with read deadlines.
pub struct Admin {
    w: TcpStream,
    r: BufReader<TcpStream>,
    partial: String,
}

impl Admin {
    pub fn connect(addr: SocketAddr) -> Result<Self, AdminError> {
        let s = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_millis(200)))?;
        Ok(Admin {
            w: s.try_clone()?,
            r: BufReader::new(s),
            partial: String::new(),
        })
    }

    pub fn send_line(&mut self, line: &str) -> Result<(), AdminError> {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.w.write_all(&buf)?;
        Ok(())
    }

    /// The next reply line as JSON, or a timeout at `deadline`.
    pub fn next_json(
        &mut self,
        deadline: Instant,
        what: &'static str,
    ) -> Result<Value, AdminError> {
        loop {
            // Bounded: a hub streaming one endless reply line costs at most
            // MAX_REPLY bytes here, never more.
            let room = (MAX_REPLY + 1).saturating_sub(self.partial.len()) as u64;
            match (&mut self.r).take(room.max(1)).read_line(&mut self.partial) {
                Ok(0) => return Err(AdminError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) if self.partial.ends_with('\n') => {
                    let line = std::mem::take(&mut self.partial);
                    return serde_json::from_str(line.trim())
                        .map_err(|_| AdminError::Refused(line.trim().to_string()));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e.into()),
            }
            if self.partial.len() > MAX_REPLY {
                return Err(AdminError::Refused("reply line too long".into()));
            }
            if Instant::now() >= deadline {
                return Err(AdminError::Timeout(what));
            }
        }
    }

    /// Sends `line` and returns the first reply with `"ok":true`.
    pub fn request(&mut self, line: &str) -> Result<Value, AdminError> {
        self.send_line(line)?;
        let v = self.next_json(Instant::now() + REPLY_TIMEOUT, "a reply")?;
        check_ok(v)
    }

    /// `stats`, read into the hub's typed schema.
    pub fn stats(&mut self) -> Result<HubStats, AdminError> {
        let v = self.request("stats")?;
        Ok(typed::<StatsReply>(&v)?.stats)
    }
}

/// A reply line read into its type of `hub::ops::wire`.
pub fn typed<T: DeserializeOwned>(v: &Value) -> Result<T, AdminError> {
    T::deserialize(v).map_err(|e| {
        let mut line = v.to_string();
        line.truncate(200);
        AdminError::Schema(format!("{e}: {line}"))
    })
}

/// `v` if it says `"ok":true`, else the refusal as an error.
pub fn check_ok(v: Value) -> Result<Value, AdminError> {
    if v.get("ok") == Some(&Value::Bool(true)) {
        Ok(v)
    } else {
        Err(AdminError::Refused(v.to_string()))
    }
}

/// One-shot request on a fresh connection.
pub fn query(addr: SocketAddr, line: &str) -> Result<Value, AdminError> {
    Admin::connect(addr)?.request(line)
}

/// One-shot `stats`: the reply as sent (kept as evidence in the report)
/// and read into the hub's typed schema.
pub fn query_stats(addr: SocketAddr) -> Result<(Value, HubStats), AdminError> {
    let v = query(addr, "stats")?;
    let stats = typed::<StatsReply>(&v)?.stats;
    Ok((v, stats))
}

#[cfg(test)]
mod cap_tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn an_endless_reply_line_is_refused_at_the_cap() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let chunk = vec![b'x'; 64 * 1024];
            while s.write_all(&chunk).is_ok() {}
        });
        let mut a = Admin::connect(addr).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        match a.next_json(deadline, "a reply") {
            Err(AdminError::Refused(r)) => assert!(r.contains("too long"), "{r}"),
            other => panic!("{other:?}"),
        }
        assert!(a.partial.len() <= MAX_REPLY + 1, "{}", a.partial.len());
    }
}
