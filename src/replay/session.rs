//! One live connection to the replay server: the loop that reads the
//! client's commands, has them answered and writes the replies, watches
//! the channel of pushes from other connections, applies the idle timeout,
//! and hands the connection over at a mode switch.
//!
//! The parts, each in its own file under `session/`:
//! - `answer`: commands answered from the cassette, a pipeline per hold
//!   of the matcher's lock.
//! - `state`: the connection's state (database, transaction, protocol,
//!   subscriptions) followed through answered commands, and carried.
//! - `pushes`: recorded pushes, closes and injected messages delivered.
//! - `backlog`: what is queued for a connection, and the pubsub limit.
//! - `miss`: what a command no recording answers gets.
//! - `pass_through`: a miss asked of the real Redis.
//! - `faulted`: injected faults.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use crate::tls::{self, ClientReader};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;

use super::handshake::ConnInfo;
use super::matcher::Matcher;
use super::passthrough::Passthrough;
use super::ReplayShared;
use crate::handover::{Carry, SessionEnd};
use crate::pairing::ReplyModeTracker;
use crate::resp::{encode, is_resp2, parse_request, to_resp2, NullShape, RequestParse, Value};
use crate::selected_db::SelectedDb;
use crate::server::write_turns::{self, TurnSeat};

mod answer;
mod backlog;
mod faulted;
mod miss;
mod monitor;
mod pass_through;
mod pushes;
mod state;

pub(crate) use backlog::PushSender;
pub(crate) use pass_through::passthrough_events;
pub(crate) use pushes::PushOut;

struct Session {
    live: u64,
    /// The client's address as Redis shows it (`127.0.0.1:51916`).
    peer: String,
    shared: Arc<ReplayShared>,
    info: ConnInfo,
    passthrough: Option<Passthrough>,
    /// Set when the connection must close after what is buffered (QUIT).
    closing: bool,
    /// The database commands are matched in, and the open transaction.
    selected: SelectedDb,
    /// `CLIENT REPLY OFF|SKIP`, followed as Redis does.
    reply_modes: ReplyModeTracker,
    /// The command being answered gets no reply (`CLIENT REPLY`).
    silent: bool,
    /// Handshake commands answered `+QUEUED` inside `MULTI`: their effects
    /// (a name, a protocol) take hold at `EXEC`, as in Redis.
    queued_handshake: Vec<Vec<Bytes>>,
    /// A recorded `SYNC`/`PSYNC` was served: the connection now gets the
    /// replication stream (recorded pushes) and nothing else, as a replica
    /// gets from Redis.
    replica: bool,
    /// `CLIENT TRACKING on` in effect: injected invalidations reach it.
    tracking: bool,
    /// An injected error refused a command inside `MULTI`: the `EXEC` gets
    /// `-EXECABORT`, as Redis answers a transaction it flagged.
    doomed: bool,
    /// A `hang` fault fired: nothing more is answered; the connection stays
    /// open until the client closes it.
    hung: bool,
    /// The client's side of the connection. A command passed through reads
    /// on while the upstream holds it, to see the client leave.
    reader: ClientReader,
    /// Bytes read from the client and not handled yet.
    buf: BytesMut,
    /// Notes this connection's calls in the journal, if there is one.
    scribe: Option<crate::journal::Scribe>,
    /// `buf` got bytes while a command waited: they are handled before the
    /// next read.
    unread: bool,
}

