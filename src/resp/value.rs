//! The decoded view of one RESP2/RESP3 frame.
//!
//! The value keeps everything needed to write the frame back byte for byte:
//! the three kinds of null stay apart, doubles and big numbers keep the text
//! the server wrote, maps keep their order and key types, and streamed
//! (chunked) strings and aggregates remember that they were streamed.
//!
//! Values can be as deep as the upstream may legally answer
//! ([`MAX_REPLY_DEPTH`](super::limits::MAX_REPLY_DEPTH), thousands of
//! levels), which a derived `Drop`, `Clone`, `PartialEq`, `Hash` or `Debug`
//! would walk by recursion, past the 2 MiB stack of a tokio worker. So they
//! are written by hand: `Drop`, equality and hashing iteratively, `Clone`
//! and `Debug` (which build or print nested structure) on a stack that
//! grows when needed (`with_stack`).

use std::fmt;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

/// One RESP value, RESP2 or RESP3.
pub enum Value {
    /// `+OK`: a simple string (no CR or LF inside).
    Simple(Bytes),
    /// `-ERR ...`: a simple error, the whole line after `-`.
    Error(Bytes),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`: a bulk string, any bytes.
    Bulk(Bytes),
    /// `$-1`: the RESP2 null bulk string.
    NullBulk,
    /// `*-1`: the RESP2 null array.
    NullArray,
    /// `_`: the RESP3 null.
    Null,
    /// `*N`: an array.
    Array(Vec<Value>),
    /// `%N`: a map, in wire order, keys of any type.
    Map(Vec<(Value, Value)>),
    /// `~N`: a set, in wire order.
    Set(Vec<Value>),
    /// `,1.5`: a double, kept as the text that was sent (`inf`, `-nan`, `1.50`).
    Double(Bytes),
    /// `#t` / `#f`.
    Boolean(bool),
    /// `(123...`: a big number, kept as text.
    BigNumber(Bytes),
    /// `=N\r\ntxt:...`: a verbatim string; the payload includes the 3-letter
    /// format and the colon, exactly as sent.
    Verbatim(Bytes),
    /// `!N\r\n...`: a bulk error.
    BulkError(Bytes),
    /// `>N`: an out-of-band push.
    Push(Vec<Value>),
    /// `|N` attributes followed by the value they describe.
    Attributed {
        /// The attribute map, in wire order.
        attrs: Vec<(Value, Value)>,
        /// The value the attributes annotate.
        value: Box<Value>,
    },
    /// `$?` followed by `;N` chunks and the terminating `;0`.
    StreamedBulk(Vec<Bytes>),
    /// `*?`, `~?`, `>?` or `%?` … `.`: an aggregate of unknown length.
    /// Maps are kept as a flat list of alternating keys and values.
    StreamedAggregate {
        /// Which aggregate: one of `*`, `~`, `%`, `>` (and `|`, never sent in practice).
        kind: AggregateKind,
        /// The elements, flat (for maps: key, value, key, value, …).
        items: Vec<Value>,
    },
}

/// Stack left free before [`with_stack`] moves to a new segment: more than
/// one level of any recursion over values uses (serde's visitors in debug
/// builds included).
const RED_ZONE: usize = 256 * 1024;
/// The size of each new stack segment.
const STACK_SEGMENT: usize = 2 * 1024 * 1024;

/// Runs `f`, first moving to a fresh heap-allocated stack segment if less
/// than [`RED_ZONE`] is left. Recursion over values that cannot easily be
/// made iterative (serde visitors, `Clone`, `Debug`, `resplay show`) calls
/// this once per level: it costs a thread-local read while the stack is
/// fine, and turns a stack overflow (an abort) into heap use.
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, f)
}

/// True when less than [`RED_ZONE`] of stack is left (or it is not known).
fn stack_is_low() -> bool {
    stacker::remaining_stack().map_or(true, |left| left < RED_ZONE)
}

/// The aggregate types a streamed aggregate (`X?` … `.`) can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateKind {
    /// `*?`
    Array,
    /// `~?`
    Set,
    /// `%?` (items alternate key, value)
    Map,
    /// `>?`
    Push,
    /// `|?`
    Attribute,
}

impl AggregateKind {
    /// The type byte that starts this aggregate on the wire.
    pub fn type_byte(self) -> u8 {
        match self {
            AggregateKind::Array => b'*',
            AggregateKind::Set => b'~',
            AggregateKind::Map => b'%',
            AggregateKind::Push => b'>',
            AggregateKind::Attribute => b'|',
        }
    }

    /// The aggregate kind for a type byte, if it is one.
    pub fn from_type_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'*' => AggregateKind::Array,
            b'~' => AggregateKind::Set,
            b'%' => AggregateKind::Map,
            b'>' => AggregateKind::Push,
            b'|' => AggregateKind::Attribute,
            _ => return None,
        })
    }
}

