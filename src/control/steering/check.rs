//! Step 1 of a switch: everything about the new mode that can be refused,
//! checked before the old mode is touched, so that a bad request leaves
//! the running mode as it was.
//!
//! Kept apart from the switch because it is what grows: every option a
//! switch takes ([`ModeSpec`]), every rule about which options go with
//! which mode, and every message that says why not. The switch only needs
//! to know that a [`Checked`] mode can start.

use std::path::Path;

use super::{Active, Served, SteerError, Steering};
use crate::cassette::{CassetteWriter, WriteMode, WriterTask};
use crate::control::mode::{Mode, ModeSpec};
use crate::replay::{IgnoreRule, OnMiss, ReplayConfig, ReplayState};

impl Steering {
    /// A spec with the cassette in use filled in when it leaves it out.
    pub(super) fn with_cassette(
        &self,
        mut spec: ModeSpec,
        current: Option<&Active>,
    ) -> Result<ModeSpec, SteerError> {
        let cassetteless = matches!(spec.mode, Mode::Passthrough | Mode::Idle);
        if spec.cassette.is_none() && !cassetteless {
            spec.cassette = current.and_then(|a| a.spec.cassette.clone());
            if spec.cassette.is_none() {
                return Err(SteerError::BadRequest(format!(
                    "{} needs a cassette",
                    spec.mode
                )));
            }
        }
        if cassetteless {
            spec.cassette = None;
        }
        Ok(spec)
    }

    /// Step 1: everything about the new mode that can be refused, checked
    /// before the old mode is touched.
    pub(super) async fn check(
        &self,
        spec: &ModeSpec,
        current: Option<&Active>,
    ) -> Result<Checked, SteerError> {
        let recording_now = current.and_then(|a| match a.served {
            Served::Record(_) => a.spec.cassette.as_deref(),
            _ => None,
        });
        match spec.mode {
            Mode::Record | Mode::Passthrough if self.0.settings.record.is_none() => {
                Err(SteerError::BadRequest(format!(
                    "{} needs an upstream: start resplay with --upstream",
                    spec.mode
                )))
            }
            Mode::Record => {
                let path = required(spec)?;
                if recording_now.is_some_and(|p| same_file(p, path)) {
                    return Err(SteerError::BadRequest(format!(
                        "already recording to {}",
                        path.display()
                    )));
                }
                check_writable(path)?;
                Ok(Checked::Record(spec.clone()))
            }
            Mode::Replay => {
                let path = required(spec)?;
                for (what, out) in [
                    ("pruned cassette", &spec.write_pruned),
                    ("report", &spec.report),
                ] {
                    let dir = out
                        .as_ref()
                        .and_then(|o| o.parent())
                        .filter(|d| !d.as_os_str().is_empty());
                    if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                        return Err(SteerError::BadRequest(format!(
                            "{what} {}: directory {} does not exist",
                            out.as_ref()
                                .map(|o| o.display().to_string())
                                .unwrap_or_default(),
                            dir.display()
                        )));
                    }
                }
                if spec.report.is_some() && self.0.settings.report_writer.is_none() {
                    return Err(SteerError::BadRequest(
                        "this server draws no reports: an embedded server needs a report \
                         writer (SteerSettings::report_writer)"
                            .into(),
                    ));
                }
                let reload = recording_now.is_some_and(|p| same_file(p, path));
                // A cluster cassette needs a listener per node, which one
                // steered listener cannot give (`resplay replay` serves it).
                if !reload
                    && path.is_file()
                    && crate::cassette::read_header(path)?.cluster.is_some()
                {
                    return Err(SteerError::BadRequest(format!(
                        "{} is a cluster cassette: serve it with resplay replay --cassette (a listener per node); the control API steers one listener",
                        path.display()
                    )));
                }
                let mut config = self.replay_config(spec)?;
                let mut writer = None;
                if spec.record_misses {
                    if reload {
                        return Err(SteerError::BadRequest(format!(
                            "record_misses: {} is being recorded; switch to replay first",
                            path.display()
                        )));
                    }
                    // Checked before the writer opens: appending would
                    // create a missing file.
                    if !path.is_file() {
                        return Err(SteerError::BadRequest(format!(
                            "cannot replay {}: no such file",
                            path.display()
                        )));
                    }
                    let upstream = config.upstream.clone().ok_or_else(|| {
                        SteerError::BadRequest(
                            "record_misses needs an upstream: start resplay with --upstream".into(),
                        )
                    })?;
                    let header = upstream.recording_header().await;
                    let (handle, task) =
                        CassetteWriter::open(path, &header, WriteMode::Append).await?;
                    config.on_miss = OnMiss::Passthrough;
                    config.record_misses_to = Some(handle);
                    writer = Some(task);
                }
                // Loaded now to refuse a bad cassette; the one being recorded
                // is loaded again once its writer has flushed it. A load that
                // fails drops the writer having appended nothing.
                let (state, warnings) = self.load_replay(path, config.clone())?;
                Ok(Checked::Replay {
                    spec: spec.clone(),
                    state,
                    config: Box::new(config),
                    reload,
                    warnings,
                    writer,
                })
            }
            Mode::Passthrough => Ok(Checked::Passthrough(spec.clone())),
            Mode::Idle => Ok(Checked::Idle(spec.clone())),
        }
    }

    /// The server's replay settings with a switch's own options.
    fn replay_config(&self, spec: &ModeSpec) -> Result<ReplayConfig, SteerError> {
        let mut config = self.0.settings.replay.clone();
        for text in &spec.ignore {
            let rule: IgnoreRule = text.parse().map_err(|e: crate::pattern::RuleError| {
                SteerError::BadRequest(format!("ignore: {e}"))
            })?;
            config.rules.push(rule);
        }
        if let Some(timing) = spec.timing {
            config.timing = timing;
        }
        if config.upstream.is_none() {
            config.upstream = self.0.settings.record.as_ref().map(|r| r.upstream.clone());
        }
        Ok(config)
    }
}

