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

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::replication::{self, Replication, GATE_LIMIT};
use super::RecordShared;
use crate::cassette::wire_lines::{write_interaction_line, write_push_line, InteractionHead};
use crate::cassette::{ConnState, ConnectionEvent, Event};
use crate::command;
use crate::handover::{Carry, SessionEnd};
use crate::pairing::{is_error_frame, Paired, Pairing, Pending, ReplyModeTracker};
use crate::resp::{encode, parse_request, reply_len, Limits, ProtocolError, RequestParse};
use crate::server::inject::Listener;
use crate::server::registry::InjectRequest;
use crate::tls::{self, ClientReader, ClientStream, ClientWriter};
use crate::upstream::{self, UpstreamReader, UpstreamWriter};

mod faulted;

use faulted::{answer_locals, deliver, is_exec, relay_faulted, shape_frames, Flow, MultiTrack};

/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

/// Requests in flight per connection before resplay stops reading from the
/// client: a client that pipelines without ever reading its replies must
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
    /// half then stops waiting for one (see [`held_back`]).
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
    wake: Arc<Notify>,
    /// Messages injected through the control API, delivered by the reply
    /// half when `wake` fires (no extra branch on the relay's hot loop).
    inbox: Arc<Mutex<Vec<InjectRequest>>>,
    /// Wakes the request half when requests in flight drop under the limit.
    room: Notify,
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
}

impl Session {
    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a bug elsewhere already panicked; the state
        // is still consistent enough to wind the connection down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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

    /// The gate marker for the state as it is now.
    fn waiting_since(&self, state: &State) -> u64 {
        replication::waiting_since(state.pairing.front(), self.shared.start)
    }
}

