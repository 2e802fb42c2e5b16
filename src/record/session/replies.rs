//! The reply half of a recorded connection: upstream bytes read, every
//! complete frame forwarded to the client at once, then paired with its
//! request and handed to `emit`. Apart from the request half because it
//! waits on the other socket and decides when the conversation ends: the
//! drain once requests stop, a client gone (`client_gone`), an upstream
//! gone (`upstream_gone`). Injected messages are written here too, since
//! only this half knows where a whole frame ends.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::client_gone::{abandon_pending, held_back};
use super::emit::emit;
use super::faulted::{answer_locals, deliver, shape_frames};
use super::replica::{forward_pieces, take_replication_pieces};
use super::upstream_gone::fail_pending;
use super::{flag_set, make_room, RepliesEnd, Session};
use crate::pairing::Paired;
use crate::record::replication::{self, GATE_LIMIT};
use crate::resp::{encode, reply_len};
use crate::server::inject::Listener;
use crate::server::registry::InjectRequest;
use crate::tls::ClientWriter;
use crate::upstream::UpstreamReader;

/// Upstream → client, and pairing into cassette events.
pub(super) async fn relay_replies(
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
        // (Checked here: the clock is read only for something to emit.)
        if !paired.is_empty() {
            emit(session, &mut paired, Instant::now()).await;
        }
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
        make_room(&mut buf);
        let deadline = drain_deadline;
        // Biased: see `relay_requests`. A poke is a flag check, so first.
        let read = tokio::select! {
            biased;
            _ = flag_set(|| session.wake.take()) => {
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
            read = upstream.read_buf(&mut buf) => read,
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
            if pieces.pending < session.in_flight.get() {
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
        session.in_flight.observe(frame_lens.len(), total);
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
        if pending < session.in_flight.get() {
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
