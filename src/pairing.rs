//! Pairing replies with the requests they answer, on one connection.
//!
//! Most commands get exactly one reply, in order. The hard part is the rest:
//! the subscribe family (one confirmation per channel, or per current
//! subscription for a bare `UNSUBSCRIBE`), RESP3 pushes that answer nothing
//! (messages, invalidations), RESP2 pub/sub messages that look like array
//! replies, `MONITOR` lines, `CLIENT REPLY OFF|SKIP` (no reply at all), and
//! the state changes `HELLO`, `RESET` and `MONITOR` make. This module is pure
//! logic, so every case is unit-tested without sockets.
//!
//! Replies stay the exact frames the server sent. Most of them (`+OK`, a
//! bulk, an integer, an array outside pub/sub) are told apart by their type
//! byte alone; only aggregates that may be pub/sub traffic are decoded. The
//! recorder then writes the cassette JSON straight from the frames.

use std::collections::{HashSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use smallvec::SmallVec;

use crate::carried_state::CarriedState;
use crate::command::{self, Class, Namespace, ReplyMode};
use crate::resp::{parse_reply, Limits, Value};
use crate::selected_db::{Outcome, SelectedDb};

/// A request's arguments, inline up to three (`GET k`, `SET k v`): a
/// recorder takes every request apart, and a `Vec` cost an allocation and
/// a free per request. Three, not four: a request is moved several times on
/// its way to the cassette, and every inline argument is 32 bytes more to
/// copy each time (callgrind, record at P16: 3776 instructions per request
/// with four, 3698 with three).
pub type RequestArgs = SmallVec<[Bytes; 3]>;

/// A request's reply frames, inline when there is one (nearly always), for
/// the same reason.
pub type ReplyFrames = SmallVec<[Bytes; 1]>;

/// A request sent upstream and waiting for its reply or replies.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Index of the request on its connection.
    pub seq: u64,
    /// The arguments as the client sent them (not yet redacted).
    pub args: RequestArgs,
    /// When resplay read the request.
    pub at: Instant,
    /// True when the server will not answer it (`CLIENT REPLY OFF|SKIP`).
    pub silent: bool,
    /// What the command table says of it, looked up once when it is read:
    /// its subscribe family is looked at for every reply frame while it
    /// waits, and the cassette writer asks whether it is trivial or holds a
    /// password.
    pub class: Class,
    /// An injected fault that takes it off the plain relay. Boxed: it is
    /// rare (`None` for every request when no fault rule is set), and every
    /// request is moved several times on its way to the cassette, so it
    /// costs one word, not four.
    pub special: Option<Box<Special>>,
    /// An `--exclude` rule leaves it out of the cassette (it is relayed
    /// and answered all the same); decided where requests are read, which
    /// knows whether a transaction is open.
    pub excluded: bool,
}

/// A fault injected into one request (see `crate::fault`): how it leaves
/// the plain byte relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Special {
    /// Not sent upstream: the client gets this exact line in its place.
    Error(Bytes),
    /// Not sent upstream: the client connection closes at its turn.
    Drop,
    /// Not sent upstream: neither it nor anything after it is answered.
    Hang,
    /// Sent upstream and recorded: the client gets half of its reply, then
    /// the connection closes.
    Partial,
    /// `DISCARD` went upstream in place of this `EXEC` (an injected error
    /// doomed its transaction): its `+OK` becomes `-EXECABORT`, for the
    /// client and the cassette alike.
    ExecAbort,
}

impl Special {
    /// True for the faults answered here, with nothing sent upstream.
    pub fn is_local(&self) -> bool {
        matches!(self, Special::Error(_) | Special::Drop | Special::Hang)
    }
}

impl Pending {
    /// A request read at `at`, the `seq`-th of its connection.
    pub fn new(seq: u64, args: impl Into<RequestArgs>, at: Instant, silent: bool) -> Pending {
        let args = args.into();
        let class = Class::of(&args);
        Pending {
            seq,
            args,
            at,
            silent,
            class,
            special: None,
            excluded: false,
        }
    }

    /// The same request, marked with an injected fault.
    pub fn with_special(mut self, special: Special) -> Pending {
        self.special = Some(Box::new(special));
        self
    }

    fn is_local(&self) -> bool {
        self.special.as_deref().is_some_and(Special::is_local)
    }
}

/// Something the pairing decided.
#[derive(Debug)]
pub enum Paired {
    /// A request is complete with all its replies (none for silent ones).
    Interaction {
        /// The request.
        request: Pending,
        /// The database it ran in.
        db: u32,
        /// Its reply frames, exact bytes, in order.
        replies: ReplyFrames,
    },
    /// Server data that answers no request: one exact frame.
    Push(Bytes),
    /// A request answered here, never sent upstream (an injected error,
    /// drop or hang), in its place among the replies. Not recorded.
    Local(Special),
}

