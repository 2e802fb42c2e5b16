//! A client that leaves while Redis holds its command back (issue 21): a
//! worker in `BLPOP q 0` is stopped. Direct, Redis frees it at once; through
//! resplay its upstream connection must go at once too, or the ghost left
//! blocked there takes the next job pushed (`LLEN q` 0 instead of 1, the
//! job gone). For every blocking family, `MONITOR` and `SUBSCRIBE`, in
//! record and in replay's passthrough; the cassette keeps the unanswered
//! request and the close, and replay does not answer it either. Every
//! test runs against Redis 7.0 and Redis 8.2.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::raw::Raw;
use common::servers::ServerKind;
use common::{cassette_lines, resplay_bin, RedisServer, Resplay};
use resplay::resp::Value;

/// The servers each test runs against, one after the other.
const KINDS: [ServerKind; 2] = [ServerKind::Redis7, ServerKind::Redis8];

/// How long Redis may take to see the client gone (it is immediate direct).
const GONE_WITHIN: Duration = Duration::from_secs(2);

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A number from the real Redis's `INFO clients`.
fn info_clients(direct: &mut Raw, field: &str) -> i64 {
    let reply = direct.call(&["INFO", "clients"]);
    let Value::Bulk(text) = &reply else {
        panic!("INFO clients: {reply:?}");
    };
    let text = String::from_utf8_lossy(text).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

fn blocked(direct: &mut Raw) -> i64 {
    info_clients(direct, "blocked_clients")
}

/// Waits for the blocking command to reach Redis and block there.
fn wait_blocked(direct: &mut Raw, what: &str) {
    assert!(
        wait_until(Duration::from_secs(10), || blocked(direct) == 1),
        "{what}: never blocked upstream"
    );
}

/// After the client left: no client stays blocked upstream.
fn assert_ghost_gone(direct: &mut Raw, what: &str) {
    let mut last = -1;
    assert!(
        wait_until(GONE_WITHIN, || {
            last = blocked(direct);
            last == 0
        }),
        "{what}: blocked_clients is still {last} {GONE_WITHIN:?} after the client closed"
    );
}

fn int(n: i64) -> Value {
    Value::Integer(n)
}

/// One blocking command family: what it waits on, the job a producer
/// pushes once the worker left, and how to see directly that the job is
/// still there.
struct Family {
    name: &'static str,
    setup: &'static [&'static [&'static str]],
    block: &'static [&'static str],
    push: &'static [&'static str],
    /// Checks directly that the job is still there; the `&str` names the
    /// server and family in its messages.
    check: fn(&mut Raw, &str),
}

fn llen_is_1(direct: &mut Raw, what: &str) {
    assert_eq!(
        direct.call(&["LLEN", "q"]),
        int(1),
        "{what}: the job is gone"
    );
    assert_eq!(direct.call(&["LLEN", "done"]), int(0), "{what}");
}

fn zcard_is_1(direct: &mut Raw, what: &str) {
    assert_eq!(
        direct.call(&["ZCARD", "z"]),
        int(1),
        "{what}: the job is gone"
    );
}

fn xlen_is_1(direct: &mut Raw, what: &str) {
    assert_eq!(direct.call(&["XLEN", "s"]), int(1), "{what}");
}

/// The entry is still new to the group: no consumer was handed it.
fn group_still_has_the_entry(direct: &mut Raw, what: &str) {
    xlen_is_1(direct, what);
    let pending = direct.call(&["XPENDING", "s", "g"]);
    match &pending {
        Value::Array(items) => assert_eq!(items.first(), Some(&int(0)), "{what}: {pending:?}"),
        other => panic!("{what}: XPENDING: {other:?}"),
    }
    let read = direct.call(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "other",
        "COUNT",
        "10",
        "STREAMS",
        "s",
        ">",
    ]);
    assert!(
        matches!(read, Value::Array(_)),
        "{what}: the entry is gone: {read:?}"
    );
}

fn nothing(_: &mut Raw, _: &str) {}

const LIST: &[&[&str]] = &[];

