//! The lines of a cassette: one [`Header`], then [`Event`]s.
//!
//! Serialization and deserialization are written by hand: the key order on
//! disk is fixed (so diffs of re-recorded cassettes stay small), the event
//! kind is told apart by its keys (`cmd`, `push` or `event`) without a type
//! tag, and loading must not build a generic JSON tree per line.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::json::{Chunks, ChunksSeed, Items, ItemsSeed, JsonValue, Source, ValueSeed};
use crate::resp::Value;

/// Line 1 of a cassette: `{"resplay":1,"created":"…","upstream":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The format version, written as the `"resplay"` key: its presence is
    /// also what marks the file as a cassette.
    #[serde(rename = "resplay")]
    pub version: u32,
    /// When recording started (RFC 3339 UTC, milliseconds; older cassettes
    /// have whole seconds): for humans reading the file, and for replay to
    /// tell when each interaction was sent (`created` + `at_ms`), which
    /// wall-clock arguments are compared against. Optional on load so
    /// hand-written cassettes stay short (they get no time shifting).
    #[serde(default)]
    pub created: String,
    /// The upstream address recorded against, to tell cassettes apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The server's version (from `HELLO`/`INFO`), when the recorder knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// The server's `HELLO 3` reply (a map, as a cassette value), read
    /// when recording started: replay's own `HELLO` answers with it, with
    /// each connection's own `proto` and `id`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "super::json::optional_value"
    )]
    pub hello: Option<Value>,
    /// The database a connection starts in (the upstream URL's `/db`). Its
    /// presence also says that interactions carry their `db`: a cassette
    /// written before resplay tracked databases has none, and replay then
    /// matches without regard to the database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub db: Option<u32>,
    /// The address the recorder listened on. Replay reads its own port in
    /// an argument as this one (`MIGRATE 127.0.0.1 <port> …` names the
    /// server the client talks to; see `replay::own_address`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The recorder spoke TLS to the upstream (`rediss://`). Written only
    /// when true; for people reading the file: replay does not depend on
    /// how the bytes travelled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls: bool,
    /// The salt of the redaction placeholders (`<redacted:HEX8>`, see
    /// docs/redaction.md), hex. Written when the recording had redaction
    /// rules; replay derives live placeholders with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact_salt: Option<String>,
    /// A cluster recording's topology: the nodes, their roles and slots
    /// (see `crate::cluster`). Absent for a single server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::topology::Topology>,
    /// The `--exclude` rules the recording was made with, as written:
    /// commands they matched were relayed but not recorded (see
    /// `crate::exclude`). Written only when there were some.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
}

impl Header {
    /// A header for a recording that starts now.
    pub fn new(upstream: Option<String>) -> Header {
        Header {
            version: super::FORMAT_VERSION,
            created: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            upstream,
            server_version: None,
            hello: None,
            db: None,
            listen: None,
            tls: false,
            redact_salt: None,
            cluster: None,
            excluded: Vec::new(),
        }
    }

    /// The same header with the server's `HELLO` fields (and its version,
    /// from them).
    pub fn with_hello(self, hello: Option<Value>) -> Header {
        let version = hello.as_ref().and_then(|h| h.map_get(b"version"));
        let server_version = version
            .and_then(Value::as_bytes)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .or(self.server_version);
        Header {
            server_version,
            hello,
            ..self
        }
    }

    /// The same header, saying the recorder listened on `addr`.
    pub fn listening_on(self, addr: std::net::SocketAddr) -> Header {
        Header {
            listen: Some(addr.to_string()),
            ..self
        }
    }

    /// Appends the header as one JSON line (with its `\n`) to `out`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        append_line(out, self);
    }
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request and the replies that answered it.
    Interaction(Interaction),
    /// Data the server sent that answers no request.
    Push(PushEvent),
    /// A client connection opened or closed.
    Connection(ConnectionEvent),
}

/// A request and its replies: `{"conn":1,"db":2,"seq":0,"at_ms":3,"took_us":120,"cmd":[…],"reply":…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interaction {
    /// The recorded connection (from 1); replay binds live connections to it.
    pub conn: u64,
    /// The database the command ran in (see [`crate::selected_db`]). On
    /// disk only when it is not 0, so most lines stay as they were.
    pub db: u32,
    /// Index of the request within its connection (from 0), to keep order.
    pub seq: u64,
    /// When the request arrived, in ms since the recording started (for
    /// `--timing recorded`).
    pub at_ms: u64,
    /// Time until the last reply byte, in µs (for `--timing recorded`).
    pub took_us: u64,
    /// The request, one entry per argument, exact bytes.
    pub cmd: Vec<Bytes>,
    /// The replies: usually one; several for SUBSCRIBE-like commands; none
    /// under `CLIENT REPLY OFF`. On disk: `reply`, `replies` or neither.
    pub replies: Vec<Value>,
}

