//! Commands answered from the cassette: a pipeline looked up under one
//! hold of the matcher's lock, recorded replies written in the
//! connection's protocol (wall-clock arguments shifted, an RDB transfer as
//! one), or left for later when they must wait (recorded timing, a miss, a
//! fault). Apart from the connection loop in `session`, which is the
//! socket side of the same commands (reads, parsing, writes, the idle
//! timeout, the handover): this is the matching side.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;
use tokio::io::AsyncWriteExt;

use super::{encode_for, Session};
use crate::command::{self, Class};
use crate::fault::FaultAction;
use crate::replay::clock;
use crate::replay::matcher::{Closest, Delivery, Matched, Matcher};
use crate::replay::Timing;
use crate::resp::{rdb, RequestFrame, Value};
use crate::tail::{self, Mode};
use crate::tls::ClientWriter;

/// What the matcher decided for one command, when more than an immediate
/// reply is needed.
enum Later {
    /// Nothing recorded matches: synthesize, pass through, or miss.
    Miss(Option<Closest>),
    /// A stub's reply, to send after its delay.
    Stubbed { bytes: BytesMut, wait: Duration },
    /// An injected fault (`None`: the `EXEC` of a transaction one doomed).
    Fault(Option<FaultAction>),
    /// A recorded reply to send after its recorded duration.
    Delayed {
        bytes: BytesMut,
        wait: Duration,
        ok: bool,
        recording: usize,
        deliveries: Vec<(Delivery, Value)>,
        closes: Vec<u64>,
    },
}

impl Session {
    /// Answers a batch of pipelined commands into `out`. Recorded replies
    /// are served under one hold of the matcher's lock for as many commands
    /// in a row as possible (one lock per pipeline, not per command); a
    /// command that needs to wait (a miss, recorded timing) is finished
    /// outside it.
    pub(super) async fn handle_batch(
        &mut self,
        chunk: &Bytes,
        frames: &[(usize, RequestFrame)],
        out: &mut BytesMut,
        writer: &mut ClientWriter,
    ) {
        let shared = self.shared.clone();
        // Replies owed past this go out before the next command is
        // answered: a pipeline of small requests with large replies would
        // otherwise pile up in `out` (a read of 16 KiB of `GET`s of a 1 MB
        // value is 700 MB). The write waits for the client, so a client
        // that does not read stops being read.
        let flush_at = shared.config.serve.output.client.max(1);
        let mut next = 0;
        while next < frames.len() && !self.closing && !self.hung {
            let mut later = None;
            {
                let mut matcher = shared.matcher();
                while next < frames.len() && !self.closing && out.len() < flush_at {
                    let (start, frame) = &frames[next];
                    next += 1;
                    let args: SmallVec<[Bytes; 4]> = frame.args_at(chunk, *start);
                    // Only what is left for later keeps its own copy.
                    let raw = || chunk.slice(*start..*start + frame.len);
                    // For the journal: where it ran, where its reply starts.
                    let (db, before) = (self.selected.db(), out.len());
                    self.silent = self.reply_modes.is_silent(&args);
                    if self.doomed && !self.selected.in_multi() {
                        self.doomed = false; // DISCARD or RESET ended it
                    }
                    // Before matching: a faulted command consumes no
                    // recording unless it runs (latency, partial).
                    let fault = shared.config.faults.check(&args);
                    if fault.is_some() || (self.doomed && is_exec(&args)) {
                        // Answered by the fault, never matched: an `EXEC`
                        // it aborts still ends the transaction.
                        matcher.follow(self.live, &args, Class::of(&args), None);
                        later = Some((raw(), args.into_vec(), Later::Fault(fault), db, before));
                        break;
                    }
                    if let Some(l) = self.answer(&mut matcher, &args, out) {
                        later = Some((raw(), args.into_vec(), l, db, before));
                        break;
                    }
                    let request = &chunk[*start..*start + frame.len];
                    self.note_call(db, request, &out[before..]);
                }
            }
            if let Some((raw, args, l, db, before)) = later {
                // A latency fault writes the replies before it and starts
                // `out` afresh: the calls they answered are published first.
                let flushes = matches!(l, Later::Fault(Some(FaultAction::Latency(_))));
                if flushes {
                    self.publish_calls();
                }
                match l {
                    Later::Fault(fault) => self.fault(raw.clone(), args, fault, out, writer).await,
                    l => self.finish(raw.clone(), args, l, out).await,
                }
                let from = if flushes { 0 } else { before.min(out.len()) };
                self.note_call(db, &raw, &out[from..]);
            }
            if out.len() >= flush_at && next < frames.len() {
                // As before a latency fault's wait: the calls answered so
                // far are published before their replies reach the client.
                self.publish_calls();
                if writer.write_all(out).await.is_err() {
                    self.closing = true;
                }
                out.clear();
            }
        }
        // Before the replies go out: a client that has its reply finds
        // its call in the journal.
        self.publish_calls();
    }

