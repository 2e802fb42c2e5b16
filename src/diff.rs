//! `resplay diff`: what a re-recording changed, in Redis commands.
//!
//! [`diff`] compares two loaded cassettes the way replay would serve them:
//!
//! - **per connection, in order.** Each side's interactions are grouped by
//!   recorded connection and put in `seq` order. Connections are paired by
//!   what they sent: the pair sharing the most commands (as a multiset)
//!   goes first, ties to the pair closest in order of first appearance, so
//!   connection ids and the order connections opened do not matter.
//!   Connections left without a partner (nothing in common with any other)
//!   are entirely added or removed.
//! - **by match key.** A command is compared by its replay match key: name
//!   uppercased, the first applicable ignore rule's ignored parts replaced,
//!   and its database when both cassettes record databases (the header's
//!   `db`). A volatile argument covered by `--ignore` is therefore no change.
//! - Within a pair of connections the two key sequences are aligned
//!   ([`align()`]: a longest common subsequence, or a windowed walk for a
//!   middle past [`MAX_LCS_CELLS`]). Aligned commands whose replies differ
//!   are **changed**; unaligned ones are **removed** (old side) or
//!   **added** (new side).
//!
//! Timing (`at_ms`, `took_us`), `seq` and connection ids never count as
//! changes. Pushes and connection open/close lines are not compared.
//!
//! This file decides what changed, on summaries of the two cassettes
//! rather than the cassettes themselves. The concerns it relies on live
//! apart:
//!
//! - `summary`: a cassette reduced to what comparing reads: per
//!   connection, each interaction's match key (interned to a number), a
//!   hash of its replies and its ordinal in the file. 16 bytes an
//!   interaction, whatever it holds.
//! - `files`: [`diff_files`], the diff of two files in that memory: one
//!   streaming pass to summarise each, then a second that reads back only
//!   the changed interactions, to show them. [`diff`] is the same on
//!   cassettes already loaded.
//! - `align`: the edit script between two sequences of numbers. It knows
//!   nothing of cassettes (the keys are interned by `summary`), and its size
//!   limits and resynchronisation are a problem of their own.
//! - `render`: the result shown: [`render_text`] for people (replies as
//!   `resplay show` prints them), [`render_json`] as JSON lines for tools.
//!   Output formats change for their readers, not for the comparison.

mod align;
mod files;
mod render;
mod summary;

use crate::cassette::{Cassette, Interaction};
use crate::pattern::IgnoreRule;

pub use align::{align, MAX_LCS_CELLS};
pub use files::{diff_files, DiffError, FileDiff};
pub use render::{render_change, render_change_json, render_json, render_text, side_header};
use summary::{track_db, Keys, Summarizer, Summary};

/// The largest number of connection pairs weighed against each other; past
/// it, connections are paired in order of first appearance.
const MAX_CONN_PAIRS: usize = 1_000_000;

/// What happened to an interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only in the new cassette.
    Added,
    /// Only in the old cassette.
    Removed,
    /// In both (same match key), with other replies.
    Changed,
}

impl Kind {
    /// `added`, `removed`, `changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Changed => "changed",
        }
    }

    /// The line marker: `+`, `-`, `~`.
    pub fn marker(self) -> char {
        match self {
            Kind::Added => '+',
            Kind::Removed => '-',
            Kind::Changed => '~',
        }
    }
}

/// One difference.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// What happened.
    pub kind: Kind,
    /// The old interaction (removed, changed).
    pub old: Option<&'a Interaction>,
    /// The new interaction (added, changed).
    pub new: Option<&'a Interaction>,
}

impl<'a> Change<'a> {
    /// The interaction to describe the command by: the new one when there
    /// is one.
    pub fn subject(&self) -> &'a Interaction {
        match (self.new, self.old) {
            (Some(i), _) | (None, Some(i)) => i,
            (None, None) => unreachable!("a change has at least one side"),
        }
    }
}

/// The differences between two cassettes.
#[derive(Debug, Default)]
pub struct Diff<'a> {
    /// In order: by connection pair (old connections in order of first
    /// appearance, then new connections without a partner), then by
    /// position in the connection.
    pub changes: Vec<Change<'a>>,
}

impl Diff<'_> {
    /// True when the cassettes are equivalent.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes of `kind`.
    pub fn count(&self, kind: Kind) -> usize {
        self.changes.iter().filter(|c| c.kind == kind).count()
    }

    /// `3 added, 1 removed, 2 changed`, or `no differences`.
    pub fn summary(&self) -> String {
        summary_line(self.changes.iter().map(|c| c.kind))
    }
}

/// The summary line of changes of these kinds.
fn summary_line(kinds: impl Iterator<Item = Kind>) -> String {
    let mut n = [0usize; 3];
    for kind in kinds {
        n[kind as usize] += 1;
    }
    if n == [0; 3] {
        return "no differences".to_string();
    }
    let [added, removed, changed] = n;
    format!("{added} added, {removed} removed, {changed} changed")
}

/// A change as the comparison finds it: the interactions' ordinals in
/// their files (see [`summary`]), resolved to interactions for showing.
#[derive(Debug, Clone, Copy)]
struct Found {
    kind: Kind,
    old: Option<u32>,
    new: Option<u32>,
}