/// True when a reply frame is an error (`-`, `!`, or one under attributes).
pub fn is_error_frame(frame: &Bytes) -> bool {
    match frame.first() {
        Some(b'-' | b'!') => true,
        Some(b'|') => decode(frame).is_some_and(|v| v.is_error()),
        _ => false,
    }
}

/// Decodes a frame that `reply_len` already measured (with the upstream's
/// limits, so with them again).
fn decode(frame: &Bytes) -> Option<Value> {
    match parse_reply(frame, &Limits::upstream()) {
        Ok(Some((value, _))) => Some(value),
        _ => None,
    }
}

/// Decides, per request, whether the server will answer it, following
/// `CLIENT REPLY`. Lives on the reading side: it sees requests in order.
#[derive(Debug, Default)]
pub struct ReplyModeTracker {
    off: bool,
    skip_next: bool,
}

impl ReplyModeTracker {
    /// Whether the server stays silent for this request.
    pub fn is_silent(&mut self, args: &[Bytes]) -> bool {
        if command::arg_is(args, 0, "RESET") {
            // RESET clears the reply mode before it answers.
            *self = ReplyModeTracker::default();
            return false;
        }
        let silent = self.off || std::mem::take(&mut self.skip_next);
        match command::client_reply(args) {
            Some(ReplyMode::On) => {
                self.off = false;
                return false;
            }
            Some(ReplyMode::Off) => {
                self.off = true;
                return true;
            }
            Some(ReplyMode::Skip) => {
                if !self.off {
                    self.skip_next = true;
                }
                return true;
            }
            None => {}
        }
        silent
    }
}

/// The reply side's view of one connection.
#[derive(Debug)]
pub struct Pairing {
    /// Requests in flight, oldest first.
    queue: VecDeque<Pending>,
    /// Replies gathered so far for the oldest request.
    head_replies: ReplyFrames,
    /// How many replies the oldest request needs, fixed at its first reply.
    head_needs: Option<usize>,
    /// 2 or 3, switched by a successful `HELLO` and by `RESET`.
    protocol: u8,
    /// Current subscriptions, per namespace: decides how many replies a bare
    /// `UNSUBSCRIBE` gets, and whether RESP2 arrays may be messages.
    subscriptions: [HashSet<Bytes>; 3],
    /// After `MONITOR`: server lines are pushes.
    monitoring: bool,
    /// `CLIENT TRACKING on` in effect: injected invalidations reach it.
    tracking: bool,
    /// The database each finished request ran in.
    selected: SelectedDb,
}

impl Default for Pairing {
    fn default() -> Self {
        Pairing::new(0)
    }
}

fn slot(ns: Namespace) -> usize {
    match ns {
        Namespace::Channel => 0,
        Namespace::Pattern => 1,
        Namespace::Shard => 2,
    }
}

impl Pairing {
    /// A connection whose upstream starts in database `db`.
    pub fn new(db: u32) -> Pairing {
        Pairing {
            queue: VecDeque::new(),
            head_replies: ReplyFrames::new(),
            head_needs: None,
            protocol: 2,
            subscriptions: Default::default(),
            monitoring: false,
            tracking: false,
            selected: SelectedDb::new(db),
        }
    }

    /// A connection carried over from another mode: its upstream has been
    /// brought to the client's protocol, database and subscriptions.
    pub fn resume(state: &CarriedState) -> Pairing {
        let mut pairing = Pairing::new(state.db);
        pairing.protocol = state.protocol;
        for (ns, name) in &state.subscriptions {
            pairing.subscriptions[slot(*ns)].insert(name.clone());
        }
        pairing
    }

    /// The connection's state, to carry it into another mode.
    pub fn carried_state(&self) -> CarriedState {
        CarriedState {
            protocol: self.protocol,
            db: self.selected.db(),
            subscriptions: self.subscriptions(),
        }
    }

    /// Current subscriptions, every namespace.
    pub fn subscriptions(&self) -> Vec<(Namespace, Bytes)> {
        let mut out = Vec::new();
        for ns in [Namespace::Channel, Namespace::Pattern, Namespace::Shard] {
            out.extend(self.subscriptions[slot(ns)].iter().map(|s| (ns, s.clone())));
        }
        out
    }

    /// Whether a `MULTI` is open (its queued commands live only on this
    /// upstream connection).
    pub fn in_multi(&self) -> bool {
        self.selected.in_multi()
    }

