//! What `GET /journal` asks and answers: calls after an id, that fit a
//! command pattern (the `--ignore` syntax), decoded and displayed as
//! `resplay show` would.

use bytes::Bytes;
use serde::Serialize;

use super::scribe::args_of;
use super::{Entry, Reply};
use crate::command::{self, Class};
use crate::pattern::CommandPattern;
use crate::resp::{parse_reply, Limits, Value};

/// Which calls to list.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only calls that fit it. Read as fault rules read theirs: a bare
    /// name means any arguments, `*` any command.
    pub pattern: Option<CommandPattern>,
    /// Only calls with a greater id (0: all).
    pub since: u64,
}

/// A pattern that does not parse.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid pattern '{pattern}': {reason}")]
pub struct QueryError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Query {
    /// A query from its parts as `GET /journal` takes them.
    pub fn new(pattern: Option<&str>, since: Option<u64>) -> Result<Query, QueryError> {
        let pattern = match pattern.map(str::trim).filter(|p| !p.is_empty()) {
            Some(text) => Some(
                CommandPattern::parse(text)
                    .map_err(|reason| QueryError {
                        pattern: text.to_string(),
                        reason,
                    })?
                    .for_faults(),
            ),
            None => None,
        };
        Ok(Query {
            pattern,
            since: since.unwrap_or(0),
        })
    }
}

/// One call, as `GET /journal` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// Its id: increasing over the server's life (a clear does not reset it).
    pub id: u64,
    /// The client connection's id (as `CLIENT ID` and the tail show it).
    pub conn: u64,
    /// The database it ran in.
    pub db: u32,
    /// When its batch was handled, in milliseconds since the Unix epoch.
    pub at: u64,
    /// Its arguments, name first (bytes that are not UTF-8 replaced;
    /// passwords redacted).
    pub args: Vec<String>,
    /// The command as `resplay show` displays it.
    pub cmd: String,
    /// Its reply (or replies) as redis-cli prints them, cut to 200
    /// characters; `(no reply)` when it got none.
    pub reply: String,
    /// The reply is an error.
    pub error: bool,
    /// The request was too large to keep whole: each argument is cut.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cut: bool,
}

/// The answer to a query.
#[derive(Debug, Clone, Serialize)]
pub struct Calls {
    /// The calls, oldest first.
    pub calls: Vec<Call>,
    /// Calls dropped for the cap since the journal was last cleared.
    pub dropped: u64,
    /// The last id given: a later `since=` this value lists only newer calls.
    pub last: u64,
    /// The cap (`--journal-max`).
    pub max: usize,
}

pub(super) fn answer(
    query: &Query,
    entries: Vec<Entry>,
    dropped: u64,
    last: u64,
    max: usize,
) -> Calls {
    let calls = entries
        .into_iter()
        .filter_map(|entry| {
            let mut args = args_of(&entry.request);
            if let Some(pattern) = &query.pattern {
                if !pattern.matches(&args) {
                    return None;
                }
            }
            if Class::of(&args).has_secret() {
                command::redact(&mut args);
            }
            let (reply, error) = shown_reply(&entry.reply);
            Some(Call {
                id: entry.id,
                conn: entry.conn,
                db: entry.db,
                at: entry.at_ms,
                args: args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect(),
                cmd: crate::tail::show_command(&args),
                reply,
                error,
                cut: entry.cut,
            })
        })
        .collect();
    Calls {
        calls,
        dropped,
        last,
        max,
    }
}

fn shown_reply(reply: &Reply) -> (String, bool) {
    match reply {
        Reply::Shown(text) => (text.to_string(), text.starts_with("(error)")),
        Reply::Wire(bytes) => {
            let values = frames(bytes);
            let error = matches!(values.first(), Some(Value::Error(_) | Value::BulkError(_)));
            (crate::tail::show_values(&values), error)
        }
    }
}

/// Every whole frame in `bytes`.
pub(super) fn frames(bytes: &Bytes) -> Vec<Value> {
    let limits = Limits::upstream();
    let mut values = Vec::new();
    let mut rest = bytes.clone();
    while !rest.is_empty() {
        match parse_reply(&rest, &limits) {
            Ok(Some((value, used))) if used > 0 => {
                values.push(value);
                rest = rest.slice(used..);
            }
            _ => break,
        }
    }
    values
}
