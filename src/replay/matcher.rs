//! Which recording answers a live command, and who receives recorded pushes.
//!
//! Built once from a loaded cassette; shared by every live connection behind
//! one lock (lookups are a hash probe and a cursor bump).

use std::collections::HashSet;

// Fx hashing: every replayed command hashes its arguments and looks up its
// connection; SipHash's flood resistance buys nothing for a local test server.
use rustc_hash::FxHashMap as HashMap;

use bytes::Bytes;

use super::binding::{self, History};
use super::clock::{self, Candidate, Clock, ShiftIndex};
use super::display::{display_command, edit_distance};
use super::handshake::is_handshake;
use super::rules::{match_key, IgnoreRule};
use crate::cassette::{Cassette, ConnState, Event};
use crate::command::{self, Namespace};
use crate::resp::Value;

/// One recorded interaction.
#[derive(Debug)]
pub struct Recording {
    /// Recorded connection.
    pub conn: u64,
    /// The database it ran in.
    pub db: u32,
    /// When the request came, ms since the recording started.
    pub at_ms: u64,
    /// How long its reply took, µs.
    pub took_us: u64,
    /// The request as recorded.
    pub cmd: Vec<Bytes>,
    /// The replies as recorded.
    pub replies: Vec<Value>,
    /// Its match key's id (an index into the matcher's queues).
    key: u32,
    /// Its position among its recorded connection's interactions.
    pos: u32,
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

/// The recordings of one recorded connection for one match key.
#[derive(Debug)]
struct ConnQueue {
    conn: u64,
    items: Vec<usize>,
    /// Every item before it is served; items after it may be too (a
    /// binding that moved took them), so takers skip served ones.
    next: usize,
}

/// Every recording of one match key (in one database), grouped by
/// recorded connection.
#[derive(Debug, Default)]
struct KeyQueue {
    conns: Vec<ConnQueue>,
    /// recorded connection → its index in `conns`: a benchmark replays
    /// one key from hundreds of connections, so no linear scans per request.
    by_conn: HashMap<u64, usize>,
    /// Recordings not served yet; at 0 only the repeat path is left.
    unused: usize,
    last: usize,
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
    /// Its place in the bound recorded connection: the position of the
    /// last recording it was served from there.
    place: Option<u32>,
}

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

/// How many free recorded connections are weighed when a binding may move.
const CANDIDATES: usize = 8;

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
    /// (`CLIENT KILL`): a side table like `pushes_after`.
    closes_after: HashMap<usize, Vec<u64>>,
    /// The highest recorded connection id.
    max_conn: u64,
    /// database → match key → key id (an index into `queues`).
    keys: HashMap<u32, HashMap<Vec<Bytes>, u32>>,
    queues: Vec<KeyQueue>,
    /// recorded connection → its recordings in order, for judging fits.
    conn_recordings: HashMap<u64, Vec<usize>>,
    /// Match in the database a command runs in. Off for cassettes written
    /// before interactions carried their database.
    track_db: bool,
    rules: Vec<IgnoreRule>,
    /// Repeat the last reply once all identical recordings are used.
    repeat: bool,
    served: Vec<bool>,
    /// recorded connection → live connection bound to it.
    bound: HashMap<u64, u64>,
    live: HashMap<u64, Live>,
    counters: Counters,
    /// Recordings with wall-clock time arguments, for
    /// [`find_shifted`](Matcher::find_shifted).
    shifted: ShiftIndex,
}

impl Matcher {
    /// Indexes a loaded cassette.
    pub fn new(cassette: Cassette, rules: Vec<IgnoreRule>, repeat: bool) -> Matcher {
        let mut matcher = Matcher::empty(rules, repeat);
        matcher.set_track_db(cassette.header.db.is_some());
        for event in cassette.events {
            matcher.add(event);
        }
        matcher
    }

    /// A matcher with no recordings yet; [`add`](Matcher::add) fills it.
    pub fn empty(rules: Vec<IgnoreRule>, repeat: bool) -> Matcher {
        Matcher {
            recordings: Vec::new(),
            pushes: Vec::new(),
            pushes_after: HashMap::default(),
            leading_pushes: Vec::new(),
            closes_after: HashMap::default(),
            keys: HashMap::default(),
            queues: Vec::new(),
            conn_recordings: HashMap::default(),
            track_db: true,
            rules,
            repeat,
            served: Vec::new(),
            max_conn: 0,
            bound: HashMap::default(),
            live: HashMap::default(),
            counters: Counters::default(),
            shifted: ShiftIndex::default(),
        }
    }

