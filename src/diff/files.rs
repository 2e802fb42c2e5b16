//! `resplay diff` of two files without holding either.
//!
//! A first streaming pass reduces each cassette to its [`Summary`] (16
//! bytes an interaction), and the comparison runs on those. The changes it
//! finds name interactions by their ordinal in the file; a second pass over
//! each file then picks out just those interactions, a batch of
//! [`DETAIL_BATCH`] changes at a time, and the batch is shown with the same
//! rendering as an in-memory diff. So memory is the summaries plus one
//! batch of changed interactions, however large the cassettes: a
//! re-recording that changed a handful of replies costs a second pass that
//! keeps a handful of interactions.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::render::side_line;
use super::summary::{track_db, Keys, Summarizer, Summary};
use super::{compare, render_change, render_change_json, summary_line, Change, Found};
use crate::cassette::{self, CassetteError, Event, Header, Interaction};
use crate::pattern::IgnoreRule;
use crate::resp::{with_stack, Value};

/// Changes shown per second pass: bounds the interactions held at once
/// when nearly everything differs, at the price of another pass over both
/// files per batch.
const DETAIL_BATCH: usize = 200_000;

/// What went wrong after both cassettes were read once.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A cassette could not be read again.
    #[error(transparent)]
    Cassette(#[from] CassetteError),
    /// A cassette no longer holds what the first pass read.
    #[error("{}: changed while it was being compared", .0.display())]
    Changed(PathBuf),
    /// The output could not be written.
    #[error("cannot write the diff: {0}")]
    Write(#[from] std::io::Error),
}

/// One cassette file as the first pass left it.
struct SideFile {
    path: PathBuf,
    header: Header,
    summary: Summary,
    warnings: Vec<String>,
}

impl SideFile {
    /// Distinct connections that sent something.
    fn conns(&self) -> usize {
        self.summary.conns.len()
    }
}

/// Two cassette files compared (see [`diff_files`]).
pub struct FileDiff {
    old: SideFile,
    new: SideFile,
    found: Vec<Found>,
    /// Changes shown per second pass ([`DETAIL_BATCH`]; tests take fewer).
    batch: usize,
}

/// Compares the cassettes at `old` and `new` as [`super::diff`] does, one
/// streaming pass over each; the changes are read again when written.
pub fn diff_files(old: &Path, new: &Path, rules: &[IgnoreRule]) -> Result<FileDiff, CassetteError> {
    // The headers first: whether databases count depends on both.
    let track = track_db(&cassette::read_header(old)?, &cassette::read_header(new)?);
    let mut keys = Keys::default();
    let mut side = |path: &Path| {
        let mut s = Summarizer::new(&mut keys, rules, track);
        let (header, warnings) = cassette::load_with(path, |event| {
            if let Event::Interaction(i) = event {
                s.add(&i);
            }
        })?;
        Ok::<_, CassetteError>(SideFile {
            path: path.to_path_buf(),
            header,
            summary: s.finish(),
            warnings,
        })
    };
    let old = side(old)?;
    let new = side(new)?;
    let found = compare(&old.summary, &new.summary);
    Ok(FileDiff {
        old,
        new,
        found,
        batch: DETAIL_BATCH,
    })
}

impl FileDiff {
    /// The tolerated defects of both files (a truncated last line).
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.old.warnings.iter().chain(&self.new.warnings)
    }

    /// True when the cassettes are equivalent.
    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }

    /// `3 added, 1 removed, 2 changed`, or `no differences`.
    pub fn summary(&self) -> String {
        summary_line(self.found.iter().map(|f| f.kind))
    }

    /// The listing of [`super::render_text`], written as it is made.
    pub fn write_text(
        &self,
        old_name: &str,
        new_name: &str,
        out: &mut impl Write,
    ) -> Result<(), DiffError> {
        for (marker, name, side) in [("---", old_name, &self.old), ("+++", new_name, &self.new)] {
            let line = side_line(
                marker,
                name,
                &side.header,
                side.summary.interactions,
                side.conns(),
            );
            writeln!(out, "{line}")?;
        }
        let mut text = String::new();
        self.each_change(|change| {
            text.clear();
            render_change(change, &mut text);
            out.write_all(text.as_bytes())
        })?;
        writeln!(out, "{}", self.summary())?;
        Ok(())
    }

    /// The JSON lines of [`super::render_json`], written as they are made.
    pub fn write_json(&self, out: &mut impl Write) -> Result<(), DiffError> {
        let mut line = Vec::new();
        self.each_change(|change| {
            line.clear();
            render_change_json(change, &mut line);
            out.write_all(&line)
        })
    }

    /// Hands each change, in order, to `show`, its interactions read again
    /// from the files a batch at a time.
    fn each_change(
        &self,
        mut show: impl FnMut(&Change) -> std::io::Result<()>,
    ) -> Result<(), DiffError> {
        for batch in self.found.chunks(self.batch) {
            let old = pick(&self.old.path, batch.iter().filter_map(|f| f.old))?;
            let new = pick(&self.new.path, batch.iter().filter_map(|f| f.new))?;
            for f in batch {
                show(&Change {
                    kind: f.kind,
                    old: at(&old, f.old),
                    new: at(&new, f.new),
                })?;
            }
        }
        Ok(())
    }
}

