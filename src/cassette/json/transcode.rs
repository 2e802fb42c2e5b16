//! RESP reply bytes straight to cassette JSON, without building a [`Value`].
//!
//! The recorder sees every reply as exact bytes it has already measured with
//! `reply_len`. Decoding those into a `Value` tree only to serialize it again
//! cost a walk, an allocation per aggregate and two reference-count updates
//! per string, for every reply recorded. This writes the same JSON text as
//! serializing `JsonValue(&parse_reply(frame))` (the tests hold the two to
//! each other, byte for byte) in one pass over the frame.
//!
//! It is a fast path, not a second parser: frames it does not expect (they
//! should all have been vouched for by `reply_len`) make it return `None`
//! with `out` as it was, and the caller takes the `Value` road.
//!
//! [`Value`]: crate::resp::Value

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serializer;

use crate::resp::{parse_i64, with_stack, AggregateKind, MAX_REPLY_DEPTH};

use super::{
    streamed_key, ATTRS, ATTR_VALUE, B64, BIG_NUMBER, BULK_ERROR, DOUBLE, ERROR, MAP, NULL_ARRAY,
    PUSH, SET, SIMPLE, STACK_CHECK_EVERY, STREAMED_BULK, VERBATIM,
};

/// As deep as `reply_len` lets the upstream nest (a value's depth is the
/// number of aggregates around it); past this the transcoder gives up, and
/// so would the parser it falls back to.
const MAX_DEPTH: usize = MAX_REPLY_DEPTH;

/// Appends the JSON of the reply frame at the start of `frame` to `out`;
/// returns the frame's length, or `None` (with `out` unchanged) if the bytes
/// are not one complete, well-formed frame.
pub fn write_reply_json(frame: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    let start = out.len();
    let end = Transcoder { buf: frame, out }.value(0, 0);
    if end.is_none() {
        out.truncate(start);
    }
    end
}

/// Appends `bytes` as cassette JSON writes them: a JSON string when they are
/// UTF-8 (escaped exactly as `serde_json` escapes), else `{"b64":"…"}`.
pub fn write_bytes_json(bytes: &[u8], out: &mut Vec<u8>) {
    if is_plain(bytes) {
        // Printable ASCII without quote or backslash: nothing to escape.
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            // serde_json's own escaping, so both writers agree on every byte.
            // Writing into a Vec cannot fail.
            let _ = (&mut serde_json::Serializer::new(&mut *out)).serialize_str(text);
        }
        Err(_) => {
            key_open(out, B64);
            out.push(b'"');
            let start = out.len();
            // Padded standard base64 of n bytes: 4 characters per 3 bytes.
            out.resize(start + bytes.len().div_ceil(3) * 4, 0);
            let written = STANDARD
                .encode_slice(bytes, &mut out[start..])
                .unwrap_or_default();
            out.truncate(start + written);
            out.extend_from_slice(b"\"}");
        }
    }
}

