//! `resplay run`: wrap any test command with a proxy, VCR style. The child
//! gets `REDIS_URL` (`rediss://` when the listener speaks TLS), `REDIS_HOST`
//! and `REDIS_PORT` pointing at resplay,
//! which records or replays according to the mode.

use std::path::PathBuf;
use std::process::ExitStatus;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cassette::{read_header, CassetteError, CassetteWriter, WriteMode};
use crate::cluster::{record_cluster, replay_cluster};
use crate::config::RunMode;
use crate::record::{record, RecordConfig, RecordSummary};
use crate::replay::overlay::ReportWriter;
use crate::replay::{OnMiss, ReplayConfig, ReplayState, Report};
use crate::upstream::Upstream;

/// What `run` does for a mode and whether the cassette exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Record a new cassette (replacing the old one only on success).
    Record,
    /// Replay; with `extend`, misses go upstream and are appended.
    Replay {
        /// `new-episodes`: record what the cassette lacks.
        extend: bool,
    },
}

/// Why `run` could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `--mode none` with no cassette.
    #[error("cassette {0} does not exist, and --mode none never records")]
    NoCassette(String),
    /// Recording needs an upstream.
    #[error("recording {0} needs an upstream: pass --upstream redis://HOST:PORT")]
    NoUpstream(String),
    /// `--strict`, and the cassette is older than `--max-age` with nothing
    /// to record it again from.
    #[error("cassette {0}: {1}; {2}")]
    Expired(String, String, &'static str),
    /// The cassette could not be read or written.
    #[error(transparent)]
    Cassette(#[from] CassetteError),
    /// Listening or starting the command failed.
    #[error("{0}")]
    Io(String),
}

/// Decides what to do, as Ruby's VCR and vcrpy do.
pub fn plan(mode: RunMode, cassette_exists: bool) -> Plan {
    match (mode, cassette_exists) {
        (RunMode::All, _) | (RunMode::Once | RunMode::NewEpisodes, false) => Plan::Record,
        (RunMode::Once | RunMode::None, true) => Plan::Replay { extend: false },
        (RunMode::NewEpisodes, true) => Plan::Replay { extend: true },
        (RunMode::None, false) => Plan::Replay { extend: false },
    }
}

/// Everything `run` needs, after flags and config file are merged.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// The cassette.
    pub cassette: PathBuf,
    /// VCR record mode.
    pub mode: RunMode,
    /// The real Redis, for recording and for `new-episodes`.
    pub upstream: Option<Upstream>,
    /// Recording options (its `upstream` is replaced by `upstream`).
    pub ignore_trivial_calls: bool,
    /// Replay options.
    pub replay: ReplayConfig,
    /// Fail if a replay missed or left recordings unused.
    pub strict: bool,
    /// Record a Redis Cluster, a listener per node (a cluster cassette is
    /// replayed as one whatever this says).
    pub cluster: bool,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Where to write the cassette's HTML report when the run ends (with
    /// what the replay did, when replaying), and what draws it.
    pub report: Option<(PathBuf, ReportWriter)>,
    /// `--exclude` rules for recording.
    pub exclude: Vec<crate::exclude::ExcludeRule>,
    /// Record the cassette again once it is older than this (see
    /// [`crate::expiry`]).
    pub max_age: Option<std::time::Duration>,
    /// What recording does once the cassette cannot be written.
    pub on_write_error: crate::record::OnWriteError,
}

/// What happened, for the caller to report and turn into an exit code.
#[derive(Debug)]
pub struct RunOutcome {
    /// The child's exit code (128 + signal when killed by one).
    pub child_code: i32,
    /// The recording's summary, when recording.
    pub recorded: Option<RecordSummary>,
    /// The replay's report, when replaying.
    pub replayed: Option<Report>,
    /// True when a strict replay found misses or unused recordings.
    pub strict_failed: bool,
    /// True when a recording was discarded because the command failed.
    pub discarded: bool,
    /// The HTML report asked for: where it went, or why it did not.
    pub html_report: Option<Result<PathBuf, String>>,
}

