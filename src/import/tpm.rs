//! The Protocol Master's Redis recordings.
//!
//! An entry is a JSON object: `connectionId`, `index` (global order),
//! `input` (the command as an array of strings, or `{"type","data"}` in
//! older recordings; `null` for data the server pushed), `output` (the
//! reply, or `{"type","data"}`), `durationMs`, `type` (`Resp3Message`, or
//! `RESPONSE` for a push) and metadata (`caller`, `inputType`,
//! `outputType`, `constant`, `tags`). A file holds one entry (TPM writes
//! `0000000001.json`, …) or an array of them.
//!
//! Values: a JSON array is a RESP array unless its first element is one of
//! the markers `@@ARRAY@@`, `@@MAP@@` (then the other elements are
//! `[key, value]` pairs), `@@SET@@` or `@@PUSH@@`; a string is a string
//! (simple or bulk: TPM does not say), a number an integer or a double, an
//! object with `msg` an error (`type` its first word) or, with `type`
//! `txt`/`bin`, a verbatim string. See `docs/import.md`.

use bytes::Bytes;
use serde_json::Value as Json;

use super::{Import, ImportError};
use crate::resp::Value;

/// Keys of an entry that carry nothing a cassette keeps (or that are read).
const KNOWN_KEYS: &[&str] = &[
    "connectionId",
    "index",
    "input",
    "output",
    "durationMs",
    "type",
    "caller",
    "inputType",
    "outputType",
    "constant",
    "tags",
    "timestamp",
];

/// One entry, read and checked.
struct Entry {
    file: String,
    label: String,
    index: i64,
    conn: u64,
    took_us: u64,
    /// `None` for a push.
    cmd: Option<Vec<Bytes>>,
    reply: Value,
    notes: Notes,
}

/// What could not be carried over exactly in one entry.
#[derive(Default)]
struct Notes {
    non_ascii: usize,
    simple: usize,
    bulk: usize,
    doubles: usize,
    errors: usize,
    big: usize,
    other: Vec<String>,
}

impl Notes {
    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.non_ascii > 0 {
            out.push(format!(
                "{} string(s) with characters above 0x7F: TPM kept bytes above 0x7F as text, so the original bytes are unknown; written as their UTF-8 encoding",
                self.non_ascii
            ));
        }
        if self.simple + self.bulk > 0 {
            out.push(format!(
                "RESP string types not recorded: {} written as simple strings (OK/PONG/QUEUED replies), {} as bulk strings",
                self.simple, self.bulk
            ));
        }
        if self.doubles > 0 {
            out.push(format!(
                "{} double(s): the text Redis sent is not kept; written as JSON printed it",
                self.doubles
            ));
        }
        if self.errors > 0 {
            out.push(format!(
                "{} error(s): simple or bulk error not recorded; written as simple unless they hold CR or LF",
                self.errors
            ));
        }
        if self.big > 0 {
            out.push(format!(
                "{} integer(s) beyond 64 bits: written as big numbers",
                self.big
            ));
        }
        out.extend(self.other.iter().cloned());
        out
    }
}

/// Reads every file's entries, orders them by `index` and appends them.
pub fn import_all(files: &[(String, Vec<u8>)], import: &mut Import) -> Result<(), ImportError> {
    let mut entries = Vec::new();
    for (name, text) in files {
        let json: Json = serde_json::from_slice(text)
            .map_err(|e| ImportError::new(name, "file", format!("not JSON: {e}")))?;
        match json {
            Json::Array(items) if is_index(&items) => {
                // TPM's `index.json` lists entries without their content.
                import.warn(
                    name,
                    "file",
                    "TPM's index of entries (no commands or replies): skipped",
                );
            }
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    entries.push(entry(name, &format!("entry {i}"), item)?);
                }
            }
            Json::Object(_) => entries.push(entry(name, "entry", &json)?),
            _ => {
                return Err(ImportError::new(
                    name,
                    "file",
                    "expected a TPM entry (an object) or an array of entries",
                ))
            }
        }
    }
    entries.sort_by_key(|e| e.index);
    let conns = renumber(&entries);
    for e in entries {
        let conn = conns[&e.conn];
        for line in e.notes.lines() {
            import.warn(&e.file, &e.label, line);
        }
        match e.cmd {
            Some(cmd) => import.interaction(conn, 0, e.took_us, cmd, vec![e.reply]),
            None => import.push(conn, 0, e.reply),
        }
    }
    Ok(())
}

