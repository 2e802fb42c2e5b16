//! Replay mode: a stand-in Redis server that answers from a cassette.
//!
//! - [`clock`]: wall-clock times in arguments and replies, shifted by the
//!   time elapsed since recording.
//! - [`display`]: commands shown to people; the closest-command distance.
//! - [`matcher`]: which recording answers a live command (its `binding`:
//!   which recorded connection a live one replays); push routing.
//! - [`handshake`]: replies made up for unrecorded handshake commands.
//! - [`own_address`]: arguments naming resplay's own address.
//! - [`overlay`]: what a replay did with each recording, for its HTML report.
//! - `passthrough`: misses sent to a real upstream (`--on-miss passthrough`).
//! - `session`: one live connection.

pub mod clock;
pub mod display;
pub mod handshake;
pub mod matcher;
pub(crate) mod memory;
pub mod overlay;
pub mod own_address;
mod passthrough;
mod session;
pub mod tokens;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cassette::{self, Cassette, CassetteError, Event, Header, WriterHandle};
use crate::handover::{Carry, SessionEnd};
pub use crate::pattern::IgnoreRule;
use crate::resp::{Limits, Value};
use crate::server::registry::Registry;
use crate::server::{serve, ServeOptions};
use crate::upstream::Upstream;
use matcher::Matcher;
use session::{PushOut, PushSender};

/// What to do with a command nothing recorded answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnMiss {
    /// Reply `-ERR resplay: no recorded reply for …`.
    Error,
    /// Send it to the upstream and relay its reply.
    Passthrough,
}

/// Whether replay keeps the recorded delays.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Timing {
    /// Answer at once.
    None,
    /// Wait each reply's recorded duration, and the recorded gaps before pushes.
    Recorded,
}

/// How a replay server behaves.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// Protocol limits for client input.
    pub limits: Limits,
    /// Protocol limits for the upstream's replies (passthrough).
    pub upstream_limits: Limits,
    /// Ignore rules for volatile arguments.
    pub rules: Vec<IgnoreRule>,
    /// Repeat the last reply once all identical recordings are used.
    pub repeat: bool,
    /// What a miss does.
    pub on_miss: OnMiss,
    /// The upstream for passthrough.
    pub upstream: Option<Upstream>,
    /// Delays.
    pub timing: Timing,
    /// Close clients idle this long (None = never).
    pub idle_timeout: Option<Duration>,
    /// Accept loop options.
    pub serve: ServeOptions,
    /// When set, commands answered by the upstream are appended here
    /// (`run --mode new-episodes`).
    pub record_misses_to: Option<WriterHandle>,
    /// Faults to inject, per command (shared, changeable while running).
    pub faults: Arc<crate::fault::Faults>,
    /// Hand-written stubs, consulted before the cassette (shared,
    /// changeable while running: `--stubs`, `POST /stubs`).
    pub stubs: Arc<crate::stubs::Stubs>,
    /// Redaction rules (`--redact`): live commands are redacted the same
    /// way before matching, with the cassette header's salt; commands
    /// recorded while extending a cassette are redacted too.
    pub redact: Option<crate::redact::Redactor>,
    /// In a cluster replay: this node's view of the recorded topology, for
    /// topology commands it has no recording of.
    pub cluster: Option<crate::nodes::answers::NodeTopology>,
    /// Match random-looking tokens (UUIDs, hex and base64 ids) exactly, as
    /// any other argument (`--exact-tokens`); by default a fresh token
    /// stands in for a recorded one of the same shape (see [`tokens`]).
    pub exact_tokens: bool,
    /// The live tail each command is shown on while someone watches (a
    /// steered server's web console); `None` outside steering.
    pub tail: Option<crate::tail::Tail>,
    /// The call journal each command is noted in (a steered server's
    /// `GET /journal`); `None` outside steering.
    pub journal: Option<crate::journal::Journal>,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            limits: Limits::default(),
            upstream_limits: Limits::upstream(),
            rules: Vec::new(),
            repeat: true,
            on_miss: OnMiss::Error,
            upstream: None,
            timing: Timing::None,
            idle_timeout: None,
            serve: ServeOptions::default(),
            record_misses_to: None,
            faults: Arc::default(),
            stubs: Arc::default(),
            redact: None,
            cluster: None,
            exact_tokens: false,
            tail: None,
            journal: None,
        }
    }
}

