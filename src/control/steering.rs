//! A resplay server whose mode changes while it runs: record, replay or
//! passthrough, on one listener, with the cassette swapped as asked.
//!
//! A switch is serialized and goes in four steps, so that nothing in flight
//! is lost and no client sees two modes at once:
//!
//! 1. the new mode is checked (its cassette loads, or can be created), so a
//!    bad request leaves the running mode untouched;
//! 2. new connections wait while every session of the old mode finishes
//!    what is in flight, then closes (`reset_connections_on_start`, the
//!    default) or hands its client over with its state;
//! 3. the old mode ends: its cassette is flushed and closed;
//! 4. the new mode starts, and the waiting and handed-over connections
//!    continue in it.
//!
//! The server's own side lives here: the modes it starts and ends, and the
//! switch between them. Three concerns it leans on live apart:
//!
//! - `check`: step 1, whether a requested mode can be had at all. It grows
//!   with every option a switch takes and every rule about which go
//!   together; the switch itself does not change when one is added.
//! - `clients`: a client connection's side: one task that lives through
//!   every mode it meets, waiting between two, and is counted so that a
//!   switch knows whom to wait for.
//! - `status`: what the server reports, now ([`Status`]) and when a mode
//!   ends ([`Finished`]): the shapes the control API and the command line
//!   print.

mod check;
mod clients;
mod status;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::mode::{Mode, ModeSpec};
use crate::cassette::{CassetteError, CassetteWriter, WriteMode, WriterTask};
use crate::fault::Faults;
use crate::handover::{Carry, SessionEnd};
use crate::journal::Journal;
use crate::record::{RecordConfig, Recorder};
use crate::replay::overlay::ReportWriter;
use crate::replay::{ReplayConfig, ReplayState};
use crate::server::inject::Injection;
use crate::server::registry::Registry;
use crate::server::{serve, ServeOptions};
use crate::tail::Tail;

use check::{refuse_misplaced, required, Checked};
pub use status::{Finished, Status};

/// Everything a steered server needs to run any of its modes.
#[derive(Debug, Clone)]
pub struct SteerSettings {
    /// Recording and passthrough settings; `None` when there is no
    /// upstream (only replay is possible then).
    pub record: Option<RecordConfig>,
    /// Replay settings.
    pub replay: ReplayConfig,
    /// Close client connections on a switch (the seed proxy's
    /// `resetConnectionsOnStart`); when false they are carried over with
    /// their database, protocol and subscriptions.
    pub reset_connections_on_switch: bool,
    /// Accept loop options.
    pub serve: ServeOptions,
    /// What draws a replay's HTML report when a switch asks for one
    /// (`"report"`); without it such a switch is refused.
    pub report_writer: Option<ReportWriter>,
}

impl SteerSettings {
    /// Defaults: replay as [`ReplayConfig::default`], connections reset on
    /// a switch; `record` when there is an upstream.
    pub fn new(record: Option<RecordConfig>) -> SteerSettings {
        SteerSettings {
            record,
            replay: ReplayConfig::default(),
            reset_connections_on_switch: true,
            serve: ServeOptions::default(),
            report_writer: None,
        }
    }
}

/// Why a steering request was refused. The running mode is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum SteerError {
    /// The request does not make sense as given.
    #[error("{0}")]
    BadRequest(String),
    /// The cassette cannot be loaded or created.
    #[error(transparent)]
    Cassette(#[from] CassetteError),
    /// The server is shutting down.
    #[error("resplay is shutting down")]
    ShuttingDown,
}

/// How the active mode serves.
enum Served {
    Record(Recorder),
    Replay(ReplayState),
    Passthrough(Recorder),
    /// Nothing serves: connections wait for the next mode.
    Idle,
}

/// The mode serving now.
struct Active {
    spec: ModeSpec,
    served: Served,
    /// Fires when the mode is retired; every session's stop token is a
    /// child of it.
    stop: CancellationToken,
    /// The sessions running in this mode.
    sessions: TaskTracker,
    since: Instant,
    /// The cassette writer, for record mode and for a replay that records
    /// its misses; finished when the mode ends.
    writer: Mutex<Option<WriterTask>>,
}

