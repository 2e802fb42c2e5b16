//! Values the client makes up: lock tokens, request ids, session ids.
//!
//! A client that sends `SET lock <uuid4> NX PX 10000` sends a fresh UUID on
//! every run, so its replay never sends the recorded one. Replay treats such
//! values as volatile: where the live command and a recording differ only by
//! random-looking tokens of the same shape, in the same places, the
//! recording answers, and the pair recorded → live is remembered for the
//! rest of the run. It is then used both ways: later commands that send the
//! live value back (`EVALSHA release 1 lock <uuid4>`) are matched as if they
//! sent the recorded one, and later replies that hold the recorded value
//! (`GET lock`, a key in `SCAN`'s reply) carry the live one. A value an
//! ignore rule let through (`SET session <any>`) is paired the same way,
//! whole.
//!
//! What counts as random-looking is narrow on purpose, so that ordinary
//! arguments never match one another: UUIDs (with or without dashes),
//! 32- and 40-digit hex strings with both digits and letters (MD5 and SHA-1
//! sized tokens, `secrets.token_hex(20)`), and base64 of 16 or more bytes
//! with upper and lower case and a digit, `+`, `/`, padding or the case
//! flips of random letters. A token is found whole
//! (bounded by characters that are not letters or digits), inside a longer
//! argument too (`lock:9f1c…`). An exact recording always wins over a
//! token match, so a script's SHA-1 sent as recorded is never re-paired.

use bytes::{Bytes, BytesMut};
use rustc_hash::FxHashMap as HashMap;

use crate::resp::Value;

/// The shortest token of any shape (base64 of 16 bytes, unpadded).
const SHORTEST: usize = 22;

/// How many mapped pairs the replay summary lists.
const LISTED: usize = 10;

/// Whole values an ignore rule let through are paired only from this
/// length: shorter ones (`1`, `OK`, a small counter) would turn up in
/// unrelated replies.
const SHORTEST_WHOLE: usize = 8;

/// The kind of a random-looking token; a live token stands in only for a
/// recorded one of the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// `8-4-4-4-12` hex digits.
    Uuid,
    /// 32 hex digits (a UUID without dashes, an MD5).
    Hex32,
    /// 40 hex digits (a SHA-1, `token_hex(20)`).
    Hex40,
    /// Base64 of 16 or more bytes.
    Base64,
}

impl Shape {
    /// What stands for a token of this shape in a command's token form.
    /// NUL-led, so no argument a client sends reads the same by accident.
    fn marker(self) -> &'static [u8] {
        match self {
            Shape::Uuid => b"\0uuid\0",
            Shape::Hex32 => b"\0hex32\0",
            Shape::Hex40 => b"\0hex40\0",
            Shape::Base64 => b"\0base64\0",
        }
    }
}

/// One token found in a value: where it is and its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Its first byte.
    pub start: usize,
    /// One past its last byte.
    pub end: usize,
    /// Its shape.
    pub shape: Shape,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// The random-looking tokens in `value`, in order.
pub fn tokens_in(value: &[u8]) -> Vec<Found> {
    let mut out = Vec::new();
    if value.len() < SHORTEST {
        return out;
    }
    let mut at = 0;
    while at < value.len() {
        // A token starts where a word does.
        if !is_base64(value[at]) || (at > 0 && is_word(value[at - 1])) {
            at += 1;
            continue;
        }
        match token_at(value, at) {
            Some(found) => {
                at = found.end;
                out.push(found);
            }
            None => {
                // Skip the rest of this word.
                at += 1;
                while at < value.len() && is_word(value[at]) {
                    at += 1;
                }
            }
        }
    }
    out
}

