//! Writing values back to RESP bytes, identical to what was parsed.

use bytes::{BufMut, BytesMut};
use smallvec::{smallvec, SmallVec};

use super::value::Value;

fn line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn number_line(out: &mut BytesMut, kind: u8, n: i64) {
    let mut text = itoa::Buffer::new();
    line(out, kind, text.format(n).as_bytes());
}

fn blob(out: &mut BytesMut, kind: u8, data: &[u8]) {
    number_line(out, kind, data.len() as i64);
    out.reserve(data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// Appends the RESP encoding of `value` to `out`.
///
/// Iterative like the parser: a value built from a deep cassette must not
/// overflow the stack either.
pub fn encode(value: &Value, out: &mut BytesMut) {
    // Work items: a value to write, or a raw trailer (streamed ends).
    enum Step<'a> {
        Write(&'a Value),
        Raw(&'static [u8]),
    }
    // On the stack while small: most values are a single one or a short
    // array, and a heap stack was an allocation per value encoded (three
    // per line, with `is_resp2` and `wire_safe`, while a cassette loads).
    let mut todo: SmallVec<[Step; 8]> = smallvec![Step::Write(value)];
    while let Some(step) = todo.pop() {
        let value = match step {
            Step::Raw(bytes) => {
                out.put_slice(bytes);
                continue;
            }
            Step::Write(v) => v,
        };
        match value {
            Value::Simple(s) => line(out, b'+', s),
            Value::Error(s) => line(out, b'-', s),
            Value::Integer(n) => number_line(out, b':', *n),
            Value::Bulk(b) => blob(out, b'$', b),
            Value::NullBulk => out.put_slice(b"$-1\r\n"),
            Value::NullArray => out.put_slice(b"*-1\r\n"),
            Value::Null => out.put_slice(b"_\r\n"),
            Value::Double(d) => line(out, b',', d),
            Value::Boolean(true) => out.put_slice(b"#t\r\n"),
            Value::Boolean(false) => out.put_slice(b"#f\r\n"),
            Value::BigNumber(n) => line(out, b'(', n),
            Value::Verbatim(v) => blob(out, b'=', v),
            Value::BulkError(e) => blob(out, b'!', e),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                let kind = match value {
                    Value::Array(_) => b'*',
                    Value::Set(_) => b'~',
                    _ => b'>',
                };
                number_line(out, kind, items.len() as i64);
                todo.extend(items.iter().rev().map(Step::Write));
            }
            Value::Map(pairs) => {
                number_line(out, b'%', pairs.len() as i64);
                push_pairs(&mut todo, pairs, Step::Write);
            }
            Value::Attributed { attrs, value } => {
                number_line(out, b'|', attrs.len() as i64);
                todo.push(Step::Write(value));
                push_pairs(&mut todo, attrs, Step::Write);
            }
            Value::StreamedBulk(chunks) => {
                out.put_slice(b"$?\r\n");
                for chunk in chunks {
                    blob(out, b';', chunk);
                }
                out.put_slice(b";0\r\n");
            }
            Value::StreamedAggregate { kind, items } => {
                out.put_u8(kind.type_byte());
                out.put_slice(b"?\r\n");
                todo.push(Step::Raw(b".\r\n"));
                todo.extend(items.iter().rev().map(Step::Write));
            }
        }
    }
}

/// Queues map pairs so that they pop in wire order (key, value, key, …).
fn push_pairs<'a, S>(
    todo: &mut impl Extend<S>,
    pairs: &'a [(Value, Value)],
    step: fn(&'a Value) -> S,
) {
    todo.extend(pairs.iter().rev().flat_map(|(k, v)| [step(v), step(k)]));
}

/// The RESP encoding of `value` as a fresh buffer.
pub fn to_bytes(value: &Value) -> BytesMut {
    let mut out = BytesMut::new();
    encode(value, &mut out);
    out
}

/// Encodes a request (an array of bulk strings), as clients send it.
pub fn encode_command(args: &[impl AsRef<[u8]>], out: &mut BytesMut) {
    number_line(out, b'*', args.len() as i64);
    for arg in args {
        blob(out, b'$', arg.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{parse_reply, Limits};
    use bytes::Bytes;

    #[test]
    fn integers() {
        for n in [0, 7, -7, i64::MIN, i64::MAX, 1234567890] {
            assert_eq!(to_bytes(&Value::Integer(n)), format!(":{n}\r\n").as_bytes());
        }
    }

    #[test]
    fn round_trip_samples() {
        let samples: &[&[u8]] = &[
            b"+OK\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"_\r\n",
            b"*3\r\n$3\r\nfoo\r\n:-1\r\n*0\r\n",
            b"%2\r\n+a\r\n,1.50\r\n:2\r\n~1\r\n#f\r\n",
            b"|1\r\n+ttl\r\n:3\r\n>2\r\n$7\r\nmessage\r\n=8\r\ntxt:ab\r\n\r\n",
            b"$?\r\n;2\r\nab\r\n;1\r\nc\r\n;0\r\n",
            b"%?\r\n+k\r\n*?\r\n:1\r\n.\r\n.\r\n",
            b"!3\r\nERR\r\n",
            b"(123456789012345678901234567890\r\n",
        ];
        for sample in samples {
            let (v, len) = parse_reply(&Bytes::from_static(sample), &Limits::default())
                .unwrap()
                .unwrap();
            assert_eq!(len, sample.len());
            assert_eq!(&to_bytes(&v)[..], *sample, "{}", sample.escape_ascii());
        }
    }

    #[test]
    fn command() {
        let mut out = BytesMut::new();
        encode_command(&["SET", "k", ""], &mut out);
        assert_eq!(&out[..], b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
    }
}
