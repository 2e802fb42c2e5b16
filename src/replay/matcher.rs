//! Which recording answers a live command, and who receives recorded pushes.
//!
//! Built once from a loaded cassette; shared by every live connection behind
//! one lock (lookups are a hash probe and a cursor bump). A cassette of any
//! size is held in about the memory of its file: commands and replies
//! packed in `store` (replies as the client receives them), the index
//! from match keys to recordings in three flat arrays (`queues`).

use std::collections::{HashSet, VecDeque};

// Fx hashing: every replayed command hashes its arguments and looks up its
// connection; SipHash's flood resistance buys nothing for a local test server.
use rustc_hash::{FxHashMap as HashMap, FxHashSet};

use bytes::Bytes;

use super::clock::{self, Candidate, Clock, ShiftIndex};
use binding::History;
use owners::Owners;

use super::display::{display_command, edit_distance};
use super::handshake::is_handshake;
use super::memory;
use super::tokens::{self, TokenMap};
use crate::cassette::{Cassette, ConnState, Event, Interaction};
use crate::command::{self, Class, Namespace};
use crate::pattern::IgnoreRule;
use crate::resp::is_resp2;
use crate::resp::Value;
use key_table::hash_key;
use keys::{key_of, Transaction};
use queues::Queues;
use store::{Place, Store};

/// One recorded interaction: what matching reads on every command. The
/// rest (its times, command and replies) is packed in the matcher's
/// `store`: [`Matcher::at_ms`], [`Matcher::cmd`], [`Matcher::replies`]
/// and the others unpack it, [`Matcher::reply_wire`] gives the replies as
/// sent. 24 bytes: a big cassette holds millions.
#[derive(Debug)]
pub struct Recording {
    /// Recorded connection.
    pub conn: u64,
    /// Its store buffer (low 24 bits) and what its replies are
    /// ([`Recording::FLAGS`], high 8 bits).
    chunk_flags: u32,
    /// Its offset in that buffer.
    offset: u32,
    /// Its match key's id (an index into the matcher's queues).
    key: u32,
    /// Its position among its recorded connection's interactions.
    pos: u32,
}

impl Recording {
    /// The bits of `chunk_flags` that are flags.
    const FLAGS: u32 = 0xff00_0000;
    /// Every reply reads the same in RESP2 (no downgrade needed).
    const RESP2: u32 = 1 << 24;
    /// Its replies are kept decoded in `Matcher::odd_replies` (a line
    /// string with a line break, which RESP cannot carry).
    const DECODED: u32 = 1 << 25;
    /// Its first reply is an error.
    const ERROR: u32 = 1 << 26;
    /// It has exactly one reply, and that is a null.
    const NULL: u32 = 1 << 27;
    /// It got no reply (`CLIENT REPLY OFF`).
    const SILENT: u32 = 1 << 28;
    /// Its command is its match key, packed with the key, not with it.
    const CMD_IS_KEY: u32 = 1 << 29;

    fn place(&self) -> Place {
        Place {
            chunk: self.chunk_flags & !Self::FLAGS,
            offset: self.offset,
        }
    }

    fn has(&self, flag: u32) -> bool {
        self.chunk_flags & flag != 0
    }

    /// Whether its first reply is an error.
    pub fn is_error(&self) -> bool {
        self.has(Self::ERROR)
    }

    /// Whether it got no reply (`CLIENT REPLY OFF`): Redis ran it anyway.
    pub fn is_silent(&self) -> bool {
        self.has(Self::SILENT)
    }

    /// Whether its one reply is a null (a blocking command that timed out).
    pub fn is_null(&self) -> bool {
        self.has(Self::NULL)
    }
}

/// A recorded push.
#[derive(Debug)]
pub struct RecordedPush {
    /// The recorded connection that received it.
    pub conn: u64,
    /// When, ms since the recording started.
    pub at_ms: u64,
    /// What was pushed.
    pub value: Value,
}

/// A push to deliver to a live connection.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The live connection.
    pub live: u64,
    /// The push (index into the matcher's pushes).
    pub push: usize,
    /// Recorded gap between the triggering reply and the push, ms.
    pub gap_ms: u64,
}

/// The outcome of matching one live command.
#[derive(Debug)]
pub enum Matched {
    /// A recording answers it.
    Hit {
        /// Index of the recording.
        recording: usize,
        /// True when every identical recording was used and the last repeats.
        repeated: bool,
        /// Pushes now due (none on a repeat).
        deliveries: Vec<Delivery>,
        /// Live connections to close now: the server closed their recorded
        /// connections at this point (none on a repeat).
        closes: Vec<u64>,
    },
    /// Nothing recorded matches.
    Miss {
        /// The closest recorded command.
        closest: Option<Closest>,
    },
}

/// The recorded command most like a missed one, for the miss error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closest {
    /// The command, displayed.
    pub shown: String,
    /// Its database, when it is not the missed command's.
    pub other_db: Option<u32>,
    /// Its first recording (an index into the recordings, which is the
    /// interaction's place in the cassette).
    pub recording: Option<usize>,
    /// Its match key, to say why the miss did not match it.
    pub key: Vec<Bytes>,
}

impl std::fmt::Display for Closest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}'", self.shown.replace(['\r', '\n'], " "))?;
        if let Some(db) = self.other_db {
            write!(f, " in db {db}")?;
        }
        Ok(())
    }
}

/// The state of a live connection that the matcher needs.
#[derive(Debug, Default)]
struct Live {
    bound: Option<u64>,
    subscriptions: HashSet<(Namespace, Bytes)>,
    /// What it was served lately, to judge which recording it replays.
    history: History,
    /// Its place in the bound recorded connection: the last recording it
    /// was served from there (an index into the recordings).
    place: Option<usize>,
    /// The last move of its binding that was weighed and declined.
    declined: Option<binding::Question>,
    /// Its open transaction, if any (see [`keys`]).
    transaction: Transaction,
    /// How many commands it was served from the cassette: its place in
    /// its own order, for judging which recording it replays.
    served: u32,
}

