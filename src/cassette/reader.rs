//! Loading a cassette.
//!
//! The file is read in large blocks of whole lines and each line parsed on
//! its own with `serde_json::from_slice`: that is fast, and a bad line can be
//! named by its number. Strings are sliced out of the block rather than
//! copied (see [`EventSeed::sharing`]), so a loaded cassette costs about its
//! file size plus the event structures, and [`load_with`], which hands each
//! event on as it is parsed, holds one block at a time.
//!
//! Exactly one defect is tolerated: a last line without its `\n` that does
//! not parse, which is what a recorder killed mid-write leaves behind. It is
//! skipped with a warning. Anything else wrong is an error naming the line.
//! A compressed cassette (`.zst`, see [`super::compress`]) is decompressed
//! into the same blocks; its one tolerated defect is the matching one, a
//! torn last frame, whose decodable part is read and then warned about.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Deserialize;

use super::compress::{is_compressed, CassetteReader};
use super::error::CassetteError;
use super::event::{Event, EventSeed, Header, Interaction};
use super::json::from_line;

/// A loaded cassette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cassette {
    /// Line 1.
    pub header: Header,
    /// Every later line, in file order (the order events completed).
    pub events: Vec<Event>,
    /// Tolerated defects, as `FILE:N: …` lines for the user (today only a
    /// truncated last line).
    pub warnings: Vec<String>,
}

impl Cassette {
    /// The highest connection id used, 0 if there are no events: a
    /// `new-episodes` run appends with ids above it so recordings never mix.
    pub fn max_conn(&self) -> u64 {
        self.events.iter().map(Event::conn).max().unwrap_or(0)
    }

    /// The interactions, in file order.
    pub fn interactions(&self) -> impl Iterator<Item = &Interaction> {
        self.events.iter().filter_map(|e| match e {
            Event::Interaction(i) => Some(i),
            _ => None,
        })
    }
}

/// Reads and parses the cassette at `path`.
pub fn load(path: &Path) -> Result<Cassette, CassetteError> {
    let mut events = Vec::new();
    let (header, warnings) = load_with(path, |event| events.push(event))?;
    Ok(Cassette {
        header,
        events,
        warnings,
    })
}

/// Parses cassette text already in memory; `path` is only used in messages.
pub fn parse(data: impl Into<Bytes>, path: &Path) -> Result<Cassette, CassetteError> {
    let data: Bytes = data.into();
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    let mut events = Vec::with_capacity(newlines.saturating_sub(1));
    let (header, warnings) = parse_with(data, path, |ev| events.push(ev))?;
    Ok(Cassette {
        header,
        events,
        warnings,
    })
}

