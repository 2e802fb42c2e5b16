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

use std::net::SocketAddr;
use std::path::Path;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cassette::{self, CassetteError, CassetteWriter, Header, WriteMode};
use crate::record::{record, RecordConfig, RecordSummary};
use crate::replay::{ReplayConfig, ReplayState, Report};
use crate::upstream::{Upstream, UpstreamError};

/// Why an embedded server could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The cassette could not be read or written.
    #[error(transparent)]
    Cassette(#[from] CassetteError),
    /// The upstream URL is not usable.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {cause}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// The cause.
        cause: std::io::Error,
    },
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
        let (state, warnings) = ReplayState::load(cassette.as_ref(), config, shutdown.clone())?;
        for warning in warnings {
            tracing::warn!("{warning}");
        }
        let (listener, addr) = bind(addr).await?;
        let serving = state.clone();
        let task = tokio::spawn(async move { serving.serve(listener).await });
        Ok(ReplayServer {
            addr,
            state,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:PORT`, for clients.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
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
        let (listener, addr) = bind("127.0.0.1:0").await?;
        let header = Header::for_upstream(&config.upstream).listening_on(addr);
        let (handle, writer) = CassetteWriter::open(cassette.as_ref(), &header, mode).await?;
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            let counts = record(listener, config, handle, token).await;
            counts.with_writer(writer.finish().await)
        });
        Ok(RecordServer {
            addr,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `redis://127.0.0.1:PORT`, for clients.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
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
