//! Fault injection: make the Redis behind resplay misbehave, per command,
//! so a test can exercise its client's retries and timeouts.
//!
//! A [`FaultRule`] pairs a command pattern (the `--ignore` syntax) with an
//! [`Action`]: a delay, an error line (`-LOADING …`, `-READONLY …`), a
//! dropped connection, no answer at all, or half a reply. [`Faults`] is
//! the rule set one server shares between its connections; the sessions
//! ask it about every command ([`Faults::check`]) and apply what it says
//! (see `record::session` and `replay::session`). Nothing a fault does is
//! written to the cassette.
//!
//! Rules are tried in order. A rule whose pattern matches counts the command
//! as seen; it lets the first `after` of them through, then fires with its
//! probability, at most `count` times. The first rule that fires wins. The
//! dice come from one RNG seeded at start, so a seed replays the same run.

mod rule;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

pub use rule::{Action, FaultRule, FaultRuleError, FaultTable};

/// What both modes answer after an injected error inside `MULTI`.
pub use crate::command::EXECABORT;

/// What a session does to one command, decided by [`Faults::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Deliver the reply this much later (jitter already applied).
    Latency(Duration),
    /// Do not run the command; answer this exact line (`-…\r\n`).
    Error(Bytes),
    /// Close the client connection when the command's turn comes.
    Drop,
    /// Never answer it, nor anything after it on the connection.
    Hang,
    /// Run it, send the client half the reply, then close.
    Partial,
}

/// One rule of a [`Faults`] set, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultInfo {
    /// Its id, for [`Faults::remove`].
    pub id: u64,
    /// The rule's canonical text.
    pub rule: String,
    /// Commands its pattern matched.
    pub seen: u64,
    /// Times it fired.
    pub fired: u64,
}

struct Entry {
    id: u64,
    rule: FaultRule,
    seen: u64,
    fired: u64,
}

struct Inner {
    entries: Vec<Entry>,
    next_id: u64,
    rng: fastrand::Rng,
}

/// The shared, changeable fault rules of one server.
pub struct Faults {
    /// True while any rule is set: the only thing a command pays for when
    /// there is none (no lock, no matching).
    active: AtomicBool,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.list().iter().map(|i| &i.rule))
            .finish()
    }
}

impl Default for Faults {
    /// No rules, seed 0.
    fn default() -> Self {
        Faults::new(0)
    }
}

impl Faults {
    /// No rules yet; `seed` decides every probability roll and jitter.
    pub fn new(seed: u64) -> Faults {
        Faults {
            active: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                entries: Vec::new(),
                next_id: 1,
                rng: fastrand::Rng::with_seed(seed),
            }),
        }
    }

    /// A set holding `rules`, in order.
    pub fn with_rules(seed: u64, rules: impl IntoIterator<Item = FaultRule>) -> Faults {
        let faults = Faults::new(seed);
        for rule in rules {
            faults.add(rule);
        }
        faults
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic elsewhere; the rules are still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a rule after the others; returns its id.
    pub fn add(&self, rule: FaultRule) -> u64 {
        let mut inner = self.inner();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push(Entry {
            id,
            rule,
            seen: 0,
            fired: 0,
        });
        self.active.store(true, Ordering::Release);
        id
    }

    /// Removes the rule `id`; false if there is none.
    pub fn remove(&self, id: u64) -> bool {
        let mut inner = self.inner();
        let before = inner.entries.len();
        inner.entries.retain(|e| e.id != id);
        self.active
            .store(!inner.entries.is_empty(), Ordering::Release);
        inner.entries.len() != before
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut inner = self.inner();
        inner.entries.clear();
        self.active.store(false, Ordering::Release);
    }

    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        !self.active.load(Ordering::Acquire)
    }

    /// The rules in order, with what they have done so far.
    pub fn list(&self) -> Vec<FaultInfo> {
        self.inner()
            .entries
            .iter()
            .map(|e| FaultInfo {
                id: e.id,
                rule: e.rule.to_string(),
                seen: e.seen,
                fired: e.fired,
            })
            .collect()
    }

    /// What to do to this command (name first), if anything. Costs one
    /// atomic load when there are no rules.
    #[inline]
    pub fn check(&self, args: &[Bytes]) -> Option<FaultAction> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        self.check_rules(args)
    }

    #[cold]
    fn check_rules(&self, args: &[Bytes]) -> Option<FaultAction> {
        let mut guard = self.inner();
        let Inner { entries, rng, .. } = &mut *guard;
        for entry in entries.iter_mut() {
            if !entry.rule.matches(args) {
                continue;
            }
            entry.seen += 1;
            if entry.seen <= entry.rule.after {
                continue;
            }
            if entry.rule.count.is_some_and(|n| entry.fired >= n) {
                continue;
            }
            let p = entry.rule.probability;
            if p < 1.0 && rng.f64() >= p {
                continue;
            }
            entry.fired += 1;
            return Some(match &entry.rule.action {
                Action::Latency { delay, jitter } => Action::jittered(*delay, *jitter, rng),
                Action::Error(text) => FaultAction::Error(error_line(text)),
                Action::Drop => FaultAction::Drop,
                Action::Hang => FaultAction::Hang,
                Action::Partial => FaultAction::Partial,
            });
        }
        None
    }
}

impl Action {
    /// `delay` moved by a uniform draw in [-jitter, +jitter], never below 0.
    fn jittered(delay: Duration, jitter: Duration, rng: &mut fastrand::Rng) -> FaultAction {
        if jitter.is_zero() {
            return FaultAction::Latency(delay);
        }
        let span = jitter.as_nanos().min(u64::MAX as u128 / 2) as u64;
        let offset = rng.u64(0..=span * 2) as i128 - span as i128;
        let nanos = (delay.as_nanos() as i128 + offset).max(0);
        FaultAction::Latency(Duration::from_nanos(nanos.min(u64::MAX as i128) as u64))
    }
}

/// `-TEXT\r\n`.
fn error_line(text: &str) -> Bytes {
    let mut line = BytesMut::with_capacity(text.len() + 3);
    line.put_u8(b'-');
    line.put_slice(text.as_bytes());
    line.put_slice(b"\r\n");
    line.freeze()
}

#[cfg(test)]
mod tests;
