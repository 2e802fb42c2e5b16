//! The shape of one entry of the command table ([`super::table`]): what
//! Redis publishes about a command in `COMMAND INFO` and `COMMAND DOCS`,
//! and the few facts resplay adds to it (see `scripts/command_table.py`).

/// One command, or one subcommand of a container command (`CLIENT
/// TRACKING`), as the servers describe it.
#[derive(Debug)]
pub struct Spec {
    /// The name, uppercase; a subcommand's own word (`TRACKING`).
    pub name: &'static str,
    /// Redis's arity: the exact argument count including the name, or at
    /// least `-arity` when negative.
    pub arity: i16,
    /// `COMMAND INFO`'s flags.
    pub flags: Flags,
    /// `COMMAND INFO`'s tips without a value.
    pub tips: Tips,
    /// The `request_policy` tip (`all_nodes`, `multi_shard`…), or empty.
    pub request_policy: &'static str,
    /// The `response_policy` tip (`agg_sum`, `all_succeeded`…), or empty.
    pub response_policy: &'static str,
    /// Where the keys are (`COMMAND INFO`'s key specifications).
    pub key_specs: &'static [KeySpec],
    /// The arguments typed `unix-time` (plus RESTORE's ABSTTL ttl).
    pub time_args: &'static [TimeArg],
    /// The arguments that are passwords (never written to a cassette).
    pub secret_args: &'static [Locator],
    /// For a command flagged blocking only when a token is given (`XREAD
    /// … BLOCK ms`), that token.
    pub block_token: Option<&'static str>,
    /// The command's tokens and how many arguments follow each (255: the
    /// rest of the command), to step over option values when looking for
    /// a token; filled only for commands with time or secret arguments.
    pub tokens: &'static [(&'static str, u8)],
    /// Arguments (name included) before the first optional, repeated or
    /// token argument: where a scan for tokens starts.
    pub fixed_prefix: u8,
    /// Facts resplay adds.
    pub resplay: Resplay,
    /// For the subscribe family, the namespace and direction.
    pub subscribe: Option<Subscribe>,
    /// For commands whose reply is an absolute time, its kind.
    pub reply_time: Option<ReplyTime>,
    /// The documentation group (`string`, `hash`, `connection`…).
    pub group: &'static str,
    /// The version that introduced it.
    pub since: &'static str,
    /// Which of the generator's servers know it (bits in the order of
    /// `table::SERVER_NAMES`).
    pub servers: Servers,
    /// Subcommands, for container commands (`CLIENT`, `CONFIG`…).
    pub subcommands: &'static [Spec],
}

impl Spec {
    /// The values the generated table leaves out of each entry.
    pub const DEFAULT: Spec = Spec {
        name: "",
        arity: 0,
        flags: Flags(0),
        tips: Tips(0),
        request_policy: "",
        response_policy: "",
        key_specs: &[],
        time_args: &[],
        secret_args: &[],
        block_token: None,
        tokens: &[],
        fixed_prefix: 1,
        resplay: Resplay(0),
        subscribe: None,
        reply_time: None,
        group: "",
        since: "",
        servers: Servers(0),
        subcommands: &[],
    };

    /// True when the command has every flag of `flags`.
    pub fn has(&self, flags: Flags) -> bool {
        self.flags.0 & flags.0 == flags.0
    }

    /// True when resplay's own facts include `fact`.
    pub fn is(&self, fact: Resplay) -> bool {
        self.resplay.0 & fact.0 == fact.0
    }

    /// A container command's subcommand named `word` (any case).
    pub fn subcommand(&self, word: &[u8]) -> Option<&'static Spec> {
        self.subcommands
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(word))
    }
}

