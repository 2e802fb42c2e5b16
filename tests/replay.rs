//! Replay mode: record against a real redis-server, stop it, replay.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::raw::Raw;
use common::servers::ServerKind;
use common::{client_url, workload, RedisServer, Resplay, PROTOCOLS};
use resplay::resp::Value;

/// The servers the pub/sub tests record against, one after the other.
const KINDS: [ServerKind; 2] = [ServerKind::Redis7, ServerKind::Redis8];

struct Recorded {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// Records `session` against a fresh redis-server, then stops both.
fn record(session: impl FnOnce(&RedisServer, u16)) -> Recorded {
    record_on(ServerKind::Redis7, session)
}

/// [`record`] against a server of the given kind.
fn record_on(kind: ServerKind, session: impl FnOnce(&RedisServer, u16)) -> Recorded {
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    session(&server, recorder.port);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{}: {log:?}", kind.name());
    Recorded { _dir: dir, path }
}

/// Sends every workload command on one raw connection (the first half one
/// at a time, the rest as one pipeline) and returns the exact reply bytes.
fn raw_workload(port: u16, protocol: u8) -> Vec<Vec<u8>> {
    let mut c = Raw::connect(port);
    if protocol == 3 {
        c.call(&["HELLO", "3"]);
    }
    let commands = workload::commands();
    let half = commands.len() / 2;
    let mut replies = Vec::new();
    for args in &commands[..half] {
        c.send_args(args);
        replies.push(c.read_bytes());
    }
    for args in &commands[half..] {
        c.send_args(args);
    }
    for _ in half..commands.len() {
        replies.push(c.read_bytes());
    }
    replies
}

#[test]
fn replay_is_byte_identical_to_the_recorded_run() {
    for protocol in PROTOCOLS {
        let mut recorded_bytes = Vec::new();
        let mut recorded_values = Vec::new();
        let cassette = record(|_, port| {
            recorded_bytes = raw_workload(port, protocol);
            // And once more through the redis crate, pipelined.
            let mut con =
                redis::Client::open(client_url(&format!("redis://127.0.0.1:{port}"), protocol))
                    .unwrap()
                    .get_connection()
                    .unwrap();
            recorded_values = workload::run(&mut con);
        });
        let replay = Resplay::replay(&cassette.path, &[]);
        let replayed = raw_workload(replay.port, protocol);
        assert_eq!(replayed.len(), recorded_bytes.len());
        for (i, (a, b)) in replayed.iter().zip(&recorded_bytes).enumerate() {
            assert_eq!(
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b),
                "RESP{protocol} command {i}: {:?}",
                workload::commands()[i]
            );
        }
        let mut con = redis::Client::open(client_url(&replay.url(), protocol))
            .unwrap()
            .get_connection()
            .unwrap();
        assert_eq!(workload::run(&mut con), recorded_values, "RESP{protocol}");
        drop(con);
        let (code, log) = replay.stop();
        assert_eq!(code, 0);
        let report = log
            .iter()
            .find(|l| l.contains("served"))
            .expect("report line");
        assert!(report.contains(" 0 missed, 0 unused"), "{report}");
    }
}

#[test]
fn connections_replayed_in_another_interleaving() {
    let cassette = record(|_, port| {
        let mut a = Raw::connect(port);
        let mut b = Raw::connect(port);
        a.call(&["SET", "user:1", "alice"]);
        b.call(&["SET", "user:2", "bob"]);
        assert_eq!(a.call(&["INCR", "hits"]), Value::Integer(1));
        assert_eq!(b.call(&["INCR", "hits"]), Value::Integer(2));
        assert_eq!(a.call(&["GET", "user:1"]), Value::bulk("alice"));
        assert_eq!(b.call(&["GET", "user:2"]), Value::bulk("bob"));
    });
    let replay = Resplay::replay(&cassette.path, &["--strict"]);
    // The second process runs first this time.
    let mut b = Raw::connect(replay.port);
    let mut a = Raw::connect(replay.port);
    assert_eq!(b.call(&["SET", "user:2", "bob"]), Value::simple("OK"));
    assert_eq!(b.call(&["INCR", "hits"]), Value::Integer(2));
    assert_eq!(a.call(&["SET", "user:1", "alice"]), Value::simple("OK"));
    assert_eq!(b.call(&["GET", "user:2"]), Value::bulk("bob"));
    assert_eq!(a.call(&["INCR", "hits"]), Value::Integer(1));
    assert_eq!(a.call(&["GET", "user:1"]), Value::bulk("alice"));
    drop((a, b));
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "strict replay with everything used: {log:?}");
}

