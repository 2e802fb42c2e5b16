//! What a steered server reports: [`Status`] while it runs (`GET /status`,
//! the embedding API) and [`Finished`] when a mode ends (a switch's
//! answer, the command line's closing report).
//!
//! These are public shapes with readers of their own (the control API's
//! JSON, people at a terminal); the switch only fills them in.

use std::path::PathBuf;

use serde::Serialize;

use super::{Active, Served};
use crate::control::mode::Mode;
use crate::record::RecordSummary;
use crate::replay::Report;

/// What a finished mode did.
#[derive(Debug, Clone)]
pub enum Finished {
    /// A recording, with its writer's account.
    Recorded(RecordSummary),
    /// A replay's report.
    Replayed(Report),
    /// A passthrough: connections relayed.
    PassedThrough {
        /// Client connections relayed.
        connections: u64,
    },
    /// An idle spell: nothing was served.
    Idle,
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finished::Recorded(summary) => summary.fmt(f),
            Finished::Replayed(report) => report.fmt(f),
            Finished::PassedThrough { connections } => {
                write!(f, "passed through {connections} connection(s)")
            }
            Finished::Idle => f.write_str("idle"),
        }
    }
}

/// A running server's state, as the control API reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The mode serving now.
    pub mode: Mode,
    /// Its cassette (none in passthrough).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cassette: Option<PathBuf>,
    /// Live client connections.
    pub connections: usize,
    /// Close client connections on a switch.
    pub reset_connections_on_switch: bool,
    /// Milliseconds since this mode started.
    pub mode_ms: u64,
    /// Record: interactions written so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<u64>,
    /// Replay: commands answered from the cassette (repeats included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served: Option<u64>,
    /// Replay: commands with no recording.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missed: Option<u64>,
    /// Replay: recorded interactions not served yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unused: Option<u64>,
    /// Replay: the first missed commands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_misses: Vec<String>,
    /// Replay: the first distinct recorded commands not served yet, with
    /// `(xN)` when one is unused N times.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_unused: Vec<String>,
    /// Replay: values the client made up that stood in for recorded ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapped: Option<u64>,
    /// Replay: the first of those pairs, `recorded -> live`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub first_mapped: Vec<String>,
    /// Replay recording its misses: commands the upstream answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed_through: Option<u64>,
    /// Replay: commands a stub answered (apart from `served`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stubbed: Option<u64>,
    /// During a switch: the mode being switched to. `mode` is then the mode
    /// finishing what is in flight, and its counters are as the switch
    /// found them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switching_to: Option<Mode>,
}

impl Status {
    /// A status with no counters yet.
    pub(super) fn new(
        mode: Mode,
        cassette: Option<PathBuf>,
        connections: usize,
        reset: bool,
    ) -> Status {
        Status {
            mode,
            cassette,
            connections,
            reset_connections_on_switch: reset,
            mode_ms: 0,
            recorded: None,
            served: None,
            missed: None,
            unused: None,
            first_misses: Vec::new(),
            first_unused: Vec::new(),
            mapped: None,
            first_mapped: Vec::new(),
            passed_through: None,
            stubbed: None,
            switching_to: None,
        }
    }

    /// The status of the mode `active`, its counters as they are now.
    pub(super) fn of(active: &Active, connections: usize, reset: bool) -> Status {
        let mut status = Status::new(
            active.spec.mode,
            active.spec.cassette.clone(),
            connections,
            reset,
        );
        status.mode_ms = active.since.elapsed().as_millis() as u64;
        match &active.served {
            Served::Record(recorder) => status.recorded = Some(recorder.counts().interactions),
            Served::Replay(state) => {
                let report = state.report();
                status.served = Some(report.served);
                status.missed = Some(report.missed);
                status.unused = Some(report.unused);
                status.first_misses = report.first_misses;
                status.first_unused = report.first_unused;
                status.mapped = Some(report.mapped);
                status.first_mapped = report.first_mapped;
                status.stubbed = Some(report.stubbed);
                if active.spec.record_misses {
                    status.passed_through = Some(report.passed_through);
                }
            }
            Served::Passthrough(_) | Served::Idle => {}
        }
        status
    }
}
