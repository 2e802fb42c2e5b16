//! The web console's server side, against a real redis-server: the live
//! tail (`GET /events`, server-sent events) carries each command a client
//! sends, with its outcome, in record, replay (served, repeated, missed,
//! passed through) and passthrough; and `GET /ui` serves the page.
//!
//! The page itself runs in a real headless browser in
//! [`the_console_page_drives_a_running_resplay`] (`tests/browser/console.py`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::admin::{admin_of, http_raw};
use common::{redis_cli, RedisServer, Resplay};

fn switch(admin: &str, spec: Value) {
    let (code, _, body) = http_raw(admin, "POST", "/mode", Some(&spec));
    assert_eq!(code, 200, "POST /mode {spec}: {body}");
}

/// One event of the stream: its name and its data, parsed.
#[derive(Debug)]
struct Sse {
    name: String,
    data: Value,
}

/// A subscription to `GET /events`, read on a thread of its own.
struct Events {
    events: mpsc::Receiver<Sse>,
    /// Everything received so far, for failure messages.
    seen: Vec<Sse>,
}

impl Events {
    /// Subscribes (with `token`, if any) and waits for the stream's
    /// `ready`: from then on every command is on it.
    fn open(admin: &str, token: Option<&str>) -> Events {
        let mut stream = TcpStream::connect(admin).expect("connect to the control API");
        let auth = token
            .map(|t| format!("authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "GET /events HTTP/1.1\r\nhost: {admin}\r\naccept: text/event-stream\r\n{auth}\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "GET /events: {status}");
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("content-type:") {
                assert!(lower.contains("text/event-stream"), "{line}");
            }
            chunked |= lower.starts_with("transfer-encoding:") && lower.contains("chunked");
            if line == "\r\n" {
                break;
            }
        }
        assert!(chunked, "the stream is sent chunked");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            while let Some(chunk) = read_chunk(&mut reader) {
                text.push_str(&chunk);
                while let Some(end) = text.find("\n\n") {
                    let block: String = text.drain(..end + 2).collect();
                    if let Some(event) = parse_block(&block) {
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut events = Events {
            events,
            seen: Vec::new(),
        };
        let ready = events.next();
        assert_eq!(ready.name, "ready", "{ready:?}");
        events
    }

    fn next(&mut self) -> Sse {
        match self.events.recv_timeout(Duration::from_secs(20)) {
            Ok(event) => event,
            Err(e) => panic!("no event within 20 s ({e}); seen {:?}", self.seen),
        }
    }

    /// The next interaction whose command is `cmd`; the ones before it are
    /// kept in `seen`.
    fn interaction(&mut self, cmd: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let event = self.next();
            let found = event.name == "interaction" && event.data["cmd"] == cmd;
            if found {
                return event.data;
            }
            self.seen.push(event);
        }
        panic!("no interaction '{cmd}'; seen {:?}", self.seen)
    }
}

/// One chunk of a chunked HTTP body; `None` at its end.
fn read_chunk(reader: &mut impl BufRead) -> Option<String> {
    let mut size = String::new();
    reader.read_line(&mut size).ok()?;
    let size = usize::from_str_radix(size.trim(), 16).ok()?;
    if size == 0 {
        return None;
    }
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    String::from_utf8(chunk).ok()
}

fn parse_block(block: &str) -> Option<Sse> {
    let mut name = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("event: ") {
            name = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push_str(v);
        }
    }
    // Comments (`: keep-alive`) have neither.
    let name = name?;
    let data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
    Some(Sse { name, data })
}

fn assert_event(event: &Value, mode: &str, outcome: &str, db: u64, reply: &str) {
    assert_eq!(event["mode"], mode, "{event}");
    assert_eq!(event["outcome"], outcome, "{event}");
    assert_eq!(event["db"], db, "{event}");
    assert_eq!(event["reply"], reply, "{event}");
    assert!(event["conn"].as_u64().is_some_and(|c| c > 0), "{event}");
    let at = event["at"].as_u64().expect("at");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(at <= now && now - at < 60_000, "at {at}, now {now}");
}

#[test]
fn the_tail_shows_each_command_as_it_is_recorded_served_missed_or_passed_through() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("app.jsonl");
    let resplay = Resplay::record(&redis.url(), &cassette, &["--admin", "127.0.0.1:0"]);
    let admin = admin_of(&resplay);
    let port = resplay.port;
    let mut events = Events::open(&admin, None);

    // Record: what is written to the cassette, as it is written.
    assert_eq!(
        redis_cli(port, &["SET", "greeting", "hello"], None).trim(),
        "OK"
    );
    let set = events.interaction("SET greeting hello");
    assert_event(&set, "record", "recorded", 0, "OK");
    redis_cli(port, &["-n", "2", "RPUSH", "list", "a b", "c"], None);
    let rpush = events.interaction("RPUSH list \"a b\" c");
    assert_event(&rpush, "record", "recorded", 2, "(integer) 2");
    redis_cli(port, &["GET", "greeting"], None);
    let get = events.interaction("GET greeting");
    assert_event(&get, "record", "recorded", 0, "\"hello\"");
    // A password never shows.
    redis_cli(port, &["AUTH", "hunter2"], None);
    let auth = events
        .interaction_matching(|cmd| cmd.starts_with("AUTH "))
        .to_string();
    assert!(!auth.contains("hunter2"), "{auth}");

