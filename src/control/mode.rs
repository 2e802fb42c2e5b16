//! The modes a running resplay switches between, and what a switch asks for.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Record => "record",
            Mode::Replay => "replay",
            Mode::Passthrough => "passthrough",
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
}

impl ModeSpec {
    /// `mode` on `cassette`, started afresh when recording.
    pub fn new(mode: Mode, cassette: Option<PathBuf>) -> ModeSpec {
        ModeSpec {
            mode,
            cassette,
            append: false,
        }
    }
}
