//! The slow path of a recorded connection, taken only once a fault rule
//! fires on it (see `crate::fault`): the request half holds back, keeps
//! local or marks the faulted commands; the reply half pairs before it
//! forwards, to put local answers in their place and shape the replies.
//! The plain byte relay in `session` pays one atomic load per command and
//! per chunk for this.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::tls::ClientWriter;
use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::Session;
use crate::command;
use crate::fault::FaultAction;
use crate::pairing::{Paired, Pending, ReplyModeTracker, RequestArgs, Special};
use crate::upstream::UpstreamWriter;

/// Whether a client's transaction is open, and doomed by an injected error,
/// as the request half sees it (before any reply: it assumes `MULTI`
/// succeeds). Cheap enough for every command: a length and a name compare.
#[derive(Debug, Default)]
pub(super) struct MultiTrack {
    /// Between `MULTI` and `EXEC`/`DISCARD`/`RESET`.
    in_multi: bool,
    /// An injected error refused a command inside it: its `EXEC` becomes a
    /// `DISCARD` upstream and an `EXECABORT` for the client.
    pub(super) doomed: bool,
}

impl MultiTrack {
    /// Whether `--exclude` leaves a request out of the cassette: never
    /// inside a transaction (call after [`follow`](Self::follow)), whose
    /// `EXEC` reply and matching need every queued command.
    pub(super) fn excludes(&self, config: &crate::record::RecordConfig, args: &[Bytes]) -> bool {
        !self.in_multi && config.excludes(args)
    }

    pub(super) fn follow(&mut self, args: &[Bytes]) {
        let Some(name) = args.first() else {
            return;
        };
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        match name.len() {
            5 if is(b"MULTI") => self.in_multi = true,
            4 if is(b"EXEC") => *self = MultiTrack::default(),
            5 if is(b"RESET") => *self = MultiTrack::default(),
            7 if is(b"DISCARD") => *self = MultiTrack::default(),
            _ => {}
        }
    }
}

pub(super) fn is_exec(args: &[Bytes]) -> bool {
    args.first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"EXEC"))
}

/// What the request half does after [`relay_faulted`].
pub(super) enum Flow {
    /// Go on reading requests.
    Go,
    /// Send nothing more (drop, hang, partial); wait for the client to go.
    Discard,
    /// Stop now (upstream gone, shutdown).
    Stop,
}

/// `DISCARD` as a client would send it.
const DISCARD: &[u8] = b"*1\r\n$7\r\nDISCARD\r\n";

