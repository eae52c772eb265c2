//! Device names and types: 1–64 bytes of `A-Z a-z 0-9 _ . : -`.

use crate::limits::MAX_IDENT;

/// Why an identifier was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentError {
    Empty,
    TooLong,
    BadChar,
}

impl std::fmt::Display for IdentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdentError::Empty => "empty",
            IdentError::TooLong => "longer than 64 characters",
            IdentError::BadChar => "characters outside A-Z a-z 0-9 _ . : -",
        })
    }
}

/// True for the bytes an identifier may hold.
#[inline]
pub fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')
}

/// Checks an identifier and returns it as `&str` (it is ASCII by then).
pub fn check(bytes: &[u8]) -> Result<&str, IdentError> {
    if bytes.is_empty() {
        return Err(IdentError::Empty);
    }
    if bytes.len() > MAX_IDENT {
        return Err(IdentError::TooLong);
    }
    if !bytes.iter().all(|&b| is_ident_byte(b)) {
        return Err(IdentError::BadChar);
    }
    // All bytes are ASCII, so this cannot fail.
    std::str::from_utf8(bytes).map_err(|_| IdentError::BadChar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_set() {
        assert_eq!(check(b"Sensor01"), Ok("Sensor01"));
        assert_eq!(check(b"a.b:c-d_e"), Ok("a.b:c-d_e"));
        assert_eq!(check(&[b'x'; 64]).map(str::len), Ok(64));
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(check(b""), Err(IdentError::Empty));
        assert_eq!(check(&[b'x'; 65]), Err(IdentError::TooLong));
        for bad in [&b"a b"[..], b"a,b", b"a\0", b"caf\xc3\xa9", b"a/b", b"a\n"] {
            assert_eq!(check(bad), Err(IdentError::BadChar), "{bad:?}");
        }
    }
}