const FAMILIES: &[Family] = &[
    Family {
        name: "BLPOP",
        setup: LIST,
        block: &["BLPOP", "q", "0"],
        push: &["LPUSH", "q", "job-1"],
        check: llen_is_1,
    },
    Family {
        name: "BRPOP",
        setup: LIST,
        block: &["BRPOP", "q", "0"],
        push: &["LPUSH", "q", "job-1"],
        check: llen_is_1,
    },
    Family {
        name: "BRPOPLPUSH",
        setup: LIST,
        block: &["BRPOPLPUSH", "q", "done", "0"],
        push: &["LPUSH", "q", "job-1"],
        check: llen_is_1,
    },
    Family {
        name: "BLMOVE",
        setup: LIST,
        block: &["BLMOVE", "q", "done", "LEFT", "RIGHT", "0"],
        push: &["LPUSH", "q", "job-1"],
        check: llen_is_1,
    },
    Family {
        name: "BLMPOP",
        setup: LIST,
        block: &["BLMPOP", "0", "1", "q", "LEFT"],
        push: &["LPUSH", "q", "job-1"],
        check: llen_is_1,
    },
    Family {
        name: "BZPOPMIN",
        setup: LIST,
        block: &["BZPOPMIN", "z", "0"],
        push: &["ZADD", "z", "1", "job-1"],
        check: zcard_is_1,
    },
    Family {
        name: "BZPOPMAX",
        setup: LIST,
        block: &["BZPOPMAX", "z", "0"],
        push: &["ZADD", "z", "1", "job-1"],
        check: zcard_is_1,
    },
    Family {
        name: "BZMPOP",
        setup: LIST,
        block: &["BZMPOP", "0", "1", "z", "MIN"],
        push: &["ZADD", "z", "1", "job-1"],
        check: zcard_is_1,
    },
    Family {
        name: "XREAD",
        setup: LIST,
        block: &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
        push: &["XADD", "s", "*", "job", "1"],
        check: xlen_is_1,
    },
    Family {
        name: "XREADGROUP",
        setup: &[&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]],
        block: &[
            "XREADGROUP",
            "GROUP",
            "g",
            "worker",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
        push: &["XADD", "s", "*", "job", "1"],
        check: group_still_has_the_entry,
    },
    Family {
        name: "WAIT",
        setup: LIST,
        // No replica will ever acknowledge: blocks for good.
        block: &["WAIT", "1", "0"],
        push: &["LPUSH", "q", "job-1"],
        check: nothing,
    },
];

fn family(name: &str) -> &'static Family {
    FAMILIES.iter().find(|f| f.name == name).unwrap()
}

/// The cassette's line for `cmd` (the first), with its index; `what`
/// names the run in the panic.
fn line_of(lines: &[serde_json::Value], cmd: &[&str], what: &str) -> (usize, serde_json::Value) {
    let want = serde_json::json!(cmd);
    lines
        .iter()
        .enumerate()
        .find(|(_, l)| l["cmd"] == want)
        .map(|(i, l)| (i, l.clone()))
        .unwrap_or_else(|| panic!("{what}: no {cmd:?} in {lines:#?}"))
}

fn unanswered(line: &serde_json::Value) -> bool {
    line.get("cmd").is_some() && line.get("reply").is_none() && line.get("replies").is_none()
}

/// `cmd` is recorded with no reply, and its connection's next lines are
/// the unanswered requests after it, then its close (by the client).
fn assert_unanswered_then_closed(lines: &[serde_json::Value], cmd: &[&str], what: &str) {
    let (at, line) = line_of(lines, cmd, what);
    assert!(unanswered(&line), "{what}: {line}");
    let conn = &line["conn"];
    let next = lines[at + 1..]
        .iter()
        .filter(|l| &l["conn"] == conn)
        .find(|l| !unanswered(l))
        .unwrap_or_else(|| panic!("{what}: nothing after {line}"));
    assert_eq!(next["event"], "close", "{what}: {next}");
    assert!(next.get("by").is_none(), "{what}: {next}");
}

/// Record: a worker blocks through resplay and is stopped; the ghost must
/// be gone at once and the next job must stay in Redis.
fn worker_stopped_while_recording(kind: ServerKind, name: &str) {
    let what = &format!("{} {name}", kind.name());
    let f = family(name);
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut direct = Raw::connect(server.port);
    for setup in f.setup {
        direct.call(setup);
    }

    let mut worker = Raw::connect(recorder.port);
    worker.send(f.block);
    wait_blocked(&mut direct, what);
    drop(worker);
    assert_ghost_gone(&mut direct, what);

    // A producer pushes the next job through resplay.
    let mut producer = Raw::connect(recorder.port);
    let pushed = producer.call(f.push);
    assert!(!matches!(pushed, Value::Error(_)), "{what}: {pushed:?}");
    (f.check)(&mut direct, what);
    drop(producer);

    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{what}: {log:?}");
    assert_unanswered_then_closed(&cassette_lines(&path), f.block, what);
}