#[test]
fn volatile_arguments_are_ignored_by_rules() {
    let fresh = |n: u64| {
        format!(
            "{:08x}-4b1e-9c1a-{:012x}",
            n.wrapping_mul(2654435761) as u32,
            n
        )
    };
    let cassette = record(|_, port| {
        let mut c = Raw::connect(port);
        let key = format!("session:{}", fresh(1));
        assert_eq!(
            c.call(&["SET", &key, "data", "PX", "60000"]),
            Value::simple("OK")
        );
        assert_eq!(c.call(&["GET", &key]), Value::bulk("data"));
    });
    let rules = [
        "--ignore",
        "SET session:* <any> PX <any>",
        "--ignore",
        "GET session:*",
    ];
    let replay = Resplay::replay(&cassette.path, &rules);
    let mut c = Raw::connect(replay.port);
    let key = format!("session:{}", fresh(2));
    assert_eq!(
        c.call(&["SET", &key, "data", "PX", "1"]),
        Value::simple("OK")
    );
    assert_eq!(c.call(&["GET", &key]), Value::bulk("data"));
    // Without the rules it is a miss.
    let plain = Resplay::replay(&cassette.path, &[]);
    let mut c = Raw::connect(plain.port);
    assert!(c.call(&["GET", &key]).is_error());
}

#[test]
fn misses_name_the_closest_command_and_strict_fails() {
    let cassette = record(|_, port| {
        let mut c = Raw::connect(port);
        c.call(&["SET", "user:8", "x"]);
        c.call(&["GET", "user:8"]);
        c.call(&["DEL", "unused"]);
    });
    let replay = Resplay::replay(&cassette.path, &["--strict"]);
    let mut c = Raw::connect(replay.port);
    let reply = c.call(&["GET", "user:7"]);
    assert_eq!(
        reply,
        Value::error(
            "ERR resplay: no recorded reply for 'GET user:7' (closest recorded: 'GET user:8')"
        )
    );
    // Handshake commands are made up, not misses; names are case-insensitive.
    assert_eq!(c.call(&["ping"]), Value::simple("PONG"));
    assert_eq!(c.call(&["get", "user:8"]), Value::bulk("x"));
    drop(c);
    let (code, log) = replay.stop();
    assert_ne!(code, 0, "--strict must fail: {log:?}");
    let all = log.join("\n");
    assert!(all.contains("1 missed"), "{all}");
    assert!(all.contains("missed: GET user:7"), "{all}");
    assert!(all.contains("unused: SET user:8 x"), "{all}");
    assert!(all.contains("unused: DEL unused"), "{all}");
}

#[test]
fn no_repeat_and_repeat() {
    let cassette = record(|_, port| {
        let mut c = Raw::connect(port);
        assert_eq!(c.call(&["INCR", "n"]), Value::Integer(1));
    });
    let replay = Resplay::replay(&cassette.path, &[]);
    let mut c = Raw::connect(replay.port);
    assert_eq!(c.call(&["INCR", "n"]), Value::Integer(1));
    assert_eq!(
        c.call(&["INCR", "n"]),
        Value::Integer(1),
        "last reply repeats"
    );
    let strict = Resplay::replay(&cassette.path, &["--no-repeat"]);
    let mut c = Raw::connect(strict.port);
    assert_eq!(c.call(&["INCR", "n"]), Value::Integer(1));
    assert!(c.call(&["INCR", "n"]).is_error());
}

