//! A cassette without the interactions a replay left unused (`resplay
//! replay --write-pruned OUT`, the plugins' `--resplay-prune`): what no
//! test needs any more stops costing review time and repository space
//! (vcrpy's `drop_unused_requests`, Keploy's `removeUnusedMocks`).
//!
//! What is kept, so that the pruned cassette replays the same suite:
//! - every interaction the replay served (`served[n] > 0` for the n-th
//!   interaction line), and every interaction past the end of `served`
//!   (appended while the replay ran: its misses recorded);
//! - a connection's open and close events and its pushes while it keeps an
//!   interaction, or when it never had one (an idle pooled connection whose
//!   `CLIENT KILL` or close replay reproduces); a connection whose every
//!   interaction went unused is dropped whole;
//! - the header as it was; each connection's `seq` renumbered from 0
//!   without gaps, so that a reader sees the kept interactions as one
//!   connection's sequence (replay orders by file position, not by `seq`;
//!   the recorder's own numbering may have gaps where it left a handshake
//!   call out).
//!
//! The source is read twice (to know which connections stay, then to
//! write), streaming, and the result is written beside `out` and renamed
//! over it, so `out` may be the source itself and is never half-written.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::compress::{is_compressed, FrameEncoder};
use super::reader::{load_with, read_header};
use super::{CassetteError, Event};

/// What a pruning kept and dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Interactions kept.
    pub kept: u64,
    /// Interactions dropped (unused by the replay).
    pub dropped: u64,
    /// Connections dropped whole (every interaction unused).
    pub connections_dropped: u64,
    /// The pruned file's size in bytes.
    pub bytes: u64,
}

/// How much text is written (and, compressed, framed) at a time.
const BLOCK: usize = 1 << 20;

/// Writes `source` without the interactions `served` says went unused to
/// `out` (which may be `source`).
pub fn write_pruned(source: &Path, served: &[u32], out: &Path) -> Result<Pruned, CassetteError> {
    let keep = |n: usize| served.get(n).map_or(true, |&s| s > 0);
    // Pass 1: which connections had interactions, and which keep one.
    let mut had = HashSet::new();
    let mut keeps = HashSet::new();
    let mut n = 0;
    load_with(source, |event| {
        if let Event::Interaction(i) = &event {
            had.insert(i.conn);
            if keep(n) {
                keeps.insert(i.conn);
            }
            n += 1;
        }
    })?;
    let stays = |conn: u64| keeps.contains(&conn) || !had.contains(&conn);

    let partial = partial_path(out);
    let write_error = |cause| CassetteError::Write {
        path: partial.clone(),
        cause,
    };
    let mut file = std::fs::File::create(&partial).map_err(write_error)?;
    let mut encoder = match is_compressed(out) {
        true => Some(FrameEncoder::new().map_err(write_error)?),
        false => None,
    };
    let mut text = Vec::with_capacity(BLOCK + 4096);
    read_header(source)?.write_line(&mut text);
    let mut flush = |text: &mut Vec<u8>, file: &mut std::fs::File| -> std::io::Result<()> {
        match &mut encoder {
            Some(encoder) => file.write_all(encoder.frame(text)?)?,
            None => file.write_all(text)?,
        }
        text.clear();
        Ok(())
    };

    // Pass 2: write what stays.
    let mut pruned = Pruned::default();
    let mut seqs: HashMap<u64, u64> = HashMap::new();
    let mut n = 0;
    let mut failed = None;
    let read = load_with(source, |event| {
        if failed.is_some() {
            return;
        }
        let write = match event {
            Event::Interaction(mut i) => {
                let kept = keep(n);
                n += 1;
                if kept {
                    pruned.kept += 1;
                    let seq = seqs.entry(i.conn).or_insert(0);
                    i.seq = *seq;
                    *seq += 1;
                    Some(Event::Interaction(i))
                } else {
                    pruned.dropped += 1;
                    None
                }
            }
            other => stays(other.conn()).then_some(other),
        };
        if let Some(event) = write {
            event.write_line(&mut text);
            if text.len() >= BLOCK {
                if let Err(e) = flush(&mut text, &mut file) {
                    failed = Some(e);
                }
            }
        }
    });
    if read.is_err() || failed.is_some() {
        let _ = std::fs::remove_file(&partial);
    }
    read?;
    if let Some(e) = failed {
        return Err(write_error(e));
    }
    flush(&mut text, &mut file)
        .and_then(|()| file.sync_all())
        .map_err(write_error)?;
    drop(file);
    pruned.connections_dropped = had.iter().filter(|c| !keeps.contains(c)).count() as u64;
    std::fs::rename(&partial, out).map_err(|cause| CassetteError::Write {
        path: out.to_path_buf(),
        cause,
    })?;
    pruned.bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(pruned)
}

