//! Parsing server replies: every RESP2 and RESP3 type, iteratively.
//!
//! Nesting is handled with an explicit stack, never recursion, so hostile
//! input costs a bounded amount of memory and no stack; depth is capped by
//! [`Limits::max_depth`]. "Not enough bytes yet" is `Ok(None)`.

use bytes::Bytes;

use super::limits::{parse_i64, Limits, ProtocolError};
use super::value::{AggregateKind, Value};

/// One header read from the wire: either a complete leaf value, or the
/// opening of something that more tokens will complete.
enum Token {
    Leaf(Value),
    /// `*N`, `~N`, `%N` (N pairs), `>N`, `|N` (N pairs).
    Aggregate(AggregateKind, usize),
    /// `*?`, `~?`, `%?`, `>?`, `|?`.
    StreamedAggregate(AggregateKind),
    /// `$?`.
    StreamedBulk,
    /// `;N` inside a streamed string (`;0`, empty, ends it).
    Chunk(Bytes, bool),
    /// `.` ending a streamed aggregate.
    End,
}

/// Aggregates still being filled.
enum Open {
    /// Counted aggregate waiting for `remaining` more items.
    Counted {
        kind: AggregateKind,
        remaining: usize,
        items: Vec<Value>,
    },
    /// Streamed aggregate waiting for `.`.
    Streamed {
        kind: AggregateKind,
        items: Vec<Value>,
        /// Items seen, kept even when `items` is not (length-only walks).
        count: usize,
    },
    /// Streamed string waiting for `;0`.
    Chunks(Vec<Bytes>),
    /// Attributes read; waiting for the value they describe.
    Attributed(Vec<(Value, Value)>),
}

/// Finds the `\r\n` ending the line that starts at `pos`. The limit applies
/// to header lines; simple values may be as long as a bulk string.
fn line_end(buf: &[u8], pos: usize, max: usize) -> Result<Option<usize>, ProtocolError> {
    let rest = &buf[pos..];
    match memchr::memchr(b'\r', rest) {
        Some(cr) if cr + 1 < rest.len() => {
            if rest[cr + 1] != b'\n' {
                return Err(ProtocolError::new("Protocol error: expected CRLF"));
            }
            Ok(Some(pos + cr))
        }
        Some(cr) if cr > max => Err(ProtocolError::new("Protocol error: too big line")),
        Some(_) => Ok(None),
        None if rest.len() > max => Err(ProtocolError::new("Protocol error: too big line")),
        None => Ok(None),
    }
}

fn length(text: &[u8], limits: &Limits, what: &str) -> Result<usize, ProtocolError> {
    match parse_i64(text) {
        Some(n) if n >= 0 && (n as u64) <= limits.max_bulk as u64 => Ok(n as usize),
        _ => Err(ProtocolError(format!(
            "Protocol error: invalid {what} length"
        ))),
    }
}

