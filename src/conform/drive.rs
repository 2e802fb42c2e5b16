//! Sends a [`Plan`] to a live server and collects what it answers.
//!
//! One live connection per recorded one, opened when its first command is
//! due, each command sent when [`Plan::is_ready`] allows. Replies are
//! paired with their requests by the recorder's own [`Pairing`] (pub/sub
//! confirmations, RESP2 messages that look like replies, `CLIENT REPLY
//! OFF`), so a conform run reads the target exactly as `record` would.
//!
//! Two things keep a run from hanging on a target that behaves otherwise:
//! when nothing is in flight and nothing is ready (the recording's order
//! cannot be kept), the earliest waiting command goes anyway; and a
//! command still unanswered well past its recorded duration (a `BLPOP`
//! nothing releases on the target) is given up, reported, and its
//! connection closed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::cluster::NodeMap;
use super::flow::{self, Flow};
use super::plan::{Plan, Progress};
use crate::command;
use crate::command::secret::PLACEHOLDER_PREFIX;
use crate::pairing::{Paired, Pairing, Pending, ReplyModeTracker};
use crate::resp::{encode_command, parse_reply, reply_len, Limits, Value};
use crate::upstream::{self, Upstream, UpstreamError, UpstreamWriter};

/// How long past its recorded duration a command may stay unanswered.
const GRACE: Duration = Duration::from_secs(5);

/// How long to listen for late pushes once everything is answered.
const SETTLE: Duration = Duration::from_millis(200);

/// What became of one recorded command.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The target's replies.
    Replied {
        /// The replies.
        replies: Vec<Value>,
        /// How long they took.
        took: Duration,
        /// When the command was sent, ms since the epoch (absolute times
        /// in replies are moved by the time since the recording).
        sent_ms: i64,
    },
    /// Not sent, and why (`--unsafe` commands, a redacted password with no
    /// credentials to put in its place).
    Skipped(&'static str),
    /// Its connection was gone before it could be sent or answered.
    NotRun(&'static str),
    /// Sent, never answered (given up after its recorded duration plus
    /// 5 s).
    NoReply,
    /// A `SCAN`-family call not sent: the target's iteration had already
    /// ended (its cursor came back `0` before the recording's did).
    IterationEnded,
}

/// What a run collected.
#[derive(Debug)]
pub struct Run {
    /// Per item of the plan.
    pub answers: Vec<Answer>,
    /// Per connection of the plan: the pushes the target sent.
    pub pushes: Vec<Vec<Value>>,
    /// Per connection: the target closed it.
    pub closed_by_target: Vec<bool>,
    /// Commands sent before the recorded order allowed (the order could
    /// not be kept: the target behaved otherwise).
    pub forced: u64,
    /// The made-up values learned, for comparing replies that hold them.
    pub flow: Flow,
}

/// A run could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// A connection to the target failed.
    #[error("cannot connect to the target: {0}")]
    Connect(#[from] UpstreamError),
}

enum FromTarget {
    Frame(usize, Bytes),
    Closed(usize),
}

/// One live connection.
struct Live {
    writer: UpstreamWriter,
    pairing: Pairing,
    modes: ReplyModeTracker,
}

/// Shadow requests (`HELLO 3`, `SELECT` to the recorded database) carry
/// this sequence number: their replies are nobody's answer.
const SHADOW: u64 = u64::MAX;

/// A call that continues a `SCAN`-family iteration the target had not
/// finished when the recording's did carries this bit over its item's
/// index: its reply joins that item's.
const CONTINUES: u64 = 1 << 62;

/// How many calls may continue one iteration (a target whose cursor never
/// comes back to `0` must not keep a run going).
const MAX_CONTINUATIONS: usize = 10_000;

/// Runs `plan` against `target`: as fast as the order allows, or with the
/// recorded pacing divided by `speed` (2.0: twice as fast).
pub async fn drive(
    plan: &Plan,
    target: &Upstream,
    nodes: Option<&NodeMap>,
    speed: Option<f64>,
) -> Result<Run, DriveError> {
    let first_ms = plan.items.first().map_or(0, |i| i.at_ms);
    let mut driver = Driver {
        plan,
        target,
        nodes,
        pace: speed.map(|speed| Pace {
            start: Instant::now(),
            first_ms,
            speed,
        }),
        progress: Progress::new(plan),
        answers: vec![Answer::NotRun("never sent"); plan.items.len()],
        pushes: vec![Vec::new(); plan.conns.len()],
        closed: vec![false; plan.conns.len()],
        live: HashMap::new(),
        in_flight: HashMap::new(),
        continuing: HashMap::new(),
        to_continue: Vec::new(),
        flow: Flow::default(),
        forced: 0,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    loop {
        driver.send_continuations().await;
        let sent = driver.send_ready(&tx).await?;
        if driver.progress.all_done() {
            break;
        }
        let next_due = driver.next_due();
        let waiting_for_time = next_due.is_some_and(|due| due > Instant::now());
        if sent == 0 && driver.in_flight.is_empty() && !waiting_for_time {
            // The recorded order cannot be kept: send the earliest waiting
            // command anyway.
            driver.force(&tx).await?;
            continue;
        }
        let wait = match next_due {
            Some(due) if waiting_for_time => due
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1)),
            _ => Duration::from_secs(1),
        };
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(event)) => driver.on_event(event),
            Ok(None) => break,
            Err(_) if waiting_for_time => {}
            Err(_) => driver.give_up_overdue(),
        }
    }
    // Late pushes (a message published last).
    let settle = tokio::time::sleep(SETTLE);
    tokio::pin!(settle);
    loop {
        tokio::select! {
            _ = &mut settle => break,
            event = rx.recv() => match event {
                Some(event) => driver.on_event(event),
                None => break,
            },
        }
    }
    for (_, mut live) in driver.live.drain() {
        let _ = live.writer.shutdown().await;
    }
    Ok(Run {
        answers: driver.answers,
        pushes: driver.pushes,
        closed_by_target: driver.closed,
        forced: driver.forced,
        flow: driver.flow,
    })
}

