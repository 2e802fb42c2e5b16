//! Comparing one live reply with its recording, in Redis terms: what
//! `resplay conform` counts as the same answer, as noise, or as a real
//! difference. Pure logic; the driver calls [`compare`] once per command
//! (and [`compare_exec`] for a transaction, [`ScanUnion`] for a `SCAN`
//! iteration).
//!
//! The rules, first match wins:
//!
//! 1. Equal frames are [`Verdict::Same`].
//! 2. An error on one side only, or two errors with different text, is a
//!    difference. The error text is compared strictly: a server that words
//!    an error otherwise is worth a line in the report.
//! 3. Replies that differ only in how RESP wrote them are equivalent, for
//!    any command: RESP3 attributes and streamed strings and aggregates set
//!    aside ("wire form"), and the three nulls (`$-1`, `*-1`, `_`) one
//!    null ("null shape"). Reasons name a null "null" whichever it was.
//! 4. Expiry replies compare within `--ttl-tolerance`: the durations `TTL`,
//!    `PTTL`, `HTTL`, `HPTTL`, `OBJECT IDLETIME`, and the absolute times the
//!    table marks `reply_time` (`EXPIRETIME`, `PEXPIRETIME`, `HEXPIRETIME`,
//!    `HPEXPIRETIME`). Negative values (`-1` no expiry, `-2` no key or
//!    field) must be equal. Absolute times move with the run's clock: the
//!    driver shifts the recorded reply onto the live clock first (as
//!    replay's `Clock::shift_reply` does), else they differ by the time
//!    between the recording and the run.
//! 5. `SCAN`, `SSCAN`, `HSCAN`, `ZSCAN` are not compared per call (the
//!    cursor is the server's own, and so is which keys each call returns);
//!    the union over a whole iteration is, by [`ScanUnion`].
//! 6. Replies with fields a server makes up (`HELLO`'s `server`, `version`,
//!    `id`, `mode`, `role`, `modules`; `CLIENT TRACKINGINFO`'s `redirect`)
//!    compare without those fields.
//! 7. Server-specific replies (see [`SERVER_SPECIFIC`]) are not comparable.
//! 8. Random members (`SRANDMEMBER`, `SPOP`, `RANDOMKEY`, `HRANDFIELD`,
//!    `ZRANDMEMBER`) compare by type and length; when a positive count asked
//!    for more than the collection holds, the whole collection came back,
//!    and its members are compared too.
//! 9. Any other command Redis tips `nondeterministic_output` (`TIME`,
//!    `INFO`, `XADD`, `CLIENT LIST`, `OBJECT FREQ`, `SLOWLOG GET`…) is not
//!    comparable.
//! 10. Everything else compares as values, with RESP3 maps and sets
//!     unordered (RESP3 gives them no order), and a command Redis tips
//!     `nondeterministic_output_order` (`SMEMBERS`, `HGETALL`, `KEYS`,
//!     `SINTER`…) as a multiset of its elements, or of its field/value
//!     pairs for a RESP2 flat reply of pairs ("order").
//!
//! Rules 7 and 9 still compare the reply's type: a made-up value is still
//! a value, and a null (no such key) where the recording has one is a real
//! difference.
//!
//! ## The facts listed by hand, and why Redis's metadata lacks them
//!
//! The table ([`crate::command::table`]) has Redis's `COMMAND INFO` tips,
//! which name two things: output that differs between calls to the same
//! server (`nondeterministic_output`) and output in no defined order
//! (`nondeterministic_output_order`). Redis types arguments, not replies
//! (the reply schemas stay in its source tree, `COMMAND DOCS` does not
//! serve them), so these facts about replies are listed here:
//!
//! - [`DURATIONS`]: replies that are durations, and their unit. The table's
//!   `reply_time` (resplay's own overlay) covers absolute times only.
//! - [`RANDOM`]: the tip does not tell random sampling (checkable by count
//!   and shape) from time or server state (not checkable at all).
//! - [`SCANS`]: no tip or flag marks a cursor reply.
//! - [`PAIRS`]: RESP2 replies that are a flat list of field/value pairs
//!   (RESP3 sends these as maps): for the order-free comparison to keep
//!   each value with its field.
//! - [`ORDER_FREE`]: `CONFIG GET` walks the server's config dictionary
//!   with no order promised, yet carries no order tip.
//! - [`SERVER_SPECIFIC`]: values that are the server's own (ids, versions,
//!   memory, its command table, help text, replica counts). The tip means
//!   "differs from call to call"; these are stable on one server and differ
//!   between servers, which is exactly what conform compares across.
//! - [`UNTIPPED_NONDETERMINISTIC`]: random by nature but not tipped.
//! - [`MADE_UP_FIELDS`]: fields of otherwise comparable replies.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use bytes::{Bytes, BytesMut};

use crate::command::spec::{ReplyTime, Tips};
use crate::command::{arg_is, Class, HELLO_FIELDS};
use crate::replay::display::repr;
use crate::resp::{parse_i64, to_bytes, with_stack, AggregateKind, Value};

