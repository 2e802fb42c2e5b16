//! Record mode against a real redis-server, through real clients.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::raw::Raw;
use common::servers::ServerKind;
use common::{client_url, interactions, redis_cli, workload, RedisServer, Resplay, PROTOCOLS};
use resplay::resp::{to_bytes, Value};

/// The servers the blocking, pub/sub and tracking tests run against, one
/// after the other.
const KINDS: [ServerKind; 2] = [ServerKind::Redis7, ServerKind::Redis8];

fn flush(url: &str) {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    redis::cmd("FLUSHALL").exec(&mut con).unwrap();
}

#[test]
fn workload_replies_match_direct_redis_and_the_cassette() {
    for protocol in PROTOCOLS {
        let server = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let recorder = Resplay::record(&server.url(), &path, &[]);

        let mut direct = redis::Client::open(client_url(&server.url(), protocol))
            .unwrap()
            .get_connection()
            .unwrap();
        let expected = workload::run(&mut direct);
        flush(&server.url());

        let mut proxied = redis::Client::open(client_url(&recorder.url(), protocol))
            .unwrap()
            .get_connection()
            .unwrap();
        let got = workload::run(&mut proxied);
        assert_eq!(
            got, expected,
            "RESP{protocol}: replies through the proxy differ"
        );
        drop(proxied);
        let (code, log) = recorder.stop();
        assert_eq!(code, 0, "{log:?}");
        assert!(log.iter().any(|l| l.contains("interaction")), "{log:?}");

        // Exactly one interaction per command, with the command and reply
        // the client saw (re-encoded from the cassette, parsed by redis-rs).
        let cassette = resplay::cassette::load(&path).unwrap();
        let refused_setinfo = |i: &resplay::cassette::Interaction| {
            i.cmd.len() > 1
                && i.cmd[0].eq_ignore_ascii_case(b"CLIENT")
                && i.cmd[1].eq_ignore_ascii_case(b"SETINFO")
                && i.replies.first().is_some_and(|r| r.is_error())
        };
        let recorded: Vec<_> = cassette
            .interactions()
            .filter(|i| !refused_setinfo(i))
            .collect();
        let commands = workload::commands();
        assert_eq!(recorded.len(), commands.len(), "RESP{protocol}");
        for ((interaction, args), reply) in recorded.iter().zip(&commands).zip(&got) {
            let cmd: Vec<Vec<u8>> = interaction.cmd.iter().map(|a| a.to_vec()).collect();
            assert_eq!(&cmd, args);
            assert_eq!(interaction.replies.len(), 1);
            let parsed = redis::parse_redis_value(&to_bytes(&interaction.replies[0]));
            match (parsed, reply) {
                (Ok(redis::Value::ServerError(e)), redis::Value::SimpleString(s)) => {
                    assert!(s.contains(e.details().unwrap_or("?")), "{cmd:?}: {s}")
                }
                (Ok(v), expected) => assert_eq!(&v, expected, "{cmd:?}"),
                (Err(_), redis::Value::SimpleString(s)) => assert!(s.starts_with("client error")),
                (Err(e), expected) => panic!("{cmd:?}: {e} vs {expected:?}"),
            }
        }
    }
}

#[test]
fn thousand_command_pipeline() {
    for protocol in PROTOCOLS {
        let server = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let recorder = Resplay::record(&server.url(), &path, &[]);
        let mut con = redis::Client::open(client_url(&recorder.url(), protocol))
            .unwrap()
            .get_connection()
            .unwrap();
        let mut pipe = redis::pipe();
        for i in 0..1000 {
            if i % 2 == 0 {
                pipe.cmd("SET").arg(format!("k{i}")).arg(i);
            } else {
                pipe.cmd("INCR").arg(format!("k{}", i - 1));
            }
        }
        let replies: Vec<redis::Value> = pipe.query(&mut con).unwrap();
        assert_eq!(replies.len(), 1000);
        assert_eq!(replies[1], redis::Value::Int(1));
        assert_eq!(replies[999], redis::Value::Int(999));
        drop(con);
        assert_eq!(recorder.stop().0, 0);
        let lines = interactions(&path);
        assert_eq!(lines.len(), 1000);
        // Consecutive: the client's handshake (not recorded) came first.
        let first = lines[0]["seq"].as_u64().unwrap();
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["seq"].as_u64().unwrap(), first + i as u64);
        }
        assert_eq!(lines[999]["reply"], 999);
        assert_eq!(lines[0]["reply"], serde_json::json!({"+": "OK"}));
    }
}

