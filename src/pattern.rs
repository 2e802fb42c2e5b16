//! Ignore rules for volatile arguments, so that a run with fresh random
//! values (UUID keys, timestamps, lock tokens) still matches its recording.
//!
//! A rule is a command pattern, one token per argument:
//!
//! - the first token is the command name (any case);
//! - `<any>` matches any one argument;
//! - a token containing `*` is a glob (`lock:*`, `session:*:data`) and the
//!   part it matches is ignored;
//! - `...` as the last token matches any remaining arguments (ignored);
//! - any other token must equal the argument exactly.
//!
//! Example: `SET lock:* <any> PX <any>` makes `SET lock:9f1c 1700000000 PX
//! 3000` match the recorded `SET lock:77ab 1699999999 PX 3000`. Commands no
//! rule matches are compared argument for argument.

use std::borrow::Cow;

use bytes::Bytes;

use crate::command::Class;

/// One token of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Any,
    Rest,
    Glob(String),
    Exact(Bytes),
}

/// A command pattern: the part ignore rules and fault rules share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPattern {
    /// The command name, uppercased.
    name: String,
    /// True when the name `*` stands for every command (fault rules); an
    /// ignore rule's name is always literal.
    any_name: bool,
    args: Vec<Token>,
}

impl CommandPattern {
    /// Parses a pattern; the error is the reason, for the caller to wrap
    /// with the rule it came from.
    pub fn parse(text: &str) -> Result<CommandPattern, &'static str> {
        let words = crate::resp::inline::split_args(text.as_bytes()).ok_or("unbalanced quotes")?;
        let (name, rest) = words.split_first().ok_or("empty rule")?;
        let name = String::from_utf8_lossy(name).to_ascii_uppercase();
        let mut args = Vec::new();
        for (i, word) in rest.iter().enumerate() {
            let token = match &word[..] {
                b"<any>" => Token::Any,
                b"..." if i + 1 == rest.len() => Token::Rest,
                b"..." => return Err("'...' may only be the last token"),
                w if w.contains(&b'*') => Token::Glob(String::from_utf8_lossy(w).into_owned()),
                w => Token::Exact(Bytes::copy_from_slice(w)),
            };
            args.push(token);
        }
        Ok(CommandPattern {
            name,
            any_name: false,
            args,
        })
    }

    /// The fault-rule reading: a bare command name means any arguments
    /// (`GET` = `GET ...`), and the name `*` matches every command.
    pub fn for_faults(mut self) -> CommandPattern {
        if self.args.is_empty() {
            self.args.push(Token::Rest);
        }
        self.any_name = self.name == "*";
        self
    }

    /// The redaction-rule reading: the fault one, and the pattern matches
    /// any command that starts with it (an implied `...` at the end), so
    /// `SET session:*` also covers `SET session:x v EX 60`: a rule that
    /// missed a command because of extra arguments would leak its secret.
    pub fn for_redaction(mut self) -> CommandPattern {
        if !matches!(self.args.last(), Some(Token::Rest)) {
            self.args.push(Token::Rest);
        }
        self.any_name = self.name == "*";
        self
    }

    /// True when the pattern leaves some argument open (an ignore rule
    /// that does not is a mistake: it would change nothing).
    fn ignores_something(&self) -> bool {
        self.args.iter().any(|t| !matches!(t, Token::Exact(_)))
    }

    /// True when `args` (name first) fit the pattern.
    pub fn matches(&self, args: &[Bytes]) -> bool {
        self.walk(args, |_, _| {})
    }

    /// Walks the arguments against the tokens, calling `each` for every
    /// fixed token and its argument; false as soon as one does not fit.
    fn walk(&self, args: &[Bytes], mut each: impl FnMut(&Token, &Bytes)) -> bool {
        let Some(name) = args.first() else {
            return false;
        };
        if !self.any_name && !name.eq_ignore_ascii_case(self.name.as_bytes()) {
            return false;
        }
        let rest = &args[1..];
        let has_rest = matches!(self.args.last(), Some(Token::Rest));
        let fixed = self.args.len() - usize::from(has_rest);
        if rest.len() < fixed || (!has_rest && rest.len() != fixed) {
            return false;
        }
        for (token, arg) in self.args.iter().zip(rest) {
            let fits = match token {
                Token::Any | Token::Rest => true,
                Token::Glob(g) => glob_match(g.as_bytes(), arg),
                Token::Exact(e) => e == arg,
            };
            if !fits {
                return false;
            }
            each(token, arg);
        }
        true
    }
}

/// A parsed ignore rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreRule {
    /// The rule as written, for messages.
    pub text: String,
    pattern: CommandPattern,
}

/// A rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ignore rule '{rule}': {reason}")]
pub struct RuleError {
    /// The rule as written.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

impl std::str::FromStr for IgnoreRule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, RuleError> {
        let err = |reason: &str| RuleError {
            rule: text.to_string(),
            reason: reason.to_string(),
        };
        let pattern = CommandPattern::parse(text).map_err(err)?;
        if !pattern.ignores_something() {
            return Err(err("the rule ignores nothing: use <any>, a * glob or ..."));
        }
        Ok(IgnoreRule {
            text: text.to_string(),
            pattern,
        })
    }
}

/// `*` matches any run of bytes (including none); everything else is literal.
/// Ignore, fault and redaction rules all read their globs this way.
pub(crate) fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

