//! Record mode: a transparent proxy in front of a real Redis that writes
//! every exchange to a cassette.
//!
//! - `replication`: `SYNC`/`PSYNC`, the RDB transfer and the replication
//!   stream after it, and the gate that keeps a replicated command behind
//!   its cause in the cassette.
//! - `session`: one client connection, relaying exact bytes both ways.
//! - `resume`: a connection carried in by a mode switch gets its upstream
//!   brought to the client's protocol, database and subscriptions.

mod replication;
mod resume;
mod session;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cassette::{WriterHandle, WriterStats};
use crate::handover::{Carry, SessionEnd};
use crate::resp::Limits;
use crate::server::registry::Registry;
use crate::server::{serve, ServeOptions};
use crate::upstream::Upstream;

/// How a recorder behaves.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The real Redis.
    pub upstream: Upstream,
    /// Protocol limits for client input.
    pub limits: Limits,
    /// Protocol limits for the upstream's replies: Redis may legally answer
    /// far deeper than a client is allowed to push us around.
    pub upstream_limits: Limits,
    /// Leave out handshake calls replay can answer itself (PING, HELLO, …)
    /// when they succeeded.
    pub ignore_trivial_calls: bool,
    /// Close a client with nothing in flight after this long (None = never).
    pub idle_timeout: Option<Duration>,
    /// How long in-flight replies may take once the client or the recorder
    /// is going away.
    pub drain_grace: Duration,
    /// Accept loop options (client limit, connection ids).
    pub serve: ServeOptions,
    /// Faults to inject, per command (shared, changeable while running).
    pub faults: Arc<crate::fault::Faults>,
    /// Redaction rules (`--redact`); the recorder keys them with `salt`.
    pub redact: Option<crate::redact::Redactor>,
    /// The cassette's salt (the header's `redact_salt`): passwords and
    /// redacted data get keyed placeholders under it (`<redacted:HEX8>`),
    /// so different passwords stay apart. A fresh one for a new cassette;
    /// `None` (appending to a cassette without one) stores `<redacted>`.
    pub salt: Option<String>,
    /// In a cluster recording: the node this recorder relays to, and the
    /// listeners node addresses are rewritten to.
    pub cluster: Option<crate::nodes::ClusterLink>,
    /// The live tail each interaction is shown on while someone watches
    /// (a steered server's web console); `None` outside steering.
    pub tail: Option<crate::tail::Tail>,
    /// The call journal each relayed command is noted in (a steered
    /// server's `GET /journal`); `None` outside steering.
    pub journal: Option<crate::journal::Journal>,
    /// `--exclude` rules: matching commands are relayed, not recorded
    /// (never inside `MULTI … EXEC`).
    pub exclude: Vec<crate::exclude::ExcludeRule>,
    /// What a cassette that cannot be written does to the traffic.
    pub on_write_error: OnWriteError,
}

/// What the recorder does once its cassette cannot be written (disk full,
/// I/O error): what it relays from then on is lost either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnWriteError {
    /// Keep relaying, as a proxy should; the exit status and summary say
    /// how many events were lost.
    #[default]
    Continue,
    /// Refuse new traffic, for whoever would rather fail loudly than run
    /// tests against a recording that is not being kept: new connections
    /// and new commands get `-ERR resplay: cannot write cassette …`.
    Stop,
}

impl RecordConfig {
    /// The header's `redact_salt` for a new cassette.
    pub fn header_salt(&self) -> Option<String> {
        self.salt.clone()
    }

    /// What a new cassette's header says of this recording: its
    /// `redact_salt`, and the `excluded` rules it was filtered by.
    pub fn stamp_header(&self, header: &mut crate::cassette::Header) {
        header.redact_salt = self.salt.clone();
        header.excluded = self.exclude.iter().map(|r| r.text.clone()).collect();
    }

    /// Whether a request read outside a transaction is left out of the
    /// cassette.
    pub(crate) fn excludes(&self, args: &[bytes::Bytes]) -> bool {
        crate::exclude::excluded_by(&self.exclude, args).is_some()
    }

    /// Before appending to `path`: the salt already in its header, so
    /// placeholders stay the same.
    pub fn salt_from(&mut self, path: &std::path::Path) {
        self.salt = crate::redact::salt_of(path);
    }

    /// Defaults for everything but the upstream.
    pub fn new(upstream: Upstream) -> Self {
        RecordConfig {
            upstream,
            limits: Limits::default(),
            upstream_limits: Limits::upstream(),
            ignore_trivial_calls: true,
            idle_timeout: None,
            drain_grace: Duration::from_secs(5),
            serve: ServeOptions::default(),
            faults: Arc::default(),
            redact: None,
            salt: Some(crate::redact::Redactor::fresh_salt()),
            cluster: None,
            tail: None,
            journal: None,
            exclude: Vec::new(),
            on_write_error: OnWriteError::Continue,
        }
    }
}

