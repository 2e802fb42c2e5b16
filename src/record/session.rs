//! One recorded client connection: two halves relaying bytes as they come,
//! and the pairing that turns them into cassette events.
//!
//! The request half reads client bytes, finds complete requests, tells the
//! pairing about them, and forwards the exact bytes upstream in one write
//! (pipelines stay pipelines). The reply half reads upstream bytes, forwards
//! every complete frame to the client at once, and only then pairs the
//! frames with their requests and writes the finished ones as cassette
//! lines, straight from the frames' bytes. Both run in one task and share a
//! small state.
//!
//! Injected faults (`crate::fault`) leave this path for `faulted`, command
//! by command on the request half and for good on the reply half of the
//! connection they fired on; the plain relay only checks whether they did.
//!
//! The parts, each in its own file under `session/`:
//! - `requests`: the request half (client → upstream), the idle timeout
//!   and the limit on requests in flight.
//! - `replies`: the reply half (upstream → client), pairing, the drain,
//!   injected messages.
//! - `emit`: paired interactions and pushes written as cassette lines.
//! - `in_flight`: how many requests may wait for replies the client has
//!   not read.
//! - `replica`: the reply path after `SYNC`/`PSYNC`.
//! - `client_gone`: a client that left with requests in flight.
//! - `upstream_gone`: an upstream unreachable or gone.
//! - `faulted`: the slow path once a fault fired.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

use super::replication::{self, Replication};
use super::{OnWriteError, RecordShared};
use crate::cassette::{ConnState, ConnectionEvent, Event};
use crate::handover::{Carry, SessionEnd};
use crate::pairing::Pairing;
use crate::resp::ProtocolError;
use crate::server::registry::InjectRequest;
use crate::tls;
use crate::upstream;

mod branches;
mod client_gone;
mod emit;
mod faulted;
mod in_flight;
mod replica;
mod replies;
mod requests;
mod upstream_gone;

use branches::Branches;
use replies::relay_replies;
use requests::relay_requests;
use upstream_gone::answer_unreachable;

/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

/// Makes room for the next read. Only when little is left: what was read
/// before is still shared with the requests and replies in flight, so a
/// `reserve(READ_CHUNK)` on every read would allocate a fresh buffer per
/// read instead of filling the rest of this one.
fn make_room(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
}

/// Requests in flight per connection before resplay stops reading from the
/// client, whatever their replies' size (`in_flight` lowers it for large
/// replies): a client that pipelines without ever reading its replies must
/// not make the recorder hold an unbounded queue (the kernel's socket
/// buffers then push back on the client, as with Redis itself).
const MAX_IN_FLIGHT: usize = 16 * 1024;

/// What the two halves share.
struct State {
    pairing: Pairing,
    /// The client sent something Redis rejects: answer it once every earlier
    /// request has its reply, then close.
    protocol_error: Option<ProtocolError>,
    /// The request half has stopped (client gone, error, idle, shutdown).
    requests_done: bool,
    /// The client closed its connection, or it broke. Redis would free
    /// such a client at once, and with it a blocked command: the reply
    /// half then stops waiting for one (see [`client_gone::held_back`]).
    client_gone: bool,
    /// The server closed the connection while the client was still there
    /// (`CLIENT KILL`, `QUIT`, a timeout): the close event says so.
    closed_by_server: bool,
    /// `SYNC`/`PSYNC` and the replication stream after it.
    replication: Replication,
}

struct Session {
    conn: u64,
    shared: Arc<RecordShared>,
    state: Mutex<State>,
    /// Wakes the reply half when the request half changed the state.
    wake: Poke,
    /// Set once this connection is told to stop (shutdown, reset, a mode
    /// switch): the request half checks it wherever it waits, and `run`
    /// polls that half again when it is set (see [`Branches`]).
    stopping: AtomicBool,
    /// Messages injected through the control API, delivered by the reply
    /// half when `wake` fires (no extra branch on the relay's hot loop).
    inbox: Arc<Mutex<Vec<InjectRequest>>>,
    /// Wakes the request half when requests in flight drop under the limit
    /// (rare: only a client that pipelines without reading waits on it).
    room: Notify,
    /// That limit, from the size of the replies (`in_flight`).
    in_flight: in_flight::InFlightCap,
    /// Set once a `SYNC`/`PSYNC` is sent: from then on replies take the
    /// replication-aware scan (an atomic, so the common path checks it
    /// without the lock).
    replication_seen: AtomicBool,
    /// This connection's [`waiting_since`](replication::waiting_since)
    /// marker in the recorder's causal gate.
    marker: Arc<AtomicU64>,
    /// Set once a fault was injected on this connection: from then on the
    /// reply half pairs before it forwards, frame by frame, to put local
    /// answers in their place and shape the replies (an atomic, so the
    /// common path checks it without the lock).
    faulted: AtomicBool,
    /// Set once a cluster topology command (`CLUSTER SLOTS`, …) is sent:
    /// from then on every reply takes the pairing-first path, where node
    /// addresses are rewritten (other connections take it only for a chunk
    /// that may hold a `-MOVED`/`-ASK`).
    topology_asked: AtomicBool,
    /// Cassette lines being written by `emit`, kept between reads so the
    /// buffer is allocated once, not per read.
    lines: Mutex<Vec<u8>>,
}

