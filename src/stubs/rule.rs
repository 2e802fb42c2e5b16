//! One stub rule: a command pattern (the `--ignore` syntax, with `{name}`
//! captures) and the replies it answers with, and its options.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::shown::parse_shown;
use crate::resp::Value;

/// A stub as written: a `[[stub]]` table of a stub file, or the JSON of
/// `POST /stubs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StubSpec {
    /// The command it answers: `GET user:{id}`, `HGETALL user:*`, `SET k
    /// <any> ...`. `PATTERN => REPLY` names the reply too.
    pub pattern: String,
    /// The reply, as `resplay show` prints it (`"v"`, `(integer) 3`,
    /// `(nil)`, `(error) ERR x`, `1) "a"` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// A sequence: the first call gets the first, and so on; the last
    /// repeats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replies: Vec<String>,
    /// The reply as cassette JSON (`{"map": [...]}`, `{"int": 3}` …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<serde_json::Value>,
    /// An error reply: `LOADING Redis is loading the dataset in memory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Answer at most this many calls; later ones go to the cassette.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Answer only the K-th call that fits (1 = the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth: Option<u64>,
    /// Wait this long before answering (`50ms`, `2s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// Only in this database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<u32>,
}

/// One argument of a pattern.
#[derive(Debug, Clone)]
enum Token {
    Any,
    Rest,
    /// Literal bytes, `*` globs and `{name}` captures.
    Template(Vec<Part>),
}

#[derive(Debug, Clone)]
enum Part {
    Lit(Vec<u8>),
    Star,
    Capture(String),
}

/// A stub ready to answer.
#[derive(Debug)]
pub(super) struct Stub {
    pub spec: StubSpec,
    name: String,
    any_name: bool,
    args: Vec<Token>,
    replies: Vec<Value>,
    has_captures: bool,
    pub delay: Duration,
    /// Calls that fit it (in its database).
    pub seen: u64,
    /// Calls it answered.
    pub answered: u64,
}

impl StubSpec {
    /// A spec from one line, `PATTERN => REPLY`.
    pub fn line(text: &str) -> StubSpec {
        StubSpec {
            pattern: text.to_string(),
            reply: None,
            replies: Vec::new(),
            json: None,
            error: None,
            times: None,
            nth: None,
            delay: None,
            db: None,
        }
    }
}

impl Stub {
    /// Checks and compiles a spec; the error says what is wrong.
    pub fn new(mut spec: StubSpec) -> Result<Stub, String> {
        let given = usize::from(spec.reply.is_some())
            + usize::from(!spec.replies.is_empty())
            + usize::from(spec.json.is_some())
            + usize::from(spec.error.is_some());
        let mut pattern = spec.pattern.clone();
        if given == 0 {
            let (p, r) = spec.pattern.split_once(" => ").ok_or_else(|| {
                format!(
                    "stub '{}': no reply (reply, replies, json, error, or 'PATTERN => REPLY')",
                    spec.pattern
                )
            })?;
            pattern = p.trim().to_string();
            spec.reply = Some(r.trim().to_string());
            spec.pattern = pattern.clone();
        } else if given > 1 {
            return Err(format!(
                "stub '{}': give one of reply, replies, json, error",
                spec.pattern
            ));
        } else if spec.pattern.contains(" => ") {
            return Err(format!(
                "stub '{}': the reply is given twice (after '=>', and as reply, replies, json \
                 or error)",
                spec.pattern
            ));
        }
        let err = |e: String| format!("stub '{pattern}': {e}");
        let replies = if let Some(json) = &spec.json {
            let text = serde_json::to_vec(json).map_err(|e| err(e.to_string()))?;
            vec![crate::cassette::json::from_json(&text).map_err(|e| err(format!("json: {e}")))?]
        } else if let Some(error) = &spec.error {
            vec![Value::Error(Bytes::from(error.clone()))]
        } else if let Some(reply) = &spec.reply {
            vec![parse_shown(reply).map_err(err)?]
        } else {
            spec.replies
                .iter()
                .map(|r| parse_shown(r).map_err(err))
                .collect::<Result<_, _>>()?
        };
        if spec.nth == Some(0) {
            return Err(err("nth counts from 1".into()));
        }
        let delay = match &spec.delay {
            Some(d) => humantime::parse_duration(d).map_err(|e| err(format!("delay {d}: {e}")))?,
            None => Duration::ZERO,
        };
        let words = crate::resp::inline::split_args(pattern.as_bytes())
            .ok_or_else(|| err("unbalanced quotes".into()))?;
        let (name, rest) = words
            .split_first()
            .ok_or_else(|| err("empty pattern".into()))?;
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        let mut args = Vec::new();
        for (i, word) in rest.iter().enumerate() {
            args.push(match &word[..] {
                b"<any>" => Token::Any,
                b"..." if i + 1 == rest.len() => Token::Rest,
                b"..." => return Err(err("'...' may only be the last token".into())),
                w => Token::Template(template(w).map_err(err)?),
            });
        }
        let has_captures = args.iter().any(|t| match t {
            Token::Template(parts) => parts.iter().any(|p| matches!(p, Part::Capture(_))),
            _ => false,
        });
        Ok(Stub {
            any_name: name == "*",
            name,
            args,
            replies,
            has_captures,
            delay,
            seen: 0,
            answered: 0,
            spec,
        })
    }

