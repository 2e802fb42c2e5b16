//! A reply as `redis-cli` prints it (`resplay show`, the report, the
//! console's live tail, MONITOR-free places that show a reply to people).
//!
//! Formatting follows `cliFormatReplyTTY` in `redis-cli.c`: bulk strings
//! quoted and escaped (`sdscatrepr`), simple strings bare, `(error)`,
//! `(integer)`, `(nil)`, `1) ` indexes with nested aggregates indented by the
//! index width plus two, `1~ ` for sets, `1# key => value` for maps (a
//! multi-line map value starts on its own line), `(empty array)`,
//! `(empty hash)`, `(empty set)`, `(empty push)`. Verbatim strings print their
//! text without the `txt:` format prefix and without quotes, as redis-cli
//! does. Attributes, which redis-cli does not show, get an `(attributes) `
//! map before the value they annotate.

use std::fmt::Write as _;

use super::command::repr;
use crate::cassette::MAX_VALUE_DEPTH;
use crate::resp::{with_stack, AggregateKind, Value};

/// Deeper values are cut short. Loaded cassettes cannot get past this (it
/// is what the cassette reader accepts, as deep as Redis answers); the cap
/// only keeps a hand-built value from costing unbounded stack.
const MAX_DEPTH: usize = MAX_VALUE_DEPTH;

/// What an absent map value (an odd-length streamed map) is shown as.
static MISSING: Value = Value::Null;

/// Appends `value` as redis-cli prints a reply (ending with a newline).
pub fn render_value(value: &Value, out: &mut String) {
    format_value(value, &mut String::new(), 0, out);
}

/// How a value is laid out.
enum Shape<'a> {
    /// Printed on one line (the text, without its newline).
    Line(String),
    /// Indexed elements: the index separator (`)` or `~`), the text for no
    /// elements, the elements.
    Seq(char, &'static str, &'a [Value]),
    /// `N# key => value` entries.
    Map(Vec<(&'a Value, &'a Value)>),
    /// An attribute map and the value it annotates.
    Attributed(&'a [(Value, Value)], &'a Value),
}

fn shape(v: &Value) -> Shape<'_> {
    match v {
        Value::Array(items) => Shape::Seq(')', "(empty array)", items),
        Value::Set(items) => Shape::Seq('~', "(empty set)", items),
        Value::Push(items) => Shape::Seq(')', "(empty push)", items),
        Value::Map(pairs) => Shape::Map(pairs.iter().map(|(k, v)| (k, v)).collect()),
        Value::StreamedAggregate { kind, items } => match kind {
            AggregateKind::Array => Shape::Seq(')', "(empty array)", items),
            AggregateKind::Set => Shape::Seq('~', "(empty set)", items),
            AggregateKind::Push => Shape::Seq(')', "(empty push)", items),
            AggregateKind::Map | AggregateKind::Attribute => Shape::Map(
                items
                    .chunks(2)
                    .map(|kv| (&kv[0], kv.get(1).unwrap_or(&MISSING)))
                    .collect(),
            ),
        },
        Value::Attributed { attrs, value } => Shape::Attributed(attrs, value),
        Value::Simple(b) => Shape::Line(String::from_utf8_lossy(b).into_owned()),
        Value::Error(b) | Value::BulkError(b) => {
            Shape::Line(format!("(error) {}", String::from_utf8_lossy(b)))
        }
        Value::Integer(n) => Shape::Line(format!("(integer) {n}")),
        Value::Bulk(b) => Shape::Line(repr(b)),
        Value::StreamedBulk(chunks) => Shape::Line(repr(&chunks.concat())),
        Value::NullBulk | Value::NullArray | Value::Null => Shape::Line("(nil)".into()),
        Value::Double(b) => Shape::Line(format!("(double) {}", String::from_utf8_lossy(b))),
        Value::Boolean(true) => Shape::Line("(true)".into()),
        Value::Boolean(false) => Shape::Line("(false)".into()),
        Value::BigNumber(b) => Shape::Line(format!("(big number) {}", String::from_utf8_lossy(b))),
        Value::Verbatim(b) => {
            // hiredis hands redis-cli the text after the `txt:` format.
            let text = match b.get(3) {
                Some(b':') => &b[4..],
                _ => &b[..],
            };
            Shape::Line(String::from_utf8_lossy(text).into_owned())
        }
    }
}