/// `out` with `.partial` appended: beside it, so the rename stays on one
/// file system.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASSETTE: &str = r#"{"resplay":1,"created":"2026-12-07T00:00:00.000Z"}
{"conn":1,"at_ms":0,"event":"open"}
{"conn":2,"at_ms":0,"event":"open"}
{"conn":3,"at_ms":0,"event":"open"}
{"conn":1,"seq":0,"at_ms":1,"took_us":5,"cmd":["GET","unused"],"reply":null}
{"conn":1,"seq":1,"at_ms":2,"took_us":5,"cmd":["SET","a","1"],"reply":{"+":"OK"}}
{"conn":2,"seq":0,"at_ms":3,"took_us":5,"cmd":["SUBSCRIBE","ch"],"replies":[["subscribe","ch",1]]}
{"conn":2,"at_ms":4,"push":["message","ch","hi"]}
{"conn":1,"seq":2,"at_ms":5,"took_us":5,"cmd":["GET","a"],"reply":"1"}
{"conn":1,"at_ms":6,"event":"close"}
{"conn":2,"at_ms":6,"event":"close"}
{"conn":3,"at_ms":7,"event":"close","by":"server"}
{"conn":1,"seq":3,"at_ms":8,"took_us":5,"cmd":["GET","appended"],"reply":null}
"#;

    fn pruned(served: &[u32], name: &str) -> (Pruned, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join(name);
        let text = CASSETTE.as_bytes();
        super::super::compress::write_file(&source, text, is_compressed(&source)).unwrap();
        // Pruned in place: the source is its own output.
        let stats = write_pruned(&source, served, &source).unwrap();
        let cassette = super::super::load(&source).unwrap();
        let mut lines = Vec::new();
        for event in &cassette.events {
            let mut line = Vec::new();
            event.write_line(&mut line);
            lines.push(String::from_utf8(line).unwrap().trim_end().to_string());
        }
        assert!(!source.with_extension("partial").exists());
        (stats, lines)
    }

    #[test]
    fn keeps_what_was_served_and_the_connections_it_needs() {
        for name in ["c.jsonl", "c.jsonl.zst"] {
            // GET unused: 0; SET: 1; SUBSCRIBE: 0; GET a: 2; the appended
            // GET is past the overlay and stays.
            let (stats, lines) = pruned(&[0, 1, 0, 2], name);
            assert_eq!(
                (stats.kept, stats.dropped, stats.connections_dropped),
                (3, 2, 1),
                "{name}"
            );
            assert_eq!(
                lines,
                [
                    r#"{"conn":1,"at_ms":0,"event":"open"}"#,
                    r#"{"conn":3,"at_ms":0,"event":"open"}"#,
                    r#"{"conn":1,"seq":0,"at_ms":2,"took_us":5,"cmd":["SET","a","1"],"reply":{"+":"OK"}}"#,
                    r#"{"conn":1,"seq":1,"at_ms":5,"took_us":5,"cmd":["GET","a"],"reply":"1"}"#,
                    r#"{"conn":1,"at_ms":6,"event":"close"}"#,
                    r#"{"conn":3,"at_ms":7,"event":"close","by":"server"}"#,
                    r#"{"conn":1,"seq":2,"at_ms":8,"took_us":5,"cmd":["GET","appended"],"reply":null}"#,
                ],
                "{name}"
            );
        }
    }
}
