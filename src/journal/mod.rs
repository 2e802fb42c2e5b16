//! The call journal: the commands a steered server received, per
//! connection, with what each was answered, for tests to assert on ("the
//! cache was written once, with a TTL") through `GET /journal`.
//!
//! It is kept in every mode (record, replay, passthrough) when asked for,
//! and bounded: at most `max` calls in all (`--journal-max`, `journal_max`;
//! 0, the default, keeps none and costs nothing), the oldest dropped first
//! and counted. Replay is benchmarked against redis-server, so the
//! producer side is built to cost little (it measured ~700 instructions
//! per request at pipeline 1, a tenth of replay's; hence off by default):
//!
//! - a connection notes its calls in its own [`Scribe`], which copies the
//!   request's and the reply's bytes (as the client sent and got them)
//!   into a block of its own: no lock, and one allocation per block of
//!   calls, not per call;
//! - the scribe publishes what it noted once per batch of pipelined
//!   commands, before their replies are written to the socket (so a test
//!   that saw a reply finds its call): one short hold of the journal's
//!   lock per batch, that only moves the calls in and stamps their ids;
//! - nothing is decoded or formatted until someone asks (the `query` module).
//!
//! A call's request or reply too large to keep whole is kept cut: each
//! argument to its first bytes ([`KEPT_ARG`]), the reply as displayed.

mod query;
mod scribe;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

pub use query::{Call, Calls, Query, QueryError};
pub use scribe::Scribe;

/// How many entries the ring reserves room for up front, at most (a cap of
/// millions grows as calls come).
pub const RESERVED: usize = 10_000;

/// A request or reply up to this many bytes is kept as sent; a longer one
/// is kept cut (arguments) or displayed (replies).
pub const KEPT_BYTES: usize = 4096;

/// What a cut request keeps of each argument, in bytes.
pub const KEPT_ARG: usize = 512;

/// The calls a steered server received. Cheap to clone: every clone is the
/// same journal.
#[derive(Clone)]
pub struct Journal(Arc<Inner>);

struct Inner {
    max: usize,
    ring: Mutex<Ring>,
}

/// The calls kept, oldest first.
#[derive(Default)]
struct Ring {
    entries: VecDeque<Entry>,
    /// The id the next call gets; ids start at 1.
    next_id: u64,
    /// Calls dropped for the cap since the last clear.
    dropped: u64,
}

/// One call as kept: bytes, not yet decoded.
#[derive(Clone)]
struct Entry {
    id: u64,
    conn: u64,
    db: u32,
    /// Milliseconds since the Unix epoch, when its batch was published.
    at_ms: u64,
    /// The request (RESP or inline), cut when it was large.
    request: Bytes,
    /// The request was cut to [`KEPT_ARG`] bytes an argument.
    cut: bool,
    reply: Reply,
}

/// A call's reply as kept.
#[derive(Clone)]
enum Reply {
    /// The frames the client got, in its protocol (none: no reply, as
    /// under `CLIENT REPLY OFF`).
    Wire(Bytes),
    /// Too large to keep: displayed when noted.
    Shown(Arc<str>),
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("max", &self.0.max)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal that keeps at most `max` calls; `0` keeps none (and its
    /// connections note nothing).
    pub fn new(max: usize) -> Journal {
        Journal(Arc::new(Inner {
            max,
            ring: Mutex::new(Ring {
                entries: VecDeque::with_capacity(max.min(RESERVED)),
                next_id: 1,
                dropped: 0,
            }),
        }))
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.0.max
    }

    /// A connection's scribe; `None` when the journal keeps nothing.
    pub fn scribe(&self, conn: u64) -> Option<Scribe> {
        (self.0.max > 0).then(|| Scribe::new(self.clone(), conn))
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // Only ever changed whole (a push, a pop, a clear): a panic
        // elsewhere cannot leave it torn.
        self.0.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every call; returns how many there were and the last id
    /// given so far (the next call's id is greater).
    pub fn clear(&self) -> (usize, u64) {
        let old = {
            let mut ring = self.ring();
            ring.dropped = 0;
            (std::mem::take(&mut ring.entries), ring.next_id - 1)
        };
        (old.0.len(), old.1)
    }

    /// Calls kept now, and the last id given.
    pub fn len(&self) -> (usize, u64) {
        let ring = self.ring();
        (ring.entries.len(), ring.next_id - 1)
    }

    /// True when no call is kept.
    pub fn is_empty(&self) -> bool {
        self.len().0 == 0
    }

    /// Moves a scribe's batch in, stamping ids; drops the oldest beyond
    /// the cap. `entries` come with id 0.
    fn publish(&self, entries: &mut Vec<Entry>) {
        let mut ring = self.ring();
        let max = self.0.max;
        for mut entry in entries.drain(..) {
            entry.id = ring.next_id;
            ring.next_id += 1;
            if ring.entries.len() >= max {
                ring.entries.pop_front();
                ring.dropped += 1;
            }
            ring.entries.push_back(entry);
        }
    }

    /// The calls `query` asks for, decoded and displayed.
    pub fn query(&self, query: &Query) -> Calls {
        // Copied out under the lock (reference counts, no bytes), decoded
        // outside it: a large answer never holds connections up.
        let (entries, dropped, last) = {
            let ring = self.ring();
            let from = ring.entries.partition_point(|e| e.id <= query.since);
            let entries: Vec<Entry> = ring.entries.range(from..).cloned().collect();
            (entries, ring.dropped, ring.next_id - 1)
        };
        query::answer(query, entries, dropped, last, self.0.max)
    }
}

/// Now, in milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
