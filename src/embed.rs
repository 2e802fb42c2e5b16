//! Running resplay inside a test process, like Go's miniredis: start a
//! server on a free port, point a client at its URL, read its report, stop.
//!
//! ```no_run
//! # async fn example() -> Result<(), resplay::embed::EmbedError> {
//! use resplay::embed::ReplayServer;
//! use resplay::replay::ReplayConfig;
//!
//! let server = ReplayServer::start("tests/redis.jsonl", ReplayConfig::default()).await?;
//! let url = server.url(); // redis://127.0.0.1:PORT
//! // … run the code under test against `url` …
//! let report = server.shutdown().await;
//! assert_eq!(report.missed, 0);
//! # Ok(()) }
//! ```
//!
//! A Redis Cluster is recorded and replayed by [`ClusterRecordServer`] and
//! [`ClusterReplayServer`], a listener per node.
//!
//! A [`SteeredServer`] changes mode while it runs, as the control API does:
//!
//! ```no_run
//! # async fn example() -> Result<(), resplay::embed::EmbedError> {
//! use resplay::control::{Mode, ModeSpec, SteerSettings};
//! use resplay::embed::SteeredServer;
//! use resplay::record::RecordConfig;
//! use resplay::upstream::Upstream;
//!
//! let upstream = Upstream::parse("redis://127.0.0.1:6379")?;
//! let settings = SteerSettings::new(Some(RecordConfig::new(upstream)));
//! let first = ModeSpec::new(Mode::Record, Some("tests/redis.jsonl".into()));
//! let server = SteeredServer::start(settings, first).await?;
//! // … record …
//! server.switch(ModeSpec::new(Mode::Replay, None)).await?;
//! // … the same clients go on, answered from the cassette …
//! let receivers = server.publish("news", "hello").await;
//! # Ok(()) }
//! ```

mod cluster;

use std::net::SocketAddr;
use std::path::Path;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cassette::{self, CassetteError, CassetteWriter, WriteMode};
use crate::control::api::{serve_api, Access};
use crate::control::{Finished, ModeSpec, Status, SteerError, SteerSettings, Steering};
use crate::record::{record, RecordConfig, RecordSummary};
use crate::replay::{ReplayConfig, ReplayState, Report};
use crate::server::inject::Injection;
use crate::upstream::{Upstream, UpstreamError};
pub use cluster::{ClusterRecordServer, ClusterReplayServer};

