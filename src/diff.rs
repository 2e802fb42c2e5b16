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
//! - Within a pair of connections the two key sequences are aligned by a
//!   longest common subsequence (after trimming the common prefix and
//!   suffix; a middle larger than [`MAX_LCS_CELLS`] is aligned by a greedy
//!   walk that resynchronises within a window instead). Aligned commands whose replies differ are
//!   **changed**; unaligned ones are **removed** (old side) or **added**
//!   (new side).
//!
//! Timing (`at_ms`, `took_us`), `seq` and connection ids never count as
//! changes. Pushes and connection open/close lines are not compared.
//!
//! [`render_text`] prints the result for people (replies as `resplay show`
//! prints them), [`render_json`] as JSON lines for tools.

use std::fmt::Write as _;

use bytes::Bytes;
use rustc_hash::FxHashMap as HashMap;

use crate::cassette::{Cassette, Interaction, JsonBytes, JsonValue};
use crate::pattern::{match_key, IgnoreRule};
use crate::replay::display::display_command;
use crate::resp::Value;
use crate::show::render_value;

/// The largest LCS table (old × new commands of one connection pair, after
/// trimming the common prefix and suffix) computed; past it, commands are
/// aligned by [`window_script`].
pub const MAX_LCS_CELLS: usize = 4_000_000;

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

/// An edit script over two key sequences: `(Some(i), Some(j))` for aligned
/// (equal) keys, one side `None` for a removal or an addition. Removals come
/// before additions at the same place.
pub fn align(a: &[u32], b: &[u32]) -> Vec<(Option<usize>, Option<usize>)> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut script: Vec<_> = (0..prefix).map(|k| (Some(k), Some(k))).collect();
    if ma.len().saturating_mul(mb.len()) <= MAX_LCS_CELLS {
        lcs_script(ma, mb, prefix, &mut script);
    } else {
        window_script(ma, mb, prefix, &mut script);
    }
    let (ta, tb) = (a.len() - suffix, b.len() - suffix);
    script.extend((0..suffix).map(|k| (Some(ta + k), Some(tb + k))));
    script
}

