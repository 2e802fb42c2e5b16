//! What `conform` will send, and when each command may go.
//!
//! A cassette is written in the order replies completed. Sending every
//! command only after the commands written before it (on other
//! connections) were answered keeps the order the recorded server ran them
//! in: a reader runs after the writer it read from, a `SUBSCRIBE` is in
//! place before the `PUBLISH` that reached it. Two exceptions keep that
//! from deadlocking or serialising more than the recording did:
//!
//! - a **blocking** command (`BLPOP`, `XREAD BLOCK`…) completes only when
//!   another connection releases it, so its reply may be written before or
//!   after its releaser's. Nobody waits for it unless it certainly
//!   completed before they were sent (its whole millisecond plus its
//!   duration lies before theirs);
//! - on its own connection a command goes right behind the previous one
//!   (pipelined) when the recording sent it before that one's reply came;
//!   otherwise it waits for that reply, as the client did. A command that
//!   sends back a value a reply made up (a `SCAN` cursor, an `XADD *` id)
//!   always waits: its client could not have sent it earlier.
//!
//! The recording's times are whole milliseconds, so within one millisecond
//! the file order decides, and it is what the recorder saw.

use bytes::Bytes;

use super::flow;
use crate::cassette::{Cassette, ConnState, Event};
use crate::command::{self, Class};
use crate::resp::Value;

/// One recorded interaction to send.
#[derive(Debug)]
pub struct Item {
    /// Its connection (an index into [`Plan::conns`]).
    pub conn: usize,
    /// Its sequence number on the recorded connection.
    pub seq: u64,
    /// The database it ran in.
    pub db: u32,
    /// When it was sent, ms since the recording started.
    pub at_ms: u64,
    /// How long its reply took, µs.
    pub took_us: u64,
    /// The command as recorded.
    pub cmd: Vec<Bytes>,
    /// The recorded replies.
    pub replies: Vec<Value>,
    /// A blocking command: nobody waits for it (see the module doc).
    pub blocking: bool,
    /// It sends back a value an earlier reply made up (a cursor, a stream
    /// id): its client waited for that reply, so it is never pipelined.
    pub sends_back: bool,
    /// Why it is not sent, when it is not (`--unsafe` sends it).
    pub skip: Option<&'static str>,
}

impl Item {
    /// When it certainly completed, µs since the recording started (the
    /// end of its millisecond plus its duration).
    fn done_by_us(&self) -> u64 {
        (self.at_ms + 1) * 1000 + self.took_us
    }

    /// The earliest it may have been sent, µs.
    fn sent_from_us(&self) -> u64 {
        self.at_ms * 1000
    }
}

/// One recorded connection.
#[derive(Debug, Default)]
pub struct Conn {
    /// Its id in the cassette.
    pub recorded: u64,
    /// Its interactions (indexes into [`Plan::items`]), in order.
    pub items: Vec<usize>,
    /// It spoke RESP3: its replies hold RESP3-only types, so the live
    /// connection says `HELLO 3` first (a successful `HELLO` is a trivial
    /// call, left out of recordings).
    pub resp3: bool,
    /// The pushes it received (pub/sub messages, invalidations), in order;
    /// `MONITOR` lines are left out.
    pub pushes: Vec<Value>,
    /// The server closed it (a kill, a timeout): the target should too.
    pub closed_by_server: bool,
    /// Which copy of the recording it belongs to (`--connections-scale`):
    /// the order is kept among the connections of one copy only.
    pub copy: usize,
    /// In a cluster recording, the node it talked to (its open event's
    /// `node`; none: the recording's seed node).
    pub node: Option<String>,
}

/// Everything `conform` sends, from one cassette.
#[derive(Debug, Default)]
pub struct Plan {
    /// The interactions, in file order.
    pub items: Vec<Item>,
    /// The connections, in the order they first appear.
    pub conns: Vec<Conn>,
    /// Keep the recorded order across connections (see the module doc).
    /// A load test, which compares nothing, turns it off: each connection
    /// then goes at its own pace, as the recorded clients did.
    pub unordered: bool,
}