/// Out-of-band data: `{"conn":1,"at_ms":5,"push":…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// The recorded connection that received it.
    pub conn: u64,
    /// When it arrived, in ms since the recording started.
    pub at_ms: u64,
    /// The pushed value (a RESP3 push, or a RESP2 pub/sub array).
    pub push: Value,
}

/// `{"conn":1,"at_ms":0,"event":"open"}`, `{"conn":1,"at_ms":9,"event":"close","by":"server"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionEvent {
    /// The recorded connection.
    pub conn: u64,
    /// When it happened, in ms since the recording started.
    pub at_ms: u64,
    /// Opened or closed.
    pub event: ConnState,
    /// A close the server made while the client was still there (`CLIENT
    /// KILL`, `QUIT`, a timeout or a limit): replay closes the live
    /// connection at the same point. Written as `"by":"server"`.
    pub by_server: bool,
    /// In a cluster recording, on an open event: the address of the node
    /// the connection talked to (as the cluster announced it), so replay
    /// serves it on that node's listener. Written as `"node"`.
    pub node: Option<String>,
}

/// What happened to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// `"open"`: the client connected.
    Open,
    /// `"close"`: either side closed.
    Close,
}

impl ConnState {
    /// The JSON text: `open` or `close`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::Open => "open",
            ConnState::Close => "close",
        }
    }
}

impl Event {
    /// The recorded connection the event belongs to.
    pub fn conn(&self) -> u64 {
        match self {
            Event::Interaction(i) => i.conn,
            Event::Push(p) => p.conn,
            Event::Connection(c) => c.conn,
        }
    }

    /// When the event started, in ms since the recording started.
    pub fn at_ms(&self) -> u64 {
        match self {
            Event::Interaction(i) => i.at_ms,
            Event::Push(p) => p.at_ms,
            Event::Connection(c) => c.at_ms,
        }
    }

    /// Appends the event as one JSON line (with its `\n`) to `out`. Cheap:
    /// no intermediate allocation besides base64 text for non-UTF-8 bytes.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        append_line(out, self);
    }
}

impl From<Interaction> for Event {
    fn from(i: Interaction) -> Event {
        Event::Interaction(i)
    }
}

impl From<PushEvent> for Event {
    fn from(p: PushEvent) -> Event {
        Event::Push(p)
    }
}

impl From<ConnectionEvent> for Event {
    fn from(c: ConnectionEvent) -> Event {
        Event::Connection(c)
    }
}

/// Serializes `item` plus `\n` onto `out`. Serializing these types into a
/// `Vec` cannot fail (no I/O, every key is a string); should it ever, the
/// partial text is removed so the file never gets half a line.
fn append_line<T: Serialize>(out: &mut Vec<u8>, item: &T) {
    let start = out.len();
    match serde_json::to_writer(&mut *out, item) {
        Ok(()) => out.push(b'\n'),
        Err(e) => {
            out.truncate(start);
            tracing::error!("cassette: cannot serialize an event: {e}");
        }
    }
}

// ---------------------------------------------------------------------------
// Serialization
// ---------------------------------------------------------------------------

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Event::Interaction(i) => {
                let n = 5 + usize::from(!i.replies.is_empty()) + usize::from(i.db != 0);
                let mut m = s.serialize_map(Some(n))?;
                m.serialize_entry("conn", &i.conn)?;
                if i.db != 0 {
                    m.serialize_entry("db", &i.db)?;
                }
                m.serialize_entry("seq", &i.seq)?;
                m.serialize_entry("at_ms", &i.at_ms)?;
                m.serialize_entry("took_us", &i.took_us)?;
                m.serialize_entry("cmd", &Chunks(&i.cmd))?;
                match i.replies.as_slice() {
                    [] => {}
                    [one] => m.serialize_entry("reply", &JsonValue(one))?,
                    many => m.serialize_entry("replies", &Items(many))?,
                }
                m.end()
            }
            Event::Push(p) => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("conn", &p.conn)?;
                m.serialize_entry("at_ms", &p.at_ms)?;
                m.serialize_entry("push", &JsonValue(&p.push))?;
                m.end()
            }
            Event::Connection(c) => {
                let n = 3 + usize::from(c.by_server) + usize::from(c.node.is_some());
                let mut m = s.serialize_map(Some(n))?;
                m.serialize_entry("conn", &c.conn)?;
                m.serialize_entry("at_ms", &c.at_ms)?;
                m.serialize_entry("event", c.event.as_str())?;
                if let Some(node) = &c.node {
                    m.serialize_entry("node", node)?;
                }
                if c.by_server {
                    m.serialize_entry("by", "server")?;
                }
                m.end()
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Deserialization
// ---------------------------------------------------------------------------

/// The keys an event line may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Conn,
    Db,
    Seq,
    AtMs,
    TookUs,
    Cmd,
    Reply,
    Replies,
    Push,
    Event,
    By,
    Node,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Conn => "conn",
            Field::Db => "db",
            Field::Seq => "seq",
            Field::AtMs => "at_ms",
            Field::TookUs => "took_us",
            Field::Cmd => "cmd",
            Field::Reply => "reply",
            Field::Replies => "replies",
            Field::Push => "push",
            Field::Event => "event",
            Field::By => "by",
            Field::Node => "node",
        }
    }
}

