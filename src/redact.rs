//! Redaction rules: secrets stored *in* Redis (session tokens, API keys,
//! personal data) replaced by placeholders before they reach a cassette.
//!
//! A rule is `PATTERN => TARGET [TARGET]...`: the pattern is the `--ignore`
//! syntax read the fault-rule way (`*` = any command), as a prefix: it
//! matches every command that starts with it (`SET session:*` covers
//! `SET session:x v EX 60`; a bare name = any arguments). Each target says what to replace in the commands it
//! matches:
//!
//! - `arg=N`: argument N (the command name is 0: `SET k v` has `v` at 2);
//! - `reply`: every bulk string (and verbatim string, streamed chunk) in the
//!   reply, at any depth;
//! - `field=GLOB`: the value of each field whose name fits the glob, in
//!   field/value pairs: `HSET`/`HMSET`/`HSETNX` arguments (`MSET`/`MSETNX`
//!   key/value pairs too), map replies and flat even arrays (`HGETALL`
//!   under RESP3 and RESP2), `HMGET` replies (by the fields asked) and
//!   `HGET` replies;
//! - `regex=RE`: every match of RE inside any argument (not the name) or
//!   reply string; must be the last target (it takes the rest of the text).
//!
//! A replacement is `<redacted:HEX8>`, the first 8 hex digits of
//! HMAC-SHA256(salt, value): the same value gets the same placeholder
//! everywhere in a cassette, and a live value at replay time gets the one
//! it got when recorded (the salt is in the cassette header). Structure is
//! kept: a bulk string stays a bulk string, arrays and maps keep their
//! lengths; integers, doubles, simple strings and errors are left alone.

use crate::command::secret::SecretKey;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;

use crate::pattern::{glob_match, CommandPattern};
use crate::resp::Value;

/// What a rule replaces.
#[derive(Debug, Clone)]
pub enum Target {
    /// One argument position (the name is 0).
    Arg(usize),
    /// Every string in the reply.
    Reply,
    /// Values of fields whose name fits the glob.
    Field(String),
    /// Every match of the regex in arguments and reply strings.
    Regex(regex::bytes::Regex),
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Target::Arg(a), Target::Arg(b)) => a == b,
            (Target::Reply, Target::Reply) => true,
            (Target::Field(a), Target::Field(b)) => a == b,
            (Target::Regex(a), Target::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}
impl Eq for Target {}

/// One redaction rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactRule {
    /// The rule as written, for messages.
    pub text: String,
    pattern: CommandPattern,
    targets: Vec<Target>,
}

/// A rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid redaction rule '{rule}': {reason}")]
pub struct RedactRuleError {
    /// The rule as written.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

impl std::str::FromStr for RedactRule {
    type Err = RedactRuleError;

    fn from_str(text: &str) -> Result<Self, RedactRuleError> {
        let err = |reason: String| RedactRuleError {
            rule: text.to_string(),
            reason,
        };
        let (pattern, targets) = text
            .split_once("=>")
            .ok_or_else(|| err("expected 'PATTERN => arg=N|reply|field=GLOB|regex=RE'".into()))?;
        let mut parsed = Vec::new();
        let mut rest = targets.trim();
        while !rest.is_empty() {
            if let Some(re) = rest.strip_prefix("regex=") {
                parsed.push(regex_target(re).map_err(err)?);
                break;
            }
            let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            rest = tail.trim_start();
            parsed.push(match word.split_once('=') {
                None if word == "reply" => Target::Reply,
                Some(("arg", n)) => arg_target(n.parse().ok()).map_err(err)?,
                Some(("field", glob)) if !glob.is_empty() => Target::Field(glob.to_string()),
                _ => {
                    return Err(err(format!(
                        "unknown target '{word}': use arg=N, reply, field=GLOB or regex=RE"
                    )))
                }
            });
        }
        RedactRule::new(text.trim(), pattern.trim(), parsed).map_err(err)
    }
}

fn arg_target(n: Option<usize>) -> Result<Target, String> {
    match n {
        Some(n) if n >= 1 => Ok(Target::Arg(n)),
        _ => Err("arg=N takes a position from 1 (the command name is 0)".into()),
    }
}

fn regex_target(re: &str) -> Result<Target, String> {
    if re.is_empty() {
        return Err("regex= needs a regular expression".into());
    }
    regex::bytes::Regex::new(re)
        .map(Target::Regex)
        .map_err(|e| format!("bad regex: {e}"))
}

impl RedactRule {
    fn new(text: &str, pattern: &str, targets: Vec<Target>) -> Result<RedactRule, String> {
        let pattern = CommandPattern::parse(pattern)
            .map_err(str::to_string)?
            .for_redaction();
        if targets.is_empty() {
            return Err("no target: give arg=N, reply, field=GLOB or regex=RE".into());
        }
        Ok(RedactRule {
            text: text.to_string(),
            pattern,
            targets,
        })
    }