/// The interaction numbered `n` among those [`pick`] kept (it found every
/// ordinal asked for).
fn at(picked: &[(u32, Interaction)], n: Option<u32>) -> Option<&Interaction> {
    let n = n?;
    let k = picked.binary_search_by_key(&n, |&(o, _)| o).ok()?;
    Some(&picked[k].1)
}

/// The interactions of the file at `path` with these ordinals, in ordinal
/// order, each a copy that owns its bytes: an interaction parsed from the
/// file shares the reader's buffer, and one kept would keep that buffer.
fn pick(
    path: &Path,
    ordinals: impl Iterator<Item = u32>,
) -> Result<Vec<(u32, Interaction)>, DiffError> {
    let mut wanted: Vec<u32> = ordinals.collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut picked = Vec::with_capacity(wanted.len());
    let mut next = wanted.iter().peekable();
    let mut n = 0u32;
    cassette::load_with(path, |event| {
        if let Event::Interaction(i) = event {
            if next.peek() == Some(&&n) {
                next.next();
                picked.push((n, owned(i)));
            }
            n = n.wrapping_add(1);
        }
    })?;
    if picked.len() != wanted.len() {
        return Err(DiffError::Changed(path.to_path_buf()));
    }
    Ok(picked)
}

fn owned(i: Interaction) -> Interaction {
    Interaction {
        cmd: i.cmd.iter().map(|a| Bytes::copy_from_slice(a)).collect(),
        replies: i.replies.iter().map(owned_value).collect(),
        ..i
    }
}