/// Reads one token at `pos`: `Ok(None)` if it is not all buffered yet.
///
/// Payloads come from `source` (zero-copy slices of the same bytes), or are
/// left empty when only the frame's length is wanted.
fn read_token(
    buf: &[u8],
    source: Option<&Bytes>,
    pos: usize,
    limits: &Limits,
) -> Result<Option<(Token, usize)>, ProtocolError> {
    let slice = |start: usize, end: usize| source.map(|b| b.slice(start..end)).unwrap_or_default();
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    if !b"+-:$*_#,(!=%~>|;.".contains(&kind) {
        return Err(ProtocolError(format!(
            "Protocol error: unexpected reply type byte '{}'",
            kind.escape_ascii()
        )));
    }
    let simple_max = limits.max_bulk;
    let header_max = limits.max_inline;
    let max = match kind {
        b'+' | b'-' | b',' | b'(' => simple_max,
        _ => header_max,
    };
    let Some(end) = line_end(buf, pos + 1, max)? else {
        return Ok(None);
    };
    let text = &buf[pos + 1..end];
    let next = end + 2;
    let line = || slice(pos + 1, end);
    let token = match kind {
        b'+' => Token::Leaf(Value::Simple(line())),
        b'-' => Token::Leaf(Value::Error(line())),
        b',' => Token::Leaf(Value::Double(line())),
        b'(' => Token::Leaf(Value::BigNumber(line())),
        b':' => match parse_i64(text) {
            Some(n) => Token::Leaf(Value::Integer(n)),
            None => return Err(ProtocolError::new("Protocol error: invalid integer")),
        },
        b'_' if text.is_empty() => Token::Leaf(Value::Null),
        b'#' => match text {
            b"t" => Token::Leaf(Value::Boolean(true)),
            b"f" => Token::Leaf(Value::Boolean(false)),
            _ => return Err(ProtocolError::new("Protocol error: invalid boolean")),
        },
        b'.' if text.is_empty() => Token::End,
        b'$' if text == b"-1" => Token::Leaf(Value::NullBulk),
        b'*' if text == b"-1" => Token::Leaf(Value::NullArray),
        b'$' if text == b"?" => Token::StreamedBulk,
        // The terminating `;0` has no payload line.
        b';' if text == b"0" => Token::Chunk(Bytes::new(), true),
        b'$' | b'=' | b'!' | b';' => {
            let len = length(text, limits, "bulk")?;
            if buf.len() < next + len + 2 {
                return Ok(None);
            }
            if &buf[next + len..next + len + 2] != b"\r\n" {
                return Err(ProtocolError::new(
                    "Protocol error: expected CRLF after bulk",
                ));
            }
            let payload = slice(next, next + len);
            let token = match kind {
                b'$' => Token::Leaf(Value::Bulk(payload)),
                b'=' => Token::Leaf(Value::Verbatim(payload)),
                b'!' => Token::Leaf(Value::BulkError(payload)),
                _ => Token::Chunk(payload, len == 0),
            };
            return Ok(Some((token, next + len + 2)));
        }
        b'*' | b'~' | b'%' | b'>' | b'|' => {
            let agg = AggregateKind::from_type_byte(kind)
                .ok_or_else(|| ProtocolError::new("Protocol error: unknown type"))?;
            if text == b"?" {
                Token::StreamedAggregate(agg)
            } else {
                let n = length(text, limits, "multibulk")?;
                let per_entry = if matches!(agg, AggregateKind::Map | AggregateKind::Attribute) {
                    2
                } else {
                    1
                };
                Token::Aggregate(agg, n * per_entry)
            }
        }
        other => {
            return Err(ProtocolError(format!(
                "Protocol error: unexpected reply type byte '{}'",
                other.escape_ascii()
            )))
        }
    };
    Ok(Some((token, next)))
}

fn pairs(items: Vec<Value>) -> Vec<(Value, Value)> {
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}

/// A counted aggregate with all its items: a value, or, for attributes, a
/// map that still waits for the value it describes (`Err`).
fn finish_counted(kind: AggregateKind, items: Vec<Value>) -> Result<Value, Open> {
    Ok(match kind {
        AggregateKind::Array => Value::Array(items),
        AggregateKind::Set => Value::Set(items),
        AggregateKind::Push => Value::Push(items),
        AggregateKind::Map => Value::Map(pairs(items)),
        AggregateKind::Attribute => return Err(Open::Attributed(pairs(items))),
    })
}

/// Parses one reply from the start of `buf`: the value and the frame's length.
/// The caller keeps the exact bytes as `buf[..len]`.
pub fn parse_reply(buf: &Bytes, limits: &Limits) -> Result<Option<(Value, usize)>, ProtocolError> {
    walk(buf, Some(buf), limits)
}