/// What every session of one recorder shares.
pub(crate) struct RecordShared {
    config: RecordConfig,
    /// Where the cassette lines go; `None` relays without recording
    /// (passthrough mode).
    writer: Option<WriterHandle>,
    /// Time zero of the cassette's `at_ms`.
    start: Instant,
    /// Fires when this recorder stops: sessions finish what is in flight.
    shutdown: CancellationToken,
    /// The live connections, for resets and injected messages.
    registry: Arc<Registry>,
    /// Set before `shutdown` fires for a mode switch that keeps client
    /// connections: sessions then hand them over instead of closing.
    handing_over: AtomicBool,
    connections: AtomicU64,
    interactions: AtomicU64,
    /// Orders replication-stream pushes after the interactions that
    /// caused them.
    gate: replication::CausalGate,
    /// Passwords' keyed placeholders, under the cassette's salt.
    secret_key: Option<crate::command::secret::SecretKey>,
}

/// What a finished recording did.
#[derive(Debug, Clone)]
pub struct RecordSummary {
    /// Client connections relayed.
    pub connections: u64,
    /// Interactions written (handshake calls left out are not counted).
    pub interactions: u64,
    /// The cassette writer's account (lines written, lost, error).
    pub writer: WriterStats,
}

impl std::fmt::Display for RecordSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "recorded {} interaction(s) over {} connection(s)",
            self.interactions, self.connections
        )?;
        if self.writer.lost > 0 {
            write!(f, "; {} event(s) LOST", self.writer.lost)?;
        }
        if let Some(e) = &self.writer.error {
            write!(f, " (cassette write error: {e})")?;
        }
        Ok(())
    }
}

/// What a recorder relayed, before its cassette is closed.
#[derive(Debug, Clone, Copy)]
pub struct RecordCounts {
    /// Client connections relayed.
    pub connections: u64,
    /// Interactions written (handshake calls left out are not counted).
    pub interactions: u64,
}

impl RecordCounts {
    /// The summary, once the writer is closed.
    pub fn with_writer(self, writer: WriterStats) -> RecordSummary {
        RecordSummary {
            connections: self.connections,
            interactions: self.interactions,
            writer,
        }
    }
}

/// Runs a recorder on `listener` until `shutdown` fires, then waits for
/// in-flight replies (bounded). Every session's writer handle is dropped
/// when it returns, so the caller can then finish (or discard) the cassette.
pub async fn record(
    listener: TcpListener,
    config: RecordConfig,
    writer: WriterHandle,
    shutdown: CancellationToken,
) -> RecordCounts {
    let serve_options = config.serve.clone();
    let recorder = Recorder::new(
        config,
        Some(writer),
        shutdown.clone(),
        Arc::new(Registry::default()),
    );
    let sessions = recorder.clone();
    serve(listener, shutdown, serve_options, move |stream, id| {
        let recorder = sessions.clone();
        async move {
            recorder.session(Carry::fresh(stream), id).await;
        }
    })
    .await;
    recorder.counts()
}

/// A recorder (or, without a writer, a plain relay) that a server's
/// sessions share: what a running resplay switches to and from.
#[derive(Clone)]
pub(crate) struct Recorder(Arc<RecordShared>);

impl Recorder {
    /// A recorder writing to `writer` (`None`: relay only) until
    /// `shutdown` fires; its connections are listed in `registry`.
    pub(crate) fn new(
        config: RecordConfig,
        writer: Option<WriterHandle>,
        shutdown: CancellationToken,
        registry: Arc<Registry>,
    ) -> Recorder {
        Recorder::starting_at(config, writer, shutdown, registry, Instant::now())
    }

    /// Like [`Recorder::new`], with the cassette's time zero given: the
    /// recorders of a cluster's nodes write one cassette, on one clock.
    pub(crate) fn starting_at(
        config: RecordConfig,
        writer: Option<WriterHandle>,
        shutdown: CancellationToken,
        registry: Arc<Registry>,
        start: Instant,
    ) -> Recorder {
        let mut config = config;
        // Data and passwords are keyed alike, by the header's salt.
        if let Some(r) = &config.redact {
            config.redact = Some(r.with_salt(config.salt.as_deref().unwrap_or_default()));
        }
        let secret_key = config
            .salt
            .as_deref()
            .map(crate::command::secret::SecretKey::new);
        Recorder(Arc::new(RecordShared {
            secret_key,
            config,
            writer,
            start,
            shutdown,
            registry,
            handing_over: AtomicBool::new(false),
            connections: AtomicU64::new(0),
            interactions: AtomicU64::new(0),
            gate: replication::CausalGate::default(),
        }))
    }

    /// Serves one client connection until it closes or is handed over.
    pub(crate) async fn session(&self, carry: Carry, id: u64) -> SessionEnd {
        session::run(carry, id, self.0.clone()).await
    }

    /// Makes the coming stop a switch that keeps client connections.
    pub(crate) fn hand_over_on_stop(&self) {
        self.0.handing_over.store(true, Ordering::Release);
    }

    /// What it relayed so far.
    pub(crate) fn counts(&self) -> RecordCounts {
        RecordCounts {
            connections: self.0.connections.load(Ordering::Relaxed),
            interactions: self.0.interactions.load(Ordering::Relaxed),
        }
    }
}
