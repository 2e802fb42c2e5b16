//! The modes a running resplay switches between, and what a switch asks for.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::replay::Timing;

/// What a running resplay does with client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Relay to the upstream and write every exchange to the cassette.
    Record,
    /// Answer from the cassette.
    Replay,
    /// Relay to the upstream, writing nothing.
    Passthrough,
    /// No cassette and no upstream in use: new connections wait until a
    /// mode that serves is switched to (a session-wide server between two
    /// tests, or one started before it knows its first cassette).
    Idle,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Record => "record",
            Mode::Replay => "replay",
            Mode::Passthrough => "passthrough",
            Mode::Idle => "idle",
        })
    }
}

/// A mode switch: the mode, and the cassette it records to or replays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeSpec {
    /// The new mode.
    pub mode: Mode,
    /// The cassette; when left out, the one in use stays (record and replay
    /// need one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cassette: Option<PathBuf>,
    /// Record: add to the cassette instead of starting it afresh.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append: bool,
    /// Replay: send commands nothing recorded answers to the upstream and
    /// append them to the cassette (VCR's `new_episodes`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub record_misses: bool,
    /// Replay: ignore rules for volatile arguments, added to the server's
    /// own (`--ignore`, `ignore = [...]`) for this mode only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Replay: keep the recorded delays or not; left out, the server's
    /// `--timing` holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    /// Replay: when this replay ends, write its HTML report (the cassette
    /// with what the replay served, repeated, missed and left unused) to
    /// this file (`resplay replay --report`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    /// Replay: when this replay ends without a miss, write the cassette
    /// without the interactions it left unused to this file (which may be
    /// the cassette itself; `resplay replay --write-pruned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_pruned: Option<PathBuf>,
}

impl ModeSpec {
    /// `mode` on `cassette`, started afresh when recording.
    pub fn new(mode: Mode, cassette: Option<PathBuf>) -> ModeSpec {
        ModeSpec {
            mode,
            cassette,
            append: false,
            record_misses: false,
            ignore: Vec::new(),
            timing: None,
            report: None,
            write_pruned: None,
        }
    }

    /// The options given that `mode` does not take, by their JSON names:
    /// a switch that names any is refused rather than half carried out.
    pub fn misplaced_options(&self) -> Vec<&'static str> {
        let mut misplaced = Vec::new();
        if self.append && self.mode != Mode::Record {
            misplaced.push("append");
        }
        if self.mode != Mode::Replay {
            if self.record_misses {
                misplaced.push("record_misses");
            }
            if !self.ignore.is_empty() {
                misplaced.push("ignore");
            }
            if self.timing.is_some() {
                misplaced.push("timing");
            }
            if self.report.is_some() {
                misplaced.push("report");
            }
            if self.write_pruned.is_some() {
                misplaced.push("write_pruned");
            }
        }
        if matches!(self.mode, Mode::Idle | Mode::Passthrough) && self.cassette.is_some() {
            misplaced.push("cassette");
        }
        misplaced
    }
}
