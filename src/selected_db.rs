//! Which database a connection's commands run in.
//!
//! A recorded `GET x` in db 1 and one in db 2 are different interactions:
//! the database is part of what a command means. Record and replay follow a
//! connection's database with this one state machine, fed every answered
//! command in order, so the `db` written to the cassette and the `db` replay
//! matches in agree by construction.
//!
//! The database changes through `SELECT` (at once, or at `EXEC` when it was
//! queued inside `MULTI` and its own result is not an error) and `RESET`
//! (back to 0, as Redis does). `SWAPDB` swaps the data of two databases but
//! leaves a connection's index alone, and a `SELECT` inside a Lua script
//! only affects the script (Redis ≥ 2.8.12), so neither changes it here.
//! The URL's `/db` is where the recorder's upstream connections start: the
//! cassette header keeps it, and replay starts its connections there.

use bytes::Bytes;

use crate::command;
use crate::resp::parse_i64;

/// A connection's selected database, and its open transaction.
#[derive(Debug, Clone, Default)]
pub struct SelectedDb {
    /// The database the next command runs in.
    db: u32,
    /// Inside `MULTI`: for each queued command, the database it selects if
    /// it is a `SELECT` (applied at `EXEC` if it succeeds).
    queued: Option<Vec<Option<u32>>>,
}

/// What the reply to a command says, as far as the database goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The command succeeded (or was queued, inside `MULTI`).
    Ok,
    /// It failed: nothing changes (an error while queueing also dooms the
    /// transaction, whose `EXEC` then fails).
    Error,
    /// The command got no reply (`CLIENT REPLY OFF`): assume it ran.
    Silent,
}

impl SelectedDb {
    /// A connection that starts in `db`.
    pub fn new(db: u32) -> SelectedDb {
        SelectedDb { db, queued: None }
    }

    /// The database the next command runs in.
    pub fn db(&self) -> u32 {
        self.db
    }

    /// True between a successful `MULTI` and its `EXEC`/`DISCARD`.
    pub fn in_multi(&self) -> bool {
        self.queued.is_some()
    }

    /// Follows one answered command. `exec_results` is asked, only for an
    /// `EXEC` whose transaction queued a `SELECT`, for the error flag of each
    /// of its results (`None` when `EXEC` returned no array: a `WATCH`ed key
    /// changed).
    pub fn observe(
        &mut self,
        args: &[Bytes],
        outcome: Outcome,
        exec_results: impl FnOnce() -> Option<Vec<bool>>,
    ) {
        // Outside a transaction only the arms below for `RESET`, `MULTI`
        // and (in the last one) `SELECT` change anything: every answered
        // command comes through here, so the others leave before the
        // command is named.
        let changes_db = |n: &Bytes| {
            [&b"SELECT"[..], b"MULTI", b"RESET"]
                .iter()
                .any(|w| n.eq_ignore_ascii_case(w))
        };
        if self.queued.is_none() && !args.first().is_some_and(changes_db) {
            return;
        }
        let name = command::name(args);
        let failed = outcome == Outcome::Error;
        match name.as_bytes() {
            b"RESET" if !failed => *self = SelectedDb::new(0),
            b"MULTI" if !failed && self.queued.is_none() => self.queued = Some(Vec::new()),
            b"DISCARD" if self.queued.is_some() => self.queued = None,
            b"EXEC" if self.queued.is_some() => {
                let Some(queued) = self.queued.take() else {
                    return;
                };
                if failed || queued.iter().all(Option::is_none) {
                    return;
                }
                let Some(errors) = exec_results() else {
                    return;
                };
                for (target, error) in queued.iter().zip(errors) {
                    if let (Some(db), false) = (target, error) {
                        self.db = *db;
                    }
                }
            }
            other if !is_queued_name(other) => {}
            _ => {
                let target = if name.as_bytes() == b"SELECT" {
                    select_target(args)
                } else {
                    None
                };
                match &mut self.queued {
                    Some(queued) if !failed => queued.push(target),
                    Some(_) => {}
                    None if !failed => {
                        if let Some(db) = target {
                            self.db = db;
                        }
                    }
                    None => {}
                }
            }
        }
    }
}

/// False for the commands Redis runs at once (or refuses) inside `MULTI`
/// instead of queueing them.
pub fn is_queued_in_multi(args: &[Bytes]) -> bool {
    is_queued_name(command::name(args).as_bytes())
}

/// [`is_queued_in_multi`] of an uppercased command name.
fn is_queued_name(name: &[u8]) -> bool {
    !matches!(
        name,
        b"EXEC" | b"DISCARD" | b"MULTI" | b"WATCH" | b"QUIT" | b"RESET"
    )
}

/// The database `SELECT n` asks for, when `n` is one.
fn select_target(args: &[Bytes]) -> Option<u32> {
    if args.len() != 2 {
        return None;
    }
    parse_i64(&args[1]).and_then(|n| u32::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::args_of;

    fn run(state: &mut SelectedDb, words: &str, outcome: Outcome) {
        state.observe(
            &args_of(&words.split(' ').collect::<Vec<_>>()),
            outcome,
            || None,
        );
    }

    #[test]
    fn select_and_reset() {
        let mut s = SelectedDb::new(3);
        assert_eq!(s.db(), 3);
        run(&mut s, "SELECT 2", Outcome::Ok);
        assert_eq!(s.db(), 2);
        run(&mut s, "SELECT 99", Outcome::Error);
        assert_eq!(s.db(), 2);
        run(&mut s, "select 5", Outcome::Silent);
        assert_eq!(s.db(), 5);
        run(&mut s, "SWAPDB 5 1", Outcome::Ok);
        assert_eq!(s.db(), 5);
        run(&mut s, "RESET", Outcome::Ok);
        assert_eq!(s.db(), 0);
    }

    #[test]
    fn select_inside_multi_applies_at_exec() {
        let mut s = SelectedDb::new(0);
        run(&mut s, "MULTI", Outcome::Ok);
        assert!(s.in_multi());
        run(&mut s, "SET a 1", Outcome::Ok);
        run(&mut s, "SELECT 4", Outcome::Ok);
        assert_eq!(s.db(), 0, "queued, not run");
        let exec = args_of(&["EXEC"]);
        s.observe(&exec, Outcome::Ok, || Some(vec![false, false]));
        assert_eq!((s.db(), s.in_multi()), (4, false));

        // A SELECT that fails inside EXEC changes nothing.
        run(&mut s, "MULTI", Outcome::Ok);
        run(&mut s, "SELECT 70000", Outcome::Ok);
        s.observe(&exec, Outcome::Ok, || Some(vec![true]));
        assert_eq!(s.db(), 4);

        // DISCARD, and an EXEC that WATCH aborted, drop the queue.
        run(&mut s, "MULTI", Outcome::Ok);
        run(&mut s, "SELECT 1", Outcome::Ok);
        run(&mut s, "DISCARD", Outcome::Ok);
        assert_eq!((s.db(), s.in_multi()), (4, false));
        run(&mut s, "MULTI", Outcome::Ok);
        run(&mut s, "SELECT 1", Outcome::Ok);
        s.observe(&exec, Outcome::Ok, || None);
        assert_eq!((s.db(), s.in_multi()), (4, false));
        run(&mut s, "MULTI", Outcome::Ok);
        run(&mut s, "SELECT 1", Outcome::Ok);
        run(&mut s, "EXEC", Outcome::Error);
        assert_eq!((s.db(), s.in_multi()), (4, false));
    }
}
