//! Lossless mapping between [`Value`] and JSON.
//!
//! Serialization goes through the [`JsonValue`] wrapper; loading goes through
//! [`ValueSeed`], a hand-written visitor that builds a [`Value`] straight from
//! the JSON tokens. There is no intermediate `serde_json::Value`: a cassette
//! of a million interactions must load in a couple of seconds, and building
//! (then dropping) a generic tree per line would double both time and memory.
//!
//! When the seed is given the buffer a line was read from, strings without
//! escapes become [`Bytes`] slices of that buffer instead of copies: the
//! loaded cassette then costs little more than the file itself.
//!
//! Nesting: loading relies on `serde_json`'s recursion limit (128 levels of
//! JSON arrays and objects), which stays on. A RESP array costs one JSON
//! level, a set/push/streamed aggregate two, a map or attribute entry three.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple, Serializer};
use serde::Serialize;

use crate::resp::{AggregateKind, Value};

/// Serializes a [`Value`] as cassette JSON (see `docs/cassette-format.md`).
#[derive(Debug, Clone, Copy)]
pub struct JsonValue<'a>(pub &'a Value);

/// Serializes bytes the way a bulk string is written: a JSON string when the
/// bytes are UTF-8, else `{"b64":"…"}`. Used for command arguments too.
#[derive(Debug, Clone, Copy)]
pub struct JsonBytes<'a>(pub &'a [u8]);

/// The value as one JSON text, e.g. for messages and tests.
pub fn to_json(value: &Value) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail and every key we write is a string.
    if serde_json::to_writer(&mut out, &JsonValue(value)).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Parses one JSON text into a [`Value`] (strings are copied).
pub fn from_json(json: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let v = ValueSeed::default().deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

// ---------------------------------------------------------------------------
// Serialization
// ---------------------------------------------------------------------------

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
            Value::Array(items) => Items(items).serialize(s),
            Value::Map(pairs) => tagged(s, MAP, &Pairs(pairs)),
            Value::Set(items) => tagged(s, SET, &Items(items)),
            Value::Double(b) => tagged(s, DOUBLE, &JsonBytes(b)),
            Value::Boolean(b) => s.serialize_bool(*b),
            Value::BigNumber(b) => tagged(s, BIG_NUMBER, &JsonBytes(b)),
            Value::Verbatim(b) => tagged(s, VERBATIM, &JsonBytes(b)),
            Value::BulkError(b) => tagged(s, BULK_ERROR, &JsonBytes(b)),
            Value::Push(items) => tagged(s, PUSH, &Items(items)),
            Value::Attributed { attrs, value } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry(ATTRS, &Pairs(attrs))?;
                m.serialize_entry(ATTR_VALUE, &JsonValue(value))?;
                m.end()
            }
            Value::StreamedBulk(chunks) => tagged(s, STREAMED_BULK, &Chunks(chunks)),
            Value::StreamedAggregate { kind, items } => {
                tagged(s, streamed_key(*kind), &Items(items))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Object keys
// ---------------------------------------------------------------------------

const B64: &str = "b64";
const SIMPLE: &str = "+";
const ERROR: &str = "-";
const NULL_ARRAY: &str = "*";
const MAP: &str = "%";
const SET: &str = "~";
const DOUBLE: &str = ",";
const BIG_NUMBER: &str = "(";
const VERBATIM: &str = "=";
const BULK_ERROR: &str = "!";
const PUSH: &str = ">";
const ATTRS: &str = "|";
const ATTR_VALUE: &str = "value";
const STREAMED_BULK: &str = "$?";

/// Every key a value object may have, for error messages.
const ALL_KEYS: &str = r#""b64", "+", "-", "*", "%", "~", ",", "(", "=", "!", ">", "|", "value", "$?", "*?", "~?", "%?", ">?", "|?""#;

fn streamed_key(kind: AggregateKind) -> &'static str {
    match kind {
        AggregateKind::Array => "*?",
        AggregateKind::Set => "~?",
        AggregateKind::Map => "%?",
        AggregateKind::Push => ">?",
        AggregateKind::Attribute => "|?",
    }
}

/// What the (first) key of a value object says the value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    B64,
    Simple,
    Error,
    NullArray,
    Map,
    Set,
    Double,
    BigNumber,
    Verbatim,
    BulkError,
    Push,
    Attrs,
    AttrValue,
    StreamedBulk,
    Streamed(AggregateKind),
}

