//! The recordings' commands and replies, packed into a few large buffers.
//!
//! A cassette is JSON; the values it holds are small (`SET key:1 v`,
//! `+OK`). Decoded, each would be a `Vec<Bytes>` and a `Vec<Value>` with
//! their own allocations, four or five times the size of the line. Packed,
//! a recording is its times, its replies exactly as a client receives them
//! (RESP, in the recorded protocol) and its command as length-prefixed
//! arguments, left out when it is its match key (packed once for all the
//! recordings of that key): a fraction of the JSON line. Replies are written to a
//! client straight from here when nothing has to change them (see
//! `Matcher::reply_wire`), and decoded only when something does (a
//! downgrade to RESP2, shifted times, tokens): shotover's habit of keeping
//! raw bytes and parsing lazily.
//!
//! Match keys are packed apart, once per distinct key, by the key table
//! (`key_table`), in the same form.

use bytes::{BufMut, Bytes, BytesMut};
use smallvec::{smallvec, SmallVec};

use crate::resp::{encode, parse_reply, Limits, Value};

/// How much each buffer holds before the next one starts (a larger value
/// gets a buffer of its own). Large enough that the buffers' own overhead
/// is nothing; small enough that the unused tail of the last one is.
const CHUNK: usize = 4 << 20;

/// Where a packed value is: its buffer and offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Place {
    /// The buffer.
    pub chunk: u32,
    /// Its offset in the buffer.
    pub offset: u32,
}

/// A packed recording's times and parts (see [`Store::meta`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Meta {
    /// When the request came, ms since the recording started.
    pub at_ms: u64,
    /// How long its reply took, µs.
    pub took_us: u64,
    /// Where its encoded replies start.
    pub replies: Place,
    /// Their length; the command (when packed) follows.
    pub reply_len: u32,
}

/// The buffers.
#[derive(Debug, Default)]
pub(super) struct Store {
    /// Full buffers, frozen so values are sliced out of them without a copy.
    chunks: Vec<Bytes>,
    /// The buffer being filled (while the cassette loads); frozen into
    /// `chunks` by [`finish`](Store::finish).
    filling: BytesMut,
    /// Where replies are encoded before they are packed.
    scratch: BytesMut,
}

impl Store {
    /// Packs a recording: its times, its replies, and its command unless
    /// `cmd` is `None` (the command is its match key, packed once for all
    /// its recordings). Returns where it starts.
    pub fn push_recording(
        &mut self,
        at_ms: u64,
        took_us: u64,
        replies: &[Value],
        cmd: Option<&[Bytes]>,
    ) -> Place {
        // Encoded aside first, to know the exact room it needs.
        let mut wire = std::mem::take(&mut self.scratch);
        wire.clear();
        for reply in replies {
            encode(reply, &mut wire);
        }
        let args = cmd.unwrap_or_default();
        let need = 30 + wire.len() + args.iter().map(|a| a.len() + 10).sum::<usize>() + 10;
        let place = self.room(need);
        // The three numbers built on the stack and appended at once: each
        // append is a call and a copy, and this runs for every line of a
        // cassette while it loads (callgrind: appends were 265 of the
        // indexing thread's 3,750 instructions a line).
        let mut head = [0u8; 3 * MAX_VARINT];
        let mut len = varint_into(at_ms as usize, &mut head);
        len += varint_into(took_us as usize, &mut head[len..]);
        len += varint_into(wire.len(), &mut head[len..]);
        self.filling.put_slice(&head[..len]);
        self.filling.put_slice(&wire);
        if let Some(cmd) = cmd {
            pack_args(cmd, &mut self.filling);
        }
        self.scratch = wire;
        place
    }

    /// What a recording packed at `place` holds: its times, and where its
    /// replies and command are.
    pub fn meta(&self, place: Place) -> Meta {
        let packed = self.slice(place);
        let mut rest = packed;
        let mut next = || read_varint(&mut rest).unwrap_or(0);
        let (at_ms, took_us, reply_len) = (next() as u64, next() as u64, next());
        let reply_at = place.offset as usize + (packed.len() - rest.len());
        Meta {
            at_ms,
            took_us,
            replies: Place {
                chunk: place.chunk,
                offset: reply_at as u32,
            },
            reply_len: reply_len as u32,
        }
    }

    /// Where the next value goes, starting a new buffer when the current
    /// one has less than `need` left.
    fn room(&mut self, need: usize) -> Place {
        if self.filling.len() + need > self.filling.capacity() {
            self.seal();
            self.filling.reserve(need.max(CHUNK));
        }
        Place {
            chunk: self.chunks.len() as u32,
            offset: u32::try_from(self.filling.len()).expect("a recording of 4 GiB or more"),
        }
    }

