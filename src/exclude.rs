//! Record filters (`--exclude PATTERN`): commands relayed to Redis and
//! answered as usual, but left out of the cassette (`INFO`, health-check
//! `PING`s, metrics calls a test never asserts on).
//!
//! A rule is written as an ignore rule (see [`crate::pattern`]): the
//! command name, then one token per argument (`<any>`, a `*` glob, `...`
//! for any remaining arguments, or an exact word). A bare name covers any
//! arguments, as in fault rules: `PING` also leaves out `PING hello`.
//!
//! Some commands cannot be left out without making the rest of the
//! cassette wrong, and a rule that could match one is refused: the
//! subscribe family (the pushes that follow are recorded), `MULTI`,
//! `EXEC`, `DISCARD`, `WATCH`, `UNWATCH` (a transaction is replayed
//! whole), `CLIENT REPLY` (which later commands are answered), `MONITOR`,
//! `SYNC`, `PSYNC`, `REPLCONF` (a stream of pushes). A command queued
//! inside `MULTI … EXEC` is never left out whatever the rules say: `EXEC`'s
//! recorded reply holds its result, and replay matches the transaction by
//! the commands it queued.
//!
//! The cassette's header lists the rules (`"excluded"`), so that `show`
//! can say the cassette was filtered and replay can tell an excluded
//! command from a forgotten one.

use bytes::Bytes;

use crate::command::Class;
use crate::pattern::CommandPattern;

/// A parsed `--exclude` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludeRule {
    /// The rule as written: the header keeps it so, and messages show it.
    pub text: String,
    pattern: CommandPattern,
}

/// A rule that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid exclude rule '{rule}': {reason}")]
pub struct RuleError {
    /// The rule as written.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

/// Why leaving out the command named `name` would break the recording of
/// others, if it would: the table's subscribe family, its transaction
/// group, and its replication commands, plus `MONITOR` and `REPLCONF`,
/// whose streams follow them (the table has no fact for those two).
fn why_kept(name: &str) -> Option<&'static str> {
    let class = Class::of(&[Bytes::copy_from_slice(name.as_bytes())]);
    if class.subscription().is_some() {
        Some("the messages that follow it are recorded")
    } else if class.spec().is_some_and(|s| s.group == "transactions") {
        Some("replay matches a transaction by all of its commands")
    } else if class.starts_replication() || matches!(name, "MONITOR" | "REPLCONF") {
        Some("the stream that follows it is recorded")
    } else {
        None
    }
}

/// `CLIENT REPLY` in each form: a `CLIENT` rule that matches one is
/// refused (`CLIENT LIST` is fine).
const CLIENT_REPLY: [[&str; 3]; 3] = [
    ["CLIENT", "REPLY", "OFF"],
    ["CLIENT", "REPLY", "ON"],
    ["CLIENT", "REPLY", "SKIP"],
];

impl std::str::FromStr for ExcludeRule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, RuleError> {
        let err = |reason: String| RuleError {
            rule: text.to_string(),
            reason,
        };
        let pattern = CommandPattern::parse(text)
            .map_err(|e| err(e.to_string()))?
            .for_faults();
        let name = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if name == "*" {
            return Err(err(
                "an exclude rule names its command: '*' would leave everything out".into(),
            ));
        }
        if let Some(why) = why_kept(&name) {
            return Err(err(format!(
                "{name} cannot be left out of a recording: {why}"
            )));
        }
        let client_reply = CLIENT_REPLY.iter().any(|words| {
            let args: Vec<Bytes> = words
                .iter()
                .map(|w| Bytes::from_static(w.as_bytes()))
                .collect();
            pattern.matches(&args)
        });
        if client_reply {
            return Err(err(
                "CLIENT REPLY cannot be left out of a recording: it decides which later \
                 commands are answered"
                    .into(),
            ));
        }
        Ok(ExcludeRule {
            text: text.to_string(),
            pattern,
        })
    }
}

impl<'de> serde::Deserialize<'de> for ExcludeRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl ExcludeRule {
    /// True when the rule leaves `args` (name first) out.
    pub fn matches(&self, args: &[Bytes]) -> bool {
        self.pattern.matches(args)
    }
}

/// The first of `rules` that leaves `args` out.
pub fn excluded_by<'r>(rules: &'r [ExcludeRule], args: &[Bytes]) -> Option<&'r ExcludeRule> {
    rules.iter().find(|r| r.matches(args))
}

/// The rules a cassette header lists (`"excluded"`). A rule this resplay
/// cannot read (written by a newer one) is skipped with a warning: replay
/// then treats what it would have matched as any other miss.
pub fn from_header(texts: &[String]) -> Vec<ExcludeRule> {
    texts
        .iter()
        .filter_map(|t| match t.parse() {
            Ok(rule) => Some(rule),
            Err(e) => {
                tracing::warn!("cassette header: {e}; commands it left out miss as usual");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        crate::command::args_of(&s.split(' ').collect::<Vec<_>>())
    }

    fn rule(s: &str) -> ExcludeRule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_bare_name_covers_any_arguments() {
        let ping = rule("PING");
        assert!(ping.matches(&args("PING")) && ping.matches(&args("ping hello")));
        assert!(!ping.matches(&args("ECHO PING")));
        let info = rule("INFO *");
        assert!(info.matches(&args("INFO server")));
        assert!(!info.matches(&args("INFO")), "one argument, as written");
        assert!(rule("INFO ...").matches(&args("INFO")));
        let metrics = rule("INCR metrics:*");
        assert!(metrics.matches(&args("INCR metrics:hits")));
        assert!(!metrics.matches(&args("INCR visits")));
        let rules = [info, ping];
        let found = excluded_by(&rules, &args("PING"));
        assert_eq!(found.map(|r| r.text.as_str()), Some("PING"));
    }

    #[test]
    fn rules_that_would_break_the_recording_are_refused() {
        for bad in [
            "SUBSCRIBE",
            "subscribe *",
            "MULTI",
            "EXEC",
            "WATCH ...",
            "CLIENT",
            "CLIENT REPLY <any>",
            "CLIENT * OFF",
            "MONITOR",
            "PSYNC ...",
            "*",
            // Every command the table's subscribe family, transaction group
            // and replication facts stand for.
            "PSUBSCRIBE",
            "SSUBSCRIBE",
            "UNSUBSCRIBE",
            "PUNSUBSCRIBE",
            "SUNSUBSCRIBE",
            "DISCARD",
            "UNWATCH",
            "SYNC",
            "REPLCONF ...",
        ] {
            let e = bad.parse::<ExcludeRule>().expect_err(bad);
            assert!(e.to_string().contains(bad), "{e}");
        }
        for good in [
            "CLIENT LIST",
            "CLIENT *",
            "CLIENT SETNAME *",
            "INFO",
            "PING",
            "PUBLISH metrics ...",
        ] {
            rule(good);
        }
        let e = "SUBSCRIBE".parse::<ExcludeRule>().unwrap_err();
        assert!(e.reason.starts_with("SUBSCRIBE cannot be left out"), "{e}");
    }

    #[test]
    fn header_rules_that_do_not_parse_are_skipped() {
        let rules = from_header(&["PING".into(), "MULTI".into()]);
        assert_eq!(rules.len(), 1);
    }
}
