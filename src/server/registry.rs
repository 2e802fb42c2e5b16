//! The live client connections of one server, whatever mode serves them:
//! what the control API reaches them through, to close them (reset) or to
//! inject messages into them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio_util::sync::CancellationToken;

use super::inject::Injection;

/// How long an injection waits for a connection to take it: a session
/// answers between two commands, so only one stuck in a long write (or a
/// `hang` fault) can be this slow, and it is then not counted.
const INJECT_WAIT: Duration = Duration::from_secs(2);

/// A message for one session: deliver `injection` if it concerns you, and
/// say how many frames you sent.
pub struct InjectRequest {
    /// What to deliver.
    pub injection: Arc<Injection>,
    /// The frames delivered (the receiver count `PUBLISH` gives).
    pub done: oneshot::Sender<u64>,
}

/// How an injection reaches one session: through a channel or a wake-up
/// it already watches, so that steering adds nothing to the loop every
/// request goes through. False if the session is gone.
pub type Deliver = Box<dyn Fn(InjectRequest) -> bool + Send + Sync>;

struct Handle {
    stop: CancellationToken,
    deliver: Deliver,
}

/// The registry: connection id → its handle.
#[derive(Default)]
pub struct Registry {
    conns: Mutex<HashMap<u64, Handle>>,
    /// Connections handed over by a switch, not yet registered by their
    /// session in the new mode.
    arriving: Mutex<HashSet<u64>>,
    /// Wakes [`settled`](Registry::settled) when `arriving` shrinks.
    arrived: Notify,
}

impl Registry {
    fn conns(&self) -> MutexGuard<'_, HashMap<u64, Handle>> {
        // Nothing a panic elsewhere could leave half-done in a map insert.
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn arriving(&self) -> MutexGuard<'_, HashSet<u64>> {
        self.arriving.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Connection `id` was handed over and will register again.
    pub fn will_arrive(&self, id: u64) {
        self.arriving().insert(id);
    }

    /// Connection `id` will not register after all (it ended).
    pub fn will_not_arrive(&self, id: u64) {
        if self.arriving().remove(&id) {
            self.arrived.notify_waiters();
        }
    }

    /// Waits (at most `limit`) until every handed-over connection has
    /// registered in the new mode, so that what follows a switch (an
    /// injected message, a status) sees them.
    pub async fn settled(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let arrived = self.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if self.arriving().is_empty() {
                    return;
                }
                arrived.await;
            }
        })
        .await;
    }

    /// Registers connection `id`, which takes injections through
    /// `deliver`; returns its stop token, which fires with `parent` (the
    /// mode's own token) or on its own (a reset): finish what is in flight,
    /// then close (or hand over, during a switch).
    pub fn register(
        &self,
        id: u64,
        parent: &CancellationToken,
        deliver: Deliver,
    ) -> CancellationToken {
        let stop = parent.child_token();
        self.conns().insert(
            id,
            Handle {
                stop: stop.clone(),
                deliver,
            },
        );
        self.will_not_arrive(id);
        stop
    }

    /// Forgets connection `id` (its session ended or moves on).
    pub fn unregister(&self, id: u64) {
        self.conns().remove(&id);
    }

    /// Live connections.
    pub fn len(&self) -> usize {
        self.conns().len()
    }

    /// True when no connection is live.
    pub fn is_empty(&self) -> bool {
        self.conns().is_empty()
    }

    /// Tells every live connection to finish what is in flight and close;
    /// returns how many were told.
    pub fn stop_all(&self) -> usize {
        let conns = self.conns();
        for handle in conns.values() {
            handle.stop.cancel();
        }
        conns.len()
    }

    /// Delivers `injection` to every live connection it concerns; returns
    /// the number of frames delivered, as `PUBLISH` counts receivers.
    pub async fn inject(&self, injection: Injection) -> u64 {
        let injection = Arc::new(injection);
        let waiting: Vec<oneshot::Receiver<u64>> = {
            let conns = self.conns();
            conns
                .values()
                .filter_map(|handle| {
                    let (done, delivered) = oneshot::channel();
                    let request = InjectRequest {
                        injection: injection.clone(),
                        done,
                    };
                    (handle.deliver)(request).then_some(delivered)
                })
                .collect()
        };
        let deadline = tokio::time::Instant::now() + INJECT_WAIT;
        let mut total = 0;
        for delivered in waiting {
            if let Ok(Ok(n)) = tokio::time::timeout_at(deadline, delivered).await {
                total += n;
            }
        }
        total
    }
}