    /// The config file's table form.
    pub fn from_table(table: RedactTable) -> Result<RedactRule, RedactRuleError> {
        let mut shown = format!("{} =>", table.pattern);
        let mut targets = Vec::new();
        let mut problem = None;
        if let Some(n) = table.arg {
            shown.push_str(&format!(" arg={n}"));
            targets.push(arg_target(Some(n)).map_err(|e| problem.get_or_insert(e).clone()));
        }
        if table.reply == Some(true) {
            shown.push_str(" reply");
            targets.push(Ok(Target::Reply));
        }
        if let Some(glob) = &table.field {
            shown.push_str(&format!(" field={glob}"));
            targets.push(Ok(Target::Field(glob.clone())));
        }
        if let Some(re) = &table.regex {
            shown.push_str(&format!(" regex={re}"));
            targets.push(regex_target(re));
        }
        let err = |reason: String| RedactRuleError {
            rule: shown.clone(),
            reason,
        };
        let targets = targets
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        RedactRule::new(&shown, &table.pattern, targets).map_err(err)
    }
}

/// The `[[redact]]` table of the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactTable {
    /// The command pattern.
    #[serde(rename = "match")]
    pub pattern: String,
    /// An argument position to replace.
    pub arg: Option<usize>,
    /// Replace the reply's strings.
    pub reply: Option<bool>,
    /// A field-name glob.
    pub field: Option<String>,
    /// A regular expression.
    pub regex: Option<String>,
}

