//! Folding a cassette's events, as they stream past, into the page's
//! [`Data`]: counters, histograms and bounded tables, never the events.
//!
//! Memory grows with the number of connections (a lane each, some tens of
//! bytes) and is otherwise fixed: per-command histograms (at most
//! [`COMMANDS_MAX`] names), the hot-key table, the error groups (at most
//! [`ERROR_GROUPS_MAX`]) and the timeline's marks (see [`super::marks`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;

use super::data::{
    ClusterNode, CommandLatency, Count, Data, ErrorGroup, Errors, Keys, Lane, Latency, Linked,
    Miss, Replay, ReplayTotals, Sampling, Summary,
};
use super::histogram::{self, Histogram};
use super::marks::{Keep, Kind, Mark, Timeline, KIND_MAX, SAMPLED_MAX};
use super::overlay::ReplayOverlay;
use super::text::{cut, encoded_len, mark_text, value_text};
use super::topk::{HotKeys, TopN};
use crate::cassette::{ConnState, Event, Header, Interaction};
use crate::command::{self, Class};
use crate::replay::display::{display_command, repr};
use crate::resp::{AggregateKind, Value};

/// Command names tracked apart; later names count as `(other)`.
pub const COMMANDS_MAX: usize = 500;
/// Error texts grouped apart; later texts are counted, not grouped.
pub const ERROR_GROUPS_MAX: usize = 200;
/// Connections drawn as lanes; later ones are counted, not drawn.
pub const LANES_MAX: usize = 2_000;
/// Rows of the slowest and biggest tables.
const TOP_ROWS: usize = 20;
/// Hot keys shown.
const KEYS_SHOWN: usize = 30;
/// Keys the hot-key table holds exactly (see [`HotKeys`]).
const KEYS_TRACKED: usize = 10_000;
/// Characters of a command line in a table row.
const CMD_SHOWN: usize = 200;

/// A command's name for grouping, without allocating for known commands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Name {
    /// A command the table knows, with its subcommand for a container.
    Known(&'static str, Option<&'static str>),
    /// Any other first word, uppercased.
    Other(Box<str>),
    /// Past [`COMMANDS_MAX`] names.
    Rest,
}

impl Name {
    fn of(class: Class, cmd: &[Bytes]) -> Name {
        match class.spec() {
            Some(spec) if class.is_container() && spec.name != class.name() => {
                Name::Known(class.name(), Some(spec.name))
            }
            Some(_) => Name::Known(class.name(), None),
            None => {
                let mut word = cmd
                    .first()
                    .map(|w| String::from_utf8_lossy(w).to_uppercase())
                    .unwrap_or_default();
                cut(&mut word, 40);
                Name::Other(word.into())
            }
        }
    }

    fn text(&self) -> String {
        match self {
            Name::Known(c, None) => (*c).to_string(),
            Name::Known(c, Some(sub)) => format!("{c} {sub}"),
            Name::Other(w) => w.to_string(),
            Name::Rest => "(other)".into(),
        }
    }
}

/// A connection as the collector follows it.
#[derive(Debug)]
struct Conn {
    lane: Lane,
    /// The protocol its last successful `HELLO` chose.
    hello: Option<u8>,
    /// A reply or push only RESP3 has was seen.
    resp3_seen: bool,
}

/// An error text's group.
#[derive(Debug)]
struct Group {
    count: u64,
    first: String,
    e: u64,
}

/// A row of the slowest or biggest table, with its mark.
#[derive(Debug)]
struct Row {
    mark: Mark,
    name: String,
    cmd: String,
    bytes: u64,
}

/// The state of one pass over a cassette.
pub struct Collector<'o> {
    overlay: Option<&'o ReplayOverlay>,
    /// Interactions (by overlay number) a miss names as closest: kept on
    /// the timeline so the misses can link to them.
    closest: HashSet<u64>,
    /// Their marks' ids, as met.
    closest_e: HashMap<u64, u64>,
    /// Events seen (the next event's id).
    events: u64,
    interactions: u64,
    pushes: u64,
    end_ms: u64,
    conns: Vec<Conn>,
    conn_index: HashMap<u64, usize>,
    dbs: BTreeMap<u32, u64>,
    errors: u64,
    blocking: u64,
    groups: HashMap<String, Group>,
    ungrouped: u64,
    commands: HashMap<Name, Histogram>,
    all: Histogram,
    keys: HotKeys,
    slowest: TopN<Row>,
    biggest: TopN<Row>,
    timeline: Timeline,
}