/// How one live reply compares with its recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Byte-for-byte the same replies.
    Same,
    /// The same once a documented normalisation is applied; the str names
    /// it (`"order"`, `"ttl tolerance"`, `"random members"`, `"null
    /// shape"`, `"wire form"`, `"hello server fields"`, `"client ids"`,
    /// `"scan union"`).
    Equivalent(&'static str),
    /// Not comparable by nature (the server makes the value up); the str
    /// says why (`"nondeterministic output"`, `"server-specific"`, `"scan
    /// cursor"`). Counted, never a difference.
    NotComparable(&'static str),
    /// A real difference; a short reason (`"different value at [2]"`,
    /// `"error on the target only"`, `"error text differs"`, `"different
    /// type (recorded bulk, target integer)"`, `"different length
    /// (recorded 3, target 4)"`…).
    Different(String),
}

impl Verdict {
    /// How much a verdict weighs when several are combined (the replies of
    /// a `SUBSCRIBE`, the commands of a transaction): the heaviest wins.
    fn weight(&self) -> u8 {
        match self {
            Verdict::Same => 0,
            Verdict::Equivalent(_) => 1,
            Verdict::NotComparable(_) => 2,
            Verdict::Different(_) => 3,
        }
    }

    /// True for a real difference.
    pub fn is_different(&self) -> bool {
        matches!(self, Verdict::Different(_))
    }
}

/// What the comparison may forgive.
#[derive(Debug, Clone)]
pub struct Options {
    /// How far apart two expiry replies may be, in milliseconds (a
    /// seconds reply gets this rounded up to whole seconds).
    pub ttl_tolerance_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ttl_tolerance_ms: 2000,
        }
    }
}

/// The unit of an expiry reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Whole seconds: the tolerance is rounded up to seconds.
    Seconds,
    /// Milliseconds.
    Millis,
}

/// Replies that are durations, by command and subcommand (empty: none):
/// Redis's metadata says nothing of what a reply means.
pub const DURATIONS: &[(&str, &str, Unit)] = &[
    ("TTL", "", Unit::Seconds),
    ("PTTL", "", Unit::Millis),
    ("HTTL", "", Unit::Seconds),
    ("HPTTL", "", Unit::Millis),
    ("OBJECT", "IDLETIME", Unit::Seconds),
];

/// Commands that answer members picked at random: the
/// `nondeterministic_output` tip they carry does not say so.
pub const RANDOM: &[&str] = &[
    "SRANDMEMBER",
    "SPOP",
    "RANDOMKEY",
    "HRANDFIELD",
    "ZRANDMEMBER",
];

/// The cursor commands.
pub const SCANS: &[&str] = &["SCAN", "SSCAN", "HSCAN", "ZSCAN"];

/// Order-free replies that are field/value pairs (a map in RESP3, a flat
/// list in RESP2), by command and subcommand.
pub const PAIRS: &[(&str, &str)] = &[("HGETALL", ""), ("CONFIG", "GET"), ("COMMAND", "DOCS")];

/// Order-free replies Redis does not tip `nondeterministic_output_order`.
pub const ORDER_FREE: &[(&str, &str)] = &[("CONFIG", "GET")];

/// Server-specific replies Redis does not tip, by command and subcommand
/// (`*`: every subcommand but those listed in [`SERVER_SPECIFIC_EXCEPT`];
/// a command `*`: that subcommand of any command). Each is the server's
/// own, not the data's:
/// - `CLIENT ID`, `CLIENT GETREDIR`, `CLUSTER MYID`: ids the server
///   assigns;
/// - `MEMORY USAGE`: bytes, by the server's encodings and allocator;
/// - `DEBUG`: internals (`DEBUG OBJECT`'s encoding, lru, lengths);
/// - `COMMAND` (but `GETKEYS`): the server's own command table;
/// - `MODULE LIST`: what it has loaded;
/// - `LATENCY`: its latency monitor (`LATENCY RESET`'s count too);
/// - `LOLWUT`: version art; `ROLE`: its replication offset;
/// - `WAIT`, `WAITAOF`: how many replicas (and fsyncs) the deployment has;
/// - `ACL LOG`: ages, timestamps and client addresses;
/// - `FUNCTION DUMP`: serialized with the server's RDB version (`DUMP`,
///   which does the same, is tipped);
/// - `HELP` of any container: the server's own text.
pub const SERVER_SPECIFIC: &[(&str, &str)] = &[
    ("CLIENT", "ID"),
    ("CLIENT", "GETREDIR"),
    ("CLUSTER", "MYID"),
    ("MEMORY", "USAGE"),
    ("DEBUG", "*"),
    ("COMMAND", "*"),
    ("MODULE", "LIST"),
    ("LATENCY", "*"),
    ("LOLWUT", ""),
    ("ROLE", ""),
    ("WAIT", ""),
    ("WAITAOF", ""),
    ("ACL", "LOG"),
    ("FUNCTION", "DUMP"),
    ("*", "HELP"),
];

