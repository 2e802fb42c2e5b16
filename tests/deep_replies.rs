//! Replies nested thousands of levels deep, as a real Redis sends them.
//!
//! From Redis's own test suite (unit/scripting, "Script return recursive
//! object"): a Lua table that contains itself is answered `*1` nested until
//! Lua's C stack runs out (7995 levels on Redis 7), around
//! `-ERR reached lua stack limit`. The recorder must pass it on byte for
//! byte and keep the connection, the cassette must load and show, and replay
//! must serve the same bytes; in RESP2 and RESP3.

mod common;

use std::path::Path;
use std::process::Command;

use common::raw::Raw;
use common::{client_url, resplay_bin, RedisServer, Resplay, PROTOCOLS};
use resplay::resp::{Value, MAX_REPLY_DEPTH};

const SCRIPT: &str = "local a = {}; local b = {a}; a[1] = b; return a";
const LEVEL: &[u8] = b"*1\r\n";
const INNERMOST: &[u8] = b"-ERR reached lua stack limit\r\n";

/// On a fresh raw connection to `port`: switches to `protocol`, runs the
/// script and returns the reply's exact bytes, then checks the connection
/// still answers `PING`.
fn recursive_eval(port: u16, protocol: u8) -> Vec<u8> {
    let mut c = Raw::connect(port);
    if protocol == 3 {
        let hello = c.call(&["HELLO", "3"]);
        assert!(matches!(hello, Value::Map(_)), "{hello:?}");
    }
    c.send(&["EVAL", SCRIPT, "0"]);
    let reply = c.read_bytes();
    assert_eq!(c.call(&["PING"]), Value::simple("PONG"), "RESP{protocol}");
    reply
}

/// A `redis` crate client at `base` still works: SET then GET.
fn set_then_get(base: &str, protocol: u8) {
    let mut con = redis::Client::open(client_url(base, protocol))
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("SET")
        .arg("after")
        .arg("deep")
        .exec(&mut con)
        .unwrap();
    let got: String = redis::cmd("GET").arg("after").query(&mut con).unwrap();
    assert_eq!(got, "deep");
}

fn show(path: &Path, extra: &[&str]) -> String {
    let out = Command::new(resplay_bin())
        .arg("show")
        .args(extra)
        .arg(path)
        .output()
        .expect("run resplay show");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn recursive_lua_table_is_recorded_shown_and_replayed_byte_for_byte() {
    for protocol in PROTOCOLS {
        let server = RedisServer::start();
        let direct = recursive_eval(server.port, protocol);
        let depth = (direct.len() - INNERMOST.len()) / LEVEL.len();
        assert_eq!(direct, [LEVEL.repeat(depth), INNERMOST.to_vec()].concat());
        // Far past the old cap of 40, within the new one.
        assert!((1000..=MAX_REPLY_DEPTH).contains(&depth), "depth {depth}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep.jsonl");
        let recorder = Resplay::record(&server.url(), &path, &[]);
        assert_eq!(
            recursive_eval(recorder.port, protocol),
            direct,
            "RESP{protocol}: the recorder changed the reply"
        );
        set_then_get(&recorder.url(), protocol);
        let (code, log) = recorder.stop();
        assert_eq!(code, 0, "{log:?}");
        assert!(
            !log.iter()
                .any(|l| l.contains("WARN") || l.contains("ERROR")),
            "{log:?}"
        );

        let cassette = resplay::cassette::load(&path).expect("the cassette loads");
        let eval = cassette
            .interactions()
            .find(|i| i.cmd.first().is_some_and(|c| &c[..] == b"EVAL"))
            .expect("the EVAL is recorded");
        assert_eq!(
            resplay::resp::to_bytes(&eval.replies[0]),
            direct,
            "RESP{protocol}: the cassette holds another reply"
        );

        let listing = show(&path, &[]);
        let line = format!(
            "{}(error) ERR reached lua stack limit\n",
            "1) ".repeat(depth)
        );
        assert!(listing.contains(&line), "RESP{protocol}: {listing:.300}");
        // Re-emitted as JSON (the `Value` serializer, not the transcoder),
        // it loads back the same.
        let json = show(&path, &["--json"]);
        let again = resplay::cassette::parse(json.into_bytes(), &path).expect("loads");
        assert!(again.events == cassette.events, "RESP{protocol}");

        let replay = Resplay::replay(&path, &[]);
        assert_eq!(
            recursive_eval(replay.port, protocol),
            direct,
            "RESP{protocol}: replay served other bytes"
        );
        set_then_get(&replay.url(), protocol);
        let (code, log) = replay.stop();
        assert_eq!(code, 0, "{log:?}");

        // A miss passed through to the upstream: decoded, kept, forwarded.
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "{\"resplay\":1}\n").unwrap();
        let upstream = server.url();
        let passthrough = Resplay::replay(
            &empty,
            &["--on-miss", "passthrough", "--upstream", &upstream],
        );
        assert_eq!(
            recursive_eval(passthrough.port, protocol),
            direct,
            "RESP{protocol}: passthrough changed the reply"
        );
        assert_eq!(passthrough.stop().0, 0);
    }
}

/// A client request cannot nest: a 100 000-deep `*1` bomb gets Redis's own
/// protocol error at its second line, then the connection closes, on both
/// servers; nothing is recorded for it and the process lives on.
#[test]
fn nested_request_bomb_is_refused_cheaply() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let replay_path = dir.path().join("empty.jsonl");
    std::fs::write(&replay_path, "{\"resplay\":1}\n").unwrap();
    let replay = Resplay::replay(&replay_path, &[]);
    let bomb = LEVEL.repeat(100_000);
    for port in [server.port, recorder.port, replay.port] {
        let mut c = Raw::connect(port);
        // The server may close before it has read it all.
        let _ = c.try_send_raw(&bomb);
        assert_eq!(
            c.read(),
            Value::error("ERR Protocol error: expected '$', got '*'"),
            "port {port}"
        );
        assert!(c.is_closed(), "port {port}");
        assert_eq!(Raw::connect(port).call(&["PING"]), Value::simple("PONG"));
    }
    assert_eq!(recorder.stop().0, 0);
    assert_eq!(replay.stop().0, 0);
}