impl Value {
    /// A bulk string from anything byte-like.
    pub fn bulk(b: impl Into<Bytes>) -> Value {
        Value::Bulk(b.into())
    }

    /// A simple string from a static text.
    pub fn simple(s: &'static str) -> Value {
        Value::Simple(Bytes::from_static(s.as_bytes()))
    }

    /// A simple error from a text (the text after `-`).
    pub fn error(s: impl Into<String>) -> Value {
        Value::Error(Bytes::from(s.into()))
    }

    /// True for a push frame (also when it carries attributes).
    pub fn is_push(&self) -> bool {
        match self.unattributed() {
            Value::Push(_) => true,
            Value::StreamedAggregate { kind, .. } => *kind == AggregateKind::Push,
            _ => false,
        }
    }

    /// True for an error reply of either kind.
    pub fn is_error(&self) -> bool {
        matches!(self.unattributed(), Value::Error(_) | Value::BulkError(_))
    }

    /// The elements of an array, set or push (through attributes), if it is one.
    pub fn elements(&self) -> Option<&[Value]> {
        match self.unattributed() {
            Value::Array(v) | Value::Set(v) | Value::Push(v) => Some(v),
            Value::StreamedAggregate { kind, items } if *kind != AggregateKind::Map => Some(items),
            _ => None,
        }
    }

    /// A map's value for the string key `key`, when this is a map that
    /// has it.
    pub fn map_get(&self, key: &[u8]) -> Option<&Value> {
        match self {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_bytes() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The bytes of a string-like value (bulk, simple, verbatim payload,
    /// streamed bulk is not joined and gives `None`).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self.unattributed() {
            Value::Bulk(b) | Value::Simple(b) | Value::Verbatim(b) => Some(b),
            _ => None,
        }
    }

    /// The value under any attributes (a loop: attributes can nest).
    pub(crate) fn unattributed(&self) -> &Value {
        let mut v = self;
        while let Value::Attributed { value, .. } = v {
            v = value;
        }
        v
    }

    /// True for an aggregate that holds anything (or attributes): a value
    /// whose drop goes down a level.
    #[inline]
    fn has_children(&self) -> bool {
        match self {
            Value::Array(items)
            | Value::Set(items)
            | Value::Push(items)
            | Value::StreamedAggregate { items, .. } => !items.is_empty(),
            Value::Map(pairs) => !pairs.is_empty(),
            Value::Attributed { .. } => true,
            _ => false,
        }
    }

    /// Moves the lists of values `self` holds onto `todo`, leaving it with
    /// none (an attributed value keeps a `Null` in place of its value).
    fn take_children(&mut self, todo: &mut Vec<Children>) {
        match self {
            Value::Array(items)
            | Value::Set(items)
            | Value::Push(items)
            | Value::StreamedAggregate { items, .. }
                if !items.is_empty() =>
            {
                todo.push(Children::Items(std::mem::take(items)));
            }
            Value::Map(pairs) if !pairs.is_empty() => {
                todo.push(Children::Pairs(std::mem::take(pairs)));
            }
            Value::Attributed { attrs, value } => {
                if !attrs.is_empty() {
                    todo.push(Children::Pairs(std::mem::take(attrs)));
                }
                if value.has_children() {
                    todo.push(Children::One(std::mem::replace(&mut **value, Value::Null)));
                }
            }
            _ => {}
        }
    }

    /// Compares what `self` and `other` hold at the top, queueing their
    /// nested values on `todo` to be compared in turn.
    fn shallow_eq<'a>(&'a self, other: &'a Value, todo: &mut Vec<(&'a Value, &'a Value)>) -> bool {
        use Value::*;
        match (self, other) {
            (Simple(a), Simple(b))
            | (Error(a), Error(b))
            | (Bulk(a), Bulk(b))
            | (Double(a), Double(b))
            | (BigNumber(a), BigNumber(b))
            | (Verbatim(a), Verbatim(b))
            | (BulkError(a), BulkError(b)) => a == b,
            (Integer(a), Integer(b)) => a == b,
            (Boolean(a), Boolean(b)) => a == b,
            (NullBulk, NullBulk) | (NullArray, NullArray) | (Null, Null) => true,
            (StreamedBulk(a), StreamedBulk(b)) => a == b,
            (Array(a), Array(b)) | (Set(a), Set(b)) | (Push(a), Push(b)) => {
                a.len() == b.len() && {
                    todo.extend(a.iter().zip(b));
                    true
                }
            }
            (
                StreamedAggregate { kind: ka, items: a },
                StreamedAggregate { kind: kb, items: b },
            ) => {
                ka == kb && a.len() == b.len() && {
                    todo.extend(a.iter().zip(b));
                    true
                }
            }
            (Map(a), Map(b)) => {
                a.len() == b.len() && {
                    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
                        todo.push((ka, kb));
                        todo.push((va, vb));
                    }
                    true
                }
            }
            (
                Attributed {
                    attrs: a,
                    value: va,
                },
                Attributed {
                    attrs: b,
                    value: vb,
                },
            ) => {
                a.len() == b.len() && {
                    for ((ka, xa), (kb, xb)) in a.iter().zip(b) {
                        todo.push((ka, kb));
                        todo.push((xa, xb));
                    }
                    todo.push((va, vb));
                    true
                }
            }
            _ => false,
        }
    }
}

