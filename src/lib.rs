//! resplay records the traffic between an application and a real Redis into
//! a cassette (JSON Lines), and replays that cassette as a stand-in Redis
//! server, so tests run offline, fast and deterministically.
//!
//! A map of the crate:
//!
//! - [`resp`]: the hand-written RESP2/RESP3 codec (requests, inline
//!   commands, replies, encoding, RESP2 downgrade), iterative and limited.
//! - [`cassette`]: the cassette format v1: values as JSON, the event lines,
//!   the single writer task, and the loader that names bad lines.
//! - [`command`]: what resplay knows about commands: names, secrets to
//!   redact, handshake calls, the ones whose replies are not one-for-one.
//! - [`selected_db`]: which database a connection's commands run in
//!   (`SELECT`, `MULTI`/`EXEC`, `RESET`), followed alike by both modes.
//! - [`server`]: the accept loop shared by both modes: connection ids, the
//!   client limit, graceful shutdown.
//! - [`upstream`]: the real Redis: URL, connect, `AUTH` and `SELECT`.
//! - [`tls`]: TLS toward clients (the listener) and toward the upstream.
//! - [`record`]: the recording proxy and the request/reply pairing.
//! - [`replay`]: the replay server: matcher, ignore rules, handshake
//!   synthesis, pushes, passthrough, the report.
//! - [`fault`]: fault injection rules (`--fault`) and the rule set a server
//!   shares; both modes' sessions apply what it decides per command.
//! - [`redact`]: redaction rules (`--redact`) for secrets stored in Redis.
//! - [`run`]: `resplay run`, wrapping a test command, VCR record modes.
//! - [`config`]: the TOML config file.
//! - [`show`]: a cassette as a readable, redis-cli style listing.
//! - [`diff`]: what a re-recording changed, in commands (`resplay diff`).
//! - [`embed`]: record and replay servers inside a Rust test process.
//! - [`import`]: cassettes from The Protocol Master's and Keploy's recordings.

pub mod cassette;
pub mod cluster;
pub mod command;
pub mod config;
pub mod control;
pub mod diff;
pub mod embed;
pub mod fault;
pub mod handover;
pub mod import;
pub mod record;
pub mod redact;
pub mod replay;
pub mod resp;
pub mod run;
pub mod selected_db;
pub mod server;
pub mod show;
pub mod tls;
pub mod upstream;