#[test]
fn blpop_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "BLPOP");
    }
}

#[test]
fn brpop_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "BRPOP");
    }
}

#[test]
fn brpoplpush_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "BRPOPLPUSH");
    }
}

#[test]
fn blmove_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "BLMOVE");
    }
}

#[test]
fn blmpop_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "BLMPOP");
    }
}

#[test]
fn bzpopmin_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "BZPOPMIN");
    }
}

#[test]
fn bzpopmax_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "BZPOPMAX");
    }
}

#[test]
fn bzmpop_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "BZMPOP");
    }
}

#[test]
fn xread_block_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "XREAD");
    }
}

#[test]
fn xreadgroup_block_worker_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "XREADGROUP");
    }
}

#[test]
fn wait_stopped_while_recording() {
    for kind in KINDS {
        worker_stopped_while_recording(kind, "WAIT");
    }
}

/// Lines of `CLIENT LIST` for clients in `MONITOR`.
fn monitors(direct: &mut Raw) -> usize {
    let reply = direct.call(&["CLIENT", "LIST"]);
    let Value::Bulk(text) = &reply else {
        panic!("CLIENT LIST: {reply:?}");
    };
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| {
            l.split(' ')
                .any(|f| f.starts_with("flags=") && f.contains('O'))
        })
        .count()
}

#[test]
fn monitor_stopped_while_recording() {
    for kind in KINDS {
        monitor_stopped(kind);
    }
}

fn monitor_stopped(kind: ServerKind) {
    let what = kind.name();
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut direct = Raw::connect(server.port);
    let mut watcher = Raw::connect(recorder.port);
    assert_eq!(watcher.call(&["MONITOR"]), Value::simple("OK"), "{what}");
    assert_eq!(monitors(&mut direct), 1, "{what}");
    drop(watcher);
    let mut left = usize::MAX;
    assert!(
        wait_until(GONE_WITHIN, || {
            left = monitors(&mut direct);
            left == 0
        }),
        "{what}: {left} MONITOR client(s) left upstream"
    );
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{what}: {log:?}");
}

#[test]
fn subscriber_stopped_while_recording() {
    for kind in KINDS {
        subscriber_stopped(kind);
    }
}

fn subscriber_stopped(kind: ServerKind) {
    let what = kind.name();
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut direct = Raw::connect(server.port);
    let mut subscriber = Raw::connect(recorder.port);
    subscriber.send(&["SUBSCRIBE", "jobs"]);
    let confirmed = subscriber.read();
    assert!(
        matches!(confirmed, Value::Array(_)),
        "{what}: {confirmed:?}"
    );
    let numsub = |direct: &mut Raw| {
        let reply = direct.call(&["PUBSUB", "NUMSUB", "jobs"]);
        match &reply {
            Value::Array(items) => items[1].clone(),
            _ => panic!("{what}: {reply:?}"),
        }
    };
    assert_eq!(numsub(&mut direct), int(1), "{what}");
    drop(subscriber);
    assert!(
        wait_until(GONE_WITHIN, || numsub(&mut direct) == int(0)),
        "{what}: the subscription outlived its client"
    );
    // A publisher is told nobody listens.
    assert_eq!(direct.call(&["PUBLISH", "jobs", "job-1"]), int(0), "{what}");
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{what}: {log:?}");
}

/// Pipelined behind a command Redis answers: that one keeps its reply, the
/// blocked one and the one queued behind it have none, in order, then the
/// close.
#[test]
fn pipeline_ending_in_a_block_records_what_was_answered() {
    for kind in KINDS {
        pipeline_ending_in_a_block(kind);
    }
}