/// Compares `old` with `new` (see the module documentation), both in
/// memory. [`diff_files`] does the same from files without holding them.
pub fn diff<'a>(old: &'a Cassette, new: &'a Cassette, rules: &[IgnoreRule]) -> Diff<'a> {
    let track = track_db(&old.header, &new.header);
    let mut keys = Keys::default();
    let mut summarize = |c: &Cassette| {
        let mut s = Summarizer::new(&mut keys, rules, track);
        c.interactions().for_each(|i| s.add(i));
        s.finish()
    };
    let (a, b) = (summarize(old), summarize(new));
    let (oi, ni): (Vec<_>, Vec<_>) = (old.interactions().collect(), new.interactions().collect());
    let changes = compare(&a, &b)
        .into_iter()
        .map(|f| Change {
            kind: f.kind,
            old: f.old.map(|o| oi[o as usize]),
            new: f.new.map(|n| ni[n as usize]),
        })
        .collect();
    Diff { changes }
}

/// The changes between two summaries, in output order.
fn compare(a: &Summary, b: &Summary) -> Vec<Found> {
    let partner = pair_connections(a, b);
    let mut found = Vec::new();
    let mut paired_new = vec![false; b.conns.len()];
    for (x, conn) in a.conns.iter().enumerate() {
        match partner[x] {
            Some(y) => {
                paired_new[y] = true;
                compare_conns(conn, &b.conns[y], &mut found);
            }
            None => found.extend(conn.ordinals.iter().map(|&o| Found {
                kind: Kind::Removed,
                old: Some(o),
                new: None,
            })),
        }
    }
    for (y, conn) in b.conns.iter().enumerate() {
        if !paired_new[y] {
            found.extend(conn.ordinals.iter().map(|&n| Found {
                kind: Kind::Added,
                old: None,
                new: Some(n),
            }));
        }
    }
    found
}

/// For each old connection, its new partner.
fn pair_connections(a: &Summary, b: &Summary) -> Vec<Option<usize>> {
    let (n, m) = (a.conns.len(), b.conns.len());
    let mut partner = vec![None; n];
    if n.saturating_mul(m) > MAX_CONN_PAIRS {
        for (x, p) in partner.iter_mut().enumerate().take(m) {
            *p = Some(x);
        }
        return partner;
    }
    let counts = |c: &summary::ConnSummary| {
        let mut h: rustc_hash::FxHashMap<u32, u32> = Default::default();
        for &k in &c.keys {
            *h.entry(k).or_default() += 1;
        }
        h
    };
    let ca: Vec<_> = a.conns.iter().map(counts).collect();
    let cb: Vec<_> = b.conns.iter().map(counts).collect();
    let mut candidates = Vec::new();
    for (x, hx) in ca.iter().enumerate() {
        for (y, hy) in cb.iter().enumerate() {
            let (small, large) = if hx.len() <= hy.len() {
                (hx, hy)
            } else {
                (hy, hx)
            };
            let shared: u64 = small
                .iter()
                .map(|(k, &c)| u64::from(c.min(large.get(k).copied().unwrap_or(0))))
                .sum();
            if shared > 0 {
                candidates.push((shared, x.abs_diff(y), x, y));
            }
        }
    }
    // Most shared first; then the closest in order of first appearance.
    candidates.sort_by(|p, q| q.0.cmp(&p.0).then(p.1.cmp(&q.1)).then(p.2.cmp(&q.2)));
    let mut taken = vec![false; m];
    for (_, _, x, y) in candidates {
        if partner[x].is_none() && !taken[y] {
            partner[x] = Some(y);
            taken[y] = true;
        }
    }
    partner
}