    /// The captures when `args` fit the pattern (empty without any).
    fn fit(&self, args: &[Bytes]) -> Option<Vec<(String, Bytes)>> {
        let name = args.first()?;
        if !self.any_name && !name.eq_ignore_ascii_case(self.name.as_bytes()) {
            return None;
        }
        let rest = &args[1..];
        let has_rest = matches!(self.args.last(), Some(Token::Rest));
        let fixed = self.args.len() - usize::from(has_rest);
        if rest.len() < fixed || (!has_rest && rest.len() != fixed) {
            return None;
        }
        let mut captures = Vec::new();
        for (token, arg) in self.args.iter().zip(rest) {
            if let Token::Template(parts) = token {
                if !fits(parts, arg, &mut captures) {
                    return None;
                }
            }
        }
        Some(captures)
    }

    /// The reply for a call that fits, if this stub answers it now.
    pub fn answer(&mut self, args: &[Bytes], db: u32) -> Option<Value> {
        if self.spec.db.is_some_and(|d| d != db) {
            return None;
        }
        let captures = self.fit(args)?;
        self.seen += 1;
        if self.spec.nth.is_some_and(|k| k != self.seen) {
            return None;
        }
        if self.spec.times.is_some_and(|t| self.answered >= t) {
            return None;
        }
        let at = (self.answered as usize).min(self.replies.len() - 1);
        self.answered += 1;
        let reply = &self.replies[at];
        Some(if self.has_captures {
            fill(reply, &captures)
        } else {
            reply.clone()
        })
    }
}

/// A pattern argument's parts: literal bytes, `*`, `{name}`.
fn template(word: &[u8]) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < word.len() {
        match word[i] {
            b'*' => {
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Star);
                i += 1;
            }
            b'{' => {
                let end = word[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("unclosed '{' in a capture")?;
                let name = String::from_utf8_lossy(&word[i + 1..i + end]).into_owned();
                if name.is_empty() {
                    return Err("a capture needs a name: {id}".into());
                }
                if !lit.is_empty() {
                    parts.push(Part::Lit(std::mem::take(&mut lit)));
                }
                parts.push(Part::Capture(name));
                i += end + 1;
            }
            b => {
                lit.push(b);
                i += 1;
            }
        }
    }
    if !lit.is_empty() || parts.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
}

/// Whether `arg` fits `parts`; the captures it makes are added.
fn fits(parts: &[Part], arg: &[u8], captures: &mut Vec<(String, Bytes)>) -> bool {
    match parts.split_first() {
        None => arg.is_empty(),
        Some((Part::Lit(lit), rest)) => {
            arg.starts_with(lit) && fits(rest, &arg[lit.len()..], captures)
        }
        Some((open, rest)) => {
            let mark = captures.len();
            for cut in 0..=arg.len() {
                if let Part::Capture(name) = open {
                    captures.push((name.clone(), Bytes::copy_from_slice(&arg[..cut])));
                }
                if fits(rest, &arg[cut..], captures) {
                    return true;
                }
                captures.truncate(mark);
            }
            false
        }
    }
}

/// `value` with every `{name}` in its strings replaced by the capture.
fn fill(value: &Value, captures: &[(String, Bytes)]) -> Value {
    let text = |b: &Bytes| {
        let mut out = b.to_vec();
        for (name, bytes) in captures {
            let key = format!("{{{name}}}");
            out = replace(&out, key.as_bytes(), bytes);
        }
        Bytes::from(out)
    };
    let all = |items: &[Value]| items.iter().map(|v| fill(v, captures)).collect();
    match value {
        Value::Bulk(b) => Value::Bulk(text(b)),
        Value::Simple(b) => Value::Simple(text(b)),
        Value::Error(b) => Value::Error(text(b)),
        Value::Verbatim(b) => Value::Verbatim(text(b)),
        Value::Array(v) => Value::Array(all(v)),
        Value::Set(v) => Value::Set(all(v)),
        Value::Push(v) => Value::Push(all(v)),
        Value::Map(pairs) => Value::Map(
            pairs
                .iter()
                .map(|(k, v)| (fill(k, captures), fill(v, captures)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}
