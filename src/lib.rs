//! resplay records the traffic between an application and a real Redis into
//! a cassette (JSON Lines), and replays that cassette as a stand-in Redis
//! server, so tests run offline, fast and deterministically.
//!
//! A map of the crate, by layer from the bottom up (a module imports only
//! from its own layer's lower neighbours and from layers below it; see
//! `docs/architecture.md`):
//!
//! **Wire and data.**
//! - [`resp`]: the hand-written RESP2/RESP3 codec (requests, inline
//!   commands, replies, encoding, RESP2 downgrade), iterative and limited.
//! - [`cassette`]: the cassette format v1: values as JSON, the event lines,
//!   the single writer task, and the loader that names bad lines.
//! - [`command`]: what resplay knows about commands: names, secrets to
//!   redact, handshake calls, the ones whose replies are not one-for-one.
//! - [`text`]: commands and replies as redis-cli prints them, for every
//!   part that shows them to people.
//! - [`pattern`]: the request pattern syntax (`SET lock:* <any> ...`) that
//!   ignore, fault and redaction rules share, and the ignore rules.
//! - [`selected_db`]: which database a connection's commands run in
//!   (`SELECT`, `MULTI`/`EXEC`, `RESET`), followed alike by both modes.
//! - [`pairing`]: which reply answers which request on one connection
//!   (pure logic; record and replay's passthrough both use it).
//! - [`carried_state`]: what a connection keeps across a mode switch
//!   (protocol, database, subscriptions).
//! - [`topology`]: a Redis Cluster's nodes, as `CLUSTER NODES` lists them
//!   and the cassette header keeps them.
//!
//! **Connections.**
//! - [`tls`]: TLS toward clients (the listener) and toward the upstream.
//! - [`upstream`]: the real Redis: URL, connect, `AUTH` and `SELECT`.
//! - [`handover`]: a client connection carried from one mode to the next.
//! - [`nodes`]: a cluster's node addresses as clients see them: a listener
//!   per node, addresses in replies rewritten, the topology answered.
//! - [`server`]: the accept loop shared by both modes (connection ids, the
//!   client limit, graceful shutdown) and the registry of live connections
//!   that resets and injected messages reach them through.
//!
//! **Policies.**
//! - [`fault`]: fault injection rules (`--fault`) and the rule set a server
//!   shares; both modes' sessions apply what it decides per command.
//! - [`redact`]: redaction rules (`--redact`) for secrets stored in Redis.
//! - [`exclude`]: record filters (`--exclude`): commands relayed but left
//!   out of the cassette.
//! - [`expiry`]: `max_age`: when a cassette is old enough to record again.
//!
//! **Modes.**
//! - [`record`]: the recording proxy: one session per client, exact bytes
//!   both ways, replication streams.
//! - [`replay`]: the replay server: matcher, handshake synthesis, wall-clock
//!   shifting, pushes, passthrough, the report.
//! - [`cluster`]: Redis Cluster: a recorder or replay server per node, in
//!   one process and one cassette.
//! - [`tail`]: the live tail both modes feed, for whoever watches (the web
//!   console), at no cost while nobody does.
//! - [`journal`]: the calls a steered server received, for tests to assert
//!   on (`GET /journal`).
//! - [`stubs`]: hand-written replies replay gives before the cassette's
//!   (`--stubs`, `POST /stubs`).
//!
//! **Steering and front ends.**
//! - [`control`]: switching mode, resetting connections and injecting
//!   messages in a running resplay, over HTTP/JSON (`--admin`).
//! - [`run`]: `resplay run`, wrapping a test command, VCR record modes.
//! - [`embed`]: record and replay servers inside a Rust test process.
//! - [`config`]: the TOML config file.
//!
//! **Cassette tools.**
//! - [`show`]: a cassette as a readable, redis-cli style listing.
//! - [`diff`]: what a re-recording changed, in commands (`resplay diff`).
//! - [`import`]: cassettes from The Protocol Master's and Keploy's recordings.
//! - [`conform`]: a cassette's commands driven against another server, the
//!   replies compared in Redis terms (`resplay conform`).
//! - [`report`]: a cassette (and a replay of it) as one HTML page
//!   (`resplay report`, `--report`).
//! - [`learn`]: ignore rules proposed from two recordings of one test run
//!   (`resplay learn`).

pub mod carried_state;
pub mod cassette;
pub mod cluster;
pub mod command;
pub mod config;
pub mod conform;
pub mod control;
pub mod diff;
pub mod embed;
pub mod exclude;
pub mod expiry;
pub mod fault;
pub mod handover;
pub mod import;
pub mod journal;
pub mod learn;
pub mod nodes;
pub mod pairing;
pub mod pattern;
pub mod record;
pub mod redact;
pub mod replay;
pub mod report;
pub mod resp;
pub mod run;
pub mod selected_db;
pub mod server;
pub mod show;
pub mod stubs;
pub mod tail;
pub mod text;
pub mod tls;
pub mod topology;
pub mod upstream;
