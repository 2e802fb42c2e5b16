//! `MONITOR` on replay: the feed follows the live commands.
//!
//! A recording holds the monitor lines its server sent, but they name the
//! commands of the recorded run, in the recorded interleaving: a pooled
//! asyncio client issues its commands in another order on replay, and a
//! monitor fed the recorded lines would see them out of step (or see
//! commands no live client sent). So replay drops the recorded lines (see
//! the matcher) and writes its own, as Redis does for every command it
//! runs: the time, the database, the client's address, and the arguments
//! quoted, with the secrets Redis hides shown as `(redacted)`. What a
//! recorded script ran inside the server (`[0 lua]` lines) cannot be made
//! up: those recorded lines follow the script's own line when it is
//! served, stamped with the time of the replay.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::Session;
use crate::command::{self, Class};
use crate::replay::display::repr;
use crate::replay::matcher::Matcher;
use crate::resp::Value;

impl Session {
    /// Shows a command this connection sent to the live connections in
    /// `MONITOR` mode, as Redis does once it runs it: not when its
    /// `reply` says Redis refused it before running it (an unknown command
    /// or subcommand, a wrong number of arguments, no authentication).
    /// For a script served from `recording`, the commands it ran inside
    /// the server follow (`[0 lua]` lines, recorded, stamped now).
    pub(super) fn feed_monitors(
        &self,
        matcher: &Matcher,
        args: &[Bytes],
        class: Class,
        reply: Option<&Value>,
        recording: Option<usize>,
    ) {
        let monitors = matcher.monitors();
        if monitors.iter().all(|&m| m == self.live) || reply.is_some_and(refused_before_running) {
            return;
        }
        let now = SystemTime::now();
        let mut lines = vec![monitor_line(
            now,
            self.selected.db(),
            &self.peer,
            args,
            class,
        )];
        if let Some(r) = recording {
            lines.extend(matcher.script_lines(r).iter().map(|l| restamped(l, now)));
        }
        for &m in monitors {
            if m == self.live {
                continue;
            }
            for line in &lines {
                self.shared
                    .deliver(m, Value::Simple(line.clone()), Duration::ZERO);
            }
        }
    }
}

/// Errors Redis answers before it runs a command (`processCommand`'s
/// checks), for commands `MONITOR` never sees.
fn refused_before_running(reply: &Value) -> bool {
    let text = match reply {
        Value::Error(text) | Value::BulkError(text) => text,
        _ => return false,
    };
    [
        "ERR unknown command",
        "ERR unknown subcommand",
        "ERR wrong number of arguments",
        "NOAUTH",
        "NOPERM",
    ]
    .iter()
    .any(|p| text.starts_with(p.as_bytes()))
}

/// A recorded monitor line with its time replaced by `now`.
fn restamped(line: &Bytes, now: SystemTime) -> Bytes {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let rest = line
        .iter()
        .position(|&b| b == b' ')
        .map_or(&line[..], |at| &line[at..]);
    let mut out = format!("{}.{:06}", since.as_secs(), since.subsec_micros()).into_bytes();
    out.extend_from_slice(rest);
    Bytes::from(out)
}

/// One monitor line as Redis writes it (`replicationFeedMonitors`):
/// `1700000000.123456 [0 127.0.0.1:51916] "SET" "k" "v"`.
pub fn monitor_line(now: SystemTime, db: u32, peer: &str, args: &[Bytes], class: Class) -> Bytes {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut line = format!(
        "{}.{:06} [{db} {peer}]",
        since.as_secs(),
        since.subsec_micros()
    );
    let hidden = redacted(args, class);
    for (i, arg) in args.iter().enumerate() {
        line.push(' ');
        if hidden.contains(&i) {
            line.push_str("\"(redacted)\"");
        } else {
            line.push_str(&repr(arg));
        }
    }
    Bytes::from(line)
}

/// The arguments Redis shows as `(redacted)`: `AUTH`'s all, `HELLO …
/// AUTH`'s user and password, `MIGRATE … AUTH`/`AUTH2`'s, and whatever
/// else the command table marks as a password.
fn redacted(args: &[Bytes], class: Class) -> Vec<usize> {
    if !class.has_secret() {
        return Vec::new();
    }
    match command::name(args).as_str() {
        "AUTH" => (1..args.len()).collect(),
        name @ ("HELLO" | "MIGRATE") => {
            let mut out = Vec::new();
            for (i, a) in args.iter().enumerate().skip(1) {
                let n = if a.eq_ignore_ascii_case(b"AUTH") {
                    if name == "HELLO" {
                        2
                    } else {
                        1
                    }
                } else if name == "MIGRATE" && a.eq_ignore_ascii_case(b"AUTH2") {
                    2
                } else {
                    continue;
                };
                out.extend(i + 1..(i + 1 + n).min(args.len()));
            }
            out
        }
        _ => command::secret_indexes(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(words: &[&str]) -> String {
        let args = command::args_of(words);
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_042);
        let line = monitor_line(at, 2, "127.0.0.1:5000", &args, Class::of(&args));
        String::from_utf8(line.to_vec()).unwrap()
    }

    #[test]
    fn lines_read_as_redis_writes_them() {
        assert_eq!(
            line(&["SET", "k", "a b\n"]),
            "1700000000.000042 [2 127.0.0.1:5000] \"SET\" \"k\" \"a b\\n\""
        );
    }

    #[test]
    fn secrets_are_redacted_as_redis_does() {
        assert!(line(&["AUTH", "u", "pw"]).ends_with("\"AUTH\" \"(redacted)\" \"(redacted)\""));
        assert!(line(&["HELLO", "3", "AUTH", "u", "pw"])
            .ends_with("\"HELLO\" \"3\" \"AUTH\" \"(redacted)\" \"(redacted)\""));
    }
}