/// The slow path of the request half: the rest of a chunk once a fault
/// applies to one of its commands (`first`, already checked). Each command
/// is queued for pairing before its bytes go upstream, as on the fast path;
/// faulted ones are held back (latency), kept local (error, drop, hang), or
/// marked so the reply half shapes their reply (partial, `EXECABORT`).
#[allow(clippy::too_many_arguments)]
pub(super) async fn relay_faulted(
    session: &Session,
    upstream: &mut UpstreamWriter,
    chunk: &Bytes,
    frames: &[(usize, crate::resp::RequestFrame)],
    first: (RequestArgs, Option<FaultAction>),
    modes: &mut ReplyModeTracker,
    seq: &mut u64,
    multi: &mut MultiTrack,
) -> Flow {
    // Start of the chunk's bytes not yet written upstream.
    let mut unsent = frames.first().map_or(chunk.len(), |(start, _)| *start);
    let mut first = Some(first);
    let mut now = Instant::now();
    for (start, frame) in frames {
        let (start, end) = (*start, *start + frame.len);
        let (args, fault) = match first.take() {
            Some(checked) => checked,
            None => {
                let args: RequestArgs = frame.args_at(chunk, start);
                let fault = session.fault_for(&args);
                (args, fault)
            }
        };
        let silent = modes.is_silent(&args);
        let local = match &fault {
            Some(FaultAction::Latency(delay)) => {
                let delay = *delay;
                // What came before goes now; this command (and all after
                // it) waits, as behind a slow Redis.
                if send(upstream, chunk, &mut unsent, start).await.is_err() {
                    return Flow::Stop;
                }
                tokio::select! {
                    _ = session.shared.shutdown.cancelled() => return Flow::Stop,
                    _ = tokio::time::sleep(delay) => {}
                }
                now = Instant::now();
                None
            }
            Some(FaultAction::Error(line)) => {
                if multi.in_multi {
                    multi.doomed = true;
                }
                (!silent).then(|| Special::Error(line.clone()))
            }
            Some(FaultAction::Drop) => Some(Special::Drop),
            Some(FaultAction::Hang) => Some(Special::Hang),
            Some(FaultAction::Partial) | None => None,
        };
        if matches!(
            fault,
            Some(FaultAction::Error(_) | FaultAction::Drop | FaultAction::Hang)
        ) {
            // Not run: its bytes never go upstream, and it takes no `seq`
            // (it is not recorded).
            if let Some(special) = local {
                queue(
                    session,
                    Pending::new(*seq, args, now, false).with_special(special),
                );
            }
            if send(upstream, chunk, &mut unsent, start).await.is_err() {
                return Flow::Stop;
            }
            unsent = end;
            if matches!(fault, Some(FaultAction::Drop | FaultAction::Hang)) {
                return Flow::Discard;
            }
            continue;
        }
        if fault.is_none() && multi.doomed && is_exec(&args) {
            // Redis would answer EXECABORT and drop the transaction: the
            // upstream's transaction is dropped with DISCARD instead.
            *multi = MultiTrack::default();
            queue(
                session,
                Pending::new(*seq, args, now, silent).with_special(Special::ExecAbort),
            );
            *seq += 1;
            if send(upstream, chunk, &mut unsent, start).await.is_err()
                || upstream.write_all(DISCARD).await.is_err()
            {
                return Flow::Stop;
            }
            unsent = end;
            continue;
        }
        multi.follow(&args);
        if command::starts_replication(&args) {
            session.replication_seen.store(true, Ordering::Release);
        }
        let partial = matches!(fault, Some(FaultAction::Partial));
        let mut pending = Pending::new(*seq, args, now, silent);
        pending.excluded = multi.excludes(&session.shared.config, &pending.args);
        if partial {
            pending = pending.with_special(Special::Partial);
        }
        queue(session, pending);
        *seq += 1;
        if partial {
            return match send(upstream, chunk, &mut unsent, end).await {
                Ok(()) => Flow::Discard,
                Err(_) => Flow::Stop,
            };
        }
    }
    match send(upstream, chunk, &mut unsent, chunk.len()).await {
        Ok(()) => Flow::Go,
        Err(_) => Flow::Stop,
    }
}

/// Queues one request of the slow path for pairing (before its bytes go
/// upstream), waking the reply half for a local one: no upstream byte will.
fn queue(session: &Session, mut pending: Pending) {
    let special = pending.special.is_some();
    let local = pending.special.as_deref().is_some_and(Special::is_local);
    if special {
        // Before the request is queued: the reply half must see the flag
        // by the time it reads anything answering it.
        session.faulted.store(true, Ordering::Release);
    }
    let mut state = session.state();
    pending.silent |= state.replication.is_streaming();
    state.pairing.push_request(pending);
    let since = session.waiting_since(&state);
    drop(state);
    session.shared.gate.update(&session.marker, since);
    if local {
        session.wake.wake();
    }
}

/// Writes `chunk[*unsent..to]` upstream.
async fn send(
    upstream: &mut UpstreamWriter,
    chunk: &Bytes,
    unsent: &mut usize,
    to: usize,
) -> std::io::Result<()> {
    if to > *unsent {
        upstream.write_all(&chunk[*unsent..to]).await?;
        *unsent = to;
    }
    Ok(())
}