/// A match key holding random-looking tokens: its id (the key itself is
/// in the store).
type TokenKey = u32;

/// Counts for the shutdown report.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Commands answered from the cassette (repeats included).
    pub served: u64,
    /// Of those, answered by repeating the last reply.
    pub repeated: u64,
    /// Commands with no recording.
    pub missed: u64,
    /// The first few missed commands, displayed.
    pub first_misses: Vec<String>,
}

/// How many examples a report lists.
pub const REPORT_EXAMPLES: usize = 10;

/// How long after a script's reply its `MONITOR` lines may be written, ms.
const SCRIPT_LINE_MS: u64 = 50;

/// How many free recorded connections are weighed when a binding may move.
const CANDIDATES: usize = 8;

/// How many events [`Matcher::add`] holds before indexing them: enough
/// for memory to answer a prefetch (a line is indexed in about a
/// microsecond), few enough to stay in the cache.
const LOOKAHEAD: usize = 8;

/// The matcher proper.
#[derive(Debug)]
pub struct Matcher {
    recordings: Vec<Recording>,
    pushes: Vec<RecordedPush>,
    /// Recording → pushes recorded after it and before the next one. A side
    /// table: most recordings have none, and a million empty lists cost.
    pushes_after: HashMap<usize, Vec<usize>>,
    /// Pushes seen before any interaction, while indexing.
    leading_pushes: Vec<usize>,
    /// Recording → recorded connections the server closed right after it
    /// (a timeout, a limit, a kill from outside the recording): a side
    /// table like `pushes_after`.
    closes_after: HashMap<usize, Vec<u64>>,
    /// Recorded `CLIENT KILL`s and the connections each closed.
    kills: kills::Kills,
    /// Recorded connections that ran `MONITOR`: the lines pushed to them
    /// are not delivered (replay writes its own from the live commands).
    recorded_monitors: FxHashSet<u64>,
    /// Live connections in `MONITOR` mode.
    monitors: Vec<u64>,
    /// Script recording → the monitor lines of the commands it ran inside
    /// the server (`[0 lua]`), fed to live monitors when it is served.
    script_lines: HashMap<usize, Vec<Bytes>>,
    /// While indexing: script lines seen before their script's interaction
    /// (the monitor's lines and the script's reply race to the recorder).
    pending_script_lines: Vec<Bytes>,
    /// While indexing: the latest script interaction, and when it ended
    /// (ms), for the script lines written after it.
    last_script: Option<(usize, u64)>,
    /// The highest recorded connection id.
    max_conn: u64,
    /// The recordings' commands and replies, and the match keys, packed.
    store: Store,
    /// Replies RESP cannot carry as they are (see [`Recording::DECODED`]).
    odd_replies: HashMap<usize, Vec<Value>>,
    /// (database, match key) → key id, and each key's recordings by
    /// recorded connection.
    queues: Queues,
    /// Whether `queues` is laid out (see [`finish`](Matcher::finish)).
    built: bool,
    /// Events [`add`](Matcher::add)ed but not indexed yet, with their
    /// command's class and the hash of their likely key: a line's key is
    /// looked up [`LOOKAHEAD`] lines after its slot in the key table was
    /// asked for, and half as many after its bytes were, so the look-up
    /// finds them in the cache rather than waiting on memory.
    pending: VecDeque<(Event, Option<(Class, u64)>)>,
    /// recorded connection → the match key id of each of its recordings,
    /// in order, for judging fits: kept apart from the recordings, so
    /// the recent keys of a connection are a few lines of memory to read
    /// rather than a line per recording, spread through them.
    conn_keys: HashMap<u64, Vec<u32>>,
    /// Match in the database a command runs in. Off for cassettes written
    /// before interactions carried their database.
    track_db: bool,
    rules: Vec<IgnoreRule>,
    /// Repeat the last reply once all identical recordings are used.
    repeat: bool,
    served: Vec<bool>,
    /// How often each recording answered, and the misses, for the report.
    outcomes: Outcomes,
    /// Which live connection each recorded connection is bound to, and
    /// which are retired: their live connection closed, so what they have
    /// left is a dead client's (a test that failed half-way), served to
    /// another connection only when nothing else matches.
    owners: Owners,
    /// Bumped by whatever can change which recorded connections are free
    /// with unused recordings (a recording taken or given back, a binding
    /// made or dropped): a declined move of a binding holds while it stays.
    changes: u64,
    live: HashMap<u64, Live>,
    counters: Counters,
    /// Recordings with wall-clock time arguments, for
    /// [`find_shifted`](Matcher::find_shifted).
    shifted: ShiftIndex,
    /// database → token form → the match keys of that form (their ids and
    /// the keys): only keys holding a random-looking token, for
    /// [`find_tokened`](Matcher::find_tokened).
    token_forms: HashMap<u32, HashMap<Vec<Bytes>, Vec<TokenKey>>>,
    /// Values the client made up, paired with the recorded ones.
    tokens: TokenMap,
    /// While indexing: each recorded connection's open transaction.
    recorded_transactions: HashMap<u64, Transaction>,
}

impl Matcher {
    /// Indexes a loaded cassette.
    pub fn new(cassette: Cassette, rules: Vec<IgnoreRule>, repeat: bool) -> Matcher {
        let mut matcher = Matcher::empty(rules, repeat);
        matcher.set_track_db(cassette.header.db.is_some());
        for event in cassette.events {
            matcher.add(event);
        }
        matcher.finish();
        matcher
    }

    /// Lays out the index once every event is added; nothing is looked up
    /// before. Calling it again does nothing. Memory freed by the load,
    /// then by the layout, is given back to the system at once (see
    /// `replay::memory`).
    pub fn finish(&mut self) {
        if self.built {
            return;
        }
        while let Some((event, ahead)) = self.pending.pop_front() {
            self.index(event, ahead);
        }
        self.pending = VecDeque::new();
        self.built = true;
        // Before the layout allocates its own scratch: that was a large
        // load's peak.
        memory::give_back_freed();
        self.store.finish();
        let of = self.recordings.iter().map(|r| (r.key, r.conn));
        self.queues.build(of, self.conn_keys.keys().copied());
        self.owners = Owners::with_conns(self.queues.conn_count());
        self.recordings.shrink_to_fit();
        self.served.shrink_to_fit();
        self.outcomes.shrink_to_fit();
        for list in self.conn_keys.values_mut() {
            list.shrink_to_fit();
        }
        memory::give_back_freed();
    }