fn pipeline_ending_in_a_block(kind: ServerKind) {
    let what = kind.name();
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut direct = Raw::connect(server.port);
    let mut worker = TcpStream::connect(("127.0.0.1", recorder.port)).unwrap();
    worker
        .write_all(
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
              *3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n\
              *2\r\n$3\r\nGET\r\n$1\r\na\r\n",
        )
        .unwrap();
    wait_blocked(&mut direct, &format!("{what} BLPOP"));
    drop(worker);
    assert_ghost_gone(&mut direct, &format!("{what} pipelined BLPOP"));
    assert_eq!(direct.call(&["LPUSH", "q", "job-1"]), int(1), "{what}");
    assert_eq!(direct.call(&["LLEN", "q"]), int(1), "{what}");
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{what}: {log:?}");

    let lines = cassette_lines(&path);
    let (set_at, set) = line_of(&lines, &["SET", "a", "1"], what);
    assert_eq!(set["reply"], serde_json::json!({"+": "OK"}), "{what}");
    let (blpop_at, blpop) = line_of(&lines, &["BLPOP", "q", "0"], what);
    let (get_at, get) = line_of(&lines, &["GET", "a"], what);
    assert!(set_at < blpop_at && blpop_at < get_at, "{what}: {lines:#?}");
    assert_eq!(
        (set["seq"].clone(), blpop["seq"].clone()),
        (0.into(), 1.into()),
        "{what}"
    );
    assert_eq!(get["seq"], 2, "{what}");
    assert!(get.get("reply").is_none(), "{what}: {get}");
    assert_unanswered_then_closed(&lines, &["BLPOP", "q", "0"], what);
    assert_unanswered_then_closed(&lines, &["GET", "a"], what);
}

/// `printf 'SET a 1\r\nGET a\r\n' | nc -N`: a client that half-closes after
/// its commands still gets their replies, as from Redis; one that
/// half-closes in `BLPOP` leaves no ghost.
#[test]
fn half_closed_client_gets_its_replies_and_leaves_no_ghost() {
    for kind in KINDS {
        half_closed_client(kind);
    }
}

fn half_closed_client(kind: ServerKind) {
    let what = kind.name();
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut direct = Raw::connect(server.port);

    let mut client = TcpStream::connect(("127.0.0.1", recorder.port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.write_all(b"SET a 1\r\nGET a\r\n").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"+OK\r\n$1\r\n1\r\n", "{what}");

    let mut worker = TcpStream::connect(("127.0.0.1", recorder.port)).unwrap();
    worker.write_all(b"BLPOP q 0\r\n").unwrap();
    wait_blocked(&mut direct, &format!("{what} BLPOP"));
    worker.shutdown(Shutdown::Write).unwrap();
    assert_ghost_gone(&mut direct, &format!("{what} half-closed BLPOP"));
    assert_eq!(direct.call(&["LPUSH", "q", "job-1"]), int(1), "{what}");
    assert_eq!(direct.call(&["LLEN", "q"]), int(1), "{what}");
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{what}: {log:?}");
    let lines = cassette_lines(&path);
    assert_eq!(
        line_of(&lines, &["GET", "a"], what).1["reply"],
        "1",
        "{what}"
    );
    assert_unanswered_then_closed(&lines, &["BLPOP", "q", "0"], what);
}

/// True when `stream` gets nothing within `wait`, and is not closed.
fn silent_for(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        Ok(n) => {
            eprintln!("got {n} byte(s): {:?}", &byte[..n]);
            false
        }
    }
}

/// A recorded `BLPOP` that never got its reply is not answered on replay
/// either (the worker waits until it leaves), and replay goes on serving
/// the others.
#[test]
fn replay_does_not_answer_a_recorded_unanswered_blpop() {
    for kind in KINDS {
        replay_unanswered_blpop(kind);
    }
}