#[test]
fn passthrough_sends_misses_upstream() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    std::fs::write(
        &path,
        "{\"resplay\":1,\"created\":\"2026-11-21T10:00:00Z\"}\n\
         {\"conn\":1,\"seq\":0,\"at_ms\":0,\"took_us\":5,\"cmd\":[\"GET\",\"k\"],\"reply\":\"recorded\"}\n",
    )
    .unwrap();
    let mut direct = Raw::connect(server.port);
    direct.call(&["SET", "k", "live"]);
    direct.call(&["SET", "other", "live-other"]);
    let replay = Resplay::replay(
        &path,
        &["--on-miss", "passthrough", "--upstream", &server.url()],
    );
    let mut c = Raw::connect(replay.port);
    assert_eq!(c.call(&["GET", "k"]), Value::bulk("recorded"));
    assert_eq!(c.call(&["GET", "other"]), Value::bulk("live-other"));
    let (code, log) = replay.stop();
    assert_eq!(code, 0);
    assert!(log.join("\n").contains("1 passed through"), "{log:?}");
}

#[test]
fn pubsub_replay_delivers_messages_after_publish() {
    for kind in KINDS {
        for protocol in PROTOCOLS {
            pubsub_replay(kind, protocol);
        }
    }
}

fn pubsub_replay(kind: ServerKind, protocol: u8) {
    let what = &format!("{} RESP{protocol}", kind.name());
    let cassette = record_on(kind, |_, port| {
        let mut sub = Raw::connect(port);
        if protocol == 3 {
            sub.call(&["HELLO", "3"]);
        }
        sub.call(&["SUBSCRIBE", "news"]);
        let mut publisher = Raw::connect(port);
        assert_eq!(
            publisher.call(&["PUBLISH", "news", "hello"]),
            Value::Integer(1),
            "{what}"
        );
        sub.read();
    });
    let replay = Resplay::replay(&cassette.path, &[]);
    let mut sub = Raw::connect(replay.port);
    if protocol == 3 {
        let hello = sub.call(&["HELLO", "3"]);
        assert!(matches!(hello, Value::Map(_)), "{what}: {hello:?}");
    }
    let confirmation = sub.call(&["SUBSCRIBE", "news"]);
    assert_eq!(
        confirmation.is_push(),
        protocol == 3,
        "{what}: {confirmation:?}"
    );
    let mut publisher = Raw::connect(replay.port);
    assert_eq!(
        publisher.call(&["PUBLISH", "news", "hello"]),
        Value::Integer(1),
        "{what}"
    );
    let message = sub.read();
    assert_eq!(message.is_push(), protocol == 3, "{what}: {message:?}");
    let items = message.elements().unwrap();
    assert_eq!(items[0], Value::bulk("message"), "{what}: {message:?}");
    assert_eq!(items[2], Value::bulk("hello"), "{what}: {message:?}");
}

/// A subscriber and a publisher that open with the same commands (as
/// ioredis does: `CLIENT SETINFO`, refused by Redis before 7.2 and so
/// recorded, then `INFO`), replayed with the subscriber connecting first:
/// it is bound to the publisher's recording on the shared opening, and the
/// bindings must be exchanged when SUBSCRIBE tells them apart, or the
/// message goes to the publisher (ioredis: "Command queue state error").
#[test]
fn twins_with_a_shared_opening_get_their_own_pushes() {
    for kind in KINDS {
        for protocol in PROTOCOLS {
            twins_with_a_shared_opening(kind, protocol);
        }
    }
}