    /// Makes room for about `events` recordings before
    /// [`add`](Matcher::add)s (see [`crate::cassette::estimated_events`]): the
    /// vectors every recording extends are then allocated once, not
    /// copied at every doubling. Room left over costs address space, not
    /// memory, and [`finish`](Matcher::finish) gives it back.
    pub fn reserve(&mut self, events: usize) {
        self.recordings.reserve(events);
        self.served.reserve(events);
        self.outcomes.reserve(events);
    }

    /// A matcher with no recordings yet; [`add`](Matcher::add) fills it.
    pub fn empty(rules: Vec<IgnoreRule>, repeat: bool) -> Matcher {
        Matcher {
            recordings: Vec::new(),
            pushes: Vec::new(),
            pushes_after: HashMap::default(),
            leading_pushes: Vec::new(),
            closes_after: HashMap::default(),
            kills: kills::Kills::default(),
            recorded_monitors: FxHashSet::default(),
            monitors: Vec::new(),
            script_lines: HashMap::default(),
            pending_script_lines: Vec::new(),
            last_script: None,
            store: Store::default(),
            odd_replies: HashMap::default(),
            queues: Queues::default(),
            built: false,
            pending: VecDeque::with_capacity(LOOKAHEAD + 1),
            conn_keys: HashMap::default(),
            track_db: true,
            rules,
            repeat,
            served: Vec::new(),
            outcomes: Outcomes::default(),
            max_conn: 0,
            owners: Owners::default(),
            changes: 0,
            live: HashMap::default(),
            counters: Counters::default(),
            shifted: ShiftIndex::default(),
            token_forms: HashMap::default(),
            tokens: TokenMap::default(),
            recorded_transactions: HashMap::default(),
        }
    }

    /// Whether commands match only recordings of their own database (the
    /// cassette header says whether interactions carry one).
    pub fn set_track_db(&mut self, track: bool) {
        self.track_db = track;
    }

    /// Indexes one cassette event (in file order), a few events later:
    /// meanwhile what looking up its key will read is fetched from memory
    /// (see `Matcher::pending`). [`finish`](Matcher::finish) indexes the
    /// last ones.
    pub fn add(&mut self, event: Event) {
        let ahead = match &event {
            Event::Interaction(i) => {
                let (class, hash) = self.class_and_hash(i);
                self.queues.prefetch_slot(hash);
                Some((class, hash))
            }
            _ => None,
        };
        self.pending.push_back((event, ahead));
        if let Some((_, Some((_, hash)))) = self.pending.get(LOOKAHEAD / 2) {
            self.queues.prefetch_key(*hash);
        }
        if self.pending.len() > LOOKAHEAD {
            if let Some((event, ahead)) = self.pending.pop_front() {
                self.index(event, ahead);
            }
        }
    }

    /// An interaction's command class, and the hash of the key it is
    /// matched under outside a transaction: worked out once, by
    /// [`add`](Matcher::add), for the prefetch and then the look-up
    /// (inside a transaction the prefetch is merely wasted).
    fn class_and_hash(&self, i: &Interaction) -> (Class, u64) {
        let class = Class::of(&i.cmd);
        (class, hash_key(i.db, &key_of(&i.cmd, &self.rules, class)))
    }

