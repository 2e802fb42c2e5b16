//! Replay cannot be told from Redis: the defects Redis's own test suite
//! found, each recorded against a real redis-server and replayed without
//! it, in RESP2 and RESP3. Databases (`SELECT`, `MULTI`, `RESET`, the URL's
//! `/db`), handshake calls inside `MULTI`, and sessions that diverge.

mod common;

use std::path::{Path, PathBuf};

use common::raw::Raw;
use common::{interactions, RedisServer, Resplay, PROTOCOLS};

/// A cassette in a temp dir.
struct Cassette {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn cassette() -> Cassette {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    Cassette { _dir: dir, path }
}

/// Runs `script` on a new raw connection (after `HELLO 3` in RESP3, whose
/// reply names the server and is left out) and returns each reply's bytes.
fn session(port: u16, protocol: u8, script: &[&[&str]]) -> Vec<String> {
    let mut c = Raw::connect(port);
    if protocol == 3 {
        c.call(&["HELLO", "3"]);
    }
    script
        .iter()
        .map(|args| {
            c.send(args);
            String::from_utf8_lossy(&c.read_bytes()).into_owned()
        })
        .collect()
}

/// Records `sessions` (one connection each, in order) against a fresh
/// redis-server seeded by `seed`, and returns their replies.
fn record(
    path: &Path,
    protocol: u8,
    upstream_db: Option<u32>,
    seed: &[&[&str]],
    sessions: &[&[&[&str]]],
) -> Vec<Vec<String>> {
    let server = RedisServer::start();
    session(server.port, 2, seed);
    let upstream = match upstream_db {
        Some(db) => format!("{}/{db}", server.url()),
        None => server.url(),
    };
    let recorder = Resplay::record(&upstream, path, &[]);
    let replies = sessions
        .iter()
        .map(|script| session(recorder.port, protocol, script))
        .collect();
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    replies
}

const SEED: &[&[&str]] = &[
    &["SET", "x", "zero"],
    &["SELECT", "1"],
    &["SET", "x", "one"],
    &["SELECT", "2"],
    &["SET", "x", "two"],
    &["SELECT", "3"],
    &["SET", "x", "three"],
    &["SELECT", "7"],
    &["SET", "x", "seven"],
];

#[test]
fn each_database_gets_its_own_replies() {
    for protocol in PROTOCOLS {
        let c = cassette();
        let db1: &[&[&str]] = &[&["SELECT", "1"], &["GET", "x"]];
        let db2: &[&[&str]] = &[&["SELECT", "2"], &["GET", "x"]];
        let recorded = record(&c.path, protocol, None, SEED, &[db1, db2]);
        assert_eq!(recorded[0][1], "$3\r\none\r\n");
        assert_eq!(recorded[1][1], "$3\r\ntwo\r\n");
        let lines = interactions(&c.path);
        assert_eq!(lines[0]["db"], 1, "{lines:?}");
        assert_eq!(lines[1]["db"], 2, "{lines:?}");

        // Replayed the other way round: each still reads its own db.
        let replay = Resplay::replay(&c.path, &[]);
        assert_eq!(session(replay.port, protocol, db2), recorded[1]);
        assert_eq!(session(replay.port, protocol, db1), recorded[0]);
        // A database nothing was recorded in misses, naming where it was.
        let other = session(replay.port, protocol, &[&["SELECT", "5"], &["GET", "x"]]);
        assert!(other[1].contains("in db "), "RESP{protocol}: {other:?}");
    }
}

#[test]
fn multi_reset_and_the_url_move_the_database_as_in_redis() {
    for protocol in PROTOCOLS {
        let c = cassette();
        let script: &[&[&str]] = &[
            &["GET", "x"],
            &["MULTI"],
            &["SELECT", "3"],
            &["GET", "x"],
            &["EXEC"],
            &["GET", "x"],
            &["MULTI"],
            &["SELECT", "1"],
            &["DISCARD"],
            &["GET", "x"],
            &["SWAPDB", "3", "2"],
            &["GET", "x"],
            &["SWAPDB", "3", "2"],
            &["RESET"],
            &["GET", "x"],
        ];
        // The recorder's upstream starts in db 7.
        let recorded = record(&c.path, protocol, Some(7), SEED, &[script]);
        let shown: Vec<&str> = recorded[0].iter().map(String::as_str).collect();
        assert_eq!(shown[0], "$5\r\nseven\r\n");
        assert_eq!(shown[5], "$5\r\nthree\r\n", "{shown:?}");
        assert_eq!(shown[9], "$5\r\nthree\r\n", "DISCARD selects nothing");
        assert_eq!(shown[11], "$3\r\ntwo\r\n", "SWAPDB swaps the data");
        assert_eq!(shown[14], "$4\r\nzero\r\n", "RESET selects db 0");
        let replay = Resplay::replay(&c.path, &[]);
        assert_eq!(
            session(replay.port, protocol, script),
            recorded[0],
            "RESP{protocol}"
        );
    }
}

#[test]
fn handshake_calls_inside_multi_are_queued() {
    for protocol in PROTOCOLS {
        let c = cassette();
        let script: &[&[&str]] = &[
            &["MULTI"],
            &["PING"],
            &["SET", "a", "1"],
            &["ECHO", "hi"],
            &["CLIENT", "SETNAME", "worker"],
            &["INCR", "a"],
            &["EXEC"],
            &["CLIENT", "GETNAME"],
            &["PING"],
        ];
        let recorded = record(&c.path, protocol, None, &[], &[script]);
        assert_eq!(recorded[0][1], "+QUEUED\r\n");
        // PING, ECHO and CLIENT SETNAME are not recorded (trivial calls).
        assert_eq!(interactions(&c.path).len(), 5, "RESP{protocol}");
        let replay = Resplay::replay(&c.path, &[]);
        assert_eq!(
            session(replay.port, protocol, script),
            recorded[0],
            "RESP{protocol}"
        );
        // Recorded with the trivial calls, it replays the same.
        let with_trivial = cassette();
        let server = RedisServer::start();
        let recorder = Resplay::record(
            &server.url(),
            &with_trivial.path,
            &["--record-trivial-calls"],
        );
        let again = session(recorder.port, protocol, script);
        recorder.stop();
        let replay = Resplay::replay(&with_trivial.path, &[]);
        assert_eq!(session(replay.port, protocol, script), again);
    }
}

#[test]
fn a_session_that_diverges_keeps_its_own_replies() {
    for protocol in PROTOCOLS {
        let c = cassette();
        let first: &[&[&str]] = &[&["FLUSHDB"], &["SET", "k", "1"], &["GET", "k"]];
        let second: &[&[&str]] = &[&["FLUSHDB"], &["SET", "k", "2"], &["GET", "k"]];
        let recorded = record(&c.path, protocol, None, &[], &[first, second]);
        let replay = Resplay::replay(&c.path, &[]);
        // Only the second session, then the first: each gets its own.
        assert_eq!(session(replay.port, protocol, second), recorded[1]);
        assert_eq!(session(replay.port, protocol, first), recorded[0]);
        let (code, log) = replay.stop();
        assert_eq!(code, 0);
        let report = log.join("\n");
        assert!(report.contains("0 missed, 0 unused"), "{report}");
    }
}

#[test]
fn failed_handshake_calls_are_recorded_and_never_repeated() {
    for protocol in PROTOCOLS {
        let c = cassette();
        // The recorder logs in with nothing: the client's first PING fails.
        let server = RedisServer::start_with(&["--requirepass", "pw"]);
        let recorder = Resplay::record(&server.url(), &c.path, &[]);
        let mut script: Vec<&[&str]> = vec![&["PING"], &["AUTH", "pw"]];
        if protocol == 3 {
            script.push(&["HELLO", "3"]);
        }
        script.extend([&["PING"][..], &["SELECT", "99"], &["PING"]]);
        let recorded = session(recorder.port, 2, &script);
        recorder.stop();
        assert!(recorded[0].starts_with("-NOAUTH"), "{recorded:?}");
        assert!(recorded[recorded.len() - 2].starts_with("-ERR DB index"));
        // The failed PING and SELECT are kept; the rest replay makes up.
        let kept: Vec<String> = interactions(&c.path)
            .iter()
            .map(|l| l["cmd"][0].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(kept, ["PING", "SELECT"], "RESP{protocol}");

        let replay = Resplay::replay(&c.path, &[]);
        let replayed = session(replay.port, 2, &script);
        let skip_hello = |r: &[String]| -> Vec<String> {
            r.iter().filter(|l| !l.starts_with('%')).cloned().collect()
        };
        // The later PINGs get PONG, not the recorded -NOAUTH again.
        assert_eq!(
            skip_hello(&replayed),
            skip_hello(&recorded),
            "RESP{protocol}"
        );
    }
}

/// Sends every command of `script` at once and reads `replies` replies.
fn silent_session(port: u16, protocol: u8, script: &[&[&str]], replies: usize) -> Vec<String> {
    let mut c = Raw::connect(port);
    if protocol == 3 {
        c.call(&["HELLO", "3"]);
    }
    for args in script {
        c.send(args);
    }
    (0..replies)
        .map(|_| String::from_utf8_lossy(&c.read_bytes()).into_owned())
        .collect()
}

#[test]
fn client_reply_off_and_skip_silence_made_up_replies_too() {
    for protocol in PROTOCOLS {
        let c = cassette();
        let script: &[&[&str]] = &[
            &["CLIENT", "REPLY", "OFF"],
            &["PING", "pong"],
            &["ECHO", "quiet"],
            &["CLIENT", "REPLY", "ON"],
            &["CLIENT", "REPLY", "SKIP"],
            &["PING", "pong2"],
            &["PING", "pong3"],
            &["GET", "k"],
        ];
        let server = RedisServer::start();
        let recorder = Resplay::record(&server.url(), &c.path, &[]);
        let recorded = silent_session(recorder.port, protocol, script, 3);
        recorder.stop();
        assert_eq!(recorded[..2], ["+OK\r\n", "$5\r\npong3\r\n"]);
        let replay = Resplay::replay(&c.path, &[]);
        let replayed = silent_session(replay.port, protocol, script, 3);
        assert_eq!(replayed, recorded, "RESP{protocol}");
    }
}

#[test]
fn a_connection_the_server_closed_is_closed_in_replay_too() {
    for protocol in PROTOCOLS {
        let c = cassette();
        let server = RedisServer::start();
        let recorder = Resplay::record(&server.url(), &c.path, &[]);
        let run = |port: u16| {
            let mut victim = Raw::connect(port);
            let mut killer = Raw::connect(port);
            if protocol == 3 {
                victim.call(&["HELLO", "3"]);
                killer.call(&["HELLO", "3"]);
            }
            victim.call(&["SET", "victim", "1"]);
            killer.call(&["SET", "killer", "1"]);
            let killed = killer.call(&["CLIENT", "KILL", "SKIPME", "yes"]);
            victim.send(&["GET", "victim"]);
            (killed, victim.is_closed(), killer.call(&["GET", "killer"]))
        };
        let recorded = run(recorder.port);
        recorder.stop();
        assert!(recorded.1, "Redis closed the victim");
        let lines = common::cassette_lines(&c.path);
        assert_eq!(
            lines.iter().filter(|l| l["by"] == "server").count(),
            1,
            "{lines:?}"
        );
        let replay = Resplay::replay(&c.path, &[]);
        assert_eq!(run(replay.port), recorded, "RESP{protocol}");
    }
}

#[test]
fn an_argument_naming_resplay_itself_matches_on_replay() {
    for protocol in PROTOCOLS {
        let c = cassette();
        let server = RedisServer::start();
        let recorder = Resplay::record(&server.url(), &c.path, &[]);
        let migrate = |port: u16| {
            let port = port.to_string();
            let script: &[&[&str]] = &[&["MIGRATE", "127.0.0.1", &port, "nokey", "0", "5000"]];
            session(port.parse().unwrap(), protocol, script)
        };
        let recorder_port = recorder.port;
        let recorded = migrate(recorder_port);
        recorder.stop();
        assert_eq!(recorded, ["+NOKEY\r\n"]);
        let header = &common::cassette_lines(&c.path)[0];
        assert_eq!(
            header["listen"],
            format!("127.0.0.1:{recorder_port}"),
            "{header}"
        );
        let replay = Resplay::replay(&c.path, &[]);
        assert_ne!(replay.port, recorder_port);
        assert_eq!(migrate(replay.port), recorded, "RESP{protocol}");
    }
}