/// Subcommands a `*` of [`SERVER_SPECIFIC`] leaves comparable: they answer
/// about the request, not about the server.
pub const SERVER_SPECIFIC_EXCEPT: &[(&str, &str)] =
    &[("COMMAND", "GETKEYS"), ("COMMAND", "GETKEYSANDFLAGS")];

/// Random by nature, not tipped: `ACL GENPASS`.
pub const UNTIPPED_NONDETERMINISTIC: &[(&str, &str)] = &[("ACL", "GENPASS")];

/// Replies compared without the fields a server makes up, by command and
/// subcommand, with the name of that normalisation. `HELLO`'s fields are
/// [`HELLO_FIELDS`] but `proto`, which must match.
pub const MADE_UP_FIELDS: &[(&str, &str, &[&str], &str)] = &[
    ("HELLO", "", &[], "hello server fields"),
    ("CLIENT", "TRACKINGINFO", &["redirect"], "client ids"),
];

/// The command's name and, for a container command's known subcommand,
/// the subcommand's; with the tips of the most specific entry.
#[derive(Debug, Clone, Copy)]
struct Facts {
    name: &'static str,
    sub: &'static str,
    tips: Tips,
    reply_time: Option<ReplyTime>,
}

impl Facts {
    fn of(class: Class) -> Facts {
        let name = class.name();
        let spec = class.spec();
        let sub = match spec {
            Some(s) if class.is_container() && s.name != name => s.name,
            _ => "",
        };
        Facts {
            name,
            sub,
            tips: spec.map_or(Tips(0), |s| s.tips),
            reply_time: class.reply_time(),
        }
    }

    fn tipped(self, tip: Tips) -> bool {
        self.tips.0 & tip.0 != 0
    }

    /// True when `(command, subcommand)` names this one (`*` any).
    fn is(self, command: &str, sub: &str) -> bool {
        !self.name.is_empty()
            && (command == "*" || command == self.name)
            && (sub == "*" || sub == self.sub)
    }

    fn listed(self, list: &[(&str, &str)]) -> bool {
        list.iter().any(|&(c, s)| self.is(c, s))
    }

    /// The unit of an expiry reply, if this is one (rule 3).
    fn expiry_unit(self) -> Option<Unit> {
        if let Some(&(_, _, unit)) = DURATIONS.iter().find(|&&(c, s, _)| self.is(c, s)) {
            return Some(unit);
        }
        match self.reply_time? {
            ReplyTime::Seconds => Some(Unit::Seconds),
            ReplyTime::Millis => Some(Unit::Millis),
            ReplyTime::Clock => None,
        }
    }
}

/// Compares the replies of one command (`args` as sent, name first;
/// several replies for `SUBSCRIBE`-like commands).
pub fn compare(
    class: Class,
    args: &[Bytes],
    recorded: &[Value],
    live: &[Value],
    options: &Options,
) -> Verdict {
    if recorded == live {
        return Verdict::Same;
    }
    if recorded.len() != live.len() {
        return Verdict::Different(format!(
            "{} {} recorded, {} on the target",
            recorded.len(),
            if recorded.len() == 1 {
                "reply"
            } else {
                "replies"
            },
            live.len()
        ));
    }
    let facts = Facts::of(class);
    let several = recorded.len() > 1;
    combine(recorded.iter().zip(live).enumerate().map(|(i, (r, l))| {
        match compare_one(facts, args, r, l, options) {
            Verdict::Different(why) if several => {
                Verdict::Different(format!("reply {}: {why}", i + 1))
            }
            verdict => verdict,
        }
    }))
}

/// Compares the reply of an `EXEC` command by command: `queued` are the
/// arguments of the commands the transaction queued, in order. When both
/// replies are arrays of one reply per queued command, each is compared
/// under its own command's rules (a `SMEMBERS` inside `MULTI` is as
/// order-free as outside); otherwise (an aborted transaction, an error)
/// the replies compare as any other.
pub fn compare_exec(
    queued: &[&[Bytes]],
    recorded: &Value,
    live: &Value,
    options: &Options,
) -> Verdict {
    let exec = [Bytes::from_static(b"EXEC")];
    let whole = || {
        compare(
            Class::of(&exec),
            &exec,
            std::slice::from_ref(recorded),
            std::slice::from_ref(live),
            options,
        )
    };
    let (Some(rs), Some(ls)) = (recorded.elements(), live.elements()) else {
        return whole();
    };
    if rs.len() != queued.len() || ls.len() != queued.len() || recorded.is_push() {
        return whole();
    }
    combine(
        queued
            .iter()
            .zip(rs.iter().zip(ls))
            .enumerate()
            .map(|(i, (args, (r, l)))| {
                let verdict = compare(
                    Class::of(args),
                    args,
                    std::slice::from_ref(r),
                    std::slice::from_ref(l),
                    options,
                );
                match verdict {
                    Verdict::Different(why) => {
                        let name = args.first().map_or(String::new(), |n| {
                            String::from_utf8_lossy(n).to_ascii_uppercase()
                        });
                        Verdict::Different(format!("queued command {} ({name}): {why}", i + 1))
                    }
                    verdict => verdict,
                }
            }),
    )
}