    /// Indexes one cassette event (in file order); `ahead` is what
    /// [`class_and_hash`](Matcher::class_and_hash) said of it, when it is
    /// an interaction.
    fn index(&mut self, event: Event, ahead: Option<(Class, u64)>) {
        self.max_conn = self.max_conn.max(event.conn());
        match event {
            Event::Interaction(i) => {
                let index = self.recordings.len();
                let (class, hash) = ahead.unwrap_or_else(|| self.class_and_hash(&i));
                // Look up by reference: most keys repeat, and copying every
                // command into a fresh key would cost a million allocations.
                let transaction = self.recorded_transactions.entry(i.conn).or_default();
                // Outside a transaction the key is `class_and_hash`'s, and
                // so is its hash.
                let same_key = !transaction.is_open();
                let (key_db, key) =
                    transaction.key(i.db, key_of(&i.cmd, &self.rules, class), class);
                transaction.follow(&key, class, &i.cmd, i.replies.first());
                debug_assert!(!self.built, "a recording added after finish()");
                let key_is_cmd = *key == i.cmd[..];
                let hash = match same_key {
                    true => hash,
                    false => hash_key(key_db, &key),
                };
                debug_assert_eq!(hash, hash_key(key_db, &key));
                let (id, new) = self.queues.find_or_add(key_db, &key, hash);
                if new {
                    if let Some(form) = tokens::token_form(&key) {
                        let forms = self.token_forms.entry(key_db).or_default();
                        forms.entry(form).or_default().push(id);
                    }
                }
                let in_conn = self.conn_keys.entry(i.conn).or_default();
                let pos = in_conn.len() as u32;
                in_conn.push(id);
                // Pushes before the first interaction go with the first one.
                if index == 0 && !self.leading_pushes.is_empty() {
                    self.pushes_after
                        .insert(0, std::mem::take(&mut self.leading_pushes));
                }
                self.shifted.add(index, &i.cmd);
                if is_monitor(&i.cmd, &i.replies) {
                    self.recorded_monitors.insert(i.conn);
                }
                if runs_script(class) {
                    self.last_script = Some((index, i.at_ms + i.took_us / 1000));
                    if !self.pending_script_lines.is_empty() {
                        self.script_lines
                            .insert(index, std::mem::take(&mut self.pending_script_lines));
                    }
                }
                let killed = kills::killed(&i.cmd, &i.replies);
                if killed > 0 {
                    for (conn, after) in self.kills.kill(index, i.at_ms, i.took_us, killed) {
                        let list = after.and_then(|a| self.closes_after.get_mut(&a));
                        if let Some(list) = list {
                            list.retain(|&c| c != conn);
                        }
                    }
                }
                let mut flags = 0;
                if i.replies.iter().all(is_resp2) {
                    flags |= Recording::RESP2;
                }
                match i.replies.first() {
                    Some(first) if first.is_error() => flags |= Recording::ERROR,
                    None => flags |= Recording::SILENT,
                    _ => {}
                }
                if let [Value::Null | Value::NullArray | Value::NullBulk] = i.replies.as_slice() {
                    flags |= Recording::NULL;
                }
                let cmd = match key_is_cmd {
                    true => {
                        flags |= Recording::CMD_IS_KEY;
                        None
                    }
                    false => Some(&i.cmd[..]),
                };
                let place = if i.replies.iter().all(store::wire_safe) {
                    self.store
                        .push_recording(i.at_ms, i.took_us, &i.replies, cmd)
                } else {
                    flags |= Recording::DECODED;
                    let place = self.store.push_recording(i.at_ms, i.took_us, &[], cmd);
                    self.odd_replies.insert(index, i.replies);
                    place
                };
                self.recordings.push(Recording {
                    conn: i.conn,
                    chunk_flags: place.chunk | flags,
                    offset: place.offset,
                    key: id,
                    pos,
                });
                self.served.push(false);
                self.outcomes.add_recording();
            }
            Event::Push(p) => {
                if let (true, Value::Simple(line)) =
                    (self.recorded_monitors.contains(&p.conn), &p.push)
                {
                    // A script's command: kept for the script, once (each
                    // monitor got its own copy of the line).
                    if line.windows(6).any(|w| w == b" lua] ") {
                        // Written just after its script's reply, or just
                        // before it.
                        let lines = match self.last_script {
                            Some((script, ended)) if p.at_ms <= ended + SCRIPT_LINE_MS => {
                                self.script_lines.entry(script).or_default()
                            }
                            _ => &mut self.pending_script_lines,
                        };
                        if !lines.contains(line) {
                            lines.push(line.clone());
                        }
                    }
                    return;
                }
                let index = self.pushes.len();
                self.pushes.push(RecordedPush {
                    conn: p.conn,
                    at_ms: p.at_ms,
                    value: p.push,
                });
                match self.recordings.len().checked_sub(1) {
                    Some(last) => self.pushes_after.entry(last).or_default().push(index),
                    None => self.leading_pushes.push(index),
                }
            }
            Event::Connection(c) => match c.event {
                ConnState::Open => self.kills.opened(c.conn, c.at_ms),
                ConnState::Close => {
                    let last = self.recordings.len().checked_sub(1);
                    let claimed = self.kills.closed(c.conn, c.at_ms, c.by_server, last);
                    if c.by_server && !claimed {
                        if let Some(last) = last {
                            self.closes_after.entry(last).or_default().push(c.conn);
                        }
                    }
                }
            },
        }
    }

    /// The highest recorded connection id (0 for an empty cassette).
    pub fn max_conn(&self) -> u64 {
        self.max_conn
    }

    /// A recording by index.
    pub fn recording(&self, index: usize) -> &Recording {
        &self.recordings[index]
    }

    /// When a recording's request came, ms since the recording started.
    pub fn at_ms(&self, index: usize) -> u64 {
        self.store.meta(self.recordings[index].place()).at_ms
    }

    /// How long a recording's reply took, µs.
    pub fn took_us(&self, index: usize) -> u64 {
        self.store.meta(self.recordings[index].place()).took_us
    }

    /// The database a recording ran in.
    pub fn db(&self, index: usize) -> u32 {
        self.queues.key(self.recordings[index].key).db & !keys::IN_TRANSACTION
    }

    /// A recording's command, unpacked.
    pub fn cmd(&self, index: usize) -> Vec<Bytes> {
        let r = &self.recordings[index];
        if r.has(Recording::CMD_IS_KEY) {
            return self.queues.key_args(r.key);
        }
        self.store.cmd(&self.store.meta(r.place()))
    }

    /// A recording's command as packed: compared as bytes, without
    /// unpacking it (see [`Store::packed_args`](store::Store::packed_args)).
    fn packed_cmd(&self, index: usize) -> &[u8] {
        let r = &self.recordings[index];
        if r.has(Recording::CMD_IS_KEY) {
            return self.queues.packed_key(r.key);
        }
        self.store.packed_cmd(&self.store.meta(r.place()))
    }

    /// A recording's replies, decoded.
    pub fn replies(&self, index: usize) -> Vec<Value> {
        let r = &self.recordings[index];
        if r.has(Recording::DECODED) {
            return self.odd_replies.get(&index).cloned().unwrap_or_default();
        }
        self.store.replies(&self.store.meta(r.place()))
    }

    /// A recording's first reply, decoded.
    pub fn first_reply(&self, index: usize) -> Option<Value> {
        self.replies(index).into_iter().next()
    }

    /// A recording's replies as the server sent them, when a client on
    /// `protocol` reads them the same (RESP3, or replies that are RESP2
    /// already): written as they are, with no decoding.
    pub fn reply_wire(&self, index: usize, protocol: u8) -> Option<Bytes> {
        let r = &self.recordings[index];
        if r.has(Recording::DECODED) || (protocol != 3 && !r.has(Recording::RESP2)) {
            return None;
        }
        let meta = self.store.meta(r.place());
        Some(self.store.bytes(meta.replies, meta.reply_len))
    }

    /// A recorded push by index.
    pub fn push(&self, index: usize) -> &RecordedPush {
        &self.pushes[index]
    }

    /// Registers a live connection.
    pub fn connect(&mut self, live: u64) {
        self.live.insert(live, Live::default());
    }

    /// Puts a live connection in `MONITOR` mode, or takes it out (`RESET`).
    pub fn monitor(&mut self, live: u64, on: bool) {
        self.monitors.retain(|&m| m != live);
        if on {
            self.monitors.push(live);
        }
    }

