//! Serialization: the `Serialize` impls of [`JsonValue`] and [`JsonBytes`]
//! and the array/object shapes they are built from.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple, Serializer};
use serde::Serialize;

use super::{
    streamed_key, JsonBytes, JsonValue, ATTRS, ATTR_VALUE, B64, BIG_NUMBER, BULK_ERROR, DOUBLE,
    ERROR, MAP, NULL_ARRAY, PUSH, SET, SIMPLE, STREAMED_BULK, VERBATIM,
};
use crate::resp::{with_stack, Value};

impl Serialize for JsonBytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => tagged(s, B64, &STANDARD.encode(self.0)),
        }
    }
}

/// A one-key object `{tag: inner}`, the shape of most typed values.
fn tagged<S: Serializer, T: Serialize + ?Sized>(
    s: S,
    tag: &'static str,
    inner: &T,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(1))?;
    m.serialize_entry(tag, inner)?;
    m.end()
}

/// A list of values as a JSON array.
pub(crate) struct Items<'a>(pub(crate) &'a [Value]);

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for v in self.0 {
            seq.serialize_element(&JsonValue(v))?;
        }
        seq.end()
    }
}

/// Map or attribute entries as `[[k,v],…]`: keys may be any value, so a JSON
/// object cannot hold them, and the order must survive.
struct Pairs<'a>(&'a [(Value, Value)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (k, v) in self.0 {
            seq.serialize_element(&Pair(k, v))?;
        }
        seq.end()
    }
}

/// One `[k,v]` entry.
struct Pair<'a>(&'a Value, &'a Value);

impl Serialize for Pair<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&JsonValue(self.0))?;
        t.serialize_element(&JsonValue(self.1))?;
        t.end()
    }
}

/// A list of byte strings (streamed bulk chunks, command arguments).
pub(crate) struct Chunks<'a>(pub(crate) &'a [Bytes]);

impl Serialize for Chunks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for c in self.0 {
            seq.serialize_element(&JsonBytes(c))?;
        }
        seq.end()
    }
}

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Bulk(b) => JsonBytes(b).serialize(s),
            Value::Simple(b) => tagged(s, SIMPLE, &JsonBytes(b)),
            Value::Error(b) => tagged(s, ERROR, &JsonBytes(b)),
            Value::Integer(i) => s.serialize_i64(*i),
            Value::NullBulk | Value::Null => s.serialize_unit(),
            Value::NullArray => tagged(s, NULL_ARRAY, &()),
            Value::Double(b) => tagged(s, DOUBLE, &JsonBytes(b)),
            Value::Boolean(b) => s.serialize_bool(*b),
            Value::BigNumber(b) => tagged(s, BIG_NUMBER, &JsonBytes(b)),
            Value::Verbatim(b) => tagged(s, VERBATIM, &JsonBytes(b)),
            Value::BulkError(b) => tagged(s, BULK_ERROR, &JsonBytes(b)),
            Value::StreamedBulk(chunks) => tagged(s, STREAMED_BULK, &Chunks(chunks)),
            // Aggregates recurse through `Items`/`Pairs`, one level per
            // call, on a stack that grows when needed: serde's serializer
            // API nests by calls, so a reply thousands of levels deep
            // cannot be written iteratively.
            Value::Array(items) => with_stack(|| Items(items).serialize(s)),
            Value::Map(pairs) => with_stack(|| tagged(s, MAP, &Pairs(pairs))),
            Value::Set(items) => with_stack(|| tagged(s, SET, &Items(items))),
            Value::Push(items) => with_stack(|| tagged(s, PUSH, &Items(items))),
            Value::Attributed { attrs, value } => with_stack(|| {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry(ATTRS, &Pairs(attrs))?;
                m.serialize_entry(ATTR_VALUE, &JsonValue(value))?;
                m.end()
            }),
            Value::StreamedAggregate { kind, items } => {
                with_stack(|| tagged(s, streamed_key(*kind), &Items(items)))
            }
        }
    }
}
