//! The match key of a command, beyond its arguments as sent: where it is
//! sent (inside a transaction or not) and which of its arguments are a set.
//!
//! - **Transactions.** A command queued inside `MULTI` is answered
//!   `+QUEUED`, whatever it is; the same command outside a transaction gets
//!   its real reply. Every client library opens its connections alike, and
//!   every test suite sends `SET foo bar` hundreds of times, so a live
//!   connection bound to the wrong recording would get `+QUEUED` for a
//!   plain `GET`, or another transaction's `EXEC` array. So a queued
//!   command matches only recordings queued in a transaction (its database
//!   is marked with [`IN_TRANSACTION`]), and an `EXEC` matches only the
//!   recordings of `EXEC` whose transaction queued the same commands (its
//!   key lists them). Handshake calls are left out of that list: a
//!   successful one inside `MULTI` may not be recorded at all.
//! - **Set arguments.** `SADD s a b` and `SADD s b a` do the same and
//!   answer the same; a client that builds the members from a set of its
//!   own (Python's `set`, whose order changes with every process) sends
//!   them in another order each run. For the commands whose reply does not
//!   depend on the order of their variadic arguments, listed in
//!   [`SET_ARGUMENTS`] (and `CLIENT LIST ID`'s ids) since Redis's
//!   metadata does not say so, those arguments are sorted in the key.

use std::borrow::Cow;

use bytes::Bytes;

use crate::command::{self, Class};
use crate::pattern::{match_key_with, IgnoreRule};
use crate::resp::Value;

/// Marks the database of a command queued in a transaction (databases are
/// small numbers, so the top bit is free).
pub const IN_TRANSACTION: u32 = 1 << 31;

/// Commands whose variadic arguments (from the index given) form a set:
/// the reply is a count or a status that no order changes. Redis's
/// `COMMAND DOCS` types arguments (`multiple`) but not whether their order
/// matters, so they are named here.
pub const SET_ARGUMENTS: &[(&str, usize)] = &[
    ("SADD", 2),
    ("SREM", 2),
    ("PFADD", 2),
    ("HDEL", 2),
    ("ZREM", 2),
    ("DEL", 1),
    ("UNLINK", 1),
    ("EXISTS", 1),
    ("TOUCH", 1),
];

/// The match key of `args`: ignore rules applied, the name folded, set
/// arguments sorted.
pub fn key_of<'a>(args: &'a [Bytes], rules: &[IgnoreRule], class: Class) -> Cow<'a, [Bytes]> {
    let key = match_key_with(args, rules, class);
    let name = class.name();
    // A `match`, not a walk over the table: this runs for every command.
    let from = match name {
        "SADD" | "SREM" | "PFADD" | "HDEL" | "ZREM" => 2,
        "DEL" | "UNLINK" | "EXISTS" | "TOUCH" => 1,
        // `CLIENT LIST ID id…`: the ids are a set too.
        "CLIENT" if command::arg_is(args, 1, "LIST") && command::arg_is(args, 2, "ID") => 3,
        _ => return key,
    };
    debug_assert!(SET_ARGUMENTS.contains(&(name, from)) || name == "CLIENT");
    if key.len() <= from + 1 || key[from..].windows(2).all(|w| w[0] <= w[1]) {
        return key;
    }
    let mut sorted = key.into_owned();
    sorted[from..].sort_unstable();
    Cow::Owned(sorted)
}

/// Where a connection is in a transaction, followed on the recorded side
/// while indexing and on the live side as commands come.
#[derive(Debug, Default, Clone)]
pub struct Transaction {
    /// The keys of the commands queued since `MULTI`; `None` outside one.
    queued: Option<Vec<Vec<Bytes>>>,
}

/// What a command is, for following transactions.
enum Kind {
    Multi,
    Exec,
    Discard,
    Other,
}

fn kind(class: Class) -> Kind {
    match class.name() {
        "MULTI" => Kind::Multi,
        "EXEC" => Kind::Exec,
        "DISCARD" | "RESET" => Kind::Discard,
        _ => Kind::Other,
    }
}

