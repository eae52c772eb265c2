//! One TCP connection in the event loop: the socket, its bounded line
//! framer and its capped output buffer. Device and admin connections share
//! it; the loop decides what their lines mean.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;

use crate::control::ConnId;
use crate::protocol::LineFramer;

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Device,
    Admin,
}

/// Why the output buffer refused more bytes.
#[derive(Debug)]
pub struct OutbufFull;

pub struct Conn {
    pub stream: TcpStream,
    pub id: ConnId,
    pub role: Role,
    pub framer: LineFramer,
    out: Vec<u8>,
    max_out: usize,
    /// Set when the connection is to be dropped at the end of the batch.
    pub closing: bool,
    /// Admin sessions: when the last complete line arrived (or the session
    /// opened), for the idle timeout and for choosing whom to evict.
    pub last_line: Instant,
    /// Admin sessions: complete lines so far.
    pub lines: u64,
    /// Admin sessions: has taken a seat (sent a complete line).
    pub proven: bool,
    /// Admin sessions: since when a line has been incomplete.
    pub partial_since: Option<Instant>,
    /// Admin sessions: a `list` still being streamed.
    pub list: Option<ListCursor>,
    /// Admin sessions: lines read and not yet run.
    pub admin_backlog: std::collections::VecDeque<String>,
    /// Admin sessions: the peer closed; close once the backlog has run.
    pub eof_seen: bool,
}

/// The rest of a streamed reply (`list`, `history`): its lines, written
/// as the peer reads.
#[derive(Debug)]
pub struct ListCursor {
    pub lines: Vec<String>,
    pub next: usize,
}

/// The outcome of draining a socket.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Read until `WouldBlock`.
    Drained,
    /// The read budget ran out with data still waiting.
    Budget,
    /// The peer closed (EOF).
    Eof,
}

impl Conn {
    pub fn new(stream: TcpStream, id: ConnId, role: Role, max_line: usize, max_out: usize) -> Self {
        Conn {
            stream,
            id,
            role,
            framer: LineFramer::new(max_line),
            out: Vec::new(),
            max_out,
            closing: false,
            last_line: Instant::now(),
            lines: 0,
            proven: false,
            partial_since: None,
            list: None,
            admin_backlog: std::collections::VecDeque::new(),
            eof_seen: false,
        }
    }

    /// Bytes queued and not yet taken by the socket.
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// The output cap.
    pub fn max_out(&self) -> usize {
        self.max_out
    }

    /// Reads one chunk into `buf`. `Ok(None)` = would block.
    pub fn read_chunk(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        loop {
            match self.stream.read(buf) {
                Ok(n) => return Ok(Some(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Queues bytes, writing through when nothing is queued. Fails when the
    /// peer has stopped reading and the cap is reached.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), OutbufFull> {
        if self.out.len() + bytes.len() > self.max_out {
            return Err(OutbufFull);
        }
        self.out.extend_from_slice(bytes);
        // An I/O error surfaces on the next read; the bytes are lost anyway.
        let _ = self.flush();
        Ok(())
    }

    /// Writes as much of the queue as the socket takes.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut written = 0;
        let res = loop {
            if written == self.out.len() {
                break Ok(());
            }
            match self.stream.write(&self.out[written..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => break Err(e),
            }
        };
        self.out.drain(..written);
        if self.out.is_empty() && self.out.capacity() > 16 * 1024 {
            self.out = Vec::new();
        }
        res
    }
}
