//! Recording `SYNC`/`PSYNC` and the replication stream that follows them.
//!
//! A client that sends `SYNC` (Redis's own test suite does, inline, to
//! watch what a master propagates; so does every real replica, as `PSYNC`)
//! gets an answer no other command gets:
//!
//! - bare `\n` keepalives while the master prepares the RDB;
//! - for `PSYNC`, a `+FULLRESYNC <replid> <offset>` line first (or
//!   `+CONTINUE`, and then no RDB at all);
//! - the RDB as a bulk string with no CRLF after it, or the diskless
//!   `$EOF:<mark>` form ([`crate::resp::rdb`]);
//! - then, for as long as the connection lives, the replication stream:
//!   the commands the master propagates (`SELECT`, writes, `PING`s), as
//!   RESP2 arrays, answering nothing.
//!
//! From then on Redis never answers the connection again (`REPLCONF ACK`
//! gets no reply, nor does anything else a replica sends). [`Replication`]
//! follows that per connection: it measures what the pairing's reply
//! scanner cannot, records the `SYNC`/`PSYNC` interaction with its replies
//! (the RDB stored as one bulk string), every later server frame as a push
//! and every later request as an interaction with no reply.
//!
//! A replicated command reaches the recorder at the same moment as the
//! reply to the command that caused it, on another connection; Redis even
//! writes to replicas first. [`CausalGate`] holds the stream's push lines
//! until the interactions requested before they arrived are written, so
//! the cassette lists the cause first and replay delivers the push after it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::Notify;

use crate::command;
use crate::pairing::{Paired, Pairing, Pending};
use crate::resp::{rdb, reply_len, Limits, ProtocolError};

/// Where one connection stands with replication.
#[derive(Debug, Default)]
pub(crate) struct Replication {
    /// Replies already read for the `SYNC`/`PSYNC` waiting at the head of
    /// the queue (`+FULLRESYNC …`; the RDB comes next).
    replies: Vec<Bytes>,
    /// The server accepted `SYNC`/`PSYNC`: the connection is a replica and
    /// everything the server sends is the replication stream.
    streaming: bool,
    /// How far a diskless transfer was searched for its end mark
    /// ([`rdb::transfer_len`]).
    searched: usize,
}

impl Replication {
    /// True once the connection carries the replication stream.
    pub(crate) fn is_streaming(&self) -> bool {
        self.streaming
    }