/// What every live connection shares.
pub(crate) struct ReplayShared {
    config: ReplayConfig,
    matcher: Mutex<Matcher>,
    /// The cassette's time and the offset learned from it: one for the
    /// whole server, since all its clients share one (shifted) now.
    clock: clock::Clock,
    /// Push channels of the live connections.
    senders: Mutex<HashMap<u64, PushSender>>,
    /// Fires when this replay stops: sessions finish and close (or hand
    /// over).
    shutdown: CancellationToken,
    /// The live connections, for resets and injected messages.
    registry: Arc<Registry>,
    /// Set before `shutdown` fires for a mode switch that keeps client
    /// connections: sessions then hand them over instead of closing.
    handing_over: AtomicBool,
    /// Holds a busy connection's replies to the end of the runtime's turn.
    turns: crate::server::write_turns::WriteTurns,
    /// What replay's own `HELLO` says of the server.
    server: handshake::ServerHello,
    /// Passwords' keyed placeholders under the cassette's salt (none for a
    /// cassette without one, whose passwords read `<redacted>`).
    secret_key: Option<crate::command::secret::SecretKey>,
    /// The database live connections start in (the recording's upstream
    /// `/db`, from the cassette header).
    start_db: u32,
    /// The port the recorder listened on (the header's `listen`).
    recorded_port: Option<String>,
    /// The port this server listens on, once it serves.
    own_port: OnceLock<String>,
    start: Instant,
    /// Next `seq` per live connection, for interactions appended by
    /// passthrough.
    passthrough_seq: Mutex<HashMap<u64, u64>>,
    passed_through: AtomicU64,
    /// Commands a stub answered.
    stubbed: AtomicU64,
    /// Live connections served so far.
    connections: AtomicU64,
    /// The `--exclude` rules the cassette was recorded with (its header's
    /// `excluded`): what they match was never recorded, and a miss says so.
    excluded: Vec<crate::exclude::ExcludeRule>,
}

impl ReplayShared {
    /// The matcher. A poisoned lock means a bug already panicked elsewhere;
    /// the index is still usable, so keep serving.
    fn matcher(&self) -> std::sync::MutexGuard<'_, Matcher> {
        self.matcher.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, live: u64, tx: PushSender) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        self.matcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .connect(live);
        self.senders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(live, tx);
    }

    fn unregister(&self, live: u64) {
        self.matcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .disconnect(live);
        self.senders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&live);
    }

    /// Sends a push to a live connection, after `gap` if there is one.
    fn deliver(&self, live: u64, value: Value, gap: Duration) {
        let Some(tx) = self.sender(live) else {
            return;
        };
        if gap.is_zero() {
            tx.send(PushOut::Push(value));
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(gap).await;
                tx.send(PushOut::Push(value));
            });
        }
    }

    /// `args` with this server's own port read as the recorder's
    /// ([`own_address`]), when it holds it.
    fn as_recorded(&self, args: &[Bytes]) -> Option<Vec<Bytes>> {
        let own = self.own_port.get()?;
        own_address::as_recorded(args, own, self.recorded_port.as_deref()?)
    }

    /// Closes a live connection, after what it was sent so far.
    fn close(&self, live: u64) {
        if let Some(tx) = self.sender(live) {
            tx.send(PushOut::Close);
        }
    }

    /// A live connection's push channel, while it is connected.
    fn sender(&self, live: u64) -> Option<PushSender> {
        let senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        senders.get(&live).cloned()
    }

    /// Notes a command the upstream answered; appends it to the cassette
    /// when replay is extending one.
    #[allow(clippy::too_many_arguments)]
    async fn passed_through(
        &self,
        live: u64,
        db: u32,
        cmd: Vec<Bytes>,
        at: Instant,
        replies: Vec<Value>,
        pushes: Vec<Value>,
    ) {
        self.passed_through.fetch_add(1, Ordering::Relaxed);
        if let Some(tail) = crate::tail::watching(&self.config.tail) {
            self.show_passed_through(tail, live, db, &cmd, &replies);
        }
        let Some(writer) = &self.config.record_misses_to else {
            return;
        };
        // Extending a filtered cassette filters what it adds alike.
        if crate::exclude::excluded_by(&self.excluded, &cmd).is_some() {
            return;
        }
        let seq = {
            let mut seqs = self
                .passthrough_seq
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let next = seqs.entry(live).or_insert(0);
            *next += 1;
            *next - 1
        };
        let at_ms = at.saturating_duration_since(self.start).as_millis() as u64;
        let took_us = at.elapsed().as_micros() as u64;
        let mut cmd = cmd;
        crate::command::redact_with(&mut cmd, self.secret_key.as_ref());
        let mut events =
            session::passthrough_events(live, db, seq, at_ms, took_us, cmd, replies, pushes);
        if let (Some(r), Some(Event::Interaction(i))) = (&self.config.redact, events.first_mut()) {
            r.interaction(&mut i.cmd, &mut i.replies, true);
        }
        for event in events {
            writer.send(event).await;
        }
    }
}