/// Commands that change the server itself or take it over, not data:
/// `conform` sends them only with `--unsafe`.
pub fn unsafe_reason(args: &[Bytes]) -> Option<&'static str> {
    let name = command::name(args);
    let sub = |word: &str| command::arg_is(args, 1, word);
    let unsafe_ = match name.as_bytes() {
        b"SHUTDOWN" | b"DEBUG" | b"FAILOVER" | b"REPLICAOF" | b"SLAVEOF" | b"SAVE" | b"BGSAVE"
        | b"BGREWRITEAOF" => true,
        b"CONFIG" => sub("SET") || sub("REWRITE") || sub("RESETSTAT"),
        b"CLUSTER" => sub("FAILOVER") || sub("RESET"),
        b"MODULE" => sub("LOAD") || sub("LOADEX") || sub("UNLOAD"),
        b"ACL" => sub("LOAD") || sub("SAVE"),
        _ => false,
    };
    if unsafe_ {
        return Some("changes the server (--unsafe sends it)");
    }
    match name.as_bytes() {
        b"MONITOR" | b"SYNC" | b"PSYNC" => Some("takes the connection over (--unsafe sends it)"),
        _ => None,
    }
}

/// Whether a reply is of a type only RESP3 has.
fn is_resp3_only(value: &Value) -> bool {
    match value {
        Value::Map(_)
        | Value::Set(_)
        | Value::Null
        | Value::Double(_)
        | Value::Boolean(_)
        | Value::BigNumber(_)
        | Value::Verbatim(_)
        | Value::BulkError(_)
        | Value::Push(_)
        | Value::Attributed { .. } => true,
        Value::Array(items) => items.iter().any(is_resp3_only),
        _ => false,
    }
}

impl Plan {
    /// The plan of a loaded cassette; `send_unsafe` sends what
    /// [`unsafe_reason`] holds back.
    pub fn new(cassette: &Cassette, send_unsafe: bool) -> Plan {
        let mut plan = Plan::default();
        let mut index: std::collections::HashMap<u64, usize> = Default::default();
        let mut monitoring = std::collections::HashSet::new();
        let mut made_up = std::collections::HashSet::new();
        let mut conn_of = |plan: &mut Plan, recorded: u64| -> usize {
            *index.entry(recorded).or_insert_with(|| {
                plan.conns.push(Conn {
                    recorded,
                    ..Conn::default()
                });
                plan.conns.len() - 1
            })
        };
        for event in &cassette.events {
            match event {
                Event::Interaction(i) => {
                    let conn = conn_of(&mut plan, i.conn);
                    let class = Class::of(&i.cmd);
                    if command::name(&i.cmd).as_bytes() == b"MONITOR" {
                        monitoring.insert(i.conn);
                    }
                    plan.conns[conn].resp3 |= i.replies.iter().any(is_resp3_only);
                    made_up.extend(flow::made_up(&i.cmd, &i.replies));
                    plan.conns[conn].items.push(plan.items.len());
                    plan.items.push(Item {
                        conn,
                        seq: i.seq,
                        db: i.db,
                        at_ms: i.at_ms,
                        took_us: i.took_us,
                        blocking: class.is_blocking(&i.cmd),
                        sends_back: flow::sends_back(&i.cmd, &made_up),
                        skip: if send_unsafe {
                            None
                        } else {
                            unsafe_reason(&i.cmd)
                        },
                        cmd: i.cmd.clone(),
                        replies: i.replies.clone(),
                    });
                }
                Event::Push(p) => {
                    let conn = conn_of(&mut plan, p.conn);
                    let monitor_line =
                        monitoring.contains(&p.conn) && matches!(p.push, Value::Simple(_));
                    if !monitor_line {
                        plan.conns[conn].resp3 |= matches!(p.push, Value::Push(_));
                        plan.conns[conn].pushes.push(p.push.clone());
                    }
                }
                Event::Connection(c) => {
                    let conn = conn_of(&mut plan, c.conn);
                    if c.event == ConnState::Close && c.by_server {
                        plan.conns[conn].closed_by_server = true;
                    }
                    if c.event == ConnState::Open && c.node.is_some() {
                        plan.conns[conn].node.clone_from(&c.node);
                    }
                }
            }
        }
        plan
    }

