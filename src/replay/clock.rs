//! Wall-clock times in commands and replies, so a cassette recorded
//! yesterday still answers today.
//!
//! Some arguments are absolute times that a client computes from its own
//! clock (`EXPIREAT k <now+100>`); replayed on a later day they never equal
//! what was recorded. Instead of freezing time (Keploy's answer), replay
//! compares such an argument *relative to when it was sent*: the recorded
//! one against the recorded "now" (the header's `created` plus the
//! interaction's `at_ms`), the live one against the wall clock. When they
//! agree within [`TOLERANCE_MS`] the recording answers. Every time is read
//! against its own interaction's moment, never against an offset fixed at
//! a first match, so a replay at another pace than its recording fits.
//! Replies give back what this run sent for a recorded time (`EXPIRETIME`
//! after `EXPIREAT`), move any other absolute time by the distance from
//! their own moment, and `TIME` reads the live clock.
//!
//! Exact matching always comes first: a fixed time (`EXPIREAT k 1`) sent
//! as recorded is never shifted. A cassette without a readable `created`
//! gets no shifting at all, in arguments or in replies.
//!
//! Which arguments and replies are times comes from the command table
//! (`crate::command`), generated from the servers' own `COMMAND DOCS`.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
// Same reason as the matcher: local test server, no flood resistance needed.
use rustc_hash::FxHashMap as HashMap;

use crate::command::{locate, spec::ReplyTime, Class};
use crate::resp::Value;

/// How far apart a live and a recorded time argument may be, once each is
/// taken relative to its own "now": 2 s (2 in a seconds argument, 2000 in a
/// milliseconds one). A client that computes `now + 100` in whole seconds
/// truncates its clock (up to 1 s on each side), and a cassette written
/// before `created` had milliseconds loses up to one more second of
/// precision; anything looser would let unrelated times match.
pub const TOLERANCE_MS: i64 = 2000;

/// The unit of a time argument or reply, as the command table gives it.
pub use crate::command::spec::Unit;

fn to_ms(unit: Unit, value: i64) -> Option<i64> {
    match unit {
        Unit::Seconds => value.checked_mul(1000),
        Unit::Millis => Some(value),
    }
}

/// One argument that is an absolute wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeArg {
    /// Its index in the command (0 is the name).
    pub index: usize,
    /// Seconds or milliseconds.
    pub unit: Unit,
}

/// The absolute-time arguments of a command: those the command table says
/// Redis types `unix-time` (and RESTORE's ttl with ABSTTL), found where the
/// command's grammar puts them. Empty, without allocating, for every
/// command that has none (most).
pub fn time_args(args: &[Bytes]) -> Vec<TimeArg> {
    time_args_of(Class::of(args), args)
}