impl ReplayShared {
    /// Shows a command the upstream answered on the live tail, passwords
    /// and `--redact` data as a recording of it would have them.
    fn show_passed_through(
        &self,
        tail: &crate::tail::Tail,
        live: u64,
        db: u32,
        cmd: &[Bytes],
        replies: &[Value],
    ) {
        use crate::tail::{show_values, Outcome, TailEvent};
        let mut cmd = cmd.to_vec();
        crate::command::redact_with(&mut cmd, self.secret_key.as_ref());
        let reply = match &self.config.redact {
            Some(r) if r.applies(&cmd) => {
                let mut replies = replies.to_vec();
                r.interaction(&mut cmd, &mut replies, false);
                show_values(&replies)
            }
            _ => show_values(replies),
        };
        tail.send(TailEvent::new(
            crate::tail::Mode::Replay,
            Outcome::Passthrough,
            live,
            db,
            &cmd,
            reply,
        ));
    }
}

/// What a replay did, printed at shutdown.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Commands answered from the cassette (repeats included).
    pub served: u64,
    /// Of those, answered by repeating a reply whose recordings were used up.
    pub repeated: u64,
    /// Commands with no recording (not synthesized, not passed through).
    pub missed: u64,
    /// The first few missed commands.
    pub first_misses: Vec<String>,
    /// Recorded interactions never served.
    pub unused: u64,
    /// The first few distinct unused recorded commands, with `(xN)` when
    /// one went unused N times.
    pub first_unused: Vec<String>,
    /// How many unused recordings `first_unused` accounts for.
    pub unused_listed: u64,
    /// Values the client made up that stood in for recorded ones (see
    /// [`tokens`]).
    pub mapped: u64,
    /// The first few of those pairs, `recorded -> live`.
    pub first_mapped: Vec<String>,
    /// Commands answered by the upstream (passthrough).
    pub passed_through: u64,
    /// Commands a stub answered (never counted as served: a stub does not
    /// stand for a recording).
    pub stubbed: u64,
    /// Live connections served.
    pub connections: u64,
    /// The HTML report asked for (`--report`): where it was written, or
    /// why it was not.
    pub html_report: Option<Result<std::path::PathBuf, String>>,
    /// The pruned cassette asked for (`--write-pruned`): where it was
    /// written and what it kept, or why it was not.
    pub pruned: Option<Result<(std::path::PathBuf, crate::cassette::prune::Pruned), String>>,
}

impl Report {
    /// Adds another server's counts (a cluster's nodes make one report);
    /// the lists of first misses and unused commands stay short.
    pub fn add(&mut self, other: Report) {
        const LISTED: usize = matcher::REPORT_EXAMPLES;
        self.served += other.served;
        self.repeated += other.repeated;
        self.missed += other.missed;
        self.unused += other.unused;
        self.passed_through += other.passed_through;
        self.stubbed += other.stubbed;
        self.connections += other.connections;
        self.mapped += other.mapped;
        let room = LISTED.saturating_sub(self.first_mapped.len());
        self.first_mapped
            .extend(other.first_mapped.into_iter().take(room));
        let room = LISTED.saturating_sub(self.first_misses.len());
        self.first_misses
            .extend(other.first_misses.into_iter().take(room));
        // Whole lists only: `unused_listed` counts what a list accounts for.
        if self.first_unused.len() + other.first_unused.len() <= LISTED {
            self.first_unused.extend(other.first_unused);
            self.unused_listed += other.unused_listed;
        }
    }