    /// Notes a call in the journal, when there is one.
    fn note_call(&mut self, db: u32, request: &[u8], reply: &[u8]) {
        if let Some(scribe) = &mut self.scribe {
            scribe.note(db, request, reply);
        }
    }

    fn publish_calls(&mut self) {
        if let Some(scribe) = &mut self.scribe {
            scribe.publish();
        }
    }

    /// Answers one command the normal way, lock and all.
    pub(super) async fn answer_now(&mut self, raw: Bytes, args: Vec<Bytes>, out: &mut BytesMut) {
        let shared = self.shared.clone();
        let later = {
            let mut matcher = shared.matcher();
            self.answer(&mut matcher, &args, out)
        };
        if let Some(l) = later {
            self.finish(raw, args, l, out).await;
        }
    }

    /// Looks one command up; a recorded reply without recorded timing is
    /// written to `out` at once (`None`), anything else is left for later.
    fn answer(
        &mut self,
        matcher: &mut Matcher,
        args: &[Bytes],
        out: &mut BytesMut,
    ) -> Option<Later> {
        let class = Class::of(args);
        // Hand-written stubs come first (none: one load).
        if let Some(stubbed) = self.shared.config.stubs.check(args, self.selected.db()) {
            return self.stubbed(matcher, args, class, stubbed, out);
        }
        // Recordings hold redacted passwords (keyed placeholders under the
        // cassette's salt); match on the same form.
        let redacted;
        let rules = self.shared.config.redact.as_ref();
        let key: &[Bytes] = if class.has_secret() || rules.is_some_and(|r| r.applies(args)) {
            let mut copy = args.to_vec();
            command::redact_with(&mut copy, self.shared.secret_key.as_ref());
            if let Some(r) = rules {
                r.command(&mut copy);
            }
            redacted = copy;
            &redacted
        } else {
            args
        };
        // Values the client made up earlier in the run (a lock token) are
        // matched as the recorded ones they stood for.
        let sent = key;
        let translated = matcher.tokens().to_recorded(key);
        let key = translated.as_deref().unwrap_or(key);
        let found = match matcher.find_with(self.live, self.selected.db(), key, class) {
            // Wall-clock arguments recorded on another day.
            Matched::Miss { closest } => matcher
                .find_shifted(
                    self.live,
                    self.selected.db(),
                    key,
                    &self.shared.clock,
                    clock::now_ms(),
                )
                .or_else(|| {
                    // The client named this server's own address.
                    let recorded = self.shared.as_recorded(key)?;
                    match matcher.find_with(self.live, self.selected.db(), &recorded, class) {
                        Matched::Miss { .. } => None,
                        hit => Some(hit),
                    }
                })
                .or_else(|| {
                    // A cassette with a salt whose passwords were stored
                    // before they were keyed reads `<redacted>`.
                    self.shared.secret_key.as_ref()?;
                    if !class.has_secret() {
                        return None;
                    }
                    let mut unkeyed = key.to_vec();
                    command::redact(&mut unkeyed);
                    match matcher.find_with(self.live, self.selected.db(), &unkeyed, class) {
                        Matched::Miss { .. } => None,
                        hit => Some(hit),
                    }
                })
                .or_else(|| {
                    // A value the client made up (a fresh UUID) where the
                    // recording has one of the same shape.
                    if self.shared.config.exact_tokens {
                        return None;
                    }
                    matcher.find_tokened(self.live, self.selected.db(), sent, class)
                })
                .unwrap_or(Matched::Miss { closest }),
            hit => hit,
        };
        let (recording, deliveries, closes) = match found {
            Matched::Hit {
                recording,
                deliveries,
                closes,
                repeated,
            } => {
                if let Some(tail) = tail::watching(&self.shared.config.tail) {
                    let outcome = if repeated {
                        tail::Outcome::Repeated
                    } else {
                        tail::Outcome::Served
                    };
                    let reply = tail::show_values(&matcher.replies(recording));
                    let (live, db) = (self.live, self.selected.db());
                    tail.send(tail::TailEvent::new(
                        Mode::Replay,
                        outcome,
                        live,
                        db,
                        sent,
                        reply,
                    ));
                }
                (recording, deliveries, closes)
            }
            Matched::Miss { closest } => {
                matcher.follow(self.live, key, class, None);
                return Some(Later::Miss(closest));
            }
        };
        if matcher.monitors().iter().any(|&m| m != self.live) {
            let first = matcher.first_reply(recording);
            self.feed_monitors(matcher, args, class, first.as_ref(), Some(recording));
        }
        let null = class.null_shape();
        let r = matcher.recording(recording);
        // What this run sent for the recorded times (the same when it
        // matched exactly): later replies give them back. Empty, without a
        // lookup or an allocation, for commands without time arguments.
        let times = clock::time_args_of(class, args);
        if !times.is_empty() {
            self.shared
                .clock
                .learn_sent(&matcher.cmd(recording), args, &times);
        }
        // A blocking command that timed out (`BLPOP q 1` answered null)
        // made its client wait for its timeout in Redis; it does in replay
        // too, whatever the timing, as clients and tests time it.
        let timed_out = class.is_blocking(args) && r.is_null();
        let immediate = self.shared.config.timing == Timing::None && !timed_out;
        let mut delayed = BytesMut::new();
        let target = if immediate { &mut *out } else { &mut delayed };
        if !self.replica {
            let sync = class.starts_replication();
            let tokens = matcher.tokens();
            // The replies as recorded, when nothing changes them: the bytes
            // the server sent, copied (no decoding, no encoding).
            let as_recorded =
                !sync && tokens.is_empty() && !self.shared.clock.may_shift_reply(class, args);
            match as_recorded
                .then(|| matcher.reply_wire(recording, self.info.protocol))
                .flatten()
            {
                Some(wire) => target.extend_from_slice(&wire),
                None => {
                    let at_ms = matcher.at_ms(recording);
                    for reply in &matcher.replies(recording) {
                        let shifted = self.shared.clock.shift_reply(class, args, reply, at_ms);
                        let reply = shifted.as_ref().unwrap_or(reply);
                        // The values this run's client made up, where the
                        // recorded ones were.
                        let mapped = tokens.to_live(reply);
                        match mapped.as_ref().unwrap_or(reply) {
                            // The RDB transfer: no CRLF after it (`resp::rdb`).
                            Value::Bulk(stored) if sync => rdb::encode_transfer(stored, target),
                            reply => encode_for(reply, self.info.protocol, null, target),
                        }
                    }
                }
            }
        }
        // No reply (`CLIENT REPLY OFF`): Redis ran it all the same.
        let ok = !r.is_error();
        // Nearly always none: skipped without building an iterator.
        let deliveries: Vec<(Delivery, Value)> = if deliveries.is_empty() {
            Vec::new()
        } else {
            deliveries
                .into_iter()
                .map(|d| {
                    let value = &matcher.push(d.push).value;
                    let value = matcher
                        .tokens()
                        .to_live(value)
                        .unwrap_or_else(|| value.clone());
                    (d, value)
                })
                .collect()
        };
        if !immediate {
            return Some(Later::Delayed {
                bytes: delayed,
                wait: Duration::from_micros(matcher.took_us(recording)),
                ok,
                recording,
                deliveries,
                closes,
            });
        }
        self.follow_recorded(args, matcher, recording);
        if ok {
            self.after_success(matcher, args, class);
        }
        self.deliver(deliveries, out);
        self.close_killed(closes);
        None
    }