/// A mode that passed its checks.
pub(super) enum Checked {
    Record(ModeSpec),
    Replay {
        spec: ModeSpec,
        state: ReplayState,
        /// Its settings, to load it again with.
        config: Box<ReplayConfig>,
        /// Load again at the switch: it is the cassette being recorded.
        reload: bool,
        /// The loader's warnings (a torn last line).
        warnings: Vec<String>,
        /// `record_misses`: the writer appending to the cassette.
        writer: Option<WriterTask>,
    },
    Passthrough(ModeSpec),
    Idle(ModeSpec),
}

/// Refuses a switch that names options its mode does not take.
pub(super) fn refuse_misplaced(spec: &ModeSpec) -> Result<(), SteerError> {
    let misplaced = spec.misplaced_options();
    if misplaced.is_empty() {
        return Ok(());
    }
    let takers = |option: &str| match option {
        "append" => "record",
        "cassette" => "record and replay",
        _ => "replay",
    };
    let named: Vec<String> = misplaced
        .iter()
        .map(|o| format!("{o} (only {})", takers(o)))
        .collect();
    Err(SteerError::BadRequest(format!(
        "{} does not take {}",
        spec.mode,
        named.join(", ")
    )))
}

pub(super) fn required(spec: &ModeSpec) -> Result<&Path, SteerError> {
    spec.cassette
        .as_deref()
        .ok_or_else(|| SteerError::BadRequest(format!("{} needs a cassette", spec.mode)))
}

/// Whether two paths name one file (the cassette being recorded).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// A cassette can be created at `path`: its directory exists.
fn check_writable(path: &Path) -> Result<(), SteerError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if dir.is_dir() {
        Ok(())
    } else {
        Err(SteerError::BadRequest(format!(
            "cannot record to {}: directory {} does not exist",
            path.display(),
            dir.display()
        )))
    }
}