    /// True when the HTML report or the pruned cassette asked for could not
    /// be written.
    pub fn report_failed(&self) -> bool {
        matches!(self.html_report, Some(Err(_))) || matches!(self.pruned, Some(Err(_)))
    }

    /// True when `--strict` should fail: a miss or an unused recording.
    pub fn is_strict_failure(&self) -> bool {
        self.missed > 0 || self.unused > 0
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replayed {} connection(s): {} served ({} repeated), {} missed, {} unused",
            self.connections, self.served, self.repeated, self.missed, self.unused
        )?;
        if self.stubbed > 0 {
            write!(f, ", {} stubbed", self.stubbed)?;
        }
        if self.passed_through > 0 {
            write!(f, ", {} passed through", self.passed_through)?;
        }
        listed(
            f,
            "missed",
            &self.first_misses,
            self.missed,
            self.first_misses.len() as u64,
        )?;
        listed(
            f,
            "unused",
            &self.first_unused,
            self.unused,
            self.unused_listed,
        )?;
        if self.mapped > 0 {
            write!(
                f,
                "\n{} made-up value(s) stood in for recorded ones",
                self.mapped
            )?;
        }
        listed(
            f,
            "mapped",
            &self.first_mapped,
            self.mapped,
            self.first_mapped.len() as u64,
        )?;
        match &self.html_report {
            Some(Ok(path)) => write!(f, "\nreport: {}", path.display())?,
            Some(Err(e)) => write!(f, "\n{e}")?,
            None => {}
        }
        match &self.pruned {
            Some(Ok((path, p))) => write!(
                f,
                "\npruned: {} unused interaction(s) dropped ({} connection(s) whole), {} kept, into {}",
                p.dropped,
                p.connections_dropped,
                p.kept,
                path.display()
            )?,
            Some(Err(e)) => write!(f, "\n{e}")?,
            None => {}
        }
        Ok(())
    }
}

/// Writes a report's examples, one `  what: example` line each, and an
/// `… and N more` line when `total` is more than the `covered` they stand for.
fn listed(
    f: &mut std::fmt::Formatter<'_>,
    what: &str,
    examples: &[String],
    total: u64,
    covered: u64,
) -> std::fmt::Result {
    for example in examples {
        write!(f, "\n  {what}: {example}")?;
    }
    if total > covered {
        write!(f, "\n  {what}: … and {} more", total - covered)?;
    }
    Ok(())
}

/// A replay server's shared state, to read its report while it runs.
#[derive(Clone)]
pub struct ReplayState(Arc<ReplayShared>);

impl ReplayState {
    /// Indexes a loaded `cassette` for serving.
    pub fn new(
        cassette: Cassette,
        config: ReplayConfig,
        shutdown: CancellationToken,
    ) -> ReplayState {
        let header = cassette.header.clone();
        let matcher = Matcher::new(cassette, config.rules.clone(), config.repeat);
        Self::with_matcher(matcher, header, config, shutdown, Arc::default())
    }

    /// Reads and indexes the cassette at `path` in one pass (each event goes
    /// straight into the index, so a large cassette is never held twice).
    /// Returns the state and the loader's warnings (a torn last line).
    pub fn load(
        path: &Path,
        config: ReplayConfig,
        shutdown: CancellationToken,
    ) -> Result<(ReplayState, Vec<String>), CassetteError> {
        Self::load_into(path, config, shutdown, Arc::new(Registry::default()))
    }

    /// Like [`ReplayState::load`], listing its connections in `registry`.
    pub(crate) fn load_into(
        path: &Path,
        config: ReplayConfig,
        shutdown: CancellationToken,
        registry: Arc<Registry>,
    ) -> Result<(ReplayState, Vec<String>), CassetteError> {
        let mut matcher = Matcher::empty(config.rules.clone(), config.repeat);
        if let Some(events) = cassette::estimated_events(path) {
            matcher.reserve(events);
        }
        let (header, warnings) = cassette::load_with(path, |event| matcher.add(event))?;
        matcher.set_track_db(header.db.is_some());
        let state = Self::with_matcher(matcher, header, config, shutdown, registry);
        Ok((state, warnings))
    }

    /// Serves an index built by the caller (a cluster's nodes each get the
    /// recordings of their own connections).
    pub(crate) fn from_matcher(
        matcher: Matcher,
        header: Header,
        config: ReplayConfig,
        shutdown: CancellationToken,
        registry: Arc<Registry>,
    ) -> ReplayState {
        Self::with_matcher(matcher, header, config, shutdown, registry)
    }

