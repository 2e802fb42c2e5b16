//! What a timeline mark says when hovered: the event as `resplay show`
//! prints it, cut to a few KB, and the RESP size of replies.
//!
//! A reply of megabytes is not rendered whole and then cut: values larger
//! than the text budget are first clipped (aggregates to their first
//! elements, strings to their first bytes), so a mark costs its budget and
//! not its reply.

use bytes::Bytes;

use crate::cassette::{Event, Interaction};
use crate::resp::{AggregateKind, Value};
use crate::show::{render_event, render_value};

/// Bytes of text a mark carries at most.
pub const MARK_TEXT: usize = 2048;

/// Nesting shown in a clipped value; deeper levels become `…`.
const CLIP_DEPTH: usize = 16;

/// The RESP-encoded size of `value`, without encoding it.
pub fn encoded_len(value: &Value) -> u64 {
    /// `<type><number>\r\n`.
    fn header(n: usize) -> u64 {
        3 + digits(n as u64)
    }
    fn digits(mut n: u64) -> u64 {
        let mut d = 1;
        while n >= 10 {
            n /= 10;
            d += 1;
        }
        d
    }
    let mut total = 0u64;
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        total += match v {
            Value::Simple(s) | Value::Error(s) | Value::Double(s) | Value::BigNumber(s) => {
                3 + s.len() as u64
            }
            Value::Integer(n) => 3 + n.unsigned_abs().to_string().len() as u64 + u64::from(*n < 0),
            Value::Bulk(b) | Value::Verbatim(b) | Value::BulkError(b) => {
                header(b.len()) + b.len() as u64 + 2
            }
            Value::NullBulk | Value::NullArray => 5,
            Value::Null | Value::Boolean(_) => 3 + u64::from(matches!(v, Value::Boolean(_))),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                todo.extend(items);
                header(items.len())
            }
            Value::Map(pairs) => {
                todo.extend(pairs.iter().flat_map(|(k, v)| [k, v]));
                header(pairs.len())
            }
            Value::Attributed { attrs, value } => {
                todo.push(value);
                todo.extend(attrs.iter().flat_map(|(k, v)| [k, v]));
                header(attrs.len())
            }
            Value::StreamedBulk(chunks) => {
                4 + 4
                    + chunks
                        .iter()
                        .map(|c| header(c.len()) + c.len() as u64 + 2)
                        .sum::<u64>()
            }
            Value::StreamedAggregate { items, .. } => {
                todo.extend(items);
                4 + 3
            }
        };
    }
    total
}

/// The text of an event's mark: `show`'s block for it, at most
/// [`MARK_TEXT`] bytes.
pub fn mark_text(event: &Event) -> String {
    let mut out = String::new();
    match event {
        Event::Interaction(i) => {
            let cmd_bytes: usize = i.cmd.iter().map(|a| a.len()).sum();
            let reply_bytes: u64 = i.replies.iter().map(encoded_len).sum();
            if cmd_bytes <= MARK_TEXT && reply_bytes <= MARK_TEXT as u64 {
                render_event(event, &mut out);
            } else {
                let clipped = Interaction {
                    cmd: i.cmd.iter().map(|a| clip_bytes(a, MARK_TEXT / 4)).collect(),
                    replies: i.replies.iter().map(clip).collect(),
                    ..i.clone()
                };
                render_event(&Event::Interaction(clipped), &mut out);
                cut(&mut out, MARK_TEXT - 80);
                out.push_str(&format!(
                    "… (shown in part: the command is {cmd_bytes} bytes, the reply {reply_bytes} bytes as RESP)\n"
                ));
            }
        }
        Event::Push(p) if encoded_len(&p.push) > MARK_TEXT as u64 => {
            render_event(
                &Event::Push(crate::cassette::PushEvent {
                    push: clip(&p.push),
                    ..p.clone()
                }),
                &mut out,
            );
            cut(&mut out, MARK_TEXT - 40);
            out.push_str("… (push shown in part)\n");
        }
        _ => render_event(event, &mut out),
    }
    cut(&mut out, MARK_TEXT);
    out
}

/// A value as `show` prints it, at most `limit` bytes (for error texts).
pub fn value_text(value: &Value, limit: usize) -> String {
    let mut out = String::new();
    if encoded_len(value) > limit as u64 {
        render_value(&clip(value), &mut out);
    } else {
        render_value(value, &mut out);
    }
    cut(&mut out, limit);
    out
}

