//! `resplay replay --write-pruned OUT`: a cassette recorded by two test
//! programs, replayed by one of them, loses what only the other used; the
//! pruned cassette replays that program green under `--strict`, plain and
//! zstd-compressed, pruned in place or beside; a replay that missed writes
//! none.

mod common;

use std::path::Path;

use common::{redis_cli, RedisServer, Resplay};

/// What one "test" sends, a redis-cli session per line (one connection
/// each, as a test process would open its own).
const TEST_A: &[&[&str]] = &[
    &["SET", "a:1", "one"],
    &["GET", "a:1"],
    &["HSET", "a:h", "f", "v"],
    &["HGETALL", "a:h"],
];
const TEST_B: &[&[&str]] = &[&["SET", "b:1", "two"], &["INCR", "b:n"], &["GET", "b:1"]];

fn drive(port: u16, commands: &[&[&str]]) -> Vec<String> {
    commands
        .iter()
        .map(|args| redis_cli(port, args, None))
        .collect()
}

/// The cassette's lines as JSON, plain or compressed (`resplay show --json`).
fn cassette_lines(cassette: &Path) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(common::resplay_bin())
        .args(["show", "--json"])
        .arg(cassette)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn interactions(cassette: &Path) -> Vec<String> {
    cassette_lines(cassette)
        .iter()
        .filter(|l| l.get("cmd").is_some())
        .map(|l| l["cmd"].to_string())
        .collect()
}

fn record(cassette: &Path) -> Vec<String> {
    let redis = RedisServer::start();
    let recorder = Resplay::record(&redis.url(), cassette, &[]);
    let said = drive(recorder.port, TEST_A);
    drive(recorder.port, TEST_B);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    said
}

#[test]
fn a_pruned_cassette_keeps_what_the_suite_uses_and_replays_it_strictly() {
    for name in ["app.jsonl", "app.jsonl.zst"] {
        let dir = tempfile::tempdir().unwrap();
        let cassette = dir.path().join(name);
        let recorded_a = record(&cassette);
        let all = interactions(&cassette);
        let only_b = all.iter().filter(|c| c.contains("\"b:")).count();
        assert_eq!(only_b, TEST_B.len(), "{all:?}");

        // Replay test A only, pruning in place.
        let replay = Resplay::replay(
            &cassette,
            &["--strict", "--write-pruned", cassette.to_str().unwrap()],
        );
        assert_eq!(drive(replay.port, TEST_A), recorded_a);
        let (code, log) = replay.stop();
        assert_eq!(code, 1, "--strict fails on what B left unused: {log:?}");
        let summary = log.join("\n");
        assert!(
            summary.contains(&format!(
                "pruned: {} unused interaction(s) dropped ({} connection(s) whole)",
                TEST_B.len(),
                TEST_B.len()
            )),
            "{summary}"
        );
        let pruned = interactions(&cassette);
        assert!(pruned.iter().all(|c| !c.contains("\"b:")), "{pruned:?}");
        assert_eq!(pruned.len(), all.len() - only_b, "{name}");
        // No connection events are left for the dropped connections.
        let conns: std::collections::BTreeSet<u64> = cassette_lines(&cassette)[1..]
            .iter()
            .map(|l| l["conn"].as_u64().unwrap())
            .collect();
        assert_eq!(conns.len(), TEST_A.len(), "{conns:?}");

        // The pruned cassette replays test A with nothing missed or unused.
        let replay = Resplay::replay(&cassette, &["--strict"]);
        assert_eq!(drive(replay.port, TEST_A), recorded_a);
        let (code, log) = replay.stop();
        assert_eq!(code, 0, "{name}: {log:?}");
    }
}

#[test]
fn a_replay_that_missed_writes_no_pruned_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("app.jsonl");
    record(&cassette);
    let before = std::fs::read(&cassette).unwrap();
    let out = dir.path().join("pruned.jsonl");
    let replay = Resplay::replay(&cassette, &["--write-pruned", out.to_str().unwrap()]);
    redis_cli(replay.port, &["GET", "a:1"], None);
    redis_cli(replay.port, &["GET", "never-recorded"], None);
    let (code, log) = replay.stop();
    assert_eq!(code, 1, "{log:?}");
    assert!(
        log.iter().any(|l| l.contains(&format!(
            "pruned cassette {} not written: the replay missed 1 command(s)",
            out.display()
        ))),
        "{log:?}"
    );
    assert!(!out.exists());
    assert_eq!(std::fs::read(&cassette).unwrap(), before);

    // Named for a directory that does not exist: refused at start.
    let refused = std::process::Command::new(common::resplay_bin())
        .args(["replay", "--listen", "127.0.0.1:0", "--cassette"])
        .arg(&cassette)
        .args(["--write-pruned", "/no/such/dir/p.jsonl"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let out = String::from_utf8_lossy(&refused.stderr);
    assert!(
        out.contains("pruned cassette /no/such/dir/p.jsonl: directory /no/such/dir does not exist"),
        "{out}"
    );
}

/// A connection's recorded `QUIT` (a handshake call the recorder always
/// keeps) is served from its recording when the test dropped a command
/// before it, rather than made up while the recording goes unused: so
/// `--strict` names only the dropped command, and pruning drops only it.
#[test]
fn a_dropped_command_leaves_only_itself_unused_not_the_quit_after_it() {
    use common::raw::Raw;
    use resplay::resp::Value;

    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("app.jsonl");
    let redis = RedisServer::start();
    let recorder = Resplay::record(&redis.url(), &cassette, &[]);
    let mut client = Raw::connect(recorder.port);
    for args in [
        &["SET", "k", "v"][..],
        &["GET", "k"],
        &["INCR", "n"],
        &["QUIT"],
    ] {
        client.call(args);
    }
    drop(client);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    let all = interactions(&cassette);
    assert_eq!(all.len(), 4, "{all:?}");

    // The test no longer sends INCR, the command before its QUIT.
    let replay = Resplay::replay(
        &cassette,
        &["--strict", "--write-pruned", cassette.to_str().unwrap()],
    );
    let mut client = Raw::connect(replay.port);
    assert_eq!(client.call(&["SET", "k", "v"]), Value::simple("OK"));
    assert_eq!(client.call(&["GET", "k"]), Value::Bulk("v".into()));
    assert_eq!(client.call(&["QUIT"]), Value::simple("OK"));
    assert!(client.is_closed());
    let (code, log) = replay.stop();
    assert_eq!(code, 1, "--strict fails on the INCR: {log:?}");
    let summary = log.join("\n");
    assert!(summary.contains("0 missed, 1 unused"), "{summary}");
    assert!(
        summary.contains("pruned: 1 unused interaction(s) dropped"),
        "{summary}"
    );
    let pruned = interactions(&cassette);
    let expected: Vec<String> = all.into_iter().filter(|c| !c.contains("INCR")).collect();
    assert_eq!(pruned, expected);

    // And the pruned cassette replays the test strictly.
    let replay = Resplay::replay(&cassette, &["--strict"]);
    let mut client = Raw::connect(replay.port);
    client.call(&["SET", "k", "v"]);
    client.call(&["GET", "k"]);
    client.call(&["QUIT"]);
    drop(client);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
}
