//! A client that left with requests still in flight. Apart from the relay
//! because it decides how long a recorder goes on waiting for an upstream
//! that may never answer: not at all when the oldest request is one Redis
//! would hold back for another client (its upstream connection is closed
//! at once, as Redis frees such a client), else until the drain grace
//! runs out. Either way what is unanswered is recorded, in order.

use std::time::Instant;

use super::emit::emit;
use super::{RepliesEnd, Session};
use crate::pairing::{Paired, Pairing};

/// Whether the oldest request waiting is one the server may hold back until
/// another client acts: a blocking command (`BLPOP`, `WAIT`, `XREAD …
/// BLOCK`, …; not when queued in `MULTI`), or `SYNC`/`PSYNC`. Redis frees
/// a blocked client that leaves at once; a recorder still waiting for its
/// reply would leave it blocked upstream, to take the next job pushed to
/// its queue (or, a replica, to count for `WAIT`).
pub(super) fn held_back(pairing: &Pairing) -> bool {
    pairing.front().is_some_and(|front| {
        !front.silent
            && !pairing.in_multi()
            && (front.class.is_blocking(&front.args) || front.class.starts_replication())
    })
}

/// Stops waiting: every request still in flight is written as an
/// interaction with no reply (or the replies it got), in order, before the
/// close; the caller then drops the upstream connection.
pub(super) async fn abandon_pending(session: &Session, paired: &mut Vec<Paired>) -> RepliesEnd {
    session.state().pairing.abandon(paired);
    emit(session, paired, Instant::now()).await;
    RepliesEnd::Failed
}
