//! A cluster recorded or replayed inside a test process: a listener per
//! node on free loopback ports, the cluster client given [`nodes`] (or the
//! [`url`] of one node, to discover the rest from).
//!
//! [`nodes`]: ClusterReplayServer::nodes
//! [`url`]: ClusterReplayServer::url

use std::net::SocketAddr;
use std::path::Path;

use tokio_util::sync::CancellationToken;

use super::{client_url, EmbedError};
use crate::cassette::WriteMode;
use crate::cluster::{record_cluster, replay_cluster, ClusterRecording, ClusterReplay};
use crate::record::{RecordConfig, RecordSummary};
use crate::replay::{ReplayConfig, Report};
use crate::upstream::Upstream;

/// Where the nodes' listeners go: free ports on loopback.
fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A cluster recording running in this process.
pub struct ClusterRecordServer {
    recording: ClusterRecording,
    tls: bool,
    shutdown: CancellationToken,
}

impl ClusterRecordServer {
    /// Records the cluster `upstream` (`redis://node:port`) belongs to into
    /// `cassette`, written afresh.
    pub async fn start(
        upstream: &str,
        cassette: impl AsRef<Path>,
    ) -> Result<ClusterRecordServer, EmbedError> {
        let upstream = Upstream::parse(upstream)?;
        Self::start_with(RecordConfig::new(upstream), cassette, WriteMode::Create).await
    }

    /// With a full configuration and a write mode (`Create`, or `Atomic`
    /// to replace the cassette only once the recording finishes; `Append`
    /// is refused).
    pub async fn start_with(
        config: RecordConfig,
        cassette: impl AsRef<Path>,
        mode: WriteMode,
    ) -> Result<ClusterRecordServer, EmbedError> {
        let tls = config.serve.tls.is_some();
        let shutdown = CancellationToken::new();
        let recording = record_cluster(
            config,
            loopback(),
            cassette.as_ref(),
            mode,
            shutdown.clone(),
        )
        .await?;
        Ok(ClusterRecordServer {
            recording,
            tls,
            shutdown,
        })
    }

    /// The URL of the node the upstream URL named.
    pub fn url(&self) -> String {
        client_url(self.recording.seed(), self.tls)
    }

    /// Every node's listener (`host:port`), in the topology's order.
    pub fn nodes(&self) -> Vec<SocketAddr> {
        self.recording.nodes().into_iter().map(|(_, l)| l).collect()
    }

    /// Stops every node's listener, lets in-flight replies finish
    /// (bounded), closes the cassette.
    pub async fn shutdown(self) -> RecordSummary {
        self.shutdown.cancel();
        self.recording.finish(true).await
    }
}

/// A cluster cassette served in this process.
pub struct ClusterReplayServer {
    replay: ClusterReplay,
    tls: bool,
    shutdown: CancellationToken,
}

impl ClusterReplayServer {
    /// Serves the cluster cassette `cassette`, a listener per recorded node.
    pub async fn start(
        cassette: impl AsRef<Path>,
        config: ReplayConfig,
    ) -> Result<ClusterReplayServer, EmbedError> {
        let tls = config.serve.tls.is_some();
        let shutdown = CancellationToken::new();
        let (replay, warnings) =
            replay_cluster(cassette.as_ref(), config, loopback(), shutdown.clone())?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        Ok(ClusterReplayServer {
            replay,
            tls,
            shutdown,
        })
    }

    /// The URL of the node the recording's upstream URL named.
    pub fn url(&self) -> String {
        client_url(self.replay.seed(), self.tls)
    }

    /// Every node's listener (`host:port`), in the header's order.
    pub fn nodes(&self) -> Vec<SocketAddr> {
        self.replay.nodes().into_iter().map(|(_, l)| l).collect()
    }

    /// What every node served, missed and left unused so far.
    pub fn report(&self) -> Report {
        self.replay.report()
    }

    /// Stops serving and returns the report.
    pub async fn shutdown(self) -> Report {
        self.shutdown.cancel();
        self.replay.finish().await
    }
}