/// True for TPM's `index.json`: entries with neither `output` nor `connectionId`.
fn is_index(items: &[Json]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("output").is_none() && i.get("connectionId").is_none())
}

/// Cassette connection ids (from 1) for TPM's, in order of first use.
fn renumber(entries: &[Entry]) -> std::collections::HashMap<u64, u64> {
    let mut map = std::collections::HashMap::new();
    for e in entries {
        let next = map.len() as u64 + 1;
        map.entry(e.conn).or_insert(next);
    }
    map
}

fn entry(file: &str, fallback: &str, json: &Json) -> Result<Entry, ImportError> {
    let Json::Object(obj) = json else {
        return Err(ImportError::new(
            file,
            fallback,
            "an entry must be a JSON object",
        ));
    };
    let index = obj.get("index").and_then(Json::as_i64);
    let label = match index {
        Some(i) => format!("index {i}"),
        None => fallback.to_string(),
    };
    let err = |msg: String| ImportError::new(file, &label, msg);
    let index = index.ok_or_else(|| err("missing or non-integer `index`".into()))?;
    let conn = obj
        .get("connectionId")
        .and_then(Json::as_u64)
        .ok_or_else(|| err("missing or non-integer `connectionId`".into()))?;
    let mut notes = Notes::default();
    for key in obj.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            notes.other.push(format!("unknown key `{key}` ignored"));
        }
    }
    let took_us = obj
        .get("durationMs")
        .and_then(Json::as_u64)
        .unwrap_or(0)
        .saturating_mul(1000);
    let input = unwrap_data(obj.get("input").unwrap_or(&Json::Null));
    let output = unwrap_data(
        obj.get("output")
            .ok_or_else(|| err("missing `output`".into()))?,
    );
    let is_push = input.is_null() || obj.get("type").and_then(Json::as_str) == Some("RESPONSE");
    let cmd = if is_push {
        if !input.is_null() {
            notes
                .other
                .push("a RESPONSE entry's `input` ignored".into());
        }
        None
    } else {
        let Json::Array(args) = input else {
            return Err(err(
                "`input` must be an array of strings (the command)".into()
            ));
        };
        if args.is_empty() {
            return Err(err("`input` is an empty command".into()));
        }
        let mut cmd = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            match a {
                Json::String(s) => {
                    if !s.is_ascii() {
                        notes.non_ascii += 1;
                    }
                    cmd.push(Bytes::from(s.clone()));
                }
                Json::Number(n) => {
                    notes.other.push(format!(
                        "argument {i} is a JSON number; written as its text {n}"
                    ));
                    cmd.push(Bytes::from(n.to_string()));
                }
                _ => return Err(err(format!("`input` argument {i} is not a string"))),
            }
        }
        Some(cmd)
    };
    let mut reply = value(output, true, &mut notes).map_err(|m| err(format!("`output`: {m}")))?;
    if let Some(cmd) = &cmd {
        reply = subscribe_reply(cmd, reply, &mut notes);
    } else {
        // TPM records only `message` pushes, as plain arrays.
        reply = array_to_push(reply);
    }
    Ok(Entry {
        file: file.to_string(),
        label,
        index,
        conn,
        took_us,
        cmd,
        reply,
        notes,
    })
}

/// `{"type":"Resp3Message","data":X}` (older recordings) is `X`.
fn unwrap_data(json: &Json) -> &Json {
    match json {
        Json::Object(o) if o.contains_key("data") && !o.contains_key("msg") => &o["data"],
        other => other,
    }
}