    /// Moves the buffer being filled (if anything is in it) to the full ones.
    fn seal(&mut self) {
        if !self.filling.is_empty() {
            self.chunks.push(self.filling.split().freeze());
        }
        self.filling = BytesMut::new();
    }

    /// Called once everything is packed: values are then sliced, not copied.
    pub fn finish(&mut self) {
        self.seal();
        self.scratch = BytesMut::new();
    }

    /// The bytes from `place` to the end of its buffer.
    fn tail(&self, place: Place) -> Bytes {
        let at = place.offset as usize;
        match self.chunks.get(place.chunk as usize) {
            Some(chunk) => chunk.slice(at..),
            // Still loading: a copy (only tests look before the end).
            None => Bytes::copy_from_slice(&self.filling[at..]),
        }
    }

    /// The bytes at `place`, `len` of them.
    pub fn bytes(&self, place: Place, len: u32) -> Bytes {
        let mut tail = self.tail(place);
        tail.truncate(len as usize);
        tail
    }

    /// A slice of the packed bytes at `place`, without a reference count.
    fn slice(&self, place: Place) -> &[u8] {
        let at = place.offset as usize;
        match self.chunks.get(place.chunk as usize) {
            Some(chunk) => &chunk[at..],
            None => &self.filling[at..],
        }
    }

    /// The replies of a recording.
    pub fn replies(&self, meta: &Meta) -> Vec<Value> {
        let wire = self.bytes(meta.replies, meta.reply_len);
        let limits = unlimited();
        let mut out = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let rest = wire.slice(at..);
            match parse_reply(&rest, &limits) {
                Ok(Some((value, used))) => {
                    out.push(value);
                    at += used;
                }
                // Packed by `push_recording` from values that encode back
                // as they were (`wire_safe`): cannot happen.
                _ => unreachable!("a packed reply does not parse"),
            }
        }
        out
    }

    /// The command of a recording, when it was packed with it.
    pub fn cmd(&self, meta: &Meta) -> Vec<Bytes> {
        let tail = self.tail(Place {
            chunk: meta.replies.chunk,
            offset: meta.replies.offset + meta.reply_len,
        });
        unpack_args(&tail)
    }

    /// A recording's command as packed, not unpacked: see
    /// [`packed_args`](Store::packed_args).
    pub fn packed_cmd(&self, meta: &Meta) -> &[u8] {
        self.packed_args(Place {
            chunk: meta.replies.chunk,
            offset: meta.replies.offset + meta.reply_len,
        })
    }

    /// The arguments packed at `place` (a command) as they are
    /// packed: two are the same bytes exactly when they are the same
    /// arguments, so they compare without being unpacked.
    pub fn packed_args(&self, place: Place) -> &[u8] {
        packed_args_at(self.slice(place))
    }
}

/// Limits that accept anything `encode` wrote (the values came from a
/// cassette, not from a stranger).
fn unlimited() -> Limits {
    Limits {
        max_inline: usize::MAX,
        max_bulk: usize::MAX,
        max_depth: usize::MAX,
    }
}

/// Writes arguments as a count and length-prefixed strings (LEB128).
pub(super) fn pack_args(args: &[Bytes], out: &mut BytesMut) {
    write_varint(args.len(), out);
    for arg in args {
        write_varint(arg.len(), out);
        out.put_slice(arg);
    }
}

/// What [`pack_args`] wrote at the start of `whole`, still packed.
pub(super) fn packed_args_at(whole: &[u8]) -> &[u8] {
    let mut rest = whole;
    let count = read_varint(&mut rest).unwrap_or(0);
    for _ in 0..count {
        let Some(len) = read_varint(&mut rest) else {
            break;
        };
        rest = rest.get(len..).unwrap_or_default();
    }
    &whole[..whole.len() - rest.len()]
}

/// Reads what [`pack_args`] wrote at the start of `packed`, sliced.
pub(super) fn unpack_args(packed: &Bytes) -> Vec<Bytes> {
    let mut rest: &[u8] = packed;
    let count = read_varint(&mut rest).unwrap_or(0);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let Some(len) = read_varint(&mut rest) else {
            break;
        };
        let start = packed.len() - rest.len();
        out.push(packed.slice(start..start + len));
        rest = &rest[len..];
    }
    out
}

/// The most bytes a varint of a `usize` takes.
const MAX_VARINT: usize = 10;

fn write_varint(n: usize, out: &mut BytesMut) {
    let mut buf = [0u8; MAX_VARINT];
    let len = varint_into(n, &mut buf);
    out.put_slice(&buf[..len]);
}