    /// The live connections in `MONITOR` mode.
    pub fn monitors(&self) -> &[u64] {
        &self.monitors
    }

    /// The monitor lines of what script recording `recording` ran inside
    /// the server.
    pub fn script_lines(&self, recording: usize) -> &[Bytes] {
        self.script_lines
            .get(&recording)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Forgets a live connection and retires its recorded connection: what
    /// it left unused is reported so, and not served to other connections
    /// while anything else matches.
    pub fn disconnect(&mut self, live: u64) {
        self.monitors.retain(|&m| m != live);
        if let Some(state) = self.live.remove(&live) {
            if let Some(conn) = state.bound {
                let index = self.queues.conn_index(conn);
                self.owners.retire(conn, index);
                self.changes += 1;
            }
        }
    }

    /// Finds the reply for `args` sent by live connection `live`, whose
    /// selected database is `db`.
    pub fn find(&mut self, live: u64, db: u32, args: &[Bytes]) -> Matched {
        self.find_with(live, db, args, Class::of(args))
    }

    /// [`find`](Matcher::find) for a request already classified (the
    /// session classifies each request once).
    pub fn find_with(&mut self, live: u64, db: u32, args: &[Bytes], class: Class) -> Matched {
        // One lookup of the live connection: its binding, and its
        // transaction's say on the key (see [`keys`]).
        let key = key_of(args, &self.rules, class);
        let db = if self.track_db { db } else { 0 };
        let (bound_to, place, (db, key)) = match self.live.get(&live) {
            Some(l) => (l.bound, l.place, l.transaction.key(db, key, class)),
            None => (None, None, (db, key)),
        };
        let Some(id) = self.queues.find(db, &key) else {
            return self.miss(db, &key);
        };
        let handshake = is_handshake(class, args);
        // The bound recorded connection's next unused recording: the common
        // case, decided without weighing anything. A handshake call the
        // recorder may leave out (trivial: recorded only when it failed or
        // said more) is served only where it is due; one it always keeps
        // (`QUIT`, `RESET`, `READONLY`, `CLIENT ID`…) is served in order like
        // any command, so that a command the test dropped before it does
        // not leave its recording unused too.
        let due_only = handshake && class.is_trivial();
        let taken = bound_to
            .filter(|&conn| !due_only || self.is_due(conn, id, place))
            .and_then(|conn| self.take(id, conn, place));
        let (recording, repeated) = match taken {
            Some(recording) => (recording, false),
            None => match self.choose(live, id, bound_to, handshake) {
                Some(found) => found,
                None => return self.miss(db, &key),
            },
        };
        let mut in_transaction = false;
        if let Some(l) = self.live.get_mut(&live) {
            let r = &self.recordings[recording];
            l.history.push(id, recording, r.conn);
            l.served += 1;
            if !repeated && l.bound == Some(r.conn) {
                l.place = Some(recording);
            }
            in_transaction = l.transaction.cares(class);
        }
        // Inside `MULTI`, queued under the recorded command.
        if in_transaction {
            let cmd = self.cmd(recording);
            let first = self.first_reply(recording);
            let recorded = key_of(&cmd, &self.rules, class);
            if let Some(l) = self.live.get_mut(&live) {
                l.transaction.follow(&recorded, class, &cmd, first.as_ref());
            }
        }
        if !self.rules.is_empty() {
            self.learn_ignored(recording, args, class);
        }
        self.counters.served += 1;
        self.outcomes.answered(recording, repeated);
        let mut deliveries = Vec::new();
        let mut closes = Vec::new();
        if repeated {
            self.counters.repeated += 1;
        } else {
            deliveries = self.deliveries(recording, live);
            closes = self.closes(recording, live);
        }
        Matched::Hit {
            recording,
            repeated,
            deliveries,
            closes,
        }
    }

    /// The database (marked inside a transaction) and key a live
    /// connection's command is matched under (see [`keys`]).
    fn live_key<'a>(
        &self,
        live: u64,
        db: u32,
        args: &'a [Bytes],
        class: Class,
    ) -> (u32, std::borrow::Cow<'a, [Bytes]>) {
        let db = if self.track_db { db } else { 0 };
        let key = key_of(args, &self.rules, class);
        match self.live.get(&live) {
            Some(l) => l.transaction.key(db, key, class),
            None => (db, key),
        }
    }

    /// Follows a live connection's transaction for a command no recording
    /// answered (a miss, a fault): `args` as sent, `reply` when known. A
    /// recorded answer is followed by [`find`](Matcher::find) itself.
    pub fn follow(&mut self, live: u64, args: &[Bytes], class: Class, reply: Option<&Value>) {
        let Some(l) = self.live.get_mut(&live) else {
            return;
        };
        if l.transaction.cares(class) {
            let key = key_of(args, &self.rules, class);
            l.transaction.follow(&key, class, args, reply);
        }
    }

    /// Takes recorded connection `conn`'s next unused recording of key `id`
    /// (see [`pick`](Matcher::pick) for which).
    fn take(&mut self, id: u32, conn: u64, place: Option<usize>) -> Option<usize> {
        let (q, at) = self.pick(id, conn, place)?;
        let index = self.queues.item(at);
        let queue = self.queues.queue_mut(q);
        if at == queue.next as usize {
            queue.next += 1;
        }
        self.queues.key_mut(id).unused -= 1;
        self.served[index] = true;
        self.changes += 1;
        Some(index)
    }

    /// Where in `conn`'s recordings of key `id` the next one to serve is: the
    /// first unused one recorded after `place` (the live connection's place
    /// in `conn`), else the first unused one. Recordings a live connection
    /// left behind (a test that failed half-way sent no more of them) stay
    /// behind: the next test's identical command gets its own.
    fn pick(&mut self, id: u32, conn: u64, place: Option<usize>) -> Option<(usize, usize)> {
        if self.queues.key(id).unused == 0 {
            return None;
        }
        let q = self.queues.conn_queue(id, conn)?;
        let next = self.queues.advance(q, &self.served)?;
        match place {
            // The next unused one comes after the place: the common case.
            Some(place) if self.queues.item(next) <= place => {
                // A connection's recordings are indexed in its own order.
                let after = self.queues.after(q, place);
                let ahead = self.queues.first_unused(q, after.max(next), &self.served);
                Some((q, ahead.unwrap_or(next)))
            }
            _ => Some((q, next)),
        }
    }

