//! What kind of volatile value an argument is, told from the two values
//! two runs sent in its place, and the narrowest pattern token that covers
//! it: a glob keeping the stable prefix of a key (`lock:*`), else `<any>`.

use bytes::Bytes;

use crate::replay::tokens::tokens_in;

/// Why an argument differs between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A UUID, a 32- or 40-digit hex string, or base64 of 16+ bytes.
    Token,
    /// Seconds or milliseconds since the epoch, near the recording's time.
    Timestamp,
    /// An integer that moved a little (a counter, a sequence number).
    Counter,
    /// A stable prefix and a random suffix (`lock:9f1c…`).
    KeySuffix,
    /// Any other value that differs.
    Value,
}

impl Kind {
    /// How a proposal names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Token => "random token",
            Kind::Timestamp => "timestamp",
            Kind::Counter => "counter",
            Kind::KeySuffix => "random key suffix",
            Kind::Value => "value",
        }
    }
}

/// A pattern token for one argument position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// The same in every run: written as is.
    Exact(Bytes),
    /// `prefix*`: the prefix is kept, the rest ignored.
    Glob(Bytes),
    /// `<any>`.
    Any,
}

/// Characters after which a key's random part usually starts.
fn is_separator(b: u8) -> bool {
    matches!(
        b,
        b':' | b'/' | b'.' | b'_' | b'-' | b'{' | b'|' | b'#' | b'='
    )
}

/// How far apart a timestamp may be from the recording's start (`created`)
/// and still be read as "now": a test run's clock, not a date in the data.
const NEAR_SECONDS: f64 = 2.0 * 24.0 * 3600.0;

/// Classifies two values of one position (`a` from a run that started at
/// `a_secs` since the epoch, `b` at `b_secs`), with the token that covers
/// both.
pub fn classify(a: &Bytes, b: &Bytes, a_secs: Option<f64>, b_secs: Option<f64>) -> (Kind, Token) {
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        let near = |v: f64, at: Option<f64>| {
            at.is_some_and(|at| {
                (v - at).abs() < NEAR_SECONDS || (v / 1000.0 - at).abs() < NEAR_SECONDS
            })
        };
        if near(x, a_secs) && near(y, b_secs) {
            return (Kind::Timestamp, Token::Any);
        }
        if x.fract() == 0.0 && y.fract() == 0.0 {
            return (Kind::Counter, Token::Any);
        }
        return (Kind::Value, Token::Any);
    }
    let prefix = common_prefix(a, b);
    let whole_token = |v: &Bytes| {
        let found = tokens_in(v);
        found.len() == 1 && found[0].start == 0 && found[0].end == v.len()
    };
    if whole_token(a) && whole_token(b) {
        return (Kind::Token, Token::Any);
    }
    // The stable part of a key: up to its last separator.
    if let Some(cut) = a[..prefix].iter().rposition(|&c| is_separator(c)) {
        let kind = if tokens_in(&a[cut + 1..]).is_empty() && tokens_in(&b[cut + 1..]).is_empty() {
            Kind::KeySuffix
        } else {
            Kind::Token
        };
        return (kind, Token::Glob(a.slice(..cut + 1)));
    }
    (Kind::Value, Token::Any)
}

/// The value as a number, when it is one (`1733550000`, `1733550000.25`).
fn number(v: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(v).ok()?;
    if text.is_empty() || text.len() > 24 {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The token covering two tokens of one position in different occurrences:
/// the same glob stays; globs with a common separator-ended prefix keep it;
/// anything else becomes `<any>`.
pub fn widen(x: &Token, y: &Token) -> Token {
    match (x, y) {
        (a, b) if a == b => a.clone(),
        (Token::Glob(p), Token::Glob(q)) => {
            let shared = common_prefix(p, q);
            match p[..shared].iter().rposition(|&c| is_separator(c)) {
                Some(cut) => Token::Glob(p.slice(..cut + 1)),
                None => Token::Any,
            }
        }
        _ => Token::Any,
    }
}

/// A token as rule text: quoted (redis-cli style) when it holds a space, a
/// quote or bytes that are not printable, so the rule parser reads it back
/// as the same word.
pub fn written(token: &Token) -> String {
    match token {
        Token::Any => "<any>".to_string(),
        Token::Glob(prefix) => quoted(&[&prefix[..], b"*"].concat()),
        Token::Exact(value) => quoted(value),
    }
}

fn quoted(word: &[u8]) -> String {
    let plain = !word.is_empty()
        && word
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        String::from_utf8_lossy(word).into_owned()
    } else {
        crate::replay::display::repr(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn tells_kinds_apart() {
        let at = Some(1_765_000_000.0);
        let c = |x: &str, y: &str| classify(&b(x), &b(y), at, at);
        assert_eq!(
            c(
                "lock:0f8fad5b-d9cb-469f-a165-70867728950e",
                "lock:9a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9"
            ),
            (Kind::Token, Token::Glob(b("lock:")))
        );
        assert_eq!(
            c(
                "0f8fad5bd9cb469fa16570867728950e",
                "9a1b2c3d4e5f60718293a4b5c6d7e8f9"
            ),
            (Kind::Token, Token::Any)
        );
        assert_eq!(
            c("1765000012.5", "1765000099.25"),
            (Kind::Timestamp, Token::Any)
        );
        assert_eq!(
            c("1765000012500", "1765000099250"),
            (Kind::Timestamp, Token::Any)
        );
        assert_eq!(c("41", "42"), (Kind::Counter, Token::Any));
        assert_eq!(
            c("job:alpha", "job:beta"),
            (Kind::KeySuffix, Token::Glob(b("job:")))
        );
        assert_eq!(c("alpha", "beta"), (Kind::Value, Token::Any));
    }

    #[test]
    fn widening_keeps_the_shared_prefix() {
        let g = |s: &str| Token::Glob(b(s));
        assert_eq!(widen(&g("a:b:"), &g("a:c:")), g("a:"));
        assert_eq!(widen(&g("ab:"), &g("cd:")), Token::Any);
        assert_eq!(widen(&Token::Exact(b("x")), &g("x:")), Token::Any);
    }

    #[test]
    fn written_tokens_read_back() {
        assert_eq!(written(&Token::Glob(b("lock:"))), "lock:*");
        assert_eq!(written(&Token::Exact(b("a b"))), "\"a b\"");
        assert_eq!(written(&Token::Any), "<any>");
    }
}