impl Tag {
    fn parse(key: &str) -> Option<Tag> {
        Some(match key {
            B64 => Tag::B64,
            SIMPLE => Tag::Simple,
            ERROR => Tag::Error,
            NULL_ARRAY => Tag::NullArray,
            MAP => Tag::Map,
            SET => Tag::Set,
            DOUBLE => Tag::Double,
            BIG_NUMBER => Tag::BigNumber,
            VERBATIM => Tag::Verbatim,
            BULK_ERROR => Tag::BulkError,
            PUSH => Tag::Push,
            ATTRS => Tag::Attrs,
            ATTR_VALUE => Tag::AttrValue,
            STREAMED_BULK => Tag::StreamedBulk,
            "*?" => Tag::Streamed(AggregateKind::Array),
            "~?" => Tag::Streamed(AggregateKind::Set),
            "%?" => Tag::Streamed(AggregateKind::Map),
            ">?" => Tag::Streamed(AggregateKind::Push),
            "|?" => Tag::Streamed(AggregateKind::Attribute),
            _ => return None,
        })
    }

    fn key(self) -> &'static str {
        match self {
            Tag::B64 => B64,
            Tag::Simple => SIMPLE,
            Tag::Error => ERROR,
            Tag::NullArray => NULL_ARRAY,
            Tag::Map => MAP,
            Tag::Set => SET,
            Tag::Double => DOUBLE,
            Tag::BigNumber => BIG_NUMBER,
            Tag::Verbatim => VERBATIM,
            Tag::BulkError => BULK_ERROR,
            Tag::Push => PUSH,
            Tag::Attrs => ATTRS,
            Tag::AttrValue => ATTR_VALUE,
            Tag::StreamedBulk => STREAMED_BULK,
            Tag::Streamed(kind) => streamed_key(kind),
        }
    }
}

/// Reads an object key of a value object into a [`Tag`], rejecting unknown keys.
struct TagSeed;

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = Tag;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Tag, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for TagSeed {
    type Value = Tag;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a value object key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tag, E> {
        Tag::parse(v).ok_or_else(|| {
            E::custom(format_args!(
                "unknown key {v:?} in a value object (expected one of {ALL_KEYS})"
            ))
        })
    }
}

// ---------------------------------------------------------------------------
// Deserialization
// ---------------------------------------------------------------------------

/// The buffer the JSON is being read from, if known: strings found inside it
/// become zero-copy [`Bytes`] slices.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Source<'s>(pub(crate) Option<&'s Bytes>);

impl Source<'_> {
    /// The bytes of `text`, shared with the source buffer when `text` lies
    /// inside it (an unescaped string borrowed by `serde_json`), else copied.
    #[inline]
    pub(crate) fn bytes(self, text: &str) -> Bytes {
        if let Some(src) = self.0 {
            let start = src.as_ptr() as usize;
            let p = text.as_ptr() as usize;
            if !text.is_empty() && p >= start && p + text.len() <= start + src.len() {
                return src.slice_ref(text.as_bytes());
            }
        }
        Bytes::copy_from_slice(text.as_bytes())
    }
}

/// Builds a [`Value`] from cassette JSON. `ValueSeed::default()` copies
/// strings; [`ValueSeed::sharing`] slices them out of the source buffer.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueSeed<'s> {
    src: Source<'s>,
}

impl<'s> ValueSeed<'s> {
    /// A seed for JSON that is a part of `src`: unescaped strings are
    /// returned as slices of `src` (no copy, no extra allocation).
    pub fn sharing(src: &'s Bytes) -> Self {
        ValueSeed {
            src: Source(Some(src)),
        }
    }