/// Reads an event key, rejecting unknown ones by name.
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for FieldSeed {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        Ok(match v {
            "conn" => Field::Conn,
            "db" => Field::Db,
            "seq" => Field::Seq,
            "at_ms" => Field::AtMs,
            "took_us" => Field::TookUs,
            "cmd" => Field::Cmd,
            "reply" => Field::Reply,
            "replies" => Field::Replies,
            "push" => Field::Push,
            "event" => Field::Event,
            "by" => Field::By,
            "node" => Field::Node,
            other => {
                return Err(E::custom(format_args!(
                    "unknown key {other:?} in an event (expected conn, db, seq, at_ms, took_us, cmd, reply, replies, push, event, by or node)"
                )))
            }
        })
    }
}

/// Reads `"open"` / `"close"`.
struct ConnStateSeed;

impl<'de> DeserializeSeed<'de> for ConnStateSeed {
    type Value = ConnState;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ConnState, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ConnStateSeed {
    type Value = ConnState;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"open\" or \"close\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ConnState, E> {
        match v {
            "open" => Ok(ConnState::Open),
            "close" => Ok(ConnState::Close),
            other => Err(E::custom(format_args!(
                "unknown connection event {other:?} (expected \"open\" or \"close\")"
            ))),
        }
    }
}

/// Who closed a connection, as the `by` key says.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum ClosedBy {
    Server,
    Client,
}

/// Builds an [`Event`] from one JSON line. With a source buffer (see
/// [`EventSeed::sharing`]) strings are sliced from it instead of copied.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventSeed<'s> {
    src: Source<'s>,
}