/// A subscribe-family reply is a push under RESP3 (the array TPM kept
/// becomes one; replay sends it as an array to a RESP2 client). TPM keeps
/// one reply per command, so confirmations for further channels are lost.
fn subscribe_reply(cmd: &[Bytes], reply: Value, notes: &mut Notes) -> Value {
    if crate::command::subscription(cmd).is_none() {
        return reply;
    }
    let channels = cmd.len() - 1;
    if channels > 1 {
        notes.other.push(format!(
            "one reply kept for {channels} channels: TPM records a single reply, so {} confirmation(s) are missing",
            channels - 1
        ));
    }
    array_to_push(reply)
}

/// An array as a push (anything else as it is).
fn array_to_push(mut value: Value) -> Value {
    match &mut value {
        Value::Array(items) => Value::Push(std::mem::take(items)),
        _ => value,
    }
}

fn text_note(s: &str, notes: &mut Notes) {
    if !s.is_ascii() {
        notes.non_ascii += 1;
    }
}

/// A TPM value as a RESP value. `top` is true for the reply itself (where
/// `OK`, `PONG` and `QUEUED` are taken for the simple strings Redis sends).
fn value(json: &Json, top: bool, notes: &mut Notes) -> Result<Value, String> {
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::Integer(i)
            } else if n.is_u64() {
                notes.big += 1;
                Value::BigNumber(Bytes::from(n.to_string()))
            } else {
                notes.doubles += 1;
                Value::Double(Bytes::from(n.to_string()))
            }
        }
        Json::String(s) => {
            text_note(s, notes);
            if top && matches!(s.as_str(), "OK" | "PONG" | "QUEUED") {
                notes.simple += 1;
                Value::Simple(Bytes::from(s.clone()))
            } else {
                notes.bulk += 1;
                Value::Bulk(Bytes::from(s.clone()))
            }
        }
        Json::Object(o) => {
            let msg = o
                .get("msg")
                .and_then(Json::as_str)
                .ok_or("an object must be an error or verbatim string: `msg` is missing")?;
            text_note(msg, notes);
            let kind = o.get("type").and_then(Json::as_str).unwrap_or("");
            if kind == "txt" || kind == "bin" {
                Value::Verbatim(Bytes::from(format!("{kind}:{msg}")))
            } else {
                notes.errors += 1;
                let text = if kind.is_empty() {
                    msg.to_string()
                } else {
                    format!("{kind} {msg}")
                };
                if text.contains('\r') || text.contains('\n') {
                    Value::BulkError(Bytes::from(text))
                } else {
                    Value::Error(Bytes::from(text))
                }
            }
        }
        Json::Array(items) => {
            let marker = items.first().and_then(Json::as_str).and_then(|s| {
                let up = s.to_ascii_uppercase();
                ["@@ARRAY@@", "@@MAP@@", "@@SET@@", "@@PUSH@@"]
                    .into_iter()
                    .find(|m| *m == up)
            });
            let rest = if marker.is_some() {
                &items[1..]
            } else {
                &items[..]
            };
            let mut values = Vec::with_capacity(rest.len());
            if marker == Some("@@MAP@@") {
                let mut pairs = Vec::with_capacity(rest.len());
                for (i, pair) in rest.iter().enumerate() {
                    match pair.as_array().map(Vec::as_slice) {
                        Some([k, v]) => {
                            pairs.push((value(k, false, notes)?, value(v, false, notes)?))
                        }
                        _ => return Err(format!("@@MAP@@ item {i} is not a [key, value] pair")),
                    }
                }
                return Ok(Value::Map(pairs));
            }
            for item in rest {
                values.push(value(item, false, notes)?);
            }
            match marker {
                Some("@@SET@@") => Value::Set(values),
                Some("@@PUSH@@") => Value::Push(values),
                _ => Value::Array(values),
            }
        }
    })
}