/// Cuts `s` to at most `limit` bytes, on a character boundary, marking
/// the cut with `…`.
pub fn cut(s: &mut String, limit: usize) {
    if s.len() <= limit {
        return;
    }
    let mut end = limit.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

/// The first `limit` bytes of `b`.
fn clip_bytes(b: &Bytes, limit: usize) -> Bytes {
    b.slice(..b.len().min(limit))
}

/// A copy of `v` small enough to render for a mark: at most 32 elements
/// per aggregate, strings to 512 bytes, 16 levels.
fn clip(v: &Value) -> Value {
    clip_at(v, 0)
}

fn clip_at(v: &Value, depth: usize) -> Value {
    const ITEMS: usize = 32;
    const BYTES: usize = 512;
    if depth >= CLIP_DEPTH {
        return Value::Simple(Bytes::from_static("…".as_bytes()));
    }
    let items = |xs: &[Value]| -> Vec<Value> {
        xs.iter()
            .take(ITEMS)
            .map(|x| clip_at(x, depth + 1))
            .collect()
    };
    let pairs = |xs: &[(Value, Value)]| -> Vec<(Value, Value)> {
        xs.iter()
            .take(ITEMS)
            .map(|(k, x)| (clip_at(k, depth + 1), clip_at(x, depth + 1)))
            .collect()
    };
    match v {
        Value::Bulk(b) => Value::Bulk(clip_bytes(b, BYTES)),
        Value::Verbatim(b) => Value::Verbatim(clip_bytes(b, BYTES)),
        Value::Simple(b) => Value::Simple(clip_bytes(b, BYTES)),
        Value::Error(b) => Value::Error(clip_bytes(b, BYTES)),
        Value::BulkError(b) => Value::BulkError(clip_bytes(b, BYTES)),
        Value::StreamedBulk(chunks) => Value::Bulk(clip_bytes(&chunks.concat().into(), BYTES)),
        Value::Array(xs) => Value::Array(items(xs)),
        Value::Set(xs) => Value::Set(items(xs)),
        Value::Push(xs) => Value::Push(items(xs)),
        Value::Map(xs) => Value::Map(pairs(xs)),
        Value::Attributed { attrs, value } => Value::Attributed {
            attrs: pairs(attrs),
            value: Box::new(clip_at(value, depth + 1)),
        },
        Value::StreamedAggregate { kind, items: xs } => Value::StreamedAggregate {
            kind: *kind,
            // A map's items come in pairs: keep an even number.
            items: xs
                .iter()
                .take(
                    if matches!(kind, AggregateKind::Map | AggregateKind::Attribute) {
                        ITEMS * 2
                    } else {
                        ITEMS
                    },
                )
                .map(|x| clip_at(x, depth + 1))
                .collect(),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::to_bytes;

    #[test]
    fn encoded_len_is_the_encoding_length() {
        let values = [
            Value::simple("OK"),
            Value::error("ERR x"),
            Value::Integer(-12345),
            Value::Integer(0),
            Value::bulk("hello"),
            Value::bulk(vec![b'x'; 1000]),
            Value::NullBulk,
            Value::NullArray,
            Value::Null,
            Value::Boolean(true),
            Value::Double("1.5".into()),
            Value::BigNumber("12345678901234567890".into()),
            Value::Verbatim("txt:hi".into()),
            Value::BulkError("SYNTAX x".into()),
            Value::Array(vec![Value::Integer(1), Value::Array(vec![Value::Null; 12])]),
            Value::Set(vec![Value::bulk("a")]),
            Value::Push(vec![Value::bulk("message"), Value::bulk("c")]),
            Value::Map(vec![(Value::bulk("k"), Value::Integer(1))]),
            Value::Attributed {
                attrs: vec![(Value::bulk("ttl"), Value::Integer(3))],
                value: Box::new(Value::bulk("v")),
            },
            Value::StreamedBulk(vec!["ab".into(), "c".into()]),
            Value::StreamedAggregate {
                kind: AggregateKind::Array,
                items: vec![Value::Integer(1)],
            },
        ];
        for v in values {
            assert_eq!(encoded_len(&v), to_bytes(&v).len() as u64, "{v:?}");
        }
    }

    #[test]
    fn big_replies_are_cut_to_the_budget() {
        let big = Value::Array(
            (0..100_000)
                .map(|i| Value::bulk(format!("member:{i}")))
                .collect(),
        );
        let event = Event::Interaction(Interaction {
            conn: 1,
            db: 0,
            seq: 0,
            at_ms: 1,
            took_us: 5,
            cmd: vec!["LRANGE".into(), "l".into(), "0".into(), "-1".into()],
            replies: vec![big],
        });
        let text = mark_text(&event);
        assert!(text.len() <= MARK_TEXT, "{}", text.len());
        assert!(
            text.starts_with("[conn 1 #0 +1ms 5µs] LRANGE l 0 -1\n 1) \"member:0\"\n"),
            "{text}"
        );
        assert!(text.contains("shown in part"), "{text}");

        let small = Event::Interaction(Interaction {
            replies: vec![Value::simple("OK")],
            cmd: vec!["SET".into(), "k".into(), "v".into()],
            ..match event {
                Event::Interaction(i) => i,
                _ => unreachable!(),
            }
        });
        assert_eq!(mark_text(&small), "[conn 1 #0 +1ms 5µs] SET k v\nOK\n");
    }

    #[test]
    fn cut_keeps_characters_whole() {
        let mut s = "ééééé".to_string();
        cut(&mut s, 6);
        assert_eq!(s, "é…");
    }
}
