//! One fault rule: a command pattern, an action, and when it fires.
//!
//! The text form (`--fault`, and the control API) is
//! `PATTERN => ACTION [count=N] [after=N] [probability=P]`; the config
//! file's `[[fault]]` table says the same with one key per part. Both read
//! into [`FaultRule`], whose `Display` gives the canonical text back.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use crate::pattern::CommandPattern;

/// What a rule does to the command it fires on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The reply reaches the client this much later, give or take `jitter`
    /// (uniform, never below zero).
    Latency {
        /// The delay.
        delay: Duration,
        /// The most the delay varies either way.
        jitter: Duration,
    },
    /// The command is not run; the client gets `-TEXT` (TEXT as given,
    /// without the leading `-`).
    Error(String),
    /// The client connection closes when the command's turn comes.
    Drop,
    /// The command, and everything after it on its connection, is never
    /// answered.
    Hang,
    /// The command runs, but the client gets half its reply, then a close.
    Partial,
}

/// A fault rule, as parsed from text or from a `[[fault]]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The command pattern as written (the `--ignore` syntax).
    pub pattern_text: String,
    pattern: CommandPattern,
    /// What happens when it fires.
    pub action: Action,
    /// Fire at most this many times (None: no limit).
    pub count: Option<u64>,
    /// Let this many matching commands through before the first firing.
    pub after: u64,
    /// The chance that a matching command (past `after`) fires, in [0, 1].
    pub probability: f64,
}

// The probability is checked to lie in [0, 1]: never NaN, so equality is
// an equivalence (and `Config`, which holds rules, can stay `Eq`).
impl Eq for FaultRule {}

/// A fault rule that cannot be used: the rule as written and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault rule '{rule}': {reason}")]
pub struct FaultRuleError {
    /// The rule as written.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

impl FaultRule {
    /// A rule with the default options (every match fires, forever).
    pub fn new(pattern: &str, action: Action) -> Result<FaultRule, FaultRuleError> {
        let err = |reason: String| FaultRuleError {
            rule: format!("{} => {}", pattern.trim(), ActionText(&action)),
            reason,
        };
        let parsed = CommandPattern::parse(pattern.trim()).map_err(|r| err(r.to_string()))?;
        if let Action::Error(text) = &action {
            check_error_text(text).map_err(err)?;
        }
        Ok(FaultRule {
            pattern_text: pattern.trim().to_string(),
            pattern: parsed.for_faults(),
            action: match action {
                Action::Error(text) => Action::Error(strip_dash(&text).to_string()),
                other => other,
            },
            count: None,
            after: 0,
            probability: 1.0,
        })
    }

    /// True when the command (name first) is one this rule is about.
    pub fn matches(&self, args: &[Bytes]) -> bool {
        self.pattern.matches(args)
    }

    /// The config file's table form.
    pub fn from_table(table: FaultTable) -> Result<FaultRule, FaultRuleError> {
        let shown = table.pattern.clone();
        let err = |reason: &str| FaultRuleError {
            rule: shown.clone(),
            reason: reason.to_string(),
        };
        let mut actions = Vec::new();
        if let Some(latency) = &table.latency {
            let (delay, jitter) = parse_latency(latency).map_err(|r| err(&r))?;
            actions.push(Action::Latency { delay, jitter });
        }
        if let Some(text) = &table.error {
            actions.push(Action::Error(text.clone()));
        }
        for (set, action) in [
            (table.drop, Action::Drop),
            (table.hang, Action::Hang),
            (table.partial, Action::Partial),
        ] {
            if set == Some(true) {
                actions.push(action);
            }
        }
        let action =
            match actions.len() {
                1 => actions.remove(0),
                0 => {
                    return Err(err(
                        "no action: give one of latency, error, drop, hang, partial",
                    ))
                }
                _ => return Err(err(
                    "more than one action: give only one of latency, error, drop, hang, partial",
                )),
            };
        let mut rule = FaultRule::new(&table.pattern, action)?;
        rule.count = table.count;
        rule.after = table.after.unwrap_or(0);
        if let Some(p) = table.probability {
            rule.probability = check_probability(p).map_err(|r| err(&r))?;
        }
        Ok(rule)
    }
}

/// The `[[fault]]` table of the config file: `match` and exactly one action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultTable {
    /// The command pattern.
    #[serde(rename = "match")]
    pub pattern: String,
    /// `"200ms"` or `"200ms±50ms"`.
    pub latency: Option<String>,
    /// The error line, e.g. `"LOADING Redis is loading the dataset in memory"`.
    pub error: Option<String>,
    /// Close the connection.
    pub drop: Option<bool>,
    /// Never answer.
    pub hang: Option<bool>,
    /// Half a reply, then a close.
    pub partial: Option<bool>,
    /// Fire at most this many times.
    pub count: Option<u64>,
    /// Skip this many matches first.
    pub after: Option<u64>,
    /// Chance of firing, in [0, 1].
    pub probability: Option<f64>,
}

