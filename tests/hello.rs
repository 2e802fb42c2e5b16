//! Replay's own `HELLO` (handshake calls are left out of a recording by
//! default) says what the recorded server said of itself: its name,
//! version, mode, role and any field of its own (Valkey 8.1's
//! `availability_zone`, which Valkey's test suite checks).

mod common;

use common::servers::ServerKind;
use common::{RedisServer, Resplay};
use redis::Value;

/// `HELLO 3`'s reply without its `id` (a connection id), and its
/// `version`.
fn hello(url: &str) -> (Vec<(Value, Value)>, String) {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let pairs = pairs_of(redis::cmd("HELLO").arg(3).query(&mut con).unwrap());
    let key = |k: &Value| redis::from_redis_value::<String>(k.clone()).unwrap_or_default();
    let version = pairs
        .iter()
        .find(|(k, _)| key(k) == "version")
        .map(|(_, v)| redis::from_redis_value::<String>(v.clone()).unwrap())
        .unwrap();
    let pairs = pairs.into_iter().filter(|(k, _)| key(k) != "id").collect();
    (pairs, version)
}

/// A `HELLO 3` reply's pairs: a map, or the flat array a RESP2 client
/// reads it as.
fn pairs_of(reply: Value) -> Vec<(Value, Value)> {
    match reply {
        Value::Map(pairs) => pairs,
        Value::Array(flat) => flat
            .chunks(2)
            .map(|kv| (kv[0].clone(), kv[1].clone()))
            .collect(),
        other => panic!("HELLO 3: {other:?}"),
    }
}

#[test]
fn replayed_hello_says_what_the_recorded_server_said() {
    let mut kinds = vec![ServerKind::Redis7, ServerKind::Redis8];
    if ServerKind::Valkey8.available() {
        kinds.push(ServerKind::Valkey8);
    } else {
        eprintln!("note: {}", ServerKind::Valkey8.missing());
    }
    for kind in kinds {
        let server = RedisServer::start_kind(kind, &[]);
        let (direct, version) = hello(&server.url());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let recorder = Resplay::record(&server.url(), &path, &[]);
        let mut con = redis::Client::open(recorder.url())
            .unwrap()
            .get_connection()
            .unwrap();
        let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
        drop(con);
        let (code, log) = recorder.stop();
        assert_eq!(code, 0, "{log:?}");
        drop(server);

        let header: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["server_version"], version.as_str(), "{kind:?}");

        let replay = Resplay::replay(&path, &[]);
        assert_eq!(hello(&replay.url()).0, direct, "{kind:?}");
        let (code, log) = replay.stop();
        assert_eq!(code, 0, "{log:?}");
    }
}

/// Valkey's `HELLO` shows `availability_zone` once one is configured: a
/// `HELLO` that says more than replay could make up is recorded even when
/// handshake calls are left out, and one that does not is made up again.
#[test]
fn a_hello_with_a_field_of_its_own_is_recorded_and_replayed() {
    if !ServerKind::Valkey8.available() {
        eprintln!("skipped: {}", ServerKind::Valkey8.missing());
        return;
    }
    let server = RedisServer::start_kind(ServerKind::Valkey8, &[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let zone = |url: &str, set: Option<&str>| {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        if let Some(zone) = set {
            let _: () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("availability-zone")
                .arg(zone)
                .query(&mut con)
                .unwrap();
        }
        pairs_of(redis::cmd("HELLO").arg(3).query(&mut con).unwrap())
            .into_iter()
            .find(|(k, _)| {
                redis::from_redis_value::<String>(k.clone()).unwrap() == "availability_zone"
            })
            .map(|(_, v)| redis::from_redis_value::<String>(v).unwrap())
    };
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let recorded = (
        zone(&recorder.url(), Some("myzone")),
        zone(&recorder.url(), Some("")),
    );
    assert_eq!(recorded, (Some("myzone".into()), None));
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    drop(server);

    let replay = Resplay::replay(&path, &[]);
    let replayed = (
        zone(&replay.url(), Some("myzone")),
        zone(&replay.url(), Some("")),
    );
    assert_eq!(replayed, recorded);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
}
