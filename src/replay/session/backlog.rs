//! What other connections (recorded pushes, closes) and the control API
//! (injected messages) have queued for one live connection and it has not
//! written yet, counted in bytes. Pushes cannot be held back the way a
//! client's own requests are (they come from elsewhere), so a subscriber
//! that stops reading would grow resplay's memory without end; instead it
//! is closed by Redis's own rule, `client-output-buffer-limit pubsub`, as
//! Redis closes it. Apart from `pushes`, which writes what comes down the
//! channel: this is the sending side, which runs in other tasks.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::PushOut;
use crate::resp::Value;
use crate::server::inject::Injection;
use crate::server::output_limit::PubsubLimit;

/// One connection's queued bytes and the limit they are held to.
pub(crate) struct Backlog {
    live: u64,
    limit: PubsubLimit,
    /// Bytes sent down the channel and not yet written to the socket.
    bytes: AtomicUsize,
    /// The connection is subscribed (Redis's pubsub class): only then does
    /// the limit apply, as in Redis, where a normal client has none.
    subscribed: AtomicBool,
    /// Since when `bytes` has been over the soft limit, as Redis keeps
    /// `obuf_soft_limit_reached_time`; checked when bytes are added.
    over_soft_since: Mutex<Option<Instant>>,
    /// Fires when the limit closed the connection: the session stops
    /// waiting on its socket and closes it.
    closed: CancellationToken,
}

impl Backlog {
    pub(crate) fn new(live: u64, limit: PubsubLimit) -> Arc<Backlog> {
        Arc::new(Backlog {
            live,
            limit,
            bytes: AtomicUsize::new(0),
            subscribed: AtomicBool::new(false),
            over_soft_since: Mutex::new(None),
            closed: CancellationToken::new(),
        })
    }

    /// The session says whether the connection is subscribed now.
    pub(crate) fn set_subscribed(&self, subscribed: bool) {
        self.subscribed.store(subscribed, Ordering::Relaxed);
    }

    /// Fires once the limit closed the connection.
    pub(crate) fn closed(&self) -> &CancellationToken {
        &self.closed
    }

    /// `weight` bytes were written (or dropped): no longer owed.
    pub(crate) fn written(&self, weight: usize) {
        if weight > 0 {
            self.bytes.fetch_sub(weight, Ordering::Relaxed);
        }
    }

    /// Counts `weight` more bytes queued; false when that takes a
    /// subscriber past its limit, which closes it (the push is dropped,
    /// with everything still queued for it).
    fn add(&self, weight: usize) -> bool {
        if self.closed.is_cancelled() {
            return false;
        }
        let bytes = self.bytes.fetch_add(weight, Ordering::Relaxed) + weight;
        if !self.subscribed.load(Ordering::Relaxed) {
            return true;
        }
        let now = Instant::now();
        let since = {
            let mut since = self
                .over_soft_since
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if self.limit.soft > 0 && bytes >= self.limit.soft {
                // Just over: the soft limit's time starts now.
                Some(*since.get_or_insert(now))
            } else {
                *since = None;
                None
            }
        };
        if !self.limit.reached(bytes, since, now) {
            return true;
        }
        // Redis's own log line for it, with what resplay knows.
        tracing::warn!(
            "connection {}: closed for overcoming of output buffer limits \
             (pubsub: {bytes} bytes owed, limit {})",
            self.live,
            self.limit
        );
        self.closed.cancel();
        false
    }
}

/// A live connection's push channel, with its backlog counted.
#[derive(Clone)]
pub(crate) struct PushSender {
    tx: UnboundedSender<PushOut>,
    backlog: Arc<Backlog>,
}

impl PushSender {
    pub(crate) fn new(tx: UnboundedSender<PushOut>, backlog: Arc<Backlog>) -> PushSender {
        PushSender { tx, backlog }
    }

    /// Queues `push` for the connection; false when it is gone or the
    /// limit closed it.
    pub(crate) fn send(&self, push: PushOut) -> bool {
        let weight = push.weight();
        if !self.backlog.add(weight) {
            // Wake a session waiting on its socket: it closes now.
            let _ = self.tx.send(PushOut::Close);
            return false;
        }
        if self.tx.send(push).is_err() {
            self.backlog.written(weight);
            return false;
        }
        true
    }
}

impl PushOut {
    /// The bytes this push holds for the connection until it is written:
    /// near its encoded size (and, for an injected message, the message,
    /// which the queued request keeps alive whether or not it matches).
    pub(crate) fn weight(&self) -> usize {
        match self {
            PushOut::Push(value) => weight_of(value),
            PushOut::Close | PushOut::Stop => 0,
            PushOut::Inject(request) => match request.injection.as_ref() {
                Injection::Message {
                    channel, message, ..
                } => 64 + channel.len() + message.len(),
                Injection::Invalidate { keys } => {
                    64 + keys.iter().flatten().map(|k| 16 + k.len()).sum::<usize>()
                }
            },
        }
    }
}

/// About the bytes `value` takes encoded: its payloads and a few bytes of
/// header per element.
fn weight_of(value: &Value) -> usize {
    const HEADER: usize = 16;
    HEADER
        + match value {
            Value::Simple(b)
            | Value::Error(b)
            | Value::Bulk(b)
            | Value::Double(b)
            | Value::BigNumber(b)
            | Value::Verbatim(b)
            | Value::BulkError(b) => b.len(),
            Value::Array(items)
            | Value::Set(items)
            | Value::Push(items)
            | Value::StreamedAggregate { items, .. } => items.iter().map(weight_of).sum(),
            Value::Map(pairs) => pairs.iter().map(|(k, v)| weight_of(k) + weight_of(v)).sum(),
            Value::Attributed { attrs, value } => {
                weight_of(value)
                    + attrs
                        .iter()
                        .map(|(k, v)| weight_of(k) + weight_of(v))
                        .sum::<usize>()
            }
            Value::StreamedBulk(chunks) => chunks.iter().map(|c| HEADER + c.len()).sum(),
            Value::Integer(_)
            | Value::NullBulk
            | Value::NullArray
            | Value::Null
            | Value::Boolean(_) => 0,
        }
}