impl<'de> Deserialize<'de> for RedactRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RedactRule::from_table(RedactTable::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The rules of one recording (or replay, or `resplay redact` run) with
/// their salt, counting how many commands each rule matched.
#[derive(Debug, Clone)]
pub struct Redactor {
    rules: Arc<[RedactRule]>,
    hits: Arc<[AtomicU64]>,
    key: SecretKey,
    salt: String,
}

/// The start of every placeholder; a value that starts with it is never
/// redacted again (so redacting twice changes nothing).
pub use crate::command::secret::PLACEHOLDER_PREFIX;

impl Redactor {
    /// Rules under `salt` (hex text; the empty salt is allowed).
    pub fn new(rules: Vec<RedactRule>, salt: &str) -> Redactor {
        let hits = rules.iter().map(|_| AtomicU64::new(0)).collect();
        Redactor {
            rules: rules.into(),
            hits,
            key: SecretKey::new(salt),
            salt: salt.to_string(),
        }
    }

    /// A fresh random salt: 16 bytes, hex.
    pub fn fresh_salt() -> String {
        format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
    }

    /// The same rules (and counters) under another salt.
    pub fn with_salt(&self, salt: &str) -> Redactor {
        Redactor {
            key: SecretKey::new(salt),
            salt: salt.to_string(),
            ..self.clone()
        }
    }

    /// The salt, for the cassette header.
    pub fn salt(&self) -> &str {
        &self.salt
    }

    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules that matched no command so far.
    pub fn unmatched(&self) -> Vec<&str> {
        self.rules
            .iter()
            .zip(self.hits.iter())
            .filter(|(_, h)| h.load(Ordering::Relaxed) == 0)
            .map(|(r, _)| r.text.as_str())
            .collect()
    }

    /// Prints a warning naming every rule that matched nothing.
    pub fn warn_unmatched(&self) {
        for rule in self.unmatched() {
            eprintln!("resplay: warning: redaction rule '{rule}' matched no command");
        }
    }

    /// The placeholder of one value.
    pub fn placeholder(&self, value: &[u8]) -> Bytes {
        self.key.placeholder(value)
    }

    fn replace(&self, value: &mut Bytes) {
        if !value.is_empty() && !value.starts_with(PLACEHOLDER_PREFIX.as_bytes()) {
            *value = self.placeholder(value);
        }
    }

    fn replace_regex(&self, re: &regex::bytes::Regex, value: &mut Bytes) {
        if value.starts_with(PLACEHOLDER_PREFIX.as_bytes()) || !re.is_match(value) {
            return;
        }
        // Placeholders already in the value (a second redaction, or a
        // second rule) are left whole: a match that touches one keeps its
        // text, so redacting again changes nothing.
        let kept = Self::placeholder_spans(value);
        let out = re.replace_all(value, |c: &regex::bytes::Captures| {
            let m = c.get(0).expect("the whole match");
            let touches = kept.iter().any(|&(s, e)| m.start() < e && s < m.end());
            if touches {
                m.as_bytes().to_vec()
            } else if m.is_empty() {
                Vec::new()
            } else {
                self.placeholder(m.as_bytes()).to_vec()
            }
        });
        *value = Bytes::from(out.into_owned());
    }

    /// Where `<redacted…>` placeholders stand in `value`, as byte ranges.
    fn placeholder_spans(value: &[u8]) -> Vec<(usize, usize)> {
        let prefix = PLACEHOLDER_PREFIX.as_bytes();
        let mut spans = Vec::new();
        let mut from = 0;
        while let Some(at) = memchr::memmem::find(&value[from..], prefix).map(|i| from + i) {
            let Some(end) = memchr::memchr(b'>', &value[at..]).map(|i| at + i + 1) else {
                break;
            };
            spans.push((at, end));
            from = end;
        }
        spans
    }

    /// The indexes of the rules that apply to `args` (counted as matches).
    fn applying(&self, args: &[Bytes], count: bool) -> Vec<usize> {
        let found: Vec<usize> = (0..self.rules.len())
            .filter(|&i| self.rules[i].pattern.matches(args))
            .collect();
        if count {
            for &i in &found {
                self.hits[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        found
    }

    /// Redacts an interaction in place: the command's arguments and its
    /// replies. `count` notes the matches for [`Redactor::unmatched`].
    /// Returns false when no rule applied (nothing changed).
    pub fn interaction(&self, cmd: &mut [Bytes], replies: &mut [Value], count: bool) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let found = self.applying(cmd, count);
        if found.is_empty() {
            return false;
        }
        // Reply targets read the command as sent (HMGET's fields).
        let original = cmd.to_vec();
        for &i in &found {
            for target in &self.rules[i].targets {
                for reply in replies.iter_mut() {
                    self.reply_target(target, &original, reply);
                }
                self.args_target(target, cmd);
            }
        }
        true
    }

    /// Redacts a pub/sub message push the way its `PUBLISH` is redacted:
    /// the rules that apply to `PUBLISH channel message` (`SPUBLISH` for a
    /// shard message) apply to the message delivered, so a secret published
    /// to a subscriber does not reach the cassette through the push.
    /// Returns false when nothing changed (other pushes are left alone).
    pub fn push(&self, push: &mut Value) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let (verb, channel_at, payload_at): (&'static [u8], usize, usize) =
            match crate::command::pubsub_kind(push).as_deref() {
                Some("message") => (b"PUBLISH", 1, 2),
                Some("pmessage") => (b"PUBLISH", 2, 3),
                Some("smessage") => (b"SPUBLISH", 1, 2),
                _ => return false,
            };
        let items = match push {
            Value::Push(items) | Value::Array(items) => items,
            _ => return false,
        };
        let (Some(channel), Some(payload)) = (
            items.get(channel_at).and_then(Value::as_bytes),
            items.get(payload_at).and_then(Value::as_bytes),
        ) else {
            return false;
        };
        let mut publish = vec![
            Bytes::from_static(verb),
            Bytes::copy_from_slice(channel),
            Bytes::copy_from_slice(payload),
        ];
        let before = publish[2].clone();
        if !self.interaction(&mut publish, &mut [], false) || publish[2] == before {
            return false;
        }
        items[payload_at] = Value::Bulk(publish[2].clone());
        true
    }

    /// Redacts a live command's arguments the way the recording's were, so
    /// it matches them (replay).
    pub fn command(&self, cmd: &mut [Bytes]) -> bool {
        self.interaction(cmd, &mut [], false)
    }

    /// True when some rule may change `args` (callers copy only then).
    pub fn applies(&self, args: &[Bytes]) -> bool {
        self.rules.iter().any(|r| r.pattern.matches(args))
    }

    fn args_target(&self, target: &Target, cmd: &mut [Bytes]) {
        match target {
            Target::Arg(n) => {
                if let Some(a) = cmd.get_mut(*n) {
                    self.replace(a);
                }
            }
            Target::Reply => {}
            Target::Field(glob) => {
                let first = match crate::command::name(cmd).as_bytes() {
                    b"HSET" | b"HMSET" | b"HSETNX" => 2,
                    b"MSET" | b"MSETNX" => 1,
                    _ => return,
                };
                let mut i = first;
                while i + 1 < cmd.len() {
                    if glob_match(glob.as_bytes(), &cmd[i]) {
                        self.replace(&mut cmd[i + 1]);
                    }
                    i += 2;
                }
            }
            Target::Regex(re) => {
                for a in cmd.iter_mut().skip(1) {
                    self.replace_regex(re, a);
                }
            }
        }
    }

    fn reply_target(&self, target: &Target, cmd: &[Bytes], reply: &mut Value) {
        match target {
            Target::Arg(_) => {}
            Target::Reply => self.all_strings(reply, &mut |b| self.replace(b)),
            Target::Regex(re) => self.all_strings(reply, &mut |b| self.replace_regex(re, b)),
            Target::Field(glob) => self.fields(glob, cmd, reply),
        }
    }

    fn fields(&self, glob: &str, cmd: &[Bytes], reply: &mut Value) {
        let fits = |v: &Value| match v {
            Value::Bulk(b) | Value::Simple(b) => glob_match(glob.as_bytes(), b),
            _ => false,
        };
        let whole = |v: &mut Value| self.all_strings(v, &mut |b| self.replace(b));
        let reply = match reply {
            Value::Attributed { value, .. } => value.as_mut(),
            other => other,
        };
        match crate::command::name(cmd).as_bytes() {
            b"HGET" => {
                if cmd.get(2).is_some_and(|f| glob_match(glob.as_bytes(), f)) {
                    whole(reply);
                }
                return;
            }
            b"HMGET" => {
                if let Value::Array(items) = reply {
                    for (item, field) in items.iter_mut().zip(cmd.iter().skip(2)) {
                        if glob_match(glob.as_bytes(), field) {
                            whole(item);
                        }
                    }
                }
                return;
            }
            _ => {}
        }
        match reply {
            Value::Map(pairs) => {
                for (k, v) in pairs {
                    if fits(k) {
                        whole(v);
                    }
                }
            }
            Value::Array(items) if items.len() % 2 == 0 => {
                for pair in items.chunks_mut(2) {
                    if fits(&pair[0]) {
                        whole(&mut pair[1]);
                    }
                }
            }
            Value::StreamedAggregate { items, .. } if items.len() % 2 == 0 => {
                for pair in items.chunks_mut(2) {
                    if fits(&pair[0]) {
                        whole(&mut pair[1]);
                    }
                }
            }
            _ => {}
        }
    }

    /// Calls `f` on every bulk string, verbatim text and streamed chunk of
    /// `value`, at any depth (iteratively: replies nest deep).
    fn all_strings(&self, value: &mut Value, f: &mut dyn FnMut(&mut Bytes)) {
        let mut stack = vec![value];
        while let Some(v) = stack.pop() {
            match v {
                Value::Bulk(b) => f(b),
                // Keep the `txt:` format prefix.
                Value::Verbatim(b) if b.len() > 4 && b[3] == b':' => {
                    let mut text = b.slice(4..);
                    f(&mut text);
                    let mut whole = b[..4].to_vec();
                    whole.extend_from_slice(&text);
                    *b = Bytes::from(whole);
                }
                Value::StreamedBulk(chunks) => chunks.iter_mut().for_each(&mut *f),
                Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                    stack.extend(items.iter_mut())
                }
                Value::StreamedAggregate { items, .. } => stack.extend(items.iter_mut()),
                Value::Map(pairs) => {
                    for (k, v) in pairs {
                        stack.push(k);
                        stack.push(v);
                    }
                }
                Value::Attributed { attrs, value } => {
                    for (k, v) in attrs {
                        stack.push(k);
                        stack.push(v);
                    }
                    stack.push(value);
                }
                _ => {}
            }
        }
    }
}

/// The `redact_salt` of the cassette at `path` (None: no file, no salt).
pub fn salt_of(path: &std::path::Path) -> Option<String> {
    crate::cassette::read_header(path).ok()?.redact_salt
}

/// What [`redact_file`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileReport {
    /// Lines written (header included): always the lines read.
    pub lines: usize,
    /// Interactions some rule applied to.
    pub redacted: usize,
    /// Loader warnings (a truncated last line, skipped).
    pub warnings: Vec<String>,
}

/// `resplay redact IN OUT`: applies `rules` to every interaction of the
/// cassette `input` and writes the result to `output` (which may be the
/// same file: the input is read whole first). The salt is the input's
/// `redact_salt` when it has one, so redacting again, or with more rules,
/// gives the same placeholders; else a fresh one, written to the header.
pub fn redact_file(
    input: &std::path::Path,
    output: &std::path::Path,
    rules: &Redactor,
) -> Result<(FileReport, Redactor), crate::cassette::CassetteError> {
    let mut cassette = crate::cassette::load(input)?;
    let salt = cassette
        .header
        .redact_salt
        .clone()
        .unwrap_or_else(Redactor::fresh_salt);
    let redactor = rules.with_salt(&salt);
    cassette.header.redact_salt = Some(salt);
    let mut out = Vec::new();
    cassette.header.write_line(&mut out);
    let mut report = FileReport {
        lines: 1 + cassette.events.len(),
        warnings: cassette.warnings,
        ..FileReport::default()
    };
    for mut event in cassette.events {
        let changed = match &mut event {
            crate::cassette::Event::Interaction(i) => {
                redactor.interaction(&mut i.cmd, &mut i.replies, true)
            }
            // What a redacted PUBLISH delivered to subscribers.
            crate::cassette::Event::Push(p) => {
                redactor.push(&mut p.push);
                false
            }
            _ => false,
        };
        report.redacted += usize::from(changed);
        event.write_line(&mut out);
    }
    let compressed = crate::cassette::compress::is_compressed(output);
    crate::cassette::compress::write_file(output, &out, compressed).map_err(|cause| {
        crate::cassette::CassetteError::Write {
            path: output.to_path_buf(),
            cause,
        }
    })?;
    Ok((report, redactor))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        crate::command::args_of(&s.split(' ').collect::<Vec<_>>())
    }

    fn bulk(s: &str) -> Value {
        Value::Bulk(Bytes::from(s.to_string()))
    }

    /// Found by the fuzz target: a regex that matches inside a placeholder
    /// (`[a-z]+` finds `redacted`) redacted it again on a second pass.
    #[test]
    fn redacting_twice_changes_nothing() {
        let rule: RedactRule = "* => regex=[a-z]+".parse().unwrap();
        let redactor = Redactor::new(vec![rule], "salt");
        let mut cmd = args("SET k Ssk12");
        redactor.command(&mut cmd);
        let once = cmd.clone();
        assert_ne!(once[2], Bytes::from("Ssk12"));
        redactor.command(&mut cmd);
        assert_eq!(cmd, once);
    }

    #[test]
    fn parses_rules() {
        let r: RedactRule = "SET session:* => arg=2 reply".parse().unwrap();
        assert_eq!(r.targets, vec![Target::Arg(2), Target::Reply]);
        let r: RedactRule = "* => regex=tok_[a-z0-9 ]+".parse().unwrap();
        assert!(matches!(&r.targets[0], Target::Regex(re) if re.as_str() == "tok_[a-z0-9 ]+"));
        for bad in [
            "GET",
            "GET =>",
            "GET => arg=0",
            "GET => nope",
            "GET => regex=(",
            "=> reply",
        ] {
            assert!(bad.parse::<RedactRule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn same_value_same_placeholder() {
        let rules = vec![
            "SET session:* => arg=2".parse().unwrap(),
            "GET session:* => reply".parse().unwrap(),
        ];
        let r = Redactor::new(rules, "salt");
        let mut set = args("SET session:a tok123");
        r.interaction(&mut set, &mut [], true);
        let mut replies = [bulk("tok123")];
        let mut get = args("GET session:a");
        r.interaction(&mut get, &mut replies, true);
        assert_eq!(replies[0], Value::Bulk(set[2].clone()));
        assert!(set[2].starts_with(b"<redacted:"));
        assert_eq!(set[2].len(), "<redacted:12345678>".len());
        // Redacting twice changes nothing.
        let again = set.clone();
        r.interaction(&mut set, &mut [], true);
        assert_eq!(set, again);
        // Another salt, another placeholder.
        assert_ne!(
            r.with_salt("other").placeholder(b"tok123"),
            r.placeholder(b"tok123")
        );
        assert!(r.unmatched().is_empty());
    }

    #[test]
    fn fields_in_args_and_replies() {
        let r = Redactor::new(vec!["* => field=ssn field=e*".parse().unwrap()], "");
        let mut hset = args("HSET user:1 email a@b name bob ssn 123");
        r.interaction(&mut hset, &mut [], true);
        assert_eq!(&hset[..2], &args("HSET user:1")[..]);
        assert_eq!(hset[4], "name");
        assert_eq!(hset[5], "bob");
        assert!(hset[3].starts_with(b"<redacted:") && hset[7].starts_with(b"<redacted:"));
        let mut flat = [Value::Array(vec![
            bulk("email"),
            bulk("a@b"),
            bulk("name"),
            bulk("bob"),
        ])];
        r.interaction(&mut args("HGETALL user:1"), &mut flat, true);
        let Value::Array(items) = &flat[0] else {
            panic!()
        };
        assert_eq!(items[1], Value::Bulk(hset[3].clone()));
        assert_eq!(items[3], bulk("bob"));
        let mut map = [Value::Map(vec![
            (bulk("ssn"), bulk("123")),
            (bulk("n"), Value::Integer(1)),
        ])];
        r.interaction(&mut args("HGETALL user:1"), &mut map, true);
        let Value::Map(pairs) = &map[0] else { panic!() };
        assert_eq!(pairs[0].1, Value::Bulk(hset[7].clone()));
        let mut hm = [Value::Array(vec![
            bulk("bob"),
            bulk("123"),
            Value::NullBulk,
        ])];
        r.interaction(&mut args("HMGET user:1 name ssn x"), &mut hm, true);
        let Value::Array(items) = &hm[0] else {
            panic!()
        };
        assert_eq!(items[0], bulk("bob"));
        assert_eq!(items[1], Value::Bulk(hset[7].clone()));
        assert_eq!(items[2], Value::NullBulk);
    }

    #[test]
    fn regex_keeps_the_rest() {
        let r = Redactor::new(vec!["* => regex=sk_[a-z0-9]+".parse().unwrap()], "");
        let mut cmd = args("SET cfg key=sk_abc123;x");
        r.interaction(&mut cmd, &mut [], true);
        let p = r.placeholder(b"sk_abc123");
        assert_eq!(cmd[2], format!("key={};x", String::from_utf8_lossy(&p)));
        let unmatched = Redactor::new(vec!["GET nothing => reply".parse().unwrap()], "");
        unmatched.interaction(&mut args("GET k"), &mut [], true);
        assert_eq!(unmatched.unmatched(), vec!["GET nothing => reply"]);
    }
}
