//! Deserialization: [`ValueSeed`] and the seeds and visitors it uses to build
//! a [`Value`] straight from JSON tokens, plus the [`Tag`] of a value object.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{
    streamed_key, ALL_KEYS, ATTRS, ATTR_VALUE, B64, BIG_NUMBER, BULK_ERROR, DOUBLE, ERROR, MAP,
    MAX_VALUE_DEPTH, NULL_ARRAY, PUSH, SET, SIMPLE, STACK_CHECK_EVERY, STREAMED_BULK, VERBATIM,
};
use crate::resp::{with_stack, AggregateKind, Value};

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
    /// How many aggregates enclose this value, checked against
    /// [`MAX_VALUE_DEPTH`].
    depth: usize,
}

impl<'s> ValueSeed<'s> {
    /// A seed for JSON that is a part of `src`: unescaped strings are
    /// returned as slices of `src` (no copy, no extra allocation).
    pub fn sharing(src: &'s Bytes) -> Self {
        ValueSeed {
            src: Source(Some(src)),
            depth: 0,
        }
    }

    /// A seed for a top-level value (an event's `reply` or `push`).
    pub(crate) fn with_source(src: Source<'s>) -> Self {
        ValueSeed { src, depth: 0 }
    }

    /// Seeds for the items of an aggregate this seed reads.
    fn items(self) -> ItemsSeed<'s> {
        ItemsSeed {
            src: self.src,
            depth: self.depth + 1,
        }
    }

    fn pairs(self) -> PairsSeed<'s> {
        PairsSeed {
            src: self.src,
            depth: self.depth + 1,
        }
    }
}

/// The error for a value nested past [`MAX_VALUE_DEPTH`].
fn too_deep<E: de::Error>() -> E {
    E::custom(format_args!(
        "value nested more than {MAX_VALUE_DEPTH} aggregates deep (the most a recorded reply may have)"
    ))
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    /// Recursive (serde's visitors nest by calls), one level per call, on a
    /// stack that grows when needed, and capped by depth: deep lines are
    /// read without `serde_json`'s own 128-level limit, so that the deepest
    /// reply Redis sends (thousands of levels, up to three JSON levels
    /// each) loads (see `from_line`).
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.depth > MAX_VALUE_DEPTH {
            return Err(too_deep());
        }
        // Checking the stack costs a little per value; once every few
        // levels is enough (see `STACK_CHECK_EVERY`).
        if self.depth % STACK_CHECK_EVERY == 0 {
            with_stack(|| d.deserialize_any(self))
        } else {
            d.deserialize_any(self)
        }
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
        self.items().visit_seq(seq).map(Value::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let src = self.src;
        let Some(first) = map.next_key_seed(TagSeed)? else {
            return Err(de::Error::custom(
                "an empty object {} is not a value (null is written null)",
            ));
        };
        let value = match first {
            Tag::Attrs | Tag::AttrValue => return attributed(first, map, self),
            Tag::B64 => Value::Bulk(map.next_value_seed(B64Seed)?),
            Tag::Simple => Value::Simple(map.next_value_seed(TextSeed { src })?),
            Tag::Error => Value::Error(map.next_value_seed(TextSeed { src })?),
            Tag::NullArray => {
                map.next_value_seed(NullSeed)?;
                Value::NullArray
            }
            Tag::Map => Value::Map(map.next_value_seed(self.pairs())?),
            Tag::Set => Value::Set(map.next_value_seed(self.items())?),
            Tag::Double => Value::Double(map.next_value_seed(TextSeed { src })?),
            Tag::BigNumber => Value::BigNumber(map.next_value_seed(TextSeed { src })?),
            Tag::Verbatim => Value::Verbatim(map.next_value_seed(TextSeed { src })?),
            Tag::BulkError => Value::BulkError(map.next_value_seed(TextSeed { src })?),
            Tag::Push => Value::Push(map.next_value_seed(self.items())?),
            Tag::StreamedBulk => Value::StreamedBulk(map.next_value_seed(ChunksSeed { src })?),
            Tag::Streamed(kind) => Value::StreamedAggregate {
                kind,
                items: map.next_value_seed(self.items())?,
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
    seed: ValueSeed<'_>,
) -> Result<Value, A::Error> {
    let mut attrs = None;
    let mut value = None;
    let mut key = Some(first);
    while let Some(tag) = key {
        match tag {
            Tag::Attrs if attrs.is_none() => attrs = Some(map.next_value_seed(seed.pairs())?),
            Tag::AttrValue if value.is_none() => {
                value = Some(map.next_value_seed(ValueSeed {
                    src: seed.src,
                    depth: seed.depth + 1,
                })?)
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
    src: Source<'s>,
    /// The depth of the items.
    depth: usize,
}

impl<'s> ItemsSeed<'s> {
    /// A list of top-level values (an event's `replies`).
    pub(crate) fn top(src: Source<'s>) -> Self {
        ItemsSeed { src, depth: 0 }
    }

    fn item(self) -> ValueSeed<'s> {
        ValueSeed {
            src: self.src,
            depth: self.depth,
        }
    }
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
        while let Some(v) = seq.next_element_seed(self.item())? {
            out.push(v);
        }
        Ok(out)
    }
}

/// A JSON array of `[k,v]` pairs.
#[derive(Clone, Copy)]
struct PairsSeed<'s> {
    src: Source<'s>,
    /// The depth of the keys and values.
    depth: usize,
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
        let pair = PairSeed {
            src: self.src,
            depth: self.depth,
        };
        while let Some(pair) = seq.next_element_seed(pair)? {
            out.push(pair);
        }
        Ok(out)
    }
}

/// One `[k,v]` pair.
#[derive(Clone, Copy)]
struct PairSeed<'s> {
    src: Source<'s>,
    /// The depth of the key and the value.
    depth: usize,
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
        let seed = ValueSeed {
            src: self.src,
            depth: self.depth,
        };
        let k = seq.next_element_seed(seed)?.ok_or_else(bad)?;
        let v = seq.next_element_seed(seed)?.ok_or_else(bad)?;
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