macro_rules! bits {
    ($(#[$meta:meta])* $ty:ident { $($(#[$m:meta])* $name:ident = $bit:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $ty(pub u32);
        impl $ty {
            $($(#[$m])* pub const $name: $ty = $ty(1 << $bit);)*
        }
    };
}

bits! {
    /// `COMMAND INFO` flags (Redis's `CMD_*`; Valkey's `skip_commandlog`).
    Flags {
        /// May change data.
        WRITE = 0,
        /// Only reads data.
        READONLY = 1,
        /// May grow memory (refused when over `maxmemory`).
        DENYOOM = 2,
        /// Served by a module.
        MODULE = 3,
        /// An administrative command.
        ADMIN = 4,
        /// A pub/sub command.
        PUBSUB = 5,
        /// Not allowed in scripts.
        NOSCRIPT = 6,
        /// May block the client.
        BLOCKING = 7,
        /// Allowed while the database loads.
        LOADING = 8,
        /// Allowed on a stale replica.
        STALE = 9,
        /// Not shown to `MONITOR`.
        SKIP_MONITOR = 10,
        /// Not in the slow log.
        SKIP_SLOWLOG = 11,
        /// Accepted during a slot import (`ASKING`).
        ASKING = 12,
        /// O(1) or O(log N).
        FAST = 13,
        /// Allowed before authentication.
        NO_AUTH = 14,
        /// May replicate even when read-only.
        MAY_REPLICATE = 15,
        /// Keys are optional.
        NO_MANDATORY_KEYS = 16,
        /// Refused during asynchronous loading.
        NO_ASYNC_LOADING = 17,
        /// Not allowed inside `MULTI`.
        NO_MULTI = 18,
        /// Key positions depend on the arguments.
        MOVABLEKEYS = 19,
        /// Allowed while a script is busy.
        ALLOW_BUSY = 20,
        /// Not in Valkey's command log.
        SKIP_COMMANDLOG = 21,
    }
}

bits! {
    /// `COMMAND INFO` tips without a value.
    Tips {
        /// The reply differs between calls with the same data (`RANDOMKEY`).
        NONDETERMINISTIC_OUTPUT = 0,
        /// The reply's order is not defined (`SMEMBERS`, `HGETALL`).
        NONDETERMINISTIC_OUTPUT_ORDER = 1,
    }
}

bits! {
    /// What resplay knows that Redis's table does not say.
    Resplay {
        /// Replay answers it by itself when unrecorded.
        HANDSHAKE = 0,
        /// Noise a recording may drop (`ignore_trivial_calls`).
        TRIVIAL = 1,
        /// Its reply is an array: a RESP3 null reads as `*-1` in RESP2.
        NULL_ARRAY = 2,
        /// Once accepted, the connection carries the replication stream.
        REPLICATION = 3,
    }
}

bits! {
    /// Key specification flags resplay reads.
    KeyFlags {
        /// Read only.
        RO = 0,
        /// Read and written.
        RW = 1,
        /// Overwritten.
        OW = 2,
        /// Removed.
        RM = 3,
        /// Not a key (a channel name, say).
        NOT_KEY = 4,
        /// The spec may miss keys.
        INCOMPLETE = 5,
    }
}

/// The generator's servers that know a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Servers(pub u8);

/// Where a key specification starts looking.
#[derive(Debug, Clone, Copy)]
pub enum Begin {
    /// At this argument index.
    Index(i32),
    /// After this keyword, searched from `startfrom` (negative: from the end).
    Keyword(&'static str, i32),
    /// Only the command's own code knows.
    Unknown,
}

/// How a key specification finds its keys from where it begins.
#[derive(Debug, Clone, Copy)]
pub enum Find {
    /// Up to `last` (relative; negative counts from the end), every
    /// `step`-th; `limit` > 0 divides what remains (`XREAD` streams).
    Range { last: i32, step: i32, limit: i32 },
    /// The count is at `index`, keys start at `first`, every `step`-th.
    Keynum { index: i32, first: i32, step: i32 },
    /// Only the command's own code knows.
    Unknown,
}

/// One `COMMAND INFO` key specification.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// Where to start.
    pub begin: Begin,
    /// How to find the keys from there.
    pub find: Find,
    /// How the keys are used.
    pub flags: KeyFlags,
}

/// Where an argument sits in a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locator {
    /// At this index (0 is the name).
    Index(u8),
    /// This many places from the end (1 is the last).
    FromEnd(u8),
    /// This many places after the token (1: right after it).
    AfterToken(&'static str, u8),
}

/// The unit of an absolute time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Unix time in seconds.
    Seconds,
    /// Unix time in milliseconds.
    Millis,
}

/// An argument that is an absolute wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeArg {
    /// Where it is.
    pub at: Locator,
    /// Seconds or milliseconds.
    pub unit: Unit,
    /// A token that must be present for it to be a time (`ABSTTL`).
    pub requires: Option<&'static str>,
}

/// A reply that holds absolute times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTime {
    /// An integer in seconds, or an array of them (`HEXPIRETIME`);
    /// negative values are "no expiry"/"no key".
    Seconds,
    /// The same in milliseconds.
    Millis,
    /// `TIME`'s `[seconds, microseconds]`.
    Clock,
}

/// A subscribe-family command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribe {
    /// `SUBSCRIBE`.
    ChannelOn,
    /// `UNSUBSCRIBE`.
    ChannelOff,
    /// `PSUBSCRIBE`.
    PatternOn,
    /// `PUNSUBSCRIBE`.
    PatternOff,
    /// `SSUBSCRIBE`.
    ShardOn,
    /// `SUNSUBSCRIBE`.
    ShardOff,
}