    /// The plan played `copies` times over at once, each recorded
    /// connection by `copies` live ones (`--connections-scale`): the
    /// order across connections is kept within each copy.
    pub fn scaled(self, copies: usize) -> Plan {
        if copies <= 1 {
            return self;
        }
        let mut plan = Plan::default();
        for conn in &self.conns {
            for copy in 0..copies {
                plan.conns.push(Conn {
                    recorded: conn.recorded,
                    items: Vec::new(),
                    resp3: conn.resp3,
                    pushes: conn.pushes.clone(),
                    closed_by_server: conn.closed_by_server,
                    copy,
                    node: conn.node.clone(),
                });
            }
        }
        for item in &self.items {
            for copy in 0..copies {
                let conn = item.conn * copies + copy;
                plan.conns[conn].items.push(plan.items.len());
                plan.items.push(Item {
                    conn,
                    seq: item.seq,
                    db: item.db,
                    at_ms: item.at_ms,
                    took_us: item.took_us,
                    cmd: item.cmd.clone(),
                    replies: item.replies.clone(),
                    blocking: item.blocking,
                    sends_back: item.sends_back,
                    skip: item.skip,
                });
            }
        }
        plan
    }

    /// Whether item `i`, the next of its connection, may be sent now.
    pub fn is_ready(&self, i: usize, progress: &Progress) -> bool {
        let item = &self.items[i];
        let done = &progress.done;
        // Its own connection: right behind the previous one when the
        // recording pipelined it, else after that one's reply.
        let own = &self.conns[item.conn].items;
        let at = progress.next[item.conn];
        if at > 0 {
            let previous = own[at - 1];
            let p = &self.items[previous];
            let pipelined = !item.sends_back && item.sent_from_us() < p.at_ms * 1000 + p.took_us;
            if !done[previous] && !pipelined {
                return false;
            }
        }
        // Other connections: what was written before it must be answered,
        // save blocking commands that did not certainly complete first
        // (and what their connection queued behind them).
        if self.unordered {
            return true;
        }
        let copy = self.conns[item.conn].copy;
        for (c, conn) in self.conns.iter().enumerate() {
            if c == item.conn || conn.copy != copy {
                continue;
            }
            for &j in &conn.items[progress.open[c]..] {
                if j >= i {
                    break;
                }
                if done[j] {
                    continue;
                }
                let other = &self.items[j];
                if other.blocking && other.done_by_us() > item.sent_from_us() {
                    break;
                }
                return false;
            }
        }
        true
    }
}

/// How far a run got: per item whether it is answered, per connection the
/// next item to send and the first not answered.
#[derive(Debug)]
pub struct Progress {
    /// Item answered (or never to be: skipped, its connection gone).
    pub done: Vec<bool>,
    /// How many are.
    finished: usize,
    /// Per connection: the position of its next item to send.
    pub next: Vec<usize>,
    /// Per connection: the position of its first item not answered.
    pub open: Vec<usize>,
}

impl Progress {
    /// Nothing sent yet.
    pub fn new(plan: &Plan) -> Progress {
        Progress {
            done: vec![false; plan.items.len()],
            finished: 0,
            next: vec![0; plan.conns.len()],
            open: vec![0; plan.conns.len()],
        }
    }

