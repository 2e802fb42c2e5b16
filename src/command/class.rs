//! A request classified once against the command table: the one view of
//! "what is this command" that a session takes per request and passes
//! along, so that the parts asking (pairing, matching, handshake replies,
//! wall-clock shifting, redaction) do not each look its name up again.

use bytes::Bytes;

use super::spec::{Flags, ReplyTime, Resplay, Spec, Subscribe};
use super::{arg_is, lookup_name, Namespace};
use crate::resp::NullShape;

/// What the table says about one request; `Class::default()` is a command
/// the table does not know, with the safe defaults of [`super`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Class {
    /// The command's own entry (`CLIENT` for `CLIENT SETNAME`).
    command: Option<&'static Spec>,
    /// The most specific entry: a container command's subcommand (`CLIENT
    /// SETNAME`), else the command.
    spec: Option<&'static Spec>,
}

impl Class {
    /// Classifies `args` (one table lookup, no copy of the name).
    pub fn of(args: &[Bytes]) -> Class {
        let Some(command) = args.first().and_then(|name| lookup_name(name)) else {
            return Class::default();
        };
        let spec = if command.subcommands.is_empty() {
            command
        } else {
            args.get(1)
                .and_then(|w| command.subcommand(w))
                .unwrap_or(command)
        };
        Class {
            command: Some(command),
            spec: Some(spec),
        }
    }

    /// The command's name, uppercase (`CLIENT` for `CLIENT SETNAME`); empty
    /// for a command the table does not know.
    pub fn name(self) -> &'static str {
        self.command.map_or("", |c| c.name)
    }

    /// The table's entry, if it knows the command.
    pub fn spec(self) -> Option<&'static Spec> {
        self.spec
    }

    /// True for a container command, whose subcommand Redis reads in any
    /// case (and so does matching).
    pub fn is_container(self) -> bool {
        self.command.is_some_and(|c| !c.subcommands.is_empty())
    }

    fn is(self, fact: Resplay) -> bool {
        self.spec.is_some_and(|s| s.is(fact))
    }

    /// True when the request may block its connection: a command Redis
    /// flags `blocking` (`BLPOP`, `WAIT`…), or one blocking only with its
    /// token given (`XREAD … BLOCK ms`).
    pub fn is_blocking(self, args: &[Bytes]) -> bool {
        let Some(spec) = self.spec.filter(|s| s.has(Flags::BLOCKING)) else {
            return false;
        };
        match spec.block_token {
            None => true,
            Some(token) => (1..args.len()).any(|i| arg_is(args, i, token)),
        }
    }

    /// True when the request has password arguments to redact.
    pub fn has_secret(self) -> bool {
        self.spec.is_some_and(|s| !s.secret_args.is_empty())
    }

    /// A handshake call replay answers by itself when unrecorded.
    pub fn is_handshake(self) -> bool {
        self.is(Resplay::HANDSHAKE)
    }

    /// A handshake call a recording may leave out (`ignore_trivial_calls`).
    pub fn is_trivial(self) -> bool {
        self.is(Resplay::TRIVIAL)
    }

    /// `SYNC` or `PSYNC`: once accepted, the connection carries the
    /// replication stream.
    pub fn starts_replication(self) -> bool {
        self.is(Resplay::REPLICATION)
    }

    /// A subscribe-family command: its namespace and whether it subscribes.
    pub fn subscription(self) -> Option<(Namespace, bool)> {
        Some(match self.spec?.subscribe? {
            Subscribe::ChannelOn => (Namespace::Channel, true),
            Subscribe::ChannelOff => (Namespace::Channel, false),
            Subscribe::PatternOn => (Namespace::Pattern, true),
            Subscribe::PatternOff => (Namespace::Pattern, false),
            Subscribe::ShardOn => (Namespace::Shard, true),
            Subscribe::ShardOff => (Namespace::Shard, false),
        })
    }

    /// How a RESP3 null reply to this command reads in RESP2: commands
    /// whose reply is an array send `*-1`.
    pub fn null_shape(self) -> NullShape {
        if self.is(Resplay::NULL_ARRAY) {
            NullShape::Array
        } else {
            NullShape::Bulk
        }
    }

    /// The indexes of the request's keys, by the command's key
    /// specifications (none for a command the table does not know).
    pub fn keys(self, args: &[Bytes]) -> Vec<usize> {
        self.spec
            .map_or_else(Vec::new, |spec| super::locate::keys(spec, args))
    }

    /// For a command whose reply is an absolute time, its kind.
    pub fn reply_time(self) -> Option<ReplyTime> {
        self.spec?.reply_time
    }
}