    /// Takes the next piece of server output off the front of `buf`,
    /// pairs it, and returns its exact bytes for the client; `Ok(None)`
    /// while it is not all buffered. A piece is a reply frame, a run of
    /// keepalive newlines (forwarded, not recorded), or a whole RDB
    /// transfer. Frames are taken one at a time because each may change
    /// how the next one reads (the reply that completes an earlier request
    /// puts `SYNC` at the head of the queue).
    pub(crate) fn next_piece(
        &mut self,
        pairing: &mut Pairing,
        buf: &mut BytesMut,
        limits: &Limits,
        out: &mut Vec<Paired>,
    ) -> Result<Option<Bytes>, ProtocolError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        if self.streaming {
            // Redis sends newlines only before the RDB; a replica reads any
            // later one as an empty command, so it is harmless to pass on.
            if first == b'\n' {
                return Ok(Some(split_newlines(buf)));
            }
            let Some(frame) = split_frame(buf, limits)? else {
                return Ok(None);
            };
            out.push(Paired::Push(frame.clone()));
            return Ok(Some(frame));
        }
        pairing.complete_silent(out);
        let awaiting_sync = pairing
            .front()
            .is_some_and(|p| !p.silent && command::starts_replication(&p.args));
        if !awaiting_sync {
            let Some(frame) = split_frame(buf, limits)? else {
                return Ok(None);
            };
            pairing.on_frame(frame.clone(), out);
            return Ok(Some(frame));
        }
        match first {
            b'\n' => Ok(Some(split_newlines(buf))),
            b'$' => {
                let Some(transfer) = rdb::transfer_len(buf, limits, &mut self.searched)? else {
                    return Ok(None);
                };
                let wire = buf.split_to(transfer.len).freeze();
                let stored = bulk_frame(&wire[transfer.stored]);
                self.finish(pairing, stored, true, out);
                Ok(Some(wire))
            }
            _ => {
                let Some(frame) = split_frame(buf, limits)? else {
                    return Ok(None);
                };
                let line = &frame[1..];
                if first == b'+' && line.starts_with(b"FULLRESYNC") && self.replies.is_empty() {
                    self.replies.push(frame.clone());
                } else {
                    // `+CONTINUE`: a partial resync, the stream follows at
                    // once. Anything else (an error) leaves the connection
                    // as it was.
                    let streaming = first == b'+' && line.starts_with(b"CONTINUE");
                    self.finish(pairing, frame.clone(), streaming, out);
                }
                Ok(Some(frame))
            }
        }
    }

    /// Completes the `SYNC`/`PSYNC` at the head of the queue with the
    /// replies read so far and `last`.
    fn finish(
        &mut self,
        pairing: &mut Pairing,
        last: Bytes,
        streaming: bool,
        out: &mut Vec<Paired>,
    ) {
        let mut replies = std::mem::take(&mut self.replies);
        replies.push(last);
        let db = pairing.db();
        if let Some(request) = pairing.take_front() {
            out.push(Paired::Interaction {
                request,
                db,
                replies: replies.into(),
            });
        }
        if streaming {
            self.streaming = true;
            // Requests pipelined behind SYNC will never be answered either.
            pairing.silence_all();
            pairing.complete_silent(out);
        }
    }
}

/// One complete reply frame off the front of `buf`.
fn split_frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Bytes>, ProtocolError> {
    Ok(reply_len(buf, limits)?.map(|len| buf.split_to(len).freeze()))
}

/// The run of `\n` keepalives at the front of `buf`.
fn split_newlines(buf: &mut BytesMut) -> Bytes {
    let n = buf.iter().take_while(|&&b| b == b'\n').count();
    buf.split_to(n).freeze()
}

/// `stored` as an ordinary bulk frame, which is how the cassette writer
/// takes a reply (the transfer itself has no CRLF to end it).
fn bulk_frame(stored: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(stored.len() + 24);
    frame.put_u8(b'$');
    frame.put_slice(itoa::Buffer::new().format(stored.len()).as_bytes());
    frame.put_slice(b"\r\n");
    frame.put_slice(stored);
    frame.put_slice(b"\r\n");
    frame.freeze()
}

/// A connection's marker when no request of it may be waiting on something
/// the replication stream shows.
pub(crate) const IDLE: u64 = u64::MAX;

/// What a connection's marker says: when its oldest waiting request
/// arrived (ns since `start`), or [`IDLE`]. Blocking commands and
/// `SYNC`/`PSYNC` count as idle: they may wait for minutes, and holding
/// every replicated command until then would stall the stream's recording
/// for nothing (what unblocks them is another connection's command).
pub(crate) fn waiting_since(front: Option<&Pending>, start: Instant) -> u64 {
    match front {
        Some(p) if !p.silent && !waits_long(p) => nanos_since(start, p.at),
        _ => IDLE,
    }
}

/// `at` in ns since `start`, as markers hold it.
pub(crate) fn nanos_since(start: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start).as_nanos()).unwrap_or(IDLE - 1)
}

/// Commands whose reply may come much later than the server read them:
/// blocking ones, and the start of a replication stream.
/// (Asks the class the request was read with, not the table again: this
/// runs several times per request.)
fn waits_long(p: &Pending) -> bool {
    p.class.is_blocking(&p.args) || p.class.starts_replication()
}

/// How long a replication push waits for its possible causes at most: the
/// cause is a reply Redis wrote in the same breath, so this is only reached
/// when a slow command unrelated to it is in flight.
pub(crate) const GATE_LIMIT: Duration = Duration::from_millis(200);