/// Appends `v` with every line after the first starting with `prefix`.
///
/// One call per level, on a stack that grows when needed: a recorded reply
/// can be thousands of levels deep. `prefix` is one buffer for the whole
/// walk, grown for a child and cut back after it, so a deep value costs
/// its depth in prefix once rather than a prefix per level.
fn format_value(v: &Value, prefix: &mut String, depth: usize, out: &mut String) {
    if depth > MAX_DEPTH {
        out.push_str("(nesting too deep)\n");
        return;
    }
    with_stack(|| match shape(v) {
        Shape::Line(text) => {
            out.push_str(&text);
            out.push('\n');
        }
        Shape::Seq(_, empty, []) => {
            out.push_str(empty);
            out.push('\n');
        }
        Shape::Seq(sep, _, items) => {
            let width = digits(items.len());
            let len = prefix.len();
            for (i, item) in items.iter().enumerate() {
                // The caller already wrote the prefix of the first line.
                if i > 0 {
                    out.push_str(prefix);
                }
                let _ = write!(out, "{:>width$}{sep} ", i + 1);
                indent(prefix, width + 2);
                format_value(item, prefix, depth + 1, out);
                prefix.truncate(len);
            }
        }
        Shape::Map(pairs) => format_pairs(&pairs, prefix, depth, out),
        Shape::Attributed(attrs, value) => {
            const LABEL: &str = "(attributes) ";
            out.push_str(LABEL);
            let pairs: Vec<_> = attrs.iter().map(|(k, v)| (k, v)).collect();
            let len = prefix.len();
            indent(prefix, LABEL.len());
            format_pairs(&pairs, prefix, depth, out);
            prefix.truncate(len);
            out.push_str(prefix);
            format_value(value, prefix, depth + 1, out);
        }
    })
}

/// A map's entries, `N# key => value`.
fn format_pairs(pairs: &[(&Value, &Value)], prefix: &mut String, depth: usize, out: &mut String) {
    if pairs.is_empty() {
        out.push_str("(empty hash)\n");
        return;
    }
    let width = digits(pairs.len());
    let len = prefix.len();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str(prefix);
        }
        let _ = write!(out, "{:>width$}# ", i + 1);
        indent(prefix, width + 2);
        format_value(key, prefix, depth + 1, out);
        out.pop(); // the key's newline
        out.push_str(" => ");
        if is_multiline(value) {
            // As redis-cli: a multi-line value starts on its own line so its
            // indexes line up.
            out.push('\n');
            out.push_str(prefix);
        }
        format_value(value, prefix, depth + 1, out);
        prefix.truncate(len);
    }
}

/// redis-cli's `cliIsMultilineValueTTY`, as a loop: it follows a chain of
/// one-element aggregates to its end.
fn is_multiline(mut v: &Value) -> bool {
    loop {
        let only = match v {
            Value::Attributed { .. } => return true,
            Value::Map(pairs) => match pairs.as_slice() {
                [] => return false,
                [(_, value)] => value,
                _ => return true,
            },
            Value::StreamedAggregate {
                kind: AggregateKind::Map | AggregateKind::Attribute,
                items,
            } => match items.as_slice() {
                [] | [_] => return false,
                [_, value] => value,
                _ => return true,
            },
            Value::Array(items)
            | Value::Set(items)
            | Value::Push(items)
            | Value::StreamedAggregate { items, .. } => match items.as_slice() {
                [] => return false,
                [one] => one,
                _ => return true,
            },
            _ => return false,
        };
        v = only;
    }
}

/// Grows the prefix for nested lines by `n` columns.
fn indent(prefix: &mut String, n: usize) {
    prefix.extend(std::iter::repeat(' ').take(n));
}

/// Decimal digits of `n`.
fn digits(mut n: usize) -> usize {
    let mut d = 1;
    while n >= 10 {
        n /= 10;
        d += 1;
    }
    d
}