fn text(v: &Value) -> String {
    String::from_utf8_lossy(v.as_bytes().unwrap_or(b"?")).into_owned()
}

#[test]
fn pubsub_across_two_connections_with_pushes_in_the_cassette() {
    for kind in KINDS {
        for protocol in PROTOCOLS {
            pubsub_across_two_connections(kind, protocol);
        }
    }
}

fn pubsub_across_two_connections(kind: ServerKind, protocol: u8) {
    let what = &format!("{} RESP{protocol}", kind.name());
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut subscriber = Raw::connect(recorder.port);
    if protocol == 3 {
        let hello = subscriber.call(&["HELLO", "3"]);
        assert!(matches!(hello, Value::Map(_)), "{what}: {hello:?}");
    }
    subscriber.send(&["SUBSCRIBE", "news", "sport"]);
    for channel in ["news", "sport"] {
        let confirmation = subscriber.read();
        assert_eq!(confirmation.is_push(), protocol == 3, "{what}");
        assert_eq!(
            text(&confirmation.elements().unwrap()[1]),
            channel,
            "{what}"
        );
    }
    let mut publisher = Raw::connect(recorder.port);
    assert_eq!(
        publisher.call(&["PUBLISH", "news", "hello"]),
        Value::Integer(1),
        "{what}"
    );
    let message = subscriber.read();
    assert_eq!(text(&message.elements().unwrap()[2]), "hello", "{what}");
    // Still answered while subscribed.
    let pong = subscriber.call(&["PING"]);
    if protocol == 3 {
        assert_eq!(pong, Value::simple("PONG"), "{what}");
        assert_eq!(
            subscriber.call(&["SET", "k", "v"]),
            Value::simple("OK"),
            "{what}"
        );
    } else {
        assert_eq!(text(&pong.elements().unwrap()[0]), "pong", "{what}");
    }
    assert_eq!(
        publisher.call(&["PUBLISH", "sport", "goal"]),
        Value::Integer(1),
        "{what}"
    );
    assert_eq!(
        text(&subscriber.read().elements().unwrap()[2]),
        "goal",
        "{what}"
    );
    subscriber.send(&["UNSUBSCRIBE"]);
    subscriber.read();
    subscriber.read();
    assert_eq!(
        subscriber.call(&["ECHO", "after"]),
        Value::bulk("after"),
        "{what}"
    );
    drop((subscriber, publisher));
    assert_eq!(recorder.stop().0, 0, "{what}");

    let lines = common::cassette_lines(&path);
    let pushes: Vec<_> = lines.iter().filter(|l| l.get("push").is_some()).collect();
    assert_eq!(pushes.len(), 2, "{what}: {pushes:?}");
    let subscribe = lines
        .iter()
        .find(|l| l["cmd"][0] == "SUBSCRIBE")
        .unwrap_or_else(|| panic!("{what}: SUBSCRIBE not recorded"));
    assert_eq!(
        subscribe["replies"].as_array().unwrap().len(),
        2,
        "{what}: {subscribe}"
    );
    let unsubscribe = lines
        .iter()
        .find(|l| l["cmd"][0] == "UNSUBSCRIBE")
        .unwrap_or_else(|| panic!("{what}: UNSUBSCRIBE not recorded"));
    assert_eq!(
        unsubscribe["replies"].as_array().unwrap().len(),
        2,
        "{what}: {unsubscribe}"
    );
    let push = &pushes[0]["push"];
    if protocol == 3 {
        assert_eq!(push[">"][2], "hello", "{what}: {push}");
    } else {
        assert_eq!(push[2], "hello", "{what}: {push}");
    }
}