    /// Notes item `i` answered.
    pub fn finish(&mut self, plan: &Plan, i: usize) {
        if self.done[i] {
            return;
        }
        self.done[i] = true;
        self.finished += 1;
        let c = plan.items[i].conn;
        let items = &plan.conns[c].items;
        while self.open[c] < items.len() && self.done[items[self.open[c]]] {
            self.open[c] += 1;
        }
    }

    /// The next item of connection `c` to send, if any is left.
    pub fn next_of(&self, plan: &Plan, c: usize) -> Option<usize> {
        plan.conns[c].items.get(self.next[c]).copied()
    }

    /// True once every item is answered.
    pub fn all_done(&self) -> bool {
        self.finished == self.done.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Header, Interaction};

    fn interaction(conn: u64, at_ms: u64, took_us: u64, cmd: &str) -> Event {
        Event::Interaction(Interaction {
            conn,
            db: 0,
            seq: 0,
            at_ms,
            took_us,
            cmd: command::args_of(&cmd.split(' ').collect::<Vec<_>>()),
            replies: vec![Value::Integer(1)],
        })
    }

    fn plan(events: Vec<Event>) -> Plan {
        let cassette = Cassette {
            header: Header::new(None),
            events,
            warnings: Vec::new(),
        };
        Plan::new(&cassette, false)
    }

    /// Items ready when the ones in `answered` are answered (and sent).
    fn ready(plan: &Plan, answered: &[usize]) -> Vec<usize> {
        let mut progress = Progress::new(plan);
        for &a in answered {
            progress.finish(plan, a);
            progress.next[plan.items[a].conn] += 1;
        }
        (0..plan.conns.len())
            .filter_map(|c| progress.next_of(plan, c))
            .filter(|&i| plan.is_ready(i, &progress))
            .collect()
    }

    #[test]
    fn a_reader_waits_for_the_writer_written_before_it() {
        let p = plan(vec![
            interaction(1, 0, 100, "SET k v"),
            interaction(2, 0, 100, "GET k"),
        ]);
        assert_eq!(ready(&p, &[]), [0]);
        assert_eq!(ready(&p, &[0]), [1]);
    }

    #[test]
    fn a_blocked_pop_does_not_hold_back_its_releaser() {
        // BLPOP's reply was written first (it raced LPUSH's), yet LPUSH
        // must go: BLPOP did not certainly complete before LPUSH was sent.
        let p = plan(vec![
            interaction(1, 0, 5000, "BLPOP q 0"),
            interaction(2, 4, 100, "LPUSH q x"),
        ]);
        assert_eq!(ready(&p, &[]), [0, 1]);
    }

    #[test]
    fn a_blocking_command_that_completed_long_before_is_waited_for() {
        let p = plan(vec![
            interaction(1, 0, 100, "BLPOP q 0"),
            interaction(2, 50, 100, "GET k"),
        ]);
        assert_eq!(ready(&p, &[]), [0]);
    }

    #[test]
    fn pipelined_commands_go_together_and_awaited_ones_wait() {
        let p = plan(vec![
            interaction(1, 0, 900, "SET a 1"),
            interaction(1, 0, 900, "SET b 1"),
            interaction(1, 5, 100, "GET a"),
        ]);
        let mut progress = Progress::new(&p);
        progress.next[0] = 1;
        assert!(p.is_ready(1, &progress), "sent right behind SET a");
        progress.next[0] = 2;
        assert!(!p.is_ready(2, &progress), "the client waited for SET b");
        progress.finish(&p, 1);
        assert!(p.is_ready(2, &progress));
    }

    #[test]
    fn server_changing_commands_are_held_back() {
        assert!(unsafe_reason(&command::args_of(&["config", "set", "x", "1"])).is_some());
        assert!(unsafe_reason(&command::args_of(&["CONFIG", "GET", "x"])).is_none());
        assert!(unsafe_reason(&command::args_of(&["SHUTDOWN"])).is_some());
        assert!(unsafe_reason(&command::args_of(&["MONITOR"])).is_some());
    }
}