/// LCS by dynamic programming over suffixes, then a forward walk.
fn lcs_script(a: &[u32], b: &[u32], base: usize, out: &mut Vec<(Option<usize>, Option<usize>)>) {
    let (n, m) = (a.len(), b.len());
    let w = m + 1;
    // len[i][j]: LCS length of a[i..] and b[j..].
    let mut len = vec![0u32; (n + 1) * w];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            len[i * w + j] = if a[i] == b[j] {
                len[(i + 1) * w + j + 1] + 1
            } else {
                len[(i + 1) * w + j].max(len[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if a[i] == b[j] {
            out.push((Some(base + i), Some(base + j)));
            i += 1;
            j += 1;
        } else if len[(i + 1) * w + j] >= len[i * w + j + 1] {
            out.push((Some(base + i), None));
            i += 1;
        } else {
            out.push((None, Some(base + j)));
            j += 1;
        }
    }
    out.extend((i..n).map(|i| (Some(base + i), None)));
    out.extend((j..m).map(|j| (None, Some(base + j))));
}

/// How far [`window_script`] looks ahead for a resynchronisation point.
const WINDOW: usize = 64;

/// For a middle too large for the LCS table: walks both sides at once;
/// equal keys align, and at a mismatch the nearer resynchronisation within
/// [`WINDOW`] commands wins (the old command found a little later in the new
/// side means new commands were added, and the other way round); with
/// neither, the two are a removal and an addition.
fn window_script(a: &[u32], b: &[u32], base: usize, out: &mut Vec<(Option<usize>, Option<usize>)>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push((Some(base + i), Some(base + j)));
            i += 1;
            j += 1;
            continue;
        }
        let added = b[j..(j + WINDOW).min(b.len())]
            .iter()
            .position(|&k| k == a[i]);
        let removed = a[i..(i + WINDOW).min(a.len())]
            .iter()
            .position(|&k| k == b[j]);
        match (added, removed) {
            (Some(d), r) if r.map_or(true, |r| d <= r) => {
                out.extend((j..j + d).map(|j| (None, Some(base + j))));
                j += d;
            }
            (_, Some(d)) => {
                out.extend((i..i + d).map(|i| (Some(base + i), None)));
                i += d;
            }
            _ => {
                out.push((Some(base + i), None));
                out.push((None, Some(base + j)));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend((i..a.len()).map(|i| (Some(base + i), None)));
    out.extend((j..b.len()).map(|j| (None, Some(base + j))));
}

/// The header line of one side: `--- FILE: N interactions on C connections, created …`.
pub fn side_header(marker: &str, name: &str, cassette: &Cassette) -> String {
    let interactions = cassette.interactions().count();
    let mut conns: Vec<u64> = cassette.interactions().map(|i| i.conn).collect();
    conns.sort_unstable();
    conns.dedup();
    let mut line = format!(
        "{marker} {name}: {interactions} interaction{} on {} connection{}",
        plural(interactions),
        conns.len(),
        plural(conns.len())
    );
    if !cassette.header.created.is_empty() {
        let _ = write!(line, ", created {}", cassette.header.created);
    }
    if let Some(upstream) = &cassette.header.upstream {
        let _ = write!(line, ", upstream {upstream}");
    }
    line
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The human listing: a header line per side (`--- OLD`, `+++ NEW`), one
/// entry per change, and the summary line.
///
/// ```text
/// + conn 2 db 0  SET user:1 x -> OK
/// - conn 1 db 0  DEL tmp -> (integer) 1
/// ~ conn 1 db 0  GET k: "old" -> "new"
/// ```
///
/// A reply that `resplay show` prints on several lines (an aggregate, or
/// several replies) follows on its own lines, indented, each line marked
/// `-` (old) or `+` (new) for a change.
pub fn render_text(
    diff: &Diff,
    (old_name, old): (&str, &Cassette),
    (new_name, new): (&str, &Cassette),
) -> String {
    let mut out = String::new();
    out.push_str(&side_header("---", old_name, old));
    out.push('\n');
    out.push_str(&side_header("+++", new_name, new));
    out.push('\n');
    for change in &diff.changes {
        render_change(change, &mut out);
    }
    out.push_str(&diff.summary());
    out.push('\n');
    out
}

/// Appends one change's entry.
pub fn render_change(change: &Change, out: &mut String) {
    let i = change.subject();
    let _ = write!(
        out,
        "{} conn {} db {}  {}",
        change.kind.marker(),
        i.conn,
        i.db,
        display_command(&i.cmd)
    );
    match change.kind {
        Kind::Added | Kind::Removed => match replies_text(&i.replies) {
            Ok(line) => {
                let _ = writeln!(out, " -> {line}");
            }
            Err(lines) => {
                out.push_str(" ->\n");
                indented(&lines, "    ", out);
            }
        },
        Kind::Changed => {
            let old = change.old.map(|o| &o.replies[..]).unwrap_or_default();
            match (replies_text(old), replies_text(&i.replies)) {
                (Ok(o), Ok(n)) => {
                    let _ = writeln!(out, ": {o} -> {n}");
                }
                (o, n) => {
                    out.push_str(":\n");
                    indented(&o.unwrap_or_else(|e| e), "    - ", out);
                    indented(&n.unwrap_or_else(|e| e), "    + ", out);
                }
            }
        }
    }
}

fn indented(text: &str, prefix: &str, out: &mut String) {
    for line in text.lines() {
        out.push_str(prefix);
        out.push_str(line);
        out.push('\n');
    }
}

/// The replies as `show` prints them: `Ok` with one line (no newline), or
/// `Err` with the whole multi-line text.
fn replies_text(replies: &[Value]) -> Result<String, String> {
    let mut text = String::new();
    if replies.is_empty() {
        text.push_str("(no reply)\n");
    }
    for reply in replies {
        render_value(reply, &mut text);
    }
    match text.strip_suffix('\n') {
        Some(line) if !line.contains('\n') => Ok(line.to_string()),
        _ => Err(text),
    }
}

/// One JSON object a line per change:
/// `{"kind":"changed","conn":1,"old_conn":1,"new_conn":1,"db":0,"command":["GET","k"],"old_reply":"a","new_reply":"b"}`.
///
/// `conn` is the new side's connection (the old side's for a removal);
/// `command` is as the new side sent it (the old side's for a removal), and
/// for a change whose arguments differ in ignored parts, `old_command` is
/// the old one. Replies are in cassette JSON, named as in the cassette:
/// `old_reply`/`new_reply` for one reply, `old_replies`/`new_replies` for
/// several or none; the side a change does not have is left out.
pub fn render_json(diff: &Diff, out: &mut Vec<u8>) {
    for change in &diff.changes {
        let i = change.subject();
        let (old_reply, old_replies) = replies_json(change.old);
        let (new_reply, new_replies) = replies_json(change.new);
        let line = JsonChange {
            kind: change.kind.as_str(),
            conn: i.conn,
            old_conn: change.old.map(|o| o.conn),
            new_conn: change.new.map(|n| n.conn),
            db: i.db,
            command: Args(&i.cmd),
            old_command: match (change.old, change.new) {
                (Some(o), Some(n)) if o.cmd != n.cmd => Some(Args(&o.cmd)),
                _ => None,
            },
            old_reply,
            old_replies,
            new_reply,
            new_replies,
        };
        // Writing to a Vec cannot fail; every key is a string.
        let _ = serde_json::to_writer(&mut *out, &line);
        out.push(b'\n');
    }
}

/// One line of [`render_json`], its keys in this order.
#[derive(serde::Serialize)]
struct JsonChange<'a> {
    kind: &'static str,
    conn: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_conn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_conn: Option<u64>,
    db: u32,
    command: Args<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_command: Option<Args<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_reply: Option<JsonValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_replies: Option<Vec<JsonValue<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_reply: Option<JsonValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_replies: Option<Vec<JsonValue<'a>>>,
}

/// A command's arguments as the cassette writes them.
struct Args<'a>(&'a [Bytes]);

impl serde::Serialize for Args<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|a| JsonBytes(a)))
    }
}

