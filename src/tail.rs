//! The live tail: every interaction as it is recorded, served from the
//! cassette, missed or passed through, for whoever watches it (the web
//! console's `GET /events`).
//!
//! Record and replay produce into one [`Tail`] that a steered server owns
//! and hands to every mode it starts, as it does the fault rules. Nobody
//! watches most of the time, and replay's hot path is benchmarked against
//! redis-server, so a producer first asks [`watching`]: one relaxed load of
//! a watcher count, with no formatting, allocation or lock behind it while
//! the count is zero. The broadcast channel itself is made by the first
//! watcher, so a server nobody ever watches (no `--admin`) never has one.
//!
//! The channel is bounded: a watcher that falls behind loses the oldest
//! events and is told how many ([`Seen::Dropped`]), rather than holding
//! memory or slowing the server down.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::resp::{parse_reply, Limits, Value};
use crate::text::command::display_command;
use crate::text::reply::render_value;

/// Events a watcher may fall behind by before it loses the oldest.
pub const CAPACITY: usize = 1024;

/// How many characters of a command or a reply an event shows.
pub const SHOWN_CHARS: usize = 200;

/// The mode that handled a command (the control API's modes that serve:
/// idle serves nothing). Here, with the modes, not with their steering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Recording.
    Record,
    /// Replaying.
    Replay,
    /// Relaying without recording.
    Passthrough,
}

/// What became of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Relayed to the upstream and written to the cassette.
    Recorded,
    /// Answered from the cassette.
    Served,
    /// Answered from the cassette by repeating the last of its identical
    /// recordings, all of them used already.
    Repeated,
    /// No recording answers it: the client got a miss error.
    Missed,
    /// Answered by the upstream without a recording (passthrough mode, or
    /// a replay that passes its misses through).
    Passthrough,
}

/// One interaction, displayed, as a watcher receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TailEvent {
    /// The mode that handled it.
    pub mode: Mode,
    /// The client connection's id.
    pub conn: u64,
    /// The database it ran in.
    pub db: u32,
    /// When it was handled, in milliseconds since the Unix epoch.
    pub at: u64,
    /// The command as `resplay show` displays it (passwords redacted),
    /// cut to [`SHOWN_CHARS`].
    pub cmd: String,
    /// Its reply as redis-cli prints it, cut to [`SHOWN_CHARS`].
    pub reply: String,
    /// What became of it.
    pub outcome: Outcome,
}

impl TailEvent {
    /// An event for `cmd`, stamped now; `reply` is already displayed (see
    /// [`show_frames`], [`show_values`]).
    pub fn new(
        mode: impl Into<Mode>,
        outcome: Outcome,
        conn: u64,
        db: u32,
        cmd: &[Bytes],
        reply: String,
    ) -> TailEvent {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        TailEvent {
            mode: mode.into(),
            conn,
            db,
            at,
            cmd: show_command(cmd),
            reply: clip(reply),
            outcome,
        }
    }
}

/// The live tail's producer side, shared by every mode of one server.
/// Cheap to clone.
#[derive(Clone, Default)]
pub struct Tail(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// Made by the first watcher.
    sender: OnceLock<broadcast::Sender<Arc<TailEvent>>>,
    /// Watchers now: what a producer checks before it formats anything.
    watchers: AtomicUsize,
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail")
            .field("watchers", &self.0.watchers.load(Ordering::Relaxed))
            .finish()
    }
}

/// The tail when someone watches it; `None` (the usual case, and the cheap
/// one) when there is no tail or nobody watches.
#[inline]
pub fn watching(tail: &Option<Tail>) -> Option<&Tail> {
    tail.as_ref().filter(|t| t.watched())
}

impl Tail {
    /// A tail nobody watches yet.
    pub fn new() -> Tail {
        Tail::default()
    }

    /// Whether anyone watches: producers skip everything when not.
    #[inline]
    pub fn watched(&self) -> bool {
        self.0.watchers.load(Ordering::Relaxed) > 0
    }

    /// How many watch now.
    pub fn watchers(&self) -> usize {
        self.0.watchers.load(Ordering::Relaxed)
    }

    /// Hands `event` to every watcher (none: it is dropped).
    pub fn send(&self, event: TailEvent) {
        if let Some(sender) = self.0.sender.get() {
            // No receiver left (the last watcher just went): nothing to do.
            let _ = sender.send(Arc::new(event));
        }
    }