/// What [`Value::take_children`] moves out of a value being dropped.
enum Children {
    Items(Vec<Value>),
    Pairs(Vec<(Value, Value)>),
    One(Value),
}

impl Drop for Value {
    /// The derived drop of a value nested thousands of levels deep recurses
    /// once per level and overflows the stack. So while there is stack to
    /// spare this lets the built-in drop recurse (the cost: one look at the
    /// stack pointer per aggregate); once it runs low, the rest is dropped
    /// iteratively: each list of children is emptied of its own children
    /// before it is dropped, so no drop goes down more than one level.
    #[inline]
    fn drop(&mut self) {
        if self.has_children() && stack_is_low() {
            self.drop_children_iteratively();
        }
    }
}

impl Value {
    /// Drops what `self` holds without recursing (see `Drop`); `self` is
    /// left with no children.
    #[cold]
    #[inline(never)]
    fn drop_children_iteratively(&mut self) {
        let mut todo = Vec::new();
        self.take_children(&mut todo);
        while let Some(children) = todo.pop() {
            match children {
                Children::Items(mut items) => {
                    for v in &mut items {
                        v.take_children(&mut todo);
                    }
                }
                Children::Pairs(mut pairs) => {
                    for (k, v) in &mut pairs {
                        k.take_children(&mut todo);
                        v.take_children(&mut todo);
                    }
                }
                Children::One(mut v) => v.take_children(&mut todo),
            }
            // The list drops here: nothing in it holds children any more.
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        let mut todo = Vec::new();
        if !self.shallow_eq(other, &mut todo) {
            return false;
        }
        while let Some((a, b)) = todo.pop() {
            if !a.shallow_eq(b, &mut todo) {
                return false;
            }
        }
        true
    }
}

impl Eq for Value {}

impl Hash for Value {
    /// Iterative, in the same order as equality: the variant, then leaf
    /// contents or aggregate lengths, depth first.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut todo = vec![self];
        while let Some(v) = todo.pop() {
            std::mem::discriminant(v).hash(state);
            match v {
                Value::Simple(b)
                | Value::Error(b)
                | Value::Bulk(b)
                | Value::Double(b)
                | Value::BigNumber(b)
                | Value::Verbatim(b)
                | Value::BulkError(b) => b.hash(state),
                Value::Integer(n) => n.hash(state),
                Value::Boolean(b) => b.hash(state),
                Value::NullBulk | Value::NullArray | Value::Null => {}
                Value::StreamedBulk(chunks) => chunks.hash(state),
                Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                    items.len().hash(state);
                    todo.extend(items.iter().rev());
                }
                Value::StreamedAggregate { kind, items } => {
                    kind.hash(state);
                    items.len().hash(state);
                    todo.extend(items.iter().rev());
                }
                Value::Map(pairs) => {
                    pairs.len().hash(state);
                    todo.extend(pairs.iter().rev().flat_map(|(k, v)| [v, k]));
                }
                Value::Attributed { attrs, value } => {
                    attrs.len().hash(state);
                    todo.push(value);
                    todo.extend(attrs.iter().rev().flat_map(|(k, v)| [v, k]));
                }
            }
        }
    }
}

impl Clone for Value {
    fn clone(&self) -> Self {
        match self {
            Value::Simple(b) => Value::Simple(b.clone()),
            Value::Error(b) => Value::Error(b.clone()),
            Value::Integer(n) => Value::Integer(*n),
            Value::Bulk(b) => Value::Bulk(b.clone()),
            Value::NullBulk => Value::NullBulk,
            Value::NullArray => Value::NullArray,
            Value::Null => Value::Null,
            Value::Double(b) => Value::Double(b.clone()),
            Value::Boolean(b) => Value::Boolean(*b),
            Value::BigNumber(b) => Value::BigNumber(b.clone()),
            Value::Verbatim(b) => Value::Verbatim(b.clone()),
            Value::BulkError(b) => Value::BulkError(b.clone()),
            Value::StreamedBulk(chunks) => Value::StreamedBulk(chunks.clone()),
            Value::Array(items) => Value::Array(with_stack(|| items.clone())),
            Value::Set(items) => Value::Set(with_stack(|| items.clone())),
            Value::Push(items) => Value::Push(with_stack(|| items.clone())),
            Value::Map(pairs) => Value::Map(with_stack(|| pairs.clone())),
            Value::Attributed { attrs, value } => with_stack(|| Value::Attributed {
                attrs: attrs.clone(),
                value: value.clone(),
            }),
            Value::StreamedAggregate { kind, items } => Value::StreamedAggregate {
                kind: *kind,
                items: with_stack(|| items.clone()),
            },
        }
    }
}

