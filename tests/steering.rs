//! Steering a running resplay (the embedding API, which the HTTP API and
//! `resplay ctl` call): mode switches with and without connection reset,
//! bad switches, injected messages and invalidations, against a real
//! redis-server, in RESP2 and RESP3.

mod common;

use std::path::Path;

use common::raw::Raw;
use common::{RedisServer, PROTOCOLS};
use resplay::control::{Finished, Mode, ModeSpec, SteerSettings};
use resplay::embed::{ReplayServer, SteeredServer};
use resplay::record::RecordConfig;
use resplay::replay::ReplayConfig;
use resplay::resp::Value;
use resplay::upstream::Upstream;

fn settings(redis: &RedisServer, reset: bool) -> SteerSettings {
    let upstream = Upstream::parse(&redis.url()).unwrap();
    let mut settings = SteerSettings::new(Some(RecordConfig::new(upstream)));
    settings.reset_connections_on_switch = reset;
    settings
}

async fn start(redis: &RedisServer, reset: bool, mode: Mode, cassette: &Path) -> SteeredServer {
    let cassette = (mode != Mode::Passthrough).then(|| cassette.to_path_buf());
    SteeredServer::start(settings(redis, reset), ModeSpec::new(mode, cassette))
        .await
        .unwrap()
}

fn bulk(s: &str) -> Value {
    Value::bulk(s.as_bytes().to_vec())
}

/// A raw client on `server` speaking `protocol`.
fn client(server: &SteeredServer, protocol: u8) -> Raw {
    let mut raw = Raw::connect(server.addr().port());
    if protocol == 3 {
        let hello = raw.call(&["HELLO", "3"]);
        assert!(matches!(hello, Value::Map(_)), "{hello:?}");
    }
    raw
}

/// A pub/sub frame's words, whatever the protocol.
fn words(value: &Value) -> Vec<String> {
    value
        .elements()
        .unwrap_or_else(|| panic!("not an aggregate: {value:?}"))
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes().unwrap_or(b"?")).into_owned())
        .collect()
}