fn replay_unanswered_blpop(kind: ServerKind) {
    let what = kind.name();
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut direct = Raw::connect(server.port);
    let mut worker = Raw::connect(recorder.port);
    worker.send(&["BLPOP", "q", "0"]);
    wait_blocked(&mut direct, &format!("{what} BLPOP"));
    drop(worker);
    assert_ghost_gone(&mut direct, &format!("{what} BLPOP"));
    let mut producer = Raw::connect(recorder.port);
    assert_eq!(producer.call(&["LPUSH", "q", "job-1"]), int(1), "{what}");
    assert_eq!(producer.call(&["LLEN", "q"]), int(1), "{what}");
    drop(producer);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{what}: {log:?}");
    drop(server);

    let replay = Resplay::replay(&path, &[]);
    let mut worker = TcpStream::connect(("127.0.0.1", replay.port)).unwrap();
    worker
        .write_all(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
        .unwrap();
    assert!(
        silent_for(&mut worker, Duration::from_millis(300)),
        "{what}: replay answered the BLPOP that was never answered"
    );
    let mut producer = Raw::connect(replay.port);
    assert_eq!(producer.call(&["LPUSH", "q", "job-1"]), int(1), "{what}");
    assert_eq!(producer.call(&["LLEN", "q"]), int(1), "{what}");
    assert_eq!(producer.call(&["PING"]), Value::simple("PONG"), "{what}");
    assert!(
        silent_for(&mut worker, Duration::from_millis(100)),
        "{what}"
    );
    drop(worker);
    assert_eq!(producer.call(&["LLEN", "q"]), int(1), "{what}");
    drop(producer);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{what}: {log:?}");
    assert!(
        log.iter().any(|l| l.contains("0 missed, 0 unused")),
        "{what}: {log:?}"
    );
}

/// A cassette with nothing in it: every command is a miss.
fn empty_cassette(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("empty.jsonl");
    std::fs::write(&path, "{\"resplay\":1}\n").unwrap();
    path
}

/// Replay's `--on-miss passthrough`: the `BLPOP` goes to the upstream on a
/// connection of its own, which must go with the client.
#[test]
fn passthrough_blpop_worker_stopped() {
    for kind in KINDS {
        passthrough_worker_stopped(kind);
    }
}

fn passthrough_worker_stopped(kind: ServerKind) {
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = empty_cassette(dir.path());
    let upstream = server.url();
    let replay = Resplay::replay(
        &path,
        &["--on-miss", "passthrough", "--upstream", &upstream],
    );
    let mut direct = Raw::connect(server.port);
    for name in ["BLPOP", "BZPOPMIN", "XREADGROUP", "WAIT"] {
        let what = &format!("{} passthrough {name}", kind.name());
        let f = family(name);
        for setup in f.setup {
            direct.call(setup);
        }
        let mut worker = Raw::connect(replay.port);
        // Pipelined behind it: Redis would not run it while blocked.
        worker.send(f.block);
        worker.send(&["LPUSH", "q", "from-the-worker"]);
        wait_blocked(&mut direct, what);
        drop(worker);
        assert_ghost_gone(&mut direct, what);
        let mut producer = Raw::connect(replay.port);
        let pushed = producer.call(f.push);
        assert!(!matches!(pushed, Value::Error(_)), "{what}: {pushed:?}");
        (f.check)(&mut direct, what);
        direct.call(&["FLUSHALL"]);
    }
    let what = kind.name();
    // The replay server still serves.
    let mut other = Raw::connect(replay.port);
    assert_eq!(other.call(&["PING"]), Value::simple("PONG"), "{what}");
    drop(other);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{what}: {log:?}");
}

/// `resplay run --mode new-episodes`: a worker killed in `BLPOP` leaves no
/// ghost, and the extended cassette keeps the `BLPOP` unanswered.
#[test]
fn new_episodes_worker_killed_in_blpop() {
    for kind in KINDS {
        new_episodes_worker_killed(kind);
    }
}

/// The clients are the `redis-cli` on PATH whatever the server: only the
/// server is the kind's (the Redis 8 cache holds no `redis-cli`, and a
/// 7.0 client speaks to an 8.2 server as any client does).
fn new_episodes_worker_killed(kind: ServerKind) {
    let what = kind.name();
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = empty_cassette(dir.path());
    let upstream = server.url();
    let script = "timeout 1 redis-cli -p \"$REDIS_PORT\" BLPOP q 0; \
                  redis-cli -p \"$REDIS_PORT\" LPUSH q job-1";
    let out = Command::new(resplay_bin())
        .args(["run", "--mode", "new-episodes", "--cassette"])
        .arg(&path)
        .args(["--upstream", &upstream, "--", "sh", "-c", script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: {stderr}");
    let mut direct = Raw::connect(server.port);
    assert_eq!(blocked(&mut direct), 0, "{what}");
    assert_eq!(direct.call(&["LLEN", "q"]), int(1), "{what}: {stderr}");
    let lines = cassette_lines(&path);
    let (_, blpop) = line_of(&lines, &["BLPOP", "q", "0"], what);
    assert!(blpop.get("reply").is_none(), "{what}: {blpop}");
    assert_eq!(
        line_of(&lines, &["LPUSH", "q", "job-1"], what).1["reply"],
        1,
        "{what}"
    );
}
