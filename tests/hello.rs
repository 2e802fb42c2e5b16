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
    let reply: Value = redis::cmd("HELLO").arg(3).query(&mut con).unwrap();
    let Value::Map(pairs) = reply else {
        panic!("HELLO 3: {reply:?}")
    };
    let key = |k: &Value| redis::from_redis_value::<String>(k.clone()).unwrap_or_default();
    let version = pairs
        .iter()
        .find(|(k, _)| key(k) == "version")
        .map(|(_, v)| redis::from_redis_value::<String>(v.clone()).unwrap())
        .unwrap();
    let pairs = pairs.into_iter().filter(|(k, _)| key(k) != "id").collect();
    (pairs, version)
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
