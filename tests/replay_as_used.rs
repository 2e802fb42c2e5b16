//! Replay as real clients use it (issue 23): redis-py (sync and asyncio)
//! and ioredis programs that do what applications do every day (a lock's
//! random token, idempotency keys, a clock read as now, a dead
//! connection's leftovers, `CLIENT KILL` of an idle connection, MONITOR
//! from a pool, AUTH with good and bad passwords), each recorded through
//! `resplay run` against a real redis-server, then replayed with Redis
//! stopped. The programs (`tests/clients/replay_as_used.py`,
//! `tests/clients/node/replay_as_used.js`) check on the client side what a
//! real Redis gives, so the same program must pass both times.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{resplay_bin, RedisServer};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Both streams of a run, for failure messages.
fn both(o: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// `resplay ARGS` from the repository root, with extra environment.
fn resplay(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(resplay_bin())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("run resplay")
}

/// How the replay run differs from the recording run.
#[derive(Default)]
struct Replay<'a> {
    /// `--strict`: the scenario must replay with no miss and nothing unused.
    strict: bool,
    /// Environment for the replayed program only.
    env: &'a [(&'a str, &'a str)],
    /// How long to wait after the recording before replaying.
    pause: Duration,
}

/// Records `program` against a fresh redis-server, stops Redis, replays it;
/// both runs must succeed and print no FAIL line. Returns the replay run.
fn record_then_replay(program: &[&str], replay: Replay) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("as_used.jsonl");
    let cassette = cassette.to_str().unwrap();
    let mut server = RedisServer::start();
    let upstream = server.url();
    let mut args = vec!["run", "--cassette", cassette, "--upstream", &upstream, "--"];
    args.extend_from_slice(program);
    let first = resplay(&args, &[]);
    server.kill();
    let recorded = both(&first);
    assert!(
        first.status.success() && !text(&first.stdout).contains("FAIL"),
        "record run of {program:?} failed (against real Redis):\n{recorded}"
    );
    assert!(text(&first.stdout).contains("PASS"), "{recorded}");

    std::thread::sleep(replay.pause);
    let mut args = vec!["run", "--cassette", cassette];
    if replay.strict {
        args.push("--strict");
    }
    args.push("--");
    args.extend_from_slice(program);
    let second = resplay(&args, replay.env);
    if !second.status.success() || text(&second.stdout).contains("FAIL") {
        let show = resplay(&["show", cassette], &[]);
        panic!(
            "replay run of {program:?} failed\n=== replay\n{}\n=== record\n{recorded}\n=== resplay show\n{}",
            both(&second),
            text(&show.stdout)
        );
    }
    second
}

/// `python3 tests/clients/replay_as_used.py SCENARIO`; panics with how to
/// install redis-py when it is missing.
fn redis_py(scenario: &str, replay: Replay) -> Output {
    let has_redis = Command::new("python3")
        .args(["-c", "import redis, redis.asyncio"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_redis {
        panic!("python3 with redis-py is needed: `pip install redis` (.ci/run installs it when missing)");
    }
    record_then_replay(
        &["python3", "tests/clients/replay_as_used.py", scenario],
        replay,
    )
}

/// `node tests/clients/node/replay_as_used.js SCENARIO`; panics with how to
/// install ioredis when it is missing.
fn ioredis(scenario: &str, replay: Replay) -> Output {
    if !repo()
        .join("tests/clients/node/node_modules/ioredis")
        .exists()
    {
        panic!("ioredis is not installed: run `npm ci --prefix tests/clients/node` (.ci/run does)");
    }
    record_then_replay(
        &["node", "tests/clients/node/replay_as_used.js", scenario],
        replay,
    )
}

fn strict() -> Replay<'static> {
    Replay {
        strict: true,
        ..Replay::default()
    }
}

// --- values the client makes up -------------------------------------------

#[test]
fn redis_py_lock_with_no_rule() {
    redis_py("lock", strict());
}

#[test]
fn redis_py_asyncio_lock() {
    redis_py("lock_asyncio", strict());
}

#[test]
fn ioredis_lock() {
    ioredis("lock", strict());
}

#[test]
fn redis_py_idempotency_keys_and_tokens() {
    redis_py("idempotency", strict());
}

#[test]
fn ioredis_idempotency_keys_and_tokens() {
    ioredis("idempotency", strict());
}

// --- the clock ---------------------------------------------------------------

/// Replayed 3 s after the recording, and slower (8 s pause for 1 s).
#[test]
fn redis_py_clock_with_a_slower_replay() {
    redis_py(
        "clock",
        Replay {
            strict: true,
            env: &[("RESPLAY_SCENARIO_SLOW", "1")],
            pause: Duration::from_secs(3),
        },
    );
}

// --- leftovers after a miss -----------------------------------------------

/// Connection 1 diverges on replay (one miss, expected), so not strict; the
/// miss must be reported, and connection 2 must not get its leftovers.
#[test]
fn redis_py_no_leftovers_after_a_miss() {
    let out = redis_py(
        "leftovers",
        Replay {
            env: &[("RESPLAY_SCENARIO_DIVERGE", "1")],
            ..Replay::default()
        },
    );
    let err = text(&out.stderr);
    assert!(err.contains("1 missed"), "{}", both(&out));
}

// --- killed from elsewhere ----------------------------------------------------

#[test]
fn redis_py_client_kill_closes_the_idle_victim() {
    redis_py("client_kill", strict());
}

#[test]
fn ioredis_client_kill_closes_the_idle_victim() {
    ioredis("client_kill", strict());
}

// --- MONITOR ------------------------------------------------------------------

#[test]
fn redis_py_monitor() {
    redis_py("monitor", strict());
}

#[test]
fn redis_py_asyncio_monitor_from_a_pool() {
    redis_py("monitor_asyncio", strict());
}

// --- AUTH ---------------------------------------------------------------------

#[test]
fn redis_py_auth_tells_passwords_apart() {
    redis_py("auth", strict());
}

#[test]
fn ioredis_auth_tells_passwords_apart() {
    ioredis("auth", strict());
}
