//! Whether a proposed rule is safe, and what it is worth.
//!
//! **Safe**: a rule makes some recorded commands share a match key. That
//! is its purpose when they differ only by a value the client makes up;
//! it is a hazard when they are different questions with different answers
//! (`GET session:alice` → "1" and `GET session:bob` → "2" under `GET
//! session:*`): replay could answer one with the other's reply. So in every
//! input recording, the commands the rule changes are grouped by their new
//! key; a group holding two different commands with different replies
//! rejects the rule, naming them.
//!
//! **Worth**: each later recording replays against the first through the
//! replay server's own matcher (connections bound, tokens paired, repeats
//! on), and the commands it misses are counted, with and without the rule.

use std::collections::HashMap;

use bytes::Bytes;

use crate::cassette::{Cassette, Event};
use crate::command::Class;
use crate::pattern::{match_key, IgnoreRule};
use crate::replay::display::display_command;
use crate::replay::handshake::is_handshake;
use crate::replay::matcher::{Matched, Matcher};
use crate::resp::Value;

/// A command's database and match key.
type MatchKey = (u32, Vec<Bytes>);

/// The first recorded command seen under a key, and its replies.
type FirstSeen<'a> = (&'a [Bytes], &'a [Value]);

/// Why `rule` (on top of `rules`) would let two different recorded commands
/// answer each other, if it would.
pub fn ambiguity(
    cassettes: &[Cassette],
    rules: &[IgnoreRule],
    rule: &IgnoreRule,
) -> Option<String> {
    let with: Vec<IgnoreRule> = rules.iter().cloned().chain([rule.clone()]).collect();
    for cassette in cassettes {
        let mut keys: HashMap<MatchKey, FirstSeen> = HashMap::new();
        for event in &cassette.events {
            let Event::Interaction(i) = event else {
                continue;
            };
            let key = match_key(&i.cmd, &with);
            if key == match_key(&i.cmd, rules) {
                continue; // the rule does not touch it
            }
            let key = (i.db, key.into_owned());
            match keys.get(&key) {
                None => {
                    keys.insert(key, (&i.cmd, &i.replies));
                }
                Some((cmd, replies)) if *cmd != &i.cmd[..] && *replies != &i.replies[..] => {
                    return Some(format!(
                        "it would let '{}' ({}) and '{}' ({}) answer each other",
                        display_command(cmd),
                        shown(replies),
                        display_command(&i.cmd),
                        shown(&i.replies)
                    ));
                }
                Some(_) => {}
            }
        }
    }
    None
}

fn shown(replies: &[Value]) -> String {
    let mut out = String::new();
    for reply in replies {
        crate::text::reply::render_value(reply, &mut out);
    }
    let out = out.trim_end().replace('\n', " ");
    if out.chars().count() > 40 {
        format!("{}…", out.chars().take(40).collect::<String>())
    } else {
        out
    }
}

/// Commands of the `later` recordings no recording of `first` answers,
/// under `rules`, each replayed on its own as a fresh replay would (wall-
/// clock shifting aside: learn is what finds the times to ignore).
pub fn misses(first: &Cassette, later: &[Cassette], rules: &[IgnoreRule]) -> u64 {
    let mut missed = 0;
    for other in later {
        let mut matcher = Matcher::new(first.clone(), rules.to_vec(), true);
        matcher.set_track_db(first.header.db.is_some());
        let mut connected = std::collections::HashSet::new();
        for event in &other.events {
            let Event::Interaction(i) = event else {
                continue;
            };
            if connected.insert(i.conn) {
                matcher.connect(i.conn);
            }
            let class = Class::of(&i.cmd);
            // As the replay server answers: values paired earlier read as
            // the recorded ones, then an exact match, then one that differs
            // only in made-up tokens; a handshake call it makes up misses
            // nothing.
            let translated = matcher.tokens().to_recorded(&i.cmd);
            let key = translated.as_deref().unwrap_or(&i.cmd);
            let found = match matcher.find_with(i.conn, i.db, key, class) {
                Matched::Miss { .. } => matcher.find_tokened(i.conn, i.db, &i.cmd, class),
                hit => Some(hit),
            };
            if found.is_none() && !is_handshake(class, &i.cmd) {
                missed += 1;
            }
        }
    }
    missed
}