impl Session {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a bug elsewhere already panicked; the state
        // is still consistent enough to wind the connection down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lines(&self) -> MutexGuard<'_, Vec<u8>> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn at_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.shared.start).as_millis() as u64
    }

    /// The client is gone: nothing more to read from it or write to it.
    fn client_left(&self) {
        let mut state = self.state();
        state.requests_done = true;
        state.client_gone = true;
    }

    /// The fault rule that applies to a command, or, once the cassette
    /// cannot be written and the recorder is told to stop then
    /// (`--on-write-error stop`), the error that refuses it: answered in
    /// its place like an injected error, never sent upstream.
    fn fault_for(&self, args: &[bytes::Bytes]) -> Option<crate::fault::FaultAction> {
        let fault = self.shared.config.faults.check(args);
        if fault.is_some() {
            return fault;
        }
        self.refusal().map(crate::fault::FaultAction::Error)
    }

    /// The error line a refused command gets, while the recorder refuses.
    fn refusal(&self) -> Option<bytes::Bytes> {
        if self.shared.config.on_write_error != OnWriteError::Stop {
            return None;
        }
        refusal_line(self.shared.writer.as_ref()?)
    }

    /// The gate marker for the state as it is now.
    fn waiting_since(&self, state: &State) -> u64 {
        replication::waiting_since(state.pairing.front(), self.shared.start)
    }
}

/// Why traffic is refused once `writer` failed: `cannot write cassette
/// PATH: CAUSE (--on-write-error stop)`, on one line.
fn refusal_reason(writer: &crate::cassette::WriterHandle) -> Option<String> {
    let failure = writer.failure()?;
    Some(format!(
        "{} (--on-write-error stop)",
        failure.replace(['\r', '\n'], " ")
    ))
}

/// `-ERR resplay: cannot write cassette …` once `writer` failed.
fn refusal_line(writer: &crate::cassette::WriterHandle) -> Option<bytes::Bytes> {
    let reason = refusal_reason(writer)?;
    Some(bytes::Bytes::from(format!("-ERR resplay: {reason}\r\n")))
}

