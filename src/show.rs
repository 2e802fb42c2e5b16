//! `resplay show`: a cassette as a person reads it.
//!
//! [`render`] lists every event in file order, one block each: a bracketed
//! line (`[conn 1 #0 +3ms 120µs] SET k v`, with `db 2` after the connection
//! when the command ran in another database than 0) and then the replies exactly as
//! `redis-cli` prints them in its default (non-raw) mode, so a listing looks
//! like the session a developer would have typed. [`render_json`] re-emits
//! the cassette as canonical JSON lines (`resplay show --json`). Both take a
//! loaded [`Cassette`]; `resplay show` itself prints event by event as the
//! file is read ([`render_header`], [`render_event`], [`Tokens`]), so a
//! cassette of any size is listed in the memory of its largest event and
//! its distinct tokens.
//!
//! Reply formatting follows `cliFormatReplyTTY` in `redis-cli.c`: bulk
//! strings quoted and escaped (`sdscatrepr`), simple strings bare, `(error)`,
//! `(integer)`, `(nil)`, `1) ` indexes with nested aggregates indented by the
//! index width plus two, `1~ ` for sets, `1# key => value` for maps (a
//! multi-line map value starts on its own line), `(empty array)`,
//! `(empty hash)`, `(empty set)`, `(empty push)`. Verbatim strings print their
//! text without the `txt:` format prefix and without quotes, as redis-cli
//! does. Attributes, which redis-cli does not show, get an `(attributes) `
//! map before the value they annotate.

use std::fmt::Write as _;

use crate::cassette::{Cassette, Event, Header};
use crate::replay::display::display_command;
use crate::replay::tokens::tokens_in;
pub use crate::text::reply::render_value;

/// Appends a readable listing of `cassette` to `out`, one block per event in
/// file order.
pub fn render(cassette: &Cassette, out: &mut String) {
    for event in &cassette.events {
        render_event(event, out);
    }
}

/// How many of a cassette's tokens the listing's footer names.
const TOKENS_LISTED: usize = 10;

/// Appends a footer naming the random-looking tokens the commands hold
/// (UUIDs, hex and base64 ids): replay lets a fresh token of the same
/// shape stand in for each and maps it back in replies (see
/// [`crate::replay::tokens`]). Nothing when there are none.
pub fn render_tokens(cassette: &Cassette, out: &mut String) {
    let mut tokens = Tokens::default();
    for event in &cassette.events {
        tokens.add(event);
    }
    tokens.render(out);
}

/// The footer of [`render_tokens`], gathered event by event, so a listing
/// can be printed as the cassette is read: it holds each distinct token
/// once (the footer counts them), not the events.
#[derive(Default)]
pub struct Tokens {
    /// Every distinct token seen.
    seen: std::collections::HashSet<Box<[u8]>>,
    /// The first [`TOKENS_LISTED`], as the footer names them.
    listed: Vec<String>,
}

impl Tokens {
    /// Notes the tokens of `event`'s command (if it is an interaction).
    pub fn add(&mut self, event: &Event) {
        let Event::Interaction(i) = event else {
            return;
        };
        for arg in &i.cmd {
            for f in tokens_in(arg) {
                let token = &arg[f.start..f.end];
                if !self.seen.contains(token) {
                    self.seen.insert(token.into());
                    if self.listed.len() < TOKENS_LISTED {
                        self.listed.push(format!(
                            "{} ({:?})",
                            String::from_utf8_lossy(token),
                            f.shape
                        ));
                    }
                }
            }
        }
    }

    /// Appends the footer; nothing when there were no tokens.
    pub fn render(&self, out: &mut String) {
        let (seen, listed) = (&self.seen, &self.listed);
        if seen.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "# {} volatile token(s): on replay a fresh value of the same shape stands in for each, unless --exact-tokens",
            seen.len()
        );
        for token in listed {
            let _ = writeln!(out, "#   {token}");
        }
        if seen.len() > listed.len() {
            let _ = writeln!(out, "#   … and {} more", seen.len() - listed.len());
        }
    }
}

