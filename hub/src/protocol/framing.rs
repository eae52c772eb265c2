//! Cuts a TCP byte stream into lines with a hard cap on buffered bytes.
//!
//! A line ends at `\n`; a `\r` right before it is dropped. The original
//! clients send no terminator at all and wait for a reply, so after a read
//! burst has drained the socket the caller may take what is left as one
//! message with [`LineFramer::take_unterminated`]. The framer never holds
//! more than `max_line + 1` bytes of an unfinished line: past that,
//! [`FrameError::TooLong`] (invalid), as opposed to `Ok(None)` (incomplete).

/// Why the stream cannot be framed any further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A line grew past the cap before its terminator arrived.
    TooLong { max: usize },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong { max } => write!(f, "line longer than {max} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// A bounded line splitter. Feed it with [`push`](Self::push), then take
/// lines with [`next_line`](Self::next_line) until it returns `Ok(None)`.
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    start: usize,
    /// Bytes before `scan` are known to hold no `\n`.
    scan: usize,
    max_line: usize,
}

impl LineFramer {
    /// A framer that refuses lines longer than `max_line` bytes (terminator
    /// and `\r` not counted).
    pub fn new(max_line: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            start: 0,
            scan: 0,
            max_line,
        }
    }

    /// Bytes held and not yet returned as lines.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Appends bytes from the stream. Call `next_line` until `Ok(None)`
    /// before pushing more, or memory is only bounded by what you push.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.scan = 0;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete line, without `\n` and a `\r` right before it.
    /// `Ok(None)` means no complete line yet (incomplete); `Err` means the
    /// unfinished line is already longer than the cap (invalid).
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let from = self.scan.max(self.start);
        match memchr(b'\n', &self.buf[from..]) {
            Some(off) => {
                let end = from + off;
                let begin = self.start;
                self.start = end + 1;
                self.scan = self.start;
                let mut line = &self.buf[begin..end];
                if let [rest @ .., b'\r'] = line {
                    line = rest;
                }
                if line.len() > self.max_line {
                    return Err(FrameError::TooLong { max: self.max_line });
                }
                Ok(Some(line))
            }
            None => {
                self.scan = self.buf.len();
                let pending = self.pending();
                // One extra byte may be a `\r` waiting for its `\n`.
                if pending > self.max_line + 1 {
                    return Err(FrameError::TooLong { max: self.max_line });
                }
                self.compact();
                Ok(None)
            }
        }
    }

    /// Takes the unterminated remainder as one message (for clients that send
    /// no terminator). Returns `None` when nothing is pending.
    pub fn take_unterminated(&mut self) -> Option<&[u8]> {
        if self.pending() == 0 {
            return None;
        }
        let begin = self.start;
        self.start = self.buf.len();
        self.scan = self.start;
        let mut line = &self.buf[begin..];
        if let [rest @ .., b'\r'] = line {
            line = rest;
        }
        Some(&line[..line.len().min(self.max_line)])
    }

    /// Moves the unfinished line to the front so the buffer stays small.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.drain(..self.start);
        self.scan -= self.start;
        self.start = 0;
        if self.buf.capacity() > 4 * (self.max_line + 1) + 8192 {
            self.buf.shrink_to(self.max_line + 1);
        }
    }
}

#[inline]
fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(f: &mut LineFramer) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(l) = f.next_line().unwrap() {
            out.push(l.to_vec());
        }
        out
    }

    #[test]
    fn splits_lf_and_crlf() {
        let mut f = LineFramer::new(256);
        f.push(b"a\nbb\r\nccc");
        assert_eq!(lines(&mut f), vec![b"a".to_vec(), b"bb".to_vec()]);
        assert_eq!(f.pending(), 3);
        f.push(b"\n");
        assert_eq!(lines(&mut f), vec![b"ccc".to_vec()]);
        assert_eq!(f.pending(), 0);
    }

    #[test]
    fn a_line_split_byte_by_byte_is_whole() {
        let mut f = LineFramer::new(256);
        for &b in b"DEVICE A TYPE t\r" {
            f.push(&[b]);
            assert_eq!(f.next_line(), Ok(None));
        }
        f.push(b"\n");
        assert_eq!(f.next_line(), Ok(Some(&b"DEVICE A TYPE t"[..])));
    }

    #[test]
    fn unterminated_remainder_is_one_message() {
        let mut f = LineFramer::new(256);
        f.push(b"DEVICE Sensor01 TYPE temperature");
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(
            f.take_unterminated(),
            Some(&b"DEVICE Sensor01 TYPE temperature"[..])
        );
        assert_eq!(f.take_unterminated(), None);
    }

    #[test]
    fn too_long_is_invalid_not_incomplete() {
        let mut f = LineFramer::new(8);
        f.push(b"123456789");
        assert_eq!(f.next_line(), Ok(None), "9 bytes may still end in \\r\\n");
        f.push(b"0");
        assert_eq!(f.next_line(), Err(FrameError::TooLong { max: 8 }));
        let mut g = LineFramer::new(8);
        g.push(b"123456789\n");
        assert_eq!(g.next_line(), Err(FrameError::TooLong { max: 8 }));
        let mut h = LineFramer::new(8);
        h.push(b"12345678\r\n");
        assert_eq!(h.next_line(), Ok(Some(&b"12345678"[..])));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood() {
        let mut f = LineFramer::new(256);
        let chunk = [b'x'; 4096];
        f.push(&chunk);
        assert!(f.next_line().is_err());
        let mut g = LineFramer::new(256);
        for _ in 0..1000 {
            g.push(b"ACK Command Executed\n");
            while g.next_line().unwrap().is_some() {}
        }
        assert!(g.buf.capacity() < 8192, "capacity {}", g.buf.capacity());
    }
}
