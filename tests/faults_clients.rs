//! Real clients' retry and timeout code against injected faults, under
//! `resplay run --fault …`: recorded against redis-server, then replayed
//! with the same faults, the program copes both times, alike.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{resplay_bin, RedisServer};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn resplay(args: &[&str]) -> Output {
    Command::new(resplay_bin())
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("run resplay")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `program` under `resplay run --fault RULE` twice: recording (to a
/// fresh redis-server), then replaying with Redis gone. Returns stdout,
/// which must be the same both times; each run must report the rule fired
/// `fired` times.
fn record_then_replay(rule: &str, fired: u64, program: &[&str]) -> String {
    let check_fired = |stderr: &str| {
        assert!(
            stderr.contains(&format!("fired {fired} time(s)")),
            "{stderr}"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("client.jsonl");
    let cassette = cassette.to_str().unwrap();
    let mut server = RedisServer::start();
    let upstream = server.url();
    let mut args = vec![
        "run",
        "--cassette",
        cassette,
        "--upstream",
        &upstream,
        "--fault",
        rule,
        "--",
    ];
    args.extend_from_slice(program);
    let first = resplay(&args);
    assert!(
        first.status.success(),
        "record run: {}",
        text(&first.stderr)
    );
    assert!(
        text(&first.stderr).contains("recorded"),
        "{}",
        text(&first.stderr)
    );
    check_fired(&text(&first.stderr));
    server.kill();

    let mut args = vec!["run", "--cassette", cassette, "--fault", rule, "--"];
    args.extend_from_slice(program);
    let second = resplay(&args);
    assert!(
        second.status.success(),
        "replay run: {}",
        text(&second.stderr)
    );
    check_fired(&text(&second.stderr));
    assert_eq!(text(&second.stdout), text(&first.stdout));
    text(&first.stdout)
}

fn need_redis_py() {
    let found = Command::new("python3")
        .args(["-c", "import redis"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "python redis (redis-py) is not installed: `pip install redis` (.ci/run installs it)"
    );
}

#[test]
fn redis_py_retries_busy_loading() {
    need_redis_py();
    let out = record_then_replay(
        r#"GET ... => error="LOADING Redis is loading the dataset in memory" count=2"#,
        2,
        &["python3", "tests/clients/faults.py", "loading"],
    );
    assert_eq!(out, "get b'v'\n");
}

#[test]
fn redis_py_reconnects_after_a_drop() {
    need_redis_py();
    let out = record_then_replay(
        "GET ... => drop count=1",
        1,
        &["python3", "tests/clients/faults.py", "drop"],
    );
    assert_eq!(out, "get b'v'\n");
}

#[test]
fn redis_py_socket_timeout_trips_on_a_hang() {
    need_redis_py();
    let out = record_then_replay(
        "GET ... => hang",
        1,
        &["python3", "tests/clients/faults.py", "hang"],
    );
    assert_eq!(out, "timeout TimeoutError\n");
}

#[test]
fn ioredis_reconnects_after_a_drop() {
    assert!(
        repo()
            .join("tests/clients/node/node_modules/ioredis")
            .exists(),
        "ioredis is not installed: run `npm ci --prefix tests/clients/node` (.ci/run does)"
    );
    let out = record_then_replay(
        "GET js:k => drop count=1",
        1,
        &["node", "tests/clients/node/faults.js"],
    );
    assert_eq!(out, "get v\nreconnected true\n");
}