    /// Whether commands match only recordings of their own database (the
    /// cassette header says whether interactions carry one).
    pub fn set_track_db(&mut self, track: bool) {
        self.track_db = track;
    }

    /// Indexes one cassette event (in file order).
    pub fn add(&mut self, event: Event) {
        self.max_conn = self.max_conn.max(event.conn());
        match event {
            Event::Interaction(i) => {
                let index = self.recordings.len();
                // Look up by reference: most keys repeat, and copying every
                // command into a fresh key would cost a million allocations.
                let key = match_key(&i.cmd, &self.rules);
                let ids = self.keys.entry(i.db).or_default();
                let id = match ids.get(&*key) {
                    Some(&id) => id,
                    None => {
                        let id = self.queues.len() as u32;
                        ids.insert(key.to_vec(), id);
                        self.queues.push(KeyQueue::default());
                        id
                    }
                };
                let queue = &mut self.queues[id as usize];
                match queue.by_conn.get(&i.conn) {
                    Some(&q) => queue.conns[q].items.push(index),
                    None => {
                        queue.by_conn.insert(i.conn, queue.conns.len());
                        queue.conns.push(ConnQueue {
                            conn: i.conn,
                            items: vec![index],
                            next: 0,
                        });
                    }
                }
                queue.unused += 1;
                queue.last = index;
                let in_conn = self.conn_recordings.entry(i.conn).or_default();
                let pos = in_conn.len() as u32;
                in_conn.push(index);
                // Pushes before the first interaction go with the first one.
                if index == 0 && !self.leading_pushes.is_empty() {
                    self.pushes_after
                        .insert(0, std::mem::take(&mut self.leading_pushes));
                }
                self.shifted.add(index, &i.cmd);
                self.recordings.push(Recording {
                    conn: i.conn,
                    db: i.db,
                    at_ms: i.at_ms,
                    took_us: i.took_us,
                    cmd: i.cmd,
                    replies: i.replies,
                    key: id,
                    pos,
                });
                self.served.push(false);
            }
            Event::Push(p) => {
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
            Event::Connection(c) => {
                if c.by_server && c.event == ConnState::Close {
                    if let Some(last) = self.recordings.len().checked_sub(1) {
                        self.closes_after.entry(last).or_default().push(c.conn);
                    }
                }
            }
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

    /// A recorded push by index.
    pub fn push(&self, index: usize) -> &RecordedPush {
        &self.pushes[index]
    }

    /// Registers a live connection.
    pub fn connect(&mut self, live: u64) {
        self.live.insert(live, Live::default());
    }

    /// Forgets a live connection and frees its recorded connection.
    pub fn disconnect(&mut self, live: u64) {
        if let Some(state) = self.live.remove(&live) {
            if let Some(conn) = state.bound {
                self.bound.remove(&conn);
            }
        }
    }

    /// Finds the reply for `args` sent by live connection `live`, whose
    /// selected database is `db`.
    pub fn find(&mut self, live: u64, db: u32, args: &[Bytes]) -> Matched {
        let db = if self.track_db { db } else { 0 };
        let key = match_key(args, &self.rules);
        let Some(id) = self.keys.get(&db).and_then(|ids| ids.get(&*key)).copied() else {
            return self.miss(db, &key);
        };
        let bound_to = self.live.get(&live).and_then(|l| l.bound);
        let handshake = is_handshake(args);
        // The bound recorded connection's next unused recording: the common
        // case, decided without weighing anything.
        let place = self.live.get(&live).and_then(|l| l.place);
        let taken = bound_to
            .filter(|&conn| !handshake || self.is_due(conn, id, place))
            .and_then(|conn| self.take(id, conn, place));
        let (recording, repeated) = match taken {
            Some(recording) => (recording, false),
            None => match self.choose(live, id, bound_to, handshake) {
                Some(found) => found,
                None => return self.miss(db, &key),
            },
        };
        if let Some(l) = self.live.get_mut(&live) {
            l.history.push(id, recording);
            let r = &self.recordings[recording];
            if !repeated && l.bound == Some(r.conn) {
                l.place = Some(r.pos);
            }
        }
        self.counters.served += 1;
        let mut deliveries = Vec::new();
        let mut closes = Vec::new();
        if repeated {
            self.counters.repeated += 1;
        } else {
            deliveries = self.deliveries(recording);
            closes = self.closes(recording);
        }
        Matched::Hit {
            recording,
            repeated,
            deliveries,
            closes,
        }
    }

    /// Takes recorded connection `conn`'s next unused recording of key `id`
    /// (see [`pick`](Matcher::pick) for which).
    fn take(&mut self, id: u32, conn: u64, place: Option<u32>) -> Option<usize> {
        let at = self.pick(id, conn, place)?;
        let queue = &mut self.queues[id as usize];
        let q = &mut queue.conns[*queue.by_conn.get(&conn)?];
        let index = q.items[at];
        if at == q.next {
            q.next += 1;
        }
        queue.unused -= 1;
        self.served[index] = true;
        Some(index)
    }

    /// Where in `conn`'s recordings of key `id` the next one to serve is: the
    /// first unused one recorded after `place` (the live connection's place
    /// in `conn`), else the first unused one. Recordings a live connection
    /// left behind (a test that failed half-way sent no more of them) stay
    /// behind: the next test's identical command gets its own.
    fn pick(&mut self, id: u32, conn: u64, place: Option<u32>) -> Option<usize> {
        let queue = &mut self.queues[id as usize];
        let q = &mut queue.conns[*queue.by_conn.get(&conn)?];
        while q.next < q.items.len() && self.served[q.items[q.next]] {
            q.next += 1;
        }
        if let Some(place) = place {
            let recordings = &self.recordings;
            let after = q.items.partition_point(|&i| recordings[i].pos <= place);
            let ahead = (after.max(q.next)..q.items.len()).find(|&k| !self.served[q.items[k]]);
            if ahead.is_some() {
                return ahead;
            }
        }
        (q.next < q.items.len()).then_some(q.next)
    }

    /// Whether recorded connection `conn`'s next handshake recording of key
    /// `id` is due for a live connection at `place` in it: recorded right
    /// after the last one it was served from `conn`. A handshake call is recorded only when
    /// it failed (`PING` → `-BUSY` while a script ran), so the same call
    /// that succeeded later left no line: served out of its place, the
    /// recording would answer a `PING` long after the script was killed.
    fn is_due(&mut self, conn: u64, id: u32, place: Option<u32>) -> bool {
        let Some(at) = self.pick(id, conn, place) else {
            return false;
        };
        let queue = &self.queues[id as usize];
        let Some(&q) = queue.by_conn.get(&conn) else {
            return false;
        };
        let next = queue.conns[q].items[at];
        self.recordings[next].pos == place.map_or(0, |p| p + 1)
    }

    /// Recorded connection `conn`'s next unused recording of key `id`,
    /// without taking it.
    fn peek(&self, id: u32, conn: u64) -> Option<usize> {
        let queue = &self.queues[id as usize];
        let q = &queue.conns[*queue.by_conn.get(&conn)?];
        q.items[q.next.min(q.items.len())..]
            .iter()
            .copied()
            .find(|&i| !self.served[i])
    }

    /// Gives a served recording back (its live connection moved to another).
    fn release(&mut self, index: usize) {
        if !self.served[index] {
            return;
        }
        let r = &self.recordings[index];
        let queue = &mut self.queues[r.key as usize];
        let Some(&q) = queue.by_conn.get(&r.conn) else {
            return;
        };
        let q = &mut queue.conns[q];
        if let Ok(at) = q.items.binary_search(&index) {
            q.next = q.next.min(at);
        }
        queue.unused += 1;
        self.served[index] = false;
    }

    /// The recording for key `id` when the live connection's bound one (if
    /// any) has no unused one: a better-fitting free recorded connection
    /// (the binding moves there), a repeat of the bound one's last reply, a
    /// free connection's recording, another live connection's, or the last
    /// reply of all. Returns the recording and whether it is a repeat.
    ///
    /// Handshake commands (`handshake`) are held closer: their recordings
    /// hold what replay could not make up (`-BUSY` from a `PING` while a
    /// script ran), so they are served only from the connection they belong
    /// to, never repeated, borrowed from another connection or used to bind
    /// one with nothing else to go on (save its opening commands); otherwise
    /// resplay answers them
    /// itself, as the server would now.
    fn choose(
        &mut self,
        live: u64,
        id: u32,
        bound_to: Option<u64>,
        handshake: bool,
    ) -> Option<(usize, bool)> {
        let repeat = self.repeat && !handshake;
        let queue = &self.queues[id as usize];
        // Free recorded connections with an unused recording of this key,
        // earliest first.
        let mut free: Vec<(usize, u64)> = Vec::new();
        let mut of_others: Option<(usize, u64)> = None;
        if queue.unused > 0 {
            for q in &queue.conns {
                if Some(q.conn) == bound_to {
                    continue;
                }
                let Some(first) = self.peek(id, q.conn) else {
                    continue;
                };
                if self.bound.get(&q.conn).is_some_and(|&l| l != live) {
                    if of_others.map_or(true, |earliest| (first, q.conn) < earliest) {
                        of_others = Some((first, q.conn));
                    }
                } else {
                    free.push((first, q.conn));
                }
            }
        }
        free.sort_unstable();
        free.truncate(CANDIDATES);
        let history = self
            .live
            .get(&live)
            .map(|l| l.history.keys())
            .unwrap_or_default();
        // How well the bound connection explains the recent commands: those
        // it served. A free one: this command, plus what of the recent
        // commands it has, in order, just before its recording of this one.
        let bound_score = match bound_to {
            Some(conn) => self.live.get(&live).map_or(0, |l| {
                l.history
                    .entries()
                    .filter(|&(_, r)| self.recordings[r].conn == conn)
                    .count()
            }),
            None => 0,
        };
        let best = free
            .iter()
            .map(|&(first, conn)| (self.fit(&history, first), std::cmp::Reverse(first), conn))
            .max();
        if let Some((score, std::cmp::Reverse(first), conn)) = best {
            // A handshake command binds on what came before it, or as one
            // of a connection's opening commands (`CLIENT SETINFO` that a
            // server too old for it refused), never on its own.
            let opening = self.recordings[first].pos as usize <= history.len();
            let evidence = !handshake || score > 1 || opening;
            if evidence && (bound_to.is_none() || score > bound_score) {
                self.bind(live, conn, bound_to, first);
                return self.take(id, conn, None).map(|r| (r, false));
            }
        }
        let queue = &self.queues[id as usize];
        let last_of_bound = bound_to
            .and_then(|conn| queue.by_conn.get(&conn))
            .and_then(|&q| queue.conns[q].items.last().copied());
        if let (Some(last), true) = (last_of_bound, repeat) {
            return Some((last, true));
        }
        if handshake {
            return None;
        }
        if let Some(&(_, conn)) = free.first() {
            return self.take(id, conn, None).map(|r| (r, false));
        }
        if let Some((_, conn)) = of_others {
            return self.take(id, conn, None).map(|r| (r, false));
        }
        let last = self.queues[id as usize].last;
        repeat.then_some((last, true))
    }

    /// How well free recorded connection's recording `first` fits a live
    /// connection that was served `history`.
    fn fit(&self, history: &[u32], first: usize) -> usize {
        let r = &self.recordings[first];
        let Some(seq) = self.conn_recordings.get(&r.conn) else {
            return 1;
        };
        let end = r.pos as usize;
        let before: Vec<u32> = seq[end.saturating_sub(binding::WINDOW)..end]
            .iter()
            .map(|&i| self.recordings[i].key)
            .collect();
        1 + binding::common_in_order(history, &before)
    }

    /// Binds a live connection to recorded connection `conn`, whose
    /// recording `next` answers its current command. When it moves from
    /// another, what it took from that one goes back, exchanged for the same
    /// commands of the new one recorded before `next`, where it has them
    /// unused.
    fn bind(&mut self, live: u64, conn: u64, from: Option<u64>, next: usize) {
        if let Some(old) = from {
            self.bound.remove(&old);
            let mut moved: Vec<(u32, usize)> = self
                .live
                .get(&live)
                .map(|l| {
                    l.history
                        .entries()
                        .filter(|&(_, r)| self.recordings[r].conn == old && self.served[r])
                        .collect()
                })
                .unwrap_or_default();
            // A repeated reply shows up more than once; it goes back once.
            moved.sort_unstable_by_key(|&(_, r)| r);
            moved.dedup_by_key(|&mut (_, r)| r);
            let mut swaps = Vec::new();
            for (id, old_recording) in moved {
                if self.peek(id, conn).is_some_and(|r| r < next) {
                    if let Some(new_recording) = self.take(id, conn, None) {
                        self.release(old_recording);
                        swaps.push((old_recording, new_recording));
                    }
                }
            }
            if let Some(l) = self.live.get_mut(&live) {
                for (from, to) in swaps {
                    l.history.replace(from, to);
                }
            }
        }
        self.bound.insert(conn, live);
        if let Some(l) = self.live.get_mut(&live) {
            l.bound = Some(conn);
            l.place = None;
        }
    }

    /// After [`find`](Matcher::find) missed: a recording of the same
    /// command whose wall-clock time arguments, each taken relative to when
    /// it was sent, agree with the live ones sent at `now_ms` (see
    /// [`clock`]). It is served through `find` as if the recorded command
    /// had been sent, so binding, the *N*-th-identical rule and repeats
    /// apply unchanged; the offset it shows becomes `clock`'s. `None` when
    /// nothing fits: the caller keeps `find`'s miss (and its closest).
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
        let in_db = |r: &&usize| !track_db || self.recordings[**r].db == db;
        let candidates = self
            .shifted
            .candidates(args, &times)
            .iter()
            .filter(in_db)
            .map(|&r| {
                let rec = &self.recordings[r];
                Candidate {
                    index: r,
                    conn: rec.conn,
                    at_ms: rec.at_ms,
                    cmd: &rec.cmd,
                    used: self.served[r],
                }
            });
        let (recording, offset) = clock::choose(candidates, args, &times, clock, now_ms, bound)?;
        let recorded = self.recordings[recording].cmd.clone();
        match self.find(live, db, &recorded) {
            Matched::Miss { .. } => None,
            hit => {
                clock.learn(offset);
                Some(hit)
            }
        }
    }

    fn miss(&self, db: u32, key: &[Bytes]) -> Matched {
        Matched::Miss {
            closest: self.closest(db, key),
        }
    }

    /// Counts a command nothing answered (a miss that resplay did not
    /// synthesize either); the first few are kept for the report.
    pub fn note_miss(&mut self, args: &[Bytes]) {
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
        let same_name = |k: &&Vec<Bytes>| k.first().is_some_and(|n| n.eq_ignore_ascii_case(name));
        let in_db = |d: u32| self.keys.get(&d).into_iter().flat_map(|ids| ids.keys());
        let mut pool: Vec<(u32, &Vec<Bytes>)> = in_db(db)
            .filter(same_name)
            .take(2000)
            .map(|k| (db, k))
            .collect();
        if pool.is_empty() {
            pool = self
                .keys
                .iter()
                .flat_map(|(&d, ids)| ids.keys().map(move |k| (d, k)))
                .filter(|(_, k)| same_name(k))
                .take(2000)
                .collect();
        }
        if pool.is_empty() {
            pool = in_db(db).take(2000).map(|k| (db, k)).collect();
        }
        pool.into_iter()
            .map(|(d, k)| {
                let shown = display_command(k);
                (edit_distance(&shown, &target), d != db, d, shown)
            })
            .min()
            .map(|(_, elsewhere, d, shown)| Closest {
                shown,
                other_db: elsewhere.then_some(d),
            })
    }

    /// Pushes due after `recording`, each to the live connection bound to
    /// its recorded connection, else to live subscribers of its channel.
    fn deliveries(&self, recording: usize) -> Vec<Delivery> {
        let r = &self.recordings[recording];
        let replied_ms = r.at_ms + r.took_us / 1000;
        let mut out = Vec::new();
        let pushes = self
            .pushes_after
            .get(&recording)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for &p in pushes {
            let push = &self.pushes[p];
            let gap_ms = push.at_ms.saturating_sub(replied_ms);
            if let Some(&live) = self.bound.get(&push.conn) {
                out.push(Delivery {
                    live,
                    push: p,
                    gap_ms,
                });
                continue;
            }
            if let Some(topic) = push_topic(&push.value) {
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
    /// after `recording`.
    fn closes(&self, recording: usize) -> Vec<u64> {
        let closed = self.closes_after.get(&recording);
        closed
            .into_iter()
            .flatten()
            .filter_map(|conn| self.bound.get(conn).copied())
            .collect()
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

    /// Recordings never served: their count, the first few distinct ones
    /// displayed, and how many recordings those examples cover.
    pub fn unused(&self) -> (u64, Vec<String>, u64) {
        let mut count = 0;
        // The first few distinct commands, each with how often it went unused
        // (a benchmark cassette repeats one command thousands of times).
        let mut examples: Vec<(String, u64)> = Vec::new();
        for (r, served) in self.recordings.iter().zip(&self.served) {
            if *served {
                continue;
            }
            count += 1;
            let shown = display_command(&r.cmd);
            match examples.iter().position(|(e, _)| *e == shown) {
                Some(i) => examples[i].1 += 1,
                None if examples.len() < REPORT_EXAMPLES => examples.push((shown, 1)),
                None => {}
            }
        }
        let listed = examples.iter().map(|(_, n)| n).sum();
        let examples = examples
            .into_iter()
            .map(|(shown, n)| {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cassette::{Header, Interaction, PushEvent};

    fn args(s: &str) -> Vec<Bytes> {
        crate::command::args_of(&s.split(' ').collect::<Vec<_>>())
    }

    fn interaction(conn: u64, seq: u64, cmd: &str, reply: i64) -> Event {
        Event::Interaction(Interaction {
            conn,
            db: 0,
            seq,
            at_ms: seq,
            took_us: 10,
            cmd: args(cmd),
            replies: vec![Value::Integer(reply)],
        })
    }

    fn matcher(events: Vec<Event>, repeat: bool) -> Matcher {
        let cassette = Cassette {
            header: Header::new(None),
            events,
            warnings: Vec::new(),
        };
        Matcher::new(cassette, Vec::new(), repeat)
    }

    /// The integer a hit replies (these tests record integers), or `None`.
    pub(crate) fn hit_integer(m: &Matcher, found: Matched) -> Option<i64> {
        match found {
            Matched::Hit { recording, .. } => match m.recording(recording).replies[0] {
                Value::Integer(n) => Some(n),
                _ => None,
            },
            Matched::Miss { .. } => None,
        }
    }

    fn reply(m: &mut Matcher, live: u64, cmd: &str) -> Option<i64> {
        reply_in(m, live, 0, cmd)
    }

    #[test]
    fn nth_identical_gets_nth_reply_then_repeats() {
        let mut m = matcher(
            vec![
                interaction(1, 0, "INCR n", 1),
                interaction(1, 1, "INCR n", 2),
            ],
            true,
        );
        m.connect(10);
        assert_eq!(reply(&mut m, 10, "incr n"), Some(1));
        assert_eq!(reply(&mut m, 10, "INCR n"), Some(2));
        assert_eq!(reply(&mut m, 10, "INCR n"), Some(2));
        assert_eq!(m.counters().repeated, 1);
        assert_eq!(m.unused().0, 0);
    }

    #[test]
    fn no_repeat_misses() {
        let mut m = matcher(vec![interaction(1, 0, "INCR n", 1)], false);
        m.connect(10);
        assert_eq!(reply(&mut m, 10, "INCR n"), Some(1));
        assert_eq!(reply(&mut m, 10, "INCR n"), None);
    }

    #[test]
    fn live_connections_bind_to_recorded_ones() {
        // Two recorded connections each read their own counter value.
        let mut m = matcher(
            vec![
                interaction(1, 0, "HELLO-A x", 0),
                interaction(2, 0, "HELLO-B x", 0),
                interaction(1, 1, "GET n", 1),
                interaction(2, 1, "GET n", 2),
            ],
            true,
        );
        m.connect(20);
        m.connect(10);
        // Replayed in the other order: live 20 is connection 2.
        assert_eq!(reply(&mut m, 20, "HELLO-B x"), Some(0));
        assert_eq!(reply(&mut m, 20, "GET n"), Some(2));
        assert_eq!(reply(&mut m, 10, "HELLO-A x"), Some(0));
        assert_eq!(reply(&mut m, 10, "GET n"), Some(1));
    }

    #[test]
    fn miss_names_the_closest() {
        let mut m = matcher(
            vec![
                interaction(1, 0, "GET user:8", 1),
                interaction(1, 1, "SET a b", 1),
            ],
            true,
        );
        m.connect(1);
        match m.find(1, 0, &args("GET user:7")) {
            Matched::Miss { closest } => {
                assert_eq!(
                    closest.map(|c| c.to_string()).as_deref(),
                    Some("'GET user:8'")
                )
            }
            other => panic!("{other:?}"),
        }
        m.note_miss(&args("GET user:7"));
        assert_eq!(m.counters().first_misses, ["GET user:7"]);
        assert_eq!(
            m.unused(),
            (2, vec!["GET user:8".into(), "SET a b".into()], 2)
        );
    }

    #[test]
    fn pushes_go_to_subscribers() {
        let push = Value::Push(vec![
            Value::bulk("message"),
            Value::bulk("news"),
            Value::bulk("hi"),
        ]);
        let mut m = matcher(
            vec![
                interaction(2, 0, "PUBLISH news hi", 1),
                Event::Push(PushEvent {
                    conn: 1,
                    at_ms: 5,
                    push,
                }),
            ],
            true,
        );
        m.connect(7);
        m.connect(8);
        m.track_subscription(8, &args("SUBSCRIBE news"));
        match m.find(7, 0, &args("PUBLISH news hi")) {
            Matched::Hit { deliveries, .. } => {
                assert_eq!(deliveries.len(), 1);
                assert_eq!(deliveries[0].live, 8);
            }
            other => panic!("{other:?}"),
        }
    }

    fn in_db(db: u32, event: Event) -> Event {
        match event {
            Event::Interaction(mut i) => {
                i.db = db;
                Event::Interaction(i)
            }
            other => other,
        }
    }

    fn reply_in(m: &mut Matcher, live: u64, db: u32, cmd: &str) -> Option<i64> {
        let found = m.find(live, db, &args(cmd));
        hit_integer(m, found)
    }

    #[test]
    fn the_database_is_part_of_the_match() {
        let mut m = matcher(
            vec![
                in_db(1, interaction(1, 0, "GET x", 1)),
                in_db(2, interaction(2, 0, "GET x", 2)),
            ],
            true,
        );
        m.set_track_db(true);
        m.connect(10);
        m.connect(11);
        // Replayed db 2 first: each gets its own database's reply.
        assert_eq!(reply_in(&mut m, 11, 2, "GET x"), Some(2));
        assert_eq!(reply_in(&mut m, 10, 1, "GET x"), Some(1));
        assert_eq!(reply_in(&mut m, 10, 3, "GET x"), None);
        match m.find(10, 3, &args("GET x")) {
            Matched::Miss { closest: Some(c) } => assert!(c.to_string().ends_with(" in db 1")),
            other => panic!("{other:?}"),
        }
        // A cassette written before databases were tracked (all lines
        // without one) matches whatever a live connection selected.
        let mut legacy = matcher(vec![interaction(1, 0, "GET x", 5)], true);
        legacy.set_track_db(false);
        legacy.connect(10);
        assert_eq!(reply_in(&mut legacy, 10, 3, "GET x"), Some(5));
    }

    #[test]
    fn a_diverging_connection_moves_to_the_recording_that_fits() {
        // Two recorded sessions open alike; only the second is replayed.
        let mut m = matcher(
            vec![
                interaction(1, 0, "FLUSHDB", 0),
                interaction(1, 1, "SET k 1", 0),
                interaction(1, 2, "GET k", 1),
                interaction(2, 0, "FLUSHDB", 0),
                interaction(2, 1, "SET k 2", 0),
                interaction(2, 2, "GET k", 2),
            ],
            true,
        );
        m.connect(10);
        assert_eq!(reply(&mut m, 10, "FLUSHDB"), Some(0));
        assert_eq!(reply(&mut m, 10, "SET k 2"), Some(0));
        assert_eq!(reply(&mut m, 10, "GET k"), Some(2));
        // The first session is still whole for a connection replaying it.
        m.disconnect(10);
        m.connect(11);
        assert_eq!(reply(&mut m, 11, "FLUSHDB"), Some(0));
        assert_eq!(reply(&mut m, 11, "SET k 1"), Some(0));
        assert_eq!(reply(&mut m, 11, "GET k"), Some(1));
        assert_eq!(m.unused().0, 0);
        assert_eq!(m.counters().repeated, 0);
    }

    #[test]
    fn an_extra_poll_repeats_its_own_reply_and_takes_nothing_from_others() {
        let mut m = matcher(
            vec![
                interaction(1, 0, "SET a 1", 0),
                interaction(1, 1, "GET flag", 0),
                interaction(1, 2, "GET flag", 1),
                interaction(2, 0, "DEL b", 0),
                interaction(2, 1, "GET flag", 7),
            ],
            true,
        );
        m.connect(10);
        assert_eq!(reply(&mut m, 10, "SET a 1"), Some(0));
        assert_eq!(reply(&mut m, 10, "GET flag"), Some(0));
        assert_eq!(reply(&mut m, 10, "GET flag"), Some(1));
        assert_eq!(reply(&mut m, 10, "GET flag"), Some(1), "a repeat");
        m.connect(11);
        assert_eq!(reply(&mut m, 11, "DEL b"), Some(0));
        assert_eq!(reply(&mut m, 11, "GET flag"), Some(7));
    }

    #[test]
    fn a_miss_changes_nothing_for_later_commands() {
        let mut m = matcher(
            vec![
                interaction(1, 0, "GET a", 1),
                interaction(1, 1, "GET b", 2),
                interaction(2, 0, "GET a", 3),
                interaction(2, 1, "GET b", 4),
            ],
            true,
        );
        m.connect(10);
        m.connect(11);
        assert_eq!(reply(&mut m, 10, "GET a"), Some(1));
        assert_eq!(reply(&mut m, 10, "GET zzz"), None);
        assert_eq!(reply(&mut m, 10, "GET b"), Some(2));
        assert_eq!(reply(&mut m, 11, "GET a"), Some(3));
        assert_eq!(reply(&mut m, 11, "GET b"), Some(4));
    }

    #[test]
    fn handshake_recordings_stay_with_their_connection() {
        // Connection 2 recorded a PING that failed (a script was running).
        let mut m = matcher(
            vec![
                interaction(1, 0, "GET a", 1),
                interaction(2, 0, "EVAL x 0", 0),
                interaction(2, 1, "PING", -1),
            ],
            true,
        );
        m.connect(10);
        m.connect(11);
        // Neither a fresh connection (it is no opening command) nor one
        // bound elsewhere gets it.
        assert_eq!(reply(&mut m, 10, "PING"), None);
        assert_eq!(reply(&mut m, 10, "GET a"), Some(1));
        assert_eq!(reply(&mut m, 10, "PING"), None);
        // The connection replaying connection 2 does, once, then no repeat.
        assert_eq!(reply(&mut m, 11, "EVAL x 0"), Some(0));
        assert_eq!(reply(&mut m, 11, "PING"), Some(-1));
        assert_eq!(reply(&mut m, 11, "PING"), None);
    }

    #[test]
    fn a_failed_opening_handshake_binds_a_fresh_connection() {
        let mut m = matcher(
            vec![
                interaction(1, 0, "CLIENT SETINFO LIB-NAME x", -1),
                interaction(1, 1, "GET a", 1),
            ],
            true,
        );
        m.connect(10);
        assert_eq!(reply(&mut m, 10, "CLIENT SETINFO LIB-NAME x"), Some(-1));
        assert_eq!(reply(&mut m, 10, "GET a"), Some(1));
        assert_eq!(m.unused().0, 0);
    }

    #[test]
    fn a_handshake_recording_answers_only_in_its_place() {
        // A script ran: PING failed once, then, after the kill, PING got
        // PONG (not recorded); the next test made PING fail again.
        let mut m = matcher(
            vec![
                interaction(1, 0, "CONFIG SET lua-time-limit 10", 0),
                interaction(1, 1, "PING", -1),
                interaction(1, 2, "SCRIPT KILL", 0),
                interaction(1, 3, "CONFIG SET lua-time-limit 10", 0),
                interaction(1, 4, "PING", -2),
            ],
            true,
        );
        m.connect(10);
        assert_eq!(reply(&mut m, 10, "CONFIG SET lua-time-limit 10"), Some(0));
        assert_eq!(reply(&mut m, 10, "PING"), Some(-1));
        assert_eq!(reply(&mut m, 10, "SCRIPT KILL"), Some(0));
        assert_eq!(reply(&mut m, 10, "PING"), None, "made up, not -2");
        assert_eq!(reply(&mut m, 10, "CONFIG SET lua-time-limit 10"), Some(0));
        assert_eq!(reply(&mut m, 10, "PING"), Some(-2));
        assert_eq!(m.unused().0, 0);
    }

    #[test]
    fn what_a_failed_test_left_behind_stays_behind() {
        // Two tests on one connection, each ending in SLOWLOG GET.
        let mut m = matcher(
            vec![
                interaction(1, 0, "SLOWLOG RESET", 0),
                interaction(1, 1, "SET a 1", 0),
                interaction(1, 2, "SLOWLOG GET", 1),
                interaction(1, 3, "SLOWLOG RESET", 0),
                interaction(1, 4, "SLOWLOG GET", 2),
            ],
            true,
        );
        m.connect(10);
        // The first test stops after its first command (a miss elsewhere).
        assert_eq!(reply(&mut m, 10, "SLOWLOG RESET"), Some(0));
        assert_eq!(reply(&mut m, 10, "SLOWLOG RESET"), Some(0));
        assert_eq!(
            reply(&mut m, 10, "SLOWLOG GET"),
            Some(2),
            "the second test's own"
        );
        assert_eq!(m.unused().0, 2);
    }
}
