//! `resplay import`: cassettes from the seed tools' recordings.
//!
//! - [`tpm`]: The Protocol Master's Redis recordings (JSON, one entry per
//!   file or an array of entries, collections tagged `@@MAP@@` & co.).
//! - [`keploy`]: Keploy's Redis mocks (YAML documents, `kind: Redis` or
//!   `kind: Generic`), typed or as raw chunks.
//!
//! Import never guesses silently: whatever cannot be carried over exactly
//! is a warning naming the entry ([`Import::warn`]), and a sample that
//! cannot be read at all is an [`ImportError`] naming the file and entry.
//! `docs/import.md` describes each mapping.

pub mod keploy;
pub mod tpm;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;

use crate::cassette::{self, Event, Header, Interaction, PushEvent};
use crate::resp::Value;

/// A sample that cannot be imported: names the file and the entry.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {entry}: {message}")]
pub struct ImportError {
    /// The file the entry came from.
    pub file: String,
    /// The entry (`index 3`, `mock-2`, `document 1`).
    pub entry: String,
    /// What is wrong.
    pub message: String,
}

impl ImportError {
    /// An error about `entry` of `file`.
    pub fn new(file: &str, entry: impl Into<String>, message: impl Into<String>) -> ImportError {
        ImportError {
            file: file.to_string(),
            entry: entry.into(),
            message: message.into(),
        }
    }
}

/// What an import builds: the events of a cassette, and the warnings.
#[derive(Debug, Default)]
pub struct Import {
    /// Events in cassette order.
    pub events: Vec<Event>,
    /// One line per thing not carried over exactly: `FILE: ENTRY: what`.
    pub warnings: Vec<String>,
    /// The next `seq` of each connection.
    next_seq: BTreeMap<u64, u64>,
}

impl Import {
    /// Records a warning about `entry` of `file`.
    pub fn warn(&mut self, file: &str, entry: &str, message: impl AsRef<str>) {
        self.warnings
            .push(format!("{file}: {entry}: {}", message.as_ref()));
    }

    /// Appends an interaction on `conn`, numbering it within its connection.
    /// Passwords (`AUTH`, `HELLO … AUTH`) are redacted, as the recorder
    /// does: the seed tools kept them in clear.
    pub fn interaction(
        &mut self,
        conn: u64,
        at_ms: u64,
        took_us: u64,
        mut cmd: Vec<Bytes>,
        replies: Vec<Value>,
    ) {
        crate::command::redact(&mut cmd);
        let seq = self.next_seq.entry(conn).or_insert(0);
        self.events.push(Event::Interaction(Interaction {
            conn,
            db: 0,
            seq: *seq,
            at_ms,
            took_us,
            cmd,
            replies,
        }));
        *seq += 1;
    }

    /// Appends a push on `conn`.
    pub fn push(&mut self, conn: u64, at_ms: u64, push: Value) {
        self.events
            .push(Event::Push(PushEvent { conn, at_ms, push }));
    }

    /// The cassette text: a header (no upstream: it is not known) and the
    /// events. Checked by loading it back, so an import never writes a
    /// cassette replay would refuse.
    pub fn to_cassette(&self) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        Header::new(None).write_line(&mut out);
        for event in &self.events {
            event.write_line(&mut out);
        }
        cassette::parse(out.clone(), Path::new("<import>"))
            .map_err(|e| anyhow::anyhow!("the imported cassette does not load back: {e}"))?;
        Ok(out)
    }
}

/// Where a recording comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// The Protocol Master's Redis JSON recordings.
    Tpm,
    /// Keploy's Redis mocks YAML.
    Keploy,
}

/// Imports `files` from `source` and writes the cassette to `out`
/// (through a temporary file renamed over it, so a failed import leaves
/// nothing half-written). Returns the warnings, for the caller to print.
pub fn run(
    source: Source,
    files: &[std::path::PathBuf],
    out: &Path,
) -> anyhow::Result<Vec<String>> {
    let mut import = Import::default();
    let mut read = Vec::with_capacity(files.len());
    for file in files {
        let text = std::fs::read(file)
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", file.display()))?;
        read.push((file.display().to_string(), text));
    }
    match source {
        // TPM entries are ordered by their global `index`, across files.
        Source::Tpm => tpm::import_all(&read, &mut import)?,
        Source::Keploy => {
            for (name, text) in &read {
                keploy::import(name, text, &mut import)?;
            }
        }
    }
    let text = import.to_cassette()?;
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let compressed = cassette::compress::is_compressed(out);
    cassette::compress::write_file(Path::new(&partial), &text, compressed)
        .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", out.display()))?;
    std::fs::rename(&partial, out)
        .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", out.display()))?;
    Ok(import.warnings)
}

/// Microseconds since the Unix epoch of an RFC 3339 time with any offset
/// (`2024-03-12T10:41:21.123456789+05:30`, `…Z`); `None` for anything
/// else, whatever its bytes (the text comes from the file imported).
pub(crate) fn rfc3339_micros(text: &str) -> Option<i128> {
    let text = text.trim();
    let (base, offset_s): (&str, i64) = if let Some(b) = text.strip_suffix('Z') {
        (b, 0)
    } else {
        let tail = text.len().checked_sub(6)?;
        // Not `split_at`: six bytes from the end may fall inside a
        // character of a malformed time (the fuzzer found one).
        let (b, off) = text.split_at_checked(tail)?;
        let sign = match off.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let h: i64 = off.get(1..3)?.parse().ok()?;
        let m: i64 = off.get(4..6)?.parse().ok()?;
        (b, sign * (h * 3600 + m * 60))
    };
    let t = humantime::parse_rfc3339_weak(base).ok()?;
    let since = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(since.as_micros() as i128 - offset_s as i128 * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::rfc3339_micros;

    #[test]
    fn rfc3339_with_offsets() {
        let z = rfc3339_micros("2024-03-12T10:41:21.5Z").unwrap();
        let plus = rfc3339_micros("2024-03-12T16:11:21.5+05:30").unwrap();
        assert_eq!(z, plus);
        assert_eq!(
            rfc3339_micros("2024-03-12T10:41:21.5-01:00").unwrap() - z,
            3_600_000_000
        );
        assert!(rfc3339_micros("yesterday").is_none());
        // Six bytes from the end inside a character.
        assert!(rfc3339_micros("2024-03-12T10:41:21.201000n\u{2020}IN1G").is_none());
        assert!(rfc3339_micros("\u{2020}\u{2020}").is_none());
    }
}