/// The token that starts at `at` (a word start), if one does.
fn token_at(value: &[u8], at: usize) -> Option<Found> {
    let rest = &value[at..];
    let bounded = |len: usize| rest.get(len).map_or(true, |&b| !is_word(b));
    let found = |len: usize, shape: Shape| {
        Some(Found {
            start: at,
            end: at + len,
            shape,
        })
    };
    if rest.len() >= 36 && is_uuid(&rest[..36]) && bounded(36) {
        return found(36, Shape::Uuid);
    }
    let hex = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if (hex == 32 || hex == 40) && bounded(hex) && mixed_hex(&rest[..hex]) {
        return found(
            hex,
            if hex == 32 {
                Shape::Hex32
            } else {
                Shape::Hex40
            },
        );
    }
    let body = rest.iter().take_while(|&&b| is_base64(b)).count();
    let padding = rest[body..]
        .iter()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count();
    let len = body + padding;
    let padded = padding > 0 && len % 4 == 0;
    if body >= SHORTEST && bounded(len) && random_base64(&rest[..body], padded) {
        return found(len, Shape::Base64);
    }
    None
}

fn is_uuid(v: &[u8]) -> bool {
    v.iter().enumerate().all(|(i, &b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_hexdigit(),
    })
}

/// Both digits and letters: `000…0` and `deadbeef…` repeated are not
/// random, and a random 32-digit hex string lacks either with odds of
/// about one in three million.
fn mixed_hex(v: &[u8]) -> bool {
    v.iter().any(u8::is_ascii_digit) && v.iter().any(u8::is_ascii_alphabetic)
}

/// Upper and lower case, and a sign that the text is not a word: a digit,
/// a `+` or `/`, `=` padding, or letters whose case flips the way random
/// ones do. Identifiers rarely have both cases and any of these in 22
/// characters without a separator; random base64 does. Requiring a digit
/// alone missed one random 16-byte value in forty (`XWuptsP+FsPlnsSwqNseJw==`
/// has none).
fn random_base64(v: &[u8], padded: bool) -> bool {
    if !v.iter().any(u8::is_ascii_uppercase) || !v.iter().any(u8::is_ascii_lowercase) {
        return false;
    }
    padded
        || v.iter()
            .any(|&b| b.is_ascii_digit() || b == b'+' || b == b'/')
        || random_case(v)
}

/// Letters whose case reads like coin flips rather than words: at least
/// two upper-case pairs (`HTTPServer` has acronyms, `ThisIsAName` none) and
/// a case change at one pair in three (`HTTPRequestHandlerFactory` changes
/// at one in five; random letters at one in two). Random letters fail this
/// about one time in eleven, and are asked only when an unpadded token has
/// no digit, `+` or `/` (one in a hundred): of 2 million random unpadded
/// 16-byte tokens, 0.11 % went unrecognised, against 2.4 % before.
fn random_case(v: &[u8]) -> bool {
    let pairs = v.windows(2);
    let upper_pairs = pairs
        .clone()
        .filter(|p| p[0].is_ascii_uppercase() && p[1].is_ascii_uppercase())
        .count();
    let changes = pairs
        .filter(|p| p[0].is_ascii_uppercase() != p[1].is_ascii_uppercase())
        .count();
    upper_pairs >= 2 && changes * 3 >= v.len() - 1
}

/// `args` with every token replaced by its shape's marker, or `None` when
/// no argument holds one: two commands with the same token form differ at
/// most in their tokens.
pub fn token_form(args: &[Bytes]) -> Option<Vec<Bytes>> {
    let mut out: Option<Vec<Bytes>> = None;
    for (i, arg) in args.iter().enumerate() {
        let found = tokens_in(arg);
        if found.is_empty() {
            continue;
        }
        let out = out.get_or_insert_with(|| args.to_vec());
        let mut form = BytesMut::with_capacity(arg.len());
        let mut from = 0;
        for f in found {
            form.extend_from_slice(&arg[from..f.start]);
            form.extend_from_slice(f.shape.marker());
            from = f.end;
        }
        form.extend_from_slice(&arg[from..]);
        out[i] = form.freeze();
    }
    out
}

