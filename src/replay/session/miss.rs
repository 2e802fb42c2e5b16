//! A command no recording answers: a replica's gets nothing, a handshake
//! command is made up (or queued inside `MULTI`), a cluster node answers
//! for its topology, `--on-miss passthrough` asks the upstream
//! (`pass_through`), and anything else gets a miss error naming the
//! closest recording (or, for a command an `--exclude` rule kept out of
//! the recording, saying so). Apart from the answer path because none of
//! it uses the cassette's recordings; it decides what stands in for them.

use bytes::{Bytes, BytesMut};

use super::{encode_for, Session};
use crate::command::{self, Class};
use crate::replay::display::display_command;
use crate::replay::handshake::{is_handshake, synthesize, Effect};
use crate::replay::matcher::{Closest, MissFrom};
use crate::replay::OnMiss;
use crate::resp::{NullShape, Value};
use crate::selected_db::{is_queued_in_multi, Outcome};
use crate::tail::{self, Mode, TailEvent};

impl Session {
    /// Answers a command nothing recorded: made up, passed through, or a
    /// miss error. Under `CLIENT REPLY OFF|SKIP` the answer is not sent,
    /// as Redis would send none.
    pub(super) async fn miss(
        &mut self,
        raw: &Bytes,
        args: Vec<Bytes>,
        closest: Option<Closest>,
        out: &mut BytesMut,
    ) {
        if self.silent {
            let mut unsent = BytesMut::new();
            self.answer_miss(raw, args, closest, &mut unsent).await;
        } else {
            self.answer_miss(raw, args, closest, out).await;
        }
    }

    async fn answer_miss(
        &mut self,
        raw: &Bytes,
        args: Vec<Bytes>,
        closest: Option<Closest>,
        out: &mut BytesMut,
    ) {
        if self.replica {
            // Redis answers a replica nothing. Its `REPLCONF ACK <offset>`
            // carries an offset that differs from run to run: no miss.
            if !command::arg_is(&args, 0, "REPLCONF") {
                let mut shown_args = args;
                command::redact(&mut shown_args);
                let from = self.miss_from();
                self.matcher().note_miss(
                    &shown_args,
                    from,
                    Err("a replica's command: Redis answers none"),
                );
            }
            return;
        }
        if self.selected.in_multi()
            && is_queued_in_multi(&args)
            && is_handshake(Class::of(&args), &args)
        {
            // Redis queues it and answers at EXEC, whose recorded reply
            // already holds its result.
            encode_for(
                &Value::simple("QUEUED"),
                self.info.protocol,
                NullShape::Bulk,
                out,
            );
            self.selected.observe(&args, Outcome::Ok, || None);
            self.queued_handshake.push(args);
            return;
        }
        let shared = self.shared.clone();
        if let Some(refusal) = self.recorded_refusal(&args) {
            // A password the server refused is refused again, on any
            // connection, however often: replay cannot tell it is wrong
            // other than by its recording.
            encode_for(&refusal, self.info.protocol, NullShape::Bulk, out);
            return;
        }
        if let Some((reply, effect)) = synthesize(&args, &mut self.info, &shared.server) {
            encode_for(&reply, self.info.protocol, NullShape::Bulk, out);
            {
                let matcher = self.matcher();
                self.feed_monitors(&matcher, &args, Class::of(&args), Some(&reply), None);
            }
            self.follow_db(&args, std::slice::from_ref(&reply));
            match effect {
                Effect::Close => self.closing = true,
                Effect::Reset => self.matcher().clear_subscriptions(self.live),
                Effect::None => {}
            }
            return;
        }
        if let Some(reply) = self
            .shared
            .config
            .cluster
            .as_ref()
            .and_then(|node| node.answer(&args))
        {
            encode_for(&reply, self.info.protocol, NullShape::Bulk, out);
            return;
        }
        if self.shared.config.on_miss == OnMiss::Passthrough {
            if let Some(upstream) = self.shared.config.upstream.clone() {
                self.pass_through(raw, args, &upstream, out).await;
                return;
            }
        }
        let mut shown_args = args.clone();
        command::redact(&mut shown_args);
        let shown = display_command(&shown_args);
        let from = self.miss_from();
        let nothing = "the cassette has no interactions";
        let excluded = crate::exclude::excluded_by(&self.shared.excluded, &args);
        let why = match excluded {
            Some(_) => Err("excluded from the recording (--exclude)"),
            None => closest.as_ref().ok_or(nothing),
        };
        self.matcher().note_miss(&shown_args, from, why);
        self.selected.observe(&args, Outcome::Error, || None);
        let text = match (excluded, closest) {
            (Some(rule), _) => {
                tracing::warn!("miss: '{shown}' was excluded at record time");
                format!(
                    "ERR resplay: '{}' was excluded from the recording (--exclude '{}'): no reply to replay",
                    one_line(&shown),
                    one_line(&rule.text)
                )
            }
            (None, closest) => {
                tracing::warn!("miss: no recorded reply for '{shown}'");
                no_recorded_reply(&shown, closest)
            }
        };
        if let Some(tail) = tail::watching(&self.shared.config.tail) {
            let (live, db) = (self.live, self.selected.db());
            let reply = text.clone();
            let missed = tail::Outcome::Missed;
            tail.send(TailEvent::new(
                Mode::Replay,
                missed,
                live,
                db,
                &shown_args,
                reply,
            ));
        }
        encode_for(
            &Value::Error(Bytes::from(text)),
            self.info.protocol,
            NullShape::Bulk,
            out,
        );
    }
}

impl Session {
    /// This connection, its database and now, for the report's list of
    /// misses (the matcher adds the recorded connection it is bound to).
    pub(super) fn miss_from(&self) -> MissFrom {
        MissFrom {
            live: self.live,
            bound_to: None,
            db: self.selected.db(),
            at_ms: self.shared.start.elapsed().as_millis() as u64,
        }
    }
}

/// The miss error for a command nothing recorded answers.
fn no_recorded_reply(shown: &str, closest: Option<Closest>) -> String {
    match closest {
        Some(c) => format!(
            "ERR resplay: no recorded reply for '{}' (closest recorded: {c})",
            one_line(shown),
        ),
        None => format!(
            "ERR resplay: no recorded reply for '{}' (the cassette has no interactions)",
            one_line(shown)
        ),
    }
}

/// Error lines cannot hold CR or LF.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

impl Session {
    /// For a command carrying a password (`AUTH`, `HELLO … AUTH`): the
    /// error the server answered it with when recorded (compared by the
    /// password's keyed placeholder), if it refused it.
    fn recorded_refusal(&self, args: &[Bytes]) -> Option<Value> {
        if !Class::of(args).has_secret() {
            return None;
        }
        let mut keyed = args.to_vec();
        command::redact_with(&mut keyed, self.shared.secret_key.as_ref());
        self.matcher().recorded_refusal(self.selected.db(), &keyed)
    }
}
