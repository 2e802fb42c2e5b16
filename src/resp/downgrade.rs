//! What Redis sends a RESP2 client for a RESP3 reply.

use bytes::{Bytes, BytesMut};
use smallvec::{smallvec, SmallVec};

use super::value::{AggregateKind, Value};

/// How a top-level RESP3 null reads in RESP2: most commands send a null bulk
/// string, but those whose reply is an array (`BLPOP` timing out, an aborted
/// `EXEC`, `XREAD` with nothing) send a null array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullShape {
    /// `$-1`
    Bulk,
    /// `*-1`
    Array,
}

/// Converts a RESP3 value to the RESP2 value Redis would have sent: map →
/// flat array, set and push → array, double, big number and verbatim → bulk
/// string (verbatim without its `txt:` prefix), boolean → 1/0, bulk error →
/// simple error, streamed → plain, attributes dropped. RESP2 values pass
/// through unchanged. `top_null` says how a top-level null is written;
/// nested nulls are null bulk strings, as in Redis.
pub fn to_resp2(value: &Value, top_null: NullShape) -> Value {
    // Iterative: a deep value must not overflow the stack. Each frame is an
    // aggregate being rebuilt with the items it still has to convert.
    struct Frame<'a> {
        rest: std::vec::IntoIter<&'a Value>,
        out: Vec<Value>,
    }
    fn open(value: &Value) -> Option<Vec<&Value>> {
        match value.unattributed() {
            Value::Array(v) | Value::Set(v) | Value::Push(v) => Some(v.iter().collect()),
            Value::StreamedAggregate { kind, items } if *kind != AggregateKind::Attribute => {
                Some(items.iter().collect())
            }
            Value::Map(pairs) => Some(pairs.iter().flat_map(|(k, v)| [k, v]).collect()),
            _ => None,
        }
    }
    fn leaf(value: &Value) -> Value {
        match value.unattributed() {
            Value::Null => Value::NullBulk,
            Value::Double(d) | Value::BigNumber(d) => Value::Bulk(d.clone()),
            Value::Boolean(b) => Value::Integer(i64::from(*b)),
            Value::Verbatim(v) => Value::Bulk(strip_format(v)),
            Value::BulkError(e) => Value::Error(one_line(e)),
            Value::StreamedBulk(chunks) => {
                let mut joined = BytesMut::new();
                for c in chunks {
                    joined.extend_from_slice(c);
                }
                Value::Bulk(joined.freeze())
            }
            other => other.clone(),
        }
    }

    if matches!(value, Value::Null) {
        return match top_null {
            NullShape::Bulk => Value::NullBulk,
            NullShape::Array => Value::NullArray,
        };
    }
    let Some(items) = open(value) else {
        return leaf(value);
    };
    let mut stack = vec![Frame {
        rest: items.into_iter(),
        out: Vec::new(),
    }];
    loop {
        let top = stack.last_mut().expect("stack is never empty here");
        match top.rest.next() {
            Some(item) => match open(item) {
                Some(children) => stack.push(Frame {
                    rest: children.into_iter(),
                    out: Vec::new(),
                }),
                None => top.out.push(leaf(item)),
            },
            None => {
                let done = stack.pop().expect("checked above");
                let array = Value::Array(done.out);
                match stack.last_mut() {
                    Some(parent) => parent.out.push(array),
                    None => return array,
                }
            }
        }
    }
}

/// True when `value` is already what a RESP2 client can read, so replay can
/// skip the conversion (and its copy) on the common path.
pub fn is_resp2(value: &Value) -> bool {
    // On the stack while small: asked of nearly every reply, most a single
    // value, where a heap stack was an allocation each time.
    let mut todo: SmallVec<[&Value; 8]> = smallvec![value];
    while let Some(v) = todo.pop() {
        match v {
            Value::Simple(_)
            | Value::Error(_)
            | Value::Integer(_)
            | Value::Bulk(_)
            | Value::NullBulk
            | Value::NullArray => {}
            Value::Array(items) => todo.extend(items),
            _ => return false,
        }
    }
    true
}

/// A verbatim string's text without its `xxx:` format prefix.
fn strip_format(v: &Bytes) -> Bytes {
    if v.len() >= 4 && v[3] == b':' {
        v.slice(4..)
    } else {
        v.clone()
    }
}

/// A simple error cannot hold CR or LF; Redis replaces them with spaces.
fn one_line(e: &Bytes) -> Bytes {
    if e.iter().any(|&b| b == b'\r' || b == b'\n') {
        Bytes::from(
            e.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
                .collect::<Vec<u8>>(),
        )
    } else {
        e.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Value {
        Value::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn conversions() {
        let map = Value::Map(vec![
            (b("a"), Value::Double(Bytes::from_static(b"1.5"))),
            (b("b"), Value::Boolean(true)),
        ]);
        assert_eq!(
            to_resp2(&map, NullShape::Bulk),
            Value::Array(vec![b("a"), b("1.5"), b("b"), Value::Integer(1)])
        );
        let push = Value::Push(vec![b("message"), b("ch"), Value::Null]);
        assert_eq!(
            to_resp2(&push, NullShape::Bulk),
            Value::Array(vec![b("message"), b("ch"), Value::NullBulk])
        );
        assert_eq!(
            to_resp2(&Value::Set(vec![Value::Boolean(false)]), NullShape::Bulk),
            Value::Array(vec![Value::Integer(0)])
        );
        assert_eq!(
            to_resp2(
                &Value::Verbatim(Bytes::from_static(b"txt:hi")),
                NullShape::Bulk
            ),
            b("hi")
        );
        assert_eq!(to_resp2(&Value::Null, NullShape::Array), Value::NullArray);
        assert_eq!(to_resp2(&Value::Null, NullShape::Bulk), Value::NullBulk);
        let attributed = Value::Attributed {
            attrs: vec![(b("x"), b("y"))],
            value: Box::new(Value::BigNumber(Bytes::from_static(b"123"))),
        };
        assert_eq!(to_resp2(&attributed, NullShape::Bulk), b("123"));
        assert_eq!(
            to_resp2(&Value::Array(vec![Value::Array(vec![])]), NullShape::Bulk),
            Value::Array(vec![Value::Array(vec![])])
        );
    }

    #[test]
    fn resp2_check() {
        assert!(is_resp2(&Value::Array(vec![b("a"), Value::NullBulk])));
        assert!(!is_resp2(&Value::Array(vec![Value::Null])));
        assert!(!is_resp2(&Value::Null));
    }

    #[test]
    fn deep_value_does_not_overflow() {
        let mut v = Value::Integer(1);
        for _ in 0..100_000 {
            v = Value::Set(vec![v]);
        }
        let out = to_resp2(&v, NullShape::Bulk);
        assert!(matches!(out, Value::Array(_)));
        // Dropping is iterative too.
    }
}