    pub(crate) fn with_source(src: Source<'s>) -> Self {
        ValueSeed { src }
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a RESP value (string, integer, boolean, null, array or typed object)")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v).map(Value::Integer).map_err(|_| {
            E::custom(format_args!(
                "integer {v} is out of range for a RESP integer (i64); big numbers are written {{\"(\":\"{v}\"}}"
            ))
        })
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Err(E::custom(format_args!(
            "number {v} is not an i64 integer; doubles are written {{\",\":\"1.5\"}} and big numbers {{\"(\":\"…\"}}"
        )))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Bulk(self.src.bytes(v)))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Bulk(Bytes::from(v.into_bytes())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        ItemsSeed { src: self.src }.visit_seq(seq).map(Value::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let src = self.src;
        let Some(first) = map.next_key_seed(TagSeed)? else {
            return Err(de::Error::custom(
                "an empty object {} is not a value (null is written null)",
            ));
        };
        let value = match first {
            Tag::Attrs | Tag::AttrValue => return attributed(first, map, src),
            Tag::B64 => Value::Bulk(map.next_value_seed(B64Seed)?),
            Tag::Simple => Value::Simple(map.next_value_seed(TextSeed { src })?),
            Tag::Error => Value::Error(map.next_value_seed(TextSeed { src })?),
            Tag::NullArray => {
                map.next_value_seed(NullSeed)?;
                Value::NullArray
            }
            Tag::Map => Value::Map(map.next_value_seed(PairsSeed { src })?),
            Tag::Set => Value::Set(map.next_value_seed(ItemsSeed { src })?),
            Tag::Double => Value::Double(map.next_value_seed(TextSeed { src })?),
            Tag::BigNumber => Value::BigNumber(map.next_value_seed(TextSeed { src })?),
            Tag::Verbatim => Value::Verbatim(map.next_value_seed(TextSeed { src })?),
            Tag::BulkError => Value::BulkError(map.next_value_seed(TextSeed { src })?),
            Tag::Push => Value::Push(map.next_value_seed(ItemsSeed { src })?),
            Tag::StreamedBulk => Value::StreamedBulk(map.next_value_seed(ChunksSeed { src })?),
            Tag::Streamed(kind) => Value::StreamedAggregate {
                kind,
                items: map.next_value_seed(ItemsSeed { src })?,
            },
        };
        if let Some(extra) = map.next_key_seed(TagSeed)? {
            return Err(de::Error::custom(format_args!(
                "unexpected key {:?} after {:?}: a value object has exactly one key (except \"|\" with \"value\")",
                extra.key(),
                first.key()
            )));
        }
        Ok(value)
    }
}

/// `{"|":[[k,v],…],"value":…}` in either key order.
fn attributed<'de, A: MapAccess<'de>>(
    first: Tag,
    mut map: A,
    src: Source<'_>,
) -> Result<Value, A::Error> {
    let mut attrs = None;
    let mut value = None;
    let mut key = Some(first);
    while let Some(tag) = key {
        match tag {
            Tag::Attrs if attrs.is_none() => attrs = Some(map.next_value_seed(PairsSeed { src })?),
            Tag::AttrValue if value.is_none() => {
                value = Some(map.next_value_seed(ValueSeed { src })?)
            }
            Tag::Attrs | Tag::AttrValue => {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {:?} in an attribute object",
                    tag.key()
                )))
            }
            other => {
                return Err(de::Error::custom(format_args!(
                    "unexpected key {:?} in an attribute object (expected \"|\" and \"value\")",
                    other.key()
                )))
            }
        }
        key = map.next_key_seed(TagSeed)?;
    }
    match (attrs, value) {
        (Some(attrs), Some(value)) => Ok(Value::Attributed {
            attrs,
            value: Box::new(value),
        }),
        (None, _) => Err(de::Error::custom(
            "an attribute object needs \"|\" (the attributes) besides \"value\"",
        )),
        (_, None) => Err(de::Error::custom(
            "an attribute object needs \"value\" (the value the attributes describe)",
        )),
    }
}

/// A JSON array of values.
#[derive(Clone, Copy)]
pub(crate) struct ItemsSeed<'s> {
    pub(crate) src: Source<'s>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Vec<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Vec<Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of values")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element_seed(ValueSeed { src: self.src })? {
            out.push(v);
        }
        Ok(out)
    }
}

/// A JSON array of `[k,v]` pairs.
#[derive(Clone, Copy)]
struct PairsSeed<'s> {
    src: Source<'s>,
}

impl<'de> DeserializeSeed<'de> for PairsSeed<'_> {
    type Value = Vec<(Value, Value)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PairsSeed<'_> {
    type Value = Vec<(Value, Value)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of [key, value] pairs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(pair) = seq.next_element_seed(PairSeed { src: self.src })? {
            out.push(pair);
        }
        Ok(out)
    }
}

/// One `[k,v]` pair.
#[derive(Clone, Copy)]
struct PairSeed<'s> {
    src: Source<'s>,
}

