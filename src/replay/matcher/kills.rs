//! Which recorded connections a recorded `CLIENT KILL` closed, and which
//! live connections stand for them on replay.
//!
//! The recorder writes a close the server made (`"by":"server"`) when it
//! sees the connection end, which may be just before or just after the
//! `CLIENT KILL` that caused it (the victim's end and the killer's reply
//! race). Replay must close the victim when the kill is served, not at
//! whatever interaction happened to be written before the close line: so
//! closes made within a moment of a successful kill, up to the number it
//! reports, are the kill's.
//!
//! A victim is often an idle pooled connection that sent nothing but
//! handshake calls, which are not recorded, so no live connection is bound
//! to it. Such a victim is matched by rank: the k-th recorded connection
//! open at the kill with no live connection bound is the k-th live
//! connection with no binding (both in the order they opened).

use std::collections::VecDeque;

use rustc_hash::FxHashMap as HashMap;

use bytes::Bytes;

use crate::command;
use crate::resp::Value;

/// How long after a kill's reply its victims' closes may be written, ms:
/// the recorder sees the victim's end within a scheduling delay.
const SLACK_MS: u64 = 1000;

/// How many recent kills and closes are kept while indexing.
const RECENT: usize = 64;

/// A recorded kill that may still claim closes.
#[derive(Debug)]
struct OpenKill {
    recording: usize,
    from_ms: u64,
    until_ms: u64,
    remaining: u64,
}

/// A recorded close the server made, not claimed by a kill yet.
#[derive(Debug)]
struct RecentClose {
    conn: u64,
    at_ms: u64,
    /// The recording it was attached to (the one written before it).
    after: Option<usize>,
}

/// The kills of a cassette, built while it is indexed.
#[derive(Debug, Default)]
pub(super) struct Kills {
    /// Kill recording → the recorded connections it closed.
    victims: HashMap<usize, Vec<u64>>,
    open: VecDeque<OpenKill>,
    recent: VecDeque<RecentClose>,
    /// Recorded connection → when it opened and closed, ms.
    spans: HashMap<u64, (u64, Option<u64>)>,
}

/// How many connections a recorded `CLIENT KILL` closed: its integer
/// reply (the filter form), one for the old form's `OK`, none for an
/// error or another command.
pub(super) fn killed(cmd: &[Bytes], replies: &[Value]) -> u64 {
    if !(command::name(cmd).as_str() == "CLIENT" && command::arg_is(cmd, 1, "KILL")) {
        return 0;
    }
    match replies.first() {
        Some(Value::Integer(n)) => (*n).max(0) as u64,
        Some(Value::Simple(s)) if &s[..] == b"OK" => 1,
        _ => 0,
    }
}

impl Kills {
    /// Notes a connection opening.
    pub fn opened(&mut self, conn: u64, at_ms: u64) {
        self.spans.insert(conn, (at_ms, None));
    }

    /// Notes a connection closing. A close the server made is claimed by a
    /// kill open for it (true), else kept for a kill written after it.
    pub fn closed(&mut self, conn: u64, at_ms: u64, by_server: bool, after: Option<usize>) -> bool {
        if let Some(span) = self.spans.get_mut(&conn) {
            span.1 = Some(at_ms);
        }
        if !by_server {
            return false;
        }
        if let Some(kill) = self
            .open
            .iter_mut()
            .find(|k| k.remaining > 0 && (k.from_ms..=k.until_ms).contains(&at_ms))
        {
            kill.remaining -= 1;
            self.victims.entry(kill.recording).or_default().push(conn);
            return true;
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(RecentClose { conn, at_ms, after });
        false
    }

    /// Notes a successful kill of `count` connections sent at `at_ms`;
    /// returns the closes written before it that it claims (connection and
    /// the recording each was attached to), for the caller to detach.
    pub fn kill(
        &mut self,
        recording: usize,
        at_ms: u64,
        took_us: u64,
        count: u64,
    ) -> Vec<(u64, Option<usize>)> {
        let until_ms = at_ms + took_us / 1000 + SLACK_MS;
        let mut claimed = Vec::new();
        let mut remaining = count;
        self.recent.retain(|c| {
            let mine = remaining > 0 && (at_ms..=until_ms).contains(&c.at_ms);
            if mine {
                remaining -= 1;
                claimed.push((c.conn, c.after));
            }
            !mine
        });
        if !claimed.is_empty() {
            let victims = self.victims.entry(recording).or_default();
            victims.extend(claimed.iter().map(|&(conn, _)| conn));
        }
        if remaining > 0 {
            if self.open.len() == RECENT {
                self.open.pop_front();
            }
            self.open.push_back(OpenKill {
                recording,
                from_ms: at_ms,
                until_ms,
                remaining,
            });
        }
        claimed
    }

    /// The recorded connections kill `recording` closed.
    pub fn victims(&self, recording: usize) -> &[u64] {
        self.victims
            .get(&recording)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The recorded connections open at `at_ms`, in the order they opened.
    pub fn open_at(&self, at_ms: u64) -> Vec<u64> {
        let mut open: Vec<(u64, u64)> = self
            .spans
            .iter()
            .filter(|(_, &(from, to))| from <= at_ms && to.map_or(true, |to| to >= at_ms))
            .map(|(&conn, &(from, _))| (from, conn))
            .collect();
        open.sort_unstable();
        open.into_iter().map(|(_, conn)| conn).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kill_cmd(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn counts_what_the_reply_says() {
        let k = kill_cmd(&["client", "kill", "ID", "5"]);
        assert_eq!(killed(&k, &[Value::Integer(2)]), 2);
        assert_eq!(killed(&k, &[Value::Simple(Bytes::from_static(b"OK"))]), 1);
        assert_eq!(
            killed(
                &k,
                &[Value::Error(Bytes::from_static(b"ERR No such client"))]
            ),
            0
        );
        assert_eq!(
            killed(&kill_cmd(&["CLIENT", "ID"]), &[Value::Integer(5)]),
            0
        );
    }

    #[test]
    fn a_close_written_before_or_after_the_kill_is_its() {
        let mut kills = Kills::default();
        kills.opened(2, 0);
        kills.opened(3, 0);
        // Written before the kill: kept, then claimed.
        assert!(!kills.closed(2, 100, true, Some(7)));
        assert_eq!(kills.kill(8, 100, 300, 2), [(2, Some(7))]);
        // Written after it: claimed at once.
        assert!(kills.closed(3, 101, true, Some(8)));
        assert_eq!(kills.victims(8), [2, 3]);
        // A close long after is nobody's kill.
        assert!(!kills.closed(4, 5000, true, Some(9)));
    }
}