    /// Whether `CLIENT TRACKING on` is in effect.
    pub fn is_tracking(&self) -> bool {
        self.tracking
    }

    /// A request was sent upstream.
    pub fn push_request(&mut self, request: Pending) {
        self.queue.push_back(request);
    }

    /// Requests still waiting.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// True while the connection holds a subscription (it only listens, so
    /// an idle timeout must spare it, as Redis's `timeout` does).
    pub fn is_subscribed(&self) -> bool {
        self.subscriptions.iter().any(|s| !s.is_empty())
    }

    /// The database the next request will run in.
    pub fn db(&self) -> u32 {
        self.selected.db()
    }

    /// The protocol the connection speaks now.
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// The oldest request still waiting.
    pub fn front(&self) -> Option<&Pending> {
        self.queue.front()
    }

    /// Takes the oldest request out, for a caller that gathered its replies
    /// itself (`SYNC`/`PSYNC`, see `record::replication`); `None` if some of
    /// its replies already went through [`on_frame`](Pairing::on_frame).
    pub fn take_front(&mut self) -> Option<Pending> {
        if !self.head_replies.is_empty() {
            return None;
        }
        self.head_needs = None;
        self.queue.pop_front()
    }

    /// Marks every waiting request silent: a connection turned replica is
    /// never answered again.
    pub fn silence_all(&mut self) {
        for request in &mut self.queue {
            request.silent = true;
        }
    }

    /// Takes every waiting request out (the upstream is gone).
    pub fn drain(&mut self) -> Vec<Pending> {
        self.head_replies.clear();
        self.head_needs = None;
        self.queue.drain(..).collect()
    }

    /// Ends the conversation with requests still waiting (the client left
    /// while the server held one back, or their replies took too long):
    /// each becomes an interaction with the replies it got so far (none, or
    /// the first confirmations of a `SUBSCRIBE a b`), in order. Injected
    /// local faults, never recorded, are left out.
    pub fn abandon(&mut self, out: &mut Vec<Paired>) {
        let mut replies = std::mem::take(&mut self.head_replies);
        self.head_needs = None;
        for request in std::mem::take(&mut self.queue) {
            if request.is_local() {
                continue;
            }
            // As for a silent request: assume it ran (a `SELECT` did).
            self.finish_unanswered(request, std::mem::take(&mut replies), out);
        }
    }

    /// Hands over a request the server will not answer (any more), with
    /// what it got, assuming it ran: its database effect (a `SELECT`) is
    /// followed.
    fn finish_unanswered(&mut self, request: Pending, replies: ReplyFrames, out: &mut Vec<Paired>) {
        let db = self.selected.db();
        self.selected
            .observe(&request.args, Outcome::Silent, || None);
        out.push(Paired::Interaction {
            request,
            db,
            replies,
        });
    }

    /// Completes the silent requests at the head of the queue: they need no
    /// frame from the server; and hands over the local ones (injected
    /// faults), in their turn.
    pub fn complete_silent(&mut self, out: &mut Vec<Paired>) {
        while self
            .queue
            .front()
            .is_some_and(|p| p.silent || p.special.is_some())
            && self.head_replies.is_empty()
        {
            if self.queue.front().is_some_and(Pending::is_local) {
                if let Some(Pending {
                    special: Some(special),
                    ..
                }) = self.queue.pop_front()
                {
                    out.push(Paired::Local(*special));
                }
                continue;
            }
            if !self.queue.front().is_some_and(|p| p.silent) {
                break;
            }
            if let Some(request) = self.queue.pop_front() {
                self.finish_unanswered(request, ReplyFrames::new(), out);
            }
        }
    }

    fn in_pubsub(&self) -> bool {
        self.subscriptions.iter().any(|s| !s.is_empty())
            || self
                .queue
                .front()
                .is_some_and(|p| p.class.subscription().is_some())
    }