/// The pairs of tokens at the same places in a recorded and a live
/// command of the same token form (recorded first).
pub fn pairs(recorded: &[Bytes], live: &[Bytes]) -> Vec<(Bytes, Bytes)> {
    let mut out = Vec::new();
    for (r, l) in recorded.iter().zip(live) {
        if r == l {
            continue;
        }
        let (fr, fl) = (tokens_in(r), tokens_in(l));
        if fr.len() != fl.len() {
            continue;
        }
        for (a, b) in fr.iter().zip(&fl) {
            let (a, b) = (r.slice(a.start..a.end), l.slice(b.start..b.end));
            if a != b {
                out.push((a, b));
            }
        }
    }
    out
}

/// `live` with each of its tokens replaced by the token at the same place
/// in `recorded` (same token form): the command as the recording sent it,
/// save what ignore rules and the clock look after.
pub fn as_recorded(recorded: &[Bytes], live: &[Bytes]) -> Vec<Bytes> {
    let mut out = live.to_vec();
    for (i, (r, l)) in recorded.iter().zip(live).enumerate() {
        let (fr, fl) = (tokens_in(r), tokens_in(l));
        if fr.is_empty() || fr.len() != fl.len() {
            continue;
        }
        let mut arg = BytesMut::with_capacity(l.len());
        let mut from = 0;
        for (a, b) in fr.iter().zip(&fl) {
            arg.extend_from_slice(&l[from..b.start]);
            arg.extend_from_slice(&r[a.start..a.end]);
            from = b.end;
        }
        arg.extend_from_slice(&l[from..]);
        out[i] = arg.freeze();
    }
    out
}

/// The values paired so far, both ways.
#[derive(Debug, Default)]
pub struct TokenMap {
    /// recorded → live: what replies give back.
    to_live: HashMap<Bytes, Bytes>,
    /// live → recorded: what later commands are matched as.
    to_recorded: HashMap<Bytes, Bytes>,
    /// Pairs in the order they were learned, for the summary.
    learned: Vec<(Bytes, Bytes)>,
    /// Whether any paired value is a token (looked for inside values) or
    /// only whole values (compared whole).
    inner: bool,
}

impl TokenMap {
    /// Nothing paired yet: the common case, which costs nothing.
    pub fn is_empty(&self) -> bool {
        self.to_live.is_empty()
    }

    /// Whether recorded value `recorded` may stand for live `live`: it is
    /// not already paired with another live value.
    pub fn fits(&self, recorded: &Bytes, live: &Bytes) -> bool {
        self.to_live.get(recorded).map_or(true, |l| l == live)
    }

    /// Pairs a recorded token with the live one that stood for it. The
    /// latest pairing of a recorded value is the one replies give back.
    pub fn learn(&mut self, recorded: Bytes, live: Bytes) {
        if recorded == live || self.to_live.get(&recorded) == Some(&live) {
            return;
        }
        self.inner |= !tokens_in(&recorded).is_empty();
        self.to_recorded.insert(live.clone(), recorded.clone());
        self.to_live.insert(recorded.clone(), live.clone());
        self.learned.push((recorded, live));
    }

    /// Pairs a whole value an ignore rule let through, when it is long
    /// enough to be told apart from ordinary replies.
    pub fn learn_whole(&mut self, recorded: &Bytes, live: &Bytes) {
        if recorded.len() >= SHORTEST_WHOLE && live.len() >= SHORTEST_WHOLE {
            self.learn(recorded.clone(), live.clone());
        }
    }

    /// `args` with every live value paired so far replaced by its recorded
    /// one, or `None` when none appears.
    pub fn to_recorded(&self, args: &[Bytes]) -> Option<Vec<Bytes>> {
        if self.is_empty() {
            return None;
        }
        let mut out: Option<Vec<Bytes>> = None;
        for (i, arg) in args.iter().enumerate() {
            if let Some(mapped) = self.replace(arg, &self.to_recorded) {
                out.get_or_insert_with(|| args.to_vec())[i] = mapped;
            }
        }
        out
    }