impl Transaction {
    /// True inside `MULTI`.
    pub fn is_open(&self) -> bool {
        self.queued.is_some()
    }

    /// Whether [`follow`](Transaction::follow) has anything to do for a
    /// command: inside a transaction, or one that opens or closes one
    /// (the common case, a plain command outside, costs a name check).
    pub fn cares(&self, class: Class) -> bool {
        self.is_open() || !matches!(kind(class), Kind::Other)
    }

    /// The database and key a command is matched under, given the
    /// transaction as it stands before it: a queued command's database
    /// marked, `EXEC`'s key followed by its transaction's commands.
    pub fn key<'a>(&self, db: u32, key: Cow<'a, [Bytes]>, class: Class) -> (u32, Cow<'a, [Bytes]>) {
        match (kind(class), &self.queued) {
            (Kind::Exec, Some(queued)) => {
                let mut exec = key.into_owned();
                for q in queued {
                    exec.push(Bytes::from_static(b"\0"));
                    exec.extend(q.iter().cloned());
                }
                (db, Cow::Owned(exec))
            }
            (Kind::Other, Some(_)) => (db | IN_TRANSACTION, key),
            _ => (db, key),
        }
    }

    /// Follows a command once it is answered: `MULTI` answered `OK` opens
    /// a transaction, `EXEC`, `DISCARD` and `RESET` close it, and any other
    /// command inside one is queued under `key` (the recorded command's
    /// key when a recording answered it, so that `EXEC` finds the
    /// recording of its transaction).
    pub fn follow(&mut self, key: &[Bytes], class: Class, args: &[Bytes], reply: Option<&Value>) {
        match (kind(class), &mut self.queued) {
            (Kind::Multi, None) => {
                if matches!(reply, Some(Value::Simple(s)) if &s[..] == b"OK") {
                    self.queued = Some(Vec::new());
                }
            }
            (Kind::Exec | Kind::Discard, _) => self.queued = None,
            (Kind::Other, Some(queued)) if !command::is_handshake(args) => {
                queued.push(key.to_vec());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        command::args_of(words)
    }

    #[test]
    fn set_arguments_are_sorted_and_others_kept() {
        let key = |w: &[&str]| {
            let a = args(w);
            key_of(&a, &[], Class::of(&a)).into_owned()
        };
        assert_eq!(
            key(&["SADD", "s", "3", "1", "2"]),
            args(&["SADD", "s", "1", "2", "3"])
        );
        assert_eq!(
            key(&["sadd", "s", "b", "a"]),
            args(&["SADD", "s", "a", "b"])
        );
        assert_eq!(
            key(&["RPUSH", "l", "b", "a"]),
            args(&["RPUSH", "l", "b", "a"])
        );
        assert_eq!(key(&["DEL", "b", "a"]), args(&["DEL", "a", "b"]));
        assert_eq!(
            key(&["CLIENT", "LIST", "ID", "9", "7"]),
            args(&["CLIENT", "LIST", "ID", "7", "9"])
        );
    }

    #[test]
    fn queued_commands_and_exec_are_keyed_by_the_transaction() {
        let mut t = Transaction::default();
        let get = args(&["GET", "k"]);
        let class = Class::of(&get);
        assert_eq!(t.key(0, Cow::Borrowed(&get[..]), class).0, 0);
        let multi = args(&["MULTI"]);
        t.follow(
            &multi,
            Class::of(&multi),
            &multi,
            Some(&Value::simple("OK")),
        );
        assert_eq!(t.key(0, Cow::Borrowed(&get[..]), class).0, IN_TRANSACTION);
        t.follow(&get, class, &get, Some(&Value::simple("QUEUED")));
        let exec = args(&["EXEC"]);
        let (db, key) = t.key(0, Cow::Borrowed(&exec[..]), Class::of(&exec));
        assert_eq!(db, 0);
        assert_eq!(key.to_vec(), args(&["EXEC", "\0", "GET", "k"]));
        t.follow(&exec, Class::of(&exec), &exec, None);
        assert!(!t.is_open());
    }
}