    /// Handles one complete frame from the server (its exact bytes). Returns
    /// the injected fault of the request it answers, when that fault shapes
    /// the reply the client gets (partial, `EXECABORT`).
    pub fn on_frame(&mut self, frame: Bytes, out: &mut Vec<Paired>) -> Option<Special> {
        self.complete_silent(out);
        // Only aggregates can be pub/sub traffic, and only pushes (possibly
        // behind attributes) or frames arriving while pub/sub is in play
        // need a look inside; everything else is judged by its type byte.
        let type_byte = frame.first().copied().unwrap_or(0);
        let may_be_pubsub = match type_byte {
            b'>' | b'|' => true,
            b'*' | b'~' => self.in_pubsub(),
            _ => false,
        };
        let value = if may_be_pubsub { decode(&frame) } else { None };
        let kind = value.as_ref().and_then(command::pubsub_kind);
        let head_subscription = self.queue.front().and_then(|p| p.class.subscription());
        let confirms_head = match (
            kind.as_deref().and_then(command::confirmation),
            head_subscription,
        ) {
            (Some(confirmed), Some(asked)) => confirmed == asked,
            _ => false,
        };
        let is_push = value.as_ref().is_some_and(Value::is_push);
        let unsolicited = if is_push {
            !confirms_head
        } else if self.monitoring {
            type_byte == b'+' && frame.get(1).is_some_and(u8::is_ascii_digit)
        } else if self.protocol == 2 && self.in_pubsub() && matches!(value, Some(Value::Array(_))) {
            kind.as_deref().is_some_and(command::is_message_kind)
        } else {
            false
        };
        if unsolicited || self.queue.is_empty() {
            out.push(Paired::Push(frame));
            return None;
        }
        // Fixed before this reply changes the subscriptions it counts.
        let needs = match self.head_needs {
            Some(n) => n,
            None => {
                let n = self.replies_needed();
                self.head_needs = Some(n);
                n
            }
        };
        if confirms_head {
            if let Some(value) = &value {
                self.track_confirmation(value);
            }
        }
        let is_error = match &value {
            Some(value) => value.is_error(),
            None => is_error_frame(&frame),
        };
        let shaping = match self.queue.front() {
            Some(Pending {
                special: Some(special),
                ..
            }) => Some(Special::clone(special)),
            _ => None,
        };
        self.head_replies.push(frame);
        if self.head_replies.len() >= needs || is_error {
            self.finish_head(out);
        }
        self.complete_silent(out);
        shaping
    }

    /// How many replies the head request gets.
    fn replies_needed(&self) -> usize {
        let Some(head) = self.queue.front() else {
            return 1;
        };
        match head.class.subscription() {
            Some((ns, subscribing)) => {
                let named = head.args.len().saturating_sub(1);
                if named > 0 {
                    named
                } else if subscribing {
                    1 // an arity error
                } else {
                    self.subscriptions[slot(ns)].len().max(1)
                }
            }
            None => 1,
        }
    }

    fn track_confirmation(&mut self, value: &Value) {
        let Some(items) = value.elements() else {
            return;
        };
        let kind = command::pubsub_kind(value);
        let Some((ns, subscribed)) = kind.as_deref().and_then(command::confirmation) else {
            return;
        };
        let Some(channel) = items.get(1).and_then(Value::as_bytes) else {
            return;
        };
        let set = &mut self.subscriptions[slot(ns)];
        if subscribed {
            set.insert(Bytes::copy_from_slice(channel));
        } else {
            set.remove(channel);
        }
    }

    fn finish_head(&mut self, out: &mut Vec<Paired>) {
        let Some(request) = self.queue.pop_front() else {
            return;
        };
        let mut replies = std::mem::take(&mut self.head_replies);
        self.head_needs = None;
        if request.special.as_deref() == Some(&Special::ExecAbort) {
            // The cassette keeps what the client saw, not DISCARD's +OK.
            replies = smallvec::smallvec![Bytes::from_static(command::EXECABORT)];
        }
        let ok = replies.first().is_some_and(|r| !is_error_frame(r));
        if ok {
            match request.class.name() {
                "HELLO" => match command::hello_version(&request.args) {
                    Some(b"2") => self.protocol = 2,
                    Some(b"3") => self.protocol = 3,
                    _ => {}
                },
                "MONITOR" => self.monitoring = true,
                "CLIENT" => {
                    if let Some(on) = command::tracking_switch(&request.args) {
                        self.tracking = on;
                    }
                }
                "RESET" => {
                    self.protocol = 2;
                    self.monitoring = false;
                    self.tracking = false;
                    self.subscriptions = Default::default();
                }
                _ => {}
            }
        }
        let db = self.selected.db();
        let outcome = if ok { Outcome::Ok } else { Outcome::Error };
        self.selected
            .observe(&request.args, outcome, || exec_errors(replies.first()?));
        out.push(Paired::Interaction {
            request,
            db,
            replies,
        });
    }
}

/// The error flag of each result in an `EXEC` reply frame (`None` when it
/// is not an array: a `WATCH`ed key changed).
fn exec_errors(frame: &Bytes) -> Option<Vec<bool>> {
    let value = decode(frame)?;
    let items = value.elements()?;
    Some(items.iter().map(Value::is_error).collect())
}

#[cfg(test)]
mod tests;