#[test]
fn blpop_unblocked_by_another_client() {
    for kind in KINDS {
        blpop_unblocked(kind);
    }
}

fn blpop_unblocked(kind: ServerKind) {
    let what = kind.name();
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut waiter = Raw::connect(recorder.port);
    waiter.send(&["BLPOP", "queue", "0"]);
    std::thread::sleep(Duration::from_millis(1500));
    let mut pusher = Raw::connect(recorder.port);
    assert_eq!(
        pusher.call(&["RPUSH", "queue", "job"]),
        Value::Integer(1),
        "{what}"
    );
    let popped = waiter.read();
    assert_eq!(popped.elements().unwrap().len(), 2, "{what}: {popped:?}");
    drop((waiter, pusher));
    assert_eq!(recorder.stop().0, 0, "{what}");
    let lines = interactions(&path);
    let blpop = lines
        .iter()
        .find(|l| l["cmd"][0] == "BLPOP")
        .unwrap_or_else(|| panic!("{what}: BLPOP not recorded"));
    assert_eq!(
        blpop["reply"],
        serde_json::json!(["queue", "job"]),
        "{what}"
    );
    assert!(
        blpop["took_us"].as_u64().unwrap() > 1_000_000,
        "{what}: {blpop}"
    );
}

#[test]
fn client_reply_off_and_skip() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut c = Raw::connect(recorder.port);
    c.send(&["CLIENT", "REPLY", "OFF"]);
    c.send(&["SET", "a", "1"]);
    c.send(&["CLIENT", "REPLY", "SKIP"]);
    c.send(&["SET", "b", "2"]);
    assert_eq!(c.call(&["CLIENT", "REPLY", "ON"]), Value::simple("OK"));
    c.send(&["CLIENT", "REPLY", "SKIP"]);
    c.send(&["SET", "c", "3"]);
    assert_eq!(
        c.call(&["MGET", "a", "b", "c"]).elements().unwrap().len(),
        3
    );
    drop(c);
    assert_eq!(recorder.stop().0, 0);
    let lines = interactions(&path);
    let summary: Vec<(String, bool)> = lines
        .iter()
        .map(|l| {
            let words: Vec<&str> = l["cmd"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            (words.join(" "), l.get("reply").is_some())
        })
        .collect();
    let expect = [
        ("CLIENT REPLY OFF", false),
        ("SET a 1", false),
        ("CLIENT REPLY SKIP", false),
        ("SET b 2", false),
        ("CLIENT REPLY ON", true),
        ("CLIENT REPLY SKIP", false),
        ("SET c 3", false),
        ("MGET a b c", true),
    ];
    let expect: Vec<(String, bool)> = expect.iter().map(|(c, r)| (c.to_string(), *r)).collect();
    assert_eq!(summary, expect);
}

#[test]
fn redis_cli_inline_commands_and_redaction() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    // Inline commands, as a telnet session sends them.
    let mut c = TcpStream::connect(("127.0.0.1", recorder.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"SET \"inline key\" '\\x41 b'\r\nGET \"inline key\"\r\nAUTH secretpw\r\n")
        .unwrap();
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("-") {
        let mut chunk = [0u8; 1024];
        let n = c.read(&mut chunk).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&chunk[..n]);
    }
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(got.starts_with("+OK\r\n$6\r\n\\x41 b\r\n-"), "{got}");
    drop(c);
    assert_eq!(
        redis_cli(recorder.port, &["SET", "cli", "v"], None).trim(),
        "OK"
    );
    assert_eq!(redis_cli(recorder.port, &["GET", "cli"], None).trim(), "v");
    let mut direct = redis_cli(
        server.port,
        &["--no-raw", "LRANGE", "nothing", "0", "1"],
        None,
    );
    direct = direct.trim().to_string();
    assert_eq!(direct, "(empty array)");
    assert_eq!(recorder.stop().0, 0);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("secretpw"), "password reached the disk");
    let lines = interactions(&path);
    assert_eq!(
        lines[0]["cmd"],
        serde_json::json!(["SET", "inline key", "\\x41 b"])
    );
    assert_eq!(lines[1]["reply"], "\\x41 b");
}

