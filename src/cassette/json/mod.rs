//! Lossless mapping between [`Value`] and JSON.
//!
//! Serialization goes through the [`JsonValue`] wrapper; loading goes through
//! [`ValueSeed`], a hand-written visitor that builds a [`Value`] straight from
//! the JSON tokens. There is no intermediate `serde_json::Value`: a cassette
//! of a million interactions must load in a couple of seconds, and building
//! (then dropping) a generic tree per line would double both time and memory.
//!
//! When the seed is given the buffer a line was read from, strings without
//! escapes become [`Bytes`](bytes::Bytes) slices of that buffer instead of
//! copies: the loaded cassette then costs little more than the file itself.
//!
//! Nesting: a reply may be as deep as the upstream may send
//! ([`MAX_REPLY_DEPTH`], thousands of levels), and a RESP array costs one
//! JSON level, a set/push/streamed aggregate two, a map or attribute entry
//! three: far past `serde_json`'s 128-level recursion limit. `from_line`
//! reads a line with that limit on, as always; only a line that hits it is
//! read again with the limit off (`serde_json`'s `unbounded_depth` feature).
//! [`ValueSeed`] then enforces its own limit, [`MAX_VALUE_DEPTH`] aggregates
//! (the recorder's), and runs each level on a stack that grows onto the heap
//! when needed (`stacker`).
//!
//! Why not `serde_stacker`: it would wrap every call of the deserializer,
//! leaves included, and give no depth cap; every nesting of a value goes
//! through `ValueSeed` anyway, so one check there does both. Why not a
//! hand-written iterative JSON reader: it would duplicate `serde_json`'s
//! parsing, escapes and error messages for a rare case.
//!
//! The halves live in `ser` (the `Serialize` impls) and `de` (the seeds
//! and visitors); this file holds the public entry points and the object
//! keys both halves agree on.

use serde::de::DeserializeSeed;

use crate::resp::{AggregateKind, Value, MAX_REPLY_DEPTH};

mod de;
mod ser;
mod transcode;

pub use de::ValueSeed;
pub(crate) use de::{ChunksSeed, ItemsSeed, Source};
pub(crate) use ser::{Chunks, Items};
pub use transcode::{write_bytes_json, write_int_json, write_reply_json};

/// How many aggregates may enclose a value in a cassette: what the recorder
/// accepts from the upstream, so every recording loads, and deeper JSON is
/// an error naming its line instead of a stack overflow.
pub const MAX_VALUE_DEPTH: usize = MAX_REPLY_DEPTH;

/// How many levels the recursive readers and writers of this module go
/// between two checks of the stack left (each check costs a little, and
/// most values are leaves): a map entry, the costliest level, takes about
/// 7 KiB of stack in a debug build, so 16 levels stay well within
/// `with_stack`'s red zone.
const STACK_CHECK_EVERY: usize = 16;

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
    from_line(json, ValueSeed::default())
}

/// Reads one JSON text (a whole cassette line, or a value) with `seed`.
///
/// First with `serde_json`'s 128-level recursion limit, from the slice:
/// fast, and strings can be borrowed. A text that hits the limit is read
/// again without it, as deep as the seeds allow, and from a reader: the
/// slice reader finds an error's line and column by scanning back from
/// the error, once per level the error passes on its way out, which for an
/// error thousands of levels down in a long line adds up to minutes; the
/// reader keeps count as it goes. (Strings are then copied.)
///
/// A line that is valid UTF-8 (every line resplay writes) is checked once,
/// whole, and read as text: the slice reader checks each string again on
/// its own, which was 15 % of the instructions parsing a million-line
/// cassette (callgrind: 729 a line). Any other line is read from the slice,
/// so its error is `serde_json`'s own, at its place.
pub(crate) fn from_line<'de, S>(json: &'de [u8], seed: S) -> Result<S::Value, serde_json::Error>
where
    S: DeserializeSeed<'de> + Copy,
{
    let first = match std::str::from_utf8(json) {
        Ok(text) => whole(serde_json::Deserializer::from_str(text), seed),
        Err(_) => whole(serde_json::Deserializer::from_slice(json), seed),
    };
    match first {
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {}
        done => return done,
    }
    let mut de = serde_json::Deserializer::from_reader(json);
    de.disable_recursion_limit();
    whole(de, seed)
}

/// Reads one value with `seed` and nothing after it but whitespace.
fn whole<'de, R, S>(
    mut de: serde_json::Deserializer<R>,
    seed: S,
) -> Result<S::Value, serde_json::Error>
where
    R: serde_json::de::Read<'de>,
    S: DeserializeSeed<'de>,
{
    let v = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

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
        let Value::Array(items) = &v else {
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
        assert!(err.to_string().contains("nested more than"), "{err}");
        // After a long string: the error's position is not searched for
        // again at every level it passes (with a long enough line that took minutes).
        let json = format!(r#"["{}",{}"#, "x".repeat(1 << 20), "[".repeat(100_000));
        let err = from_json(json.as_bytes()).expect_err("too deep");
        assert!(err.to_string().contains("nested more than"), "{err}");
        // Maps cost three JSON levels per RESP level; still the cap, cheaply.
        let json = r#"{"%":[[1,"#.repeat(100_000);
        let err = from_json(json.as_bytes()).expect_err("too deep");
        assert!(err.to_string().contains("nested more than"), "{err}");
    }

    /// A value at the cap, in every aggregate shape, round-trips, on a
    /// thread with a tokio worker's 2 MiB stack. (The attribute shape nests
    /// two levels a step.)
    #[test]
    fn deepest_recordable_values_round_trip() {
        let shapes: [fn(Value) -> Value; 5] = [
            |v| Value::Array(vec![v]),
            |v| Value::Set(vec![Value::Integer(1), v]),
            |v| Value::Map(vec![(Value::bulk("k"), v)]),
            |v| Value::Attributed {
                attrs: vec![],
                value: Box::new(Value::Push(vec![v])),
            },
            |v| Value::StreamedAggregate {
                kind: AggregateKind::Map,
                items: vec![v, Value::Null],
            },
        ];
        let run = move || {
            for (i, wrap) in shapes.iter().enumerate() {
                let mut v = Value::error("ERR reached lua stack limit");
                let levels = if i == 3 {
                    MAX_VALUE_DEPTH / 2
                } else {
                    MAX_VALUE_DEPTH
                };
                for _ in 0..levels {
                    v = wrap(v);
                }
                let json = to_json(&v);
                let back = from_json(json.as_bytes()).expect("loads");
                assert!(back == v, "shape {i}");
                // One level more is refused.
                let json = to_json(&Value::Array(vec![v]));
                assert!(from_json(json.as_bytes()).is_err(), "shape {i}");
            }
        };
        let thread = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(run)
            .expect("spawns");
        assert!(thread.join().is_ok());
    }
}

/// An optional [`Value`] as a serde field (the header's `hello`): cassette
/// JSON both ways.
pub mod optional_value {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{from_json, JsonValue};
    use crate::resp::Value;

    /// Writes the value as cassette JSON.
    pub fn serialize<S: Serializer>(value: &Option<Value>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => JsonValue(v).serialize(s),
            None => s.serialize_none(),
        }
    }

    /// Reads cassette JSON into a value.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        let json = serde_json::Value::deserialize(d)?;
        from_json(json.to_string().as_bytes())
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}