impl RunOutcome {
    /// The exit code `resplay run` ends with.
    pub fn exit_code(&self) -> i32 {
        if self.child_code != 0 {
            return self.child_code;
        }
        let writer_failed = self
            .recorded
            .as_ref()
            .is_some_and(|r| r.writer.lost > 0 || r.writer.error.is_some());
        let report_failed = matches!(self.html_report, Some(Err(_)));
        if self.strict_failed || writer_failed || report_failed {
            1
        } else {
            0
        }
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    status.code().unwrap_or(1)
}

/// Runs the command behind a proxy; `stop` (Ctrl-C, SIGTERM) kills it.
pub async fn run(
    mut settings: RunSettings,
    stop: CancellationToken,
) -> Result<RunOutcome, RunError> {
    let path = settings.cassette.clone();
    let shown = path.display().to_string();
    let exists = path.exists();
    if settings.mode == RunMode::None && !exists {
        return Err(RunError::NoCassette(shown));
    }
    let mut plan = plan(settings.mode, exists);
    if let (Plan::Replay { .. }, Some(max_age)) = (plan, settings.max_age) {
        plan = expiry_plan(&mut settings, plan, max_age)?;
    }
    let cluster_cassette = plan != Plan::Record && read_header(&path)?.cluster.is_some();
    if cluster_cassette || (plan == Plan::Record && settings.cluster) {
        return run_cluster(settings, plan, stop).await;
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| RunError::Io(format!("cannot listen on 127.0.0.1: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| RunError::Io(e.to_string()))?;
    let port = local.port();
    let tls = settings.replay.serve.tls.is_some();
    let shutdown = CancellationToken::new();

    match plan {
        Plan::Record => {
            let config = record_config(&settings, &shown)?;
            let mut header = config.upstream.recording_header().await.listening_on(local);
            config.stamp_header(&mut header);
            // Atomic: the old cassette stays until the run has succeeded.
            let (handle, writer) = CassetteWriter::open(&path, &header, WriteMode::Atomic).await?;
            let server = tokio::spawn(record(listener, config, handle, shutdown.clone()));
            let child_code = run_child(&settings.command, port, tls, None, &stop).await?;
            shutdown.cancel();
            let counts = server
                .await
                .map_err(|e| RunError::Io(format!("recorder failed: {e}")))?;
            let discarded = child_code != 0;
            let stats = if discarded {
                writer.discard().await
            } else {
                writer.finish().await
            };
            let html_report = match &settings.report {
                Some((out, writer)) if !discarded => Some(
                    writer
                        .write_off_thread(path.clone(), None, out.clone())
                        .await,
                ),
                _ => None,
            };
            Ok(RunOutcome {
                child_code,
                recorded: Some(counts.with_writer(stats)),
                replayed: None,
                strict_failed: false,
                discarded,
                html_report,
            })
        }
        Plan::Replay { extend } => {
            let mut config = settings.replay.clone();
            let mut extension = None;
            if extend {
                let upstream = settings
                    .upstream
                    .clone()
                    .ok_or_else(|| RunError::NoUpstream(shown.clone()))?;
                let header = upstream.recording_header().await;
                let (handle, writer) =
                    CassetteWriter::open(&path, &header, WriteMode::Append).await?;
                config.on_miss = OnMiss::Passthrough;
                config.upstream = Some(upstream);
                config.record_misses_to = Some(handle);
                extension = Some(writer);
            }
            let (state, warnings) = ReplayState::load(&path, config, shutdown.clone())?;
            for warning in &warnings {
                tracing::warn!("{warning}");
            }
            let serving = state.clone();
            let server = tokio::spawn(async move { serving.serve(listener).await });
            let child_code = run_child(&settings.command, port, tls, None, &stop).await?;
            shutdown.cancel();
            let _ = server.await;
            let report = state.report();
            let overlay = settings.report.as_ref().map(|_| state.overlay(&report));
            // Drop the state's writer handle before closing the extension.
            drop(state);
            if let Some(writer) = extension {
                let stats = writer.finish().await;
                if let Some(e) = stats.error {
                    return Err(RunError::Io(format!("cannot extend {shown}: {e}")));
                }
            }
            let strict_failed = settings.strict && report.is_strict_failure();
            let html_report = match (&settings.report, overlay) {
                (Some((out, writer)), Some(overlay)) => Some(
                    writer
                        .write_off_thread(path.clone(), Some(overlay), out.clone())
                        .await,
                ),
                _ => None,
            };
            Ok(RunOutcome {
                child_code,
                recorded: None,
                replayed: Some(report),
                strict_failed,
                discarded: false,
                html_report,
            })
        }
    }
}

/// What to do with a cassette older than `max_age`: record it again when
/// there is an upstream (and the mode records at all), else replay it with
/// a warning, or fail under `--strict`. A cassette whose age cannot be told
/// (no `created`) is replayed, with a warning.
fn expiry_plan(
    settings: &mut RunSettings,
    plan: Plan,
    max_age: std::time::Duration,
) -> Result<Plan, RunError> {
    use crate::expiry::{cassette_age, Age};
    let path = &settings.cassette;
    let shown = path.display().to_string();
    let age = cassette_age(path, max_age)?;
    let said = age.describe(max_age);
    match age {
        Age::Fresh { .. } => return Ok(plan),
        Age::Unknown => {
            tracing::warn!("cassette {shown}: {said}");
            return Ok(plan);
        }
        Age::Expired { .. } => {}
    }
    if settings.mode != RunMode::None && settings.upstream.is_some() {
        tracing::warn!("cassette {shown}: {said}: recording it again");
        // A cluster recording is recorded again as one.
        settings.cluster |= read_header(path)?.cluster.is_some();
        return Ok(Plan::Record);
    }
    let hint = if settings.mode == RunMode::None {
        "--mode none never records: run with --mode once and --upstream to record it again"
    } else {
        "pass --upstream redis://HOST:PORT to record it again"
    };
    if settings.strict {
        return Err(RunError::Expired(shown, said, hint));
    }
    tracing::warn!("cassette {shown}: {said}; replaying it anyway ({hint})");
    Ok(plan)
}

/// The recording settings of a run: its upstream, and the replay side's
/// redaction rules, fault rules and listener options, so that one rule set
/// holds whichever way the run goes.
fn record_config(settings: &RunSettings, shown: &str) -> Result<RecordConfig, RunError> {
    let upstream = settings
        .upstream
        .clone()
        .ok_or_else(|| RunError::NoUpstream(shown.to_string()))?;
    let mut config = RecordConfig::new(upstream);
    config.redact = settings.replay.redact.clone();
    config.ignore_trivial_calls = settings.ignore_trivial_calls;
    config.exclude = settings.exclude.clone();
    config.faults = settings.replay.faults.clone();
    config.serve = settings.replay.serve.clone();
    config.on_write_error = settings.on_write_error;
    Ok(config)
}

/// `run` for a cluster: records one (`--cluster`) or replays a cluster
/// cassette, a listener per node; the command also gets
/// `REDIS_CLUSTER_NODES`.
async fn run_cluster(
    settings: RunSettings,
    plan: Plan,
    stop: CancellationToken,
) -> Result<RunOutcome, RunError> {
    let path = settings.cassette.clone();
    let shown = path.display().to_string();
    if settings.report.is_some() {
        return Err(RunError::Io(format!(
            "{shown} is a cluster cassette: --report does not draw a cluster's yet"
        )));
    }
    let tls = settings.replay.serve.tls.is_some();
    let shutdown = CancellationToken::new();
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let env = |nodes: Vec<(String, std::net::SocketAddr)>| {
        let all: Vec<String> = nodes.iter().map(|(_, local)| local.to_string()).collect();
        all.join(",")
    };
    match plan {
        Plan::Record => {
            let config = record_config(&settings, &shown)?;
            let recording =
                record_cluster(config, listen, &path, WriteMode::Atomic, shutdown.clone())
                    .await
                    .map_err(|e| RunError::Io(e.to_string()))?;
            let nodes = env(recording.nodes());
            let seed = recording.seed().port();
            let child_code = run_child(&settings.command, seed, tls, Some(&nodes), &stop).await?;
            shutdown.cancel();
            let discarded = child_code != 0;
            let summary = recording.finish(!discarded).await;
            Ok(RunOutcome {
                child_code,
                recorded: Some(summary),
                replayed: None,
                strict_failed: false,
                discarded,
                html_report: None,
            })
        }
        Plan::Replay { extend: true } => Err(RunError::Io(format!(
            "{shown} is a cluster cassette: --mode new-episodes does not extend one yet (use once, none or all)"
        ))),
        Plan::Replay { extend: false } => {
            let (replay, warnings) =
                replay_cluster(&path, settings.replay.clone(), listen, shutdown.clone())
                    .map_err(|e| RunError::Io(e.to_string()))?;
            for warning in &warnings {
                tracing::warn!("{warning}");
            }
            let nodes = env(replay.nodes());
            let seed = replay.seed().port();
            let child_code = run_child(&settings.command, seed, tls, Some(&nodes), &stop).await?;
            shutdown.cancel();
            let report = replay.finish().await;
            let strict_failed = settings.strict && report.is_strict_failure();
            Ok(RunOutcome {
                child_code,
                recorded: None,
                replayed: Some(report),
                strict_failed,
                discarded: false,
                html_report: None,
            })
        }
    }
}

/// Runs the command with the `REDIS_*` variables (and
/// `REDIS_CLUSTER_NODES`, `host:port,…`, for a cluster); returns its exit
/// code.
async fn run_child(
    command: &[String],
    port: u16,
    tls: bool,
    cluster_nodes: Option<&str>,
    stop: &CancellationToken,
) -> Result<i32, RunError> {
    let scheme = if tls { "rediss" } else { "redis" };
    let (program, args) = command
        .split_first()
        .ok_or_else(|| RunError::Io("no command given after --".into()))?;
    let mut child = tokio::process::Command::new(program);
    if let Some(nodes) = cluster_nodes {
        child.env("REDIS_CLUSTER_NODES", nodes);
    }
    let mut child = child
        .args(args)
        .env("REDIS_URL", format!("{scheme}://127.0.0.1:{port}"))
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", port.to_string())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| RunError::Io(format!("cannot run {program}: {e}")))?;
    let status = tokio::select! {
        status = child.wait() => status,
        _ = stop.cancelled() => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    status
        .map(exit_code)
        .map_err(|e| RunError::Io(format!("waiting for {program}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcr_modes() {
        assert_eq!(plan(RunMode::Once, false), Plan::Record);
        assert_eq!(plan(RunMode::Once, true), Plan::Replay { extend: false });
        assert_eq!(plan(RunMode::NewEpisodes, false), Plan::Record);
        assert_eq!(
            plan(RunMode::NewEpisodes, true),
            Plan::Replay { extend: true }
        );
        assert_eq!(plan(RunMode::None, true), Plan::Replay { extend: false });
        assert_eq!(plan(RunMode::All, true), Plan::Record);
        assert_eq!(plan(RunMode::All, false), Plan::Record);
    }
}