    // Replay of the same cassette: served, then repeated once the one
    // recording is used, and a command never recorded is missed.
    switch(&admin, json!({"mode": "replay"}));
    redis_cli(port, &["GET", "greeting"], None);
    let served = events.interaction("GET greeting");
    assert_event(&served, "replay", "served", 0, "\"hello\"");
    redis_cli(port, &["GET", "greeting"], None);
    let repeated = events.interaction("GET greeting");
    assert_event(&repeated, "replay", "repeated", 0, "\"hello\"");
    redis_cli(port, &["GET", "never"], None);
    let missed = events.interaction("GET never");
    assert_eq!(missed["outcome"], "missed", "{missed}");
    assert_eq!(missed["mode"], "replay", "{missed}");
    let error = missed["reply"].as_str().unwrap();
    assert!(
        error.contains("no recorded reply for 'GET never'"),
        "{error}"
    );

    // A replay that passes its misses to the upstream.
    switch(&admin, json!({"mode": "replay", "record_misses": true}));
    redis_cli(port, &["INCR", "counter"], None);
    let passed = events.interaction("INCR counter");
    assert_event(&passed, "replay", "passthrough", 0, "(integer) 1");

    // Passthrough: relayed, written nowhere.
    switch(&admin, json!({"mode": "passthrough"}));
    redis_cli(port, &["INCR", "counter"], None);
    let relayed = events.interaction("INCR counter");
    assert_event(&relayed, "passthrough", "passthrough", 0, "(integer) 2");
    resplay.stop();
}

impl Events {
    fn interaction_matching(&mut self, cmd: impl Fn(&str) -> bool) -> Value {
        loop {
            let event = self.next();
            if event.name == "interaction" && event.data["cmd"].as_str().is_some_and(&cmd) {
                return event.data;
            }
            self.seen.push(event);
        }
    }
}

#[test]
fn long_commands_and_replies_are_cut_and_two_watchers_see_the_same() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("big.jsonl");
    let resplay = Resplay::record(&redis.url(), &cassette, &["--admin", "127.0.0.1:0"]);
    let admin = admin_of(&resplay);
    let mut first = Events::open(&admin, None);
    let mut second = Events::open(&admin, None);
    let big = "x".repeat(50_000);
    redis_cli(resplay.port, &["SET", "big", &big], None);
    redis_cli(resplay.port, &["GET", "big"], None);
    for events in [&mut first, &mut second] {
        let set = events.interaction_matching(|c| c.starts_with("SET big xxx"));
        let cmd = set["cmd"].as_str().unwrap();
        assert_eq!(cmd.chars().count(), 201, "{cmd}");
        assert!(cmd.ends_with('…'), "{cmd}");
        let get = events.interaction("GET big");
        let reply = get["reply"].as_str().unwrap();
        assert!(reply.starts_with("\"xxx"), "{reply}");
        assert_eq!(reply.chars().count(), 201, "{reply}");
    }
    // The cassette has the whole value: only the tail cuts it.
    drop((first, second));
    resplay.stop();
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(text.contains(&big));
}

#[test]
fn the_page_is_served_whole_with_a_policy_that_keeps_it_to_this_server() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("ui.jsonl");
    let resplay = Resplay::record(&redis.url(), &cassette, &["--admin", "127.0.0.1:0"]);
    let admin = admin_of(&resplay);
    let (code, head, page) = http_raw(&admin, "GET", "/ui", None);
    assert_eq!(code, 200, "{head}");
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(head.contains("connect-src 'self'"), "{head}");
    assert!(page.starts_with("<!doctype html>"), "{page}");
    // Style and script are in the page: nothing else to fetch.
    assert!(page.contains("fetch(\"/events\""), "no script in the page");
    assert!(!page.contains("<script src") && !page.contains("<link rel=\"stylesheet\""));
    // GET /ui changes nothing: still recording, nothing recorded.
    let (_, _, status) = http_raw(&admin, "GET", "/status", None);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["mode"], "record");
    assert_eq!(status["recorded"], 0);
    resplay.stop();
}

#[test]
fn the_console_page_drives_a_running_resplay() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("console.jsonl");
    let resplay = Resplay::record(&redis.url(), &cassette, &["--admin", "127.0.0.1:0"]);
    let admin = admin_of(&resplay);
    let port = resplay.port.to_string();
    common::browser::run_script("console.py", &[&admin, &port, cassette.to_str().unwrap()]);
    // What the page did, it did through the API: the server replays, and
    // counted the miss a client met there.
    let (_, _, status) = http_raw(&admin, "GET", "/status", None);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["mode"], "replay", "{status}");
    assert_eq!(status["missed"], 1, "{status}");
    let (_, _, faults) = http_raw(&admin, "GET", "/faults", None);
    assert_eq!(faults, "[]");
    resplay.stop();
}

#[test]
fn the_console_asks_for_the_token_the_api_wants() {
    const TOKEN: &str = "console-test-token";
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("token.jsonl");
    let resplay = Resplay::record(
        &redis.url(),
        &cassette,
        &["--admin", "127.0.0.1:0", "--admin-token", TOKEN],
    );
    let admin = admin_of(&resplay);
    // The page holds no data and is served without the token; the tail
    // is data, and needs it.
    let (code, _, _) = http_raw(&admin, "GET", "/ui", None);
    assert_eq!(code, 200);
    let (code, _, body) = http_raw(&admin, "GET", "/events", None);
    assert_eq!(code, 401, "{body}");
    let mut events = Events::open(&admin, Some(TOKEN));
    redis_cli(resplay.port, &["SET", "k", "v"], None);
    assert_event(
        &events.interaction("SET k v"),
        "record",
        "recorded",
        0,
        "OK",
    );
    drop(events);
    let port = resplay.port.to_string();
    common::browser::run_script(
        "console.py",
        &[&admin, &port, cassette.to_str().unwrap(), TOKEN],
    );
    resplay.stop();
}
