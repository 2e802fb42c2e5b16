//! What the page is given: one JSON document the page's script renders
//! every section from. Field names are the script's; each says what a
//! person reads off it.

use serde::Serialize;

use super::histogram;
use super::marks::Mark;
use super::overlay::ReplayOverlay;

/// Everything the page shows.
#[derive(Debug, Serialize)]
pub struct Data {
    /// The cassette's file name (not its directory: the page may be shared).
    pub file: String,
    /// The header's `created`.
    pub created: String,
    /// The header's upstream, if any.
    pub upstream: Option<String>,
    /// The server's version, when the recorder knew it.
    pub server_version: Option<String>,
    /// A cluster recording's nodes.
    pub cluster: Vec<ClusterNode>,
    /// The counts at the top of the page.
    pub summary: Summary,
    /// One per connection drawn, in order of first appearance.
    pub lanes: Vec<Lane>,
    /// The timeline's marks, in file order.
    pub marks: Vec<Mark>,
    /// How the marks were chosen.
    pub sampling: Sampling,
    /// Latency per command name.
    pub latency: Latency,
    /// The slowest interactions, slowest first.
    pub slowest: Vec<Linked>,
    /// Interactions per command name, most frequent first.
    pub mix: Vec<Count>,
    /// The most used keys.
    pub keys: Keys,
    /// The biggest replies (RESP bytes), biggest first.
    pub biggest: Vec<Linked>,
    /// Error replies grouped by text, most frequent first.
    pub errors: Errors,
    /// What a replay did with the cassette, when the report follows one.
    pub replay: Option<Replay>,
}

/// A cluster node from the header's topology.
#[derive(Debug, Serialize)]
pub struct ClusterNode {
    /// `host:port` as the cluster announced it.
    pub addr: String,
    /// `primary` or `replica`.
    pub role: String,
    /// Its slot ranges (`0-5460`), empty for a replica.
    pub slots: String,
}

/// The summary's numbers.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Distinct recorded connections.
    pub connections: u64,
    /// Interaction lines.
    pub interactions: u64,
    /// Push lines.
    pub pushes: u64,
    /// From the recording's start to its last event's end, ms.
    pub duration_ms: u64,
    /// Interactions per database.
    pub databases: Vec<(u32, u64)>,
    /// Connections speaking RESP2.
    pub resp2: u64,
    /// Connections speaking RESP3 (a non-error reply to `HELLO 3`, or,
    /// when `HELLO` was not recorded, a reply of a type only RESP3 has).
    pub resp3: u64,
    /// Interactions answered with an error.
    pub errors: u64,
    /// Blocking commands.
    pub blocking: u64,
    /// Connections the server closed.
    pub closed_by_server: u64,
}

/// A connection's lane.
#[derive(Debug, Serialize)]
pub struct Lane {
    /// The recorded connection.
    pub c: u64,
    /// When it opened, ms (none without an open event).
    pub open: Option<u64>,
    /// When it closed, ms (none if it was open when recording stopped).
    pub close: Option<u64>,
    /// The server closed it.
    pub by_server: bool,
    /// In a cluster recording, the node it talked to.
    pub node: Option<String>,
    /// Its interactions.
    pub n: u64,
    /// Of those, answered with an error.
    pub errors: u64,
    /// Its protocol, 2 or 3.
    pub proto: u8,
}

/// How the timeline's marks were chosen.
#[derive(Debug, Serialize)]
pub struct Sampling {
    /// Events that could be drawn (interactions and pushes).
    pub events: u64,
    /// Marks drawn.
    pub drawn: u64,
    /// Every `stride`-th ordinary interaction is drawn (1: all).
    pub stride: u64,
    /// Ordinary interactions the sample holds at most.
    pub sampled_max: usize,
    /// Marks of each kept kind at most.
    pub kind_max: usize,
    /// Connections drawn at most.
    pub lanes_max: usize,
    /// Connections not drawn (past `lanes_max`).
    pub lanes_hidden: u64,
}