impl<'de> DeserializeSeed<'de> for PairSeed<'_> {
    type Value = (Value, Value);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PairSeed<'_> {
    type Value = (Value, Value);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a [key, value] pair")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let bad = || de::Error::custom("a map entry must be a [key, value] array of two values");
        let k = seq
            .next_element_seed(ValueSeed { src: self.src })?
            .ok_or_else(bad)?;
        let v = seq
            .next_element_seed(ValueSeed { src: self.src })?
            .ok_or_else(bad)?;
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(bad());
        }
        Ok((k, v))
    }
}

/// A JSON array of byte strings (each a string or `{"b64":…}`).
#[derive(Clone, Copy)]
pub(crate) struct ChunksSeed<'s> {
    pub(crate) src: Source<'s>,
}

impl<'de> DeserializeSeed<'de> for ChunksSeed<'_> {
    type Value = Vec<Bytes>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Bytes>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ChunksSeed<'_> {
    type Value = Vec<Bytes>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of strings (or {\"b64\":…} objects)")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Bytes>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(b) = seq.next_element_seed(TextSeed { src: self.src })? {
            out.push(b);
        }
        Ok(out)
    }
}

/// Bytes written as a JSON string, or `{"b64":"…"}` when not UTF-8.
#[derive(Clone, Copy)]
struct TextSeed<'s> {
    src: Source<'s>,
}

