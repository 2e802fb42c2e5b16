//! Hand-written stubs: rules `pattern => reply` that replay consults
//! before the cassette, for what no real server produces easily (a
//! `-LOADING` twice then a value, an empty stream, a `-READONLY`). See
//! `docs/stubs.md`.
//!
//! - `shown`: replies written as `resplay show` prints them, read back.
//! - `rule`: one rule, its pattern (with `{name}` captures), replies and
//!   options (`times`, `nth`, `delay`, `db`).
//!
//! The set is shared by every mode of a steered server and changed while
//! it runs (`POST /stubs`); a server with none pays one relaxed load per
//! command for it.

mod rule;
mod shown;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::resp::Value;
use rule::Stub;
pub use rule::StubSpec;
pub use shown::parse_shown;

/// The stubs of a server, in the order they were added: the first that
/// answers a call wins.
#[derive(Debug, Default)]
pub struct Stubs {
    rules: Mutex<Vec<(u64, Stub)>>,
    next_id: AtomicU64,
    /// Whether there is any rule: what a call checks first.
    any: AtomicBool,
}

/// A stub as `GET /stubs` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// Its id, for `DELETE /stubs/{id}`.
    pub id: u64,
    /// The rule as given.
    #[serde(flatten)]
    pub spec: StubSpec,
    /// Calls that fitted it.
    pub seen: u64,
    /// Calls it answered.
    pub answered: u64,
}

/// A stub file: `[[stub]]` tables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StubFile {
    #[serde(default)]
    stub: Vec<StubSpec>,
}

/// What a stub answers a call with.
#[derive(Debug, Clone)]
pub struct Stubbed {
    /// The reply (written in the connection's protocol).
    pub reply: Value,
    /// How long to wait first.
    pub delay: Duration,
}

impl Stubs {
    fn rules(&self) -> MutexGuard<'_, Vec<(u64, Stub)>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads a stub file (TOML, `[[stub]]` tables) into this set.
    pub fn load(&self, path: &Path) -> Result<usize, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read stubs {}: {e}", path.display()))?;
        let file: StubFile =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        let n = file.stub.len();
        let stubs: Vec<Stub> = file
            .stub
            .into_iter()
            .map(Stub::new)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for stub in stubs {
            self.push(stub);
        }
        Ok(n)
    }

    /// Adds a rule; returns its id.
    pub fn add(&self, spec: StubSpec) -> Result<u64, String> {
        let stub = Stub::new(spec)?;
        Ok(self.push(stub))
    }

    fn push(&self, stub: Stub) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.rules().push((id, stub));
        self.any.store(true, Ordering::Release);
        id
    }

    /// Removes one rule; false when there is none with that id.
    pub fn remove(&self, id: u64) -> bool {
        let mut rules = self.rules();
        let before = rules.len();
        rules.retain(|(i, _)| *i != id);
        self.any.store(!rules.is_empty(), Ordering::Release);
        rules.len() != before
    }

    /// Removes every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut rules = self.rules();
        self.any.store(false, Ordering::Release);
        std::mem::take(&mut *rules).len()
    }

    /// The rules with their counts.
    pub fn list(&self) -> Vec<Listed> {
        self.rules()
            .iter()
            .map(|(id, s)| Listed {
                id: *id,
                spec: s.spec.clone(),
                seen: s.seen,
                answered: s.answered,
            })
            .collect()
    }

    /// True when there is no rule.
    pub fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    /// The answer of the first rule that answers this call, in database
    /// `db`; `None` sends it on to the cassette.
    #[inline]
    pub fn check(&self, args: &[Bytes], db: u32) -> Option<Stubbed> {
        if self.is_empty() {
            return None;
        }
        self.rules().iter_mut().find_map(|(_, stub)| {
            let reply = stub.answer(args, db)?;
            Some(Stubbed {
                reply,
                delay: stub.delay,
            })
        })
    }
}

#[cfg(test)]
mod tests;