/// [`time_args`] of a request already classified.
pub fn time_args_of(class: Class, args: &[Bytes]) -> Vec<TimeArg> {
    match class.spec() {
        Some(spec) if !spec.time_args.is_empty() => locate::time_indexes(spec, args)
            .into_iter()
            // 0 is no moment a client computes from its clock: it means
            // "no expiry" (RESTORE … 0 ABSTTL), so it is matched as sent.
            .filter(|(index, _)| &args[*index][..] != b"0")
            .map(|(index, t)| TimeArg {
                index,
                unit: t.unit,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// What a masked time argument reads as in [`masked`].
const MASK: &[u8] = b"<time>";

/// The command with its time arguments masked and its name uppercased: two
/// commands with equal masks differ at most in their times.
pub fn masked(args: &[Bytes], times: &[TimeArg]) -> Vec<Bytes> {
    let mut out = args.to_vec();
    if let Some(name) = out.first_mut() {
        *name = Bytes::from(name.to_ascii_uppercase());
    }
    for t in times {
        if let Some(a) = out.get_mut(t.index) {
            *a = Bytes::from_static(MASK);
        }
    }
    out
}

fn parse_i64(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// Whether a recorded command's times, each relative to `recorded_now`,
/// equal the live command's relative to `live_now` (all ms since the
/// epoch), within [`TOLERANCE_MS`]. Returns the clock offset the pair
/// shows (live − recorded, ms, from the first time argument). Both are
/// peer input: unparsable or overflowing numbers simply do not fit.
pub fn fits(
    recorded: &[Bytes],
    recorded_now: i64,
    live: &[Bytes],
    live_now: i64,
    times: &[TimeArg],
) -> Option<i64> {
    let mut offset = None;
    for t in times {
        let rec = to_ms(t.unit, parse_i64(recorded.get(t.index)?)?)?;
        let now = to_ms(t.unit, parse_i64(live.get(t.index)?)?)?;
        // i128: the differences of two arbitrary i64 cannot overflow.
        let drift =
            (i128::from(now) - i128::from(live_now)) - (i128::from(rec) - i128::from(recorded_now));
        if drift.abs() > i128::from(TOLERANCE_MS) {
            return None;
        }
        if offset.is_none() {
            offset = Some(i64::try_from(i128::from(now) - i128::from(rec)).ok()?);
        }
    }
    offset
}

/// A recording that could answer a live command with shifted times.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Index of the recording.
    pub index: usize,
    /// Its recorded connection.
    pub conn: u64,
    /// When it was sent, ms since the recording started.
    pub at_ms: u64,
    /// The recorded command.
    pub cmd: &'a [Bytes],
    /// Already served once.
    pub used: bool,
}

/// Picks the recording that answers `live` (sent at `live_now`) among
/// `candidates` (in recording order). The matcher's rules carry over:
/// unused recordings first, those of the recorded connection `bound` to
/// this live one first, then the earliest (the *N*-th command gets the
/// *N*-th recording); when every fitting one is used, the last (so the
/// matcher repeats its reply).
pub fn choose<'a>(
    candidates: impl IntoIterator<Item = Candidate<'a>>,
    live: &[Bytes],
    times: &[TimeArg],
    clock: &Clock,
    live_now: i64,
    bound: Option<u64>,
) -> Option<usize> {
    let mut best: Option<(bool, usize)> = None;
    let mut last_used = None;
    for c in candidates {
        let recorded_now = clock.recorded_now(c.at_ms)?;
        if fits(c.cmd, recorded_now, live, live_now, times).is_none() {
            continue;
        }
        if c.used {
            last_used = Some(c.index);
            continue;
        }
        let rank = (bound.is_some_and(|b| b != c.conn), c.index);
        if best.map_or(true, |r| rank < r) {
            best = Some(rank);
        }
    }
    best.map(|(_, index)| index).or(last_used)
}

/// The recordings with time arguments, by [`masked`] command: the few
/// candidates an exact miss is checked against, with no scan of the whole
/// cassette.
#[derive(Debug, Default)]
pub struct ShiftIndex {
    by_masked: HashMap<Vec<Bytes>, Vec<usize>>,
}

impl ShiftIndex {
    /// Indexes recording `index` if its command has time arguments.
    pub fn add(&mut self, index: usize, cmd: &[Bytes]) {
        let times = time_args(cmd);
        if !times.is_empty() {
            self.by_masked
                .entry(masked(cmd, &times))
                .or_default()
                .push(index);
        }
    }

    /// The recordings (in recording order) whose command is `args` up to
    /// the time arguments `times`.
    pub fn candidates(&self, args: &[Bytes], times: &[TimeArg]) -> &[usize] {
        if times.is_empty() {
            return &[];
        }
        self.by_masked
            .get(&masked(args, times))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The wall clock now, ms since the epoch.
pub fn now_ms() -> i64 {
    system_ms(SystemTime::now()).unwrap_or_default()
}

fn system_ms(t: SystemTime) -> Option<i64> {
    i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_millis()).ok()
}

/// A header's `created` (RFC 3339 UTC, with or without fractional
/// seconds) in ms since the epoch; `None` when absent or unreadable.
pub fn created_ms(created: &str) -> Option<i64> {
    system_ms(humantime::parse_rfc3339(created).ok()?)
}

/// The replay server's clock: one per replay server, shared by every live
/// connection. Each time is read against the moment of its own
/// interaction, never against an offset fixed once, so a replay that runs
/// at another pace than its recording (a slower CI) still fits.
#[derive(Debug)]
pub struct Clock {
    /// When recording started, ms since the epoch; `None` disables shifting.
    created_ms: Option<i64>,
    /// The absolute times this run sent, in ms, by the recorded time each
    /// stood for: a reply holding a recorded time gives back the live one
    /// (and a fixed time sent as recorded maps to itself).
    sent: Mutex<HashMap<i64, i64>>,
}

impl Clock {
    /// The clock of a cassette whose header says `created`.
    pub fn new(created: &str) -> Clock {
        Clock {
            created_ms: created_ms(created),
            sent: Mutex::default(),
        }
    }

    /// When an interaction recorded at `at_ms` was sent, ms since the
    /// epoch; `None` for a cassette without `created`.
    pub fn recorded_now(&self, at_ms: u64) -> Option<i64> {
        self.created_ms?.checked_add(i64::try_from(at_ms).ok()?)
    }

    /// Notes the times a live command sent for those of the recording that
    /// answered it (`times` are the live command's; the recording has them
    /// at the same places): later replies holding a recorded time give back
    /// the live one.
    pub fn learn_sent(&self, recorded: &[Bytes], live: &[Bytes], times: &[TimeArg]) {
        if self.created_ms.is_none() || times.is_empty() {
            return;
        }
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        for t in times {
            let ms = |args: &[Bytes]| to_ms(t.unit, parse_i64(args.get(t.index)?)?);
            if let (Some(rec), Some(now)) = (ms(recorded), ms(live)) {
                sent.insert(rec, now);
            }
        }
    }

    /// The live time sent for a recorded one (ms), if this run sent one.
    fn sent_for(&self, recorded_ms: i64) -> Option<i64> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&recorded_ms)
            .copied()
    }

    /// How far a reply recorded at `at_ms` is moved when it holds a time
    /// this run did not send (an expiry set by `EX`, say): the wall clock's
    /// distance from that interaction's own moment. A distance within
    /// [`TOLERANCE_MS`] counts as none: a replay started right after
    /// recording must not see times moved by the second that has passed.
    pub fn offset(&self, at_ms: u64, now_ms: i64) -> Option<i64> {
        let recorded = self.recorded_now(at_ms)?;
        let elapsed = now_ms.saturating_sub(recorded);
        Some(if elapsed.abs() <= TOLERANCE_MS {
            0
        } else {
            elapsed
        })
    }

    /// Whether [`shift_reply`](Clock::shift_reply) may change a reply to
    /// `args` (its command's replies hold times): when not, a recorded
    /// reply goes out as it was recorded.
    pub fn may_shift_reply(&self, class: Class, args: &[Bytes]) -> bool {
        reply_kind(class, args).is_some()
    }

    /// The reply to send for a recorded `reply` to `args` (recorded at
    /// `at_ms`) when it holds an absolute time, shifted onto the replay's
    /// clock; `None` to send it as recorded. Cheap for other commands: a
    /// name check, no clock read.
    pub fn shift_reply(
        &self,
        class: Class,
        args: &[Bytes],
        reply: &Value,
        at_ms: u64,
    ) -> Option<Value> {
        let kind = reply_kind(class, args)?;
        let now = now_ms();
        let offset = self.offset(at_ms, now)?;
        if kind == ReplyKind::Time {
            // `TIME` reads the live clock, whatever was recorded.
            return reply.elements().map(|_| time_reply(now_us()));
        }
        shift(kind, reply, offset, |recorded| self.sent_for(recorded))
    }
}

/// Which replies hold absolute times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReplyKind {
    /// `EXPIRETIME` / `PEXPIRETIME`: an integer, or -1/-2 for none;
    /// `HEXPIRETIME` / `HPEXPIRETIME`: an array of those, one per field.
    Expiry(Unit),
    /// `TIME`: `[seconds, microseconds]` as bulk strings.
    Time,
}

fn reply_kind(class: Class, args: &[Bytes]) -> Option<ReplyKind> {
    let spec = class.spec()?;
    // Redis refuses a call of the wrong arity; its error is not a time.
    let arity = usize::from(spec.arity.unsigned_abs());
    let fits = if spec.arity >= 0 {
        args.len() == arity
    } else {
        args.len() >= arity
    };
    if !fits {
        return None;
    }
    Some(match spec.reply_time? {
        ReplyTime::Seconds => ReplyKind::Expiry(Unit::Seconds),
        ReplyTime::Millis => ReplyKind::Expiry(Unit::Millis),
        ReplyTime::Clock => ReplyKind::Time,
    })
}

/// `reply`'s times as this run has them: a time this run sent gives back
/// what it sent (`sent`, recorded ms to live ms), any other moves by
/// `offset_ms`; `None` when it holds no time (an error, `-1` no expiry,
/// `-2` no key, or an unexpected shape) or nothing changes.
fn shift(
    kind: ReplyKind,
    reply: &Value,
    offset_ms: i64,
    sent: impl Fn(i64) -> Option<i64> + Copy,
) -> Option<Value> {
    let ReplyKind::Expiry(unit) = kind else {
        return None;
    };
    match reply {
        Value::Array(items) => {
            let mut changed = false;
            let items = items
                .iter()
                .map(|item| match shift(kind, item, offset_ms, sent) {
                    Some(moved) => {
                        changed = true;
                        moved
                    }
                    None => item.clone(),
                })
                .collect();
            changed.then_some(Value::Array(items))
        }
        Value::Integer(n) if *n < 0 => None,
        Value::Integer(n) => {
            let moved = match (sent(to_ms(unit, *n)?), unit) {
                (Some(live), Unit::Millis) => live,
                (Some(live), Unit::Seconds) => live.div_euclid(1000),
                (None, Unit::Millis) => n.saturating_add(offset_ms),
                // Rounded to whole seconds.
                (None, Unit::Seconds) => {
                    let seconds = (i128::from(offset_ms) + 500).div_euclid(1000);
                    i64::try_from(i128::from(*n) + seconds).ok()?
                }
            };
            (moved != *n).then_some(Value::Integer(moved))
        }
        _ => None,
    }
}

/// The wall clock now, µs since the epoch.
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .unwrap_or_default()
}