    /// Recorded connection `conn`'s next unused recording of key `id`,
    /// without taking it.
    fn peek(&self, id: u32, conn: u64) -> Option<usize> {
        let q = self.queues.conn_queue(id, conn)?;
        let from = self.queues.queue(q).next as usize;
        let at = self.queues.first_unused(q, from, &self.served)?;
        Some(self.queues.item(at))
    }

    /// After [`find`](Matcher::find) missed: a recording of the same
    /// command whose wall-clock time arguments, each taken relative to when
    /// it was sent, agree with the live ones sent at `now_ms` (see
    /// [`clock`]). It is served through `find` as if the recorded command
    /// had been sent, so binding, the *N*-th-identical rule and repeats
    /// apply unchanged (the session then notes the times sent, see
    /// [`Clock::learn_sent`]). `None` when nothing fits: the caller keeps
    /// `find`'s miss (and its closest).
    pub fn find_shifted(
        &mut self,
        live: u64,
        db: u32,
        args: &[Bytes],
        clock: &Clock,
        now_ms: i64,
    ) -> Option<Matched> {
        let times = clock::time_args(args);
        let bound = self.live.get(&live).and_then(|l| l.bound);
        let track_db = self.track_db;
        let in_db = |r: &&usize| !track_db || self.db(**r) == db;
        let cmds: Vec<(usize, Vec<Bytes>)> = self
            .shifted
            .candidates(args, &times)
            .iter()
            .filter(in_db)
            .map(|&r| (r, self.cmd(r)))
            .collect();
        let candidates = cmds.iter().map(|(r, cmd)| {
            let rec = &self.recordings[*r];
            Candidate {
                index: *r,
                conn: rec.conn,
                at_ms: self.at_ms(*r),
                cmd,
                used: self.served[*r],
            }
        });
        let recording = clock::choose(candidates, args, &times, clock, now_ms, bound)?;
        let recorded = self.cmd(recording);
        match self.find(live, db, &recorded) {
            Matched::Miss { .. } => None,
            hit => Some(hit),
        }
    }

    /// After [`find`](Matcher::find) missed: a recording that differs from
    /// `args` only in random-looking tokens (see [`tokens`]), consistent
    /// with the values paired so far. Among several, the one the bound
    /// recorded connection has next, else a free connection's earliest,
    /// else another live connection's, else the latest used one (a repeat).
    /// It is served through `find` as if its tokens had been sent, and its
    /// tokens are paired with the live ones for the rest of the run.
    pub fn find_tokened(
        &mut self,
        live: u64,
        db: u32,
        args: &[Bytes],
        class: Class,
    ) -> Option<Matched> {
        let (in_db, key) = self.live_key(live, db, args, class);
        let form = tokens::token_form(&key)?;
        let candidates = self.token_forms.get(&in_db)?.get(&form)?;
        let bound = self.live.get(&live).and_then(|l| l.bound);
        let mut best: Option<((u8, usize), usize)> = None;
        for (c, &id) in candidates.iter().enumerate() {
            let recorded = self.queues.key_args(id);
            let pairs = tokens::pairs(&recorded, &key);
            if !pairs.iter().all(|(r, l)| self.tokens.fits(r, l)) {
                continue;
            }
            let rank = self.token_rank(id, live, bound);
            if best.map_or(true, |(b, _)| rank < b) {
                best = Some((rank, c));
            }
        }
        let recorded = self.queues.key_args(candidates[best?.1]);
        let sent = tokens::as_recorded(&recorded, args);
        let found = match self.find_with(live, db, &sent, class) {
            Matched::Miss { .. } => return None,
            hit => hit,
        };
        for (r, l) in tokens::pairs(&recorded, &key) {
            self.tokens.learn(r, l);
        }
        Some(found)
    }

    /// How soon key `id` would be served to `live` (lower first): its bound
    /// connection's next recording, a free connection's, another live
    /// connection's, a retired one's, each earliest first, then a repeat
    /// of the latest.
    fn token_rank(&self, id: u32, live: u64, bound: Option<u64>) -> (u8, usize) {
        let mut rank = (4, usize::MAX - self.queues.key(id).last as usize);
        for at_q in self.queues.open_of(id) {
            let q = self.queues.queue(at_q);
            let Some(at) = self
                .queues
                .first_unused(at_q, q.next as usize, &self.served)
            else {
                continue;
            };
            let conn = self.queues.conn_at(at_q);
            let owner = self.owners.at(self.queues.conn_index_at(at_q));
            let tier = if Some(conn) == bound {
                0
            } else if owner.retired {
                3
            } else if owner.live.map_or(true, |l| l == live) {
                1
            } else {
                2
            };
            rank = rank.min((tier, self.queues.item(at)));
        }
        rank
    }

    /// Pairs the values an ignore rule let through (where the recording
    /// served for `args` holds another value) with the live ones, whole, or
    /// token by token inside them. Time arguments are the clock's, and
    /// redacted placeholders stand for secrets: neither is paired.
    fn learn_ignored(&mut self, recording: usize, args: &[Bytes], class: Class) {
        let recorded = &self.cmd(recording);
        let mut times = None;
        for (i, (r, l)) in recorded.iter().zip(args).enumerate() {
            if r.eq_ignore_ascii_case(l)
                || r.starts_with(command::secret::PLACEHOLDER_PREFIX.as_bytes())
            {
                continue;
            }
            let times = times.get_or_insert_with(|| clock::time_args_of(class, args));
            if times.iter().any(|t| t.index == i) {
                continue;
            }
            let pairs = tokens::pairs(std::slice::from_ref(r), std::slice::from_ref(l));
            if pairs.is_empty() {
                self.tokens.learn_whole(r, l);
            }
            for (r, l) in pairs {
                self.tokens.learn(r, l);
            }
        }
    }