    /// `reply` with every recorded value paired so far replaced by its live
    /// one, or `None` when none appears.
    pub fn to_live(&self, reply: &Value) -> Option<Value> {
        if self.is_empty() {
            return None;
        }
        let map = |v: &Value| self.to_live(v);
        let each = |items: &[Value]| -> Option<Vec<Value>> {
            let mapped: Vec<Option<Value>> = items.iter().map(map).collect();
            mapped.iter().any(Option::is_some).then(|| {
                mapped
                    .into_iter()
                    .zip(items)
                    .map(|(m, v)| m.unwrap_or_else(|| v.clone()))
                    .collect()
            })
        };
        let pairs = |items: &[(Value, Value)]| -> Option<Vec<(Value, Value)>> {
            let mapped: Vec<(Option<Value>, Option<Value>)> =
                items.iter().map(|(k, v)| (map(k), map(v))).collect();
            mapped
                .iter()
                .any(|(k, v)| k.is_some() || v.is_some())
                .then(|| {
                    mapped
                        .into_iter()
                        .zip(items)
                        .map(|((mk, mv), (k, v))| {
                            (
                                mk.unwrap_or_else(|| k.clone()),
                                mv.unwrap_or_else(|| v.clone()),
                            )
                        })
                        .collect()
                })
        };
        match reply {
            Value::Bulk(b) => self.replace(b, &self.to_live).map(Value::Bulk),
            Value::Simple(b) => self.replace(b, &self.to_live).map(Value::Simple),
            Value::Verbatim(b) => self.replace(b, &self.to_live).map(Value::Verbatim),
            Value::Array(items) => each(items).map(Value::Array),
            Value::Set(items) => each(items).map(Value::Set),
            Value::Push(items) => each(items).map(Value::Push),
            Value::Map(items) => pairs(items).map(Value::Map),
            Value::Attributed { attrs, value } => {
                let (a, v) = (pairs(attrs), map(value));
                (a.is_some() || v.is_some()).then(|| Value::Attributed {
                    attrs: a.unwrap_or_else(|| attrs.clone()),
                    value: Box::new(v.unwrap_or_else(|| (**value).clone())),
                })
            }
            _ => None,
        }
    }

    /// `value` with what `map` pairs replaced: the whole value, or each
    /// paired token inside it.
    fn replace(&self, value: &Bytes, map: &HashMap<Bytes, Bytes>) -> Option<Bytes> {
        if let Some(whole) = map.get(value) {
            return Some(whole.clone());
        }
        if !self.inner || value.len() < SHORTEST {
            return None;
        }
        let found = tokens_in(value);
        if !found
            .iter()
            .any(|f| map.contains_key(&value[f.start..f.end]))
        {
            return None;
        }
        let mut out = BytesMut::with_capacity(value.len());
        let mut from = 0;
        for f in found {
            if let Some(to) = map.get(&value[f.start..f.end]) {
                out.extend_from_slice(&value[from..f.start]);
                out.extend_from_slice(to);
                from = f.end;
            }
        }
        out.extend_from_slice(&value[from..]);
        Some(out.freeze())
    }

    /// How many values were paired.
    pub fn count(&self) -> usize {
        self.learned.len()
    }