/// The length of the reply at the start of `buf`, if it is all there,
/// without building its value: a proxy finds frame boundaries with this,
/// splits the frame off its buffer, and only then decodes it, so a large
/// bulk arriving in many reads is never copied or decoded twice.
pub fn reply_len(buf: &[u8], limits: &Limits) -> Result<Option<usize>, ProtocolError> {
    if let Some(len) = plain_leaf_len(buf, limits) {
        return Ok(Some(len));
    }
    Ok(walk(buf, None, limits)?.map(|(_, len)| len))
}

/// The length of the most common replies (`+OK`, `-ERR …`, `:1`, a bulk
/// string), measured without the general walk; `None` means "not sure",
/// and the walk decides, errors included. It accepts only what the walk
/// accepts: a simple line or integer whose CRLF comes within a few hundred
/// bytes, and a bulk string whose length line does and whose CRLF is in
/// place.
fn plain_leaf_len(buf: &[u8], limits: &Limits) -> Option<usize> {
    /// How far to look for the first CRLF; longer lines take the walk.
    const SHORT: usize = 256;
    let head = &buf[..buf.len().min(SHORT)];
    let cr = memchr::memchr(b'\r', head.get(1..)?)? + 1;
    if head.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    let text = &head[1..cr];
    match head[0] {
        b'+' | b'-' => Some(cr + 2),
        b':' => parse_i64(text).map(|_| cr + 2),
        b'$' => {
            let n = usize::try_from(parse_i64(text)?).ok()?;
            if n > limits.max_bulk {
                return None;
            }
            let end = cr + 2 + n;
            (buf.get(end..end + 2)? == b"\r\n").then_some(end + 2)
        }
        _ => None,
    }
}

