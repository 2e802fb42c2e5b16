//! Paired interactions and pushes turned into cassette lines. Apart from
//! the relay because it is what recording adds to a byte relay: which
//! calls are kept (`--ignore-trivial-calls`, failed handshakes, `--exclude`), passwords
//! and `--redact` rules applied, and the lines written straight from the
//! frames' bytes, decoding them only where a rule has to look inside.

use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::Session;
use crate::cassette::wire_lines::{write_interaction_line, write_push_line, InteractionHead};
use crate::cassette::Event;
use crate::command::{self, Class};
use crate::pairing::{is_error_frame, Paired, Pending};
use crate::record::RecordShared;
use crate::resp::{parse_reply, Limits, Value};
use crate::tail::{Mode, Outcome, Tail};

/// Writes finished interactions and pushes as cassette lines, straight from
/// their bytes, and hands them to the writer as one message; `now` is when
/// their last reply byte was read.
pub(super) async fn emit(session: &Session, paired: &mut Vec<Paired>, now: Instant) {
    if paired.is_empty() {
        return;
    }
    let shared = &session.shared;
    if let Some(journal) = &shared.config.journal {
        note_calls(journal, session.conn, paired);
    }
    if let Some(tail) = crate::tail::watching(&shared.config.tail) {
        show_on_tail(tail, session, paired);
    }
    let Some(writer) = &shared.writer else {
        // Passthrough: relayed, not recorded.
        paired.clear();
        return;
    };
    // The session's line buffer, taken for the writing: it keeps its room
    // from one read to the next (no allocation per read).
    let mut text = std::mem::take(&mut *session.lines());
    let mut events = 0;
    let mut interactions = 0;
    let mut times = Times {
        session,
        now,
        last: None,
    };
    // Read in place and cleared after: moving each out of the vector (a
    // couple of hundred bytes) cost 118 instructions per request (callgrind,
    // record at P16: 3698 -> 3580).
    for item in paired.iter() {
        let written = match item {
            Paired::Interaction {
                request,
                db,
                replies,
            } => {
                // A handshake call that failed is kept: replay could not
                // make up `-BUSY`, `-LOADING` or `-NOAUTH` from nothing.
                if request.excluded || left_out(shared, request.class, replies) {
                    continue;
                }
                let cmd = as_recorded(shared, request);
                let (at_ms, took_us) = times.of(request.at);
                let head = InteractionHead {
                    conn: session.conn,
                    db: *db,
                    seq: request.seq,
                    at_ms,
                    took_us,
                };
                let written = match &shared.config.redact {
                    Some(r) if r.applies(&cmd) => {
                        write_redacted(&mut text, r, head, cmd.into_owned(), replies, shared)
                    }
                    _ => write_interaction_line(&mut text, head, &cmd, replies),
                };
                interactions += u64::from(written);
                written
            }
            Paired::Push(frame) => match &shared.config.redact {
                Some(r) if !r.is_empty() => {
                    write_redacted_push(&mut text, r, session.conn, session.at_ms(now), frame)
                }
                _ => write_push_line(&mut text, session.conn, session.at_ms(now), frame),
            },
            // Injected faults never reach the cassette.
            Paired::Local(_) => continue,
        };
        events += u64::from(written);
    }
    paired.clear();
    shared
        .interactions
        .fetch_add(interactions, Ordering::Relaxed);
    writer.send_lines(&text, events).await;
    text.clear();
    if text.capacity() <= KEEP_LINES_BYTES {
        *session.lines() = text;
    }
}

/// An interaction's `at_ms` and `took_us`, worked out once per read: every
/// request of a pipeline was read at the same instant, and two `Instant`
/// subtractions per interaction cost about 110 instructions of record's
/// 3,500 per request at P16 (callgrind).
struct Times<'s> {
    session: &'s Session,
    /// When the last reply byte was read.
    now: Instant,
    /// The last request time asked about, and its answer.
    last: Option<(Instant, (u64, u64))>,
}

impl Times<'_> {
    fn of(&mut self, at: Instant) -> (u64, u64) {
        match self.last {
            Some((last, times)) if last == at => times,
            _ => {
                let times = (
                    self.session.at_ms(at),
                    self.now.saturating_duration_since(at).as_micros() as u64,
                );
                self.last = Some((at, times));
                times
            }
        }
    }
}