/// A deep copy of `v` that shares no buffer (a `clone` shares them). One
/// call per level, on a stack that grows: replies can be thousands of
/// levels deep.
fn owned_value(v: &Value) -> Value {
    let b = |b: &Bytes| Bytes::copy_from_slice(b);
    let items = |items: &[Value]| with_stack(|| items.iter().map(owned_value).collect());
    let pairs = |pairs: &[(Value, Value)]| {
        with_stack(|| {
            pairs
                .iter()
                .map(|(k, v)| (owned_value(k), owned_value(v)))
                .collect()
        })
    };
    match v {
        Value::Simple(x) => Value::Simple(b(x)),
        Value::Error(x) => Value::Error(b(x)),
        Value::Integer(n) => Value::Integer(*n),
        Value::Bulk(x) => Value::Bulk(b(x)),
        Value::NullBulk => Value::NullBulk,
        Value::NullArray => Value::NullArray,
        Value::Null => Value::Null,
        Value::Double(x) => Value::Double(b(x)),
        Value::Boolean(x) => Value::Boolean(*x),
        Value::BigNumber(x) => Value::BigNumber(b(x)),
        Value::Verbatim(x) => Value::Verbatim(b(x)),
        Value::BulkError(x) => Value::BulkError(b(x)),
        Value::StreamedBulk(chunks) => Value::StreamedBulk(chunks.iter().map(b).collect()),
        Value::Array(x) => Value::Array(items(x)),
        Value::Set(x) => Value::Set(items(x)),
        Value::Push(x) => Value::Push(items(x)),
        Value::Map(x) => Value::Map(pairs(x)),
        Value::Attributed { attrs, value } => Value::Attributed {
            attrs: pairs(attrs),
            value: Box::new(with_stack(|| owned_value(value))),
        },
        Value::StreamedAggregate { kind, items: x } => Value::StreamedAggregate {
            kind: *kind,
            items: items(x),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{diff, render_json, render_text};

    const OLD: &str = r#"{"resplay":1,"db":0}
{"conn":1,"seq":0,"cmd":["SET","a","1"],"reply":{"+":"OK"}}
{"conn":1,"seq":2,"cmd":["LRANGE","l","0","-1"],"reply":["x",["y"]]}
{"conn":1,"seq":1,"cmd":["GET","a"],"reply":"1"}
{"conn":2,"seq":0,"cmd":["DEL","gone"],"reply":1}
{"conn":1,"seq":3,"cmd":["GET","b"],"reply":"2"}
"#;
    const NEW: &str = r#"{"resplay":1,"db":0}
{"conn":5,"seq":0,"cmd":["SET","a","1"],"reply":{"+":"OK"}}
{"conn":5,"seq":1,"cmd":["GET","a"],"reply":"one"}
{"conn":5,"seq":2,"cmd":["LRANGE","l","0","-1"],"reply":["x",["z"]]}
{"conn":6,"seq":0,"cmd":["PING"],"replies":[]}
{"conn":5,"seq":3,"cmd":["GET","b"],"reply":"2"}
"#;

    #[test]
    fn batches_of_any_size_show_what_a_diff_in_memory_shows() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("old.jsonl"), dir.path().join("new.jsonl"));
        std::fs::write(&old, OLD).unwrap();
        std::fs::write(&new, NEW).unwrap();
        let (a, b) = (cassette::load(&old).unwrap(), cassette::load(&new).unwrap());
        let in_memory = diff(&a, &b, &[]);
        let want_text = render_text(&in_memory, ("o", &a), ("n", &b));
        let mut want_json = Vec::new();
        render_json(&in_memory, &mut want_json);
        assert_eq!(in_memory.changes.len(), 4, "{want_text}");

        for batch in [1, 2, 3, DETAIL_BATCH] {
            let mut files = diff_files(&old, &new, &[]).unwrap();
            files.batch = batch;
            assert_eq!(files.summary(), in_memory.summary());
            let mut text = Vec::new();
            files.write_text("o", "n", &mut text).unwrap();
            assert_eq!(String::from_utf8(text).unwrap(), want_text, "batch {batch}");
            let mut json = Vec::new();
            files.write_json(&mut json).unwrap();
            assert_eq!(json, want_json, "batch {batch}");
        }
    }

    #[test]
    fn a_file_that_shrank_between_passes_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (dir.path().join("old.jsonl"), dir.path().join("new.jsonl"));
        std::fs::write(&old, OLD).unwrap();
        std::fs::write(&new, NEW).unwrap();
        let files = diff_files(&old, &new, &[]).unwrap();
        std::fs::write(&new, "{\"resplay\":1,\"db\":0}\n").unwrap();
        let err = files.write_json(&mut Vec::new()).unwrap_err();
        assert!(matches!(err, DiffError::Changed(_)), "{err}");
    }

    #[test]
    fn kept_interactions_share_no_buffer() {
        let v = Value::Array(vec![
            Value::Bulk(Bytes::from_static(b"x")),
            Value::Integer(1),
        ]);
        let copy = owned_value(&v);
        assert_eq!(copy, v);
        let (Value::Array(a), Value::Array(b)) = (&v, &copy) else {
            unreachable!()
        };
        let (Value::Bulk(x), Value::Bulk(y)) = (&a[0], &b[0]) else {
            unreachable!()
        };
        assert_ne!(x.as_ptr(), y.as_ptr());
    }
}
