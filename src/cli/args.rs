//! The flag groups several subcommands flatten into theirs. Only the flags
//! live here: what each one means next to the config file is
//! [`super::settings`]'s business.
//!
//! A field's `///` line is its `--help` text, and clap lists a group's
//! flags in the order they are declared here: reordering or rewording a
//! field changes what users see.

use std::path::PathBuf;

use resplay::fault::FaultRule;
use resplay::redact::RedactRule;
use resplay::replay::{IgnoreRule, Timing};
use resplay::server::output_limit::{parse_size, PubsubLimit};

/// Options record, replay and run share.
#[derive(clap::Args)]
pub struct Common {
    /// The cassette file (JSON Lines).
    #[arg(long)]
    pub cassette: Option<PathBuf>,
    /// The real Redis: redis://[user:pass@]host:port[/db].
    #[arg(long)]
    pub upstream: Option<String>,
    /// Connect timeout for the upstream; idle timeout for clients with nothing in flight.
    #[arg(long, value_name = "SECONDS")]
    pub timeout_seconds: Option<u64>,
    /// Refuse clients beyond this many, as Redis does [default: 10000].
    #[arg(long)]
    pub max_clients: Option<usize>,
    /// Inject a fault, e.g. --fault 'GET session:* => error="LOADING …" count=2'
    /// (repeatable; see docs/faults.md).
    #[arg(long = "fault", value_name = "RULE")]
    pub fault: Vec<FaultRule>,
    /// Seed for fault probabilities and jitter [default: random, printed].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Redact secrets, e.g. --redact 'HSET user:* => field=ssn' (repeatable;
    /// see docs/redaction.md).
    #[arg(long = "redact", value_name = "RULE")]
    pub redact: Vec<RedactRule>,
    /// Bytes of replies a client may be owed (unread) before resplay stops
    /// reading its requests, e.g. 16mb, 1gb, 65536 [default: 16mb].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub client_output_limit: Option<usize>,
    /// Close a subscriber owed more than HARD bytes, or more than SOFT for
    /// SECONDS, as Redis's `client-output-buffer-limit pubsub` [default: "32mb 8mb 60"].
    #[arg(long, value_name = "HARD SOFT SECONDS")]
    pub client_output_buffer_limit_pubsub: Option<PubsubLimit>,
    #[command(flatten)]
    pub tls: TlsFlags,
}

/// TLS on either side (see docs/tls.md); each has a config-file key of the
/// same name with underscores.
#[derive(clap::Args)]
pub struct TlsFlags {
    /// Upstream TLS (rediss://): trust this CA (PEM) instead of the system roots.
    #[arg(long, value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Upstream TLS: client certificate (PEM) for mutual TLS.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// Upstream TLS: the client certificate's key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Upstream TLS: check the server's certificate against (and send as SNI) this name.
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Upstream TLS: do not verify the server's certificate (warned on every start).
    #[arg(long)]
    pub tls_insecure: bool,
    /// Serve clients over TLS with this certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    pub listen_tls_cert: Option<PathBuf>,
    /// The listener certificate's key (PEM).
    #[arg(long, value_name = "FILE")]
    pub listen_tls_key: Option<PathBuf>,
    /// Require client certificates signed by this CA (PEM).
    #[arg(long, value_name = "FILE")]
    pub listen_tls_client_ca: Option<PathBuf>,
    /// `self-signed`: serve TLS with a throwaway certificate for localhost
    /// made at start (its CA goes to --listen-tls-ca-out).
    #[arg(long, value_name = "self-signed")]
    pub listen_tls: Option<String>,
    /// Where --listen-tls self-signed writes its CA (PEM), for clients to trust.
    #[arg(long, value_name = "FILE")]
    pub listen_tls_ca_out: Option<PathBuf>,
}

/// Options of the servers a control API can steer (record and replay).
#[derive(clap::Args)]
pub struct Steer {
    /// Serve the control API (HTTP/JSON) on HOST:PORT, or on 127.0.0.1:PORT.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// Require `Authorization: Bearer TOKEN` on the control API (and its
    /// console); needed to serve it beyond loopback. Read from
    /// RESPLAY_ADMIN_TOKEN when absent.
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,
    /// A host name the control API answers to besides loopback's and its
    /// address (for a browser on another machine); repeatable.
    #[arg(long = "admin-host", value_name = "NAME")]
    pub admin_hosts: Vec<String>,
    /// On a mode switch, keep client connections (with their database,
    /// protocol and subscriptions) instead of closing them.
    #[arg(long)]
    pub keep_connections: bool,
    /// Keep the last N calls for GET /journal (the oldest dropped first);
    /// off (0) by default: it costs about 10 % of replay's work per command.
    #[arg(long, value_name = "N")]
    pub journal_max: Option<usize>,
}

/// Replay behaviour, shared by replay and run. `Default` is "no flags",
/// which record passes for the replay half of its settings.
#[derive(clap::Args, Default)]
pub struct ReplayFlags {
    /// `recorded` keeps the recorded reply durations and push gaps [default: none].
    #[arg(long, value_enum)]
    pub timing: Option<Timing>,
    /// Exit non-zero if any command missed or any recording went unused.
    #[arg(long)]
    pub strict: bool,
    /// Once identical recordings are used up, miss instead of repeating the last reply.
    #[arg(long)]
    pub no_repeat: bool,
    /// Match UUIDs, hex and base64 tokens exactly, instead of letting a fresh
    /// one stand in for a recorded one of the same shape.
    #[arg(long)]
    pub exact_tokens: bool,
    /// Ignore volatile arguments, e.g. --ignore 'SET lock:* <any> PX <any>' (repeatable).
    #[arg(long = "ignore", value_name = "RULE")]
    pub ignore: Vec<IgnoreRule>,
    /// Hand-written replies consulted before the cassette (TOML, `[[stub]]`
    /// tables; see docs/stubs.md); without --cassette, stubs alone answer.
    #[arg(long, value_name = "FILE")]
    pub stubs: Option<std::path::PathBuf>,
    /// When the replay (or run) ends, write the cassette's HTML report, with
    /// what the replay served, repeated, missed and left unused, to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<std::path::PathBuf>,
}