/// `TIME`'s reply for `us` µs since the epoch: `[seconds, microseconds]`.
fn time_reply(us: i64) -> Value {
    Value::Array(vec![
        Value::bulk(us.div_euclid(1_000_000).to_string()),
        Value::bulk(us.rem_euclid(1_000_000).to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Bytes> {
        crate::command::args_of(&s.split(' ').collect::<Vec<_>>())
    }

    fn positions(s: &str) -> Vec<(usize, Unit)> {
        time_args(&args(s))
            .into_iter()
            .map(|t| (t.index, t.unit))
            .collect()
    }

    use Unit::{Millis, Seconds};

    #[test]
    fn time_arguments_come_from_the_command_table() {
        assert_eq!(positions("EXPIREAT k 1700000000 NX"), [(2, Seconds)]);
        assert_eq!(positions("pexpireat k 1700000000000"), [(2, Millis)]);
        assert_eq!(positions("EXPIREAT k"), []);
        assert_eq!(positions("SET k v NX GET EXAT 17"), [(6, Seconds)]);
        assert_eq!(positions("set k v pxat 17"), [(4, Millis)]);
        // The value and EX's argument are never taken for options.
        assert_eq!(positions("SET k EXAT EX 5"), []);
        assert_eq!(positions("SET k v EX EXAT"), []);
        assert_eq!(positions("SET k v EXAT"), []);
        assert_eq!(positions("GETEX k EXAT 17"), [(3, Seconds)]);
        assert_eq!(positions("GETEX k PXAT 17"), [(3, Millis)]);
        assert_eq!(positions("GETEX k PERSIST"), []);
        assert_eq!(positions("RESTORE k 17 payload ABSTTL"), [(2, Millis)]);
        assert_eq!(
            positions("RESTORE-ASKING k 17 p REPLACE IDLETIME 5 absttl"),
            [(2, Millis)]
        );
        assert_eq!(positions("RESTORE k 17 payload REPLACE"), []);
        assert_eq!(positions("RESTORE k 0 payload ABSTTL"), []);
        // IDLETIME's value is not an option, even when it reads ABSTTL.
        assert_eq!(positions("RESTORE k 17 p IDLETIME ABSTTL"), []);
        assert_eq!(
            positions("XCLAIM s g c 10 1-0 2-0 IDLE 5 TIME 17 RETRYCOUNT 2 FORCE"),
            [(10, Millis)]
        );
        assert_eq!(positions("XCLAIM s g c 10 1-0 LASTID 2-0"), []);
        assert_eq!(positions("GET k"), []);
        assert_eq!(positions("EXPIRE k 100"), []);
        // Redis 7.4 and 8: hash field expiry.
        assert_eq!(positions("HEXPIREAT h 17 FIELDS 1 f"), [(2, Seconds)]);
        assert_eq!(positions("hpexpireat h 17 NX FIELDS 1 f"), [(2, Millis)]);
        assert_eq!(positions("HGETEX h PXAT 17 FIELDS 1 f"), [(3, Millis)]);
        assert_eq!(
            positions("HSETEX h FXX EXAT 17 FIELDS 1 f v"),
            [(4, Seconds)]
        );
        // A field named like an option is a field.
        assert_eq!(positions("HGETEX h PERSIST FIELDS 2 EXAT 17"), []);
    }

    #[test]
    fn relative_times_fit_within_the_tolerance() {
        let rec = args("EXPIREAT k 1100");
        let times = time_args(&rec);
        // Recorded at 1000 s for +100 s; live at 90000 s for +100 s.
        let fit = |live: &str| fits(&rec, 1_000_000, &args(live), 90_000_000, &times);
        assert_eq!(fit("EXPIREAT k 90100"), Some(89_000_000));
        assert_eq!(fit("EXPIREAT k 90102"), Some(89_002_000));
        assert_eq!(fit("EXPIREAT k 90098"), Some(88_998_000));
        assert_eq!(fit("EXPIREAT k 90103"), None);
        assert_eq!(fit("EXPIREAT k 1100"), None);
        assert_eq!(fit("EXPIREAT k soon"), None);
        assert_eq!(fit("EXPIREAT k 9223372036854775807"), None);
        let rec = args("PEXPIREAT k -9223372036854775808");
        let far = fits(
            &rec,
            i64::MAX,
            &args("PEXPIREAT k 9223372036854775807"),
            i64::MIN,
            &time_args(&rec),
        );
        assert_eq!(far, None);
    }

    #[test]
    fn masks_hide_only_the_times() {
        let a = args("set k v EXAT 17");
        let b = args("SET k v EXAT 99");
        assert_eq!(masked(&a, &time_args(&a)), masked(&b, &time_args(&b)));
        let c = args("SET k2 v EXAT 99");
        assert_ne!(masked(&a, &time_args(&a)), masked(&c, &time_args(&c)));
    }

    #[test]
    fn created_reads_seconds_and_milliseconds() {
        assert_eq!(created_ms("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(created_ms("1970-01-01T00:00:01.250Z"), Some(1250));
        assert_eq!(created_ms("x"), None);
        assert_eq!(created_ms(""), None);
        assert_eq!(Clock::new("").recorded_now(5), None);
        assert_eq!(Clock::new("").offset(5, now_ms()), None);
    }

    #[test]
    fn replies_give_back_what_was_sent_else_move_with_their_own_moment() {
        let clock = Clock::new("1970-01-01T00:00:10Z");
        // The distance from the interaction's own moment, none within the
        // tolerance; never an offset learned elsewhere.
        assert_eq!(clock.offset(0, 10_000 + TOLERANCE_MS), Some(0));
        assert_eq!(clock.offset(0, 20_000), Some(10_000));
        assert_eq!(clock.offset(5_000, 20_000), Some(5_000));
        // A time sent comes back as sent: shifted (70 s for 100 s), or
        // fixed (a far date sent as recorded maps to itself).
        clock.learn_sent(
            &args("EXPIREAT k 100"),
            &args("EXPIREAT k 170"),
            &time_args(&args("EXPIREAT k 170")),
        );
        clock.learn_sent(
            &args("PEXPIREAT k 33177117420000"),
            &args("PEXPIREAT k 33177117420000"),
            &time_args(&args("PEXPIREAT k 1")),
        );
        let sent = |ms| clock.sent_for(ms);
        let expiry = ReplyKind::Expiry(Seconds);
        assert_eq!(
            shift(expiry, &Value::Integer(100), 5_000, sent),
            Some(Value::Integer(170))
        );
        assert_eq!(
            shift(expiry, &Value::Integer(33177117420), 5_000, sent),
            None
        );
        assert_eq!(
            shift(
                ReplyKind::Expiry(Millis),
                &Value::Integer(33177117420000),
                5_000,
                sent
            ),
            None
        );
        assert_eq!(
            clock
                .shift_reply(
                    Class::of(&args("TIME")),
                    &args("TIME"),
                    &Value::Array(vec![Value::bulk("1"), Value::bulk("0")]),
                    0
                )
                .map(|t| {
                    let secs = parse_i64(t.elements().unwrap()[0].as_bytes().unwrap()).unwrap();
                    (secs - now_ms() / 1000).abs() <= 1
                }),
            Some(true),
            "TIME reads the live clock"
        );

        let none = |_| None;
        assert_eq!(
            shift(expiry, &Value::Integer(100), 7_000, none),
            Some(Value::Integer(107))
        );
        assert_eq!(
            shift(expiry, &Value::Integer(100), 6_600, none),
            Some(Value::Integer(107))
        );
        assert_eq!(shift(expiry, &Value::Integer(-1), 7_000, none), None);
        assert_eq!(shift(expiry, &Value::Integer(-2), 7_000, none), None);
        assert_eq!(
            shift(ReplyKind::Expiry(Millis), &Value::Integer(100), -50, none),
            Some(Value::Integer(50))
        );
        assert_eq!(shift(expiry, &Value::error("ERR x"), 7_000, none), None);
        assert_eq!(reply_kind_of(&args("expiretime k")), Some(expiry));
        assert_eq!(reply_kind_of(&args("TIME")), Some(ReplyKind::Time));
        assert_eq!(reply_kind_of(&args("TIME x")), None);
        assert_eq!(reply_kind_of(&args("TTL k")), None);
        assert_eq!(
            reply_kind_of(&args("HPEXPIRETIME h FIELDS 2 a b")),
            Some(ReplyKind::Expiry(Millis))
        );
        // One time per field; -2 (no field) and -1 (no expiry) stay.
        let fields = Value::Array(vec![
            Value::Integer(100),
            Value::Integer(-1),
            Value::Integer(-2),
        ]);
        assert_eq!(
            shift(expiry, &fields, 7_000, none),
            Some(Value::Array(vec![
                Value::Integer(107),
                Value::Integer(-1),
                Value::Integer(-2)
            ]))
        );
        let missing = Value::Array(vec![Value::Integer(-2)]);
        assert_eq!(shift(expiry, &missing, 7_000, none), None);
        assert!(clock
            .shift_reply(Class::default(), &args("GET k"), &Value::Integer(5), 0)
            .is_none());
    }

    fn reply_kind_of(args: &[Bytes]) -> Option<ReplyKind> {
        reply_kind(Class::of(args), args)
    }

    mod matcher {
        use super::super::*;
        use crate::cassette::{Cassette, Event, Header, Interaction};
        use crate::replay::matcher::{Matched, Matcher};

        fn args(s: &str) -> Vec<Bytes> {
            super::args(s)
        }

        /// A cassette created at 1000 s whose interactions are sent at
        /// `at_ms`, each replying its position.
        fn matcher(cmds: &[(u64, u64, &str)], repeat: bool) -> (Matcher, Clock) {
            let header = Header {
                created: "1970-01-01T00:16:40Z".into(),
                ..Header::new(None)
            };
            let events = cmds
                .iter()
                .enumerate()
                .map(|(i, (conn, at_ms, cmd))| {
                    Event::Interaction(Interaction {
                        conn: *conn,
                        db: 0,
                        seq: i as u64,
                        at_ms: *at_ms,
                        took_us: 1,
                        cmd: args(cmd),
                        replies: vec![Value::Integer(i as i64)],
                    })
                })
                .collect();
            let clock = Clock::new(&header.created);
            let cassette = Cassette {
                header,
                events,
                warnings: Vec::new(),
            };
            (Matcher::new(cassette, Vec::new(), repeat), clock)
        }

        fn reply(m: &mut Matcher, clock: &Clock, cmd: &str, now_ms: i64) -> Option<i64> {
            let found = match m.find(1, 0, &args(cmd)) {
                Matched::Miss { .. } => m.find_shifted(1, 0, &args(cmd), clock, now_ms)?,
                hit => hit,
            };
            crate::replay::matcher::tests::hit_integer(m, found)
        }

        #[test]
        fn shifted_times_keep_the_nth_and_repeat_rules() {
            // Recorded at 1000 s and 1001 s, each for "now + 100 s".
            let (mut m, clock) = matcher(
                &[
                    (1, 0, "EXPIREAT k 1100"),
                    (1, 1000, "EXPIREAT k 1101"),
                    (1, 1000, "EXPIREAT k2 2000000000"),
                ],
                true,
            );
            m.connect(1);
            let day = 86_400_000;
            let now = 1_000_000 + day;
            assert_eq!(reply(&mut m, &clock, "EXPIREAT k 87500", now), Some(0));
            assert_eq!(
                reply(&mut m, &clock, "EXPIREAT k 87501", now + 1000),
                Some(1)
            );
            // Both used: the last that fits repeats.
            assert_eq!(
                reply(&mut m, &clock, "EXPIREAT k 87501", now + 1000),
                Some(1)
            );
            assert_eq!(m.counters().repeated, 1);
            // Far off the tolerance: a miss.
            assert_eq!(reply(&mut m, &clock, "EXPIREAT k 87600", now), None);
            // A fixed time still matches exactly.
            assert_eq!(
                reply(&mut m, &clock, "EXPIREAT k2 2000000000", now),
                Some(2)
            );
        }

        #[test]
        fn a_miss_does_not_use_a_recording() {
            let (mut m, clock) = matcher(&[(1, 0, "PEXPIREAT k 1005000")], false);
            m.connect(1);
            let now = 5_000_000;
            assert_eq!(reply(&mut m, &clock, "PEXPIREAT k 5009000", now), None);
            assert_eq!(reply(&mut m, &clock, "PEXPIREAT k 5005100", now), Some(0));
            // --no-repeat: used up is a miss.
            assert_eq!(reply(&mut m, &clock, "PEXPIREAT k 5005100", now), None);
            // No `created`: no shifting.
            let (mut m, _) = matcher(&[(1, 0, "PEXPIREAT k 1005000")], true);
            m.connect(1);
            let blind = Clock::new("");
            assert_eq!(reply(&mut m, &blind, "PEXPIREAT k 5005000", now), None);
        }
    }
}