    /// The values paired so far (see [`tokens`]).
    pub fn tokens(&self) -> &TokenMap {
        &self.tokens
    }

    /// The error reply of `args`'s latest recording in `db`, when it was
    /// an error; nothing is served or counted.
    pub fn recorded_refusal(&self, db: u32, args: &[Bytes]) -> Option<Value> {
        let db = if self.track_db { db } else { 0 };
        let key = key_of(args, &self.rules, Class::of(args));
        let id = self.queues.find(db, &key)?;
        let last = self.queues.key(id).last as usize;
        if !self.recordings[last].is_error() {
            return None;
        }
        self.first_reply(last)
    }

    fn miss(&self, db: u32, key: &[Bytes]) -> Matched {
        Matched::Miss {
            closest: self.closest(db, key),
        }
    }

    /// Counts a command nothing answered (a miss that resplay did not
    /// synthesize either); the first few are kept for the report. `args`
    /// as shown (passwords redacted); `closest` as `find` gave it, or why
    /// there is none to show.
    pub fn note_miss(&mut self, args: &[Bytes], from: MissFrom, closest: Result<&Closest, &str>) {
        let (_, key) = self.live_key(from.live, from.db, args, Class::of(args));
        let bound_to = self.live.get(&from.live).and_then(|l| l.bound);
        self.outcomes.missed(
            MissFrom { bound_to, ..from },
            args,
            &key,
            closest.map(|c| (c, &c.key[..])),
        );
        self.counters.missed += 1;
        let shown = display_command(args);
        if self.counters.first_misses.len() < REPORT_EXAMPLES
            && !self.counters.first_misses.contains(&shown)
        {
            self.counters.first_misses.push(shown);
        }
    }

    /// The recorded command most like `key`: same database and name first,
    /// then the smallest edit distance (bounded work on huge cassettes). A
    /// command recorded only in another database says which.
    fn closest(&self, db: u32, key: &[Bytes]) -> Option<Closest> {
        let target = display_command(key);
        let name = key.first()?;
        let same_name = |id: u32| {
            self.queues
                .key_name(id)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        };
        let recorded_db = |k: &queues::KeyQueue| k.db;
        let in_db = |d: u32| {
            self.queues
                .keys()
                .filter(move |(_, k)| recorded_db(k) == d)
                .map(|(id, _)| id)
        };
        let mut pool: Vec<(u32, u32)> = in_db(db)
            .filter(|&id| same_name(id))
            .take(2000)
            .map(|id| (db, id))
            .collect();
        if pool.is_empty() {
            pool = self
                .queues
                .keys()
                .filter(|&(id, _)| same_name(id))
                .take(2000)
                .map(|(id, k)| (recorded_db(k), id))
                .collect();
        }
        if pool.is_empty() {
            pool = in_db(db).take(2000).map(|id| (db, id)).collect();
        }
        pool.into_iter()
            .map(|(d, id)| {
                let shown = display_command(&self.queues.key_args(id));
                (edit_distance(&shown, &target), d != db, d, shown, id)
            })
            .min()
            .map(|(_, elsewhere, d, shown, id)| Closest {
                shown,
                other_db: elsewhere.then_some(d),
                recording: self
                    .queues
                    .conns_of(id)
                    .filter_map(|q| {
                        self.queues
                            .items_of(q)
                            .next()
                            .map(|at| self.queues.item(at))
                    })
                    .min(),
                key: self.queues.key_args(id),
            })
    }

    /// Pushes due after `recording`, served to live connection `serving`:
    /// each to the live connection bound to its recorded connection (when a
    /// message's channel is one it subscribed to), else to live subscribers
    /// of its channel.
    fn deliveries(&self, recording: usize, serving: u64) -> Vec<Delivery> {
        let pushes = self
            .pushes_after
            .get(&recording)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut out = Vec::new();
        if pushes.is_empty() {
            return out;
        }
        let meta = self.store.meta(self.recordings[recording].place());
        let replied_ms = meta.at_ms + meta.took_us / 1000;
        for &p in pushes {
            let push = &self.pushes[p];
            let gap_ms = push.at_ms.saturating_sub(replied_ms);
            let topic = push_topic(&push.value);
            // The live connection bound to the recorded receiver, unless a
            // message's channel is one it never subscribed to (bound to a
            // look-alike recording): then whoever subscribed gets it.
            // The connection being served counts as subscribed: its own
            // `SUBSCRIBE` takes effect once this lookup is answered.
            let bound = self.owners.live_of(push.conn).filter(|&bound| {
                bound == serving
                    || topic.as_ref().map_or(true, |t| {
                        self.live
                            .get(&bound)
                            .is_some_and(|l| l.subscriptions.contains(t))
                    })
            });
            if let Some(live) = bound {
                out.push(Delivery {
                    live,
                    push: p,
                    gap_ms,
                });
                continue;
            }
            if let Some(topic) = topic {
                let mut subscribers: Vec<u64> = self
                    .live
                    .iter()
                    .filter(|(_, l)| l.subscriptions.contains(&topic))
                    .map(|(&id, _)| id)
                    .collect();
                subscribers.sort_unstable();
                out.extend(subscribers.into_iter().map(|live| Delivery {
                    live,
                    push: p,
                    gap_ms,
                }));
            }
        }
        out
    }