/// The heaviest of several verdicts (the first of equal weight).
fn combine(verdicts: impl Iterator<Item = Verdict>) -> Verdict {
    let mut worst = Verdict::Same;
    for verdict in verdicts {
        if verdict.weight() > worst.weight() {
            worst = verdict;
        }
    }
    worst
}

/// The rules for one reply and its recording.
fn compare_one(facts: Facts, args: &[Bytes], r: &Value, l: &Value, options: &Options) -> Verdict {
    // 1.
    if r == l {
        return Verdict::Same;
    }
    // 2.
    match (r.is_error(), l.is_error()) {
        (false, true) => return Verdict::Different("error on the target only".into()),
        (true, false) => return Verdict::Different("error in the recording only".into()),
        (true, true) if error_text(r) == error_text(l) => return Verdict::Equivalent("wire form"),
        (true, true) => return Verdict::Different("error text differs".into()),
        (false, false) => {}
    }
    // 3.
    if let Some(verdict) = representation(r, l) {
        return verdict;
    }
    // 4.
    if let Some(unit) = facts.expiry_unit() {
        if let Some(verdict) = expiry(unit, r, l, options) {
            return verdict;
        }
    }
    // 5.
    if SCANS.iter().any(|&c| facts.is(c, "")) && is_scan_reply(r) && is_scan_reply(l) {
        return Verdict::NotComparable("scan cursor");
    }
    // 6.
    if let Some(verdict) = made_up_fields(facts, r, l) {
        return verdict;
    }
    // 7.
    if facts.listed(SERVER_SPECIFIC) && !facts.listed(SERVER_SPECIFIC_EXCEPT) {
        return same_kind(r, l).unwrap_or(Verdict::NotComparable("server-specific"));
    }
    // 8.
    if RANDOM.iter().any(|&c| facts.is(c, "")) {
        return random_members(args, r, l);
    }
    // 9.
    if facts.tipped(Tips::NONDETERMINISTIC_OUTPUT) || facts.listed(UNTIPPED_NONDETERMINISTIC) {
        return same_kind(r, l).unwrap_or(Verdict::NotComparable("nondeterministic output"));
    }
    // 10.
    let layout = if facts.tipped(Tips::NONDETERMINISTIC_OUTPUT_ORDER) || facts.listed(ORDER_FREE) {
        if facts.listed(PAIRS) {
            Layout::Pairs
        } else {
            Layout::Items
        }
    } else {
        Layout::Ordered
    };
    as_values(r, l, layout)
}

/// The text of an error of either kind.
fn error_text(v: &Value) -> Option<&[u8]> {
    match v.unattributed() {
        Value::Error(b) | Value::BulkError(b) => Some(b),
        _ => None,
    }
}

/// How an aggregate's elements may be reordered before comparing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// In the order sent.
    Ordered,
    /// As a multiset of elements.
    Items,
    /// As a multiset of consecutive (field, value) pairs.
    Pairs,
}

/// Which normalisations [`canon`] applies.
#[derive(Debug, Clone, Copy)]
struct Norm {
    /// The three nulls are one.
    nulls: bool,
    /// RESP3 maps and sets are unordered.
    unordered: bool,
}

/// Rule 10: the values compared after the safe normalisations, each tried
/// in turn so that the verdict names the one that made them equal.
fn as_values(r: &Value, l: &Value, layout: Layout) -> Verdict {
    if let Some(verdict) = representation(r, l) {
        return verdict;
    }
    let all = Norm {
        nulls: true,
        unordered: true,
    };
    let (cr, cl) = (canon(r, all, layout), canon(l, all, layout));
    if cr == cl {
        return Verdict::Equivalent("order");
    }
    if layout != Layout::Ordered && kind(&cr) == kind(&cl) {
        if let (Some(a), Some(b)) = (members(&cr, layout), members(&cl, layout)) {
            return Verdict::Different(members_differ(&a, &b));
        }
    }
    Verdict::Different(first_difference(&cr, &cl))
}

/// `Equivalent` when `r` and `l` differ only in how RESP wrote them:
/// "wire form" (attributes, streamed strings and aggregates), else "null
/// shape" (`$-1`, `*-1` and `_` are one null); `None` when they differ
/// otherwise.
fn representation(r: &Value, l: &Value) -> Option<Verdict> {
    let plain = Norm {
        nulls: false,
        unordered: false,
    };
    if canon(r, plain, Layout::Ordered) == canon(l, plain, Layout::Ordered) {
        return Some(Verdict::Equivalent("wire form"));
    }
    let nulls = Norm {
        nulls: true,
        unordered: false,
    };
    if canon(r, nulls, Layout::Ordered) == canon(l, nulls, Layout::Ordered) {
        return Some(Verdict::Equivalent("null shape"));
    }
    None
}

