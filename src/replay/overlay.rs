//! What a replay did with a cassette, laid over its HTML report: which
//! recordings were served (and how often), which went unused, and the
//! commands that missed, each with the closest recording and why it did
//! not match. `resplay replay --report` (and `run --report`, the pytest
//! plugin's `--resplay-report`) collect it when the replay stops.
//!
//! The report itself is drawn by `crate::report`, a cassette tool a layer
//! above the modes and their steering: they get a [`ReportWriter`] from
//! the front end that can draw one (the command line) instead of calling
//! up.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// What writes the HTML report of a cassette, with a replay's overlay.
#[derive(Clone)]
pub struct ReportWriter(Arc<WriteFn>);

type WriteFn = dyn Fn(&Path, Option<&ReplayOverlay>, &Path) -> Result<(), String> + Send + Sync;

impl ReportWriter {
    /// `write(cassette, overlay, out)` draws the report; its error says why
    /// it could not.
    pub fn new(
        write: impl Fn(&Path, Option<&ReplayOverlay>, &Path) -> Result<(), String>
            + Send
            + Sync
            + 'static,
    ) -> ReportWriter {
        ReportWriter(Arc::new(write))
    }

    /// [`write`](Self::write) off the runtime's threads (a large cassette
    /// takes seconds to read): where the report went, or why it did not.
    pub async fn write_off_thread(
        &self,
        cassette: PathBuf,
        overlay: Option<ReplayOverlay>,
        out: PathBuf,
    ) -> Result<PathBuf, String> {
        let shown = out.display().to_string();
        let writer = self.clone();
        let written = tokio::task::spawn_blocking(move || {
            writer
                .write(&cassette, overlay.as_ref(), &out)
                .map(|()| out)
        })
        .await;
        match written {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(format!("cannot write the report {shown}: {e}")),
            Err(e) => Err(format!("cannot write the report {shown}: {e}")),
        }
    }

    /// Writes the report of `cassette` (with `overlay`) to `out`.
    pub fn write(
        &self,
        cassette: &Path,
        overlay: Option<&ReplayOverlay>,
        out: &Path,
    ) -> Result<(), String> {
        (self.0)(cassette, overlay, out)
    }
}

impl std::fmt::Debug for ReportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReportWriter")
    }
}

/// A replay's outcome, recording by recording.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplayOverlay {
    /// Per recorded interaction, in cassette order (the n-th interaction
    /// line is entry n): how many live commands it answered. 0 is unused.
    pub served: Vec<u32>,
    /// Per recorded interaction, in cassette order: how many of those
    /// answers repeated it after its recordings were used up.
    pub repeated: Vec<u32>,
    /// The commands nothing answered, in the order they came (the first
    /// [`MISSES_KEPT`]; `missed` counts them all).
    pub misses: Vec<MissNote>,
    /// Commands answered from the cassette, repeats included.
    pub served_total: u64,
    /// Of those, repeats.
    pub repeated_total: u64,
    /// Commands nothing answered.
    pub missed: u64,
    /// Recorded interactions never served.
    pub unused: u64,
    /// Commands the upstream answered (`--on-miss passthrough`).
    pub passed_through: u64,
    /// Live connections served.
    pub connections: u64,
}

/// How many misses an overlay keeps: a replay against the wrong cassette
/// misses every command, and the report needs the first ones, not all.
pub const MISSES_KEPT: usize = 1000;

/// One command no recording answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissNote {
    /// The live connection that sent it (numbered from 1 as the replay
    /// accepted them).
    pub live_conn: u64,
    /// The recorded connection that live connection was bound to, if any.
    pub bound_to: Option<u64>,
    /// When it came, in ms since the replay started.
    pub at_ms: u64,
    /// The database it ran in.
    pub db: u32,
    /// The command, displayed as `show` does, passwords redacted.
    pub command: String,
    /// The closest recorded command, displayed, if the cassette has any.
    pub closest: Option<String>,
    /// That command's first recording (cassette order, as `served`).
    pub closest_recording: Option<usize>,
    /// Why the closest did not match, in words ("argument 2 differs:
    /// 'a' recorded, 'b' sent").
    pub why: String,
}
