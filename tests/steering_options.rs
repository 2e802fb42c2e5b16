//! The per-switch options a test session needs (one resplay process, one
//! cassette per test): starting idle, `record_misses` (VCR's
//! `new_episodes`), `ignore` rules and `timing` for one mode, and the
//! refusal of options a mode does not take; through the embedding API and
//! through `resplay ctl` (the HTTP API), against a real redis-server.

mod common;

use std::time::{Duration, Instant};

use common::raw::Raw;
use common::RedisServer;
use resplay::control::{Finished, Mode, ModeSpec, SteerSettings};
use resplay::embed::SteeredServer;
use resplay::record::RecordConfig;
use resplay::replay::Timing;
use resplay::resp::Value;
use resplay::upstream::Upstream;

fn settings(redis: &RedisServer) -> SteerSettings {
    let upstream = Upstream::parse(&redis.url()).unwrap();
    SteerSettings::new(Some(RecordConfig::new(upstream)))
}

fn bulk(s: &str) -> Value {
    Value::bulk(s.as_bytes().to_vec())
}

fn replay(cassette: &std::path::Path) -> ModeSpec {
    ModeSpec::new(Mode::Replay, Some(cassette.to_path_buf()))
}

fn is_miss(value: &Value) -> bool {
    matches!(value, Value::Error(e) if String::from_utf8_lossy(e).contains("resplay: no recorded reply"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_start_then_record_then_replay_recording_its_misses() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("episodes.jsonl");
    let server = SteeredServer::start(settings(&redis), ModeSpec::new(Mode::Idle, None))
        .await
        .unwrap();
    assert_eq!(server.status().mode, Mode::Idle);
    assert_eq!(server.status().cassette, None);

    // A client that arrives while idle waits, and is served by the next mode.
    let port = server.addr().port();
    let early = tokio::task::spawn_blocking(move || {
        let mut raw = Raw::connect(port);
        raw.call(&["SET", "a", "1"])
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!early.is_finished(), "served while idle");
    let previous = server
        .switch(ModeSpec::new(Mode::Record, Some(cassette.clone())))
        .await
        .unwrap();
    assert!(matches!(previous, Finished::Idle), "{previous}");
    assert_eq!(early.await.unwrap(), Value::simple("OK"));
    let mut app = Raw::connect(port);
    assert_eq!(app.call(&["GET", "a"]), bulk("1"));

    // Back to idle: the recording is flushed and closed.
    let previous = server
        .switch(ModeSpec::new(Mode::Idle, None))
        .await
        .unwrap();
    match previous {
        Finished::Recorded(summary) => assert_eq!(summary.interactions, 2, "{summary}"),
        other => panic!("{other}"),
    }
    let recorded = std::fs::read_to_string(&cassette).unwrap();

    // Replay recording its misses: what matches is replayed, the rest goes
    // to Redis and is appended.
    redis_set(&redis, "b", "from-redis");
    let spec = ModeSpec {
        record_misses: true,
        ..replay(&cassette)
    };
    server.switch(spec).await.unwrap();
    let mut app = Raw::connect(port);
    assert_eq!(app.call(&["GET", "a"]), bulk("1"));
    assert_eq!(app.call(&["GET", "b"]), bulk("from-redis"));
    let status = server.status();
    assert_eq!(
        (status.missed, status.passed_through),
        (Some(0), Some(1)),
        "{status:?}"
    );
    assert_eq!(status.first_unused, vec!["SET a 1".to_string()]);
    server
        .switch(ModeSpec::new(Mode::Idle, None))
        .await
        .unwrap();
    let extended = std::fs::read_to_string(&cassette).unwrap();
    assert!(extended.starts_with(&recorded), "not appended:\n{extended}");
    assert!(
        extended[recorded.len()..].contains(r#"["GET","b"]"#),
        "{extended}"
    );

    // A plain replay now answers both from the cassette, with Redis gone.
    drop(redis);
    server.switch(replay(&cassette)).await.unwrap();
    let mut app = Raw::connect(port);
    assert_eq!(app.call(&["GET", "a"]), bulk("1"));
    assert_eq!(app.call(&["GET", "b"]), bulk("from-redis"));
    assert!(is_miss(&app.call(&["GET", "c"])));
    let status = server.status();
    assert_eq!(
        (status.served, status.missed, status.unused),
        (Some(2), Some(1), Some(1)),
        "{status:?}"
    );
    server.shutdown().await;
}

fn redis_set(redis: &RedisServer, key: &str, value: &str) {
    let mut raw = Raw::connect(redis.port);
    assert_eq!(raw.call(&["SET", key, value]), Value::simple("OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_rules_and_timing_hold_for_their_mode_only() {
    let redis = RedisServer::start_with(&["--enable-debug-command", "local"]);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("opts.jsonl");
    let server = SteeredServer::start(
        settings(&redis),
        ModeSpec::new(Mode::Record, Some(cassette.clone())),
    )
    .await
    .unwrap();
    let port = server.addr().port();
    let mut app = Raw::connect(port);
    assert_eq!(app.call(&["SET", "lock:abc", "1"]), Value::simple("OK"));
    // A reply that took 300 ms to come.
    assert_eq!(app.call(&["DEBUG", "SLEEP", "0.3"]), Value::simple("OK"));

    let spec = ModeSpec {
        ignore: vec!["SET lock:* <any>".into()],
        timing: Some(Timing::Recorded),
        ..replay(&cassette)
    };
    server.switch(spec).await.unwrap();
    let mut app = Raw::connect(port);
    assert_eq!(app.call(&["SET", "lock:xyz", "1"]), Value::simple("OK"));
    let started = Instant::now();
    assert_eq!(app.call(&["DEBUG", "SLEEP", "0.3"]), Value::simple("OK"));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "recorded timing not kept: {:?}",
        started.elapsed()
    );

    // The next replay, without the options, has the server's own.
    server.switch(replay(&cassette)).await.unwrap();
    let mut app = Raw::connect(port);
    assert!(is_miss(&app.call(&["SET", "lock:xyz", "1"])));
    let started = Instant::now();
    assert_eq!(app.call(&["DEBUG", "SLEEP", "0.3"]), Value::simple("OK"));
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "delayed without timing: {:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

/// Runs `resplay ctl --admin ADDR ARGS…`; its exit status and output.
fn ctl(admin: std::net::SocketAddr, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_resplay"))
        .arg("ctl")
        .arg("--admin")
        .arg(admin.to_string())
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn ctl_async(admin: std::net::SocketAddr, args: &[&str]) -> (bool, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ctl(admin, &args)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_a_mode_does_not_take_are_refused_by_name() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let other = dir.path().join("other.jsonl");
    let server = SteeredServer::start(
        settings(&redis),
        ModeSpec::new(Mode::Record, Some(cassette.clone())),
    )
    .await
    .unwrap();
    let admin = server.serve_admin("127.0.0.1:0").await.unwrap();
    let mut app = Raw::connect(server.addr().port());
    app.call(&["SET", "k", "v"]);
    let c = cassette.to_str().unwrap();
    let o = other.to_str().unwrap();

    let refused: [(&[&str], &str); 8] = [
        (
            &["mode", "record", "--cassette", o, "--ignore", "GET <any>"],
            "record does not take ignore (only replay)",
        ),
        (
            &["mode", "record", "--cassette", o, "--record-misses"],
            "record does not take record_misses (only replay)",
        ),
        (
            &["mode", "passthrough", "--timing", "recorded"],
            "passthrough does not take timing (only replay)",
        ),
        (
            &["mode", "replay", "--append"],
            "replay does not take append (only record)",
        ),
        (
            &["mode", "idle", "--cassette", c],
            "idle does not take cassette (only record and replay)",
        ),
        (
            &["mode", "passthrough", "--cassette", c],
            "passthrough does not take cassette (only record and replay)",
        ),
        (
            &["mode", "replay", "--ignore", "GET <any> ... extra"],
            "ignore: ",
        ),
        (
            &["mode", "replay", "--cassette", o, "--record-misses"],
            "other.jsonl: no such file",
        ),
    ];
    for (args, expected) in refused {
        let (ok, text) = ctl_async(admin, args).await;
        assert!(!ok, "{args:?} was accepted: {text}");
        assert!(text.contains("400"), "{args:?}: {text}");
        assert!(text.contains(expected), "{args:?}: {text}");
    }
    // Nothing changed: still recording, on the same connection.
    assert_eq!(server.status().mode, Mode::Record);
    assert_eq!(app.call(&["GET", "k"]), bulk("v"));
    assert!(!other.exists());

    // Accepted through ctl: idle, then replay with every replay option.
    let (ok, text) = ctl_async(admin, &["mode", "idle"]).await;
    assert!(ok && text.contains("\"mode\": \"idle\""), "{text}");
    let (ok, text) = ctl_async(
        admin,
        &[
            "mode",
            "replay",
            "--cassette",
            c,
            "--record-misses",
            "--ignore",
            "GET <any>",
            "--timing",
            "recorded",
        ],
    )
    .await;
    assert!(ok && text.contains("\"mode\": \"replay\""), "{text}");
    server.shutdown().await;

    // With no upstream, misses cannot be recorded.
    let replay_only = SteeredServer::start(SteerSettings::new(None), replay(&cassette))
        .await
        .unwrap();
    let error = replay_only
        .switch(ModeSpec {
            record_misses: true,
            ..replay(&cassette)
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("record_misses needs an upstream"), "{error}");
    replay_only.shutdown().await;
}

/// `resplay replay --admin` with no cassette starts idle, and says so on
/// `GET /status`; without `--admin` it still asks for a cassette.
#[test]
fn replay_with_admin_and_no_cassette_starts_idle() {
    let none = std::process::Command::new(env!("CARGO_BIN_EXE_resplay"))
        .args(["replay", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&none.stderr);
    assert!(!none.status.success());
    assert!(
        text.contains("no cassette") && text.contains("--admin"),
        "{text}"
    );

    let server = common::Resplay::start(&["replay", "--admin", "127.0.0.1:0"]);
    let admin: std::net::SocketAddr = server
        .log
        .iter()
        .find_map(|l| l.strip_prefix("resplay: control API on http://"))
        .unwrap_or_else(|| panic!("no control API line: {:?}", server.log))
        .parse()
        .unwrap();
    let (ok, text) = ctl(admin, &["status"]);
    assert!(ok, "{text}");
    assert!(text.contains("\"mode\": \"idle\""), "{text}");
    assert!(!text.contains("cassette"), "{text}");
    let (code, log) = server.stop();
    assert_eq!(code, 0, "{log:?}");
}

/// A cluster cassette needs a listener per node: the control API, which
/// steers one listener, refuses to replay one rather than serve every
/// node's recordings on it.
#[tokio::test]
async fn a_cluster_cassette_is_refused() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster.jsonl");
    std::fs::write(
        &cluster,
        concat!(
            r#"{"resplay":1,"upstream":"127.0.0.1:7000","cluster":{"nodes":[{"id":"a","addr":"127.0.0.1:7000","role":"primary","slots":[[0,16383]]}]}}"#,
            "\n",
            r#"{"conn":1,"at_ms":0,"event":"open","node":"127.0.0.1:7000"}"#,
            "\n",
        ),
    )
    .unwrap();
    let server = SteeredServer::start(settings(&redis), ModeSpec::new(Mode::Idle, None))
        .await
        .unwrap();
    let refused = server
        .switch(replay(&cluster))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("is a cluster cassette"), "{refused}");
    assert_eq!(server.status().mode, Mode::Idle);
}