fn assert_frame_kind(value: &Value, protocol: u8) {
    if protocol == 3 {
        assert!(matches!(value, Value::Push(_)), "{value:?}");
    } else {
        assert!(matches!(value, Value::Array(_)), "{value:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_connections_go_on_from_record_to_replay_with_db_protocol_and_subscriptions() {
    for protocol in PROTOCOLS {
        let mut redis = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let cassette = dir.path().join("kept.jsonl");
        let server = start(&redis, false, Mode::Record, &cassette).await;

        let mut app = client(&server, protocol);
        assert_eq!(app.call(&["SELECT", "2"]), Value::simple("OK"));
        app.call(&["HSET", "h", "f", "v"]);
        let recorded_hash = app.call(&["HGETALL", "h"]);
        let mut listener = client(&server, protocol);
        listener.call(&["SUBSCRIBE", "ch"]);
        listener.call(&["PSUBSCRIBE", "news.*"]);

        let previous = server
            .switch(ModeSpec::new(Mode::Replay, None))
            .await
            .unwrap();
        assert!(
            matches!(previous, Finished::Recorded(ref s) if s.writer.lost == 0),
            "{previous}"
        );
        redis.kill();
        assert_eq!(server.status().mode, Mode::Replay);
        assert_eq!(server.status().connections, 2);

        // Same socket, same database, same protocol (a map in RESP3).
        assert_eq!(app.call(&["HGETALL", "h"]), recorded_hash, "RESP{protocol}");
        if protocol == 3 {
            assert!(matches!(recorded_hash, Value::Map(_)));
        }
        // Still subscribed: injected messages reach the listener.
        assert_eq!(server.publish("ch", "m1").await, 1);
        let message = listener.read();
        assert_frame_kind(&message, protocol);
        assert_eq!(words(&message), ["message", "ch", "m1"]);
        assert_eq!(server.publish("news.tech", "m2").await, 1);
        assert_eq!(
            words(&listener.read()),
            ["pmessage", "news.*", "news.tech", "m2"]
        );
        let report = match server.shutdown().await {
            Some(Finished::Replayed(report)) => report,
            other => panic!("{other:?}"),
        };
        assert_eq!(report.missed, 0, "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_connections_into_record_get_their_state_restored_upstream() {
    for protocol in PROTOCOLS {
        let redis = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let cassette = dir.path().join("into-record.jsonl");
        let server = start(&redis, false, Mode::Passthrough, &cassette).await;
        let mut app = client(&server, protocol);
        app.call(&["SELECT", "3"]);
        app.call(&["SET", "k", "in-db-3"]);
        let mut listener = client(&server, protocol);
        listener.call(&["SUBSCRIBE", "ch"]);

        server
            .switch(ModeSpec::new(Mode::Record, Some(cassette.clone())))
            .await
            .unwrap();
        // The new upstream connection was brought to db 3 and resubscribed:
        // a real PUBLISH reaches the listener through the recorder.
        assert_eq!(app.call(&["GET", "k"]), bulk("in-db-3"));
        assert_eq!(app.call(&["PUBLISH", "ch", "real"]), Value::Integer(1));
        assert_eq!(words(&listener.read()), ["message", "ch", "real"]);
        server.shutdown().await;

        // The recording replays like one made by `resplay record`: a fresh
        // client that selects db 3 finds its GET.
        let replay = ReplayServer::start(&cassette, ReplayConfig::default())
            .await
            .unwrap();
        let mut fresh = Raw::connect(replay.addr().port());
        if protocol == 3 {
            fresh.call(&["HELLO", "3"]);
        }
        fresh.call(&["SELECT", "3"]);
        assert_eq!(fresh.call(&["GET", "k"]), bulk("in-db-3"));
        let report = replay.shutdown().await;
        assert_eq!(report.missed, 0, "{report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_with_reset_closes_clients_after_their_replies() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("reset.jsonl");
    let server = start(&redis, true, Mode::Record, &cassette).await;
    let mut app = client(&server, 2);
    assert_eq!(app.call(&["SET", "k", "v"]), Value::simple("OK"));
    assert_eq!(app.call(&["GET", "k"]), bulk("v"));
    server
        .switch(ModeSpec::new(Mode::Replay, None))
        .await
        .unwrap();
    assert!(app.is_closed(), "reset must close the client");
    let mut again = client(&server, 2);
    assert_eq!(again.call(&["GET", "k"]), bulk("v"));

    // A reset through the API closes whatever is connected now.
    assert_eq!(server.reset_connections(), 1);
    assert!(again.is_closed());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_switch_leaves_the_running_mode_alone() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("ok.jsonl");
    let server = start(&redis, false, Mode::Record, &cassette).await;
    let mut app = client(&server, 2);
    app.call(&["SET", "k", "v"]);

    let missing = dir.path().join("missing.jsonl");
    let error = server
        .switch(ModeSpec::new(Mode::Replay, Some(missing.clone())))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("missing.jsonl"), "{error}");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"resplay\":1,\"created\":\"2026-01-01T00:00:00Z\"}\n{\"conn\":1,oops}\n{}\n",
    )
    .unwrap();
    let error = server
        .switch(ModeSpec::new(Mode::Replay, Some(bad)))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("bad.jsonl:2"), "{error}");

    let error = server
        .switch(ModeSpec::new(Mode::Record, Some(cassette.clone())))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("already recording"), "{error}");

    let nowhere = dir.path().join("no/such/dir/c.jsonl");
    let error = server
        .switch(ModeSpec::new(Mode::Record, Some(nowhere)))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not exist"), "{error}");

    // Still recording, on the same connection.
    assert_eq!(server.status().mode, Mode::Record);
    assert_eq!(app.call(&["GET", "k"]), bulk("v"));
    let recorded = match server.shutdown().await {
        Some(Finished::Recorded(summary)) => summary,
        other => panic!("{other:?}"),
    };
    assert_eq!(recorded.interactions, 2, "{recorded}");

    // Without an upstream only replay is possible.
    let replay_only = SteeredServer::start(
        SteerSettings::new(None),
        ModeSpec::new(Mode::Replay, Some(cassette)),
    )
    .await
    .unwrap();
    let error = replay_only
        .switch(ModeSpec::new(Mode::Passthrough, None))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("needs an upstream"), "{error}");
    assert_eq!(replay_only.status().mode, Mode::Replay);
    replay_only.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_messages_count_receivers_as_publish_does() {
    for mode in [Mode::Record, Mode::Passthrough] {
        for protocol in PROTOCOLS {
            let redis = RedisServer::start();
            let dir = tempfile::tempdir().unwrap();
            let cassette = dir.path().join("publish.jsonl");
            let server = start(&redis, true, mode, &cassette).await;
            let mut both = client(&server, protocol);
            both.call(&["SUBSCRIBE", "news.tech"]);
            both.call(&["PSUBSCRIBE", "news.*"]);
            let mut shard = client(&server, protocol);
            shard.call(&["SSUBSCRIBE", "orders"]);
            let mut idle = client(&server, protocol);

            // Redis itself counts two receivers for this message.
            let real = Raw::connect(redis.port).call(&["PUBLISH", "news.tech", "real"]);
            assert_eq!(real, Value::Integer(2));
            both.read();
            both.read();

            assert_eq!(server.publish("news.tech", "injected").await, 2);
            let first = both.read();
            assert_frame_kind(&first, protocol);
            assert_eq!(words(&first), ["message", "news.tech", "injected"]);
            assert_eq!(
                words(&both.read()),
                ["pmessage", "news.*", "news.tech", "injected"]
            );
            let sharded = server
                .inject(resplay::server::inject::Injection::Message {
                    channel: "orders".into(),
                    message: "o1".into(),
                    shard: true,
                })
                .await;
            assert_eq!(sharded, 1);
            assert_eq!(words(&shard.read()), ["smessage", "orders", "o1"]);
            assert_eq!(server.publish("nobody", "x").await, 0);
            // A connection not subscribed got nothing and still answers.
            assert_eq!(idle.call(&["PING"]), Value::simple("PONG"));
            server.shutdown().await;
            if mode == Mode::Record {
                let text = std::fs::read_to_string(&cassette).unwrap();
                assert!(!text.contains("injected"), "injections are not recorded");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_reach_tracking_clients() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("tracking.jsonl");
    let server = start(&redis, true, Mode::Record, &cassette).await;
    let mut tracker = client(&server, 3);
    assert_eq!(
        tracker.call(&["CLIENT", "TRACKING", "on"]),
        Value::simple("OK")
    );
    let mut untracked = client(&server, 3);
    assert_eq!(
        server
            .invalidate(Some(vec!["user:1".into(), "user:2".into()]))
            .await,
        1
    );
    let push = tracker.read();
    assert!(matches!(push, Value::Push(_)), "{push:?}");
    let items = push.elements().unwrap();
    assert_eq!(items[0], bulk("invalidate"));
    assert_eq!(items[1], Value::Array(vec![bulk("user:1"), bulk("user:2")]));
    assert_eq!(untracked.call(&["PING"]), Value::simple("PONG"));

    // Replayed, the recorded CLIENT TRACKING turns tracking on again.
    server
        .switch(ModeSpec::new(Mode::Replay, None))
        .await
        .unwrap();
    let mut replayed = client(&server, 3);
    assert_eq!(
        replayed.call(&["CLIENT", "TRACKING", "on"]),
        Value::simple("OK")
    );
    assert_eq!(server.invalidate(None).await, 1);
    assert_eq!(
        replayed.read(),
        Value::Push(vec![bulk("invalidate"), Value::Null])
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_rules_through_ctl_hold_across_a_switch() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("faults.jsonl");
    let server = start(&redis, false, Mode::Record, &cassette).await;
    let admin = server.serve_admin("127.0.0.1:0").await.unwrap();
    let mut app = client(&server, 2);
    assert_eq!(app.call(&["SET", "k", "v"]), Value::simple("OK"));
    assert_eq!(app.call(&["GET", "k"]), bulk("v"));

    let rule = r#"GET k => error="LOADING Redis is loading the dataset in memory" count=1"#;
    let added = tokio::task::spawn_blocking(move || ctl(admin, &["fault", "add", rule]))
        .await
        .unwrap();
    assert!(added.0, "{}", added.1);
    assert!(added.1.contains("\"id\": 1"), "{}", added.1);
    let bad =
        tokio::task::spawn_blocking(move || ctl(admin, &["fault", "add", "GET k => explode"]))
            .await
            .unwrap();
    assert!(!bad.0 && bad.1.contains("400"), "{}", bad.1);

    // Recording: the fault answers in Redis's place, then Redis does.
    assert_eq!(
        app.call(&["GET", "k"]),
        Value::Error("LOADING Redis is loading the dataset in memory".into())
    );
    assert_eq!(app.call(&["GET", "k"]), bulk("v"));

    // The same rule set serves replay: rearm it with another rule.
    server
        .switch(ModeSpec::new(Mode::Replay, None))
        .await
        .unwrap();
    let rule = r#"GET k => error="READONLY You can't write against a read only replica." count=1"#;
    let added = tokio::task::spawn_blocking(move || ctl(admin, &["fault", "add", rule]))
        .await
        .unwrap();
    assert!(added.0, "{}", added.1);
    assert_eq!(
        app.call(&["GET", "k"]),
        Value::Error("READONLY You can't write against a read only replica.".into())
    );
    assert_eq!(app.call(&["GET", "k"]), bulk("v"));
    let listed = tokio::task::spawn_blocking(move || ctl(admin, &["fault", "list"]))
        .await
        .unwrap();
    assert!(listed.1.contains("\"fired\": 1"), "{}", listed.1);
    let removed = tokio::task::spawn_blocking(move || ctl(admin, &["fault", "rm", "1"]))
        .await
        .unwrap();
    assert!(removed.0, "{}", removed.1);
    let missing = tokio::task::spawn_blocking(move || ctl(admin, &["fault", "rm", "1"]))
        .await
        .unwrap();
    assert!(
        !missing.0 && missing.1.contains("no fault rule with id 1"),
        "{}",
        missing.1
    );
    assert_eq!(server.faults().list().len(), 1);
    server.shutdown().await;
    // Faulted commands are not in the cassette.
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(!text.contains("LOADING"), "{text}");
}