impl IgnoreRule {
    /// The command with ignored arguments replaced by the rule's tokens, if
    /// the rule applies to it.
    fn normalize(&self, args: &[Bytes]) -> Option<Vec<Bytes>> {
        let p = &self.pattern;
        let has_rest = matches!(p.args.last(), Some(Token::Rest));
        // Filled only once the name fits: no allocation for the commands
        // a rule is not about.
        let mut out = Vec::new();
        let fits = p.walk(args, |token, arg| match token {
            Token::Any => out.push(Bytes::from_static(b"<any>")),
            Token::Rest => {}
            Token::Glob(g) => out.push(Bytes::from(g.clone())),
            Token::Exact(_) => out.push(arg.clone()),
        });
        if !fits {
            return None;
        }
        out.insert(0, Bytes::from(p.name.clone()));
        if has_rest {
            out.push(Bytes::from_static(b"..."));
        }
        Some(out)
    }
}

/// The key replay matches on: the command name uppercased, arguments as
/// sent, with the first applicable rule's ignored parts replaced. Borrowed
/// when nothing changes (the common case: no copy per request).
pub fn match_key<'a>(args: &'a [Bytes], rules: &[IgnoreRule]) -> Cow<'a, [Bytes]> {
    match_key_with(args, rules, Class::of(args))
}

/// [`match_key`] for a request already classified (the replay session
/// classifies each request once).
pub fn match_key_with<'a>(
    args: &'a [Bytes],
    rules: &[IgnoreRule],
    class: Class,
) -> Cow<'a, [Bytes]> {
    if let Some(key) = rules.iter().find_map(|r| r.normalize(args)) {
        return Cow::Owned(key);
    }
    // Redis reads a command's name, and a container command's subcommand
    // (`cluster slots`, `CONFIG get`), in any case.
    let folded = match args {
        [_, _, ..] if class.is_container() => 2,
        [_, ..] => 1,
        [] => 0,
    };
    if !args[..folded]
        .iter()
        .any(|a| a.iter().any(u8::is_ascii_lowercase))
    {
        return Cow::Borrowed(args);
    }
    let mut key = args.to_vec();
    for arg in &mut key[..folded] {
        *arg = Bytes::from(arg.to_ascii_uppercase());
    }
    Cow::Owned(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        crate::command::args_of(&s.split(' ').collect::<Vec<_>>())
    }

    fn rule(s: &str) -> IgnoreRule {
        s.parse().unwrap()
    }

    #[test]
    fn names_and_subcommands_in_any_case() {
        let key = |s: &str| match_key(&args(s), &[]).into_owned();
        assert_eq!(key("cluster slots"), args("CLUSTER SLOTS"));
        assert_eq!(key("Config get maxmemory"), args("CONFIG GET maxmemory"));
        assert!(matches!(
            match_key(&args("CLUSTER SLOTS"), &[]),
            Cow::Borrowed(_)
        ));
        // Not a container: only the name is folded; keys keep their case.
        assert_eq!(key("get Key"), args("GET Key"));
        assert_eq!(key("client"), args("CLIENT"));
        for name in [
            "acl", "client", "cluster", "command", "config", "function", "latency", "memory",
            "module", "object", "pubsub", "script", "slowlog", "xgroup", "xinfo",
        ] {
            let upper = name.to_ascii_uppercase();
            assert_eq!(
                key(&format!("{name} sub x")),
                args(&format!("{upper} SUB x"))
            );
        }
        assert_eq!(key("scan 0 match x"), args("SCAN 0 match x"));
    }

    #[test]
    fn lock_rule() {
        let rules = [rule("SET lock:* <any> PX <any>")];
        let a = match_key(&args("set lock:9f1c 1700000000 PX 3000"), &rules).into_owned();
        let b = match_key(&args("SET lock:77ab 1699999999 PX 3000"), &rules).into_owned();
        assert_eq!(a, b);
        // A different shape is not covered by the rule.
        let c = match_key(&args("SET lock:77ab 1 EX 3"), &rules).into_owned();
        assert_ne!(a, c);
        let d = match_key(&args("SET other 1 PX 3"), &rules).into_owned();
        assert_eq!(d, args("SET other 1 PX 3"));
    }

    #[test]
    fn globs_and_rest() {
        let rules = [rule("HSET session:*:data ..."), rule("GET user:*")];
        assert_eq!(
            match_key(&args("HSET session:1b2c:data f v"), &rules),
            match_key(&args("HSET session:zz:data g w x y"), &rules)
        );
        assert_eq!(
            match_key(&args("get user:123"), &rules),
            match_key(&args("GET user:456"), &rules)
        );
        assert_ne!(
            match_key(&args("GET item:1"), &rules),
            match_key(&args("GET item:2"), &rules)
        );
        assert!(glob_match(b"a*b*c", b"axxbyyc"));
        assert!(!glob_match(b"a*b", b"axxc"));
        assert!(glob_match(b"*", b""));
    }

    #[test]
    fn bad_rules() {
        assert!("".parse::<IgnoreRule>().is_err());
        assert!("GET key".parse::<IgnoreRule>().is_err());
        assert!("GET ... x".parse::<IgnoreRule>().is_err());
        assert!("SET \"a".parse::<IgnoreRule>().is_err());
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(match_key(&args("get k"), &[]), args("GET k"));
    }
}