/// `v` in the form compared: attributes dropped, streamed strings and
/// aggregates as plain ones, and what `norm` and the top-level `layout`
/// ask for. Elements are ordered by their RESP encoding.
fn canon(v: &Value, norm: Norm, layout: Layout) -> Value {
    with_stack(|| {
        let items = |items: &[Value], layout: Layout| -> Vec<Value> {
            let items = items
                .iter()
                .map(|i| canon(i, norm, Layout::Ordered))
                .collect();
            arrange(items, layout)
        };
        let pairs = |flat: &[Value]| -> Vec<(Value, Value)> {
            flat.chunks(2)
                .map(|p| {
                    let k = canon(&p[0], norm, Layout::Ordered);
                    let v = p
                        .get(1)
                        .map_or(Value::Null, |v| canon(v, norm, Layout::Ordered));
                    (k, v)
                })
                .collect()
        };
        let unordered = if norm.unordered {
            Layout::Items
        } else {
            Layout::Ordered
        };
        let set_layout = if layout == Layout::Ordered {
            unordered
        } else {
            Layout::Items
        };
        let map_sorted = norm.unordered || layout != Layout::Ordered;
        match v {
            Value::Attributed { value, .. } => canon(value, norm, layout),
            Value::StreamedBulk(chunks) => Value::Bulk(Bytes::from(chunks.concat())),
            Value::NullBulk | Value::NullArray if norm.nulls => Value::Null,
            Value::Array(list) => Value::Array(items(list, layout)),
            Value::Push(list) => Value::Push(items(list, Layout::Ordered)),
            Value::Set(list) => Value::Set(items(list, set_layout)),
            Value::Map(list) => {
                let list = list
                    .iter()
                    .map(|(k, v)| {
                        (
                            canon(k, norm, Layout::Ordered),
                            canon(v, norm, Layout::Ordered),
                        )
                    })
                    .collect();
                Value::Map(sort_pairs(list, map_sorted))
            }
            Value::StreamedAggregate { kind, items: list } => match kind {
                AggregateKind::Array => Value::Array(items(list, layout)),
                AggregateKind::Set => Value::Set(items(list, set_layout)),
                AggregateKind::Push => Value::Push(items(list, Layout::Ordered)),
                AggregateKind::Map | AggregateKind::Attribute => {
                    Value::Map(sort_pairs(pairs(list), map_sorted))
                }
            },
            other => other.clone(),
        }
    })
}

/// Reorders already canonical elements as `layout` says.
fn arrange(items: Vec<Value>, layout: Layout) -> Vec<Value> {
    match layout {
        Layout::Ordered => items,
        Layout::Pairs if items.len() % 2 == 0 => {
            let mut it = items.into_iter();
            let mut pairs = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            sort_pairs(pairs, true)
                .into_iter()
                .flat_map(|(k, v)| [k, v])
                .collect()
        }
        // An odd list is not pairs after all: order its items.
        Layout::Items | Layout::Pairs => {
            let mut items = items;
            items.sort_by_cached_key(sort_key);
            items
        }
    }
}

fn sort_pairs(mut pairs: Vec<(Value, Value)>, sorted: bool) -> Vec<(Value, Value)> {
    if sorted {
        pairs.sort_by_cached_key(|(k, v)| (sort_key(k), sort_key(v)));
    }
    pairs
}

/// The order canonical elements are put in: their RESP encoding, total
/// and the same on both sides.
fn sort_key(v: &Value) -> BytesMut {
    to_bytes(v)
}

/// The elements (or field/value pairs, each as a two-element array) an
/// order-free canonical reply holds, when it is an aggregate.
fn members(v: &Value, layout: Layout) -> Option<Vec<Value>> {
    match v {
        Value::Map(pairs) => Some(
            pairs
                .iter()
                .map(|(k, v)| Value::Array(vec![k.clone(), v.clone()]))
                .collect(),
        ),
        Value::Array(items) | Value::Set(items) => {
            if layout == Layout::Pairs && items.len() % 2 == 0 {
                Some(items.chunks(2).map(|p| Value::Array(p.to_vec())).collect())
            } else {
                Some(items.clone())
            }
        }
        _ => None,
    }
}

/// The reason two multisets of members differ: how many are on one side
/// only.
fn members_differ(recorded: &[Value], live: &[Value]) -> String {
    let mut count: HashMap<&Value, i64> = HashMap::new();
    for v in recorded {
        *count.entry(v).or_default() += 1;
    }
    for v in live {
        *count.entry(v).or_default() -= 1;
    }
    let only_recorded: i64 = count.values().filter(|&&n| n > 0).sum();
    let only_live: i64 = -count.values().filter(|&&n| n < 0).sum::<i64>();
    format!("different members ({only_recorded} only recorded, {only_live} only on the target)")
}