fn twins_with_a_shared_opening(kind: ServerKind, protocol: u8) {
    let what = &format!("{} RESP{protocol}", kind.name());
    let opening: [&[&str]; 2] = [&["CONFIG", "GET", "maxmemory"], &["DBSIZE"]];
    let cassette = record_on(kind, |_, port| {
        // The publisher opens first, so its recording comes first.
        let mut publisher = Raw::connect(port);
        let mut sub = Raw::connect(port);
        for c in [&mut publisher, &mut sub] {
            if protocol == 3 {
                c.call(&["HELLO", "3"]);
            }
            for args in opening {
                c.call(args);
            }
        }
        sub.call(&["SUBSCRIBE", "news"]);
        assert_eq!(
            publisher.call(&["PUBLISH", "news", "hello"]),
            Value::Integer(1),
            "{what}"
        );
        sub.read();
    });
    let replay = Resplay::replay(&cassette.path, &["--strict"]);
    let mut sub = Raw::connect(replay.port);
    let mut publisher = Raw::connect(replay.port);
    for c in [&mut sub, &mut publisher] {
        if protocol == 3 {
            c.call(&["HELLO", "3"]);
        }
        for args in opening {
            c.call(args);
        }
    }
    sub.call(&["SUBSCRIBE", "news"]);
    assert_eq!(
        publisher.call(&["PUBLISH", "news", "hello"]),
        Value::Integer(1),
        "{what}"
    );
    let message = sub.read();
    let items = message.elements().unwrap();
    assert_eq!(items[0], Value::bulk("message"), "{what}: {message:?}");
    assert_eq!(items[2], Value::bulk("hello"), "{what}: {message:?}");
    assert_eq!(
        publisher.call(&["PING"]),
        Value::simple("PONG"),
        "{what}: the publisher got no message"
    );
    drop((sub, publisher));
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{what}: {log:?}");
}

#[test]
fn resp3_recording_replayed_to_a_resp2_client() {
    let mut direct_resp2 = Vec::new();
    let commands: Vec<Vec<&str>> = vec![
        vec!["HSET", "h", "a", "1"],
        vec!["HGETALL", "h"],
        vec!["ZADD", "z", "1.5", "m"],
        vec!["ZSCORE", "z", "m"],
        vec!["SADD", "s", "x"],
        vec!["SMEMBERS", "s"],
        vec!["GET", "nothing"],
        vec!["BLPOP", "empty", "0.1"],
        vec!["SISMEMBER", "s", "x"],
    ];
    let cassette = record(|server, port| {
        let mut c = Raw::connect(port);
        c.call(&["HELLO", "3"]);
        for cmd in &commands {
            c.call(cmd);
        }
        // What Redis itself sends a RESP2 client, for comparison.
        let mut d = Raw::connect(server.port);
        d.call(&["FLUSHALL"]);
        for cmd in &commands {
            d.send(cmd);
            direct_resp2.push(d.read_bytes());
        }
    });
    let replay = Resplay::replay(&cassette.path, &[]);
    let mut c = Raw::connect(replay.port);
    for (cmd, expected) in commands.iter().zip(&direct_resp2) {
        c.send(cmd);
        let got = c.read_bytes();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "{cmd:?}"
        );
    }
}

