//! One live connection to the replay server.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use crate::tls::{self, ClientReader, ClientWriter};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::clock;
use super::display::display_command;
use super::handshake::{is_handshake, synthesize, ConnInfo, Effect};
use super::matcher::{Closest, Delivery, Matched, Matcher};
use super::passthrough::{self, Passthrough};
use super::{OnMiss, ReplayShared, Timing};
use crate::cassette::{Event, Interaction, PushEvent};
use crate::command;
use crate::fault::{FaultAction, EXECABORT};
use crate::handover::{CarriedState, Carry, SessionEnd};
use crate::pairing::ReplyModeTracker;
use crate::resp::{
    encode, is_resp2, parse_request, rdb, to_resp2, NullShape, RequestFrame, RequestParse, Value,
};
use crate::selected_db::{is_queued_in_multi, Outcome, SelectedDb};
use crate::server::inject::Listener;
use crate::server::registry::InjectRequest;

/// What another connection's replay sends a live connection.
pub(crate) enum PushOut {
    /// A recorded push.
    Push(Value),
    /// The server closed its recorded connection here (`CLIENT KILL`).
    Close,
    /// A message injected through the control API.
    Inject(InjectRequest),
}

struct Session {
    live: u64,
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
    // Injections come down the push channel the loop already watches.
    let injections = tx.clone();
    let deliver = Box::new(move |request| injections.send(PushOut::Inject(request)).is_ok());
    shared.register(live, tx);
    let stop = shared.registry.register(live, &shared.shutdown, deliver);
    let Carry {
        stream,
        buffered: buf,
        state: carried,
    } = carry;
    let (reader, mut writer) = tls::split(stream);
    let mut session = Session {
        live,
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
    };
    if let Some(state) = &carried {
        session.resume(state);
    }
    let limits = shared.config.limits;
    let idle = shared.config.idle_timeout;
    session.buf.reserve(16 * 1024);
    let mut out = BytesMut::with_capacity(16 * 1024);
    let mut idle_since = Instant::now();
    // Made once: a fresh one per read would register with the token's
    // waiter list (a lock) and leave it again, for every request.
    let shutdown = stop.cancelled();
    tokio::pin!(shutdown);
    let mut stopped = false;
    loop {
        out.clear();
        // A subscriber or a replica only listens: Redis's `timeout` spares
        // both.
        let limit = if session.info.subscribed || session.replica {
            None
        } else {
            idle
        };
        let read = if std::mem::take(&mut session.unread) {
            Some(session.buf.len())
        } else {
            tokio::select! {
                _ = &mut shutdown => {
                    stopped = true;
                    break;
                }
                Some(push) = pushes.recv() => {
                    match push {
                        PushOut::Push(value) => {
                            encode_for(&value, session.info.protocol, NullShape::Bulk, &mut out);
                        }
                        PushOut::Inject(request) => session.inject(request, &mut out),
                        PushOut::Close => break,
                    }
                    if !out.is_empty() && writer.write_all(&out).await.is_err() {
                        break;
                    }
                    continue;
                }
                read = read_some(&mut session.reader, &mut session.buf, limit, idle_since) => read,
            }
        };
        match read {
            Some(n) if n > 0 => {}
            _ => break,
        }
        let mut consumed = 0;
        let mut error = None;
        let mut frames = Vec::new();
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
        if !out.is_empty() && writer.write_all(&out).await.is_err() {
            break;
        }
        if session.hung {
            // Keep the socket open, answer nothing, until the client gives
            // up (its timeout) or the server stops.
            session.buf.clear();
            loop {
                tokio::select! {
                    _ = &mut shutdown => break,
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

/// What the matcher decided for one command, when more than an immediate
/// reply is needed.
enum Later {
    /// Nothing recorded matches: synthesize, pass through, or miss.
    Miss(Option<Closest>),
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
    /// Takes up a connection carried in from another mode where it left off.
    fn resume(&mut self, state: &CarriedState) {
        self.info.protocol = state.protocol;
        self.selected = SelectedDb::new(state.db);
        let shared = self.shared.clone();
        let mut matcher = shared.matcher();
        for args in state.subscribe_commands() {
            matcher.track_subscription(self.live, &args);
        }
        self.info.subscribed = matcher.is_subscribed(self.live);
    }

    /// The state to carry into the next mode.
    fn carried_state(&self) -> CarriedState {
        CarriedState {
            protocol: self.info.protocol,
            db: self.selected.db(),
            subscriptions: self.matcher().subscriptions(self.live),
        }
    }

    /// Writes an injected message into `out` if this connection's
    /// subscriptions (or its key tracking) concern it.
    fn inject(&self, request: InjectRequest, out: &mut BytesMut) {
        let subscriptions = self.matcher().subscriptions(self.live);
        let frames = request.injection.frames_for(&Listener {
            protocol: self.info.protocol,
            subscriptions: &subscriptions,
            tracking: self.tracking,
        });
        let _ = request.done.send(frames.len() as u64);
        for frame in &frames {
            encode_for(frame, self.info.protocol, NullShape::Bulk, out);
        }
    }

    /// Answers a batch of pipelined commands into `out`. Recorded replies
    /// are served under one hold of the matcher's lock for as many commands
    /// in a row as possible (one lock per pipeline, not per command); a
    /// command that needs to wait (a miss, recorded timing) is finished
    /// outside it.
    async fn handle_batch(
        &mut self,
        chunk: &Bytes,
        frames: &[(usize, RequestFrame)],
        out: &mut BytesMut,
        writer: &mut ClientWriter,
    ) {
        let shared = self.shared.clone();
        let mut next = 0;
        while next < frames.len() && !self.closing && !self.hung {
            let mut later = None;
            {
                let mut matcher = shared.matcher();
                while next < frames.len() && !self.closing {
                    let (start, frame) = &frames[next];
                    next += 1;
                    let raw = chunk.slice(*start..*start + frame.len);
                    let args = frame.args(&raw);
                    self.silent = self.reply_modes.is_silent(&args);
                    if self.doomed && !self.selected.in_multi() {
                        self.doomed = false; // DISCARD or RESET ended it
                    }
                    // Before matching: a faulted command consumes no
                    // recording unless it runs (latency, partial).
                    let fault = shared.config.faults.check(&args);
                    if fault.is_some() || (self.doomed && is_exec(&args)) {
                        later = Some((raw, args, Later::Fault(fault)));
                        break;
                    }
                    if let Some(l) = self.answer(&mut matcher, &args, out) {
                        later = Some((raw, args, l));
                        break;
                    }
                }
            }
            if let Some((raw, args, l)) = later {
                match l {
                    Later::Fault(fault) => self.fault(raw, args, fault, out, writer).await,
                    l => self.finish(raw, args, l, out).await,
                }
            }
        }
    }

    /// Applies an injected fault to one command (see `crate::fault`), or,
    /// with none, answers the `EXEC` of a transaction one refused.
    async fn fault(
        &mut self,
        raw: Bytes,
        args: Vec<Bytes>,
        fault: Option<FaultAction>,
        out: &mut BytesMut,
        writer: &mut ClientWriter,
    ) {
        let Some(fault) = fault else {
            // EXEC after an injected error inside MULTI.
            self.doomed = false;
            if !self.silent {
                out.extend_from_slice(EXECABORT);
            }
            self.selected.observe(&args, Outcome::Error, || None);
            self.queued_handshake.clear();
            return;
        };
        match fault {
            FaultAction::Latency(delay) => {
                // Earlier replies go now; this one and those after it wait.
                if !out.is_empty() {
                    if writer.write_all(out).await.is_err() {
                        self.closing = true;
                        return;
                    }
                    out.clear();
                }
                tokio::select! {
                    _ = self.shared.shutdown.cancelled() => {
                        self.closing = true;
                        return;
                    }
                    _ = tokio::time::sleep(delay) => {}
                }
                self.answer_now(raw, args, out).await;
            }
            FaultAction::Error(line) => {
                // Not run, as Redis refuses a command; inside MULTI the
                // refusal flags the transaction.
                if self.selected.in_multi() {
                    self.doomed = true;
                }
                if !self.silent {
                    out.extend_from_slice(&line);
                }
            }
            FaultAction::Drop => self.closing = true,
            FaultAction::Hang => self.hung = true,
            FaultAction::Partial => {
                let mut whole = BytesMut::new();
                self.answer_now(raw, args, &mut whole).await;
                let half = (whole.len() / 2).max(1).min(whole.len());
                out.extend_from_slice(&whole[..half]);
                self.closing = true;
            }
        }
    }

    /// Answers one command the normal way, lock and all.
    async fn answer_now(&mut self, raw: Bytes, args: Vec<Bytes>, out: &mut BytesMut) {
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
        // Recordings hold redacted passwords; match on the same form.
        let redacted;
        let rules = self.shared.config.redact.as_ref();
        let key: &[Bytes] = if command::has_secret(args) || rules.is_some_and(|r| r.applies(args)) {
            let mut copy = args.to_vec();
            command::redact(&mut copy);
            if let Some(r) = rules {
                r.command(&mut copy);
            }
            redacted = copy;
            &redacted
        } else {
            args
        };
        let found = match matcher.find(self.live, self.selected.db(), key) {
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
                    match matcher.find(self.live, self.selected.db(), &recorded) {
                        Matched::Miss { .. } => None,
                        hit => Some(hit),
                    }
                })
                .unwrap_or(Matched::Miss { closest }),
            hit => hit,
        };
        let (recording, deliveries, closes) = match found {
            Matched::Hit {
                recording,
                deliveries,
                closes,
                ..
            } => (recording, deliveries, closes),
            Matched::Miss { closest } => return Some(Later::Miss(closest)),
        };
        let null = command::null_shape(args);
        let immediate = self.shared.config.timing == Timing::None;
        let mut delayed = BytesMut::new();
        let r = matcher.recording(recording);
        let target = if immediate { &mut *out } else { &mut delayed };
        if !self.replica {
            let sync = command::starts_replication(args);
            for reply in &r.replies {
                let shifted = self.shared.clock.shift_reply(args, reply, r.at_ms);
                match shifted.as_ref().unwrap_or(reply) {
                    // The RDB transfer: no CRLF after it (`resp::rdb`).
                    Value::Bulk(stored) if sync => rdb::encode_transfer(stored, target),
                    reply => encode_for(reply, self.info.protocol, null, target),
                }
            }
        }
        let ok = r.replies.first().is_some_and(|v| !v.is_error());
        let wait = Duration::from_micros(r.took_us);
        let deliveries: Vec<(Delivery, Value)> = deliveries
            .into_iter()
            .map(|d| {
                let value = matcher.push(d.push).value.clone();
                (d, value)
            })
            .collect();
        if !immediate {
            return Some(Later::Delayed {
                bytes: delayed,
                wait,
                ok,
                recording,
                deliveries,
                closes,
            });
        }
        self.follow_db(args, &matcher.recording(recording).replies);
        if ok {
            self.after_success(matcher, args);
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
                self.follow_db(&args, &matcher.recording(recording).replies);
                if ok {
                    self.after_success(&mut matcher, &args);
                }
                drop(matcher);
                self.deliver(deliveries, out);
                self.close_killed(closes);
            }
        }
    }

    /// Closes the live connections whose recorded ones the server closed at
    /// this point (`CLIENT KILL`), this one after what it was answered.
    fn close_killed(&mut self, closes: Vec<u64>) {
        for live in closes {
            if live == self.live {
                self.closing = true;
            } else {
                self.shared.close(live);
            }
        }
    }

    /// Sends the pushes a served recording triggers: to this connection
    /// right after the reply, to others through their channels.
    fn deliver(&self, deliveries: Vec<(Delivery, Value)>, out: &mut BytesMut) {
        let recorded = self.shared.config.timing == Timing::Recorded;
        for (delivery, value) in deliveries {
            let gap = if recorded {
                Duration::from_millis(delivery.gap_ms)
            } else {
                Duration::ZERO
            };
            if delivery.live == self.live && gap.is_zero() {
                encode_for(&value, self.info.protocol, NullShape::Bulk, out);
            } else {
                self.shared.deliver(delivery.live, value, gap);
            }
        }
    }

    /// Follows the connection's database (and transaction) through one
    /// answered command, as the recorder did; at `EXEC`, handshake commands
    /// queued meanwhile take effect.
    fn follow_db(&mut self, args: &[Bytes], replies: &[Value]) {
        let outcome = match replies.first() {
            None => Outcome::Silent,
            Some(v) if v.is_error() => Outcome::Error,
            Some(_) => Outcome::Ok,
        };
        let exec_results = || {
            let items = replies.first()?.elements()?;
            Some(items.iter().map(Value::is_error).collect())
        };
        let was_in_multi = self.selected.in_multi();
        self.selected.observe(args, outcome, exec_results);
        if was_in_multi && !self.selected.in_multi() {
            let queued = std::mem::take(&mut self.queued_handshake);
            let executed = command::name(args) == "EXEC"
                && replies.first().and_then(Value::elements).is_some();
            if executed {
                let version = self.shared.server_version.clone();
                for args in queued {
                    let _ = synthesize(&args, &mut self.info, &version);
                }
            }
        }
    }

    /// State changes a recorded successful reply implies.
    fn after_success(&mut self, matcher: &mut Matcher, args: &[Bytes]) {
        match command::name(args).as_bytes() {
            b"HELLO" => match command::hello_version(args) {
                Some(b"2") => self.info.protocol = 2,
                Some(b"3") => self.info.protocol = 3,
                _ => {}
            },
            b"QUIT" => self.closing = true,
            b"SYNC" | b"PSYNC" => self.replica = true,
            b"CLIENT" => {
                if let Some(on) = command::tracking_switch(args) {
                    self.tracking = on;
                }
            }
            b"RESET" => {
                self.info.protocol = 2;
                self.info.name = None;
                self.tracking = false;
                matcher.clear_subscriptions(self.live);
            }
            _ => {}
        }
        if command::subscription(args).is_some() {
            matcher.track_subscription(self.live, args);
            self.info.subscribed = matcher.is_subscribed(self.live);
        }
    }

    /// Answers a command nothing recorded: made up, passed through, or a
    /// miss error. Under `CLIENT REPLY OFF|SKIP` the answer is not sent,
    /// as Redis would send none.
    async fn miss(
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
                self.matcher().note_miss(&shown_args);
            }
            return;
        }
        if self.selected.in_multi() && is_queued_in_multi(&args) && is_handshake(&args) {
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
        let server_version = self.shared.server_version.clone();
        if let Some((reply, effect)) = synthesize(&args, &mut self.info, &server_version) {
            encode_for(&reply, self.info.protocol, NullShape::Bulk, out);
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
        self.matcher().note_miss(&shown_args);
        tracing::warn!("miss: no recorded reply for '{shown}'");
        self.selected.observe(&args, Outcome::Error, || None);
        let text = match closest {
            Some(c) => format!(
                "ERR resplay: no recorded reply for '{}' (closest recorded: {c})",
                one_line(&shown),
            ),
            None => format!(
                "ERR resplay: no recorded reply for '{}' (the cassette has no interactions)",
                one_line(&shown)
            ),
        };
        encode_for(
            &Value::Error(Bytes::from(text)),
            self.info.protocol,
            NullShape::Bulk,
            out,
        );
    }

    async fn pass_through(
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
                    self.matcher().note_miss(&args);
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
                    self.after_success(&mut matcher, &args);
                }
            }
            Err(e) => {
                self.passthrough = None;
                self.matcher().note_miss(&args);
                let text = format!("upstream {} failed: {e}", upstream.addr);
                encode_for(&error(text), self.info.protocol, NullShape::Bulk, out);
            }
        }
    }
}

fn is_exec(args: &[Bytes]) -> bool {
    args.first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"EXEC"))
}

/// Error lines cannot hold CR or LF.
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// Builds the cassette events for a command answered by the upstream, when
/// replay extends the cassette (`run --mode new-episodes`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn passthrough_events(
    conn: u64,
    db: u32,
    seq: u64,
    at_ms: u64,
    took_us: u64,
    mut cmd: Vec<Bytes>,
    replies: Vec<Value>,
    pushes: Vec<Value>,
) -> Vec<Event> {
    command::redact(&mut cmd);
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