/// Runs one client connection until it closes, or until a mode switch
/// hands it over (finished, with nothing in flight).
pub(crate) async fn run(carry: Carry, conn: u64, shared: Arc<RecordShared>) -> SessionEnd {
    let Carry {
        stream: client,
        buffered: mut client_buf,
        state: carried,
    } = carry;
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
    let wake = Arc::new(Notify::new());
    let inbox: Arc<Mutex<Vec<InjectRequest>>> = Arc::default();
    let deliver = {
        let (wake, inbox) = (wake.clone(), inbox.clone());
        Box::new(move |request| {
            inbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(request);
            wake.notify_one();
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
        inbox,
        room: Notify::new(),
        replication_seen: AtomicBool::new(false),
        marker: shared.gate.register(conn),
        faulted: AtomicBool::new(false),
        topology_asked: AtomicBool::new(false),
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
            &stop,
        );
        let replies = relay_replies(&session, upstream_read, upstream_buf, &mut client_write);
        tokio::pin!(requests, replies);
        let mut requests_end = None;
        loop {
            tokio::select! {
                end = &mut requests, if requests_end.is_none() => {
                    requests_end = Some(end);
                    session.state().requests_done = true;
                    session.wake.notify_one();
                }
                end = &mut replies => break (requests_end, end),
            }
        }
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

/// The upstream cannot be reached: answer what the client sent with an
/// error naming the upstream, then close.
async fn answer_unreachable(
    mut client: ClientStream,
    mut buf: BytesMut,
    reason: &str,
    shared: &RecordShared,
) {
    let line = format!("-ERR resplay: {reason}\r\n");
    // Wait briefly for the client's first requests so it gets a reply
    // rather than a bare close.
    let read = tokio::time::timeout(Duration::from_secs(2), client.read_buf(&mut buf)).await;
    let mut out = Vec::new();
    if let Ok(Ok(n)) = read {
        if n > 0 {
            let mut pos = 0;
            while let Ok(RequestParse::Command(frame)) =
                parse_request(&buf[pos..], &shared.config.limits)
            {
                out.extend_from_slice(line.as_bytes());
                pos += frame.len;
            }
        }
    }
    if out.is_empty() {
        out.extend_from_slice(line.as_bytes());
    }
    let _ = client.write_all(&out).await;
    let _ = client.shutdown().await;
}

/// Client → upstream.
async fn relay_requests(
    session: &Session,
    client: &mut ClientReader,
    buf: &mut BytesMut,
    upstream: &mut UpstreamWriter,
    stop: &CancellationToken,
) -> RequestsEnd {
    let shared = &session.shared;
    let limits = shared.config.limits;
    let idle_limit = shared.config.idle_timeout;
    let mut modes = ReplyModeTracker::default();
    let mut multi = MultiTrack::default();
    let faults = &shared.config.faults;
    let mut seq = 0u64;
    // Idle since: the last complete request, or the connection's start.
    let mut idle_since = Instant::now();
    // Made once: a fresh one per read would register with the token's
    // waiter list (a lock) and leave it again, for every request.
    let shutdown = stop.cancelled();
    tokio::pin!(shutdown);
    loop {
        while session.state().pairing.pending() >= MAX_IN_FLIGHT {
            tokio::select! {
                _ = &mut shutdown => return RequestsEnd::Stopped,
                _ = session.room.notified() => {}
            }
        }
        let read = tokio::select! {
            _ = &mut shutdown => return RequestsEnd::Stopped,
            read = read_with_idle_limit(client, buf, idle_limit, idle_since, session) => read,
        };
        match read {
            ReadOutcome::Data => {}
            ReadOutcome::Closed => {
                session.client_left();
                return RequestsEnd::Gone;
            }
            ReadOutcome::Idle => {
                tracing::debug!("connection {}: idle timeout", session.conn);
                return RequestsEnd::Gone;
            }
        }
        let now = Instant::now();
        let mut frames = Vec::new();
        let mut consumed = 0;
        let mut error = None;
        loop {
            match parse_request(&buf[consumed..], &limits) {
                Ok(RequestParse::Incomplete) => break,
                Ok(RequestParse::Skip { len }) => consumed += len,
                Ok(RequestParse::Command(frame)) => {
                    let start = consumed;
                    consumed += frame.len;
                    frames.push((start, frame));
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let chunk = buf.split_to(consumed).freeze();
        let mut wake = false;
        // The first command a fault applies to, and the ones after it, take
        // the slow path (`relay_faulted`).
        let mut faulted = None;
        if !frames.is_empty() {
            idle_since = now;
            let mut state = session.state();
            for (i, (start, frame)) in frames.iter().enumerate() {
                let raw = chunk.slice(*start..*start + frame.len);
                let args = frame.args(&raw);
                let fault = faults.check(&args);
                if fault.is_some() || (multi.doomed && is_exec(&args)) {
                    faulted = Some((i, args, fault));
                    break;
                }
                multi.follow(&args);
                if shared.config.cluster.is_some()
                    && crate::nodes::rewrite::topology_command(&args).is_some()
                {
                    session.topology_asked.store(true, Ordering::Release);
                }
                // A replica is never answered (Redis queues no reply to it).
                let silent = modes.is_silent(&args) || state.replication.is_streaming();
                if command::starts_replication(&args) {
                    session.replication_seen.store(true, Ordering::Release);
                }
                wake |= silent;
                state
                    .pairing
                    .push_request(Pending::new(seq, args, now, silent));
                seq += 1;
            }
            // Before the bytes go upstream: what they cause in a
            // replication stream must find them waiting.
            let since = session.waiting_since(&state);
            drop(state);
            shared.gate.update(&session.marker, since);
        }
        // The reply half only needs waking for what no upstream byte will
        // announce: a request the server will not answer, or a protocol error.
        if let Some(e) = &error {
            session.state().protocol_error = Some(e.clone());
            wake = true;
        }
        if wake {
            session.wake.notify_one();
        }
        let plain = match &faulted {
            Some((i, ..)) => frames[*i].0,
            None => chunk.len(),
        };
        if plain > 0 && upstream.write_all(&chunk[..plain]).await.is_err() {
            // The reply half sees the upstream die and answers the client.
            return RequestsEnd::Gone;
        }
        if let Some((i, args, fault)) = faulted {
            let rest = &frames[i..];
            let flow = relay_faulted(
                session,
                upstream,
                &chunk,
                rest,
                (args, fault),
                &mut modes,
                &mut seq,
                &mut multi,
            )
            .await;
            match flow {
                Flow::Go => {}
                Flow::Stop => return RequestsEnd::Gone,
                Flow::Discard => {
                    // Dropped, hung or half-answered: nothing more goes
                    // upstream; keep reading only to see the client leave.
                    // Such a connection is never handed over.
                    loop {
                        buf.clear();
                        let read = tokio::select! {
                            _ = &mut shutdown => return RequestsEnd::Gone,
                            read = read_with_idle_limit(client, buf, idle_limit, idle_since, session) => read,
                        };
                        match read {
                            ReadOutcome::Data => {}
                            ReadOutcome::Closed => {
                                session.client_left();
                                return RequestsEnd::Gone;
                            }
                            ReadOutcome::Idle => return RequestsEnd::Gone,
                        }
                    }
                }
            }
        }
        if error.is_some() {
            return RequestsEnd::Gone;
        }
    }
}

enum ReadOutcome {
    Data,
    Closed,
    Idle,
}

/// Reads more client bytes. With an idle limit, a connection with nothing
/// in flight and no subscription that completes no request within the limit is closed (partial
/// frames do not count as activity: a client that declares a huge bulk and
/// never sends it, or sends a byte a second, is closed too).
async fn read_with_idle_limit(
    client: &mut ClientReader,
    buf: &mut BytesMut,
    idle_limit: Option<Duration>,
    mut idle_since: Instant,
    session: &Session,
) -> ReadOutcome {
    buf.reserve(READ_CHUNK);
    let Some(limit) = idle_limit else {
        return match client.read_buf(buf).await {
            Ok(0) | Err(_) => ReadOutcome::Closed,
            Ok(_) => ReadOutcome::Data,
        };
    };
    loop {
        let busy = {
            let state = session.state();
            state.pairing.pending() > 0
                || state.pairing.is_subscribed()
                || state.replication.is_streaming()
        };
        if busy {
            // A blocking command may wait for minutes, and a subscriber or a
            // replica only listens: none is idle (Redis's `timeout` spares
            // them all).
            idle_since = Instant::now();
        }
        let left = limit.saturating_sub(idle_since.elapsed());
        if left.is_zero() {
            return ReadOutcome::Idle;
        }
        // Re-check at least every second: requests in flight may finish.
        let wait = left.min(Duration::from_secs(1));
        match tokio::time::timeout(wait, client.read_buf(buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return ReadOutcome::Closed,
            Ok(Ok(_)) => return ReadOutcome::Data,
            Err(_) => continue,
        }
    }
}

/// Upstream → client, and pairing into cassette events.
async fn relay_replies(
    session: &Session,
    mut upstream: UpstreamReader,
    mut buf: BytesMut,
    client: &mut ClientWriter,
) -> RepliesEnd {
    let shared = &session.shared;
    let limits = shared.config.upstream_limits;
    let mut client_alive = true;
    let mut paired = Vec::new();
    let mut frame_lens = Vec::new();
    // Once the request half is done, in-flight replies get this long.
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    // Kept across reads and renewed only when it fires (see `relay_requests`
    // on why not one per read); a wake-up sent meanwhile is not lost, Notify
    // keeps it for the next poll.
    let wake = session.wake.notified();
    tokio::pin!(wake);
    loop {
        // Act on what needs no upstream bytes: silent requests, a protocol
        // error due now, the end of the conversation.
        let (finished, protocol_error, since, abandon) = {
            let mut state = session.state();
            state.pairing.complete_silent(&mut paired);
            let abandon = state.client_gone && held_back(&state.pairing);
            let idle = state.pairing.pending() == 0;
            let error = if idle {
                state.protocol_error.take()
            } else {
                None
            };
            if state.requests_done && drain_deadline.is_none() {
                drain_deadline = Some(tokio::time::Instant::now() + shared.config.drain_grace);
            }
            let since = session.waiting_since(&state);
            (idle && state.requests_done, error, since, abandon)
        };
        if abandon {
            tracing::debug!(
                "connection {}: client gone while a request waits on others; closing the upstream",
                session.conn
            );
            return abandon_pending(session, &mut paired).await;
        }
        if session.faulted.load(Ordering::Acquire)
            && answer_locals(session, client, &mut client_alive, &paired).await
        {
            emit(session, &mut paired, Instant::now()).await;
            return RepliesEnd::Failed;
        }
        emit(session, &mut paired, Instant::now()).await;
        shared.gate.update(&session.marker, since);
        if let Some(e) = protocol_error {
            if client_alive {
                let _ = client.write_all(format!("-ERR {e}\r\n").as_bytes()).await;
            }
            return RepliesEnd::Failed;
        }
        if finished {
            return if client_alive {
                RepliesEnd::Finished
            } else {
                RepliesEnd::Failed
            };
        }
        buf.reserve(READ_CHUNK);
        let deadline = drain_deadline;
        let read = tokio::select! {
            read = upstream.read_buf(&mut buf) => read,
            _ = &mut wake => {
                wake.set(session.wake.notified());
                let injected = std::mem::take(
                    &mut *session.inbox.lock().unwrap_or_else(|e| e.into_inner()),
                );
                for request in injected {
                    if client_alive && inject(session, client, request).await.is_err() {
                        client_alive = false;
                        session.client_left();
                    }
                }
                continue;
            }
            _ = sleep_until(deadline) => {
                tracing::warn!(
                    "connection {}: client gone, {} request(s) still waiting for replies are recorded unanswered",
                    session.conn,
                    session.state().pairing.pending()
                );
                return abandon_pending(session, &mut paired).await;
            }
        };
        let now = Instant::now();
        match read {
            Ok(n) if n > 0 => {}
            outcome => {
                let reason = match outcome {
                    Err(e) => format!("connection lost: {e}"),
                    _ => "closed the connection".to_string(),
                };
                {
                    let mut state = session.state();
                    state.closed_by_server = !state.requests_done;
                }
                fail_pending(session, client, client_alive, &reason).await;
                return RepliesEnd::Failed;
            }
        }
        if session.replication_seen.load(Ordering::Acquire) {
            let pieces = take_replication_pieces(session, &mut buf, &limits, &mut paired);
            if client_alive && forward_pieces(client, &pieces.forward).await.is_err() {
                client_alive = false;
                session.client_left();
            }
            if pieces.pending < MAX_IN_FLIGHT {
                session.room.notify_one();
            }
            if pieces.streaming && paired.iter().any(|p| matches!(p, Paired::Push(_))) {
                let before = replication::nanos_since(shared.start, now);
                shared
                    .gate
                    .wait_for_earlier(session.conn, before, GATE_LIMIT)
                    .await;
            }
            emit(session, &mut paired, now).await;
            shared.gate.update(&session.marker, pieces.since);
            if let Some(e) = pieces.bad {
                let reason = format!("sent an invalid reply ({e})");
                fail_pending(session, client, client_alive, &reason).await;
                return RepliesEnd::Failed;
            }
            continue;
        }
        // Forward every complete frame first, then pair them.
        let mut total = 0;
        let mut bad_frame = None;
        frame_lens.clear();
        loop {
            match reply_len(&buf[total..], &limits) {
                Ok(Some(len)) => {
                    total += len;
                    frame_lens.push(len);
                }
                Ok(None) => break,
                Err(e) => {
                    bad_frame = Some(e);
                    break;
                }
            }
        }
        let chunk = buf.split_to(total).freeze();
        let shaped = session.faulted.load(Ordering::Acquire)
            || (shared.config.cluster.is_some()
                && (session.topology_asked.load(Ordering::Acquire)
                    || crate::nodes::rewrite::may_redirect(&chunk)));
        let (pending, since, close) = if shaped {
            // A fault was injected here, or node addresses may need
            // rewriting (a cluster): pair first, then send what the client
            // is due, local answers and shaped replies in place.
            let mut out = BytesMut::new();
            let (then, pending, since) =
                shape_frames(session, &chunk, &frame_lens, &mut paired, &mut out);
            let close = deliver(session, client, &mut client_alive, &out, then).await;
            (pending, since, close)
        } else {
            if client_alive && !chunk.is_empty() && client.write_all(&chunk).await.is_err() {
                // Keep recording what is in flight; nothing more to deliver.
                client_alive = false;
                session.client_left();
            }
            let (pending, since) = pair_frames(session, &chunk, &frame_lens, &mut paired);
            // A local answer queued after the chunk was read comes after it.
            let close = session.faulted.load(Ordering::Acquire)
                && answer_locals(session, client, &mut client_alive, &paired).await;
            (pending, since, close)
        };
        if pending < MAX_IN_FLIGHT {
            session.room.notify_one();
        }
        emit(session, &mut paired, now).await;
        if close {
            return RepliesEnd::Failed;
        }
        shared.gate.update(&session.marker, since);
        if let Some(e) = bad_frame {
            let reason = format!("sent an invalid reply ({e})");
            fail_pending(session, client, client_alive, &reason).await;
            return RepliesEnd::Failed;
        }
    }
}

/// Whether the oldest request waiting is one the server may hold back until
/// another client acts: a blocking command (`BLPOP`, `WAIT`, `XREAD …
/// BLOCK`, …; not when queued in `MULTI`), or `SYNC`/`PSYNC`. Redis frees
/// a blocked client that leaves at once; a recorder still waiting for its
/// reply would leave it blocked upstream, to take the next job pushed to
/// its queue (or, a replica, to count for `WAIT`).
fn held_back(pairing: &Pairing) -> bool {
    pairing.front().is_some_and(|front| {
        !front.silent
            && !pairing.in_multi()
            && (command::is_blocking(&front.args) || command::starts_replication(&front.args))
    })
}

/// Stops waiting: every request still in flight is written as an
/// interaction with no reply (or the replies it got), in order, before the
/// close; the caller then drops the upstream connection.
async fn abandon_pending(session: &Session, paired: &mut Vec<Paired>) -> RepliesEnd {
    session.state().pairing.abandon(paired);
    emit(session, paired, Instant::now()).await;
    RepliesEnd::Failed
}

/// Writes an injected message to the client, in its protocol, if its
/// subscriptions (or its key tracking) concern it. Called between whole
/// frames, so it never lands inside a relayed reply.
async fn inject(
    session: &Session,
    client: &mut ClientWriter,
    request: InjectRequest,
) -> std::io::Result<()> {
    let frames = {
        let state = session.state();
        let pairing = &state.pairing;
        let subscriptions = pairing.subscriptions();
        request.injection.frames_for(&Listener {
            protocol: pairing.protocol(),
            subscriptions: &subscriptions,
            tracking: pairing.is_tracking(),
        })
    };
    let _ = request.done.send(frames.len() as u64);
    if frames.is_empty() {
        return Ok(());
    }
    let mut out = BytesMut::new();
    for frame in &frames {
        encode(frame, &mut out);
    }
    client.write_all(&out).await
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Pairs the frames of `chunk`, whose lengths `reply_len` measured; returns
/// the number of requests still in flight and the gate marker after them.
fn pair_frames(
    session: &Session,
    chunk: &Bytes,
    frame_lens: &[usize],
    out: &mut Vec<Paired>,
) -> (usize, u64) {
    let mut state = session.state();
    let mut pos = 0;
    for &len in frame_lens {
        state.pairing.on_frame(chunk.slice(pos..pos + len), out);
        pos += len;
    }
    (state.pairing.pending(), session.waiting_since(&state))
}

/// What [`take_replication_pieces`] took off the buffer.
struct Pieces {
    /// Exact bytes for the client, in order.
    forward: Vec<Bytes>,
    /// An invalid reply, after the pieces before it.
    bad: Option<ProtocolError>,
    /// Requests still in flight.
    pending: usize,
    /// The gate marker after them.
    since: u64,
    /// The connection carries the replication stream.
    streaming: bool,
}

/// The frame loop for a connection that sent `SYNC`/`PSYNC`: each piece is
/// measured and paired before the next, under one hold of the lock, since
/// a reply can change how the bytes after it read (see
/// `Replication::next_piece`).
fn take_replication_pieces(
    session: &Session,
    buf: &mut BytesMut,
    limits: &Limits,
    out: &mut Vec<Paired>,
) -> Pieces {
    let mut guard = session.state();
    let state = &mut *guard;
    let mut forward = Vec::new();
    let mut bad = None;
    loop {
        match state
            .replication
            .next_piece(&mut state.pairing, buf, limits, out)
        {
            Ok(Some(piece)) => forward.push(piece),
            Ok(None) => break,
            Err(e) => {
                bad = Some(e);
                break;
            }
        }
    }
    Pieces {
        forward,
        bad,
        pending: state.pairing.pending(),
        since: session.waiting_since(state),
        streaming: state.replication.is_streaming(),
    }
}

/// Writes pieces to the client: small ones gathered into one write, a
/// large one (an RDB) as it is, uncopied.
async fn forward_pieces(client: &mut ClientWriter, pieces: &[Bytes]) -> std::io::Result<()> {
    const GATHER: usize = 64 * 1024;
    let mut gathered = BytesMut::new();
    for piece in pieces {
        if piece.len() >= GATHER {
            if !gathered.is_empty() {
                client.write_all(&gathered).await?;
                gathered.clear();
            }
            client.write_all(piece).await?;
        } else {
            gathered.extend_from_slice(piece);
        }
    }
    if !gathered.is_empty() {
        client.write_all(&gathered).await?;
    }
    Ok(())
}

/// Writes finished interactions and pushes as cassette lines, straight from
/// their bytes, and hands them to the writer as one message; `now` is when
/// their last reply byte was read.
async fn emit(session: &Session, paired: &mut Vec<Paired>, now: Instant) {
    if paired.is_empty() {
        return;
    }
    let shared = &session.shared;
    let Some(writer) = &shared.writer else {
        // Passthrough: relayed, not recorded.
        paired.clear();
        return;
    };
    let mut text = Vec::with_capacity(128 * paired.len());
    let mut events = 0;
    let mut interactions = 0;
    for item in paired.drain(..) {
        let written = match item {
            Paired::Interaction {
                request,
                db,
                replies,
            } => {
                // A handshake call that failed is kept: replay could not
                // make up `-BUSY`, `-LOADING` or `-NOAUTH` from nothing.
                if shared.config.ignore_trivial_calls
                    && command::is_trivial(&request.args)
                    && !replies.first().is_some_and(is_error_frame)
                {
                    continue;
                }
                let mut cmd = request.args;
                if command::has_secret(&cmd) {
                    command::redact(&mut cmd);
                }
                let head = InteractionHead {
                    conn: session.conn,
                    db,
                    seq: request.seq,
                    at_ms: session.at_ms(request.at),
                    took_us: now.saturating_duration_since(request.at).as_micros() as u64,
                };
                let written = match &shared.config.redact {
                    Some(r) if r.applies(&cmd) => {
                        write_redacted(&mut text, r, head, cmd, &replies, shared)
                    }
                    _ => write_interaction_line(&mut text, head, &cmd, &replies),
                };
                interactions += u64::from(written);
                written
            }
            Paired::Push(frame) => match &shared.config.redact {
                Some(r) if !r.is_empty() => {
                    write_redacted_push(&mut text, r, session.conn, session.at_ms(now), &frame)
                }
                _ => write_push_line(&mut text, session.conn, session.at_ms(now), &frame),
            },
            // Injected faults never reach the cassette.
            Paired::Local(_) => continue,
        };
        events += u64::from(written);
    }
    shared
        .interactions
        .fetch_add(interactions, Ordering::Relaxed);
    writer.send_lines(text, events).await;
}

/// The slow way for an interaction a redaction rule applies to: replies
/// decoded, redacted, and written as an [`Event`] line.
fn write_redacted(
    text: &mut Vec<u8>,
    redactor: &crate::redact::Redactor,
    head: InteractionHead,
    mut cmd: Vec<Bytes>,
    replies: &[Bytes],
    shared: &RecordShared,
) -> bool {
    let mut values = Vec::with_capacity(replies.len());
    for frame in replies {
        match crate::resp::parse_reply(frame, &shared.config.upstream_limits) {
            Ok(Some((value, len))) if len == frame.len() => values.push(value),
            _ => {
                tracing::error!("cassette: a reply frame did not decode; its event is not written");
                return false;
            }
        }
    }
    redactor.interaction(&mut cmd, &mut values, true);
    let event = Event::Interaction(crate::cassette::Interaction {
        conn: head.conn,
        db: head.db,
        seq: head.seq,
        at_ms: head.at_ms,
        took_us: head.took_us,
        cmd,
        replies: values,
    });
    event.write_line(text);
    true
}

/// A push under redaction rules: a pub/sub message whose `PUBLISH` a rule
/// redacts is written redacted; anything else as it came.
fn write_redacted_push(
    text: &mut Vec<u8>,
    redactor: &crate::redact::Redactor,
    conn: u64,
    at_ms: u64,
    frame: &Bytes,
) -> bool {
    let limits = crate::resp::Limits::upstream();
    if let Ok(Some((mut push, len))) = crate::resp::parse_reply(frame, &limits) {
        if len == frame.len() && redactor.push(&mut push) {
            Event::Push(crate::cassette::PushEvent { conn, at_ms, push }).write_line(text);
            return true;
        }
    }
    write_push_line(text, conn, at_ms, frame)
}

/// The upstream is gone: every request still waiting gets an error naming
/// it, in order, and the client connection closes.
async fn fail_pending(
    session: &Session,
    client: &mut ClientWriter,
    client_alive: bool,
    reason: &str,
) {
    let addr = &session.shared.config.upstream.addr;
    let pending = session.state().pairing.drain();
    if pending.is_empty() {
        tracing::debug!("connection {}: upstream {addr} {reason}", session.conn);
        let _ = client.shutdown().await;
        return;
    }
    tracing::warn!(
        "connection {}: upstream {addr} {reason}; failing {} waiting request(s)",
        session.conn,
        pending.len()
    );
    if client_alive {
        let line = format!("-ERR resplay: upstream {addr} {reason}\r\n");
        let out: Vec<u8> = pending
            .iter()
            .filter(|p| !p.silent)
            .flat_map(|_| line.bytes())
            .collect();
        let _ = client.write_all(&out).await;
        let _ = client.shutdown().await;
    }
}
