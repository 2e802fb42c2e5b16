//! `resplay record --cluster` and `resplay replay` of a cluster cassette:
//! a listener per node instead of one steerable server.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use tokio_util::sync::CancellationToken;

use resplay::cassette::WriteMode;
use resplay::cluster::{record_cluster, replay_cluster};
use resplay::config::Config;
use resplay::record::RecordConfig;
use resplay::replay::{OnMiss, ReplayConfig};

use super::args::Steer;
use super::report::print_warnings;
use super::settings;

/// What a cluster server does not offer (yet), refused rather than
/// accepted and ignored.
pub struct Unsupported {
    /// `--admin` or the `admin` key: the control API steers one listener.
    admin: bool,
    /// `--keep-connections` or `reset_connections_on_start = false`: only
    /// meaningful with the control API.
    keep_connections: bool,
}

impl Unsupported {
    /// The steering options the flags and the file ask for.
    pub fn of(steer: &Steer, file: &Config) -> Unsupported {
        Unsupported {
            admin: settings::admin(steer, file).is_some()
                || steer.admin_token.is_some()
                || !steer.admin_hosts.is_empty(),
            keep_connections: !settings::reset_connections(steer, file),
        }
    }

    fn refuse(&self) -> Result<()> {
        if self.admin {
            bail!("the control API (--admin) does not steer a cluster yet: leave it out with --cluster or a cluster cassette");
        }
        if self.keep_connections {
            bail!("--keep-connections is about mode switches, which a cluster does not have yet");
        }
        Ok(())
    }
}

/// The listen address as a socket address (a host name is resolved).
fn listen_socket(listen: &str) -> Result<SocketAddr> {
    listen
        .to_socket_addrs()
        .with_context(|| format!("cannot listen on {listen}"))?
        .next()
        .with_context(|| format!("cannot listen on {listen}: no address"))
}

/// Records the cluster `record.upstream` belongs to into `path`, until
/// `shutdown`; `replay` carries the listener options and fault rules the
/// flags made.
pub async fn record(
    mut record: RecordConfig,
    replay: &ReplayConfig,
    listen: &str,
    path: &Path,
    unsupported: Unsupported,
    shutdown: CancellationToken,
) -> Result<ExitCode> {
    unsupported.refuse()?;
    record.faults = replay.faults.clone();
    record.serve.tls = replay.serve.tls.clone();
    let redact = record.redact.clone();
    let recording = record_cluster(
        record,
        listen_socket(listen)?,
        path,
        WriteMode::Create,
        shutdown.clone(),
    )
    .await?;
    eprintln!("resplay: listening on {}", recording.seed());
    shutdown.cancelled().await;
    let summary = recording.finish(true).await;
    if let Some(r) = &redact {
        r.warn_unmatched();
    }
    eprintln!("resplay: {summary}");
    Ok(
        if summary.writer.lost > 0 || summary.writer.error.is_some() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

/// Replays the cluster cassette at `path` until `shutdown`.
pub async fn replay(
    config: ReplayConfig,
    listen: &str,
    path: &Path,
    strict: bool,
    unsupported: Unsupported,
    shutdown: CancellationToken,
) -> Result<ExitCode> {
    unsupported.refuse()?;
    if config.on_miss == OnMiss::Passthrough {
        bail!("--on-miss passthrough is not supported for a cluster cassette yet (its misses would need a node each)");
    }
    let (replay, warnings) =
        replay_cluster(path, config, listen_socket(listen)?, shutdown.clone())?;
    print_warnings(&warnings);
    eprintln!("resplay: listening on {}", replay.seed());
    shutdown.cancelled().await;
    let report = replay.finish().await;
    eprintln!("resplay: {report}");
    if strict && report.is_strict_failure() {
        eprintln!("resplay: --strict: failing because of missed or unused interactions");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