/// Runs one client connection until it closes, or until a mode switch
/// hands it over (finished, with nothing in flight).
pub(crate) async fn run(carry: Carry, conn: u64, shared: Arc<RecordShared>) -> SessionEnd {
    let Carry {
        stream: client,
        buffered: mut client_buf,
        state: carried,
    } = carry;
    if shared.config.on_write_error == OnWriteError::Stop {
        if let Some(reason) = shared.writer.as_ref().and_then(refusal_reason) {
            // Refused before Redis is asked: the error line for what the
            // client sent, then the close.
            answer_unreachable(client, client_buf, &reason, &shared).await;
            return SessionEnd::Closed;
        }
    }
    let connected = match shared.config.upstream.connect().await {
        Ok(upstream) => match &carried {
            Some(state) => super::resume::restore(upstream, state, &shared.config.upstream).await,
            None => Ok((upstream, BytesMut::new())),
        },
        Err(e) => Err(e),
    };
    let (upstream, upstream_buf) = match connected {
        Ok(connected) => connected,
        Err(e) => {
            tracing::warn!("connection {conn}: {e}");
            answer_unreachable(client, client_buf, &e.to_string(), &shared).await;
            return SessionEnd::Closed;
        }
    };
    shared.connections.fetch_add(1, Ordering::Relaxed);
    // Each half is polled only when its own waker fired: a request read
    // from the client leaves the upstream's read alone, and a reply the
    // client's (see `branches`). The stop token is a third branch.
    let halves = Branches::new(3);
    let wake = Poke::new(halves.waker(REPLIES));
    let inbox: Arc<Mutex<Vec<InjectRequest>>> = Arc::default();
    let deliver = {
        let (wake, inbox) = (wake.clone(), inbox.clone());
        Box::new(move |request| {
            inbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(request);
            wake.wake();
            true
        })
    };
    let stop = shared.registry.register(conn, &shared.shutdown, deliver);
    let pairing = match &carried {
        Some(state) => Pairing::resume(state),
        None => Pairing::new(shared.config.upstream.db),
    };
    let session = Session {
        conn,
        shared: shared.clone(),
        state: Mutex::new(State {
            pairing,
            protocol_error: None,
            requests_done: false,
            client_gone: false,
            closed_by_server: false,
            replication: Replication::default(),
        }),
        wake,
        stopping: AtomicBool::new(false),
        inbox,
        room: Notify::new(),
        in_flight: in_flight::InFlightCap::new(shared.config.serve.output.client),
        replication_seen: AtomicBool::new(false),
        marker: shared.gate.register(conn),
        faulted: AtomicBool::new(false),
        topology_asked: AtomicBool::new(false),
        lines: Mutex::default(),
    };
    let opened = Instant::now();
    if let Some(writer) = &shared.writer {
        writer
            .send(Event::Connection(ConnectionEvent {
                conn,
                at_ms: session.at_ms(opened),
                event: ConnState::Open,
                by_server: false,
                node: shared.config.cluster.as_ref().map(|c| c.node.clone()),
            }))
            .await;
    }

    let (mut client_read, mut client_write) = tls::split(client);
    let (upstream_read, upstream_write) = upstream::split(upstream);
    // The upstream's write half outlives the request half: dropping it would
    // half-close the upstream, and Redis drops unsent replies on EOF.
    let mut upstream_write = upstream_write;
    // The relay borrows both halves of each socket; they are free again
    // once it ends, to be closed or handed over.
    let (requests_end, replies_end) = {
        let requests = relay_requests(
            &session,
            &mut client_read,
            &mut client_buf,
            &mut upstream_write,
        );
        let replies = relay_replies(&session, upstream_read, upstream_buf, &mut client_write);
        // Polled only when the token fires, not on every read.
        let stopped = stop.cancelled();
        tokio::pin!(requests, replies, stopped);
        let mut requests_end = None;
        let replies_end = std::future::poll_fn(|cx| {
            let mut woken = halves.woken(cx);
            if woken & bit(STOP) != 0
                && !session.stopping.load(Ordering::Acquire)
                && stopped.as_mut().poll(&mut halves.context(STOP)).is_ready()
            {
                session.stopping.store(true, Ordering::Release);
                woken |= bit(REQUESTS);
            }
            if woken & bit(REQUESTS) != 0 && requests_end.is_none() {
                if let Poll::Ready(end) = requests.as_mut().poll(&mut halves.context(REQUESTS)) {
                    requests_end = Some(end);
                    session.state().requests_done = true;
                    session.wake.wake();
                }
            }
            if woken & bit(REPLIES) != 0 {
                return replies.as_mut().poll(&mut halves.context(REPLIES));
            }
            Poll::Pending
        })
        .await;
        (requests_end, replies_end)
    };
    // Redis sees the close now, before the cassette hears of it: a blocked
    // command left on the upstream would take the next job pushed.
    drop(upstream_write);
    shared.registry.unregister(conn);
    shared.gate.unregister(conn);
    let by_server = session.state().closed_by_server;
    if let Some(writer) = &shared.writer {
        writer
            .send(Event::Connection(ConnectionEvent {
                conn,
                at_ms: session.at_ms(Instant::now()),
                event: ConnState::Close,
                by_server,
                node: None,
            }))
            .await;
    }
    let hand_over = shared.handing_over.load(Ordering::Acquire)
        && matches!(requests_end, Some(RequestsEnd::Stopped))
        && matches!(replies_end, RepliesEnd::Finished)
        && !session.replication_seen.load(Ordering::Acquire);
    // An open transaction lives on the upstream connection that goes away:
    // its client is closed, as by a restarting server, rather than carried
    // over to find its queued commands gone.
    let hand_over = hand_over && !session.state().pairing.in_multi();
    if hand_over {
        if let Some(stream) = tls::reunite(client_read, client_write) {
            let state = session.state().pairing.carried_state();
            return SessionEnd::HandedOver(Carry {
                stream,
                buffered: client_buf,
                state: Some(state),
            });
        }
        return SessionEnd::Closed;
    }
    let _ = client_write.shutdown().await;
    SessionEnd::Closed
}

/// The request half's branch in the session's [`Branches`].
const REQUESTS: usize = 0;
/// The reply half's.
const REPLIES: usize = 1;
/// The stop token's.
const STOP: usize = 2;

fn bit(branch: usize) -> usize {
    1 << branch
}

/// Wakes the reply half for what no upstream byte announces (a silent
/// request, a protocol error, the request half's end, an injected
/// message): a flag the half checks where it waits, and its branch's
/// waker, so nothing is polled per reply to learn that nothing happened.
#[derive(Clone)]
struct Poke(Arc<(AtomicBool, std::task::Waker)>);

impl Poke {
    fn new(waker: &std::task::Waker) -> Poke {
        Poke(Arc::new((AtomicBool::new(false), waker.clone())))
    }

    fn wake(&self) {
        self.0 .0.store(true, Ordering::Release);
        self.0 .1.wake_by_ref();
    }

    /// True (once) if woken since the last call.
    fn take(&self) -> bool {
        self.0 .0.swap(false, Ordering::AcqRel)
    }
}

/// Ready once `flag` is set. Registers no waker: whoever sets the flag
/// wakes the branch this is polled in (see [`Poke`] and `stopping`), which
/// costs an atomic load per wait instead of a `Notify` or token to poll.
fn flag_set(flag: impl Fn() -> bool) -> impl Future<Output = ()> {
    std::future::poll_fn(move |_| {
        if flag() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// Why the request half stopped.
enum RequestsEnd {
    /// Told to (shutdown, reset, a mode switch): the client is still there.
    Stopped,
    /// The client closed, went idle, broke the protocol, or the upstream
    /// stopped taking requests.
    Gone,
}

/// Why the reply half stopped.
enum RepliesEnd {
    /// Every request was answered and no more will come.
    Finished,
    /// The client or the upstream failed, or the grace ran out.
    Failed,
}