/// The recorded pacing, scaled (`--speed`).
struct Pace {
    start: Instant,
    /// The first item's `at_ms`: the run's zero.
    first_ms: u64,
    speed: f64,
}

struct Driver<'a> {
    plan: &'a Plan,
    target: &'a Upstream,
    /// A cluster target: the node each connection talks to.
    nodes: Option<&'a NodeMap>,
    pace: Option<Pace>,
    progress: Progress,
    answers: Vec<Answer>,
    pushes: Vec<Vec<Value>>,
    closed: Vec<bool>,
    live: HashMap<usize, Live>,
    /// Item → when it was sent.
    in_flight: HashMap<usize, Instant>,
    /// `SCAN`-family items whose target iteration goes on past the
    /// recording's end: the replies so far.
    continuing: HashMap<usize, Vec<Value>>,
    /// Continuation calls to send: (item, the call).
    to_continue: Vec<(usize, Vec<Bytes>)>,
    flow: Flow,
    forced: u64,
}

impl Driver<'_> {
    /// Sends every command that may go now; returns how many went.
    async fn send_ready(
        &mut self,
        tx: &mpsc::UnboundedSender<FromTarget>,
    ) -> Result<usize, DriveError> {
        let mut sent = 0;
        loop {
            let mut progressed = false;
            for c in 0..self.plan.conns.len() {
                while let Some(i) = self.progress.next_of(self.plan, c) {
                    if self.due(i).is_some_and(|due| due > Instant::now())
                        || !self.plan.is_ready(i, &self.progress)
                    {
                        break;
                    }
                    self.send(i, tx).await?;
                    sent += 1;
                    progressed = true;
                }
            }
            if !progressed {
                return Ok(sent);
            }
        }
    }

    /// When item `i` is due under `--speed` (`None`: at once).
    fn due(&self, i: usize) -> Option<Instant> {
        let pace = self.pace.as_ref()?;
        let since = self.plan.items[i].at_ms.saturating_sub(pace.first_ms);
        Some(pace.start + Duration::from_secs_f64(since as f64 / 1000.0 / pace.speed))
    }

    /// The earliest time a waiting command is due at.
    fn next_due(&self) -> Option<Instant> {
        (0..self.plan.conns.len())
            .filter_map(|c| self.progress.next_of(self.plan, c))
            .filter_map(|i| self.due(i))
            .min()
    }

    /// Sends the earliest command still waiting, order or not.
    async fn force(&mut self, tx: &mpsc::UnboundedSender<FromTarget>) -> Result<(), DriveError> {
        let earliest = (0..self.plan.conns.len())
            .filter_map(|c| self.progress.next_of(self.plan, c))
            .min();
        if let Some(i) = earliest {
            self.forced += 1;
            self.send(i, tx).await?;
        }
        Ok(())
    }

    /// Sends item `i` (or settles it unsent: skipped, connection gone).
    async fn send(
        &mut self,
        i: usize,
        tx: &mpsc::UnboundedSender<FromTarget>,
    ) -> Result<(), DriveError> {
        let item = &self.plan.items[i];
        let c = item.conn;
        self.progress.next[c] += 1;
        if let Some(reason) = item.skip {
            self.settle(i, Answer::Skipped(reason));
            return Ok(());
        }
        if self.closed[c] {
            self.settle(i, Answer::NotRun("the target closed the connection"));
            return Ok(());
        }
        if self.flow.iteration_ended(c, &item.cmd) {
            self.settle(i, Answer::IterationEnded);
            return Ok(());
        }
        let Some(args) = self.with_credentials(&self.flow.to_live(c, &item.cmd)) else {
            self.settle(
                i,
                Answer::Skipped("a redacted password, and the target URL has none"),
            );
            return Ok(());
        };
        if !self.live.contains_key(&c) {
            let live = self.connect(c, tx).await?;
            self.live.insert(c, live);
        }
        let live = self.live.get_mut(&c).expect("connected above");
        let silent = live.modes.is_silent(&args);
        let mut out = BytesMut::new();
        encode_command(&args, &mut out);
        live.pairing
            .push_request(Pending::new(i as u64, args, Instant::now(), silent));
        self.in_flight.insert(i, Instant::now());
        if live.writer.write_all(&out).await.is_err() {
            self.on_event(FromTarget::Closed(c));
            return Ok(());
        }
        let mut paired = Vec::new();
        live.pairing.complete_silent(&mut paired);
        self.on_paired(c, paired);
        Ok(())
    }

    /// The command with the target's password where the recording holds a
    /// redacted one (`AUTH`, `HELLO … AUTH`, `MIGRATE … AUTH`: the places
    /// the command table marks as passwords); `None` when the target URL
    /// has none to give. A placeholder anywhere else is data that a
    /// redaction rule replaced (`HSET user:1 ssn <redacted:…>`), sent as
    /// recorded.
    fn with_credentials(&self, args: &[Bytes]) -> Option<Vec<Bytes>> {
        let redacted = |a: &Bytes| a.starts_with(PLACEHOLDER_PREFIX.as_bytes());
        if !args.iter().any(redacted) {
            return Some(args.to_vec());
        }
        let places: Vec<usize> = command::secret_indexes(args)
            .into_iter()
            .filter(|&i| redacted(&args[i]))
            .collect();
        if places.is_empty() {
            return Some(args.to_vec());
        }
        let password = self.target.password.as_ref()?;
        let mut out = args.to_vec();
        for i in places {
            out[i] = Bytes::copy_from_slice(password.as_bytes());
        }
        Some(out)
    }

    /// Opens connection `c`: logged in and on the database as the target
    /// URL says, then `HELLO 3` when the recorded one spoke RESP3 and
    /// `SELECT` when it started in another database.
    async fn connect(
        &mut self,
        c: usize,
        tx: &mpsc::UnboundedSender<FromTarget>,
    ) -> Result<Live, DriveError> {
        let node = self.plan.conns[c].node.as_deref();
        let target = self
            .nodes
            .and_then(|nodes| nodes.for_conn(node))
            .unwrap_or(self.target);
        let stream = target.connect().await?;
        let (mut reader, writer) = upstream::split(stream);
        let tx = tx.clone();
        tokio::spawn(async move {
            let limits = Limits::upstream();
            let mut buf = BytesMut::with_capacity(16 * 1024);
            loop {
                match reply_len(&buf, &limits) {
                    Ok(Some(len)) => {
                        let frame = buf.split_to(len).freeze();
                        if tx.send(FromTarget::Frame(c, frame)).is_err() {
                            return;
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(_) => break,
                }
                match reader.read_buf(&mut buf).await {
                    Ok(n) if n > 0 => {}
                    _ => break,
                }
            }
            let _ = tx.send(FromTarget::Closed(c));
        });
        let mut live = Live {
            writer,
            pairing: Pairing::new(self.target.db),
            modes: ReplyModeTracker::default(),
        };
        let first_db = self.plan.conns[c]
            .items
            .first()
            .map_or(self.target.db, |&i| self.plan.items[i].db);
        let mut shadows: Vec<Vec<Bytes>> = Vec::new();
        if self.plan.conns[c].resp3 {
            shadows.push(vec![Bytes::from_static(b"HELLO"), Bytes::from_static(b"3")]);
        }
        if first_db != self.target.db {
            shadows.push(vec![
                Bytes::from_static(b"SELECT"),
                Bytes::from(first_db.to_string()),
            ]);
        }
        let mut out = BytesMut::new();
        for args in shadows {
            encode_command(&args, &mut out);
            live.pairing
                .push_request(Pending::new(SHADOW, args, Instant::now(), false));
        }
        if !out.is_empty() && live.writer.write_all(&out).await.is_err() {
            self.closed[c] = true;
        }
        Ok(live)
    }

    fn on_event(&mut self, event: FromTarget) {
        match event {
            FromTarget::Frame(c, frame) => {
                let mut paired = Vec::new();
                if let Some(live) = self.live.get_mut(&c) {
                    live.pairing.on_frame(frame, &mut paired);
                }
                self.on_paired(c, paired);
            }
            FromTarget::Closed(c) => {
                if self.closed[c] {
                    return;
                }
                self.closed[c] = true;
                // What was sent and not answered never will be.
                let items = self.plan.conns[c].items.clone();
                for i in items {
                    if self.in_flight.contains_key(&i) {
                        self.settle(i, Answer::NotRun("the target closed the connection"));
                    }
                }
                self.live.remove(&c);
            }
        }
    }

    fn on_paired(&mut self, c: usize, paired: Vec<Paired>) {
        for p in paired {
            match p {
                Paired::Interaction {
                    request, replies, ..
                } => {
                    if request.seq == SHADOW {
                        continue;
                    }
                    let replies: Vec<Value> = replies.iter().filter_map(decode).collect();
                    if request.seq & CONTINUES != 0 {
                        let i = (request.seq & !CONTINUES) as usize;
                        self.continue_iteration(i, request.args.into_vec(), replies);
                        continue;
                    }
                    let i = request.seq as usize;
                    let took = request.at.elapsed();
                    let sent_ms = sent_ms(took);
                    let item = &self.plan.items[i];
                    self.flow.learn(c, &item.cmd, &item.replies, &replies);
                    if flow::cursor_index(&item.cmd).is_some()
                        && flow::cursor_of(item.replies.first()) == Some(b"0".as_slice())
                        && !matches!(flow::cursor_of(replies.first()), Some(b"0") | None)
                    {
                        // The recording's iteration ends here, the
                        // target's does not: finish it, so that the two
                        // unions compare.
                        self.continuing.insert(i, replies.clone());
                        self.continue_iteration(i, request.args.into_vec(), Vec::new());
                        continue;
                    }
                    self.settle(
                        i,
                        Answer::Replied {
                            replies,
                            took,
                            sent_ms,
                        },
                    );
                }
                Paired::Push(frame) => {
                    if let Some(value) = decode(&frame) {
                        self.pushes[c].push(value);
                    }
                }
                Paired::Local(_) => {}
            }
        }
    }

    /// Notes a reply that continues item `i`'s iteration (none for the
    /// first call), and sends the next call, or settles the item once the
    /// target's cursor is back to `0`.
    fn continue_iteration(&mut self, i: usize, mut args: Vec<Bytes>, replies: Vec<Value>) {
        let gathered = self.continuing.entry(i).or_default();
        let cursor = match replies.first() {
            Some(reply) => flow::cursor_of(Some(reply)).map(Bytes::copy_from_slice),
            None => gathered
                .first()
                .and_then(|r| flow::cursor_of(Some(r)))
                .map(Bytes::copy_from_slice),
        };
        gathered.extend(replies);
        match cursor {
            Some(cursor) if &cursor[..] != b"0" && gathered.len() < MAX_CONTINUATIONS => {
                if let Some(at) = flow::cursor_index(&args) {
                    args[at] = cursor;
                }
                self.to_continue.push((i, args));
            }
            _ => {
                let replies = self.continuing.remove(&i).unwrap_or_default();
                let took = self
                    .in_flight
                    .get(&i)
                    .map(Instant::elapsed)
                    .unwrap_or_default();
                self.settle(
                    i,
                    Answer::Replied {
                        replies,
                        took,
                        sent_ms: sent_ms(took),
                    },
                );
            }
        }
    }

    /// Sends the calls that continue iterations.
    async fn send_continuations(&mut self) {
        for (i, args) in std::mem::take(&mut self.to_continue) {
            let c = self.plan.items[i].conn;
            let Some(live) = self.live.get_mut(&c) else {
                self.continuing.remove(&i);
                self.settle(i, Answer::NotRun("the target closed the connection"));
                continue;
            };
            let mut out = BytesMut::new();
            encode_command(&args, &mut out);
            live.pairing.push_request(Pending::new(
                CONTINUES | i as u64,
                args,
                Instant::now(),
                false,
            ));
            if live.writer.write_all(&out).await.is_err() {
                self.on_event(FromTarget::Closed(c));
            }
        }
    }

    /// Gives up commands unanswered well past their recorded duration, and
    /// closes their connections.
    fn give_up_overdue(&mut self) {
        let overdue: Vec<usize> = self
            .in_flight
            .iter()
            .filter(|(&i, sent)| {
                let recorded = Duration::from_micros(self.plan.items[i].took_us);
                sent.elapsed() > recorded + GRACE
            })
            .map(|(&i, _)| i)
            .collect();
        for i in overdue {
            let c = self.plan.items[i].conn;
            self.settle(i, Answer::NoReply);
            self.on_event(FromTarget::Closed(c));
        }
    }

    fn settle(&mut self, i: usize, answer: Answer) {
        self.in_flight.remove(&i);
        self.answers[i] = answer;
        self.progress.finish(self.plan, i);
    }
}

/// The wall clock `took` ago, ms since the epoch.
fn sent_ms(took: Duration) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(took).as_millis() as i64
}

fn decode(frame: &Bytes) -> Option<Value> {
    match parse_reply(frame, &Limits::upstream()) {
        Ok(Some((value, _))) => Some(value),
        _ => None,
    }
}