    /// The first few pairs, displayed `recorded → live`, for the summary.
    pub fn examples(&self) -> Vec<String> {
        self.learned
            .iter()
            .take(LISTED)
            .map(|(r, l)| {
                format!(
                    "{} -> {}",
                    String::from_utf8_lossy(r),
                    String::from_utf8_lossy(l)
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn shapes(s: &str) -> Vec<Shape> {
        tokens_in(s.as_bytes()).iter().map(|f| f.shape).collect()
    }

    #[test]
    fn finds_each_shape_whole_and_inside_keys() {
        assert_eq!(
            shapes("0f8fad5b-d9cb-469f-a165-70867728950e"),
            [Shape::Uuid]
        );
        assert_eq!(shapes("0f8fad5bd9cb469fa16570867728950e"), [Shape::Hex32]);
        assert_eq!(
            shapes("lock:0f8fad5bd9cb469fa16570867728950e:owner"),
            [Shape::Hex32]
        );
        assert_eq!(
            shapes("a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
            [Shape::Hex40]
        );
        assert_eq!(shapes("q83vEjRWeJq83vEjRWeJqw=="), [Shape::Base64]);
        assert_eq!(shapes("q83vEjRWeJq83vEjRWeJqw"), [Shape::Base64]);
    }

    /// Random base64 without a digit: a tenth of tokens lack one, and a
    /// client test lost a replay to one (`b64encode(os.urandom(16))`).
    #[test]
    fn base64_without_digits_is_still_a_token() {
        assert_eq!(shapes("XWuptsP+FsPlnsSwqNseJw=="), [Shape::Base64]);
        assert_eq!(shapes("XWuptsPqFsPlnsSwqNseJw=="), [Shape::Base64]);
        assert_eq!(shapes("XWuptsPqFSPlnsSwQNseJw"), [Shape::Base64]);
        assert_eq!(shapes("lock:kQzRTbWuXYeaPmNvLsJdHw"), [Shape::Base64]);
    }

    #[test]
    fn ordinary_arguments_are_not_tokens() {
        for s in [
            "00000000000000000000000000000000",
            "abcdefabcdefabcdefabcdefabcdefab",
            "0f8fad5bd9cb469fa16570867728950e1", // 33 digits
            "user:session:expires_at:timestamp",
            "ThisIsAnOrdinaryIdentifierName",
            "HTTPRequestHandlerFactoryBean",
            "XMLHttpRequestUploadProgressEvent",
            "key:000000012345",
            "x0f8fad5bd9cb469fa16570867728950e",
        ] {
            assert!(shapes(s).is_empty(), "{s}");
        }
    }

    #[test]
    fn token_form_and_pairs() {
        let rec = [b("SET"), b("req:0f8fad5bd9cb469fa16570867728950e"), b("v")];
        let live = [b("SET"), b("req:9a1b2c3d4e5f60718293a4b5c6d7e8f9"), b("v")];
        assert_eq!(token_form(&rec), token_form(&live));
        assert!(token_form(&[b("GET"), b("plain")]).is_none());
        assert_eq!(
            pairs(&rec, &live),
            [(
                b("0f8fad5bd9cb469fa16570867728950e"),
                b("9a1b2c3d4e5f60718293a4b5c6d7e8f9")
            )]
        );
        assert_eq!(as_recorded(&rec, &live), rec.to_vec());
    }

    #[test]
    fn a_pair_flows_both_ways() {
        let mut map = TokenMap::default();
        let (r, l) = (
            b("0f8fad5b-d9cb-469f-a165-70867728950e"),
            b("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
        );
        map.learn(r.clone(), l.clone());
        let sent = [b("EVALSHA"), b("sha"), b("1"), b("lock"), l.clone()];
        assert_eq!(map.to_recorded(&sent).unwrap()[4], r);
        assert_eq!(
            map.to_live(&Value::Bulk(r.clone())),
            Some(Value::Bulk(l.clone()))
        );
        let job =
            |t: &Bytes| Value::Bulk(Bytes::from(format!("job:{}", String::from_utf8_lossy(t))));
        let inside = Value::Array(vec![Value::Bulk(b("x")), job(&r)]);
        assert_eq!(
            map.to_live(&inside),
            Some(Value::Array(vec![Value::Bulk(b("x")), job(&l)]))
        );
        assert!(map.to_live(&Value::Bulk(b("unrelated"))).is_none());
        assert!(!map.fits(&r, &b("other")));
    }

    #[test]
    fn short_whole_values_are_not_paired() {
        let mut map = TokenMap::default();
        map.learn_whole(&b("1"), &b("2"));
        assert!(map.is_empty());
        map.learn_whole(&b("session-aaaa"), &b("session-bbbb"));
        assert_eq!(
            map.to_live(&Value::Bulk(b("session-aaaa"))),
            Some(Value::Bulk(b("session-bbbb")))
        );
    }
}