impl<'de> Deserialize<'de> for FaultRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let table = FaultTable::deserialize(d)?;
        FaultRule::from_table(table).map_err(serde::de::Error::custom)
    }
}

fn strip_dash(text: &str) -> &str {
    text.strip_prefix('-').unwrap_or(text)
}

/// An error line is sent as `-TEXT\r\n`: it cannot hold CR or LF, and an
/// empty one would not be an error a client could read.
fn check_error_text(text: &str) -> Result<(), String> {
    if text.contains(['\r', '\n']) {
        return Err("the error text cannot contain CR or LF".into());
    }
    if strip_dash(text).trim().is_empty() {
        return Err("the error text is empty".into());
    }
    Ok(())
}

fn check_probability(p: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("probability {p} is outside [0, 1]"))
    }
}

/// `200ms`, `200ms±50ms` or `200ms+-50ms`.
fn parse_latency(text: &str) -> Result<(Duration, Duration), String> {
    let (delay, jitter) = match text.split_once('±').or_else(|| text.split_once("+-")) {
        Some((d, j)) => (d, Some(j)),
        None => (text, None),
    };
    let duration = |t: &str| {
        humantime::parse_duration(t.trim()).map_err(|e| format!("bad duration '{}': {e}", t.trim()))
    };
    Ok((
        duration(delay)?,
        jitter.map(duration).transpose()?.unwrap_or_default(),
    ))
}

impl FromStr for FaultRule {
    type Err = FaultRuleError;

    fn from_str(text: &str) -> Result<FaultRule, FaultRuleError> {
        let err = |reason: String| FaultRuleError {
            rule: text.to_string(),
            reason,
        };
        let (pattern, rest) = text
            .split_once("=>")
            .ok_or_else(|| err("missing '=>' between the command pattern and the action".into()))?;
        if pattern.trim().is_empty() {
            return Err(err(
                "no command pattern before '=>' (use * for every command)".into(),
            ));
        }
        let words = crate::resp::inline::split_args(rest.as_bytes())
            .ok_or_else(|| err("unbalanced quotes".into()))?;
        let mut words = words
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned());
        let first = words.next().ok_or_else(|| {
            err("no action after '=>' (latency=, error=, drop, hang, partial)".into())
        })?;
        let action = match first.split_once('=') {
            None if first == "drop" => Action::Drop,
            None if first == "hang" => Action::Hang,
            None if first == "partial" => Action::Partial,
            Some(("latency", value)) => {
                let (delay, jitter) = parse_latency(value).map_err(err)?;
                Action::Latency { delay, jitter }
            }
            Some(("error", value)) => Action::Error(value.to_string()),
            _ => {
                return Err(err(format!(
                "unknown action '{first}' (latency=DURATION, error=\"TEXT\", drop, hang, partial)"
            )))
            }
        };
        let mut rule = FaultRule::new(pattern, action).map_err(|e| err(e.reason))?;
        for word in words {
            let Some((key, value)) = word.split_once('=') else {
                return Err(err(format!(
                    "unexpected '{word}' (options are count=N, after=N, probability=P)"
                )));
            };
            let number = |what: &str| {
                value
                    .parse::<u64>()
                    .map_err(|_| err(format!("{what} must be a whole number, not '{value}'")))
            };
            match key {
                "count" => rule.count = Some(number("count")?),
                "after" => rule.after = number("after")?,
                "probability" => {
                    let p = value
                        .parse::<f64>()
                        .map_err(|_| err(format!("probability must be a number, not '{value}'")))?;
                    rule.probability = check_probability(p).map_err(err)?;
                }
                _ => {
                    return Err(err(format!(
                        "unknown option '{key}' (options are count=N, after=N, probability=P)"
                    )))
                }
            }
        }
        Ok(rule)
    }
}

/// An action as the text form writes it.
struct ActionText<'a>(&'a Action);

impl fmt::Display for ActionText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Action::Latency { delay, jitter } => {
                // humantime writes `1s 500ms`; one word keeps it one token.
                let word =
                    |d: &Duration| humantime::format_duration(*d).to_string().replace(' ', "");
                write!(f, "latency={}", word(delay))?;
                if !jitter.is_zero() {
                    write!(f, "±{}", word(jitter))?;
                }
                Ok(())
            }
            Action::Error(text) => {
                // Quoted the way the parser (Redis's inline syntax) reads it;
                // a leading `-` doubled, as the parser takes one off.
                f.write_str("error=\"")?;
                if text.starts_with('-') {
                    f.write_str("-")?;
                }
                for c in text.chars() {
                    match c {
                        '"' | '\\' => write!(f, "\\{c}")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
            Action::Drop => f.write_str("drop"),
            Action::Hang => f.write_str("hang"),
            Action::Partial => f.write_str("partial"),
        }
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} => {}", self.pattern_text, ActionText(&self.action))?;
        if let Some(count) = self.count {
            write!(f, " count={count}")?;
        }
        if self.after > 0 {
            write!(f, " after={}", self.after)?;
        }
        if self.probability < 1.0 {
            write!(f, " probability={}", self.probability)?;
        }
        Ok(())
    }
}