impl Active {
    /// Serves one connection; `None` when this mode serves none (idle).
    async fn session(&self, carry: Carry, id: u64) -> Result<SessionEnd, Carry> {
        Ok(match &self.served {
            Served::Record(recorder) | Served::Passthrough(recorder) => {
                recorder.session(carry, id).await
            }
            Served::Replay(state) => state.session(carry, id).await,
            Served::Idle => return Err(carry),
        })
    }

    fn serves(&self) -> bool {
        !matches!(self.served, Served::Idle)
    }
}

struct Inner {
    settings: SteerSettings,
    registry: Arc<Registry>,
    /// `None` while a switch is under way: new connections wait.
    active: watch::Sender<Option<Arc<Active>>>,
    /// One switch at a time.
    switching: tokio::sync::Mutex<()>,
    /// While a switch drains the old mode: its status as the switch found
    /// it, for [`Steering::status`].
    draining: Mutex<Option<Status>>,
    shutdown: CancellationToken,
    /// Client connections open, those between two modes included.
    clients: AtomicUsize,
    /// The address clients connect to, once bound.
    listen: OnceLock<std::net::SocketAddr>,
    /// The live tail every mode shows its interactions on (the web
    /// console's); inert until someone watches.
    tail: Tail,
    /// The calls every mode received (`GET /journal`).
    journal: Journal,
}

/// A server that can change mode while it runs. Cheap to clone: every
/// clone steers the same server.
#[derive(Clone)]
pub struct Steering(Arc<Inner>);

impl Steering {
    /// Prepares the first mode; the server serves once [`serve`](Self::serve)
    /// is called with its listener. A recording's header names
    /// `listen`, the address clients use. Returns the cassette loader's
    /// warnings too (a torn last line), for the caller to show.
    pub async fn start(
        settings: SteerSettings,
        first: ModeSpec,
        listen: std::net::SocketAddr,
        shutdown: CancellationToken,
    ) -> Result<(Steering, Vec<String>), SteerError> {
        let (active, _) = watch::channel(None);
        // One rule set, whatever mode serves: a rule added in record still
        // holds after a switch to replay.
        let mut settings = settings;
        if let Some(record) = &mut settings.record {
            record.faults = settings.replay.faults.clone();
        }
        // Likewise one live tail, whatever mode serves: a console watching
        // a recording goes on seeing the replay it is switched to.
        let tail = Tail::new();
        settings.replay.tail = Some(tail.clone());
        if let Some(record) = &mut settings.record {
            record.tail = Some(tail.clone());
        }
        // And one journal: a test's calls are there whichever mode served
        // them.
        let journal = settings
            .replay
            .journal
            .get_or_insert_with(|| Journal::new(0))
            .clone();
        if let Some(record) = &mut settings.record {
            record.journal = Some(journal.clone());
        }
        let steering = Steering(Arc::new(Inner {
            settings,
            registry: Arc::new(Registry::default()),
            active,
            switching: tokio::sync::Mutex::new(()),
            draining: Mutex::new(None),
            shutdown,
            listen: OnceLock::new(),
            clients: AtomicUsize::new(0),
            tail,
            journal,
        }));
        let _ = steering.0.listen.set(listen);
        refuse_misplaced(&first)?;
        let mut first = steering.check(&first, None).await?;
        let warnings = match &mut first {
            Checked::Replay { warnings, .. } => std::mem::take(warnings),
            _ => Vec::new(),
        };
        let active = steering.begin(first).await?;
        steering.0.active.send_replace(Some(Arc::new(active)));
        Ok((steering, warnings))
    }

    /// Accepts clients on `listener` until shutdown; then lets sessions
    /// finish (bounded) and ends the active mode, returning what it did.
    pub async fn serve(&self, listener: TcpListener) -> Option<Finished> {
        let inner = self.0.clone();
        let options = inner.settings.serve.clone();
        serve(
            listener,
            inner.shutdown.clone(),
            options,
            move |stream, id| clients::connection(inner.clone(), Carry::fresh(stream), id),
        )
        .await;
        let _one = self.0.switching.lock().await;
        // While it winds down, the status still names the last mode.
        *self.draining() = Some(self.status());
        let current = self.0.active.send_replace(None);
        match current {
            Some(active) => Some(self.end(active).await),
            None => None,
        }
    }