impl<'de> DeserializeSeed<'de> for TextSeed<'_> {
    type Value = Bytes;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Bytes, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed<'_> {
    type Value = Bytes;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or {\"b64\":\"…\"}")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
        Ok(self.src.bytes(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Bytes, E> {
        Ok(Bytes::from(v.into_bytes()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bytes, A::Error> {
        let bad = |key: &str| {
            de::Error::custom(format_args!(
                "unexpected key {key:?}: expected a string or {{\"b64\":\"…\"}}"
            ))
        };
        match map.next_key_seed(TagSeed)? {
            Some(Tag::B64) => {}
            Some(other) => return Err(bad(other.key())),
            None => return Err(bad("")),
        }
        let bytes = map.next_value_seed(B64Seed)?;
        if let Some(extra) = map.next_key_seed(TagSeed)? {
            return Err(bad(extra.key()));
        }
        Ok(bytes)
    }
}

/// The base64 text inside `{"b64":…}`: standard alphabet, padded.
struct B64Seed;

impl<'de> DeserializeSeed<'de> for B64Seed {
    type Value = Bytes;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Bytes, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for B64Seed {
    type Value = Bytes;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a standard base64 string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
        STANDARD
            .decode(v)
            .map(Bytes::from)
            .map_err(|e| E::custom(format_args!("invalid base64 in {{\"b64\":…}}: {e}")))
    }
}

/// The `null` inside `{"*":null}`.
struct NullSeed;

impl<'de> DeserializeSeed<'de> for NullSeed {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NullSeed {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null (the RESP2 null array is written {\"*\":null})")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &[u8]) -> Bytes {
        Bytes::copy_from_slice(s)
    }

    fn round(v: &Value) -> Value {
        let json = to_json(v);
        match from_json(json.as_bytes()) {
            Ok(back) => back,
            Err(e) => panic!("{json}: {e}"),
        }
    }

    #[test]
    fn table_from_design() {
        let cases: Vec<(Value, &str)> = vec![
            (Value::bulk("text"), r#""text""#),
            // 00 01 02 is valid UTF-8, so it stays a (escaped) string.
            (Value::Bulk(b(&[0, 1, 2])), r#""\u0000\u0001\u0002""#),
            (Value::Bulk(b(&[0xff, 0xfe, 0])), r#"{"b64":"//4A"}"#),
            (Value::simple("OK"), r#"{"+":"OK"}"#),
            (Value::error("ERR wrong type"), r#"{"-":"ERR wrong type"}"#),
            (Value::Integer(42), "42"),
            (Value::Null, "null"),
            (Value::NullBulk, "null"),
            (Value::NullArray, r#"{"*":null}"#),
            (
                Value::Array(vec![Value::Integer(1), Value::bulk("a")]),
                r#"[1,"a"]"#,
            ),
            (
                Value::Map(vec![(Value::Integer(1), Value::bulk("x"))]),
                r#"{"%":[[1,"x"]]}"#,
            ),
            (Value::Set(vec![Value::bulk("a")]), r#"{"~":["a"]}"#),
            (Value::Double(b(b"1.50")), r#"{",":"1.50"}"#),
            (Value::Boolean(true), "true"),
            (Value::BigNumber(b(b"123")), r#"{"(":"123"}"#),
            (Value::Verbatim(b(b"txt:hello")), r#"{"=":"txt:hello"}"#),
            (
                Value::BulkError(b(b"SYNTAX invalid")),
                r#"{"!":"SYNTAX invalid"}"#,
            ),
            (
                Value::Push(vec![Value::bulk("message")]),
                r#"{">":["message"]}"#,
            ),
            (
                Value::Attributed {
                    attrs: vec![(Value::bulk("ttl"), Value::Integer(3))],
                    value: Box::new(Value::Integer(7)),
                },
                r#"{"|":[["ttl",3]],"value":7}"#,
            ),
            (
                Value::StreamedBulk(vec![b(b"ab"), b(&[0xff])]),
                r#"{"$?":["ab",{"b64":"/w=="}]}"#,
            ),
            (
                Value::StreamedAggregate {
                    kind: AggregateKind::Map,
                    items: vec![Value::bulk("k"), Value::Integer(1)],
                },
                r#"{"%?":["k",1]}"#,
            ),
            (Value::Simple(b(&[0xc3])), r#"{"+":{"b64":"ww=="}}"#),
        ];
        for (v, want) in cases {
            assert_eq!(to_json(&v), want, "{v:?}");
            let back = round(&v);
            let expect = if v == Value::NullBulk { Value::Null } else { v };
            assert_eq!(back, expect, "{want}");
        }
    }

    #[test]
    fn attribute_keys_in_either_order() {
        let v = from_json(br#"{"value":1,"|":[]}"#).expect("parses");
        assert_eq!(
            v,
            Value::Attributed {
                attrs: vec![],
                value: Box::new(Value::Integer(1))
            }
        );
    }

    #[test]
    fn bad_inputs_are_errors_with_reasons() {
        let cases: &[(&[u8], &str)] = &[
            (br#"{"x":1}"#, "unknown key \"x\""),
            (br#"{"+":"OK","-":"x"}"#, "unexpected key \"-\""),
            (b"18446744073709551615", "out of range"),
            (b"1.5", "not an i64 integer"),
            (br#"{"b64":"***"}"#, "invalid base64"),
            (br#"{"*":[]}"#, "null"),
            (br#"{"%":[[1]]}"#, "[key, value]"),
            (br#"{"%":[[1,2,3]]}"#, "[key, value]"),
            (br#"{"|":[]}"#, "needs \"value\""),
            (br#"{}"#, "empty object"),
            (br#"{"+":{"b65":"x"}}"#, "unknown key \"b65\""),
            (br#"{"+":{"-":"x"}}"#, "unexpected key \"-\""),
        ];
        for (json, want) in cases {
            let err = match from_json(json) {
                Ok(v) => panic!("{} parsed as {v:?}", String::from_utf8_lossy(json)),
                Err(e) => e.to_string(),
            };
            assert!(
                err.contains(want),
                "{}: {err}",
                String::from_utf8_lossy(json)
            );
        }
    }

    #[test]
    fn integer_limits() {
        assert_eq!(round(&Value::Integer(i64::MIN)), Value::Integer(i64::MIN));
        assert_eq!(round(&Value::Integer(i64::MAX)), Value::Integer(i64::MAX));
    }

    #[test]
    fn escaped_and_b64_of_utf8_strings_load() {
        assert_eq!(
            from_json(br#""a\"b\u00e9""#).expect("parses"),
            Value::bulk("a\"b\u{e9}")
        );
        assert_eq!(
            from_json(br#"{"b64":"aGk="}"#).expect("parses"),
            Value::bulk("hi")
        );
    }

    #[test]
    fn sharing_seed_slices_the_source() {
        let src = Bytes::from_static(br#"["hello",{"+":"OK"}]"#);
        let mut de = serde_json::Deserializer::from_slice(&src);
        let v = ValueSeed::sharing(&src)
            .deserialize(&mut de)
            .expect("parses");
        let Value::Array(items) = v else {
            panic!("not an array")
        };
        let Value::Bulk(hello) = &items[0] else {
            panic!("not bulk")
        };
        assert_eq!(&hello[..], b"hello");
        let inside = hello.as_ptr() as usize;
        assert!(inside >= src.as_ptr() as usize && inside < src.as_ptr() as usize + src.len());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let json = "[".repeat(100_000);
        let err = from_json(json.as_bytes()).expect_err("too deep");
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
}