/// Where two canonical values first differ, and how.
fn first_difference(r: &Value, l: &Value) -> String {
    let mut path = String::new();
    let what = difference_at(r, l, &mut path).unwrap_or_else(|| "different value".into());
    // A place deep down is cut to its start: the report shows both replies.
    const MAX_PATH: usize = 60;
    if path.len() > MAX_PATH {
        let mut end = MAX_PATH;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        path.truncate(end);
        path.push('…');
    }
    if path.is_empty() {
        what
    } else {
        format!("{what} at {path}")
    }
}

/// The first difference between `r` and `l`, appending its place to
/// `path`; `None` when they are equal.
fn difference_at(r: &Value, l: &Value, path: &mut String) -> Option<String> {
    with_stack(|| {
        match (r.is_error(), l.is_error()) {
            (false, true) => return Some("error on the target only".into()),
            (true, false) => return Some("error in the recording only".into()),
            (true, true) if error_text(r) != error_text(l) => {
                return Some("error text differs".into())
            }
            (true, true) => return None,
            (false, false) => {}
        }
        let (sr, sl) = (shape(r), shape(l));
        if sr != sl {
            return Some(format!("different type (recorded {sr}, target {sl})"));
        }
        match (r, l) {
            (Value::Array(a), Value::Array(b))
            | (Value::Set(a), Value::Set(b))
            | (Value::Push(a), Value::Push(b)) => {
                if a.len() != b.len() {
                    return Some(length_differs(a.len(), b.len()));
                }
                let len = path.len();
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    let _ = write!(path, "[{i}]");
                    if let Some(why) = difference_at(x, y, path) {
                        return Some(why);
                    }
                    path.truncate(len);
                }
                None
            }
            (Value::Map(a), Value::Map(b)) => {
                let len = path.len();
                for (k, x) in a {
                    push_key(path, k);
                    match b.iter().find(|(kb, _)| kb == k) {
                        None => return Some("field missing on the target".into()),
                        Some((_, y)) => {
                            if let Some(why) = difference_at(x, y, path) {
                                return Some(why);
                            }
                        }
                    }
                    path.truncate(len);
                }
                if let Some((k, _)) = b.iter().find(|(k, _)| !a.iter().any(|(ka, _)| ka == k)) {
                    push_key(path, k);
                    return Some("field only on the target".into());
                }
                None
            }
            _ if r == l => None,
            _ if same_number(r, l) => Some("same number written differently".into()),
            _ => Some("different value".into()),
        }
    })
}

fn length_differs(recorded: usize, live: usize) -> String {
    format!("different length (recorded {recorded}, target {live})")
}

/// Appends a map key to a difference's place: `.name` for a short word,
/// else `[key]` as `resplay show` quotes it.
fn push_key(path: &mut String, key: &Value) {
    match key.as_bytes() {
        Some(b)
            if b.len() <= 32
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || b"-_".contains(c)) =>
        {
            path.push('.');
            path.push_str(&String::from_utf8_lossy(b));
        }
        _ => {
            let _ = write!(path, "[{}]", brief(key));
        }
    }
}

/// True when two different texts (or an integer and a text) are the same
/// number: how a double is written changed between Redis versions
/// (`0.10000000000000001` and `0.1`), worth naming as such.
fn same_number(r: &Value, l: &Value) -> bool {
    fn number(v: &Value) -> Option<f64> {
        match v {
            Value::Integer(n) => Some(*n as f64),
            Value::Bulk(b) | Value::Simple(b) | Value::Double(b) | Value::BigNumber(b) => {
                std::str::from_utf8(b).ok()?.trim().parse().ok()
            }
            _ => None,
        }
    }
    matches!((number(r), number(l)), (Some(a), Some(b)) if a == b)
}

/// The name of a reply's type, as reasons say it.
pub fn shape(value: &Value) -> &'static str {
    match value.unattributed() {
        Value::Simple(_) => "simple",
        Value::Error(_) | Value::BulkError(_) => "error",
        Value::Integer(_) => "integer",
        Value::Bulk(_) | Value::StreamedBulk(_) => "bulk",
        Value::NullBulk => "null bulk",
        Value::NullArray => "null array",
        Value::Null => "null",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Set(_) => "set",
        Value::Double(_) => "double",
        Value::Boolean(_) => "boolean",
        Value::BigNumber(_) => "big number",
        Value::Verbatim(_) => "verbatim",
        Value::Push(_) => "push",
        Value::StreamedAggregate { kind, .. } => match kind {
            AggregateKind::Array => "array",
            AggregateKind::Set => "set",
            AggregateKind::Map => "map",
            AggregateKind::Push => "push",
            AggregateKind::Attribute => "attribute",
        },
        Value::Attributed { .. } => unreachable!("unattributed"),
    }
}

/// [`shape`] with the three nulls as one.
fn kind(value: &Value) -> &'static str {
    match shape(value) {
        "null bulk" | "null array" => "null",
        s => s,
    }
}

