//! The result of a diff, shown: [`render_text`] for people, [`render_json`]
//! as JSON lines for tools.
//!
//! The comparison decides what changed; this decides how it reads. Replies
//! are printed as `resplay show` prints them (redis-cli style) in the text,
//! and in cassette JSON in the JSON lines, so each output matches what its
//! reader already knows. Neither changes what counts as a change.

use std::fmt::Write as _;

use bytes::Bytes;

use super::{Change, Diff, Kind};
use crate::cassette::{Cassette, Header, Interaction, JsonBytes, JsonValue};
use crate::replay::display::display_command;
use crate::resp::Value;
use crate::show::render_value;

/// The header line of one side: `--- FILE: N interactions on C connections, created …`.
pub fn side_header(marker: &str, name: &str, cassette: &Cassette) -> String {
    let mut conns: Vec<u64> = cassette.interactions().map(|i| i.conn).collect();
    conns.sort_unstable();
    conns.dedup();
    let interactions = cassette.interactions().count();
    side_line(marker, name, &cassette.header, interactions, conns.len())
}

/// [`side_header`] from the counts, for a cassette not in memory.
pub(super) fn side_line(
    marker: &str,
    name: &str,
    header: &Header,
    interactions: usize,
    conns: usize,
) -> String {
    let mut line = format!(
        "{marker} {name}: {interactions} interaction{} on {conns} connection{}",
        plural(interactions),
        plural(conns)
    );
    if !header.created.is_empty() {
        let _ = write!(line, ", created {}", header.created);
    }
    if let Some(upstream) = &header.upstream {
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
        render_change_json(change, out);
    }
}

/// One change's line of [`render_json`].
pub fn render_change_json(change: &Change, out: &mut Vec<u8>) {
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
    use crate::diff::diff;
    use crate::diff::tests::{cassette, listing};
    use serde_json::json;

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
}