impl<'s> EventSeed<'s> {
    /// A seed for a line that is part of `src` (zero-copy strings).
    pub fn sharing(src: &'s Bytes) -> Self {
        EventSeed {
            src: Source(Some(src)),
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        EventSeed::default().deserialize(d)
    }
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = Event;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Event, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = Event;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
        let src = self.src;
        let mut conn = None;
        let mut db = None;
        let mut seq = None;
        let mut at_ms = None;
        let mut took_us = None;
        let mut cmd = None;
        let mut reply = None;
        let mut replies = None;
        let mut push = None;
        let mut event = None;
        let mut by = None;
        let mut node = None;
        while let Some(field) = map.next_key_seed(FieldSeed)? {
            // Check for duplicates before parsing the value: cheaper, and the
            // error points at the repeated key.
            let dup = match field {
                Field::Conn => conn.is_some(),
                Field::Db => db.is_some(),
                Field::Seq => seq.is_some(),
                Field::AtMs => at_ms.is_some(),
                Field::TookUs => took_us.is_some(),
                Field::Cmd => cmd.is_some(),
                Field::Reply => reply.is_some(),
                Field::Replies => replies.is_some(),
                Field::Push => push.is_some(),
                Field::Event => event.is_some(),
                Field::By => by.is_some(),
                Field::Node => node.is_some(),
            };
            if dup {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {:?}",
                    field.name()
                )));
            }
            match field {
                Field::Conn => conn = Some(map.next_value::<u64>()?),
                Field::Db => db = Some(map.next_value::<u32>()?),
                Field::Seq => seq = Some(map.next_value::<u64>()?),
                Field::AtMs => at_ms = Some(map.next_value::<u64>()?),
                Field::TookUs => took_us = Some(map.next_value::<u64>()?),
                Field::Cmd => cmd = Some(map.next_value_seed(ChunksSeed { src })?),
                Field::Reply => reply = Some(map.next_value_seed(ValueSeed::with_source(src))?),
                Field::Replies => replies = Some(map.next_value_seed(ItemsSeed::top(src))?),
                Field::Push => push = Some(map.next_value_seed(ValueSeed::with_source(src))?),
                Field::Event => event = Some(map.next_value_seed(ConnStateSeed)?),
                Field::By => by = Some(matches!(map.next_value()?, ClosedBy::Server)),
                Field::Node => node = Some(map.next_value::<String>()?),
            }
        }

        let kinds =
            usize::from(cmd.is_some()) + usize::from(push.is_some()) + usize::from(event.is_some());
        if kinds == 0 {
            return Err(de::Error::custom(
                "not an event: a line needs \"cmd\" (an interaction), \"push\" or \"event\" (a connection event)",
            ));
        }
        if kinds > 1 {
            return Err(de::Error::custom(
                "a line is exactly one of an interaction (\"cmd\"), a push (\"push\") or a connection event (\"event\")",
            ));
        }
        let conn = conn.ok_or_else(|| de::Error::missing_field("conn"))?;
        let at_ms = at_ms.unwrap_or(0);

        if let Some(cmd) = cmd {
            let replies = match (reply, replies) {
                (Some(_), Some(_)) => {
                    return Err(de::Error::custom(
                        "an interaction has \"reply\" (one) or \"replies\" (a list), not both",
                    ))
                }
                (Some(one), None) => vec![one],
                (None, Some(many)) => many,
                (None, None) => Vec::new(),
            };
            return Ok(Event::Interaction(Interaction {
                conn,
                db: db.unwrap_or(0),
                seq: seq.ok_or_else(|| de::Error::missing_field("seq"))?,
                at_ms,
                took_us: took_us.unwrap_or(0),
                cmd,
                replies,
            }));
        }

        let stray = [
            (db.is_some(), Field::Db),
            (seq.is_some(), Field::Seq),
            (took_us.is_some(), Field::TookUs),
            (reply.is_some(), Field::Reply),
            (replies.is_some(), Field::Replies),
        ];
        if let Some((_, field)) = stray.iter().find(|(present, _)| *present) {
            return Err(de::Error::custom(format_args!(
                "key {:?} belongs to an interaction (a line with \"cmd\")",
                field.name()
            )));
        }
        if push.is_some() && by.is_some() {
            return Err(de::Error::custom("\"by\" belongs to a close event"));
        }
        if node.is_some() && event != Some(ConnState::Open) {
            return Err(de::Error::custom("\"node\" belongs to an open event"));
        }
        Ok(match (push, event) {
            (Some(push), _) => Event::Push(PushEvent { conn, at_ms, push }),
            (None, Some(event)) => {
                if by.is_some() && event != ConnState::Close {
                    return Err(de::Error::custom("\"by\" belongs to a close event"));
                }
                Event::Connection(ConnectionEvent {
                    conn,
                    at_ms,
                    event,
                    by_server: by.unwrap_or(false),
                    node,
                })
            }
            // `kinds == 1` and `cmd` is None, so one of them is set.
            (None, None) => return Err(de::Error::custom("not an event")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ev: &Event) -> String {
        let mut out = Vec::new();
        ev.write_line(&mut out);
        String::from_utf8(out).expect("utf-8")
    }

    fn parse(s: &str) -> Result<Event, String> {
        serde_json::from_str::<Event>(s).map_err(|e| e.to_string())
    }

    fn set_ok() -> Interaction {
        Interaction {
            conn: 1,
            db: 0,
            seq: 0,
            at_ms: 3,
            took_us: 120,
            cmd: vec!["SET".into(), "k".into(), "v".into()],
            replies: vec![Value::simple("OK")],
        }
    }

    #[test]
    fn interaction_text_matches_design() {
        let ev = Event::from(set_ok());
        let text = line(&ev);
        assert_eq!(
            text,
            "{\"conn\":1,\"seq\":0,\"at_ms\":3,\"took_us\":120,\"cmd\":[\"SET\",\"k\",\"v\"],\"reply\":{\"+\":\"OK\"}}\n"
        );
        assert_eq!(parse(&text), Ok(ev));
    }

    #[test]
    fn reply_count_chooses_the_key() {
        let mut i = set_ok();
        i.replies.clear();
        let none = line(&Event::from(i.clone()));
        assert!(!none.contains("reply"), "{none}");
        assert_eq!(parse(&none), Ok(Event::from(i.clone())));

        i.replies = vec![Value::Integer(1), Value::Integer(2)];
        let many = line(&Event::from(i.clone()));
        assert!(many.contains("\"replies\":[1,2]"), "{many}");
        assert_eq!(parse(&many), Ok(Event::from(i)));
    }

    #[test]
    fn push_and_connection_text() {
        let push = Event::Push(PushEvent {
            conn: 1,
            at_ms: 5,
            push: Value::Push(vec![
                Value::bulk("message"),
                Value::bulk("ch"),
                Value::bulk("hi"),
            ]),
        });
        let text = line(&push);
        assert_eq!(
            text,
            "{\"conn\":1,\"at_ms\":5,\"push\":{\">\":[\"message\",\"ch\",\"hi\"]}}\n"
        );
        assert_eq!(parse(&text), Ok(push));

        let open = Event::Connection(ConnectionEvent {
            conn: 1,
            at_ms: 0,
            event: ConnState::Open,
            by_server: false,
            node: None,
        });
        let text = line(&open);
        assert_eq!(text, "{\"conn\":1,\"at_ms\":0,\"event\":\"open\"}\n");
        assert_eq!(parse(&text), Ok(open));
    }

    #[test]
    fn keys_in_any_order_and_optional_timings() {
        let ev = parse(r#"{"reply":1,"cmd":["INCR","n"],"seq":4,"conn":2}"#).expect("parses");
        assert_eq!(
            ev,
            Event::Interaction(Interaction {
                conn: 2,
                db: 0,
                seq: 4,
                at_ms: 0,
                took_us: 0,
                cmd: vec!["INCR".into(), "n".into()],
                replies: vec![Value::Integer(1)],
            })
        );
    }

    #[test]
    fn bad_events_name_the_problem() {
        let cases = [
            (
                r#"{"conn":1,"seq":0,"cmd":[],"colour":1}"#,
                "unknown key \"colour\"",
            ),
            (
                r#"{"conn":1,"seq":0,"cmd":[],"conn":2}"#,
                "duplicate key \"conn\"",
            ),
            (r#"{"conn":1}"#, "not an event"),
            (r#"{"conn":1,"cmd":[],"event":"open"}"#, "exactly one of"),
            (
                r#"{"conn":1,"seq":0,"cmd":[],"reply":1,"replies":[]}"#,
                "not both",
            ),
            (r#"{"conn":1,"event":"opened"}"#, "unknown connection event"),
            (
                r#"{"conn":1,"event":"open","seq":1}"#,
                "belongs to an interaction",
            ),
            (r#"{"seq":0,"cmd":[]}"#, "missing field `conn`"),
            (r#"{"conn":1,"cmd":[]}"#, "missing field `seq`"),
            (r#"{"conn":-1,"seq":0,"cmd":[]}"#, "invalid value"),
            (r#"[1]"#, "invalid type"),
        ];
        for (json, want) in cases {
            match parse(json) {
                Ok(ev) => panic!("{json} parsed as {ev:?}"),
                Err(e) => assert!(e.contains(want), "{json}: {e}"),
            }
        }
    }

    #[test]
    fn db_is_written_only_when_not_zero() {
        let mut i = set_ok();
        assert!(!line(&Event::Interaction(i.clone())).contains("\"db\""));
        i.db = 2;
        let text = line(&Event::Interaction(i.clone()));
        assert!(
            text.starts_with("{\"conn\":1,\"db\":2,\"seq\":0,"),
            "{text}"
        );
        assert_eq!(parse(&text), Ok(Event::Interaction(i)));
        assert!(parse(r#"{"conn":1,"db":1,"event":"open"}"#)
            .is_err_and(|e| e.contains("belongs to an interaction")));
    }

    #[test]
    fn header_text() {
        let h = Header {
            version: 1,
            created: "2026-11-21T10:00:00Z".into(),
            upstream: Some("127.0.0.1:6379".into()),
            server_version: None,
            hello: None,
            db: None,
            listen: None,
            tls: false,
            redact_salt: None,
            cluster: None,
            excluded: Vec::new(),
        };
        let mut out = Vec::new();
        h.write_line(&mut out);
        assert_eq!(
            out,
            b"{\"resplay\":1,\"created\":\"2026-11-21T10:00:00Z\",\"upstream\":\"127.0.0.1:6379\"}\n"
        );
        let now = Header::new(None);
        assert_eq!(now.version, 1);
        assert!(
            now.created.ends_with('Z') && now.created.len() == 24,
            "{}",
            now.created
        );
    }
}