/// Lets a replication stream's pushes be written after the interactions,
/// on any connection, that were requested before the pushes arrived.
///
/// Every recorded connection publishes one marker ([`waiting_since`]);
/// sessions update it with one atomic swap per batch, and ring
/// [`Notify`] only while a stream waits.
#[derive(Debug, Default)]
pub(crate) struct CausalGate {
    markers: Mutex<HashMap<u64, Arc<AtomicU64>>>,
    /// Streams waiting now: sessions only ring when this is not 0.
    waiting: AtomicUsize,
    progress: Notify,
}

impl CausalGate {
    fn markers(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<AtomicU64>>> {
        // A poisoned lock means a bug already panicked elsewhere; the map
        // itself is still sound.
        self.markers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection's marker, idle.
    pub(crate) fn register(&self, conn: u64) -> Arc<AtomicU64> {
        let marker = Arc::new(AtomicU64::new(IDLE));
        self.markers().insert(conn, marker.clone());
        marker
    }

    /// The connection is gone: nothing of it is waited for any more.
    pub(crate) fn unregister(&self, conn: u64) {
        self.markers().remove(&conn);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.progress.notify_waiters();
        }
    }

    /// Publishes a connection's marker; call it once what completed is
    /// handed to the writer, so a stream that sees the marker move finds
    /// the interaction ahead of its push.
    pub(crate) fn update(&self, marker: &AtomicU64, since: u64) {
        let old = marker.swap(since, Ordering::SeqCst);
        if since > old && self.waiting.load(Ordering::SeqCst) > 0 {
            self.progress.notify_waiters();
        }
    }

    /// True while a connection other than `own` waits for a request that
    /// arrived before `before`.
    fn any_before(&self, own: u64, before: u64) -> bool {
        self.markers()
            .iter()
            .any(|(&conn, m)| conn != own && m.load(Ordering::SeqCst) < before)
    }

    /// Waits (at most `limit`) until no other connection waits for a
    /// request that arrived before `before`.
    pub(crate) async fn wait_for_earlier(&self, own: u64, before: u64, limit: Duration) {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Made before the check: a wake-up in between is not lost.
            let notified = self.progress.notified();
            if !self.any_before(own, before) {
                return;
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::debug!("connection {own}: replicated command recorded without waiting for its cause");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{to_bytes, Value};

    fn req(seq: u64, words: &[&str]) -> Pending {
        Pending::new(seq, command::args_of(words), Instant::now(), false)
    }

    /// What [`feed`] saw: the forwarded bytes, the interactions as (seq,
    /// replies), the pushes.
    type Fed = (Vec<u8>, Vec<(u64, Vec<Bytes>)>, Vec<Bytes>);

    /// Feeds `wire` in `step`-byte reads.
    fn feed(r: &mut Replication, p: &mut Pairing, wire: &[u8], step: usize) -> Fed {
        let mut buf = BytesMut::new();
        let (mut forwarded, mut done, mut pushes) = (Vec::new(), Vec::new(), Vec::new());
        for chunk in wire.chunks(step) {
            buf.extend_from_slice(chunk);
            let mut out = Vec::new();
            while let Some(piece) = r
                .next_piece(p, &mut buf, &Limits::default(), &mut out)
                .unwrap()
            {
                forwarded.extend_from_slice(&piece);
            }
            for o in out {
                match o {
                    Paired::Interaction {
                        request, replies, ..
                    } => done.push((request.seq, replies.into_vec())),
                    Paired::Push(f) => pushes.push(f),
                    Paired::Local(_) => {}
                }
            }
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        (forwarded, done, pushes)
    }

    fn stream_frame(words: &[&str]) -> Vec<u8> {
        to_bytes(&Value::Array(
            words.iter().map(|w| Value::bulk(w.to_string())).collect(),
        ))
        .to_vec()
    }

    #[test]
    fn sync_with_keepalives_then_stream() {
        for step in [1, 3, 1000] {
            let mut r = Replication::default();
            let mut p = Pairing::default();
            p.push_request(req(0, &["REPLCONF", "listening-port", "1"]));
            p.push_request(req(1, &["SYNC"]));
            p.push_request(req(2, &["REPLCONF", "ACK", "0"]));
            let mut wire = b"+OK\r\n\n\n$5\r\nREDIS".to_vec();
            wire.extend(stream_frame(&["SELECT", "9"]));
            wire.extend(stream_frame(&["set", "foo", "bar"]));
            let (forwarded, done, pushes) = feed(&mut r, &mut p, &wire, step);
            assert_eq!(forwarded, wire, "relayed byte for byte");
            assert_eq!(done.len(), 3);
            assert_eq!(done[1].0, 1);
            assert_eq!(&done[1].1[..], [Bytes::from_static(b"$5\r\nREDIS\r\n")]);
            assert!(done[2].1.is_empty(), "pipelined after SYNC: no reply");
            assert_eq!(pushes.len(), 2);
            assert!(r.is_streaming());
        }
    }

    #[test]
    fn psync_fullresync_then_diskless_rdb() {
        let mut r = Replication::default();
        let mut p = Pairing::default();
        p.push_request(req(0, &["PSYNC", "?", "-1"]));
        let mark = "m".repeat(rdb::EOF_MARK_LEN);
        let mut wire =
            format!("+FULLRESYNC abc 0\r\n\n$EOF:{mark}\r\nREDIS0009{mark}").into_bytes();
        wire.extend(stream_frame(&["PING"]));
        let (forwarded, done, pushes) = feed(&mut r, &mut p, &wire, 7);
        assert_eq!(forwarded, wire);
        let replies = &done[0].1;
        assert_eq!(replies[0], Bytes::from_static(b"+FULLRESYNC abc 0\r\n"));
        let stored = format!("EOF:{mark}\r\nREDIS0009{mark}");
        assert_eq!(
            replies[1],
            format!("${}\r\n{stored}\r\n", stored.len()).as_bytes()
        );
        assert_eq!(pushes.len(), 1);
    }

    #[test]
    fn refused_sync_leaves_the_connection_ordinary() {
        let mut r = Replication::default();
        let mut p = Pairing::default();
        p.push_request(req(0, &["SYNC"]));
        p.push_request(req(1, &["GET", "k"]));
        let wire = b"-ERR SYNC and PSYNC are invalid with pending output\r\n$1\r\nv\r\n";
        let (_, done, pushes) = feed(&mut r, &mut p, wire, 1000);
        assert_eq!(done.iter().map(|d| d.1.len()).collect::<Vec<_>>(), [1, 1]);
        assert!(pushes.is_empty() && !r.is_streaming());
    }

    #[test]
    fn psync_continue_streams_at_once() {
        let mut r = Replication::default();
        let mut p = Pairing::default();
        p.push_request(req(0, &["PSYNC", "abc", "10"]));
        let mut wire = b"+CONTINUE\r\n".to_vec();
        wire.extend(stream_frame(&["PING"]));
        let (_, done, pushes) = feed(&mut r, &mut p, &wire, 1000);
        assert_eq!((done.len(), pushes.len()), (1, 1));
    }

    #[tokio::test]
    async fn gate_waits_for_earlier_requests_only() {
        let gate = Arc::new(CausalGate::default());
        let own = gate.register(1);
        let other = gate.register(2);
        gate.update(&own, 5);
        gate.update(&other, 10);
        // A request that arrived after the push is not waited for.
        gate.wait_for_earlier(1, 10, Duration::from_secs(5)).await;
        // One that arrived before is, until its connection moves on.
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.wait_for_earlier(1, 20, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        gate.update(&other, IDLE);
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(gate.waiting.load(Ordering::SeqCst), 0);
    }
}