#[test]
fn hostile_input_gets_redis_errors_in_both_modes() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let replay = Resplay::replay(&path, &[]);
    let cases: &[(&[u8], &str)] = &[
        (b"*3000000000\r\n", "invalid multibulk length"),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
            "expected '$', got 'f'",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
            "invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n",
            "invalid bulk length",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
            "invalid bulk length",
        ),
        (b"*1\r\nfoo\r\n", "expected '$', got 'f'"),
        (
            b"set \"\"\"test-key\"\"\" test-value\r\nping\r\n",
            "unbalanced quotes in request",
        ),
        (b"*1\r\n*1\r\n", "expected '$', got '*'"),
    ];
    for port in [server.port, recorder.port, replay.port] {
        for (input, text) in cases {
            let mut c = Raw::connect(port);
            // An earlier pipelined command is answered first.
            let mut bytes = b"PING\r\n".to_vec();
            bytes.extend_from_slice(input);
            c.send_raw(&bytes);
            assert_eq!(c.read(), Value::simple("PONG"), "port {port}");
            assert_eq!(
                c.read(),
                Value::error(format!("ERR Protocol error: {text}")),
                "port {port} {text}"
            );
            assert!(
                c.is_closed(),
                "port {port}: connection must close after {text}"
            );
        }
        // Empty lines, *0 and negative counts are skipped silently.
        let mut c = Raw::connect(port);
        c.send_raw(b"\r\n*0\r\n*-10\r\nPING\r\n");
        assert_eq!(c.read(), Value::simple("PONG"));
    }
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn redis_benchmark_and_redis_cli_against_replay() {
    let cassette = record(|_, port| {
        let status = std::process::Command::new("redis-benchmark")
            .args([
                "-p",
                &port.to_string(),
                "-n",
                "2000",
                "-c",
                "10",
                "-t",
                "set,get",
                "-q",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("redis-benchmark is installed with redis-tools");
        assert!(status.success());
    });
    let replay = Resplay::replay(&cassette.path, &[]);
    let out = std::process::Command::new("redis-benchmark")
        .args([
            "-p",
            &replay.port.to_string(),
            "-n",
            "5000",
            "-c",
            "20",
            "-P",
            "8",
            "-t",
            "set,get",
            "--csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(csv.contains("\"SET\"") && csv.contains("\"GET\""), "{csv}");
    assert_eq!(
        common::redis_cli(replay.port, &["PING"], None).trim(),
        "PONG"
    );
    let (code, log) = replay.stop();
    assert_eq!(code, 0);
    let report = log.join("\n");
    assert!(report.contains(" 0 missed"), "{report}");
}

#[test]
fn recorded_timing_keeps_reply_durations_and_push_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timed.jsonl");
    std::fs::write(
        &path,
        concat!(
            "{\"resplay\":1,\"created\":\"2026-11-21T10:00:00Z\"}\n",
            "{\"conn\":1,\"seq\":0,\"at_ms\":0,\"took_us\":300000,\"cmd\":[\"GET\",\"slow\"],\"reply\":\"v\"}\n",
            "{\"conn\":1,\"seq\":1,\"at_ms\":400,\"took_us\":100,\"cmd\":[\"SUBSCRIBE\",\"ch\"],\"reply\":[\"subscribe\",\"ch\",1]}\n",
            "{\"conn\":2,\"seq\":0,\"at_ms\":500,\"took_us\":100,\"cmd\":[\"PUBLISH\",\"ch\",\"m\"],\"reply\":1}\n",
            "{\"conn\":1,\"at_ms\":900,\"push\":[\"message\",\"ch\",\"m\"]}\n",
        ),
    )
    .unwrap();
    for (timing, slow) in [("recorded", true), ("none", false)] {
        let replay = Resplay::replay(&path, &["--timing", timing]);
        let mut sub = Raw::connect(replay.port);
        let started = std::time::Instant::now();
        assert_eq!(sub.call(&["GET", "slow"]), Value::bulk("v"));
        let took = started.elapsed();
        assert_eq!(
            slow,
            took >= Duration::from_millis(300),
            "{timing}: GET took {took:?}"
        );
        sub.call(&["SUBSCRIBE", "ch"]);
        let mut publisher = Raw::connect(replay.port);
        assert_eq!(publisher.call(&["PUBLISH", "ch", "m"]), Value::Integer(1));
        let published = std::time::Instant::now();
        let message = sub.read();
        assert_eq!(message.elements().unwrap()[2], Value::bulk("m"));
        let gap = published.elapsed();
        // Recorded: 900 - (500 + 0.1) ms after the PUBLISH reply.
        assert_eq!(
            slow,
            gap >= Duration::from_millis(350),
            "{timing}: push after {gap:?}"
        );
    }
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let cassette = record(|_, port| {
        Raw::connect(port).call(&["SET", "k", "v"]);
    });
    let replay = Resplay::replay(&cassette.path, &[]);
    // A miss logs a warning.
    let reply = Raw::connect(replay.port).call(&["GET", "missing"]);
    assert!(matches!(reply, Value::Error(_)), "{reply:?}");
    let (code, log) = replay.stop();
    assert_eq!(code, 0);
    assert!(log.iter().any(|l| l.contains("WARN")), "{log:?}");
    assert!(!log.iter().any(|l| l.contains('\x1b')), "{log:?}");
}
