//! `resplay report`: one self-contained HTML file that shows a cassette
//! (and, after a replay, what the replay did with it).
//!
//! The cassette is streamed once ([`crate::cassette::load_with`]) through a
//! [`collect::Collector`] that keeps counters, histograms and bounded
//! tables, never the events, so a cassette of millions of interactions is
//! reported in seconds and in fixed memory; the page gets a sample of the
//! timeline past about 20,000 marks ([`marks`] says what is always kept).
//! The page (`assets/`) is plain HTML, CSS and a small script that draws
//! from the JSON data in it; nothing is fetched. docs/report.md describes
//! the page and the choices behind it.
//!
//! - [`overlay`]: what a replay did, recording by recording.
//! - [`collect`]: events folded into the page's [`data::Data`].
//! - [`marks`]: which events the timeline draws.
//! - [`histogram`]: latency percentiles in fixed memory.
//! - [`topk`]: the slowest, the biggest, the hottest keys.
//! - [`text`]: a mark's text, as `resplay show` prints the event.
//! - [`html`]: the page itself.

pub mod collect;
pub mod data;
pub mod histogram;
pub mod html;
pub mod marks;
pub mod overlay;
pub mod text;
pub mod topk;

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cassette;
pub use overlay::ReplayOverlay;

/// What writing a report found, for the caller to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportStats {
    /// Interactions in the cassette.
    pub interactions: u64,
    /// Recorded connections.
    pub connections: u64,
    /// Marks the timeline draws.
    pub marks: u64,
    /// The timeline draws a sample, not every event.
    pub sampled: bool,
    /// The page's size in bytes.
    pub bytes: u64,
    /// The loader's warnings (a truncated last line).
    pub warnings: Vec<String>,
}

/// Writes the report of `cassette` (with a replay's `overlay`, if given)
/// to `out` as one HTML file. The file appears whole or not at all: it is
/// written beside `out` and renamed.
pub fn write_report(
    cassette: &Path,
    overlay: Option<&ReplayOverlay>,
    out: &Path,
) -> anyhow::Result<ReportStats> {
    let mut collector = collect::Collector::new(overlay);
    let (header, warnings) = cassette::load_with(cassette, |event| collector.add(event))
        .with_context(|| format!("reading {}", cassette.display()))?;
    let file = cassette
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| cassette.display().to_string());
    let data = collector.finish(&header, file.clone());
    let stats = ReportStats {
        interactions: data.summary.interactions,
        connections: data.summary.connections,
        marks: data.sampling.drawn,
        sampled: data.sampling.drawn < data.sampling.events,
        bytes: 0,
        warnings,
    };

    let partial = {
        let mut name = out.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".partial-{}", std::process::id()));
        out.with_file_name(name)
    };
    let written = (|| -> std::io::Result<u64> {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        html::write_page(&data, &file, &mut w)?;
        w.flush()?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&partial, out)?;
        Ok(std::fs::metadata(out)?.len())
    })();
    match written {
        Ok(bytes) => Ok(ReportStats { bytes, ..stats }),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e).with_context(|| format!("writing {}", out.display()))
        }
    }
}