/// The latency section.
#[derive(Debug, Serialize)]
pub struct Latency {
    /// How exact the percentiles are, in words.
    pub precision: &'static str,
    /// All interactions together.
    pub all: histogram::Summary,
    /// Per command name, most frequent first.
    pub commands: Vec<CommandLatency>,
}

/// One command name's latency.
#[derive(Debug, Serialize)]
pub struct CommandLatency {
    /// `GET`, `CLIENT SETNAME`…
    pub name: String,
    /// Its numbers.
    #[serde(flatten)]
    pub stats: histogram::Summary,
}

/// A name and how often it came.
#[derive(Debug, Serialize)]
pub struct Count {
    /// The command name or key.
    pub name: String,
    /// How often.
    pub count: u64,
}

/// The hot keys.
#[derive(Debug, Serialize)]
pub struct Keys {
    /// The most used keys, as redis-cli quotes them.
    pub top: Vec<Count>,
    /// Key occurrences counted (a key per key-spec position).
    pub total: u64,
    /// 0 when the counts are exact; else how far below its true count a
    /// shown count may be.
    pub error_bound: u64,
}

/// A row that links to a mark: the slowest and the biggest.
#[derive(Debug, Serialize)]
pub struct Linked {
    /// The mark it links to.
    pub e: u64,
    /// The command name.
    pub name: String,
    /// The command line, cut short.
    pub cmd: String,
    /// Its connection.
    pub conn: u64,
    /// When, ms.
    pub at_ms: u64,
    /// How long, µs.
    pub took_us: u64,
    /// Its replies' RESP size, bytes.
    pub bytes: u64,
}

/// The errors section.
#[derive(Debug, Serialize)]
pub struct Errors {
    /// Groups, most frequent first.
    pub groups: Vec<ErrorGroup>,
    /// Errors whose text came after the group limit filled.
    pub ungrouped: u64,
}

/// The error replies with one text.
#[derive(Debug, Serialize)]
pub struct ErrorGroup {
    /// The error text, as redis-cli prints it.
    pub text: String,
    /// How many replies said it.
    pub count: u64,
    /// The first command answered with it.
    pub first: String,
    /// That command's mark.
    pub e: u64,
}

/// A replay's outcome on the page.
#[derive(Debug, Serialize)]
pub struct Replay {
    /// The overlay's totals and misses.
    #[serde(flatten)]
    pub overlay: ReplayTotals,
    /// The misses the overlay kept, with the mark of each closest recording.
    pub misses: Vec<Miss>,
    /// The overlay counted a different number of recordings than the
    /// cassette has: it came from another cassette (or another version).
    pub mismatch: Option<String>,
}

/// The overlay's counts.
#[derive(Debug, Serialize)]
pub struct ReplayTotals {
    /// Commands answered from the cassette, repeats included.
    pub served: u64,
    /// Of those, repeats of used-up recordings.
    pub repeated: u64,
    /// Commands nothing answered.
    pub missed: u64,
    /// Recordings never served.
    pub unused: u64,
    /// Commands the upstream answered (`--on-miss passthrough`).
    pub passed_through: u64,
    /// Live connections served.
    pub connections: u64,
}

impl ReplayTotals {
    /// The totals of `o`.
    pub fn of(o: &ReplayOverlay) -> ReplayTotals {
        ReplayTotals {
            served: o.served_total,
            repeated: o.repeated_total,
            missed: o.missed,
            unused: o.unused,
            passed_through: o.passed_through,
            connections: o.connections,
        }
    }
}

/// One miss on the page.
#[derive(Debug, Serialize)]
pub struct Miss {
    /// The live connection (from 1).
    pub live_conn: u64,
    /// The recorded connection it was bound to.
    pub bound_to: Option<u64>,
    /// When, ms since the replay started.
    pub at_ms: u64,
    /// The database.
    pub db: u32,
    /// The command sent.
    pub command: String,
    /// The closest recorded command.
    pub closest: Option<String>,
    /// Why it did not match.
    pub why: String,
    /// The closest recording's mark, when it is in the cassette.
    pub e: Option<u64>,
}
