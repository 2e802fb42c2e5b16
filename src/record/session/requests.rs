//! The request half of a recorded connection: client bytes read, whole
//! requests found and told to the pairing, and the same bytes forwarded
//! upstream in one write. Apart from the reply half because the two run
//! side by side and wait on different sockets; what they share is
//! `Session`'s state. Besides the relay itself, this half owns what only
//! it can see: the client's idle timeout and the limit on requests in
//! flight.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::faulted::{is_exec, relay_faulted, Flow, MultiTrack};
use super::{flag_set, make_room, RequestsEnd, Session};
use crate::pairing::{Pending, ReplyModeTracker};
use crate::resp::{parse_request, RequestParse};
use crate::tls::ClientReader;
use crate::upstream::UpstreamWriter;

/// Client → upstream.
pub(super) async fn relay_requests(
    session: &Session,
    client: &mut ClientReader,
    buf: &mut BytesMut,
    upstream: &mut UpstreamWriter,
) -> RequestsEnd {
    let shared = &session.shared;
    let limits = shared.config.limits;
    let idle_limit = shared.config.idle_timeout;
    let mut modes = ReplyModeTracker::default();
    let mut multi = MultiTrack::default();
    let mut seq = 0u64;
    // Idle since: the last complete request, or the connection's start.
    let mut idle_since = Instant::now();
    // Told to stop (shutdown, a reset, a mode switch): `run` watches the
    // token and polls this half again when it fires.
    let stopping = || session.stopping.load(Ordering::Acquire);
    // Where each request of a read starts, and its parse; kept across reads
    // so its room is allocated once.
    let mut frames = Vec::new();
    // Whole requests were left in `buf` for want of room: handled before
    // the next read, which might wait for bytes the client will not send.
    let mut held = false;
    loop {
        // Replies owed to the client past the limit: it is not reading
        // them; take no more of its requests until it does, and then only
        // as many as there is room for (a single read may hold hundreds).
        let room = loop {
            let pending = session.state().pairing.pending();
            let cap = session.in_flight.get();
            if pending < cap {
                break cap - pending;
            }
            tokio::select! {
                biased;
                _ = flag_set(stopping) => return RequestsEnd::Stopped,
                _ = session.room.notified() => {}
            }
        };
        // Biased (stop first): the random start of an unbiased select
        // costs a random number per read.
        let read = if std::mem::take(&mut held) {
            ReadOutcome::Data
        } else {
            tokio::select! {
                biased;
                _ = flag_set(stopping) => return RequestsEnd::Stopped,
                read = read_with_idle_limit(client, buf, idle_limit, idle_since, session) => read,
            }
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
        frames.clear();
        let mut consumed = 0;
        let mut error = None;
        loop {
            if frames.len() >= room {
                held = true;
                break;
            }
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
                let args = frame.args_at(&chunk, *start);
                let fault = session.fault_for(&args);
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
                let mut pending = Pending::new(seq, args, now, silent);
                pending.excluded = multi.excludes(&shared.config, &pending.args);
                if pending.class.starts_replication() {
                    session.replication_seen.store(true, Ordering::Release);
                }
                wake |= silent;
                state.pairing.push_request(pending);
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
            session.wake.wake();
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
                            biased;
                            _ = flag_set(stopping) => return RequestsEnd::Gone,
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
    make_room(buf);
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