/// Aligns two connections' commands and records what differs.
fn compare_conns(a: &summary::ConnSummary, b: &summary::ConnSummary, out: &mut Vec<Found>) {
    for (x, y) in align(&a.keys, &b.keys) {
        let found = match (x, y) {
            (Some(x), Some(y)) => {
                if a.replies[x] == b.replies[y] {
                    continue;
                }
                Found {
                    kind: Kind::Changed,
                    old: Some(a.ordinals[x]),
                    new: Some(b.ordinals[y]),
                }
            }
            (Some(x), None) => Found {
                kind: Kind::Removed,
                old: Some(a.ordinals[x]),
                new: None,
            },
            (None, Some(y)) => Found {
                kind: Kind::Added,
                old: None,
                new: Some(b.ordinals[y]),
            },
            (None, None) => continue,
        };
        out.push(found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn load(text: &str) -> Cassette {
        crate::cassette::parse(text.to_string(), Path::new("t.jsonl")).unwrap()
    }

    const HEAD: &str = r#"{"resplay":1,"created":"2026-01-01T00:00:00Z","db":0}"#;

    /// A cassette of `lines` under a header that records databases.
    pub(super) fn cassette(lines: &[&str]) -> Cassette {
        let mut text = String::from(HEAD);
        text.push('\n');
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        load(&text)
    }

    fn rules(texts: &[&str]) -> Vec<IgnoreRule> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    /// The changes as `resplay diff` lists them, a line each.
    pub(super) fn listing(old: &Cassette, new: &Cassette, rules: &[IgnoreRule]) -> Vec<String> {
        let d = diff(old, new, rules);
        let mut out = String::new();
        for c in &d.changes {
            render_change(c, &mut out);
        }
        out.lines().map(str::to_string).collect()
    }

    #[test]
    fn identical_but_for_timing_and_ids() {
        let old = cassette(&[
            r#"{"conn":1,"seq":0,"at_ms":1,"took_us":5,"cmd":["SET","k","v"],"reply":{"+":"OK"}}"#,
            r#"{"conn":1,"seq":1,"at_ms":2,"took_us":5,"cmd":["GET","k"],"reply":"v"}"#,
            r#"{"conn":2,"seq":0,"at_ms":3,"took_us":5,"cmd":["INCR","n"],"reply":1}"#,
        ]);
        // Other ids, timings, completion order; conn 9 opened first.
        let new = cassette(&[
            r#"{"conn":9,"seq":0,"at_ms":0,"took_us":50,"cmd":["INCR","n"],"reply":1}"#,
            r#"{"conn":4,"seq":1,"at_ms":20,"took_us":9,"cmd":["GET","k"],"reply":"v"}"#,
            r#"{"conn":4,"seq":0,"at_ms":10,"took_us":7,"cmd":["set","k","v"],"reply":{"+":"OK"}}"#,
        ]);
        let d = diff(&old, &new, &[]);
        assert!(d.is_empty(), "{:?}", listing(&old, &new, &[]));
        assert_eq!(d.summary(), "no differences");
    }

    #[test]
    fn added_removed_changed() {
        let old = cassette(&[
            r#"{"conn":1,"seq":0,"cmd":["SET","user:1","x"],"reply":{"+":"OK"}}"#,
            r#"{"conn":1,"seq":1,"cmd":["GET","k"],"reply":"old"}"#,
            r#"{"conn":1,"seq":2,"cmd":["DEL","tmp"],"reply":1}"#,
        ]);
        let new = cassette(&[
            r#"{"conn":1,"seq":0,"cmd":["SET","user:1","x"],"reply":{"+":"OK"}}"#,
            r#"{"conn":1,"seq":1,"cmd":["GET","k"],"reply":"new"}"#,
            r#"{"conn":1,"seq":2,"cmd":["SET","user:2","y"],"reply":{"+":"OK"}}"#,
        ]);
        assert_eq!(
            listing(&old, &new, &[]),
            [
                "~ conn 1 db 0  GET k: \"old\" -> \"new\"",
                "- conn 1 db 0  DEL tmp -> (integer) 1",
                "+ conn 1 db 0  SET user:2 y -> OK",
            ]
        );
        assert_eq!(
            diff(&old, &new, &[]).summary(),
            "1 added, 1 removed, 1 changed"
        );
    }

    #[test]
    fn ignore_rules_hide_volatile_arguments() {
        let old = cassette(&[
            r#"{"conn":1,"seq":0,"cmd":["SET","lock:ab","1","PX","3000"],"reply":{"+":"OK"}}"#,
        ]);
        let new = cassette(&[
            r#"{"conn":1,"seq":0,"cmd":["SET","lock:cd","2","PX","3000"],"reply":{"+":"OK"}}"#,
        ]);
        assert_eq!(
            diff(&old, &new, &[]).summary(),
            "1 added, 1 removed, 0 changed"
        );
        let r = rules(&["SET lock:* <any> PX <any>"]);
        assert!(diff(&old, &new, &r).is_empty());
    }

    #[test]
    fn databases_count_when_both_sides_know_them() {
        let old = cassette(&[r#"{"conn":1,"seq":0,"cmd":["GET","k"],"reply":"a"}"#]);
        let new = cassette(&[r#"{"conn":1,"db":2,"seq":0,"cmd":["GET","k"],"reply":"b"}"#]);
        assert_eq!(
            listing(&old, &new, &[]),
            [
                "- conn 1 db 0  GET k -> \"a\"",
                "+ conn 1 db 2  GET k -> \"b\"",
            ]
        );
        // Without `db` in a header, databases are not compared.
        let mut legacy = new.clone();
        legacy.header.db = None;
        assert_eq!(
            listing(&old, &legacy, &[]),
            ["~ conn 1 db 2  GET k: \"a\" -> \"b\""]
        );
    }

    #[test]
    fn connections_pair_by_content_not_id() {
        let old = cassette(&[
            r#"{"conn":1,"seq":0,"cmd":["GET","a"],"reply":"1"}"#,
            r#"{"conn":2,"seq":0,"cmd":["GET","b"],"reply":"2"}"#,
        ]);
        let new = cassette(&[
            r#"{"conn":1,"seq":0,"cmd":["GET","b"],"reply":"2"}"#,
            r#"{"conn":2,"seq":0,"cmd":["GET","a"],"reply":"changed"}"#,
        ]);
        assert_eq!(
            listing(&old, &new, &[]),
            ["~ conn 2 db 0  GET a: \"1\" -> \"changed\""]
        );
    }
}
