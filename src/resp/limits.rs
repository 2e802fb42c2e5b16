//! Size and depth limits, and the protocol error they raise.

/// Redis's `PROTO_INLINE_MAX_SIZE`: the longest inline request or header line.
pub const DEFAULT_MAX_INLINE: usize = 64 * 1024;
/// Redis's default `proto-max-bulk-len`: 512 MiB.
pub const DEFAULT_MAX_BULK: usize = 512 * 1024 * 1024;
/// How deep aggregates may nest in a reply from an untrusted peer, and the
/// cap of [`Limits::default`]. Real replies stay under ten levels; the cap
/// keeps a hostile `*1\r\n*1\r\n…` cheap to reject. Client requests cannot
/// nest at all (Redis answers `expected '$', got '*'`).
pub const DEFAULT_MAX_DEPTH: usize = 40;
/// How deep aggregates may nest in a reply from the upstream Redis, which
/// is trusted to be well-formed but can legally send very deep replies: a
/// Lua script returning a table that contains itself is answered `*1` nested
/// 7995 levels deep (Lua's C stack limit is 8000) around
/// `-ERR reached lua stack limit`. Twice that leaves room for modules; the
/// scanner is iterative, so the cap costs at most a few hundred KiB of heap.
/// Everything that handles a recorded reply (cassette JSON, encoding,
/// `resplay show`) accepts this depth.
pub const MAX_REPLY_DEPTH: usize = 16 * 1024;

/// Limits applied while scanning peer input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest inline request, and longest `*N` / `$N` header line.
    pub max_inline: usize,
    /// Largest bulk string (`proto-max-bulk-len`).
    pub max_bulk: usize,
    /// Deepest nesting of aggregates in a reply (requests never nest).
    pub max_depth: usize,
}

impl Limits {
    /// The limits for replies from the upstream Redis: as the default, but
    /// as deep as Redis itself can answer ([`MAX_REPLY_DEPTH`]).
    pub fn upstream() -> Self {
        Limits {
            max_depth: MAX_REPLY_DEPTH,
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_inline: DEFAULT_MAX_INLINE,
            max_bulk: DEFAULT_MAX_BULK,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// A protocol violation. The text is exactly what Redis puts after `-ERR `,
/// so a server can answer `-ERR {text}` and close, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

impl ProtocolError {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        ProtocolError(text.into())
    }
}

/// Parses an integer the way Redis's `string2ll` does: optional `-`, no `+`,
/// no leading zeros, no spaces, no empty string, fits in an i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !(b'1'..=b'9').contains(&digits[0]) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(digit)?
        } else {
            v.checked_add(digit)?
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string2ll_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-7"), Some(-7));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"007",
            b"+5",
            b" 5",
            b"5 ",
            b"1a",
            b"9223372036854775808",
            b"blabla",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
