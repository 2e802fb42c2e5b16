//! What resplay knows about Redis commands, in one place: the command
//! table generated from the servers' own `COMMAND INFO` and `COMMAND DOCS`
//! ([`table`], by `scripts/command-table.sh`), and the questions the rest
//! of resplay asks of it. No other module keeps a list of blocking,
//! pub/sub, handshake, time-carrying or secret-carrying commands: they ask
//! here.
//!
//! - [`spec`]: the shape of a table entry.
//! - [`table`]: the generated table (do not edit).
//! - [`class`]: one request classified once, the view passed along.
//! - [`locate`]: where an argument the table describes sits in a request.
//! - [`secret`]: keyed placeholders for passwords (and redacted data).
//!
//! A command the table does not know (a module's, a newer server's) gets
//! safe defaults: not blocking, no pub/sub, no time or secret arguments,
//! not a handshake call, one reply per request; it is relayed and matched
//! argument for argument like any other.

pub mod class;
pub mod locate;
pub mod secret;
pub mod spec;
#[rustfmt::skip]
pub mod table;

use bytes::Bytes;

use crate::resp::Value;
pub use class::Class;
pub use spec::{Flags, Resplay, Spec, Subscribe};

/// What a password argument is stored as: secrets never reach the disk.
pub use crate::cassette::REDACTED;

/// A command name, uppercased, on the stack: it is looked at several times
/// per request on the proxy's hot path, so it must not allocate.
#[derive(Clone, Copy)]
pub struct Name {
    bytes: [u8; Name::MAX],
    len: usize,
}

impl Name {
    /// Longer names are in no server's command table.
    pub const MAX: usize = 24;

    /// `word` uppercased (empty when it is too long or not ASCII).
    pub fn of(word: &[u8]) -> Name {
        let mut name = Name {
            bytes: [0; Name::MAX],
            len: 0,
        };
        if word.len() <= Name::MAX && word.is_ascii() {
            name.bytes[..word.len()].copy_from_slice(word);
            name.bytes[..word.len()].make_ascii_uppercase();
            name.len = word.len();
        }
        name
    }

    /// The name's bytes (empty when it was too long or not ASCII); match
    /// on these (`b"GET"`) on hot paths, as no UTF-8 check is needed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The name as text (empty when it was too long or not ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The fields of Redis's own `HELLO` reply: what replay makes up when a
/// `HELLO` was not recorded.
pub const HELLO_FIELDS: [&str; 7] = [
    "server", "version", "proto", "id", "mode", "role", "modules",
];

/// What Redis answers the `EXEC` of a transaction in which it refused a
/// command.
pub const EXECABORT: &[u8] = b"-EXECABORT Transaction discarded because of previous errors.\r\n";

/// The command name, uppercased (`get` → `GET`).
pub fn name(args: &[Bytes]) -> Name {
    args.first().map_or(Name::of(b""), |first| Name::of(first))
}

/// True when argument `i` equals `word`, ignoring ASCII case.
pub fn arg_is(args: &[Bytes], i: usize, word: &str) -> bool {
    args.get(i)
        .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

/// The table's entry for a command name (any case), if it knows it.
pub fn lookup_name(name: &[u8]) -> Option<&'static Spec> {
    table::index(name).map(|i| &table::COMMANDS[i])
}

/// The most specific entry for a request: a container command's
/// subcommand (`CLIENT SETNAME`), else the command; `None` for a command
/// the table does not know (see the module's safe defaults).
pub fn lookup(args: &[Bytes]) -> Option<&'static Spec> {
    Class::of(args).spec()
}

/// See [`Class::is_blocking`]; for callers without a [`Class`] at hand.
pub fn is_blocking(args: &[Bytes]) -> bool {
    Class::of(args).is_blocking(args)
}

/// Replaces the arguments the table calls passwords with [`REDACTED`]:
/// `AUTH [user] pass`, `HELLO … AUTH user pass`, and `MIGRATE … AUTH pass
/// | AUTH2 user pass`.
pub fn redact(args: &mut [Bytes]) {
    redact_with(args, None);
}

/// [`redact`] with keyed placeholders (`<redacted:HEX8>`) when `key` is
/// given, so that different passwords stay different.
pub fn redact_with(args: &mut [Bytes], key: Option<&secret::SecretKey>) {
    for i in secret_indexes(args) {
        args[i] = match key {
            Some(key) => key.placeholder(&args[i]),
            None => Bytes::from_static(REDACTED.as_bytes()),
        };
    }
}

/// Where the arguments the table calls passwords sit in `args`.
pub fn secret_indexes(args: &[Bytes]) -> Vec<usize> {
    let mut found = Vec::new();
    if let Some(spec) = lookup(args) {
        for &at in spec.secret_args {
            locate::each(spec, args, at, |i| found.push(i));
        }
    }
    found
}

/// Handshake calls that replay answers by itself when they have no
/// recording (DESIGN.md, matching rule 4).
pub fn is_handshake(args: &[Bytes]) -> bool {
    Class::of(args).is_handshake()
}