/// The parser proper; with no `source` it only checks and measures (items
/// are not kept, so nothing is allocated but the aggregate stack).
fn walk(
    buf: &[u8],
    source: Option<&Bytes>,
    limits: &Limits,
) -> Result<Option<(Value, usize)>, ProtocolError> {
    let build = source.is_some();
    let mut stack: Vec<Open> = Vec::new();
    let mut pos = 0;
    // Item slots reserved ahead from counts the peer declared, in total:
    // the smallest item is 3 bytes (`_\r\n`), so no more can arrive than the
    // buffer holds. A per-aggregate cap alone would let thousands of nested
    // `*1000000` headers reserve that cap each.
    let mut reserve_budget = if build { buf.len() / 3 } else { 0 };
    loop {
        let Some((token, next)) = read_token(buf, source, pos, limits)? else {
            return Ok(None);
        };
        pos = next;
        let in_chunks = matches!(stack.last(), Some(Open::Chunks(_)));
        let mut done: Option<Value> = match token {
            Token::Chunk(data, last) if in_chunks => {
                if last {
                    match stack.pop() {
                        Some(Open::Chunks(chunks)) => Some(Value::StreamedBulk(chunks)),
                        _ => unreachable!("checked above"),
                    }
                } else {
                    if let (true, Some(Open::Chunks(chunks))) = (build, stack.last_mut()) {
                        chunks.push(data);
                    }
                    None
                }
            }
            _ if in_chunks => {
                return Err(ProtocolError::new("Protocol error: expected ';' chunk"));
            }
            Token::Chunk(..) => return Err(ProtocolError::new("Protocol error: unexpected chunk")),
            Token::Leaf(v) => Some(v),
            Token::End => match stack.pop() {
                Some(Open::Streamed { kind, items, count }) => {
                    if matches!(kind, AggregateKind::Map | AggregateKind::Attribute)
                        && count % 2 == 1
                    {
                        return Err(ProtocolError::new("Protocol error: odd streamed map"));
                    }
                    Some(Value::StreamedAggregate { kind, items })
                }
                _ => return Err(ProtocolError::new("Protocol error: unexpected '.'")),
            },
            Token::StreamedBulk => {
                stack.push(Open::Chunks(Vec::new()));
                None
            }
            Token::StreamedAggregate(kind) => {
                stack.push(Open::Streamed {
                    kind,
                    items: Vec::new(),
                    count: 0,
                });
                None
            }
            Token::Aggregate(kind, 0) => match finish_counted(kind, Vec::new()) {
                Ok(v) => Some(v),
                Err(open) => {
                    stack.push(open);
                    None
                }
            },
            Token::Aggregate(kind, n) => {
                // The count is peer data: reserve within the budget, grow
                // as items arrive.
                let reserve = n.min(1024).min(reserve_budget);
                reserve_budget -= reserve;
                stack.push(Open::Counted {
                    kind,
                    remaining: n,
                    items: Vec::with_capacity(reserve),
                });
                None
            }
        };
        if stack.len() > limits.max_depth {
            return Err(ProtocolError::new("Protocol error: nesting too deep"));
        }
        // Hand the finished value up until some aggregate still needs more.
        while let Some(value) = done.take() {
            match stack.last_mut() {
                None => return Ok(Some((value, pos))),
                Some(Open::Counted {
                    remaining, items, ..
                }) => {
                    if build {
                        items.push(value);
                    }
                    *remaining -= 1;
                    if *remaining == 0 {
                        let Some(Open::Counted { kind, items, .. }) = stack.pop() else {
                            unreachable!("matched above");
                        };
                        match finish_counted(kind, items) {
                            Ok(v) => done = Some(v),
                            Err(open) => stack.push(open),
                        }
                    }
                }
                Some(Open::Streamed { items, count, .. }) => {
                    *count += 1;
                    if build {
                        items.push(value);
                    }
                }
                Some(Open::Attributed(_)) => {
                    let Some(Open::Attributed(attrs)) = stack.pop() else {
                        unreachable!("matched above");
                    };
                    done = Some(Value::Attributed {
                        attrs,
                        value: Box::new(value),
                    });
                }
                Some(Open::Chunks(_)) => unreachable!("chunks only take chunk tokens"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::MAX_REPLY_DEPTH;

    fn parse(input: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
        parse_reply(&Bytes::copy_from_slice(input), &Limits::default())
    }

    fn value(input: &[u8]) -> Value {
        let (v, len) = parse(input).unwrap().unwrap();
        assert_eq!(len, input.len(), "whole input consumed");
        v
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn resp2_types() {
        assert_eq!(value(b"+OK\r\n"), Value::Simple(b("OK")));
        assert_eq!(value(b"-ERR x y\r\n"), Value::Error(b("ERR x y")));
        assert_eq!(value(b":-42\r\n"), Value::Integer(-42));
        assert_eq!(value(b"$5\r\na\r\nbc\r\n"), Value::Bulk(b("a\r\nbc")));
        assert_eq!(value(b"$0\r\n\r\n"), Value::Bulk(b("")));
        assert_eq!(value(b"$-1\r\n"), Value::NullBulk);
        assert_eq!(value(b"*-1\r\n"), Value::NullArray);
        assert_eq!(value(b"*0\r\n"), Value::Array(vec![]));
        assert_eq!(
            value(b"*2\r\n:1\r\n*1\r\n$1\r\nx\r\n"),
            Value::Array(vec![
                Value::Integer(1),
                Value::Array(vec![Value::Bulk(b("x"))])
            ])
        );
    }

    #[test]
    fn resp3_types() {
        assert_eq!(value(b"_\r\n"), Value::Null);
        assert_eq!(value(b"#t\r\n"), Value::Boolean(true));
        assert_eq!(value(b"#f\r\n"), Value::Boolean(false));
        for d in [
            "1.5", "1.50", "inf", "-inf", "nan", "-nan", "1e10", "-1.2E-3",
        ] {
            assert_eq!(value(format!(",{d}\r\n").as_bytes()), Value::Double(b(d)));
        }
        assert_eq!(
            value(b"(3492890328409238509324850943850943825024385\r\n"),
            Value::BigNumber(b("3492890328409238509324850943850943825024385"))
        );
        assert_eq!(
            value(b"!10\r\nSYNTAX bad\r\n"),
            Value::BulkError(b("SYNTAX bad"))
        );
        assert_eq!(
            value(b"=9\r\ntxt:hello\r\n"),
            Value::Verbatim(b("txt:hello"))
        );
        assert_eq!(
            value(b"%2\r\n+a\r\n:1\r\n:2\r\n#t\r\n"),
            Value::Map(vec![
                (Value::Simple(b("a")), Value::Integer(1)),
                (Value::Integer(2), Value::Boolean(true)),
            ])
        );
        assert_eq!(
            value(b"~2\r\n:1\r\n:2\r\n"),
            Value::Set(vec![Value::Integer(1), Value::Integer(2)])
        );
        assert_eq!(
            value(b">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n"),
            Value::Push(vec![Value::Bulk(b("message")), Value::Bulk(b("x"))])
        );
    }

    #[test]
    fn attributes() {
        let v = value(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n");
        let Value::Attributed {
            attrs,
            value: inner,
        } = &v
        else {
            panic!("not attributed")
        };
        assert_eq!(attrs.len(), 1);
        assert_eq!(**inner, Value::Array(vec![Value::Integer(2)]));
        // Attributes on an element inside an aggregate.
        let v = value(b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n");
        assert!(matches!(
            &v.elements().unwrap()[0],
            Value::Attributed { .. }
        ));
        // Empty attributes still need their value.
        assert_eq!(parse(b"|0\r\n").unwrap(), None);
        assert!(matches!(value(b"|0\r\n:1\r\n"), Value::Attributed { .. }));
    }

    #[test]
    fn streamed() {
        assert_eq!(
            value(b"$?\r\n;4\r\nHell\r\n;1\r\no\r\n;0\r\n"),
            Value::StreamedBulk(vec![b("Hell"), b("o")])
        );
        assert_eq!(
            value(b"*?\r\n:1\r\n$?\r\n;1\r\na\r\n;0\r\n.\r\n"),
            Value::StreamedAggregate {
                kind: AggregateKind::Array,
                items: vec![Value::Integer(1), Value::StreamedBulk(vec![b("a")])],
            }
        );
        assert_eq!(
            value(b"%?\r\n+a\r\n:1\r\n.\r\n"),
            Value::StreamedAggregate {
                kind: AggregateKind::Map,
                items: vec![Value::Simple(b("a")), Value::Integer(1)],
            }
        );
        assert!(parse(b"%?\r\n+a\r\n.\r\n").is_err());
        assert!(parse(b".\r\n").is_err());
        assert!(parse(b";1\r\na\r\n").is_err());
        assert!(parse(b"$?\r\n:1\r\n").is_err());
    }

    #[test]
    fn extra_bytes_stay() {
        let (v, len) = parse(b"+OK\r\n:1\r\n").unwrap().unwrap();
        assert_eq!((v, len), (Value::Simple(b("OK")), 5));
    }

    #[test]
    fn split_at_every_boundary() {
        let input =
            b"*3\r\n%1\r\n+k\r\n$3\r\nv\r\n\r\n|1\r\n+a\r\n,1.5\r\n#t\r\n$?\r\n;2\r\nab\r\n;0\r\n";
        for cut in 0..input.len() {
            assert_eq!(parse(&input[..cut]).unwrap(), None, "cut at {cut}");
            assert_eq!(reply_len(&input[..cut], &Limits::default()).unwrap(), None);
        }
        assert_eq!(parse(input).unwrap().unwrap().1, input.len());
        assert_eq!(
            reply_len(input, &Limits::default()).unwrap(),
            Some(input.len())
        );
        assert!(reply_len(b"%?\r\n+a\r\n.\r\n", &Limits::default()).is_err());
        assert!(reply_len(&b"*1\r\n".repeat(1000), &Limits::default()).is_err());
    }

    #[test]
    fn bad_input() {
        assert!(parse(b"$3\r\nabcXY").is_err());
        assert!(parse(b"$-2\r\n").is_err());
        assert!(parse(b"*-2\r\n").is_err());
        assert!(parse(b":abc\r\n").is_err());
        assert!(parse(b"#x\r\n").is_err());
        assert!(parse(b"_x\r\n").is_err());
        assert!(parse(b"@\r\n").is_err());
        assert!(parse(b"+a\rb\r\n").is_err());
        let mut long = b"*".to_vec();
        long.extend(std::iter::repeat_n(b'1', 70_000));
        assert!(parse(&long).is_err());
    }

    #[test]
    fn nesting_bomb_is_an_error_not_a_crash() {
        let bomb = b"*1\r\n".repeat(100_000);
        let e = parse(&bomb).unwrap_err();
        assert_eq!(e.0, "Protocol error: nesting too deep");
        let bomb = b"|1\r\n+a\r\n+b\r\n".repeat(100_000);
        assert!(parse(&bomb).is_err());
    }

    #[test]
    fn huge_declared_count_costs_nothing() {
        assert_eq!(parse(b"*2000000\r\n:1\r\n").unwrap(), None);
        // Nested: the reservation budget is shared, not one per level.
        let nested = b"*2000000\r\n".repeat(10_000);
        let upstream = Limits::upstream();
        let parsed = parse_reply(&Bytes::from(nested), &upstream);
        assert_eq!(parsed.unwrap(), None);
    }

    /// What Redis answers to `EVAL "local a = {}; local b = {a}; a[1] = b;
    /// return a" 0`: `*1` nested 7995 levels deep (Lua's C stack limit)
    /// around an error. The upstream's limits take it, on a thread with a
    /// tokio worker's 2 MiB stack, and the value drops without recursing.
    #[test]
    fn lua_recursive_table_reply_parses_with_upstream_limits() {
        let run = || {
            let mut frame = b"*1\r\n".repeat(7995);
            frame.extend_from_slice(b"-ERR reached lua stack limit\r\n");
            let frame = Bytes::from(frame);
            let upstream = Limits::upstream();
            assert_eq!(reply_len(&frame, &upstream).unwrap(), Some(frame.len()));
            let (v, len) = parse_reply(&frame, &upstream).unwrap().unwrap();
            assert_eq!(len, frame.len());
            assert_eq!(crate::resp::to_bytes(&v), frame);
            assert!(v == v.clone());
            // The client-side default stays strict.
            assert!(reply_len(&frame, &Limits::default()).is_err());
        };
        let thread = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(run)
            .unwrap();
        assert!(thread.join().is_ok());
    }

    #[test]
    fn bomb_over_the_upstream_cap_is_refused() {
        let upstream = Limits::upstream();
        for bomb in [
            b"*1\r\n".repeat(100_000),
            b"%1\r\n+k\r\n".repeat(100_000),
            b"|1\r\n+a\r\n+b\r\n".repeat(100_000),
            b"*?\r\n".repeat(100_000),
        ] {
            let e = reply_len(&bomb, &upstream).unwrap_err();
            assert_eq!(e.0, "Protocol error: nesting too deep");
            let e = parse_reply(&Bytes::from(bomb), &upstream).unwrap_err();
            assert_eq!(e.0, "Protocol error: nesting too deep");
        }
        // Exactly at the cap is fine; one more is not.
        let mut at = b"*1\r\n".repeat(MAX_REPLY_DEPTH);
        at.extend_from_slice(b":1\r\n");
        assert_eq!(reply_len(&at, &upstream).unwrap(), Some(at.len()));
        let over = [&b"*1\r\n"[..], &at].concat();
        assert!(reply_len(&over, &upstream).is_err());
    }
}