/// A difference when two values not compared by content are not even of
/// the same type; `None` when they are.
fn same_kind(r: &Value, l: &Value) -> Option<Verdict> {
    let (kr, kl) = (kind(r), kind(l));
    (kr != kl).then(|| Verdict::Different(format!("different type (recorded {kr}, target {kl})")))
}

/// Rule 4: integers, or arrays of them, within the tolerance; `None` when
/// the replies are not that (a null, say), for the general rules.
fn expiry(unit: Unit, r: &Value, l: &Value, options: &Options) -> Option<Verdict> {
    let tolerance = match unit {
        Unit::Seconds => options.ttl_tolerance_ms.div_ceil(1000),
        Unit::Millis => options.ttl_tolerance_ms,
    };
    let pairs: Vec<(i64, i64)> = match (r.unattributed(), l.unattributed()) {
        (Value::Integer(a), Value::Integer(b)) => vec![(*a, *b)],
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(Verdict::Different(length_differs(a.len(), b.len())));
            }
            a.iter()
                .zip(b)
                .map(|(x, y)| match (x, y) {
                    (Value::Integer(x), Value::Integer(y)) => Some((*x, *y)),
                    _ => None,
                })
                .collect::<Option<_>>()?
        }
        _ => return None,
    };
    let several = pairs.len() > 1;
    for (i, &(a, b)) in pairs.iter().enumerate() {
        let at = if several {
            format!(" at [{i}]")
        } else {
            String::new()
        };
        if a < 0 || b < 0 {
            if a != b {
                return Some(Verdict::Different(format!(
                    "different expiry (recorded {a}, target {b}){at}"
                )));
            }
        } else if a.abs_diff(b) > tolerance {
            return Some(Verdict::Different(format!(
                "ttl beyond tolerance (recorded {a}, target {b}){at}"
            )));
        }
    }
    Some(Verdict::Equivalent("ttl tolerance"))
}

/// Rule 6: the reply without the fields the server makes up, for the
/// commands that have some; `None` for other commands or shapes.
fn made_up_fields(facts: Facts, r: &Value, l: &Value) -> Option<Verdict> {
    let &(_, _, fields, name) = MADE_UP_FIELDS
        .iter()
        .find(|&&(c, s, _, _)| facts.is(c, s))?;
    let ignored = |key: &Value| {
        key.as_bytes().is_some_and(|k| {
            if facts.name == "HELLO" {
                HELLO_FIELDS
                    .iter()
                    .any(|f| *f != "proto" && f.as_bytes().eq_ignore_ascii_case(k))
            } else {
                fields.iter().any(|f| f.as_bytes().eq_ignore_ascii_case(k))
            }
        })
    };
    let keep = |v: &Value| -> Option<Value> {
        let kept = field_pairs(v)?
            .into_iter()
            .filter(|(k, _)| !ignored(k))
            .collect();
        Some(Value::Map(kept))
    };
    let (kr, kl) = (keep(r)?, keep(l)?);
    Some(match as_values(&kr, &kl, Layout::Ordered) {
        Verdict::Different(why) => Verdict::Different(why),
        _ => Verdict::Equivalent(name),
    })
}

/// A map's pairs, or a RESP2 flat list's, when the value is one of those.
fn field_pairs(v: &Value) -> Option<Vec<(Value, Value)>> {
    match v.unattributed() {
        Value::Map(pairs) => Some(pairs.clone()),
        Value::Array(items) if items.len() % 2 == 0 => Some(
            items
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect(),
        ),
        _ => None,
    }
}

/// Rule 8: random members compared by type, length, and, when the whole
/// collection came back, by members.
fn random_members(args: &[Bytes], r: &Value, l: &Value) -> Verdict {
    if let Some(different) = same_kind(r, l) {
        return different;
    }
    let Some(count) = args.get(2).and_then(|c| parse_i64(c)) else {
        // One member (or none: a null on both sides).
        return Verdict::Equivalent("random members");
    };
    let (Some(a), Some(b)) = (r.elements(), l.elements()) else {
        return Verdict::Equivalent("random members");
    };
    if a.len() != b.len() {
        return Verdict::Different(length_differs(a.len(), b.len()));
    }
    let with_values = arg_is(args, 3, "WITHVALUES") || arg_is(args, 3, "WITHSCORES");
    // RESP2 sends members and values flat; RESP3 a pair per member.
    let flat = with_values && a.first().is_some_and(|v| v.elements().is_none());
    let returned = if flat { a.len() / 2 } else { a.len() };
    if count > 0 && (returned as u64) < count.unsigned_abs() {
        // Fewer than asked for: the whole collection, in random order.
        let layout = if flat { Layout::Pairs } else { Layout::Items };
        return match as_values(r, l, layout) {
            Verdict::Different(why) => Verdict::Different(why),
            _ => Verdict::Equivalent("random members"),
        };
    }
    Verdict::Equivalent("random members")
}

/// True for `[cursor, [items…]]`.
fn is_scan_reply(v: &Value) -> bool {
    scan_parts(v).is_some()
}