    /// Live connections whose recorded connections the server closed right
    /// after `recording`, served to `live`: those it killed (see
    /// [`kills`]), then those closed for other reasons.
    fn closes(&self, recording: usize, live: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let victims = self.kills.victims(recording);
        if !victims.is_empty() {
            let at_ms = self.at_ms(recording);
            // Unbound victims by rank: recorded connections open at the
            // kill with no live one bound, and live ones with no binding.
            let unbound_recorded: Vec<u64> = self
                .kills
                .open_at(at_ms)
                .into_iter()
                .filter(|&c| !self.owners.is_bound(c))
                .collect();
            let mut unbound_live: Vec<u64> = self
                .live
                .iter()
                .filter(|(&id, l)| id != live && l.bound.is_none())
                .map(|(&id, _)| id)
                .collect();
            unbound_live.sort_unstable();
            for conn in victims {
                match self.owners.live_of(*conn) {
                    Some(l) => out.push(l),
                    None => {
                        let rank = unbound_recorded.iter().position(|c| c == conn);
                        out.extend(rank.and_then(|k| unbound_live.get(k)).copied());
                    }
                }
            }
        }
        let closed = self.closes_after.get(&recording);
        out.extend(
            closed
                .into_iter()
                .flatten()
                .filter_map(|&conn| self.owners.live_of(conn)),
        );
        out
    }

    /// Notes what a live connection subscribed to or unsubscribed from.
    pub fn track_subscription(&mut self, live: u64, args: &[Bytes]) {
        let Some((ns, subscribe)) = command::subscription(args) else {
            return;
        };
        let Some(state) = self.live.get_mut(&live) else {
            return;
        };
        if subscribe {
            for a in &args[1..] {
                state.subscriptions.insert((ns, a.clone()));
            }
        } else if args.len() == 1 {
            state.subscriptions.retain(|(n, _)| *n != ns);
        } else {
            for a in &args[1..] {
                state.subscriptions.remove(&(ns, a.clone()));
            }
        }
    }

    /// A live connection's subscriptions.
    pub fn subscriptions(&self, live: u64) -> Vec<(Namespace, Bytes)> {
        self.live
            .get(&live)
            .map(|l| l.subscriptions.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Drops every subscription of a live connection (`RESET`).
    pub fn clear_subscriptions(&mut self, live: u64) {
        if let Some(state) = self.live.get_mut(&live) {
            state.subscriptions.clear();
        }
    }

    /// Whether a live connection has any subscription (RESP2 pub/sub mode).
    pub fn is_subscribed(&self, live: u64) -> bool {
        self.live
            .get(&live)
            .is_some_and(|l| !l.subscriptions.is_empty())
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        self.counters.clone()
    }

    /// Per recording, how many live commands it answered (0: unused) and
    /// how many of those were repeats; and the misses kept. For the
    /// report's overlay.
    pub fn outcomes(&self) -> (Vec<u32>, Vec<u32>, Vec<super::overlay::MissNote>) {
        (
            self.outcomes.answers(&self.served),
            self.outcomes.repeats(),
            self.outcomes.misses().to_vec(),
        )
    }

    /// Recordings never served: their count, the first few distinct ones
    /// displayed, and how many recordings those examples cover.
    pub fn unused(&self) -> (u64, Vec<String>, u64) {
        let mut count = 0;
        // The first few distinct commands, each with how often it went unused
        // (a benchmark cassette repeats one command thousands of times):
        // compared packed, and shown once at the end. A recording whose
        // command is its match key has the same answer as every other of
        // that key, so each key's is worked out once (`by_key`: 0 not yet,
        // 1 none, 2 + i example i; "none" only once the examples are full,
        // and they stay full). A million unused recordings took as long to
        // list as to load (0.6 s), reading every command from the store.
        let mut examples: Vec<(&[u8], usize, u64)> = Vec::new();
        let mut by_key = vec![0u8; self.queues.key_count()];
        for (r, served) in self.served.iter().enumerate() {
            if *served {
                continue;
            }
            count += 1;
            let recording = &self.recordings[r];
            let key = recording.key as usize;
            let known = recording.has(Recording::CMD_IS_KEY).then(|| by_key[key]);
            let example = match known {
                Some(1) => None,
                Some(n) if n > 1 => Some(usize::from(n) - 2),
                _ => {
                    let packed = self.packed_cmd(r);
                    let found = examples.iter().position(|(e, _, _)| *e == packed);
                    let found = match found {
                        None if examples.len() < REPORT_EXAMPLES => {
                            examples.push((packed, r, 0));
                            Some(examples.len() - 1)
                        }
                        found => found,
                    };
                    if known.is_some() {
                        by_key[key] = found.map_or(1, |i| i as u8 + 2);
                    }
                    found
                }
            };
            if let Some(i) = example {
                examples[i].2 += 1;
            }
        }
        let listed = examples.iter().map(|(_, _, n)| n).sum();
        let examples = examples
            .into_iter()
            .map(|(_, r, n)| {
                let shown = display_command(&self.cmd(r));
                if n > 1 {
                    format!("{shown} (x{n})")
                } else {
                    shown
                }
            })
            .collect();
        (count, examples, listed)
    }
}

/// Whether a command runs a script, whose commands `MONITOR` shows as
/// `[0 lua]` lines.
fn runs_script(class: Class) -> bool {
    matches!(
        class.name(),
        "EVAL" | "EVALSHA" | "EVAL_RO" | "EVALSHA_RO" | "FCALL" | "FCALL_RO"
    )
}

/// Whether a recorded interaction put its connection in `MONITOR` mode.
fn is_monitor(cmd: &[Bytes], replies: &[Value]) -> bool {
    command::name(cmd).as_bytes() == b"MONITOR"
        && matches!(replies.first(), Some(Value::Simple(s)) if &s[..] == b"OK")
}

/// What a push is about: `(namespace, channel or pattern)` of a
/// `message`/`pmessage`/`smessage`.
fn push_topic(value: &Value) -> Option<(Namespace, Bytes)> {
    let kind = command::pubsub_kind(value)?;
    let items = value.elements()?;
    let topic = items.get(1)?.as_bytes()?;
    let ns = match kind.as_str() {
        "message" => Namespace::Channel,
        "pmessage" => Namespace::Pattern,
        "smessage" => Namespace::Shard,
        _ => return None,
    };
    Some((ns, Bytes::copy_from_slice(topic)))
}

mod binding;
mod key_table;
mod keys;
mod kills;
mod outcomes;
mod owners;
mod queues;
mod store;

pub use outcomes::MissFrom;
use outcomes::Outcomes;
#[cfg(test)]
pub(crate) mod tests;
