//! Cassette files: the recording on disk.
//!
//! A cassette is JSON Lines (UTF-8, one object a line): a [`Header`] line,
//! then one [`Event`] per line in the order events completed —
//! interactions (a request and its replies), pushes, and connection
//! open/close. `docs/cassette-format.md` is the format's specification.
//!
//! - [`json`]: the lossless [`Value`](crate::resp::Value) ⇄ JSON mapping
//!   (`"text"`, `{"b64":…}`, `{"+":"OK"}`, `{"%":[[k,v],…]}`, …).
//! - [`event`]: the line types and their exact JSON shape.
//! - [`writer`]: the single writer thread sessions feed over a bounded
//!   channel; every batch of lines reaches the OS as soon as it is written,
//!   so a killed recorder loses at most what was in flight.
//! - [`reader`]: loading a whole cassette, with `file:line` errors and the
//!   one tolerated defect (a truncated last line from a killed recorder).
//! - [`compress`]: cassettes named `*.zst`, stored as zstd frames.
//! - [`prune`]: a cassette without what a replay left unused.
//! - [`error`]: [`CassetteError`], whose messages name the file and line.

pub mod compress;
pub mod error;
pub mod event;
pub mod json;
pub mod prune;
pub mod reader;
pub mod wire_lines;
pub mod writer;

pub use error::CassetteError;
pub use event::{ConnState, ConnectionEvent, Event, EventSeed, Header, Interaction, PushEvent};
pub use json::{JsonBytes, JsonValue, ValueSeed, MAX_VALUE_DEPTH};
pub use reader::{estimated_events, load, load_with, parse, read_header, Cassette};
pub use writer::{CassetteWriter, WriteMode, WriterHandle, WriterStats, WriterTask};

/// The cassette format version this build writes and reads (the header's
/// `"resplay"` key).
pub const FORMAT_VERSION: u32 = 1;

/// What the recorder stores instead of `AUTH` / `HELLO … AUTH` passwords.
pub const REDACTED: &str = "<redacted>";