/// The three pub/sub namespaces, each with its own subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// `SUBSCRIBE` / `UNSUBSCRIBE`
    Channel,
    /// `PSUBSCRIBE` / `PUNSUBSCRIBE`
    Pattern,
    /// `SSUBSCRIBE` / `SUNSUBSCRIBE`
    Shard,
}

/// A subscribe-family command: its namespace and whether it subscribes.
pub fn subscription(args: &[Bytes]) -> Option<(Namespace, bool)> {
    Class::of(args).subscription()
}

/// The kind word of a pub/sub frame (`message`, `subscribe`, `invalidate`…),
/// lowercased: the first element of a push, or of an array in RESP2.
pub fn pubsub_kind(value: &Value) -> Option<String> {
    let first = value.elements()?.first()?.as_bytes()?;
    Some(String::from_utf8_lossy(first).to_ascii_lowercase())
}

/// The namespace a subscribe confirmation belongs to, with its direction.
pub fn confirmation(kind: &str) -> Option<(Namespace, bool)> {
    Some(match kind {
        "subscribe" => (Namespace::Channel, true),
        "unsubscribe" => (Namespace::Channel, false),
        "psubscribe" => (Namespace::Pattern, true),
        "punsubscribe" => (Namespace::Pattern, false),
        "ssubscribe" => (Namespace::Shard, true),
        "sunsubscribe" => (Namespace::Shard, false),
        _ => return None,
    })
}

/// Data pushed to a subscriber that answers no request.
pub fn is_message_kind(kind: &str) -> bool {
    matches!(kind, "message" | "pmessage" | "smessage")
}

/// The protocol version a `HELLO` asks for, if it names one.
pub fn hello_version(args: &[Bytes]) -> Option<&[u8]> {
    if name(args) == "HELLO" {
        args.get(1).map(|v| &v[..])
    } else {
        None
    }
}

/// `CLIENT TRACKING on|off …`: whether it turns tracking on.
pub fn tracking_switch(args: &[Bytes]) -> Option<bool> {
    if !arg_is(args, 1, "TRACKING") {
        return None;
    }
    let switch = args.get(2)?;
    if switch.eq_ignore_ascii_case(b"on") {
        Some(true)
    } else if switch.eq_ignore_ascii_case(b"off") {
        Some(false)
    } else {
        None
    }
}

/// `SYNC` or `PSYNC`: once the server accepts one, the connection carries
/// the replication stream (see `record::replication`).
pub fn starts_replication(args: &[Bytes]) -> bool {
    Class::of(args).starts_replication()
}

/// `CLIENT REPLY ON|OFF|SKIP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Every command is answered.
    On,
    /// Nothing is answered until `CLIENT REPLY ON`.
    Off,
    /// The next command is not answered.
    Skip,
}

/// The reply mode a `CLIENT REPLY` command sets.
pub fn client_reply(args: &[Bytes]) -> Option<ReplyMode> {
    if !(args.len() == 3 && arg_is(args, 0, "CLIENT") && arg_is(args, 1, "REPLY")) {
        return None;
    }
    [
        ("ON", ReplyMode::On),
        ("OFF", ReplyMode::Off),
        ("SKIP", ReplyMode::Skip),
    ]
    .into_iter()
    .find(|(word, _)| arg_is(args, 2, word))
    .map(|(_, mode)| mode)
}

/// A command's arguments from words, for tests across the crate.
#[cfg(test)]
pub(crate) fn args_of(words: &[&str]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(words: &[&str]) -> Vec<Bytes> {
        let mut a = args_of(words);
        redact(&mut a);
        a
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(redacted(&["auth", "pw"]), args_of(&["auth", REDACTED]));
        assert_eq!(
            redacted(&["AUTH", "u", "pw"]),
            args_of(&["AUTH", "u", REDACTED])
        );
        assert_eq!(
            redacted(&["HELLO", "3", "AUTH", "u", "pw", "SETNAME", "x"]),
            args_of(&["HELLO", "3", "AUTH", "u", REDACTED, "SETNAME", "x"])
        );
        assert_eq!(
            redacted(&["MIGRATE", "h", "1", "k", "0", "5", "AUTH2", "u", "pw"]),
            args_of(&["MIGRATE", "h", "1", "k", "0", "5", "AUTH2", "u", REDACTED])
        );
        assert_eq!(redacted(&["GET", "AUTH"]), args_of(&["GET", "AUTH"]));
        assert_eq!(redacted(&["AUTH"]), args_of(&["AUTH"]));
    }

    #[test]
    fn trivial_and_modes() {
        let trivial = |words: &[&str]| Class::of(&args_of(words)).is_trivial();
        assert!(trivial(&["ping"]));
        assert!(trivial(&["client", "setname", "x"]));
        assert!(!trivial(&["client", "list"]));
        assert_eq!(
            client_reply(&args_of(&["client", "reply", "off"])),
            Some(ReplyMode::Off)
        );
        assert_eq!(
            subscription(&args_of(&["psubscribe", "a*"])),
            Some((Namespace::Pattern, true))
        );
    }
}