impl<'o> Collector<'o> {
    /// A collector for a cassette, with a replay's overlay if there is one.
    pub fn new(overlay: Option<&'o ReplayOverlay>) -> Collector<'o> {
        let closest = overlay
            .map(|o| {
                o.misses
                    .iter()
                    .filter_map(|m| m.closest_recording.map(|n| n as u64))
                    .collect()
            })
            .unwrap_or_default();
        Collector {
            overlay,
            closest,
            closest_e: HashMap::new(),
            events: 0,
            interactions: 0,
            pushes: 0,
            end_ms: 0,
            conns: Vec::new(),
            conn_index: HashMap::new(),
            dbs: BTreeMap::new(),
            errors: 0,
            blocking: 0,
            groups: HashMap::new(),
            ungrouped: 0,
            commands: HashMap::new(),
            all: Histogram::default(),
            keys: HotKeys::new(KEYS_TRACKED),
            slowest: TopN::new(TOP_ROWS),
            biggest: TopN::new(TOP_ROWS),
            timeline: Timeline::new(),
        }
    }

    /// The connection `id`'s index, created on first sight.
    fn conn(&mut self, id: u64) -> usize {
        let next = self.conns.len();
        *self.conn_index.entry(id).or_insert_with(|| {
            self.conns.push(Conn {
                lane: Lane {
                    c: id,
                    open: None,
                    close: None,
                    by_server: false,
                    node: None,
                    n: 0,
                    errors: 0,
                    proto: 2,
                },
                hello: None,
                resp3_seen: false,
            });
            next
        })
    }

    /// Takes in the next event of the file.
    pub fn add(&mut self, event: Event) {
        let e = self.events;
        self.events += 1;
        let at = self.conn(event.conn());
        let drawn = at < LANES_MAX;
        match &event {
            Event::Connection(c) => {
                self.end_ms = self.end_ms.max(c.at_ms);
                let lane = &mut self.conns[at].lane;
                match c.event {
                    ConnState::Open => {
                        lane.open = Some(c.at_ms);
                        lane.node.clone_from(&c.node);
                    }
                    ConnState::Close => {
                        lane.close = Some(c.at_ms);
                        lane.by_server = c.by_server;
                    }
                }
            }
            Event::Push(p) => {
                self.pushes += 1;
                self.end_ms = self.end_ms.max(p.at_ms);
                if drawn {
                    let mark = |k| Mark {
                        e,
                        c: p.conn,
                        t: p.at_ms,
                        d: 0,
                        k,
                        n: None,
                        o: None,
                        x: mark_text(&event),
                    };
                    if self.timeline.has_room(Keep::Push) {
                        self.timeline.add_kind(Keep::Push, mark(Kind::Push));
                    } else if let Some(ordinal) = self.timeline.offer_ordinary() {
                        self.timeline.add_sampled(ordinal, mark(Kind::Push));
                    }
                }
            }
            Event::Interaction(i) => self.interaction(e, at, drawn, &event, i),
        }
    }

    fn interaction(&mut self, e: u64, at: usize, drawn: bool, event: &Event, i: &Interaction) {
        let n = self.interactions;
        self.interactions += 1;
        self.end_ms = self.end_ms.max(i.at_ms + i.took_us.div_ceil(1000));
        *self.dbs.entry(i.db).or_default() += 1;

        let class = Class::of(&i.cmd);
        let error = i.replies.iter().find(|r| r.is_error());
        let blocking = class.is_blocking(&i.cmd);
        let bytes: u64 = i.replies.iter().map(encoded_len).sum();
        self.blocking += u64::from(blocking);

        // The protocol: a successful HELLO says it; else a RESP3-only reply.
        let conn = &mut self.conns[at];
        conn.lane.n += 1;
        if let Some(version) = command::hello_version(&i.cmd) {
            if error.is_none() && !i.replies.is_empty() {
                match version {
                    b"3" => conn.hello = Some(3),
                    b"2" => conn.hello = Some(2),
                    _ => {}
                }
            }
        }
        if !conn.resp3_seen {
            conn.resp3_seen = i.replies.iter().any(resp3_only);
        }

        // Latency and mix by name.
        let mut name = Name::of(class, &i.cmd);
        if !self.commands.contains_key(&name) && self.commands.len() >= COMMANDS_MAX {
            name = Name::Rest;
        }
        self.commands
            .entry(name.clone())
            .or_default()
            .add(i.took_us);
        self.all.add(i.took_us);

        // Keys, where the command's key specs say they are.
        if let Some(spec) = command::lookup(&i.cmd) {
            for k in command::locate::keys(spec, &i.cmd) {
                self.keys.add(&i.cmd[k]);
            }
        }

        // Errors, grouped by text; a new group's first example is linked.
        let mut first_of_group = false;
        if let Some(err) = error {
            self.errors += 1;
            self.conns[at].lane.errors += 1;
            let text = value_text(err, 300).trim_end().to_string();
            let groups = self.groups.len();
            match self.groups.get_mut(&text) {
                Some(g) => g.count += 1,
                None if groups < ERROR_GROUPS_MAX => {
                    first_of_group = true;
                    let mut first = display_command(&i.cmd);
                    cut(&mut first, CMD_SHOWN);
                    self.groups.insert(text, Group { count: 1, first, e });
                }
                None => self.ungrouped += 1,
            }
        }

        let state = self.overlay.map(|o| {
            let served = o.served.get(n as usize).copied().unwrap_or(0);
            let repeated = o.repeated.get(n as usize).copied().unwrap_or(0);
            match (served, repeated) {
                (0, _) => "unused",
                (_, 0) => "served",
                _ => "repeated",
            }
        });
        let kind = if error.is_some() {
            Kind::Err
        } else if blocking {
            Kind::Block
        } else {
            Kind::Cmd
        };
        let mark = || Mark {
            e,
            c: i.conn,
            t: i.at_ms,
            d: i.took_us,
            k: kind,
            n: Some(n),
            o: state,
            x: mark_text(event),
        };

        // The slowest and biggest, over every connection.
        if self.slowest.wants(i.took_us) {
            let row = self.row(&class, i, bytes, mark());
            self.slowest.offer(i.took_us, row);
        }
        if self.biggest.wants(bytes) {
            let row = self.row(&class, i, bytes, mark());
            self.biggest.offer(bytes, row);
        }

        let closest = self.closest.contains(&n);
        if closest {
            self.closest_e.insert(n, e);
        }
        if !drawn && !first_of_group && !closest {
            return;
        }
        let keep = [
            (error.is_some(), Keep::Err),
            (blocking, Keep::Block),
            (state == Some("unused"), Keep::Unused),
        ]
        .into_iter()
        .find(|&(applies, keep)| applies && self.timeline.has_room(keep))
        .map(|(_, keep)| keep);
        match keep {
            Some(keep) if drawn => self.timeline.add_kind(keep, mark()),
            _ if first_of_group || closest => self.timeline.add_linked(mark()),
            _ => {
                if let Some(ordinal) = self.timeline.offer_ordinary() {
                    self.timeline.add_sampled(ordinal, mark());
                }
            }
        }
    }

    fn row(&self, class: &Class, i: &Interaction, bytes: u64, mark: Mark) -> Row {
        let mut cmd = display_command(&i.cmd);
        cut(&mut cmd, CMD_SHOWN);
        Row {
            mark,
            name: Name::of(*class, &i.cmd).text(),
            cmd,
            bytes,
        }
    }

    /// The page's data, once every event is in.
    pub fn finish(mut self, header: &Header, file: String) -> Data {
        let slowest = std::mem::replace(&mut self.slowest, TopN::new(0)).into_sorted();
        let biggest = std::mem::replace(&mut self.biggest, TopN::new(0)).into_sorted();
        let linked = |rows: Vec<(u64, Row)>, timeline: &mut Timeline| -> Vec<Linked> {
            rows.into_iter()
                .map(|(_, row)| {
                    let out = Linked {
                        e: row.mark.e,
                        name: row.name,
                        cmd: row.cmd,
                        conn: row.mark.c,
                        at_ms: row.mark.t,
                        took_us: row.mark.d,
                        bytes: row.bytes,
                    };
                    timeline.add_linked(row.mark);
                    out
                })
                .collect()
        };
        let slowest = linked(slowest, &mut self.timeline);
        let biggest = linked(biggest, &mut self.timeline);
        let chosen = self.timeline.finish();

        let mut resp3 = 0;
        let mut closed_by_server = 0;
        let lanes_hidden = self.conns.len().saturating_sub(LANES_MAX) as u64;
        let mut lanes = Vec::with_capacity(self.conns.len().min(LANES_MAX));
        for (k, mut conn) in self.conns.into_iter().enumerate() {
            let proto = conn.hello.unwrap_or(if conn.resp3_seen { 3 } else { 2 });
            resp3 += u64::from(proto == 3);
            closed_by_server += u64::from(conn.lane.by_server);
            conn.lane.proto = proto;
            if k < LANES_MAX {
                lanes.push(conn.lane);
            }
        }
        let connections = lanes.len() as u64 + lanes_hidden;

        let mut commands: Vec<CommandLatency> = self
            .commands
            .iter()
            .map(|(name, h)| CommandLatency {
                name: name.text(),
                stats: h.summary(),
            })
            .collect();
        commands.sort_by(|a, b| b.stats.count.cmp(&a.stats.count).then(a.name.cmp(&b.name)));
        let mix = commands
            .iter()
            .map(|c| Count {
                name: c.name.clone(),
                count: c.stats.count,
            })
            .collect();

        let mut groups: Vec<ErrorGroup> = self
            .groups
            .into_iter()
            .map(|(text, g)| ErrorGroup {
                text,
                count: g.count,
                first: g.first,
                e: g.e,
            })
            .collect();
        groups.sort_by(|a, b| b.count.cmp(&a.count).then(a.e.cmp(&b.e)));

        let replay = self.overlay.map(|o| Replay {
            overlay: ReplayTotals::of(o),
            misses: o
                .misses
                .iter()
                .map(|m| Miss {
                    live_conn: m.live_conn,
                    bound_to: m.bound_to,
                    at_ms: m.at_ms,
                    db: m.db,
                    command: m.command.clone(),
                    closest: m.closest.clone(),
                    why: m.why.clone(),
                    e: m.closest_recording
                        .and_then(|n| self.closest_e.get(&(n as u64)).copied()),
                })
                .collect(),
            mismatch: (o.served.len() as u64 != self.interactions).then(|| {
                format!(
                    "the replay counted {} recordings, this cassette has {} interactions: \
                     the overlay may come from another cassette",
                    o.served.len(),
                    self.interactions
                )
            }),
        });

        Data {
            file,
            created: header.created.clone(),
            upstream: header.upstream.clone(),
            server_version: header.server_version.clone(),
            cluster: header
                .cluster
                .iter()
                .flat_map(|t| &t.nodes)
                .map(|node| ClusterNode {
                    addr: node.addr.clone(),
                    role: node.role.to_string(),
                    slots: node
                        .slots
                        .iter()
                        .map(|[a, b]| {
                            if a == b {
                                a.to_string()
                            } else {
                                format!("{a}-{b}")
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(","),
                })
                .collect(),
            summary: Summary {
                connections,
                interactions: self.interactions,
                pushes: self.pushes,
                duration_ms: self.end_ms,
                databases: self.dbs.into_iter().collect(),
                resp2: connections - resp3,
                resp3,
                errors: self.errors,
                blocking: self.blocking,
                closed_by_server,
            },
            sampling: Sampling {
                events: self.interactions + self.pushes,
                drawn: chosen.marks.len() as u64,
                stride: chosen.stride,
                sampled_max: SAMPLED_MAX,
                kind_max: KIND_MAX,
                lanes_max: LANES_MAX,
                lanes_hidden,
            },
            lanes,
            marks: chosen.marks,
            latency: Latency {
                precision: histogram::PRECISION,
                all: self.all.summary(),
                commands,
            },
            slowest,
            mix,
            keys: Keys {
                top: self
                    .keys
                    .top(KEYS_SHOWN)
                    .into_iter()
                    .map(|(k, count)| Count {
                        name: repr(k),
                        count,
                    })
                    .collect(),
                total: self.keys.total(),
                error_bound: self.keys.error_bound(),
            },
            biggest,
            errors: Errors {
                groups,
                ungrouped: self.ungrouped,
            },
            replay,
        }
    }
}

/// True when `value` holds a type only RESP3 has, which tells a RESP3
/// connection whose `HELLO 3` was not recorded. Nulls and pushes do not
/// count: the cassette writes RESP2's `$-1` and RESP3's `_` alike, and
/// RESP2's pub/sub arrays as pushes.
fn resp3_only(value: &Value) -> bool {
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        match v {
            Value::Map(_)
            | Value::Set(_)
            | Value::Double(_)
            | Value::Boolean(_)
            | Value::BigNumber(_)
            | Value::Verbatim(_)
            | Value::BulkError(_)
            | Value::Attributed { .. }
            | Value::StreamedBulk(_) => return true,
            Value::StreamedAggregate { kind, items } => {
                if !matches!(kind, AggregateKind::Push) {
                    return true;
                }
                todo.extend(items);
            }
            Value::Array(items) | Value::Push(items) => todo.extend(items),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp3_is_told_by_types_resp2_cannot_carry() {
        let resp2 = [
            Value::Null,
            Value::Push(vec![
                Value::bulk("message"),
                Value::bulk("c"),
                Value::bulk("hi"),
            ]),
            Value::Array(vec![Value::Integer(1), Value::NullArray]),
        ];
        assert!(!resp2.iter().any(resp3_only));
        let resp3 = [
            Value::Map(vec![]),
            Value::Array(vec![Value::Array(vec![Value::Double("1.5".into())])]),
            Value::Push(vec![Value::Boolean(true)]),
        ];
        assert!(resp3.iter().all(resp3_only));
    }
}