/// Reads the cassette at `path`, handing each event to `on_event` as it is
/// parsed instead of collecting them: replay indexes a large cassette this
/// way without holding every event, or the file, at once. The file is read
/// in blocks of whole lines (1 MiB); the strings of an event share its
/// block. The parsing runs on a thread of its own, a block or two ahead of
/// `on_event` (which runs on the caller's): on a machine with a second
/// core, replay indexes while the next lines are parsed. Returns the header
/// and warnings.
///
/// A block's events cross to the caller's thread together, once the block
/// is parsed, and the block and the event vector come back to be filled
/// again once every event is handled (when `on_event` kept none of the
/// block's strings). Measured on a million-line cassette, the two threads
/// otherwise spent a fifth of their time on memory: the kernel zeroing the
/// fresh pages of a new block and batch every few thousand events, and both
/// threads counting references on the same block at once. Replay's matcher
/// keeps a block's last few events a while (it looks ahead), so its blocks
/// are mostly freed rather than filled again, and mimalloc gives their
/// memory to the next ones: handing each back a block later, when it could
/// be filled again, left a million-line load's time as it was and raised
/// its peak RSS by 6 MiB.
pub fn load_with(
    path: &Path,
    mut on_event: impl FnMut(Event),
) -> Result<(Header, Vec<String>), CassetteError> {
    // Parsed blocks, to the caller's thread; at most two wait, so a slow
    // `on_event` holds the parser back rather than the memory growing.
    let (parsed_tx, parsed_rx) = std::sync::mpsc::sync_channel::<(Vec<Event>, Bytes)>(2);
    // Handled blocks' buffers, back to the parser.
    let (spare_tx, spare_rx) = std::sync::mpsc::channel::<(Vec<Event>, Vec<u8>)>();
    std::thread::scope(|scope| {
        let parser = scope.spawn(move || {
            let read = |cause| CassetteError::Read {
                path: path.to_path_buf(),
                cause,
            };
            let mut blocks = Blocks::open(path).map_err(read)?;
            let mut lines = Lines::new(path);
            loop {
                let (mut events, buf) = spare_rx.try_recv().unwrap_or_default();
                let Some(block) = blocks.next(buf).map_err(read)? else {
                    break;
                };
                lines.block(&block, &mut |event| events.push(event))?;
                if parsed_tx.send((events, block)).is_err() {
                    // The caller's side is gone: `on_event` panicked.
                    break;
                }
            }
            if blocks.file.torn() {
                lines.warnings.push(format!(
                    "{}: torn last zstd frame (a recorder killed mid-write): read up to its last whole line",
                    path.display()
                ));
            }
            lines.finish()
        });
        for (mut events, block) in parsed_rx {
            events.drain(..).for_each(&mut on_event);
            let buf = block.try_into_mut().map(Vec::from).unwrap_or_default();
            // The parser may be done; then the buffers are just dropped.
            let _ = spare_tx.send((events, buf));
        }
        match parser.join() {
            Ok(done) => done,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// A cassette file read in blocks of whole lines, for [`load_with`].
struct Blocks {
    file: CassetteReader,
    /// The start of a line the last block cut.
    carry: Vec<u8>,
    eof: bool,
}

impl Blocks {
    fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Blocks {
            file: CassetteReader::open(path)?,
            carry: Vec::new(),
            eof: false,
        })
    }

    /// The next lines, read into `block` (its old bytes dropped, its room
    /// reused): every line whole and ending in `\n` but the file's last;
    /// `None` once the file is read.
    fn next(&mut self, mut block: Vec<u8>) -> std::io::Result<Option<Bytes>> {
        use std::io::Read;
        loop {
            if self.eof {
                if self.carry.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(Bytes::from(std::mem::take(&mut self.carry))));
            }
            block.clear();
            block.reserve(self.carry.len() + BLOCK);
            block.extend_from_slice(&self.carry);
            let wanted = block.len() + BLOCK;
            while block.len() < wanted {
                let got = (&mut self.file)
                    .take((wanted - block.len()) as u64)
                    .read_to_end(&mut block)?;
                if got == 0 {
                    self.eof = true;
                    break;
                }
            }
            // Whole lines now; the rest starts the next block.
            match memchr::memrchr(b'\n', &block) {
                Some(end) => {
                    self.carry.clear();
                    self.carry.extend_from_slice(&block[end + 1..]);
                    block.truncate(end + 1);
                    return Ok(Some(Bytes::from(block)));
                }
                // A line longer than a block, or the file's last line.
                None => std::mem::swap(&mut self.carry, &mut block),
            }
        }
    }
}

/// About how many events the cassette at `path` holds, from its size and
/// the length of its first lines (a tenth more, so a cassette whose later
/// lines run a little shorter still fits); `None` when that is not known
/// cheaply: a compressed cassette, or a file with fewer than two lines in
/// its first 256 KiB. For an index to size its vectors
/// once: grown by doubling, replay's were reallocated about twenty times
/// for a million-line cassette, each time copied onto fresh pages the
/// kernel zeroed, the old and the new held at once.
pub fn estimated_events(path: &Path) -> Option<usize> {
    use std::io::Read;
    if is_compressed(path) {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut sample = Vec::new();
    file.take(ESTIMATE_SAMPLE).read_to_end(&mut sample).ok()?;
    let lines = memchr::memchr_iter(b'\n', &sample).count();
    if lines < 2 {
        return None;
    }
    let per_line = (sample.len() / lines).max(1) as u64;
    usize::try_from(len / per_line + len / per_line / 10).ok()
}

/// How much of a cassette [`estimated_events`] reads to judge its lines.
const ESTIMATE_SAMPLE: u64 = 256 << 10;

/// How much of a cassette [`load_with`] reads at a time: big enough that
/// reads cost nothing per line, small enough to be nothing beside the index.
const BLOCK: usize = 1 << 20;

/// Reads only the header of the cassette at `path` (line 1), checked as
/// [`load`] checks it: to decide how to serve a cassette before loading it
/// (a cluster's listeners are bound before its replies are read).
pub fn read_header(path: &Path) -> Result<Header, CassetteError> {
    use std::io::BufRead;
    let read = |cause| CassetteError::Read {
        path: path.to_path_buf(),
        cause,
    };
    let file = CassetteReader::open(path).map_err(read)?;
    let mut line = Vec::new();
    std::io::BufReader::new(file)
        .read_until(b'\n', &mut line)
        .map_err(read)?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    parse_header(&line, path)
}

/// The parser behind [`parse`]: the whole text as one block.
fn parse_with(
    data: Bytes,
    path: &Path,
    mut on_event: impl FnMut(Event),
) -> Result<(Header, Vec<String>), CassetteError> {
    let mut lines = Lines::new(path);
    lines.block(&data, &mut on_event)?;
    lines.finish()
}

/// Parses a cassette's lines, block by block in file order. Every block
/// but the last ends with a `\n`.
struct Lines<'p> {
    path: &'p Path,
    header: Option<Header>,
    warnings: Vec<String>,
    /// The number of the last line read.
    line_no: usize,
    /// A blank line seen: an error unless it turns out to be the last.
    blank: Option<usize>,
}

impl<'p> Lines<'p> {
    fn new(path: &'p Path) -> Self {
        Lines {
            path,
            header: None,
            warnings: Vec::new(),
            line_no: 0,
            blank: None,
        }
    }

    fn error(&self, line: usize, message: String) -> CassetteError {
        CassetteError::Parse {
            path: self.path.to_path_buf(),
            line,
            message,
        }
    }

    /// Parses the lines of `data`, handing events to `on_event`.
    fn block(
        &mut self,
        data: &Bytes,
        on_event: &mut impl FnMut(Event),
    ) -> Result<(), CassetteError> {
        let mut pos = 0;
        while pos < data.len() {
            self.line_no += 1;
            let rest = &data[pos..];
            let (line, complete) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            pos += line.len() + usize::from(complete);
            if let Some(blank) = self.blank {
                return Err(self.error(
                    blank,
                    "blank line (only the last line of a cassette may be empty)".into(),
                ));
            }
            if self.line_no == 1 {
                self.header = Some(parse_header(line, self.path)?);
                continue;
            }
            if is_blank(line) {
                self.blank = Some(self.line_no);
                continue;
            }
            match parse_event(data, line) {
                Ok(ev) => on_event(ev),
                // Only the file's last line can lack its `\n`.
                Err(_) if !complete => self.warnings.push(format!(
                    "{}:{}: truncated last line skipped",
                    self.path.display(),
                    self.line_no
                )),
                Err(e) => return Err(self.error(self.line_no, describe(&e))),
            }
        }
        Ok(())
    }

    /// The header and warnings, once every block is read.
    fn finish(self) -> Result<(Header, Vec<String>), CassetteError> {
        let missing = self.error(
            1,
            "empty file; a cassette starts with a header line like {\"resplay\":1}".into(),
        );
        let header = self.header.ok_or(missing)?;
        Ok((header, self.warnings))
    }
}

/// One event line, strings sliced from `data` (which contains `line`).
fn parse_event(data: &Bytes, line: &[u8]) -> Result<Event, serde_json::Error> {
    // Deep replies are read again without `serde_json`'s recursion limit;
    // see `cassette::json`.
    from_line(line, EventSeed::sharing(data))
}

/// Line 1. The version is checked before the strict parse, so a newer
/// cassette gets "unsupported version" rather than "unknown key".
fn parse_header(line: &[u8], path: &Path) -> Result<Header, CassetteError> {
    /// Only the version; other keys are ignored at this stage.
    #[derive(Deserialize)]
    struct Probe {
        resplay: Option<u64>,
    }
    let bad = |message: String| CassetteError::Parse {
        path: PathBuf::from(path),
        line: 1,
        message,
    };
    let probe: Probe = serde_json::from_slice(line).map_err(|e| {
        bad(format!(
            "bad header: {}; a cassette starts with a header line like {{\"resplay\":1}}",
            describe(&e)
        ))
    })?;
    match probe.resplay {
        None => {
            return Err(bad(
                "not a resplay cassette: the header line has no \"resplay\" key".into(),
            ))
        }
        Some(v) if v != u64::from(super::FORMAT_VERSION) => {
            return Err(CassetteError::Version {
                path: PathBuf::from(path),
                found: v,
            })
        }
        Some(_) => {}
    }
    serde_json::from_slice(line).map_err(|e| bad(format!("bad header: {}", describe(&e))))
}

/// Spaces, tabs and a CR (a cassette checked out with CRLF line ends).
fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// `serde_json`'s message with its "at line 1 column N" replaced by the
/// column alone: the line number that matters is the file's, added by the
/// caller.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match text.strip_suffix(&suffix) {
        Some(msg) => format!("{msg} (column {})", e.column()),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::Value;

    const HEAD: &str = "{\"resplay\":1,\"created\":\"2026-11-21T10:00:00Z\"}\n";
    const EV: &str = "{\"conn\":1,\"seq\":0,\"cmd\":[\"PING\"],\"reply\":{\"+\":\"PONG\"}}\n";

    fn p(text: &str) -> Result<Cassette, String> {
        parse(text.as_bytes().to_vec(), Path::new("x.jsonl")).map_err(|e| e.to_string())
    }

    /// Near the count (and not under it) for a plain cassette; nothing for
    /// a header alone or a compressed one.
    #[test]
    fn events_are_estimated_from_the_first_lines() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("c.jsonl");
        std::fs::write(&plain, format!("{HEAD}{}", EV.repeat(20_000))).unwrap();
        let estimate = estimated_events(&plain).unwrap();
        assert!((20_000..=22_100).contains(&estimate), "{estimate}");
        std::fs::write(&plain, HEAD).unwrap();
        assert_eq!(estimated_events(&plain), None);
        let zst = dir.path().join("c.jsonl.zst");
        std::fs::write(&zst, b"anything").unwrap();
        assert_eq!(estimated_events(&zst), None);
    }

    #[test]
    fn loads_header_and_events() {
        let c = p(&format!("{HEAD}{EV}{EV}")).expect("loads");
        assert_eq!(c.events.len(), 2);
        assert!(c.warnings.is_empty());
        assert_eq!(c.max_conn(), 1);
        let i = c.interactions().next().expect("one interaction");
        assert_eq!(i.replies, vec![Value::simple("PONG")]);
    }

    #[test]
    fn truncated_last_line_is_a_warning() {
        let c = p(&format!("{HEAD}{EV}{}", &EV[..20])).expect("loads");
        assert_eq!(c.events.len(), 1);
        assert_eq!(c.warnings, vec!["x.jsonl:3: truncated last line skipped"]);
    }

    #[test]
    fn complete_last_line_without_newline_is_kept() {
        let c = p(&format!("{HEAD}{}", EV.trim_end())).expect("loads");
        assert_eq!(c.events.len(), 1);
        assert!(c.warnings.is_empty());
    }

    /// Blocks cut lines anywhere and come back to be filled again: lines
    /// longer than a block, lines ending where a block ends, and a last
    /// line without its newline all load from a file as from memory.
    #[test]
    fn a_file_loads_as_its_text_parses_across_blocks() {
        let long = format!(
            "{{\"conn\":1,\"seq\":1,\"cmd\":[\"GET\",\"k\"],\"reply\":\"{}\"}}\n",
            "x".repeat(BLOCK + BLOCK / 2)
        );
        let mut text = String::from(HEAD);
        while text.len() < 3 * BLOCK {
            text.push_str(EV);
        }
        text.push_str(&long);
        for _ in 0..1000 {
            text.push_str(EV);
        }
        text.push_str(EV.trim_end());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        std::fs::write(&path, &text).unwrap();
        let from_file = load(&path).expect("loads");
        let from_text = p(&text).expect("parses");
        assert_eq!(from_file.events, from_text.events);
        assert!(from_file.warnings.is_empty(), "{:?}", from_file.warnings);
        let mut streamed = 0;
        load_with(&path, |_| streamed += 1).expect("streams");
        assert_eq!(streamed, from_text.events.len());
    }

    #[test]
    fn corrupt_complete_lines_are_errors() {
        let e = p(&format!("{HEAD}{}\n{EV}", &EV[..20])).expect_err("corrupt middle");
        assert!(e.starts_with("x.jsonl:2: "), "{e}");
        let e = p(&format!("{HEAD}{EV}{}\n", &EV[..20])).expect_err("corrupt last");
        assert!(e.starts_with("x.jsonl:3: "), "{e}");
        assert!(!e.contains("line 1 column"), "{e}");
    }

    #[test]
    fn blank_lines() {
        assert!(p(&format!("{HEAD}{EV}\n")).is_ok());
        assert!(p(&format!("{HEAD}{EV}\r\n")).is_ok());
        let e = p(&format!("{HEAD}\n{EV}")).expect_err("blank middle");
        assert!(e.starts_with("x.jsonl:2: blank line"), "{e}");
    }

    /// A reply as deep as the recorder takes loads; an absurdly deep one is
    /// an error naming the file and line, not a stack overflow.
    #[test]
    fn depth_limits_name_the_line() {
        let depth = crate::cassette::MAX_VALUE_DEPTH;
        let deep = format!(
            "{{\"conn\":1,\"seq\":0,\"cmd\":[\"EVAL\"],\"reply\":{}{{\"-\":\"ERR\"}}{}}}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let c = p(&format!("{HEAD}{deep}")).expect("loads");
        assert_eq!(c.events.len(), 1);
        let bomb = format!(
            "{{\"conn\":1,\"cmd\":[],\"reply\":{}\n",
            "[".repeat(100_000)
        );
        let e = p(&format!("{HEAD}{EV}{bomb}{EV}")).expect_err("too deep");
        assert!(
            e.starts_with("x.jsonl:3: value nested more than"),
            "{e:.200}"
        );
    }

    #[test]
    fn crlf_line_ends_load() {
        let text = format!("{HEAD}{EV}").replace('\n', "\r\n");
        assert_eq!(p(&text).expect("loads").events.len(), 1);
    }

    #[test]
    fn header_problems_are_line_1() {
        let e = p("").expect_err("empty");
        assert!(e.starts_with("x.jsonl:1: empty file"), "{e}");
        let e = p(EV).expect_err("no header");
        assert!(e.contains("x.jsonl:1: not a resplay cassette"), "{e}");
        let e = p("{\"resplay\":2,\"new\":true}\n").expect_err("v2");
        assert!(
            e.contains("x.jsonl:1: unsupported cassette format version 2"),
            "{e}"
        );
        let e = p("{\"resplay\":1,\"colour\":\"red\"}\n").expect_err("unknown key");
        assert!(
            e.starts_with("x.jsonl:1: bad header: unknown field `colour`"),
            "{e}"
        );
        let e = p("not json\n").expect_err("garbage");
        assert!(e.starts_with("x.jsonl:1: bad header"), "{e}");
        let c = p("{\"resplay\":1}").expect("minimal header");
        assert!(c.events.is_empty());
    }
}