/// A side's replies: `reply` when there is one, else `replies`; neither
/// for a side the change does not have.
type RepliesJson<'a> = (Option<JsonValue<'a>>, Option<Vec<JsonValue<'a>>>);

fn replies_json(side: Option<&Interaction>) -> RepliesJson<'_> {
    match side.map(|i| &i.replies[..]) {
        None => (None, None),
        Some([one]) => (Some(JsonValue(one)), None),
        Some(many) => (None, Some(many.iter().map(JsonValue).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn load(text: &str) -> Cassette {
        crate::cassette::parse(text.to_string(), Path::new("t.jsonl")).unwrap()
    }

    const HEAD: &str = r#"{"resplay":1,"created":"2026-01-01T00:00:00Z","db":0}"#;

    fn cassette(lines: &[&str]) -> Cassette {
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

    fn listing(old: &Cassette, new: &Cassette, rules: &[IgnoreRule]) -> Vec<String> {
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

    #[test]
    fn whole_connections_added_and_multiline_replies() {
        let old =
            cassette(&[r#"{"conn":1,"seq":0,"cmd":["LRANGE","l","0","-1"],"reply":["a","b"]}"#]);
        let new = cassette(&[
            r#"{"conn":1,"seq":0,"cmd":["LRANGE","l","0","-1"],"reply":["a","c"]}"#,
            r#"{"conn":2,"seq":0,"cmd":["SUBSCRIBE","x","y"],"replies":[["subscribe","x",1],["subscribe","y",2]]}"#,
            r#"{"conn":2,"seq":1,"cmd":["CLIENT","REPLY","OFF"]}"#,
        ]);
        let text = listing(&old, &new, &[]).join("\n");
        assert_eq!(
            text,
            "~ conn 1 db 0  LRANGE l 0 -1:\n    - 1) \"a\"\n    - 2) \"b\"\n    + 1) \"a\"\n    + 2) \"c\"\n\
             + conn 2 db 0  SUBSCRIBE x y ->\n    1) \"subscribe\"\n    2) \"x\"\n    3) (integer) 1\n    1) \"subscribe\"\n    2) \"y\"\n    3) (integer) 2\n\
             + conn 2 db 0  CLIENT REPLY OFF -> (no reply)"
        );
    }

    #[test]
    fn json_lines() {
        let old = cassette(&[r#"{"conn":3,"seq":0,"cmd":["GET","k"],"reply":null}"#]);
        let new = cassette(&[
            r#"{"conn":1,"seq":0,"cmd":["GET","k"],"reply":"v"}"#,
            r#"{"conn":1,"seq":1,"cmd":["SET","k",{"b64":"/wA="}],"reply":{"+":"OK"}}"#,
        ]);
        let mut out = Vec::new();
        render_json(&diff(&old, &new, &[]), &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            json!({"kind":"changed","conn":1,"old_conn":3,"new_conn":1,"db":0,
                   "command":["GET","k"],"old_reply":null,"new_reply":"v"})
        );
        assert_eq!(
            lines[1],
            json!({"kind":"added","conn":1,"new_conn":1,"db":0,
                   "command":["SET","k",{"b64":"/wA="}],"new_reply":{"+":"OK"}})
        );
    }

    #[test]
    fn large_middles_still_resynchronise() {
        let a: Vec<u32> = (0..3000).collect();
        let mut b = vec![99_999];
        b.extend(1..100);
        b.extend(70_000..70_010);
        b.extend(100..1500);
        b.extend(1501..2999);
        b.push(88_888);
        assert!((a.len() - 2) * (b.len() - 2) > MAX_LCS_CELLS);
        let script = align(&a, &b);
        let aligned = script
            .iter()
            .filter(|(x, y)| x.is_some() && y.is_some())
            .count();
        assert_eq!(aligned, 2997);
        for &(x, y) in &script {
            if let (Some(x), Some(y)) = (x, y) {
                assert_eq!(a[x], b[y]);
            }
        }
    }

    #[test]
    fn alignment() {
        let script = align(&[1, 2, 3, 4], &[1, 3, 5, 4]);
        assert_eq!(
            script,
            [
                (Some(0), Some(0)),
                (Some(1), None),
                (Some(2), Some(1)),
                (None, Some(2)),
                (Some(3), Some(3)),
            ]
        );
        assert_eq!(align(&[], &[7]), [(None, Some(0))]);
        let mut out = Vec::new();
        window_script(&[1, 2, 9], &[1, 3, 4, 9, 5], 0, &mut out);
        assert_eq!(
            out,
            [
                (Some(0), Some(0)),
                (Some(1), None),
                (None, Some(1)),
                (None, Some(2)),
                (Some(2), Some(3)),
                (None, Some(4)),
            ]
        );
    }
}
