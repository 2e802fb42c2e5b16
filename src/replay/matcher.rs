//! Which recording answers a live command, and who receives recorded pushes.
//!
//! Built once from a loaded cassette; shared by every live connection behind
//! one lock (lookups are a hash probe and a cursor bump).

use std::collections::HashSet;

// Fx hashing: every replayed command hashes its arguments and looks up its
// connection; SipHash's flood resistance buys nothing for a local test server.
use rustc_hash::FxHashMap as HashMap;

use bytes::Bytes;

use super::clock::{self, Candidate, Clock, ShiftIndex};
use super::display::{display_command, edit_distance};
use super::rules::{match_key, IgnoreRule};
use crate::cassette::{Cassette, Event};
use crate::command::{self, Namespace};
use crate::resp::Value;

/// One recorded interaction.
#[derive(Debug)]
pub struct Recording {
    /// Recorded connection.
    pub conn: u64,
    /// When the request came, ms since the recording started.
    pub at_ms: u64,
    /// How long its reply took, µs.
    pub took_us: u64,
    /// The request as recorded.
    pub cmd: Vec<Bytes>,
    /// The replies as recorded.
    pub replies: Vec<Value>,
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
    next: usize,
}

/// Every recording of one match key, grouped by recorded connection.
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
    },
    /// Nothing recorded matches.
    Miss {
        /// The closest recorded command, displayed.
        closest: Option<String>,
    },
}

/// The state of a live connection that the matcher needs.
#[derive(Debug, Default)]
struct Live {
    bound: Option<u64>,
    subscriptions: HashSet<(Namespace, Bytes)>,
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
    /// The highest recorded connection id.
    max_conn: u64,
    keys: HashMap<Vec<Bytes>, KeyQueue>,
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
            keys: HashMap::default(),
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

    /// Indexes one cassette event (in file order).
    pub fn add(&mut self, event: Event) {
        self.max_conn = self.max_conn.max(event.conn());
        match event {
            Event::Interaction(i) => {
                let index = self.recordings.len();
                // Look up by reference: most keys repeat, and copying every
                // command into a fresh key would cost a million allocations.
                let key = match_key(&i.cmd, &self.rules);
                if !self.keys.contains_key(&*key) {
                    self.keys.insert(key.to_vec(), KeyQueue::default());
                }
                let Some(queue) = self.keys.get_mut(&*key) else {
                    return;
                };
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
                // Pushes before the first interaction go with the first one.
                if index == 0 && !self.leading_pushes.is_empty() {
                    self.pushes_after
                        .insert(0, std::mem::take(&mut self.leading_pushes));
                }
                self.shifted.add(index, &i.cmd);
                self.recordings.push(Recording {
                    conn: i.conn,
                    at_ms: i.at_ms,
                    took_us: i.took_us,
                    cmd: i.cmd,
                    replies: i.replies,
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
            Event::Connection(_) => {}
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

    /// Finds the reply for `args` sent by live connection `live`.
    pub fn find(&mut self, live: u64, args: &[Bytes]) -> Matched {
        let key = match_key(args, &self.rules);
        let bound_to = self.live.get(&live).and_then(|l| l.bound);
        let Some(queue) = self.keys.get_mut(&*key) else {
            return self.miss(args, &key);
        };
        // 1. The bound recorded connection's next unused recording.
        // 2. Else the earliest unused one of a recorded connection no other
        //    live connection is bound to; then any unused one.
        let bound = &self.bound;
        let of_bound = bound_to.and_then(|b| queue.by_conn.get(&b).copied());
        let pick = if queue.unused == 0 {
            None
        } else {
            of_bound
                .filter(|&i| queue.conns[i].next < queue.conns[i].items.len())
                .or_else(|| {
                    queue
                        .conns
                        .iter()
                        .enumerate()
                        .filter(|(_, q)| q.next < q.items.len())
                        .min_by_key(|(_, q)| {
                            let taken = bound.get(&q.conn).is_some_and(|&l| l != live);
                            (taken, q.items[q.next])
                        })
                        .map(|(i, _)| i)
                })
        };
        let (recording, repeated) = match pick {
            Some(i) => {
                let q = &mut queue.conns[i];
                let index = q.items[q.next];
                q.next += 1;
                queue.unused -= 1;
                (index, false)
            }
            None if self.repeat => {
                let last_of_bound = of_bound.and_then(|i| queue.conns[i].items.last().copied());
                (last_of_bound.unwrap_or(queue.last), true)
            }
            None => return self.miss(args, &key),
        };
        let conn = self.recordings[recording].conn;
        if bound_to.is_none() && !self.bound.contains_key(&conn) {
            self.bound.insert(conn, live);
            if let Some(l) = self.live.get_mut(&live) {
                l.bound = Some(conn);
            }
        }
        self.counters.served += 1;
        let mut deliveries = Vec::new();
        if repeated {
            self.counters.repeated += 1;
        } else {
            self.served[recording] = true;
            deliveries = self.deliveries(recording);
        }
        Matched::Hit {
            recording,
            repeated,
            deliveries,
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
        args: &[Bytes],
        clock: &Clock,
        now_ms: i64,
    ) -> Option<Matched> {
        let times = clock::time_args(args);
        let bound = self.live.get(&live).and_then(|l| l.bound);
        let candidates = self.shifted.candidates(args, &times).iter().map(|&r| {
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
        match self.find(live, &recorded) {
            Matched::Miss { .. } => None,
            hit => {
                clock.learn(offset);
                Some(hit)
            }
        }
    }

    fn miss(&mut self, _args: &[Bytes], key: &[Bytes]) -> Matched {
        Matched::Miss {
            closest: self.closest(key),
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

    /// The recorded command most like `key`: same name first, then the
    /// smallest edit distance (bounded work on huge cassettes).
    fn closest(&self, key: &[Bytes]) -> Option<String> {
        let target = display_command(key);
        let name = key.first()?;
        let same_name = self
            .keys
            .keys()
            .filter(|k| k.first().is_some_and(|n| n.eq_ignore_ascii_case(name)));
        let candidates: Vec<&Vec<Bytes>> = same_name.take(2000).collect();
        let pool: Vec<&Vec<Bytes>> = if candidates.is_empty() {
            self.keys.keys().take(2000).collect()
        } else {
            candidates
        };
        pool.into_iter()
            .map(|k| {
                let shown = display_command(k);
                (edit_distance(&shown, &target), shown)
            })
            .min()
            .map(|(_, shown)| shown)
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
mod tests {
    use super::*;
    use crate::cassette::{Header, Interaction, PushEvent};

    fn args(s: &str) -> Vec<Bytes> {
        crate::command::args_of(&s.split(' ').collect::<Vec<_>>())
    }

    fn interaction(conn: u64, seq: u64, cmd: &str, reply: i64) -> Event {
        Event::Interaction(Interaction {
            conn,
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

    fn reply(m: &mut Matcher, live: u64, cmd: &str) -> Option<i64> {
        match m.find(live, &args(cmd)) {
            Matched::Hit { recording, .. } => match m.recording(recording).replies[0] {
                Value::Integer(n) => Some(n),
                _ => None,
            },
            Matched::Miss { .. } => None,
        }
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
        match m.find(1, &args("GET user:7")) {
            Matched::Miss { closest } => assert_eq!(closest.as_deref(), Some("GET user:8")),
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
        match m.find(7, &args("PUBLISH news hi")) {
            Matched::Hit { deliveries, .. } => {
                assert_eq!(deliveries.len(), 1);
                assert_eq!(deliveries[0].live, 8);
            }
            other => panic!("{other:?}"),
        }
    }
}