impl fmt::Debug for Value {
    /// As a derived `Debug` would print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn tuple(f: &mut fmt::Formatter<'_>, name: &str, inner: &dyn fmt::Debug) -> fmt::Result {
            f.debug_tuple(name).field(inner).finish()
        }
        match self {
            Value::Simple(b) => tuple(f, "Simple", b),
            Value::Error(b) => tuple(f, "Error", b),
            Value::Integer(n) => tuple(f, "Integer", n),
            Value::Bulk(b) => tuple(f, "Bulk", b),
            Value::NullBulk => f.write_str("NullBulk"),
            Value::NullArray => f.write_str("NullArray"),
            Value::Null => f.write_str("Null"),
            Value::Double(b) => tuple(f, "Double", b),
            Value::Boolean(b) => tuple(f, "Boolean", b),
            Value::BigNumber(b) => tuple(f, "BigNumber", b),
            Value::Verbatim(b) => tuple(f, "Verbatim", b),
            Value::BulkError(b) => tuple(f, "BulkError", b),
            Value::StreamedBulk(chunks) => tuple(f, "StreamedBulk", chunks),
            Value::Array(items) => with_stack(|| tuple(f, "Array", items)),
            Value::Set(items) => with_stack(|| tuple(f, "Set", items)),
            Value::Push(items) => with_stack(|| tuple(f, "Push", items)),
            Value::Map(pairs) => with_stack(|| tuple(f, "Map", pairs)),
            Value::Attributed { attrs, value } => with_stack(|| {
                f.debug_struct("Attributed")
                    .field("attrs", attrs)
                    .field("value", value)
                    .finish()
            }),
            Value::StreamedAggregate { kind, items } => with_stack(|| {
                f.debug_struct("StreamedAggregate")
                    .field("kind", kind)
                    .field("items", items)
                    .finish()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash(v: &Value) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    /// Past the reply cap, in every aggregate shape, on a thread with a
    /// tokio worker's 2 MiB stack: drop, clone, equality, hashing and
    /// `Debug` neither overflow nor disagree.
    #[test]
    fn deep_values_do_not_overflow() {
        let run = || {
            let shapes: [fn(Value) -> Value; 4] = [
                |v| Value::Array(vec![Value::Integer(0), v]),
                |v| Value::Map(vec![(Value::Null, v)]),
                |v| Value::Attributed {
                    attrs: vec![(Value::bulk("k"), Value::Set(vec![]))],
                    value: Box::new(v),
                },
                |v| Value::StreamedAggregate {
                    kind: AggregateKind::Push,
                    items: vec![v],
                },
            ];
            let mut v = Value::Integer(1);
            for i in 0..4 * 20_000 {
                v = shapes[i % shapes.len()](v);
            }
            let copy = v.clone();
            assert!(copy == v);
            assert_eq!(hash(&copy), hash(&v));
            let text = format!("{v:?}");
            assert!(text.starts_with("StreamedAggregate { kind: Push, items: [Attributed"));
            assert!(text.contains("Integer(1)"));
            drop(copy);
            let other = Value::Array(vec![v.clone()]);
            assert!(other != v);
        };
        let thread = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(run)
            .expect("spawns");
        assert!(thread.join().is_ok());
    }

    #[test]
    fn equality_and_hash_follow_the_structure() {
        let a = Value::Map(vec![(Value::bulk("k"), Value::Array(vec![Value::Null]))]);
        let b = Value::Map(vec![(
            Value::bulk("k"),
            Value::Array(vec![Value::NullBulk]),
        )]);
        assert!(a != b);
        assert!(a == a.clone());
        assert_eq!(hash(&a), hash(&a.clone()));
        assert!(Value::Array(vec![]) != Value::Set(vec![]));
        assert!(
            Value::StreamedAggregate {
                kind: AggregateKind::Set,
                items: vec![]
            } != Value::StreamedAggregate {
                kind: AggregateKind::Push,
                items: vec![]
            }
        );
        assert_eq!(format!("{:?}", Value::bulk("x")), "Bulk(b\"x\")");
    }
}