/// True when `bytes` are printable ASCII without quote or backslash: the
/// JSON string is the bytes themselves. Every argument and reply the
/// recorder writes goes through here, so it looks at eight bytes a step.
fn is_plain(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `x` that is zero, give or take false
    // positives above a true one (none when there is no zero byte).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Below 0x20 (controls), 0x7f and up (DEL, non-ASCII), `"`, `\`.
        let bad = (x.wrapping_sub(ONES * 0x20) & !x)
            | x
            | zero_bytes(x ^ (ONES * 0x7f))
            | zero_bytes(x ^ (ONES * u64::from(b'"')))
            | zero_bytes(x ^ (ONES * u64::from(b'\\')));
        if bad & HIGHS != 0 {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
}

/// Appends an integer the way `serde_json` writes one.
pub fn write_int_json(n: impl itoa::Integer, out: &mut Vec<u8>) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes `{"key":` (the caller writes the value and the closing `}`).
fn key_open(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

struct Transcoder<'b, 'o> {
    buf: &'b [u8],
    out: &'o mut Vec<u8>,
}

impl<'b> Transcoder<'b, '_> {
    /// The header line at `pos`: its type byte, its text, and where the
    /// next token starts.
    fn line(&self, pos: usize) -> Option<(u8, &'b [u8], usize)> {
        let buf: &'b [u8] = self.buf;
        let kind = *buf.get(pos)?;
        let rest = buf.get(pos + 1..)?;
        let cr = memchr::memchr(b'\r', rest)?;
        if rest.get(cr + 1) != Some(&b'\n') {
            return None;
        }
        Some((kind, &rest[..cr], pos + 1 + cr + 2))
    }

    /// `len` payload bytes at `at`, followed by CRLF.
    fn payload(&self, at: usize, len: usize) -> Option<(&'b [u8], usize)> {
        let buf: &'b [u8] = self.buf;
        let end = at.checked_add(len)?;
        if buf.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        Some((buf.get(at..end)?, end + 2))
    }

    fn length(text: &[u8]) -> Option<usize> {
        usize::try_from(parse_i64(text)?).ok()
    }

    /// Writes the value at `pos`; returns where the next token starts.
    ///
    /// Recursive, one call per level, on a stack that grows when needed
    /// (checked every few levels):
    /// an explicit stack would have to keep the JSON closers, the pair
    /// brackets, the attribute's trailing value and the streamed ends
    /// apart, and this is a fast path the parser stands behind.
    fn value(&mut self, pos: usize, depth: usize) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        if depth % STACK_CHECK_EVERY == 0 {
            with_stack(|| self.value_here(pos, depth))
        } else {
            self.value_here(pos, depth)
        }
    }

    fn value_here(&mut self, pos: usize, depth: usize) -> Option<usize> {
        let (kind, text, next) = self.line(pos)?;
        match kind {
            b'+' => self.tagged_bytes(SIMPLE, text),
            b'-' => self.tagged_bytes(ERROR, text),
            b',' => self.tagged_bytes(DOUBLE, text),
            b'(' => self.tagged_bytes(BIG_NUMBER, text),
            b':' => write_int_json(parse_i64(text)?, self.out),
            b'_' if text.is_empty() => self.out.extend_from_slice(b"null"),
            b'#' => match text {
                b"t" => self.out.extend_from_slice(b"true"),
                b"f" => self.out.extend_from_slice(b"false"),
                _ => return None,
            },
            b'$' if text == b"-1" => self.out.extend_from_slice(b"null"),
            b'*' if text == b"-1" => {
                key_open(self.out, NULL_ARRAY);
                self.out.extend_from_slice(b"null}");
            }
            b'$' if text == b"?" => return self.streamed_bulk(next),
            b'$' | b'=' | b'!' => {
                let (data, after) = self.payload(next, Self::length(text)?)?;
                match kind {
                    b'$' => write_bytes_json(data, self.out),
                    b'=' => self.tagged_bytes(VERBATIM, data),
                    _ => self.tagged_bytes(BULK_ERROR, data),
                }
                return Some(after);
            }
            b'*' | b'~' | b'%' | b'>' | b'|' => {
                let agg = AggregateKind::from_type_byte(kind)?;
                if text == b"?" {
                    return self.streamed(agg, next, depth);
                }
                return self.counted(agg, Self::length(text)?, next, depth);
            }
            _ => return None,
        }
        Some(next)
    }

    fn tagged_bytes(&mut self, key: &str, bytes: &[u8]) {
        key_open(self.out, key);
        write_bytes_json(bytes, self.out);
        self.out.push(b'}');
    }

    /// `n` values from `pos` as a JSON array.
    fn items(&mut self, n: usize, mut pos: usize, depth: usize) -> Option<usize> {
        self.out.push(b'[');
        for i in 0..n {
            if i > 0 {
                self.out.push(b',');
            }
            pos = self.value(pos, depth + 1)?;
        }
        self.out.push(b']');
        Some(pos)
    }

    /// `n` key/value pairs from `pos` as `[[k,v],…]`.
    fn pairs(&mut self, n: usize, mut pos: usize, depth: usize) -> Option<usize> {
        self.out.push(b'[');
        for i in 0..n {
            self.out.extend_from_slice(if i > 0 { b",[" } else { b"[" });
            pos = self.value(pos, depth + 1)?;
            self.out.push(b',');
            pos = self.value(pos, depth + 1)?;
            self.out.push(b']');
        }
        self.out.push(b']');
        Some(pos)
    }

    fn counted(&mut self, agg: AggregateKind, n: usize, pos: usize, depth: usize) -> Option<usize> {
        let next = match agg {
            AggregateKind::Array => return self.items(n, pos, depth),
            AggregateKind::Set => {
                key_open(self.out, SET);
                self.items(n, pos, depth)?
            }
            AggregateKind::Push => {
                key_open(self.out, PUSH);
                self.items(n, pos, depth)?
            }
            AggregateKind::Map => {
                key_open(self.out, MAP);
                self.pairs(n, pos, depth)?
            }
            AggregateKind::Attribute => {
                // `{"|":[[k,v],…],"value":V}`: the attributes describe the
                // value that follows them.
                key_open(self.out, ATTRS);
                let after = self.pairs(n, pos, depth)?;
                self.out.extend_from_slice(b",\"");
                self.out.extend_from_slice(ATTR_VALUE.as_bytes());
                self.out.extend_from_slice(b"\":");
                self.value(after, depth + 1)?
            }
        };
        self.out.push(b'}');
        Some(next)
    }

    /// `*?` and friends: values until `.`, as `{"*?":[…]}` (flat, even for
    /// maps, as the `Value` keeps them).
    fn streamed(&mut self, agg: AggregateKind, mut pos: usize, depth: usize) -> Option<usize> {
        key_open(self.out, streamed_key(agg));
        self.out.push(b'[');
        let mut count = 0usize;
        loop {
            if let Some((b'.', b"", after)) = self.line(pos) {
                pos = after;
                break;
            }
            if count > 0 {
                self.out.push(b',');
            }
            pos = self.value(pos, depth + 1)?;
            count += 1;
        }
        if matches!(agg, AggregateKind::Map | AggregateKind::Attribute) && count % 2 == 1 {
            return None;
        }
        self.out.extend_from_slice(b"]}");
        Some(pos)
    }

    /// `$?`: `;N` chunks until `;0`, as `{"$?":["…",…]}`.
    fn streamed_bulk(&mut self, mut pos: usize) -> Option<usize> {
        key_open(self.out, STREAMED_BULK);
        self.out.push(b'[');
        let mut first = true;
        loop {
            let (kind, text, next) = self.line(pos)?;
            if kind != b';' {
                return None;
            }
            if text == b"0" {
                pos = next;
                break;
            }
            let len = Self::length(text)?;
            let (data, after) = self.payload(next, len)?;
            pos = after;
            if len == 0 {
                // `;0` written with an (empty) payload line also ends it.
                break;
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            write_bytes_json(data, self.out);
        }
        self.out.extend_from_slice(b"]}");
        Some(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_plain_agrees_with_the_byte_by_byte_rule_at_every_position() {
        let plain = |b: u8| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
        for len in [1, 7, 8, 9, 16, 17, 23] {
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = b;
                    assert_eq!(is_plain(&bytes), plain(b), "byte {b:#x} at {pos} of {len}");
                }
            }
        }
        assert!(is_plain(b""));
    }
}