    /// Finishes a command [`answer`](Session::answer) left for later.
    async fn finish(&mut self, raw: Bytes, args: Vec<Bytes>, later: Later, out: &mut BytesMut) {
        match later {
            Later::Fault(_) => {}
            Later::Miss(closest) => self.miss(&raw, args, closest, out).await,
            Later::Stubbed { bytes, wait } => {
                tokio::time::sleep(wait).await;
                out.extend_from_slice(&bytes);
            }
            Later::Delayed {
                bytes,
                wait,
                ok,
                recording,
                deliveries,
                closes,
            } => {
                tokio::time::sleep(wait).await;
                out.extend_from_slice(&bytes);
                let shared = self.shared.clone();
                let mut matcher = shared.matcher();
                self.follow_recorded(&args, &matcher, recording);
                if ok {
                    self.after_success(&mut matcher, &args, Class::of(&args));
                }
                drop(matcher);
                self.deliver(deliveries, out);
                self.close_killed(closes);
            }
        }
    }
}

impl Session {
    /// Answers a call a stub took: its reply in the connection's protocol
    /// (a map downgrades for RESP2 as a recorded one does), counted apart
    /// from the cassette's.
    fn stubbed(
        &mut self,
        matcher: &mut Matcher,
        args: &[Bytes],
        class: Class,
        stubbed: crate::stubs::Stubbed,
        out: &mut BytesMut,
    ) -> Option<Later> {
        self.shared
            .stubbed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        matcher.follow(self.live, args, class, None);
        let mut bytes = BytesMut::new();
        if !self.silent {
            encode_for(
                &stubbed.reply,
                self.info.protocol,
                class.null_shape(),
                &mut bytes,
            );
        }
        if !stubbed.reply.is_error() {
            self.after_success(matcher, args, class);
        }
        if stubbed.delay.is_zero() {
            out.extend_from_slice(&bytes);
            return None;
        }
        Some(Later::Stubbed {
            bytes,
            wait: stubbed.delay,
        })
    }
}

fn is_exec(args: &[Bytes]) -> bool {
    args.first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"EXEC"))
}