#[test]
fn upstream_killed_mid_pipeline() {
    let mut server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let mut c = Raw::connect(recorder.port);
    assert_eq!(c.call(&["SET", "before", "1"]), Value::simple("OK"));
    c.send(&["BLPOP", "never", "0"]);
    c.send(&["GET", "before"]);
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    for _ in 0..2 {
        let reply = c.read();
        let Value::Error(e) = &reply else {
            panic!("expected an error, got {reply:?}")
        };
        let e = String::from_utf8_lossy(e).into_owned();
        assert!(e.contains(&server.addr()), "{e}");
    }
    // The recorder keeps serving: a new client gets a clear error.
    let mut again = Raw::connect(recorder.port);
    let reply = again.call(&["PING"]);
    assert!(
        matches!(reply, Value::Error(ref e) if String::from_utf8_lossy(e).contains("unreachable")),
        "{reply:?}"
    );
    assert_eq!(recorder.stop().0, 0);
    let lines = interactions(&path);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["cmd"][0], "SET");
}

#[test]
fn kill_9_mid_traffic_leaves_a_loadable_cassette() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    common::record_then_kill9(&server.url(), &path);
    // Every complete line parses; a torn last line is reported and skipped.
    let text = std::fs::read(&path).unwrap();
    let complete = text.iter().filter(|&&b| b == b'\n').count();
    let cassette = resplay::cassette::load(&path).expect("cassette loads after kill -9");
    assert!(complete >= 2);
    assert!(cassette.events.len() + 1 >= complete - 1);
    assert!(cassette.interactions().count() > 0);
}

#[test]
fn client_tracking_invalidations_and_monitor() {
    for kind in KINDS {
        tracking_and_monitor(kind);
    }
}