    fn with_matcher(
        matcher: Matcher,
        header: Header,
        mut config: ReplayConfig,
        shutdown: CancellationToken,
        registry: Arc<Registry>,
    ) -> ReplayState {
        let mut matcher = matcher;
        matcher.finish();
        if let Some(r) = &config.redact {
            config.redact = Some(r.with_salt(header.redact_salt.as_deref().unwrap_or_default()));
        }
        if config.record_misses_to.is_some() {
            // Appending to the cassette: new connections continue after the
            // recorded ones, so recordings never mix.
            config.serve.first_conn_id = config.serve.first_conn_id.max(matcher.max_conn() + 1);
        }
        ReplayState(Arc::new(ReplayShared {
            secret_key: header
                .redact_salt
                .as_deref()
                .map(crate::command::secret::SecretKey::new),
            config,
            matcher: Mutex::new(matcher),
            clock: clock::Clock::new(&header.created),
            senders: Mutex::new(HashMap::new()),
            shutdown,
            registry,
            handing_over: AtomicBool::new(false),
            turns: Default::default(),
            server: handshake::ServerHello::from_header(&header),
            start_db: header.db.unwrap_or(0),
            recorded_port: header
                .listen
                .as_deref()
                .and_then(own_address::port_of)
                .map(str::to_string),
            own_port: OnceLock::new(),
            start: Instant::now(),
            passthrough_seq: Mutex::new(HashMap::new()),
            passed_through: AtomicU64::new(0),
            stubbed: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            excluded: crate::exclude::from_header(&header.excluded),
        }))
    }

    /// Serves on `listener` until the shutdown token fires.
    pub async fn serve(&self, listener: TcpListener) {
        if let Ok(addr) = listener.local_addr() {
            self.set_own_port(addr.port());
        }
        let shared = self.0.clone();
        let options = shared.config.serve.clone();
        let token = shared.shutdown.clone();
        serve(listener, token, options, move |stream, id| {
            let shared = shared.clone();
            async move {
                session::run(Carry::fresh(stream), id, shared).await;
            }
        })
        .await;
    }

    /// The port this server answers on (clients may name it in arguments).
    pub(crate) fn set_own_port(&self, port: u16) {
        let _ = self.0.own_port.set(port.to_string());
    }

    /// Serves one client connection until it closes or is handed over.
    pub(crate) async fn session(&self, carry: Carry, id: u64) -> SessionEnd {
        session::run(carry, id, self.0.clone()).await
    }

    /// Makes the coming stop a switch that keeps client connections.
    pub(crate) fn hand_over_on_stop(&self) {
        self.0.handing_over.store(true, Ordering::Release);
    }

    /// The token that stops this replay.
    pub(crate) fn stop_token(&self) -> CancellationToken {
        self.0.shutdown.clone()
    }

    /// What the replay did with each recording so far, for the HTML
    /// report (`resplay replay --report`).
    /// `report` is this replay's [`report`](Self::report), taken once by
    /// the caller (it scans every recording).
    pub fn overlay(&self, report: &Report) -> overlay::ReplayOverlay {
        let (served, repeated, misses) = self.0.matcher().outcomes();
        overlay::ReplayOverlay {
            served,
            repeated,
            misses,
            served_total: report.served,
            repeated_total: report.repeated,
            missed: report.missed,
            unused: report.unused,
            passed_through: report.passed_through,
            connections: report.connections,
        }
    }

    /// The report so far (served, missed, unused…).
    pub fn report(&self) -> Report {
        let matcher = self.0.matcher();
        let counters = matcher.counters();
        let (unused, first_unused, unused_listed) = matcher.unused();
        Report {
            served: counters.served,
            repeated: counters.repeated,
            missed: counters.missed,
            first_misses: counters.first_misses,
            unused,
            first_unused,
            unused_listed,
            mapped: matcher.tokens().count() as u64,
            first_mapped: matcher.tokens().examples(),
            passed_through: self.0.passed_through.load(Ordering::Relaxed),
            stubbed: self.0.stubbed.load(Ordering::Relaxed),
            connections: self.0.connections.load(Ordering::Relaxed),
            html_report: None,
            pruned: None,
        }
    }
}