/// Why an embedded server could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The cassette could not be read or written.
    #[error(transparent)]
    Cassette(#[from] CassetteError),
    /// The upstream URL is not usable.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The first mode could not start.
    #[error(transparent)]
    Steer(#[from] SteerError),
    /// A cluster recording could not start.
    #[error(transparent)]
    ClusterRecord(#[from] crate::cluster::ClusterRecordError),
    /// A cluster cassette could not be served.
    #[error(transparent)]
    ClusterReplay(#[from] crate::cluster::ClusterReplayError),
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {cause}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// The cause.
        cause: std::io::Error,
    },
}

/// The URL a client connects with.
fn client_url(addr: SocketAddr, tls: bool) -> String {
    let scheme = if tls { "rediss" } else { "redis" };
    format!("{scheme}://{addr}")
}

async fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), EmbedError> {
    let listen_error = |cause| EmbedError::Listen {
        addr: addr.to_string(),
        cause,
    };
    let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
    let local = listener.local_addr().map_err(listen_error)?;
    Ok((listener, local))
}

/// A replay server running in this process.
pub struct ReplayServer {
    addr: SocketAddr,
    /// The listener speaks TLS (`config.serve.tls`).
    tls: bool,
    state: ReplayState,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl ReplayServer {
    /// Loads `cassette` and serves it on `127.0.0.1:0` (a free port).
    pub async fn start(
        cassette: impl AsRef<Path>,
        config: ReplayConfig,
    ) -> Result<ReplayServer, EmbedError> {
        Self::start_on("127.0.0.1:0", cassette, config).await
    }

    /// Like [`ReplayServer::start`], on a given address.
    pub async fn start_on(
        addr: &str,
        cassette: impl AsRef<Path>,
        config: ReplayConfig,
    ) -> Result<ReplayServer, EmbedError> {
        let shutdown = CancellationToken::new();
        let tls = config.serve.tls.is_some();
        let (state, warnings) = ReplayState::load(cassette.as_ref(), config, shutdown.clone())?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        let (listener, addr) = bind(addr).await?;
        let serving = state.clone();
        let task = tokio::spawn(async move { serving.serve(listener).await });
        Ok(ReplayServer {
            addr,
            tls,
            state,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` over TLS), for clients.
    pub fn url(&self) -> String {
        client_url(self.addr, self.tls)
    }

    /// The report so far.
    pub fn report(&self) -> Report {
        self.state.report()
    }

    /// Stops serving (open connections are closed) and returns the report.
    pub async fn shutdown(self) -> Report {
        self.shutdown.cancel();
        let _ = self.task.await;
        self.state.report()
    }
}

/// A recording proxy running in this process.
pub struct RecordServer {
    addr: SocketAddr,
    /// The listener speaks TLS (`config.serve.tls`).
    tls: bool,
    shutdown: CancellationToken,
    task: JoinHandle<RecordSummary>,
}

impl RecordServer {
    /// Proxies `127.0.0.1:0` to `upstream` (`redis://…`), writing `cassette`
    /// afresh.
    pub async fn start(
        upstream: &str,
        cassette: impl AsRef<Path>,
    ) -> Result<RecordServer, EmbedError> {
        let upstream = Upstream::parse(upstream)?;
        Self::start_with(RecordConfig::new(upstream), cassette, WriteMode::Create).await
    }

    /// With a full configuration and a write mode (`Append` extends a
    /// cassette, `Atomic` replaces it only when the recording finishes).
    pub async fn start_with(
        config: RecordConfig,
        cassette: impl AsRef<Path>,
        mode: WriteMode,
    ) -> Result<RecordServer, EmbedError> {
        let mut config = config;
        if mode == WriteMode::Append {
            config.salt_from(cassette.as_ref());
        }
        let (listener, addr) = bind("127.0.0.1:0").await?;
        let tls = config.serve.tls.is_some();
        let mut header = config.upstream.recording_header().await.listening_on(addr);
        config.stamp_header(&mut header);
        let (handle, writer) = CassetteWriter::open(cassette.as_ref(), &header, mode).await?;
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            let counts = record(listener, config, handle, token).await;
            counts.with_writer(writer.finish().await)
        });
        Ok(RecordServer {
            addr,
            tls,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` over TLS), for clients.
    pub fn url(&self) -> String {
        client_url(self.addr, self.tls)
    }

    /// Stops, lets in-flight replies finish (bounded), closes the cassette.
    pub async fn shutdown(self) -> RecordSummary {
        self.shutdown.cancel();
        match self.task.await {
            Ok(summary) => summary,
            Err(e) => RecordSummary {
                connections: 0,
                interactions: 0,
                writer: cassette::WriterStats {
                    written: 0,
                    lost: 0,
                    error: Some(format!("recorder task failed: {e}")),
                },
            },
        }
    }
}

/// A server that switches between record, replay and passthrough while it
/// runs: the control API's operations as methods.
pub struct SteeredServer {
    addr: SocketAddr,
    /// The listener speaks TLS (`settings.serve.tls`).
    tls: bool,
    steering: Steering,
    task: JoinHandle<Option<Finished>>,
}

impl SteeredServer {
    /// Starts `first` on `127.0.0.1:0` (a free port).
    pub async fn start(
        settings: SteerSettings,
        first: ModeSpec,
    ) -> Result<SteeredServer, EmbedError> {
        let (listener, addr) = bind("127.0.0.1:0").await?;
        let tls = settings.serve.tls.is_some();
        let (steering, warnings) =
            Steering::start(settings, first, addr, CancellationToken::new()).await?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        let serving = steering.clone();
        let task = tokio::spawn(async move { serving.serve(listener).await });
        Ok(SteeredServer {
            addr,
            tls,
            steering,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` over TLS), for clients.
    pub fn url(&self) -> String {
        client_url(self.addr, self.tls)
    }

    /// The steering handle (what the HTTP API calls).
    pub fn steering(&self) -> &Steering {
        &self.steering
    }

    /// Also serves the HTTP control API on `addr` (port 0: a free one),
    /// on loopback only; returns where. See
    /// [`serve_admin_with`](Self::serve_admin_with) for a token.
    pub async fn serve_admin(&self, addr: &str) -> Result<SocketAddr, EmbedError> {
        self.serve_admin_with(addr, Access::default()).await
    }

    /// Also serves the HTTP control API on `addr`, with `access`'s token
    /// and host names (an address beyond loopback needs a token); returns
    /// where.
    pub async fn serve_admin_with(
        &self,
        addr: &str,
        access: Access,
    ) -> Result<SocketAddr, EmbedError> {
        let (listener, local) = bind(addr).await?;
        crate::control::guard::check_exposure(local, access.token.as_deref()).map_err(|e| {
            EmbedError::Listen {
                addr: addr.to_string(),
                cause: std::io::Error::new(std::io::ErrorKind::PermissionDenied, e),
            }
        })?;
        let steering = self.steering.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_api(listener, steering, access).await {
                tracing::error!("control API stopped: {e}");
            }
        });
        Ok(local)
    }

    /// The fault rules, shared by every mode: `add`, `remove`, `list`,
    /// `clear`.
    pub fn faults(&self) -> std::sync::Arc<crate::fault::Faults> {
        self.steering.faults()
    }

    /// Mode, cassette, connections and counters now.
    pub fn status(&self) -> Status {
        self.steering.status()
    }

    /// Switches mode (and cassette); returns what the old mode did.
    pub async fn switch(&self, spec: ModeSpec) -> Result<Finished, SteerError> {
        self.steering.switch(spec).await
    }

    /// Closes every client connection after what it has in flight.
    pub fn reset_connections(&self) -> usize {
        self.steering.reset_connections()
    }

    /// Sends `message` to the live subscribers of `channel` (and of the
    /// patterns that match it); returns the receiver count.
    pub async fn publish(&self, channel: &str, message: &str) -> u64 {
        self.steering
            .inject(Injection::Message {
                channel: channel.as_bytes().to_vec().into(),
                message: message.as_bytes().to_vec().into(),
                shard: false,
            })
            .await
    }

    /// Sends an invalidation of `keys` (`None`: every key) to clients that
    /// track keys; returns the receiver count.
    pub async fn invalidate(&self, keys: Option<Vec<String>>) -> u64 {
        let keys = keys.map(|keys| keys.into_iter().map(Into::into).collect());
        self.steering.inject(Injection::Invalidate { keys }).await
    }

    /// Any injection (a shard message, binary payloads).
    pub async fn inject(&self, injection: Injection) -> u64 {
        self.steering.inject(injection).await
    }

    /// Stops; what the last mode did (its cassette closed).
    pub async fn shutdown(self) -> Option<Finished> {
        self.steering.shutdown_token().cancel();
        self.task.await.ok().flatten()
    }
}