fn tracking_and_monitor(kind: ServerKind) {
    let what = kind.name();
    let server = RedisServer::start_kind(kind, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    // RESP3 tracking: the invalidation push arrives between replies.
    let mut tracked = Raw::connect(recorder.port);
    let hello = tracked.call(&["HELLO", "3"]);
    assert!(matches!(hello, Value::Map(_)), "{what}: {hello:?}");
    assert_eq!(
        tracked.call(&["CLIENT", "TRACKING", "ON"]),
        Value::simple("OK"),
        "{what}"
    );
    assert_eq!(tracked.call(&["GET", "k"]), Value::Null, "{what}");
    let mut writer = Raw::connect(recorder.port);
    let mut monitor = Raw::connect(recorder.port);
    assert_eq!(monitor.call(&["MONITOR"]), Value::simple("OK"), "{what}");
    assert_eq!(
        writer.call(&["SET", "k", "v"]),
        Value::simple("OK"),
        "{what}"
    );
    let invalidation = tracked.read();
    assert!(invalidation.is_push(), "{what}: {invalidation:?}");
    assert_eq!(tracked.call(&["GET", "k"]), Value::bulk("v"), "{what}");
    let line = monitor.read();
    assert!(
        matches!(&line, Value::Simple(s) if String::from_utf8_lossy(s).contains("\"SET\" \"k\" \"v\"")),
        "{what}: {line:?}"
    );
    drop((tracked, writer, monitor));
    assert_eq!(recorder.stop().0, 0, "{what}");

    let lines = common::cassette_lines(&path);
    let gets: Vec<_> = lines.iter().filter(|l| l["cmd"][0] == "GET").collect();
    assert_eq!(gets.len(), 2, "{what}: {gets:?}");
    assert_eq!(gets[0]["reply"], serde_json::Value::Null, "{what}");
    assert_eq!(gets[1]["reply"], "v", "{what}");
    let pushes: Vec<_> = lines.iter().filter(|l| l.get("push").is_some()).collect();
    assert!(
        pushes.iter().any(|p| p["push"][">"][0] == "invalidate"),
        "{what}: {pushes:?}"
    );
    assert!(
        pushes.iter().any(|p| p["push"]["+"]
            .as_str()
            .is_some_and(|s| s.contains("\"SET\""))),
        "{what}: {pushes:?}"
    );
    let monitor_cmd = lines
        .iter()
        .find(|l| l["cmd"][0] == "MONITOR")
        .unwrap_or_else(|| panic!("{what}: MONITOR not recorded"));
    assert_eq!(
        monitor_cmd["reply"],
        serde_json::json!({"+": "OK"}),
        "{what}"
    );
}

#[test]
fn upstream_credentials_and_database_from_the_url() {
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let upstream = format!("redis://:s3cret@127.0.0.1:{}/2", server.port);
    let recorder = Resplay::record(&upstream, &path, &[]);
    // The client never authenticates: resplay did, and selected db 2.
    let mut c = Raw::connect(recorder.port);
    assert_eq!(c.call(&["SET", "in-db-2", "yes"]), Value::simple("OK"));
    drop(c);
    let mut direct = Raw::connect(server.port);
    assert_eq!(direct.call(&["AUTH", "s3cret"]), Value::simple("OK"));
    assert_eq!(direct.call(&["SELECT", "2"]), Value::simple("OK"));
    assert_eq!(direct.call(&["GET", "in-db-2"]), Value::bulk("yes"));
    assert_eq!(recorder.stop().0, 0);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(interactions(&path).len(), 1);

    // A wrong password is a clear error naming the upstream.
    let wrong = format!("redis://:nope@127.0.0.1:{}", server.port);
    let recorder = Resplay::record(&wrong, &path, &[]);
    let mut c = Raw::connect(recorder.port);
    let reply = c.call(&["PING"]);
    let Value::Error(e) = &reply else {
        panic!("{reply:?}")
    };
    let e = String::from_utf8_lossy(e).into_owned();
    assert!(e.contains(&server.addr()) && e.contains("AUTH"), "{e}");
    assert!(!e.contains("nope"), "{e}");
}

#[test]
fn unix_socket_upstream_with_credentials_and_database() {
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("redis.sock");
    let socket_arg = socket.to_str().unwrap();
    let server = RedisServer::start_with(&["--unixsocket", socket_arg, "--requirepass", "s3cret"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let upstream = format!("unix://{socket_arg}?db=3&password=s3cret");
    for protocol in PROTOCOLS {
        let recorder = Resplay::record(&upstream, &path, &[]);
        let mut proxied = redis::Client::open(client_url(&recorder.url(), protocol))
            .unwrap()
            .get_connection()
            .unwrap();
        let got = workload::run(&mut proxied);
        drop(proxied);
        assert_eq!(recorder.stop().0, 0);

        let mut direct = redis::Client::open(client_url(
            &format!("redis://:s3cret@127.0.0.1:{}/3", server.port),
            protocol,
        ))
        .unwrap()
        .get_connection()
        .unwrap();
        redis::cmd("FLUSHDB").exec(&mut direct).unwrap();
        let expected = workload::run(&mut direct);
        assert_eq!(got, expected, "RESP{protocol}");
        redis::cmd("FLUSHDB").exec(&mut direct).unwrap();

        let lines = common::cassette_lines(&path);
        assert_eq!(
            lines[0]["upstream"],
            serde_json::json!(format!("unix:{socket_arg}"))
        );
        assert!(!std::fs::read_to_string(&path).unwrap().contains("s3cret"));
        assert_eq!(interactions(&path).len(), workload::commands().len());
    }

    // A socket nobody listens on: the client gets an error naming it.
    let missing = sockets.path().join("missing.sock");
    let upstream = format!("unix://{}", missing.display());
    let recorder = Resplay::record(&upstream, &path, &[]);
    let mut c = Raw::connect(recorder.port);
    let reply = c.call(&["PING"]);
    let Value::Error(e) = &reply else {
        panic!("{reply:?}")
    };
    let e = String::from_utf8_lossy(e).into_owned();
    assert!(e.contains(&format!("unix:{}", missing.display())), "{e}");
}