    fn draining(&self) -> std::sync::MutexGuard<'_, Option<Status>> {
        // Only ever replaced whole: a panic elsewhere cannot leave it torn.
        self.0.draining.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The fault rules, shared by every mode: add, remove, list, clear.
    pub fn faults(&self) -> Arc<Faults> {
        self.0.settings.replay.faults.clone()
    }

    /// The live tail of interactions, shared by every mode: what the web
    /// console's `GET /events` watches.
    pub fn tail(&self) -> Tail {
        self.0.tail.clone()
    }

    /// The stubs, shared by every mode (replay consults them): add,
    /// remove, list, clear.
    pub fn stubs(&self) -> Arc<crate::stubs::Stubs> {
        self.0.settings.replay.stubs.clone()
    }

    /// The call journal, shared by every mode: what `GET /journal` reads.
    pub fn journal(&self) -> Journal {
        self.0.journal.clone()
    }

    /// The token that stops the server.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.0.shutdown.clone()
    }

    /// The mode, cassette, connections and counters now.
    pub fn status(&self) -> Status {
        let current = self.0.active.borrow().clone();
        let connections = self.0.clients.load(Ordering::Relaxed);
        let reset = self.0.settings.reset_connections_on_switch;
        let Some(active) = current else {
            // During a switch: the old mode, still finishing.
            if let Some(mut status) = self.draining().clone() {
                status.connections = connections;
                return status;
            }
            // Only once the server has stopped.
            return Status::new(Mode::Passthrough, None, connections, reset);
        };
        Status::of(&active, connections, reset)
    }

    /// Switches mode (and cassette). Returns what the old mode did.
    ///
    /// The switch runs to its end on a task of its own even if the caller
    /// stops waiting (an HTTP client that gives up during the drain): one
    /// abandoned half-way would leave no mode serving, and every client
    /// waiting for one.
    pub async fn switch(&self, spec: ModeSpec) -> Result<Finished, SteerError> {
        let this = self.clone();
        match tokio::spawn(async move { this.switch_to_end(spec).await }).await {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down.
            Err(_) => Err(SteerError::ShuttingDown),
        }
    }

    async fn switch_to_end(&self, spec: ModeSpec) -> Result<Finished, SteerError> {
        let _one = self.0.switching.lock().await;
        if self.0.shutdown.is_cancelled() {
            return Err(SteerError::ShuttingDown);
        }
        refuse_misplaced(&spec)?;
        let current = self.0.active.borrow().clone();
        let spec = self.with_cassette(spec, current.as_deref())?;
        let checked = self.check(&spec, current.as_deref()).await?;
        if let Checked::Replay {
            warnings,
            reload: false,
            ..
        } = &checked
        {
            for warning in warnings {
                tracing::warn!("{warning}");
            }
        }
        let mut draining = self.status();
        draining.switching_to = Some(spec.mode);
        *self.draining() = Some(draining);
        let previous = self.0.active.send_replace(None);
        let finished = match previous {
            Some(old) => {
                drop(current);
                self.retire(&old);
                Some(self.end(old).await)
            }
            None => None,
        };
        let active = match self.begin(checked).await {
            Ok(active) => active,
            Err(e) => {
                *self.draining() = None;
                // Only a deferred step can fail here (the cassette just
                // recorded no longer loads): serve nothing rather than a
                // mode nobody asked for, and say so.
                tracing::error!("mode switch failed after the old mode ended: {e}");
                return Err(e);
            }
        };
        self.0.active.send_replace(Some(Arc::new(active)));
        // Carried clients re-register in the new mode (going into record,
        // after a fresh upstream connection): done when the switch is.
        let connect = self
            .0
            .settings
            .record
            .as_ref()
            .map_or(Duration::ZERO, |r| r.upstream.connect_timeout);
        self.0
            .registry
            .settled(connect + Duration::from_secs(1))
            .await;
        *self.draining() = None;
        Ok(finished.unwrap_or(Finished::PassedThrough { connections: 0 }))
    }

    /// Closes every client connection after what it has in flight; returns
    /// how many were told.
    pub fn reset_connections(&self) -> usize {
        self.0.registry.stop_all()
    }

    /// Delivers `injection` to the live connections it concerns; returns
    /// the receiver count `PUBLISH` would give.
    pub async fn inject(&self, injection: Injection) -> u64 {
        self.0.registry.inject(injection).await
    }

    fn load_replay(
        &self,
        path: &Path,
        config: ReplayConfig,
    ) -> Result<(ReplayState, Vec<String>), SteerError> {
        let stop = self.0.shutdown.child_token();
        let (state, warnings) =
            ReplayState::load_into(path, config, stop, self.0.registry.clone())?;
        if let Some(addr) = self.0.listen.get() {
            state.set_own_port(addr.port());
        }
        Ok((state, warnings))
    }

    /// Step 4: starts a checked mode.
    async fn begin(&self, checked: Checked) -> Result<Active, SteerError> {
        let mut writer = None;
        let (spec, served, stop) = match checked {
            Checked::Record(spec) => {
                let mut config = self.record_config()?;
                let path = required(&spec)?;
                if spec.append {
                    config.salt_from(path);
                }
                let mut header = config.upstream.recording_header().await;
                config.stamp_header(&mut header);
                if let Some(addr) = self.0.listen.get() {
                    header = header.listening_on(*addr);
                }
                let mode = if spec.append {
                    WriteMode::Append
                } else {
                    WriteMode::Create
                };
                let (handle, task) = CassetteWriter::open(path, &header, mode).await?;
                writer = Some(task);
                let stop = self.0.shutdown.child_token();
                let recorder =
                    Recorder::new(config, Some(handle), stop.clone(), self.0.registry.clone());
                (spec, Served::Record(recorder), stop)
            }
            Checked::Passthrough(spec) => {
                let config = self.record_config()?;
                let stop = self.0.shutdown.child_token();
                let recorder = Recorder::new(config, None, stop.clone(), self.0.registry.clone());
                (spec, Served::Passthrough(recorder), stop)
            }
            Checked::Replay {
                spec,
                state,
                config,
                reload,
                writer: misses,
                ..
            } => {
                writer = misses;
                let state = if reload {
                    let path = required(&spec)?;
                    match self.load_replay(path, *config) {
                        Ok((fresh, warnings)) => {
                            for warning in warnings {
                                tracing::warn!("{warning}");
                            }
                            fresh
                        }
                        Err(e) => {
                            tracing::warn!("{e}; replaying it as it was when the switch began");
                            state
                        }
                    }
                } else {
                    state
                };
                let stop = state.stop_token();
                (spec, Served::Replay(state), stop)
            }
            Checked::Idle(spec) => (spec, Served::Idle, self.0.shutdown.child_token()),
        };
        Ok(Active {
            spec,
            served,
            stop,
            sessions: TaskTracker::new(),
            since: Instant::now(),
            writer: Mutex::new(writer),
        })
    }

    fn record_config(&self) -> Result<RecordConfig, SteerError> {
        self.0.settings.record.clone().ok_or_else(|| {
            SteerError::BadRequest("no upstream: start resplay with --upstream".into())
        })
    }

    /// Step 2: tells the old mode's sessions to finish, closing or handing
    /// over their clients.
    fn retire(&self, old: &Active) {
        if !self.0.settings.reset_connections_on_switch {
            match &old.served {
                Served::Record(r) | Served::Passthrough(r) => r.hand_over_on_stop(),
                Served::Replay(state) => state.hand_over_on_stop(),
                Served::Idle => {}
            }
        }
        old.stop.cancel();
    }

    /// Step 3: waits for the old mode's sessions, then closes its cassette.
    async fn end(&self, old: Arc<Active>) -> Finished {
        old.stop.cancel();
        old.sessions.close();
        old.sessions.wait().await;
        let writer = old.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        // The replay's report and, when an HTML report or a pruned cassette
        // is asked for, its overlay: each scans every recording, so once.
        // Both files are written once the cassette is whole (misses
        // recorded into it are appended when its writer finishes).
        let replay = match &old.served {
            Served::Replay(state) => Some(state),
            _ => None,
        };
        let report = replay.map(|state| state.report());
        let drawn = old.spec.report.is_some() && self.0.settings.report_writer.is_some();
        let overlay = match (replay, &report) {
            (Some(state), Some(report)) if drawn || old.spec.write_pruned.is_some() => {
                Some(state.overlay(report))
            }
            _ => None,
        };
        let prune_to = match (&overlay, &old.spec.write_pruned, &old.spec.cassette) {
            (Some(overlay), Some(out), Some(cassette)) => {
                Some((overlay.served.clone(), cassette.clone(), out.clone()))
            }
            _ => None,
        };
        let report_to = match (
            overlay,
            &old.spec.report,
            &old.spec.cassette,
            &self.0.settings.report_writer,
        ) {
            (Some(overlay), Some(out), Some(cassette), Some(writer)) => {
                Some((writer.clone(), overlay, cassette.clone(), out.clone()))
            }
            _ => None,
        };
        let finished = match &old.served {
            Served::Record(recorder) => Err(recorder.counts()),
            // Taken above, for the overlay too.
            Served::Replay(_) => Ok(Finished::Replayed(report.unwrap_or_default())),
            Served::Passthrough(recorder) => Ok(Finished::PassedThrough {
                connections: recorder.counts().connections,
            }),
            Served::Idle => Ok(Finished::Idle),
        };
        // The writer finishes once every handle is gone: the recorder's (or
        // the replay's, recording its misses), held by `old`, goes first.
        drop(old);
        let finished = match (finished, writer) {
            (Ok(finished), Some(task)) => {
                let stats = task.finish().await;
                if let Some(e) = &stats.error {
                    tracing::error!("recording the misses failed: {e}");
                } else if stats.lost > 0 {
                    tracing::error!("{} recorded miss(es) could not be written", stats.lost);
                }
                finished
            }
            (Ok(finished), None) => finished,
            (Err(counts), Some(task)) => {
                Finished::Recorded(counts.with_writer(task.finish().await))
            }
            (Err(counts), None) => {
                Finished::Recorded(counts.with_writer(crate::cassette::WriterStats {
                    written: 0,
                    lost: 0,
                    error: None,
                }))
            }
        };
        let finished = match (finished, report_to) {
            (Finished::Replayed(mut report), Some((writer, overlay, cassette, out))) => {
                report.html_report =
                    Some(writer.write_off_thread(cassette, Some(overlay), out).await);
                Finished::Replayed(report)
            }
            (finished, _) => finished,
        };
        match (finished, prune_to) {
            (Finished::Replayed(mut report), Some((served, cassette, out))) => {
                report.pruned = Some(write_pruned(&report, served, cassette, out).await);
                Finished::Replayed(report)
            }
            (finished, _) => finished,
        }
    }
}

/// Writes the cassette without what the replay left unused, unless it
/// missed: a test that stopped at a miss left recordings unused that its
/// next, passing run needs.
async fn write_pruned(
    report: &crate::replay::Report,
    served: Vec<u32>,
    cassette: std::path::PathBuf,
    out: std::path::PathBuf,
) -> Result<(std::path::PathBuf, crate::cassette::prune::Pruned), String> {
    let shown = out.display().to_string();
    if report.missed > 0 {
        return Err(format!(
            "pruned cassette {shown} not written: the replay missed {} command(s), so \
             what it left unused may still be needed",
            report.missed
        ));
    }
    let written = tokio::task::spawn_blocking(move || {
        crate::cassette::prune::write_pruned(&cassette, &served, &out).map(|p| (out, p))
    })
    .await;
    match written {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => Err(format!("cannot write the pruned cassette {shown}: {e}")),
        Err(e) => Err(format!("cannot write the pruned cassette {shown}: {e}")),
    }
}
