//! The decoded view of one RESP2/RESP3 frame.
//!
//! The value keeps everything needed to write the frame back byte for byte:
//! the three kinds of null stay apart, doubles and big numbers keep the text
//! the server wrote, maps keep their order and key types, and streamed
//! (chunked) strings and aggregates remember that they were streamed.

use bytes::Bytes;

/// One RESP value, RESP2 or RESP3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// `+OK`: a simple string (no CR or LF inside).
    Simple(Bytes),
    /// `-ERR ...`: a simple error, the whole line after `-`.
    Error(Bytes),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`: a bulk string, any bytes.
    Bulk(Bytes),
    /// `$-1`: the RESP2 null bulk string.
    NullBulk,
    /// `*-1`: the RESP2 null array.
    NullArray,
    /// `_`: the RESP3 null.
    Null,
    /// `*N`: an array.
    Array(Vec<Value>),
    /// `%N`: a map, in wire order, keys of any type.
    Map(Vec<(Value, Value)>),
    /// `~N`: a set, in wire order.
    Set(Vec<Value>),
    /// `,1.5`: a double, kept as the text that was sent (`inf`, `-nan`, `1.50`).
    Double(Bytes),
    /// `#t` / `#f`.
    Boolean(bool),
    /// `(123...`: a big number, kept as text.
    BigNumber(Bytes),
    /// `=N\r\ntxt:...`: a verbatim string; the payload includes the 3-letter
    /// format and the colon, exactly as sent.
    Verbatim(Bytes),
    /// `!N\r\n...`: a bulk error.
    BulkError(Bytes),
    /// `>N`: an out-of-band push.
    Push(Vec<Value>),
    /// `|N` attributes followed by the value they describe.
    Attributed {
        /// The attribute map, in wire order.
        attrs: Vec<(Value, Value)>,
        /// The value the attributes annotate.
        value: Box<Value>,
    },
    /// `$?` followed by `;N` chunks and the terminating `;0`.
    StreamedBulk(Vec<Bytes>),
    /// `*?`, `~?`, `>?` or `%?` … `.`: an aggregate of unknown length.
    /// Maps are kept as a flat list of alternating keys and values.
    StreamedAggregate {
        /// Which aggregate: one of `*`, `~`, `%`, `>` (and `|`, never sent in practice).
        kind: AggregateKind,
        /// The elements, flat (for maps: key, value, key, value, …).
        items: Vec<Value>,
    },
}

/// The aggregate types a streamed aggregate (`X?` … `.`) can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateKind {
    /// `*?`
    Array,
    /// `~?`
    Set,
    /// `%?` (items alternate key, value)
    Map,
    /// `>?`
    Push,
    /// `|?`
    Attribute,
}

impl AggregateKind {
    /// The type byte that starts this aggregate on the wire.
    pub fn type_byte(self) -> u8 {
        match self {
            AggregateKind::Array => b'*',
            AggregateKind::Set => b'~',
            AggregateKind::Map => b'%',
            AggregateKind::Push => b'>',
            AggregateKind::Attribute => b'|',
        }
    }

    /// The aggregate kind for a type byte, if it is one.
    pub fn from_type_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'*' => AggregateKind::Array,
            b'~' => AggregateKind::Set,
            b'%' => AggregateKind::Map,
            b'>' => AggregateKind::Push,
            b'|' => AggregateKind::Attribute,
            _ => return None,
        })
    }
}

impl Value {
    /// A bulk string from anything byte-like.
    pub fn bulk(b: impl Into<Bytes>) -> Value {
        Value::Bulk(b.into())
    }

    /// A simple string from a static text.
    pub fn simple(s: &'static str) -> Value {
        Value::Simple(Bytes::from_static(s.as_bytes()))
    }

    /// A simple error from a text (the text after `-`).
    pub fn error(s: impl Into<String>) -> Value {
        Value::Error(Bytes::from(s.into()))
    }

    /// True for a push frame (also when it carries attributes).
    pub fn is_push(&self) -> bool {
        match self {
            Value::Push(_) => true,
            Value::StreamedAggregate { kind, .. } => *kind == AggregateKind::Push,
            Value::Attributed { value, .. } => value.is_push(),
            _ => false,
        }
    }

    /// True for an error reply of either kind.
    pub fn is_error(&self) -> bool {
        match self {
            Value::Error(_) | Value::BulkError(_) => true,
            Value::Attributed { value, .. } => value.is_error(),
            _ => false,
        }
    }

    /// The elements of an array, set or push (through attributes), if it is one.
    pub fn elements(&self) -> Option<&[Value]> {
        match self {
            Value::Array(v) | Value::Set(v) | Value::Push(v) => Some(v),
            Value::StreamedAggregate { kind, items } if *kind != AggregateKind::Map => Some(items),
            Value::Attributed { value, .. } => value.elements(),
            _ => None,
        }
    }

    /// The bytes of a string-like value (bulk, simple, verbatim payload,
    /// streamed bulk is not joined and gives `None`).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) | Value::Simple(b) | Value::Verbatim(b) => Some(b),
            Value::Attributed { value, .. } => value.as_bytes(),
            _ => None,
        }
    }
}