    /// Starts watching: events sent from now on, until the [`Watch`] is
    /// dropped.
    pub fn watch(&self) -> Watch {
        let sender = self.0.sender.get_or_init(|| broadcast::channel(CAPACITY).0);
        // Counted first: an event sent between the two is at worst
        // formatted for nobody, never missed by a watcher counted late.
        self.0.watchers.fetch_add(1, Ordering::Relaxed);
        let counted = Counted(self.0.clone());
        Watch {
            events: sender.subscribe(),
            _counted: counted,
        }
    }
}

/// Takes a watcher off the count when its [`Watch`] goes.
struct Counted(Arc<Shared>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.watchers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One watcher's side of the tail.
pub struct Watch {
    events: broadcast::Receiver<Arc<TailEvent>>,
    _counted: Counted,
}

/// What a watcher gets next.
#[derive(Debug, Clone)]
pub enum Seen {
    /// The next event.
    Event(Arc<TailEvent>),
    /// The watcher fell behind: this many events were lost.
    Dropped(u64),
}

impl Watch {
    /// The next event, or how many were lost since the last one. Waits
    /// for one; never ends while the tail exists (the server holds it).
    pub async fn next(&mut self) -> Seen {
        loop {
            match self.events.recv().await {
                Ok(event) => return Seen::Event(event),
                Err(broadcast::error::RecvError::Lagged(n)) => return Seen::Dropped(n),
                // Every sender gone: the server is going away; wait for
                // the caller to notice that on its own.
                Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}

/// A command as `resplay show` displays it, cut to [`SHOWN_CHARS`]. Each
/// argument is cut before it is displayed, so a large value costs no more
/// than a short one.
pub fn show_command(args: &[Bytes]) -> String {
    let cut: Vec<Bytes> = args
        .iter()
        .take(SHOWN_CHARS)
        .map(|a| a.slice(..a.len().min(SHOWN_CHARS)))
        .collect();
    clip(display_command(&cut))
}

/// Replies as the server sent them (RESP frames), as redis-cli prints them.
pub fn show_frames(frames: &[Bytes]) -> String {
    let limits = Limits::upstream();
    let mut out = String::new();
    for frame in frames {
        match parse_reply(frame, &limits) {
            Ok(Some((value, _))) => render_value(&cut(&value, 0), &mut out),
            _ => out.push_str("(a reply that does not decode)\n"),
        }
        if out.len() > SHOWN_CHARS * 4 {
            break;
        }
    }
    finish_reply(out)
}

/// Decoded replies, as redis-cli prints them.
pub fn show_values(values: &[Value]) -> String {
    let mut out = String::new();
    for value in values {
        render_value(&cut(value, 0), &mut out);
        if out.len() > SHOWN_CHARS * 4 {
            break;
        }
    }
    finish_reply(out)
}

/// Elements of an aggregate shown: more than [`SHOWN_CHARS`] characters
/// worth, as each takes a few.
const SHOWN_ITEMS: usize = SHOWN_CHARS / 2;

/// Nesting shown; deeper values show as `...`.
const SHOWN_DEPTH: usize = 16;

/// The part of `value` that can show within [`SHOWN_CHARS`]: strings cut,
/// aggregates cut to their first elements, deep nesting cut off. A large
/// reply is then rendered for the little of it that is shown, not whole.
fn cut(value: &Value, depth: usize) -> Value {
    if depth >= SHOWN_DEPTH {
        return Value::Simple(Bytes::from_static(b"..."));
    }
    let text = |b: &Bytes| b.slice(..b.len().min(SHOWN_CHARS));
    let items = |items: &[Value]| -> Vec<Value> {
        items
            .iter()
            .take(SHOWN_ITEMS)
            .map(|v| cut(v, depth + 1))
            .collect()
    };
    let pairs = |pairs: &[(Value, Value)]| -> Vec<(Value, Value)> {
        pairs
            .iter()
            .take(SHOWN_ITEMS)
            .map(|(k, v)| (cut(k, depth + 1), cut(v, depth + 1)))
            .collect()
    };
    match value {
        Value::Simple(b) => Value::Simple(text(b)),
        Value::Error(b) => Value::Error(text(b)),
        Value::Bulk(b) => Value::Bulk(text(b)),
        Value::Verbatim(b) => Value::Verbatim(text(b)),
        Value::BulkError(b) => Value::BulkError(text(b)),
        Value::StreamedBulk(chunks) => {
            Value::StreamedBulk(chunks.iter().take(SHOWN_ITEMS).map(text).collect())
        }
        Value::Array(v) => Value::Array(items(v)),
        Value::Set(v) => Value::Set(items(v)),
        Value::Push(v) => Value::Push(items(v)),
        Value::Map(p) => Value::Map(pairs(p)),
        Value::StreamedAggregate { kind, items: v } => Value::StreamedAggregate {
            kind: *kind,
            items: items(v),
        },
        Value::Attributed { attrs, value } => Value::Attributed {
            attrs: pairs(attrs),
            value: Box::new(cut(value, depth + 1)),
        },
        other => other.clone(),
    }
}

fn finish_reply(mut out: String) -> String {
    if out.is_empty() {
        return "(no reply)".to_string();
    }
    if out.ends_with('\n') {
        out.pop();
    }
    clip(out)
}

/// `text` cut to [`SHOWN_CHARS`] characters, with `…` when it was longer.
fn clip(mut text: String) -> String {
    if let Some((end, _)) = text.char_indices().nth(SHOWN_CHARS) {
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[tokio::test]
    async fn watched_only_while_a_watch_lives() {
        let tail = Tail::new();
        assert!(!tail.watched());
        // Nobody watches: sending is a no-op, not an error.
        tail.send(TailEvent::new(
            Mode::Record,
            Outcome::Recorded,
            1,
            0,
            &args(&["PING"]),
            "PONG".into(),
        ));
        let mut watch = tail.watch();
        assert!(tail.watched());
        assert!(watching(&Some(tail.clone())).is_some());
        tail.send(TailEvent::new(
            Mode::Replay,
            Outcome::Served,
            7,
            2,
            &args(&["GET", "k"]),
            show_frames(&[Bytes::from_static(b"$1\r\nv\r\n")]),
        ));
        match watch.next().await {
            Seen::Event(e) => {
                assert_eq!((e.conn, e.db, e.outcome), (7, 2, Outcome::Served));
                assert_eq!(e.cmd, "GET k");
                assert_eq!(e.reply, "\"v\"");
                assert!(e.at > 1_600_000_000_000, "{}", e.at);
            }
            other => panic!("{other:?}"),
        }
        drop(watch);
        assert!(!tail.watched());
        assert!(watching(&Some(tail)).is_none());
        assert!(watching(&None).is_none());
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_told_how_many_it_lost() {
        let tail = Tail::new();
        let mut watch = tail.watch();
        let extra = 10;
        for i in 0..CAPACITY + extra {
            tail.send(TailEvent::new(
                Mode::Replay,
                Outcome::Missed,
                i as u64,
                0,
                &args(&["GET", "k"]),
                String::new(),
            ));
        }
        match watch.next().await {
            Seen::Dropped(n) => assert_eq!(n, extra as u64),
            other => panic!("{other:?}"),
        }
        match watch.next().await {
            Seen::Event(e) => assert_eq!(e.conn, extra as u64),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn long_commands_and_replies_are_cut() {
        let big = "x".repeat(100_000);
        let shown = show_command(&args(&["SET", "k", &big]));
        assert!(shown.starts_with("SET k xxx"), "{shown}");
        assert_eq!(shown.chars().count(), SHOWN_CHARS + 1);
        assert!(shown.ends_with('…'));
        let frame = Bytes::from(format!("${}\r\n{big}\r\n", big.len()));
        let reply = show_frames(&[frame]);
        assert_eq!(reply.chars().count(), SHOWN_CHARS + 1);
        assert_eq!(show_frames(&[]), "(no reply)");
        assert_eq!(
            show_values(&[Value::Array(vec![
                Value::Bulk(Bytes::from_static(b"a")),
                Value::Integer(2)
            ])]),
            "1) \"a\"\n2) (integer) 2"
        );
        // A multi-byte character is never split.
        let wide = "é".repeat(SHOWN_CHARS + 5);
        assert_eq!(clip(wide).chars().count(), SHOWN_CHARS + 1);
    }
}