/// A request's arguments as the cassette keeps them: a password keyed
/// into its placeholder; borrowed when there is none (nearly always).
/// Inlined: `emit` asks it per interaction, and the call cost 27
/// instructions per request at P16 (callgrind).
#[inline]
fn as_recorded<'r>(shared: &RecordShared, request: &'r Pending) -> Cow<'r, [Bytes]> {
    if !request.class.has_secret() {
        return Cow::Borrowed(&request.args);
    }
    let mut cmd = request.args.to_vec();
    command::redact_with(&mut cmd, shared.secret_key.as_ref());
    Cow::Owned(cmd)
}

/// Notes every call relayed in the journal, whatever the cassette keeps
/// of it: the journal is what the client sent and got.
fn note_calls(journal: &crate::journal::Journal, conn: u64, paired: &[Paired]) {
    let Some(mut scribe) = journal.scribe(conn) else {
        return;
    };
    for item in paired {
        if let Paired::Interaction {
            request,
            db,
            replies,
        } = item
        {
            scribe.note_args(*db, &request.args, replies);
        }
    }
    scribe.publish();
}

/// Whether a recording leaves the call out (`--ignore-trivial-calls`).
fn left_out(shared: &RecordShared, class: Class, replies: &[Bytes]) -> bool {
    shared.config.ignore_trivial_calls
        && class.is_trivial()
        && !replies.first().is_some_and(is_error_frame)
        && !hello_says_more(class, replies)
}

/// Shows the interactions on the live tail: what is recorded (passwords
/// and `--redact` data as the cassette has them), or, relaying only, every
/// call passed through. Only called while someone watches.
fn show_on_tail(tail: &Tail, session: &Session, paired: &[Paired]) {
    use crate::tail::{show_frames, show_values, TailEvent};
    let shared = &session.shared;
    let (mode, outcome) = match shared.writer {
        Some(_) => (Mode::Record, Outcome::Recorded),
        None => (Mode::Passthrough, Outcome::Passthrough),
    };
    for item in paired {
        let Paired::Interaction {
            request,
            db,
            replies,
        } = item
        else {
            continue;
        };
        if shared.writer.is_some() && (request.excluded || left_out(shared, request.class, replies))
        {
            continue;
        }
        let mut cmd = as_recorded(shared, request).into_owned();
        let reply = match &shared.config.redact {
            Some(r) if r.applies(&cmd) => {
                let limits = &shared.config.upstream_limits;
                let mut values: Vec<Value> = replies
                    .iter()
                    .filter_map(|f| parse_reply(f, limits).ok().flatten().map(|(v, _)| v))
                    .collect();
                r.interaction(&mut cmd, &mut values, false);
                show_values(&values)
            }
            _ => show_frames(replies),
        };
        tail.send(TailEvent::new(
            mode,
            outcome,
            session.conn,
            *db,
            &cmd,
            reply,
        ));
    }
}

/// A session's line buffer that grew past this (a burst of large replies)
/// is let go, so an idle connection does not keep its peak size.
const KEEP_LINES_BYTES: usize = 256 * 1024;

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

/// True for a `HELLO` reply with a field beyond Redis's own seven (Valkey's
/// `availability_zone` once one is configured): replay could not make it
/// up, so the call is kept even when trivial calls are left out.
fn hello_says_more(class: Class, replies: &[Bytes]) -> bool {
    if class.name() != "HELLO" {
        return false;
    }
    let Some(Ok(Some((reply, _)))) = replies
        .first()
        .map(|frame| parse_reply(frame, &Limits::upstream()))
    else {
        return false;
    };
    let keys: Vec<&Value> = match &reply {
        Value::Map(pairs) => pairs.iter().map(|(k, _)| k).collect(),
        // RESP2: the map as a flat array of keys and values.
        Value::Array(items) => items.iter().step_by(2).collect(),
        _ => return false,
    };
    keys.iter().any(|k| {
        !k.as_bytes()
            .is_some_and(|k| command::HELLO_FIELDS.iter().any(|f| f.as_bytes() == k))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(frame: &'static [u8]) -> bool {
        let class = Class::of(&command::args_of(&["HELLO", "3"]));
        hello_says_more(class, &[Bytes::from_static(frame)])
    }

    #[test]
    fn hello_replies_with_fields_replay_cannot_make_up_are_kept() {
        let standard = b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n8.2.3\r\n\
$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:5\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n\
$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
        assert!(!hello(standard));
        let zone = b"*4\r\n$6\r\nserver\r\n$6\r\nvalkey\r\n\
$17\r\navailability_zone\r\n$6\r\nmyzone\r\n";
        assert!(hello(zone));
        let other = Class::of(&command::args_of(&["PING"]));
        assert!(!hello_says_more(other, &[Bytes::from_static(zone)]));
    }
}
