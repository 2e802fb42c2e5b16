//! The accept loop shared by record and replay: connection ids, the client
//! limit, the TLS handshake when the listener speaks TLS, and a graceful
//! shutdown; and the live connections it serves, whatever the mode.
//!
//! - [`registry`]: the live connections, to close them (reset) or reach
//!   them with a message; the control API steers through it.
//! - [`inject`]: messages and invalidations delivered to live subscribers.
//! - [`output_limit`]: what a client that does not read may cost.
//! - [`write_turns`]: replies written once per turn of the event loop.

pub mod inject;
pub mod output_limit;
pub mod registry;
pub mod write_turns;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

use crate::tls::{ClientStream, ListenerTls};

/// Redis's default `maxclients`.
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;

/// How the accept loop behaves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Connections beyond this get Redis's `max number of clients` error.
    pub max_clients: usize,
    /// The id given to the first connection (a cassette being extended
    /// continues after its highest recorded id).
    pub first_conn_id: u64,
    /// The next id, when several listeners give out ids for one cassette
    /// (a cluster's nodes); `first_conn_id` is then not used.
    pub shared_ids: Option<Arc<AtomicU64>>,
    /// How long sessions may take to finish once shutdown begins.
    pub grace: Duration,
    /// Speak TLS to clients (`--listen-tls-cert`, `--listen-tls self-signed`).
    pub tls: Option<ListenerTls>,
    /// What a client that does not read may cost before it is held back
    /// (or, a subscriber, closed).
    pub output: output_limit::OutputLimits,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_clients: DEFAULT_MAX_CLIENTS,
            first_conn_id: 1,
            shared_ids: None,
            grace: Duration::from_secs(5),
            tls: None,
            output: output_limit::OutputLimits::default(),
        }
    }
}

/// Accepts connections until `shutdown` fires, running `session(stream, id)`
/// for each (after the TLS handshake on a TLS listener, in the connection's
/// own task); then waits (at most `grace`) for the sessions, which see the
/// same token and wind down, and aborts the ones still running, so that
/// whatever they hold (the cassette writer's handle) is released. Returns
/// the number of connections accepted.
pub async fn serve<F, Fut>(
    listener: TcpListener,
    shutdown: CancellationToken,
    options: ServeOptions,
    session: F,
) -> u64
where
    F: Fn(ClientStream, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let session = Arc::new(session);
    // A JoinSet rather than a TaskTracker: sessions that outlive the grace
    // period must be aborted, not waited for.
    let mut sessions = JoinSet::new();
    let next_id = options
        .shared_ids
        .clone()
        .unwrap_or_else(|| Arc::new(AtomicU64::new(options.first_conn_id)));
    let mut count = 0;
    let live = Arc::new(AtomicU64::new(0));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while sessions.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let tls = options.tls.clone();
        if live.load(Ordering::Relaxed) >= options.max_clients as u64 {
            sessions.spawn(async move {
                match tls {
                    None => refuse(stream).await,
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(stream, peer).await {
                            refuse(stream).await;
                        }
                    }
                }
            });
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        count += 1;
        live.fetch_add(1, Ordering::Relaxed);
        let live = live.clone();
        let session = session.clone();
        sessions.spawn(async move {
            let stream = match tls {
                None => Some(Either::Left(stream)),
                // The handshake failed: `accept` said why, naming the client.
                Some(tls) => tls.accept(stream, peer).await.ok(),
            };
            if let Some(stream) = stream {
                session(stream, id).await;
            }
            live.fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(listener);
    let drained = tokio::time::timeout(options.grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "{} connection(s) still busy after {:?}; closing them",
            sessions.len(),
            options.grace
        );
        sessions.shutdown().await;
    }
    count
}

/// What Redis does past `maxclients`: one error line, then close.
async fn refuse(mut stream: impl AsyncWrite + Unpin) {
    let _ = stream
        .write_all(b"-ERR max number of clients reached\r\n")
        .await;
    let _ = stream.shutdown().await;
}