impl Session {
    fn matcher(&self) -> MutexGuard<'_, Matcher> {
        self.shared
            .matcher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// A reply buffer that grew past this is let go once written.
const KEEP_OUT_BYTES: usize = 1 << 20;

/// Writes `value` as this connection's protocol reads it.
fn encode_for(value: &Value, protocol: u8, null: NullShape, out: &mut BytesMut) {
    if protocol == 3 || is_resp2(value) {
        encode(value, out);
    } else {
        encode(&to_resp2(value, null), out);
    }
}

/// Runs one live connection until it closes, or until a mode switch hands
/// it over.
pub(crate) async fn run(carry: Carry, live: u64, shared: Arc<ReplayShared>) -> SessionEnd {
    let (tx, mut pushes) = mpsc::unbounded_channel::<PushOut>();
    let backlog = backlog::Backlog::new(live, shared.config.serve.output.pubsub);
    let tx = PushSender::new(tx, backlog.clone());
    // Injections come down the push channel the loop already watches.
    let injections = tx.clone();
    let deliver = Box::new(move |request| injections.send(PushOut::Inject(request)));
    let stop_sender = tx.clone();
    shared.register(live, tx);
    let stop = shared.registry.register(live, &shared.shutdown, deliver);
    // The stop comes down the push channel: the loop below then looks at
    // one queue per turn, where it looked at the queue and the token (a
    // lock) and polled both while waiting (callgrind, replay at P1: 6,794
    // -> 6,489 instructions per request).
    let _stop_watcher = AbortOnDropHandle::new(tokio::spawn(async move {
        stop.cancelled().await;
        stop_sender.send(PushOut::Stop);
    }));
    let Carry {
        stream,
        buffered: buf,
        state: carried,
    } = carry;
    let peer = tls::peer_addr(&stream).map_or_else(|| "?:0".to_string(), |a| a.to_string());
    let (reader, mut writer) = tls::split(stream);
    let mut session = Session {
        live,
        peer,
        shared: shared.clone(),
        info: ConnInfo {
            id: live,
            protocol: 2,
            name: None,
            subscribed: false,
        },
        passthrough: None,
        closing: false,
        selected: SelectedDb::new(shared.start_db),
        queued_handshake: Vec::new(),
        reply_modes: ReplyModeTracker::default(),
        silent: false,
        replica: false,
        tracking: false,
        doomed: false,
        hung: false,
        reader,
        buf,
        unread: false,
        scribe: shared.config.journal.as_ref().and_then(|j| j.scribe(live)),
    };
    if let Some(state) = &carried {
        session.resume(state);
    }
    let limits = shared.config.limits;
    let idle = shared.config.idle_timeout;
    session.buf.reserve(16 * 1024);
    let mut out = BytesMut::with_capacity(16 * 1024);
    let mut idle_since = Instant::now();
    let mut stopped = false;
    // Reused: one allocation for the connection, not one per read.
    let mut frames = Vec::new();
    let mut seat = TurnSeat::default();
    loop {
        out.clear();
        if out.capacity() > KEEP_OUT_BYTES {
            // A burst of large replies grew it: let that go, not keep the
            // peak for the connection's life.
            out = BytesMut::with_capacity(16 * 1024);
        }
        // A subscriber or a replica only listens: Redis's `timeout` spares
        // both.
        let limit = if session.info.subscribed || session.replica {
            None
        } else {
            idle
        };
        backlog.set_subscribed(session.info.subscribed);
        // Pushes (and the stop) are looked at on every turn, with a load
        // while there are none, so the wait below can try the socket
        // first: woken by a request (nearly every wake-up), it polls
        // nothing else.
        let push = if pushes.is_empty() {
            None
        } else {
            pushes.try_recv().ok()
        };
        // A push (waiting already, or woken by one) is written out, and the
        // turn starts over; else the request bytes read.
        let woke = if let Some(push) = push {
            Err(push)
        } else if std::mem::take(&mut session.unread) {
            Ok(Some(session.buf.len()))
        } else {
            tokio::select! {
                biased;
                read = read_some(&mut session.reader, &mut session.buf, limit, idle_since) => Ok(read),
                Some(push) = pushes.recv() => Err(push),
            }
        };
        let read = match woke {
            Ok(read) => read,
            Err(PushOut::Stop) => {
                stopped = true;
                break;
            }
            Err(push) => {
                let weight = push.weight();
                let Some(()) = session.push_out(push, &mut out) else {
                    break;
                };
                if !write_owed(&mut writer, &out, &backlog).await {
                    break;
                }
                backlog.written(weight);
                continue;
            }
        };
        match read {
            Some(n) if n > 0 => {}
            _ => break,
        }
        let crowded = shared.turns.read(&mut seat);
        let mut consumed = 0;
        let mut error = None;
        frames.clear();
        loop {
            match parse_request(&session.buf[consumed..], &limits) {
                Ok(RequestParse::Incomplete) => break,
                Ok(RequestParse::Skip { len }) => consumed += len,
                Ok(RequestParse::Command(frame)) => {
                    let len = frame.len;
                    frames.push((consumed, frame));
                    consumed += len;
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let chunk = session.buf.split_to(consumed).freeze();
        if !frames.is_empty() {
            idle_since = Instant::now();
        }
        session
            .handle_batch(&chunk, &frames, &mut out, &mut writer)
            .await;
        if let Some(e) = &error {
            out.extend_from_slice(format!("-ERR {e}\r\n").as_bytes());
            session.closing = true;
        }
        let written = if session.info.subscribed {
            write_owed(&mut writer, &out, &backlog).await
        } else if out.is_empty() {
            true
        } else {
            write_turns::wait(crowded).await;
            writer.write_all(&out).await.is_ok()
        };
        if !written {
            break;
        }
        if session.hung {
            // Keep the socket open, answer nothing, until the client gives
            // up (its timeout) or the server stops.
            session.buf.clear();
            loop {
                tokio::select! {
                    // Nothing else is written: pushes are dropped.
                    Some(push) = pushes.recv() => if matches!(push, PushOut::Stop) {
                        break;
                    },
                    read = session.reader.read_buf(&mut session.buf) => match read {
                        Ok(n) if n > 0 => session.buf.clear(),
                        _ => break,
                    },
                }
            }
            break;
        }
        if session.closing {
            break;
        }
    }
    shared.registry.unregister(live);
    // An open transaction cannot be carried (record would find its queued
    // commands gone): its client is closed instead.
    let hand_over = stopped
        && !session.replica
        && !session.selected.in_multi()
        && shared
            .handing_over
            .load(std::sync::atomic::Ordering::Acquire);
    if hand_over {
        let state = session.carried_state();
        shared.unregister(live);
        return match tls::reunite(session.reader, writer) {
            Some(stream) => SessionEnd::HandedOver(Carry {
                stream,
                buffered: session.buf,
                state: Some(state),
            }),
            None => SessionEnd::Closed,
        };
    }
    let _ = writer.shutdown().await;
    shared.unregister(live);
    SessionEnd::Closed
}

/// Writes `out` to a connection pushes may be queued for; false when the
/// write failed or the pubsub limit closed the connection meanwhile (a
/// subscriber that does not read is stuck here, while its backlog grows).
async fn write_owed(
    writer: &mut tls::ClientWriter,
    out: &[u8],
    backlog: &backlog::Backlog,
) -> bool {
    if backlog.closed().is_cancelled() {
        return false;
    }
    if out.is_empty() {
        return true;
    }
    tokio::select! {
        biased;
        written = writer.write_all(out) => written.is_ok(),
        _ = backlog.closed().cancelled() => false,
    }
}

/// Reads more bytes; `None` on EOF, error or idle timeout.
async fn read_some(
    reader: &mut ClientReader,
    buf: &mut BytesMut,
    idle: Option<Duration>,
    idle_since: Instant,
) -> Option<usize> {
    buf.reserve(16 * 1024);
    match idle {
        None => reader.read_buf(buf).await.ok(),
        Some(limit) => {
            let left = limit.saturating_sub(idle_since.elapsed());
            tokio::time::timeout(left, reader.read_buf(buf))
                .await
                .ok()?
                .ok()
        }
    }
}
