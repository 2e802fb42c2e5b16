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
//! This file decides what changed. Two concerns it relies on live apart:
//!
//! - `align`: the edit script between two sequences of numbers. It knows
//!   nothing of cassettes (the keys are interned here), and its size limits
//!   and resynchronisation are a problem of their own.
//! - `render`: the result shown: [`render_text`] for people (replies as
//!   `resplay show` prints them), [`render_json`] as JSON lines for tools.
//!   Output formats change for their readers, not for the comparison.

mod align;
mod render;

use bytes::Bytes;
use rustc_hash::FxHashMap as HashMap;

use crate::cassette::{Cassette, Interaction};
use crate::pattern::{match_key, IgnoreRule};
use crate::resp::Value;

pub use align::{align, MAX_LCS_CELLS};
pub use render::{render_change, render_json, render_text, side_header};

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
        if self.is_empty() {
            return "no differences".to_string();
        }
        format!(
            "{} added, {} removed, {} changed",
            self.count(Kind::Added),
            self.count(Kind::Removed),
            self.count(Kind::Changed)
        )
    }
}

/// One side's connections: interactions in `seq` order, with their key ids.
struct Side<'a> {
    conns: Vec<Conn<'a>>,
}

struct Conn<'a> {
    items: Vec<&'a Interaction>,
    keys: Vec<u32>,
}

/// Match keys interned to small ids shared by both sides.
#[derive(Default)]
struct Keys {
    ids: HashMap<(u32, Vec<Bytes>), u32>,
}

impl Keys {
    fn id(&mut self, i: &Interaction, rules: &[IgnoreRule], track_db: bool) -> u32 {
        let key = match_key(&i.cmd, rules).into_owned();
        let db = if track_db { i.db } else { 0 };
        let next = self.ids.len() as u32;
        *self.ids.entry((db, key)).or_insert(next)
    }
}

fn side<'a>(
    cassette: &'a Cassette,
    keys: &mut Keys,
    rules: &[IgnoreRule],
    track_db: bool,
) -> Side<'a> {
    let mut index: HashMap<u64, usize> = HashMap::default();
    let mut conns: Vec<Vec<&Interaction>> = Vec::new();
    for i in cassette.interactions() {
        let at = *index.entry(i.conn).or_insert_with(|| {
            conns.push(Vec::new());
            conns.len() - 1
        });
        conns[at].push(i);
    }
    let conns = conns
        .into_iter()
        .map(|mut items| {
            // File order is completion order; seq is request order.
            items.sort_by_key(|i| i.seq);
            let keys = items.iter().map(|i| keys.id(i, rules, track_db)).collect();
            Conn { items, keys }
        })
        .collect();
    Side { conns }
}

/// Compares `old` with `new` (see the module documentation).
pub fn diff<'a>(old: &'a Cassette, new: &'a Cassette, rules: &[IgnoreRule]) -> Diff<'a> {
    // A cassette without `db` in its header does not know its databases.
    let track_db = old.header.db.is_some() && new.header.db.is_some();
    let mut keys = Keys::default();
    let a = side(old, &mut keys, rules, track_db);
    let b = side(new, &mut keys, rules, track_db);
    let partner = pair_connections(&a, &b);

    let mut diff = Diff::default();
    let mut paired_new = vec![false; b.conns.len()];
    for (x, conn) in a.conns.iter().enumerate() {
        match partner[x] {
            Some(y) => {
                paired_new[y] = true;
                compare(conn, &b.conns[y], &mut diff.changes);
            }
            None => diff.changes.extend(conn.items.iter().map(|&i| Change {
                kind: Kind::Removed,
                old: Some(i),
                new: None,
            })),
        }
    }
    for (y, conn) in b.conns.iter().enumerate() {
        if !paired_new[y] {
            diff.changes.extend(conn.items.iter().map(|&i| Change {
                kind: Kind::Added,
                old: None,
                new: Some(i),
            }));
        }
    }
    diff
}

/// For each old connection, its new partner.
fn pair_connections(a: &Side, b: &Side) -> Vec<Option<usize>> {
    let (n, m) = (a.conns.len(), b.conns.len());
    let mut partner = vec![None; n];
    if n.saturating_mul(m) > MAX_CONN_PAIRS {
        for (x, p) in partner.iter_mut().enumerate().take(m) {
            *p = Some(x);
        }
        return partner;
    }
    let counts = |c: &Conn| {
        let mut h: HashMap<u32, u32> = HashMap::default();
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
fn compare<'a>(a: &Conn<'a>, b: &Conn<'a>, out: &mut Vec<Change<'a>>) {
    for (x, y) in align(&a.keys, &b.keys) {
        let change = match (x, y) {
            (Some(x), Some(y)) => {
                let (o, n) = (a.items[x], b.items[y]);
                if same_replies(&o.replies, &n.replies) {
                    continue;
                }
                Change {
                    kind: Kind::Changed,
                    old: Some(o),
                    new: Some(n),
                }
            }
            (Some(x), None) => Change {
                kind: Kind::Removed,
                old: Some(a.items[x]),
                new: None,
            },
            (None, Some(y)) => Change {
                kind: Kind::Added,
                old: None,
                new: Some(b.items[y]),
            },
            (None, None) => continue,
        };
        out.push(change);
    }
}

fn same_replies(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
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
