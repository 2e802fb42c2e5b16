//! Steering a running resplay through its control API (`--admin`), with real
//! clients (redis-py, ioredis) and a real redis-server: a switch from record
//! to replay with connections reset or kept, messages and invalidations
//! published to subscribers in RESP2 and RESP3, and bad requests refused.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::admin::{admin_of, http, http_text};
use common::{resplay_bin, RedisServer, Resplay};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn status(admin: &str) -> Value {
    let (code, value) = http(admin, "GET", "/status", None);
    assert_eq!(code, 200, "{value}");
    value
}

fn post(admin: &str, path: &str, body: Value) -> (u16, Value) {
    http(admin, "POST", path, Some(&body))
}

/// Fails with the way to install a missing client library.
fn require_clients() {
    let py = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .expect("python3 must be installed");
    assert!(
        py.success(),
        "redis-py is not installed: run `pip install redis` (.ci/run does)"
    );
    if !repo()
        .join("tests/clients/node/node_modules/ioredis")
        .exists()
    {
        panic!("ioredis is not installed: run `npm ci --prefix tests/clients/node` (.ci/run does)");
    }
}

/// A client program under test, talking over stdin/stdout lines.
struct Program {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    /// Every stdout line so far.
    seen: Vec<String>,
}

impl Program {
    fn start(argv: &[&str], redis_port: u16, admin: &str) -> Program {
        require_clients();
        let mut child = Command::new(argv[0])
            .args(&argv[1..])
            .current_dir(repo())
            .env("REDIS_PORT", redis_port.to_string())
            .env("RESPLAY_ADMIN", admin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Program {
            name: argv.join(" "),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits (30 s at most) for the next line starting with `tag`; returns
    /// its JSON (`null` for a bare tag). Lines before it are kept in `seen`.
    fn expect(&mut self, tag: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    let Some(rest) = line.strip_prefix(tag) else {
                        continue;
                    };
                    if rest.is_empty() {
                        return Value::Null;
                    }
                    if let Some(json) = rest.strip_prefix(' ') {
                        return serde_json::from_str(json)
                            .unwrap_or_else(|e| panic!("{}: {e}: {line}", self.name));
                    }
                }
                Err(_) => {
                    let err = self.stderr_now();
                    panic!(
                        "{}: no '{tag}' line; stdout so far {:?}; stderr {err}",
                        self.name, self.seen
                    )
                }
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Kills the program and returns what it wrote to stderr.
    fn stderr_now(&mut self) -> String {
        let _ = self.child.kill();
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        err
    }

    /// Waits for `done` and a successful exit.
    fn finish(mut self) {
        self.expect("done");
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut stderr) = self.child.stderr.take() {
                    let _ = stderr.read_to_string(&mut err);
                }
                assert!(status.success(), "{}: {status}: {err}", self.name);
                return;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// resplay recording from a fresh redis-server, with the control API.
fn recording(extra: &[&str]) -> (tempfile::TempDir, RedisServer, Resplay, String) {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("steer.jsonl");
    let redis = RedisServer::start();
    let mut args = vec!["--admin", "0"];
    args.extend_from_slice(extra);
    let resplay = Resplay::record(&redis.url(), &cassette, &args);
    let admin = admin_of(&resplay);
    (dir, redis, resplay, admin)
}

/// The program does its work while recording and switches to replay
/// itself; the test then kills redis-server, so all that follows is served
/// from the cassette. Returns the program, still running, and the switch's
/// answer.
fn switch_under(
    argv: &[&str],
    extra: &[&str],
) -> (
    Program,
    RedisServer,
    Resplay,
    String,
    tempfile::TempDir,
    Value,
) {
    let (dir, mut redis, resplay, admin) = recording(extra);
    let mut program = Program::start(argv, resplay.port, &admin);
    let recorded = program.expect("work");
    assert!(
        recorded.as_array().is_some_and(|w| w.len() == 6),
        "{recorded}"
    );
    let switch = program.expect("switch");
    redis.kill();
    program.send("go");
    let replayed = program.expect("work");
    assert_eq!(replayed, recorded, "replay answers as recording did");
    (program, redis, resplay, admin, dir, switch)
}

/// The switch's answer: the recording's summary, and replay now.
fn assert_switched(switch: &Value, cassette_dir: &Path) {
    let previous = switch["previous"].as_str().unwrap();
    assert!(previous.contains("recorded"), "{switch}");
    assert_eq!(switch["status"]["mode"], "replay", "{switch}");
    let cassette = Path::new(switch["status"]["cassette"].as_str().unwrap());
    assert_eq!(cassette.parent().unwrap(), cassette_dir, "{switch}");
}

/// After the replayed work: nothing missed, the mode is replay.
fn assert_replayed_all(admin: &str) -> Value {
    let now = status(admin);
    assert_eq!(now["mode"], "replay", "{now}");
    assert_eq!(now["missed"], 0, "{now}");
    assert!(now["served"].as_u64().unwrap() >= 10, "{now}");
    now
}

/// The kept subscriber gets a message published through the API after the
/// switch, on its plain and its pattern subscription.
fn still_subscribed_after_the_switch(program: &mut Program, admin: &str) {
    program.expect("subscribed");
    let (code, answer) = post(
        admin,
        "/publish",
        json!({"channel": "steer.plain", "message": "after"}),
    );
    assert_eq!((code, answer), (200, json!({"receivers": 2})));
    program.send("published");
    assert_eq!(
        program.expect("after"),
        json!([
            ["message", null, "steer.plain", "after"],
            ["pmessage", "steer.*", "steer.plain", "after"]
        ])
    );
}

#[test]
fn redis_py_switch_with_reset_reconnects_and_replays() {
    let (mut program, _redis, resplay, admin, dir, switch) =
        switch_under(&["python3", "tests/clients/steer_switch.py", "reset"], &[]);
    assert_switched(&switch, dir.path());
    assert_eq!(switch["status"]["reset_connections_on_switch"], true);
    // One connection while recording; the switch closed it and redis-py's
    // retry made a second, to the replay.
    let connects = program.expect("connects");
    assert_eq!(connects, json!({"main": 2}));
    program.finish();
    assert_replayed_all(&admin);
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

#[test]
fn ioredis_switch_with_reset_reconnects_and_replays() {
    let (mut program, _redis, resplay, admin, dir, switch) = switch_under(
        &["node", "tests/clients/node/steer_switch.js", "reset"],
        &[],
    );
    assert_switched(&switch, dir.path());
    let reconnecting = program.expect("reconnecting");
    assert!(
        reconnecting["main"].as_u64().unwrap() >= 1,
        "ioredis reconnected by itself: {reconnecting}"
    );
    program.finish();
    assert_replayed_all(&admin);
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

#[test]
fn redis_py_switch_keeping_connections_keeps_db_protocol_and_subscriptions() {
    let (mut program, _redis, resplay, admin, dir, switch) = switch_under(
        &["python3", "tests/clients/steer_switch.py", "keep"],
        &["--keep-connections"],
    );
    assert_switched(&switch, dir.path());
    assert_eq!(switch["status"]["reset_connections_on_switch"], false);
    // db 2 (not db 0's value) and a RESP3 map, before and after.
    assert_eq!(program.seen[1], "state [\"db2\", \"dict\"]");
    assert_eq!(program.expect("state"), json!(["db2", "dict"]));
    assert_eq!(program.expect("same-sockets"), json!([true, true]));
    // No connection made since the switch (the pipeline's is the second).
    let connects = program
        .seen
        .iter()
        .find(|l| l.starts_with("connects"))
        .unwrap();
    assert_eq!(connects, r#"connects {"main": 2, "sub": 1}"#);
    assert_eq!(program.expect("connects"), json!({"main": 2, "sub": 1}));
    let before = program
        .seen
        .iter()
        .find(|l| l.starts_with("before"))
        .unwrap();
    assert_eq!(
        before,
        "before [[\"message\", null, \"steer.plain\", \"before\"], \
         [\"pmessage\", \"steer.*\", \"steer.plain\", \"before\"]]"
    );
    still_subscribed_after_the_switch(&mut program, &admin);
    program.finish();
    let now = assert_replayed_all(&admin);
    assert_eq!(now["connections"], 0, "{now}");
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

#[test]
fn ioredis_switch_keeping_connections_keeps_db_and_subscriptions() {
    let (mut program, _redis, resplay, admin, dir, switch) = switch_under(
        &["node", "tests/clients/node/steer_switch.js", "keep"],
        &["--keep-connections"],
    );
    assert_switched(&switch, dir.path());
    assert_eq!(program.expect("state"), json!(["db2"]));
    assert_eq!(
        program.expect("reconnecting"),
        json!({"db0": 0, "main": 0, "sub": 0})
    );
    let before = program
        .seen
        .iter()
        .find(|l| l.starts_with("before"))
        .unwrap();
    assert_eq!(
        before,
        r#"before [["message",null,"steer.plain","before"],["pmessage","steer.*","steer.plain","before"]]"#
    );
    still_subscribed_after_the_switch(&mut program, &admin);
    assert_eq!(
        program.expect("reconnecting"),
        json!({"db0": 0, "main": 0, "sub": 0})
    );
    program.finish();
    assert_replayed_all(&admin);
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

/// `resplay ctl --admin ADMIN ARGS…`.
fn ctl(admin: &str, args: &[&str]) -> std::process::Output {
    Command::new(resplay_bin())
        .args(["ctl", "--admin", admin])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run resplay ctl")
}

/// Publishes through the API to redis-py (RESP2 and RESP3) and ioredis
/// (RESP2) subscribers, channel and pattern, and invalidates a key a
/// redis-py RESP3 client tracks; checks the receiver counts and exactly
/// what each client got.
fn publish_to_clients(resplay_port: u16, admin: &str) {
    let mut py = Program::start(
        &["python3", "tests/clients/steer_publish.py"],
        resplay_port,
        admin,
    );
    let mut node = Program::start(
        &["node", "tests/clients/node/steer_publish.js"],
        resplay_port,
        admin,
    );
    assert_eq!(py.expect("headline"), Value::Null);
    py.expect("ready");
    node.expect("ready");
    let publish = |body: Value| {
        let (code, answer) = post(admin, "/publish", body);
        assert_eq!(code, 200, "{answer}");
        answer["receivers"].as_u64().unwrap()
    };
    // Each of three connections: its channel and its pattern subscription.
    assert_eq!(
        publish(json!({"channel": "news.tech", "message": "hello"})),
        6
    );
    // The pattern only.
    assert_eq!(
        publish(json!({"channel": "news.sport", "message": "goal"})),
        3
    );
    // No shard subscriber, and no subscriber of this channel.
    assert_eq!(
        publish(json!({"channel": "news.tech", "message": "x", "shard": true})),
        0
    );
    assert_eq!(publish(json!({"channel": "weather", "message": "x"})), 0);
    let (code, answer) = post(admin, "/invalidate", json!({"keys": ["news:headline"]}));
    assert_eq!((code, answer), (200, json!({"receivers": 1})));
    py.send("published");
    node.send("published");
    let expected = json!([
        ["message", null, "news.tech", "hello"],
        ["pmessage", "news.*", "news.tech", "hello"],
        ["pmessage", "news.*", "news.sport", "goal"]
    ]);
    assert_eq!(py.expect("resp2"), expected, "redis-py RESP2");
    assert_eq!(py.expect("resp3"), expected, "redis-py RESP3");
    assert_eq!(node.expect("resp2"), expected, "ioredis");
    assert_eq!(py.expect("headline"), Value::Null);
    assert_eq!(
        py.expect("invalidated"),
        json!([["invalidate", ["news:headline"]]])
    );
    py.finish();
    node.finish();
}

#[test]
fn publish_and_invalidate_reach_clients_in_record_then_in_replay() {
    let (dir, mut redis, resplay, admin) = recording(&[]);
    publish_to_clients(resplay.port, &admin);
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
    redis.kill();

    // The recording holds the subscriptions; Redis is gone.
    let cassette = dir.path().join("steer.jsonl");
    let resplay = Resplay::replay(&cassette, &["--admin", "0"]);
    let admin = admin_of(&resplay);
    publish_to_clients(resplay.port, &admin);
    let now = status(&admin);
    assert_eq!(now["missed"], 0, "{now}");
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

/// `GET k` on a raw connection: the reply's bytes.
fn get_k(conn: &mut TcpStream) -> String {
    conn.write_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn bad_requests_are_refused_with_a_message_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.jsonl");
    std::fs::write(
        &good,
        "{\"resplay\":1,\"created\":\"x\"}\n{\"conn\":1,\"seq\":0,\"cmd\":[\"GET\",\"k\"],\"reply\":\"v\"}\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"resplay\":1,\"created\":\"x\"}\nnot json\n").unwrap();
    let missing = dir.path().join("missing.jsonl");
    // Replay with no upstream: record and passthrough are impossible.
    let resplay = Resplay::replay(&good, &["--admin", "0"]);
    let admin = admin_of(&resplay);
    let before = status(&admin);
    assert_eq!(before["mode"], "replay");
    assert_eq!(before["cassette"], good.to_str().unwrap());
    let mut client = TcpStream::connect(("127.0.0.1", resplay.port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(get_k(&mut client), "$1\r\nv\r\n");

    let refused: [(Value, &[&str]); 8] = [
        (
            json!({"mode": "bogus"}),
            &["unknown variant `bogus`", "replay"],
        ),
        (
            json!({"mode": "replay", "cassete": "x.jsonl"}),
            &["unknown field `cassete`"],
        ),
        (json!({"cassette": "x.jsonl"}), &["missing field `mode`"]),
        (json!({"mode": "replay", "cassette": bad}), &["bad.jsonl:2"]),
        (
            json!({"mode": "replay", "cassette": missing}),
            &["missing.jsonl"],
        ),
        (
            json!({"mode": "record", "cassette": dir.path().join("new.jsonl")}),
            &["record needs an upstream"],
        ),
        (
            json!({"mode": "passthrough"}),
            &["passthrough needs an upstream"],
        ),
        (json!({"mode": "replay", "append": "yes"}), &["append"]),
    ];
    for (body, words) in refused {
        let (code, answer) = post(&admin, "/mode", body.clone());
        assert!((400..500).contains(&code), "{body} → {code} {answer}");
        let error = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{answer}"));
        for word in words {
            assert!(error.contains(word), "{body} → {error}");
        }
        let now = status(&admin);
        assert_eq!(now["mode"], "replay", "{body} → {now}");
        assert_eq!(now["cassette"], good.to_str().unwrap(), "{body} → {now}");
    }
    // Not JSON at all.
    let (code, _, answer) = http_text(&admin, "POST", "/mode", "mode=replay");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(code, 400, "{answer}");
    assert!(answer["error"].is_string(), "{answer}");
    let (code, answer) = post(&admin, "/publish", json!({"channel": "c"}));
    assert!((400..500).contains(&code), "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("message"),
        "{answer}"
    );
    // Nothing reset the connection, and the same replay still serves it.
    assert_eq!(get_k(&mut client), "$1\r\nv\r\n");
    assert_eq!(status(&admin)["connections"], 1);

    // The same from the command line: exit status 1, the message on stderr.
    let out = ctl(
        &admin,
        &["mode", "replay", "--cassette", missing.to_str().unwrap()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("resplay ctl: 400") && stderr.contains("missing.jsonl"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let out = ctl(&admin, &["mode", "record"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("record needs an upstream"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ctl(&admin, &["status"]);
    assert!(out.status.success());
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["mode"], "replay");
    assert_eq!(shown["served"], 2);
    // A control API that is not there.
    let nobody = format!("127.0.0.1:{}", common::free_port());
    let out = ctl(&nobody, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the control API"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

#[test]
fn a_recording_refuses_its_own_cassette_and_a_missing_directory() {
    let (dir, _redis, resplay, admin) = recording(&[]);
    let own = dir.path().join("steer.jsonl");
    let (code, answer) = post(&admin, "/mode", json!({"mode": "record", "cassette": own}));
    assert_eq!(code, 400, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("already recording"),
        "{answer}"
    );
    let nowhere = dir.path().join("no/such/dir/c.jsonl");
    let (code, answer) = post(
        &admin,
        "/mode",
        json!({"mode": "record", "cassette": nowhere}),
    );
    assert_eq!(code, 400, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("does not exist"),
        "{answer}"
    );
    let now = status(&admin);
    assert_eq!(now["mode"], "record");
    assert_eq!(now["cassette"], own.to_str().unwrap());
    // Reset with no client, then passthrough and back: both work.
    let (code, answer) = post(&admin, "/reset", json!(null));
    assert_eq!((code, answer), (200, json!({"closed": 0})));
    let (code, answer) = post(&admin, "/mode", json!({"mode": "passthrough"}));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"]["mode"], "passthrough");
    assert!(answer["status"].get("cassette").is_none(), "{answer}");
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

/// A raw connection with `BLPOP nothing 30` in flight.
fn blocked_client(port: u16) -> TcpStream {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(b"*3\r\n$5\r\nBLPOP\r\n$7\r\nnothing\r\n$2\r\n30\r\n")
        .unwrap();
    conn
}

/// Polls `/status` (10 s at most) until `ready` holds.
fn status_when(admin: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = status(admin);
        if ready(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "gave up waiting; last {now}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_blocking_command_gets_the_drain_grace_and_status_shows_the_switch() {
    let (dir, _redis, resplay, admin) = recording(&[]);
    let mut blocked = blocked_client(resplay.port);
    status_when(&admin, |s| s["connections"] == 1);
    let switching = {
        let admin = admin.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let answer = post(&admin, "/mode", json!({"mode": "replay"}));
            (answer, started.elapsed())
        })
    };
    // While the BLPOP drains, the recording is still what serves it.
    let during = status_when(&admin, |s| s.get("switching_to").is_some());
    assert_eq!(during["mode"], "record", "{during}");
    assert_eq!(during["switching_to"], "replay", "{during}");
    let cassette = dir.path().join("steer.jsonl");
    assert_eq!(during["cassette"], cassette.to_str().unwrap(), "{during}");
    let ((code, answer), took) = switching.join().unwrap();
    assert_eq!(code, 200, "{answer}");
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_secs(15),
        "the switch waited the 5 s drain grace: {took:?}"
    );
    // The blocked client is closed with no reply.
    let mut buf = [0u8; 16];
    assert_eq!(blocked.read(&mut buf).unwrap_or(0), 0);
    let after = status(&admin);
    assert_eq!(after["mode"], "replay", "{after}");
    assert!(after.get("switching_to").is_none(), "{after}");
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

#[test]
fn a_switch_whose_caller_gives_up_still_completes() {
    let (_dir, _redis, resplay, admin) = recording(&[]);
    let _blocked = blocked_client(resplay.port);
    status_when(&admin, |s| s["connections"] == 1);
    // The request is sent, then its connection closed during the drain.
    let body = json!({"mode": "replay"}).to_string();
    let mut gave_up = TcpStream::connect(&admin).unwrap();
    write!(
        gave_up,
        "POST /mode HTTP/1.1\r\nhost: {admin}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    status_when(&admin, |s| s.get("switching_to").is_some());
    drop(gave_up);
    // The switch finishes after the drain grace, and replay serves.
    let after = status_when(&admin, |s| {
        s["mode"] == "replay" && s.get("switching_to").is_none()
    });
    assert_eq!(after["connections"], 0, "{after}");
    let mut client = TcpStream::connect(("127.0.0.1", resplay.port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 16];
    let n = client.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+PONG\r\n");
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

#[test]
fn a_connection_in_multi_is_closed_even_when_connections_are_kept() {
    let (_dir, _redis, resplay, admin) = recording(&["--keep-connections"]);
    let url = common::client_url(&resplay.url(), 3);
    let client = redis::Client::open(url).unwrap();
    let mut tracked = client.get_connection().unwrap();
    let mut in_multi = client.get_connection().unwrap();
    let run = |con: &mut redis::Connection, args: &[&str]| -> redis::RedisResult<redis::Value> {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query(con)
    };
    run(&mut tracked, &["CLIENT", "TRACKING", "on"]).unwrap();
    assert_eq!(run(&mut tracked, &["GET", "k"]).unwrap(), redis::Value::Nil);
    let (code, answer) = post(&admin, "/invalidate", json!({"keys": ["k"]}));
    assert_eq!((code, answer), (200, json!({"receivers": 1})));
    run(&mut in_multi, &["MULTI"]).unwrap();
    run(&mut in_multi, &["SET", "k", "v"]).unwrap();

    let (code, answer) = post(&admin, "/mode", json!({"mode": "replay"}));
    assert_eq!(code, 200, "{answer}");
    // The tracking client was carried over; the one in MULTI was not.
    assert_eq!(answer["status"]["connections"], 1, "{answer}");
    // Tracking itself does not carry over.
    let (code, answer) = post(&admin, "/invalidate", json!({"keys": ["k"]}));
    assert_eq!((code, answer), (200, json!({"receivers": 0})));
    // The transaction could not follow: its connection was closed, and the
    // queued SET never ran.
    let exec = run(&mut in_multi, &["EXEC"]).unwrap_err();
    assert!(exec.is_connection_dropped() || exec.is_io_error(), "{exec}");
    assert_eq!(run(&mut tracked, &["GET", "k"]).unwrap(), redis::Value::Nil);
    drop((tracked, in_multi));
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}

#[test]
fn the_config_file_turns_on_the_api_and_keeps_connections() {
    use common::raw::Raw;
    use resplay::resp::Value as Resp;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("resplay.toml");
    std::fs::write(
        &config,
        "admin = \"0\"\nreset_connections_on_start = false\n",
    )
    .unwrap();
    let cassette = dir.path().join("configured.jsonl");
    let mut redis = RedisServer::start();
    let resplay = Resplay::record(
        &redis.url(),
        &cassette,
        &["--config", config.to_str().unwrap()],
    );
    let admin = admin_of(&resplay);
    let mut client = Raw::connect(resplay.port);
    assert_eq!(client.call(&["SET", "k", "v"]), Resp::simple("OK"));
    assert_eq!(client.call(&["GET", "k"]), Resp::bulk("v"));
    let (code, answer) = post(&admin, "/mode", json!({"mode": "replay"}));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["status"]["reset_connections_on_switch"], false);
    redis.kill();
    // The same socket goes on, now answered from the cassette.
    assert_eq!(client.call(&["GET", "k"]), Resp::bulk("v"));
    assert_eq!(status(&admin)["connections"], 1);
    drop(client);
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
}