/// Writes `n` as a varint (seven bits a byte, low first, the high bit set
/// on all but the last) at the start of `out`; returns its length.
fn varint_into(mut n: usize, out: &mut [u8]) -> usize {
    let mut at = 0;
    while n >= 0x80 {
        out[at] = (n as u8) | 0x80;
        n >>= 7;
        at += 1;
    }
    out[at] = n as u8;
    at + 1
}

#[inline]
pub(super) fn read_varint(input: &mut &[u8]) -> Option<usize> {
    // Most are lengths and times under 128: one byte.
    if let Some((&byte, rest)) = input.split_first() {
        if byte < 0x80 {
            *input = rest;
            return Some(usize::from(byte));
        }
    }
    read_long_varint(input)
}

fn read_long_varint(input: &mut &[u8]) -> Option<usize> {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
        shift += 7;
        if shift >= usize::BITS {
            return None;
        }
    }
}

/// Whether `value` encodes to RESP that parses back to it: a line-type
/// string (`+`, `-`, `,`, `(`) holding CR or LF does not (a hand-edited
/// cassette may hold one). Iterative: cassette values may nest deeply.
pub(super) fn wire_safe(value: &Value) -> bool {
    let line_safe = |s: &Bytes| !s.iter().any(|&b| b == b'\r' || b == b'\n');
    // On the stack while small (see `is_resp2`).
    let mut todo: SmallVec<[&Value; 8]> = smallvec![value];
    while let Some(v) = todo.pop() {
        match v {
            Value::Simple(s) | Value::Error(s) | Value::Double(s) | Value::BigNumber(s)
                if !line_safe(s) =>
            {
                return false;
            }
            Value::Array(items) | Value::Set(items) | Value::Push(items) => todo.extend(items),
            Value::StreamedAggregate { items, .. } => todo.extend(items),
            Value::Map(pairs) => todo.extend(pairs.iter().flat_map(|(k, v)| [k, v])),
            Value::Attributed { attrs, value } => {
                todo.extend(attrs.iter().flat_map(|(k, v)| [k, v]));
                todo.push(value);
            }
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<Bytes> {
        s.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    /// Every size of varint reads back, the largest `usize` too, and
    /// one written after another is read one after another.
    #[test]
    fn varints_read_back() {
        let values = [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            u32::MAX as usize,
            usize::MAX,
        ];
        let mut out = BytesMut::new();
        for &n in &values {
            write_varint(n, &mut out);
        }
        let mut rest = &out[..];
        for &n in &values {
            assert_eq!(read_varint(&mut rest), Some(n));
        }
        assert!(rest.is_empty());
    }

    #[test]
    fn recordings_come_back_as_packed() {
        let mut store = Store::default();
        let big = "x".repeat(200);
        let replies = vec![
            Value::simple("OK"),
            Value::NullArray,
            Value::Null,
            Value::Array(vec![
                Value::Integer(-3),
                Value::Bulk(Bytes::from(big.clone())),
            ]),
        ];
        let cmd = args(&["SET", "k", &big, ""]);
        let place = store.push_recording(7, 300_000_000_000, &replies, Some(&cmd));
        // Before and after the buffers are frozen.
        for _ in 0..2 {
            let meta = store.meta(place);
            assert_eq!((meta.at_ms, meta.took_us), (7, 300_000_000_000));
            assert_eq!(store.replies(&meta), replies);
            assert_eq!(store.cmd(&meta), cmd);
            store.finish();
        }
        let empty = store.push_recording(0, 0, &[], None);
        store.finish();
        assert!(store.replies(&store.meta(empty)).is_empty());
    }

    #[test]
    fn a_value_larger_than_a_buffer_gets_its_own() {
        let mut store = Store::default();
        let incr = args(&["INCR", "n"]);
        let small = store.push_recording(1, 2, &[Value::Integer(1)], Some(&incr));
        let huge = Bytes::from(vec![b'v'; CHUNK + 10]);
        let get = args(&["GET", "k"]);
        let large = store.push_recording(3, 4, &[Value::Bulk(huge.clone())], Some(&get));
        store.finish();
        assert_ne!(small.chunk, large.chunk);
        assert_eq!(store.replies(&store.meta(large)), vec![Value::Bulk(huge)]);
        assert_eq!(store.cmd(&store.meta(small)), incr);
    }

    #[test]
    fn lines_with_line_breaks_are_not_wire_safe() {
        assert!(wire_safe(&Value::simple("OK")));
        assert!(!wire_safe(&Value::Array(vec![Value::simple("a\r\nb")])));
        assert!(wire_safe(&Value::Bulk(Bytes::from_static(b"a\r\nb"))));
    }
}