/// A scan reply's cursor and items.
fn scan_parts(v: &Value) -> Option<(&[u8], &[Value])> {
    match v.elements()? {
        [cursor, items] => Some((cursor.as_bytes()?, items.elements()?)),
        _ => None,
    }
}

/// The keys (or members / field-value pairs) an iteration collected, per
/// side, compared when the recorded iteration ends.
///
/// The items are sets: a `SCAN` may return an item more than once, and
/// which call returns which item is the server's own. The driver feeds
/// every call of one iteration (the live cursor sent in place of the
/// recorded one) and asks for the verdict once [`ScanUnion::is_end`] says
/// the recorded iteration is complete; a live iteration that needs more
/// calls than the recorded one is carried on to its own end, those calls
/// given to [`ScanUnion::add_live`], or its union comes up short.
#[derive(Debug, Default)]
pub struct ScanUnion {
    /// Items come in (field, value) pairs (`HSCAN` but `NOVALUES`, `ZSCAN`).
    pairs: bool,
    recorded: HashSet<Value>,
    live: HashSet<Value>,
    /// A call whose replies were not byte-for-byte the same, or a call
    /// not made on the target.
    differed: bool,
}

impl ScanUnion {
    /// The union for an iteration of `args` (any of its calls): pairs for
    /// `HSCAN` (unless `NOVALUES`) and `ZSCAN`. `ScanUnion::default()`
    /// takes every item singly.
    pub fn new(args: &[Bytes]) -> ScanUnion {
        let name = crate::command::name(args);
        let novalues = (3..args.len()).any(|i| arg_is(args, i, "NOVALUES"));
        ScanUnion {
            pairs: name == "ZSCAN" || (name == "HSCAN" && !novalues),
            ..ScanUnion::default()
        }
    }

    /// Adds one SCAN-family reply (`[cursor, [items…]]`) of each side;
    /// `live` is None when no live call was made for it.
    pub fn add(&mut self, recorded: &Value, live: Option<&Value>) {
        if live != Some(recorded) {
            self.differed = true;
        }
        self.collect(recorded, true);
        if let Some(live) = live {
            self.collect(live, false);
        }
    }

    /// Adds a reply of a call that went on with the target's iteration
    /// after the recording's ended (the target needed more calls).
    pub fn add_live(&mut self, live: &Value) {
        self.differed = true;
        self.collect(live, false);
    }

    fn collect(&mut self, reply: &Value, recorded: bool) {
        let Some((_, items)) = scan_parts(reply) else {
            return;
        };
        let norm = Norm {
            nulls: true,
            unordered: true,
        };
        let items: Vec<Value> = items
            .iter()
            .map(|v| canon(v, norm, Layout::Ordered))
            .collect();
        let set = if recorded {
            &mut self.recorded
        } else {
            &mut self.live
        };
        if self.pairs && items.len() % 2 == 0 {
            set.extend(items.chunks(2).map(|p| Value::Array(p.to_vec())));
        } else {
            set.extend(items);
        }
    }

    /// The recorded cursor of `reply` is "0": the iteration is complete.
    pub fn is_end(reply: &Value) -> bool {
        scan_parts(reply).is_some_and(|(cursor, _)| cursor == b"0")
    }

    /// The verdict on the whole iteration: Equivalent("scan union") when
    /// the sets of items are equal, else Different naming how many items
    /// are only on each side (show up to 3).
    pub fn verdict(&self) -> Verdict {
        if !self.differed {
            return Verdict::Same;
        }
        if self.recorded == self.live {
            return Verdict::Equivalent("scan union");
        }
        let only = |a: &HashSet<Value>, b: &HashSet<Value>| {
            let mut items: Vec<String> = a.difference(b).map(brief).collect();
            items.sort();
            let n = items.len();
            let mut text = items.into_iter().take(3).collect::<Vec<_>>().join(", ");
            if n > 3 {
                text.push_str(", …");
            }
            (n, text)
        };
        let (nr, tr) = only(&self.recorded, &self.live);
        let (nl, tl) = only(&self.live, &self.recorded);
        let mut why = String::from("scan union differs:");
        if nr > 0 {
            let _ = write!(why, " {nr} only in the recording ({tr})");
        }
        if nl > 0 {
            let _ = write!(
                why,
                "{} {nl} only on the target ({tl})",
                if nr > 0 { ";" } else { "" }
            );
        }
        Verdict::Different(why)
    }
}

/// A short rendering of an item for a reason: a string quoted as
/// `resplay show` does, a pair as `field value`, anything else by type.
fn brief(v: &Value) -> String {
    const MAX: usize = 40;
    if let Some(b) = v.as_bytes() {
        let mut text = repr(&b[..b.len().min(MAX)]);
        if b.len() > MAX {
            text.push('…');
        }
        return text;
    }
    match v {
        Value::Integer(n) => n.to_string(),
        Value::Array(p) if p.len() == 2 => format!("{} {}", brief(&p[0]), brief(&p[1])),
        other => format!("({})", shape(other)),
    }
}

#[cfg(test)]
mod tests;
