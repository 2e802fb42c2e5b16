//! A miss answered by the real Redis (`--on-miss passthrough`): its
//! connection opened on first use, the command raced against the client
//! leaving (a command the upstream holds, `BLPOP q 0`, must not outlive
//! its client), and, when replay extends the cassette, the events it adds.
//! Apart from `miss` because it is the one part of a replayed connection
//! that waits on another server; `replay::passthrough` is that upstream
//! connection, this is the session's use of it.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::{encode_for, Session};
use crate::cassette::{Event, Interaction, PushEvent};
use crate::command::Class;
use crate::replay::passthrough::{self, Passthrough};
use crate::resp::{NullShape, Value};

impl Session {
    pub(super) async fn pass_through(
        &mut self,
        raw: &Bytes,
        args: Vec<Bytes>,
        upstream: &crate::upstream::Upstream,
        out: &mut BytesMut,
    ) {
        let error = |text: String| Value::Error(Bytes::from(format!("ERR resplay: {text}")));
        if self.passthrough.is_none() {
            match Passthrough::connect(upstream).await {
                Ok(p) => self.passthrough = Some(p),
                Err(e) => {
                    let (from, why) = (
                        self.miss_from(),
                        format!("the upstream did not answer: {e}"),
                    );
                    self.matcher().note_miss(&args, from, Err(&why));
                    encode_for(
                        &error(e.to_string()),
                        self.info.protocol,
                        NullShape::Bulk,
                        out,
                    );
                    return;
                }
            }
        }
        let Some(pass) = self.passthrough.as_mut() else {
            return;
        };
        let at = Instant::now();
        let limits = self.shared.config.upstream_limits;
        let db = self.selected.db();
        let forwarded = tokio::select! {
            forwarded = pass.forward(db, raw, args.clone(), &limits) => forwarded,
            () = passthrough::client_gone(&mut self.reader, &mut self.buf, &mut self.unread) => {
                // The upstream may hold the command for good (`BLPOP q 0`):
                // Redis frees a client that leaves, and dropping this
                // connection makes the upstream free it too, before the
                // next job pushed can go to it.
                self.passthrough = None;
                self.closing = true;
                self.shared
                    .passed_through(self.live, db, args, at, Vec::new(), Vec::new())
                    .await;
                return;
            }
        };
        match forwarded {
            Ok(forwarded) => {
                out.extend_from_slice(&forwarded.bytes);
                self.follow_db(&args, &forwarded.replies);
                self.shared
                    .passed_through(
                        self.live,
                        db,
                        args.clone(),
                        at,
                        forwarded.replies.clone(),
                        forwarded.pushes,
                    )
                    .await;
                if forwarded.replies.first().is_some_and(|v| !v.is_error()) {
                    let shared = self.shared.clone();
                    let mut matcher = shared.matcher();
                    self.after_success(&mut matcher, &args, Class::of(&args));
                }
            }
            Err(e) => {
                self.passthrough = None;
                let (from, why) = (
                    self.miss_from(),
                    format!("the upstream did not answer: {e}"),
                );
                self.matcher().note_miss(&args, from, Err(&why));
                let text = format!("upstream {} failed: {e}", upstream.addr);
                encode_for(&error(text), self.info.protocol, NullShape::Bulk, out);
            }
        }
    }
}

/// Builds the cassette events for a command answered by the upstream, when
/// replay extends the cassette (`run --mode new-episodes`); `cmd`'s
/// passwords are already redacted.
#[allow(clippy::too_many_arguments)]
pub(crate) fn passthrough_events(
    conn: u64,
    db: u32,
    seq: u64,
    at_ms: u64,
    took_us: u64,
    cmd: Vec<Bytes>,
    replies: Vec<Value>,
    pushes: Vec<Value>,
) -> Vec<Event> {
    let mut events = vec![Event::Interaction(Interaction {
        conn,
        db,
        seq,
        at_ms,
        took_us,
        cmd,
        replies,
    })];
    events.extend(
        pushes
            .into_iter()
            .map(|push| Event::Push(PushEvent { conn, at_ms, push })),
    );
    events
}