/// What the reply half does after sending a client its due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// Go on relaying.
    Go,
    /// A hang fault's turn came: never write to the client again, but keep
    /// the connection (and the recording of what the upstream sends).
    Hang,
    /// A drop or partial fault: close the client connection now.
    Close,
}

/// Adds the client bytes for the local answers among `items` (injected
/// errors) to `out`, in order, until a drop or hang ends the answering.
fn local_answers(items: &[Paired], out: &mut BytesMut, then: &mut Then) {
    for item in items {
        if *then != Then::Go {
            return;
        }
        match item {
            Paired::Local(Special::Error(line)) => out.extend_from_slice(line),
            Paired::Local(Special::Drop) => *then = Then::Close,
            Paired::Local(Special::Hang) => *then = Then::Hang,
            _ => {}
        }
    }
}

/// Sends the local answers among `items`; true when the client connection
/// is now closed.
pub(super) async fn answer_locals(
    session: &Session,
    client: &mut ClientWriter,
    client_alive: &mut bool,
    items: &[Paired],
) -> bool {
    let mut out = BytesMut::new();
    let mut then = Then::Go;
    local_answers(items, &mut out, &mut then);
    deliver(session, client, client_alive, &out, then).await
}

/// Writes `out` to the client and acts on `then`; true when the client
/// connection is now closed.
pub(super) async fn deliver(
    session: &Session,
    client: &mut ClientWriter,
    client_alive: &mut bool,
    out: &[u8],
    then: Then,
) -> bool {
    if *client_alive && !out.is_empty() && client.write_all(out).await.is_err() {
        *client_alive = false;
        session.client_left();
    }
    match then {
        Then::Go => false,
        Then::Hang => {
            *client_alive = false;
            false
        }
        Then::Close => {
            if *client_alive {
                let _ = client.shutdown().await;
            }
            *client_alive = false;
            true
        }
    }
}

/// The pairing of a connection a fault was injected on: frame by frame,
/// with the client's bytes built as it goes (a reply in place, local
/// answers between replies, half a reply then a close, `EXECABORT` for a
/// `DISCARD`'s `+OK`). Returns what to do next, the requests in flight and
/// the gate marker.
pub(super) fn shape_frames(
    session: &Session,
    chunk: &Bytes,
    frame_lens: &[usize],
    paired: &mut Vec<Paired>,
    out: &mut BytesMut,
) -> (Then, usize, u64) {
    let mut state = session.state();
    let mut then = Then::Go;
    let mut pos = 0;
    for &len in frame_lens {
        let frame = chunk.slice(pos..pos + len);
        pos += len;
        // Local answers due before this frame, then the frame, then those
        // due right after it.
        let mark = paired.len();
        state.pairing.complete_silent(paired);
        local_answers(&paired[mark..], out, &mut then);
        let mark = paired.len();
        // A cluster's node addresses, rewritten before the frame is paired
        // (pairing takes its request off the queue).
        let rewritten = session.shared.config.cluster.as_ref().and_then(|link| {
            let request = state.pairing.front().map(|p| p.args.as_slice());
            link.client_frame(request, &frame)
        });
        let shaping = state.pairing.on_frame(frame.clone(), paired);
        if then == Then::Go {
            match shaping {
                Some(Special::Partial) => {
                    out.extend_from_slice(&frame[..(len / 2).max(1)]);
                    then = Then::Close;
                }
                Some(Special::ExecAbort) => out.extend_from_slice(crate::fault::EXECABORT),
                _ => out.extend_from_slice(rewritten.as_ref().unwrap_or(&frame)),
            }
        }
        local_answers(&paired[mark..], out, &mut then);
    }
    let mark = paired.len();
    state.pairing.complete_silent(paired);
    local_answers(&paired[mark..], out, &mut then);
    (then, state.pairing.pending(), session.waiting_since(&state))
}