/// Appends the listing's first lines: the header's version, creation time
/// and upstream, and for a cluster cassette a line per node.
pub fn render_header(h: &Header, out: &mut String) {
    let _ = writeln!(
        out,
        "# resplay cassette v{}, created {}{}",
        h.version,
        h.created,
        h.upstream
            .as_deref()
            .map(|u| format!(", upstream {u}"))
            .unwrap_or_default()
    );
    if !h.excluded.is_empty() {
        let rules: Vec<String> = h.excluded.iter().map(|r| format!("'{r}'")).collect();
        let _ = writeln!(
            out,
            "# filtered: commands matching --exclude {} were relayed but not recorded",
            rules.join(", ")
        );
    }
    let Some(cluster) = &h.cluster else {
        return;
    };
    for node in &cluster.nodes {
        let slots: Vec<String> = node
            .slots
            .iter()
            .map(|[a, b]| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "# cluster node {} {} {}{}",
            node.addr,
            node.role,
            node.id,
            if slots.is_empty() {
                String::new()
            } else {
                format!(" slots {}", slots.join(","))
            }
        );
    }
}

/// Appends one event's block (header line, then its replies) to `out`.
pub fn render_event(event: &Event, out: &mut String) {
    // Writing to a String cannot fail.
    match event {
        Event::Interaction(i) => {
            // The database only when it is not 0, as redis-cli's prompt.
            let db = if i.db == 0 {
                String::new()
            } else {
                format!(" db {}", i.db)
            };
            let _ = writeln!(
                out,
                "[conn {}{db} #{} +{}ms {}] {}",
                i.conn,
                i.seq,
                i.at_ms,
                Took(i.took_us),
                display_command(&i.cmd)
            );
            if i.replies.is_empty() {
                out.push_str("(no reply)\n");
            }
            for reply in &i.replies {
                render_value(reply, out);
            }
        }
        Event::Push(p) => {
            let _ = writeln!(out, "[conn {} +{}ms push]", p.conn, p.at_ms);
            render_value(&p.push, out);
        }
        Event::Connection(c) => {
            let by = if c.by_server { " by server" } else { "" };
            let node = c
                .node
                .as_deref()
                .map(|n| format!(" to node {n}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "[conn {} +{}ms {}{node}{by}]",
                c.conn,
                c.at_ms,
                c.event.as_str()
            );
        }
    }
}

/// Appends the cassette as canonical JSON lines: the header, then each event,
/// in the key order and value encoding the recorder writes.
pub fn render_json(cassette: &Cassette, out: &mut Vec<u8>) {
    cassette.header.write_line(out);
    for event in &cassette.events {
        event.write_line(out);
    }
}

/// A reply duration: `120µs` below a millisecond, `3.4ms` below a second,
/// `1.25s` above.
struct Took(u64);

impl std::fmt::Display for Took {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = self.0;
        if us < 1_000 {
            write!(f, "{us}µs")
        } else if us < 1_000_000 {
            write!(f, "{:.1}ms", us as f64 / 1e3)
        } else {
            write!(f, "{:.2}s", us as f64 / 1e6)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::MAX_VALUE_DEPTH as MAX_DEPTH;
    use crate::resp::{AggregateKind, Value};

    fn show(v: &Value) -> String {
        let mut out = String::new();
        render_value(v, &mut out);
        out
    }

    fn arr(items: Vec<Value>) -> Value {
        Value::Array(items)
    }

    #[test]
    fn scalars_print_as_redis_cli() {
        let cases = [
            (Value::simple("OK"), "OK\n"),
            (Value::error("ERR bad"), "(error) ERR bad\n"),
            (Value::BulkError("SYNTAX x".into()), "(error) SYNTAX x\n"),
            (Value::Integer(-3), "(integer) -3\n"),
            (Value::bulk("hi"), "\"hi\"\n"),
            (Value::NullBulk, "(nil)\n"),
            (Value::NullArray, "(nil)\n"),
            (Value::Null, "(nil)\n"),
            (Value::Double("1.5".into()), "(double) 1.5\n"),
            (Value::Boolean(true), "(true)\n"),
            (Value::Boolean(false), "(false)\n"),
            (Value::BigNumber("123".into()), "(big number) 123\n"),
            (Value::Verbatim("txt:a b".into()), "a b\n"),
            (
                Value::StreamedBulk(vec!["ab".into(), "c".into()]),
                "\"abc\"\n",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(show(&v), want, "{v:?}");
        }
    }

    #[test]
    fn bulk_escapes_like_sdscatrepr() {
        let v = Value::bulk(&b"a\"b\\c\n\r\t\x07\x08\x00\xff~ "[..]);
        assert_eq!(show(&v), "\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\xff~ \"\n");
    }

    #[test]
    fn nested_arrays_indent_by_index_width() {
        let inner = arr(vec![Value::bulk("a"), Value::bulk("b")]);
        let v = arr(vec![inner.clone(), Value::Integer(1)]);
        assert_eq!(show(&v), "1) 1) \"a\"\n   2) \"b\"\n2) (integer) 1\n");

        // Ten elements: indexes are right-aligned, nesting moves 4 columns.
        let mut items = vec![Value::Integer(0); 9];
        items.push(inner);
        let text = show(&arr(items));
        assert!(text.starts_with(" 1) (integer) 0\n 2) "), "{text}");
        assert!(text.ends_with("10) 1) \"a\"\n    2) \"b\"\n"), "{text}");
    }

    #[test]
    fn empty_aggregates() {
        assert_eq!(show(&arr(vec![])), "(empty array)\n");
        assert_eq!(show(&Value::Set(vec![])), "(empty set)\n");
        assert_eq!(show(&Value::Push(vec![])), "(empty push)\n");
        assert_eq!(show(&Value::Map(vec![])), "(empty hash)\n");
    }

    #[test]
    fn maps_and_sets() {
        let v = Value::Map(vec![
            (Value::bulk("k"), Value::Integer(1)),
            (
                Value::bulk("list"),
                arr(vec![Value::bulk("x"), Value::bulk("y")]),
            ),
            (Value::bulk("one"), arr(vec![Value::bulk("z")])),
        ]);
        assert_eq!(
            show(&v),
            "1# \"k\" => (integer) 1\n\
             2# \"list\" => \n   1) \"x\"\n   2) \"y\"\n\
             3# \"one\" => 1) \"z\"\n"
        );
        let s = Value::Set(vec![Value::bulk("a"), Value::bulk("b")]);
        assert_eq!(show(&s), "1~ \"a\"\n2~ \"b\"\n");
        let streamed = Value::StreamedAggregate {
            kind: AggregateKind::Map,
            items: vec![Value::bulk("a"), Value::Integer(1)],
        };
        assert_eq!(show(&streamed), "1# \"a\" => (integer) 1\n");
    }

    #[test]
    fn attributes_precede_the_value() {
        let v = Value::Attributed {
            attrs: vec![
                (Value::bulk("ttl"), Value::Integer(3)),
                (Value::bulk("src"), Value::bulk("x")),
            ],
            value: Box::new(Value::bulk("v")),
        };
        assert_eq!(
            show(&v),
            "(attributes) 1# \"ttl\" => (integer) 3\n             2# \"src\" => \"x\"\n\"v\"\n"
        );
        let nested = arr(vec![Value::Integer(1), v]);
        assert_eq!(
            show(&nested),
            "1) (integer) 1\n2) (attributes) 1# \"ttl\" => (integer) 3\n                2# \"src\" => \"x\"\n   \"v\"\n"
        );
    }

    #[test]
    fn deep_values_are_cut_not_overflowing() {
        let mut v = Value::Integer(1);
        for _ in 0..(MAX_DEPTH + 10) {
            v = arr(vec![v]);
        }
        let text = show(&v);
        assert!(text.ends_with("(nesting too deep)\n"), "{text}");
    }

    #[test]
    fn took_units() {
        assert_eq!(Took(120).to_string(), "120µs");
        assert_eq!(Took(3_400).to_string(), "3.4ms");
        assert_eq!(Took(1_250_000).to_string(), "1.25s");
    }
}
