//! Values the client makes up (lock tokens, request ids) on replay: a
//! session recorded against a real redis-server with one set of random
//! tokens, replayed with fresh ones, must get its own tokens back.

mod common;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use common::{client_url, RedisServer, Resplay, PROTOCOLS};
use redis::Value;

/// `bytes` fresh random bytes (std's per-process random keys; no crate
/// needed for a test's tokens).
fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < n {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(out.len());
        out.extend_from_slice(&h.finish().to_le_bytes());
    }
    out.truncate(n);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID in its dashed form.
fn uuid() -> String {
    let h = hex(&random_bytes(16));
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// The tokens one run makes up.
struct Tokens {
    lock_key: String,
    owner: String,
    request: String,
    session: String,
}

impl Tokens {
    fn fresh() -> Tokens {
        // A hex string with digits and letters (all digits would be no
        // token; the odds are tiny, but a test must not flake on them).
        let hex_with_letters = |n: usize| loop {
            let h = hex(&random_bytes(n));
            if h.bytes().any(|b| b.is_ascii_alphabetic()) && h.bytes().any(|b| b.is_ascii_digit()) {
                return h;
            }
        };
        Tokens {
            lock_key: format!("lock:{}", hex_with_letters(16)),
            owner: uuid(),
            request: hex_with_letters(20),
            session: uuid(),
        }
    }
}

const RELEASE: &str =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        other => format!("{other:?}"),
    }
}

/// Takes a lock, reads it back, stores a request id in a hash field and a
/// session id as a value, lists the lock keys, releases the lock: every
/// reply checked against what this run made up.
fn session(url: &str, t: &Tokens) {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let ok: Value = redis::cmd("SET")
        .arg(&t.lock_key)
        .arg(&t.owner)
        .arg("NX")
        .arg("PX")
        .arg(10_000)
        .query(&mut con)
        .unwrap();
    assert_eq!(text(&ok), "OK");
    let owner: Value = redis::cmd("GET").arg(&t.lock_key).query(&mut con).unwrap();
    assert_eq!(text(&owner), t.owner, "the lock holds this run's token");
    let _: Value = redis::cmd("HSET")
        .arg("jobs")
        .arg(&t.request)
        .arg(&t.session)
        .query(&mut con)
        .unwrap();
    let jobs: Value = redis::cmd("HGETALL").arg("jobs").query(&mut con).unwrap();
    let flat: Vec<String> = match &jobs {
        Value::Array(items) => items.iter().map(text).collect(),
        Value::Map(pairs) => pairs.iter().flat_map(|(k, v)| [text(k), text(v)]).collect(),
        other => panic!("HGETALL: {other:?}"),
    };
    assert_eq!(flat, [t.request.clone(), t.session.clone()]);
    let keys: Vec<String> = redis::cmd("KEYS").arg("lock:*").query(&mut con).unwrap();
    assert_eq!(
        keys,
        std::slice::from_ref(&t.lock_key),
        "a key holding a token comes back as sent"
    );
    let released: i64 = redis::cmd("EVAL")
        .arg(RELEASE)
        .arg(1)
        .arg(&t.lock_key)
        .arg(&t.owner)
        .query(&mut con)
        .unwrap();
    assert_eq!(released, 1, "the lock is released by its own token");
    let _: i64 = redis::cmd("DEL").arg("jobs").query(&mut con).unwrap();
}

#[test]
fn fresh_tokens_stand_in_for_recorded_ones_both_ways() {
    for protocol in PROTOCOLS {
        let dir = tempfile::tempdir().unwrap();
        let cassette = dir.path().join("tokens.jsonl");
        let mut server = RedisServer::start();
        let recorder = Resplay::record(&server.url(), &cassette, &[]);
        session(&client_url(&recorder.url(), protocol), &Tokens::fresh());
        let (code, log) = recorder.stop();
        assert_eq!(code, 0, "{log:?}");
        server.kill();

        let replay = Resplay::replay(&cassette, &["--strict"]);
        session(&client_url(&replay.url(), protocol), &Tokens::fresh());
        let (code, log) = replay.stop();
        let log = log.join("\n");
        assert_eq!(code, 0, "RESP{protocol}: {log}");
        assert!(log.contains("0 missed, 0 unused"), "{log}");
        assert!(log.contains("4 made-up value(s) stood in"), "{log}");
    }
}

#[test]
fn exact_tokens_match_only_as_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("tokens.jsonl");
    let mut server = RedisServer::start();
    let recorder = Resplay::record(&server.url(), &cassette, &[]);
    let recorded = Tokens::fresh();
    session(&recorder.url(), &recorded);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    server.kill();

    let replay = Resplay::replay(&cassette, &["--exact-tokens"]);
    let mut con = redis::Client::open(replay.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let fresh = Tokens::fresh();
    let miss: redis::RedisResult<Value> = redis::cmd("SET")
        .arg(&fresh.lock_key)
        .arg(&fresh.owner)
        .arg("NX")
        .arg("PX")
        .arg(10_000)
        .query(&mut con);
    assert!(
        miss.is_err(),
        "a fresh token misses with --exact-tokens: {miss:?}"
    );
    // The recorded tokens still match.
    drop(con);
    session(&replay.url(), &recorded);
    let (_, log) = replay.stop();
    assert!(log.join("\n").contains("1 missed"), "{log:?}");
}
