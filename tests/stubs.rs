//! Hand-written stubs (`--stubs FILE`, `POST /stubs`, `resplay ctl stub`)
//! against real clients: a stubbed `HGETALL` read by RESP2 and RESP3
//! clients (the map downgrades for RESP2), captures, a sequence of
//! `-LOADING` then a value, `times`, `nth`, `db`, `delay`, stubs in front
//! of a cassette recorded from a real redis-server, and the replay's
//! report counting stub answers apart.

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::admin::{http, journal, ok, start_with_admin};
use common::raw::Raw;
use common::{client_url, resplay_bin, RedisServer, Resplay};

const FILE: &str = r#"
[[stub]]
pattern = "HGETALL user:{id}"
reply = '''
1# "name" => "user-{id}"
2# "lang" => "en"
'''

[[stub]]
pattern = "GET cache:k"
replies = ["(error) LOADING Redis is loading the dataset in memory", "(error) LOADING Redis is loading the dataset in memory", '"fresh"']
times = 3

[[stub]]
pattern = "INCR n"
json = 41
nth = 2

[[stub]]
pattern = "GET slow"
reply = '"late"'
delay = "300ms"

[[stub]]
pattern = "GET where"
reply = '"db3"'
db = 3
"#;

#[test]
fn stubs_alone_answer_resp2_and_resp3_clients() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stubs.toml");
    std::fs::write(&file, FILE).unwrap();
    let (resplay, admin) = start_with_admin(&["replay", "--stubs", file.to_str().unwrap()]);

    // The redis crate, RESP2 then RESP3: the same hash.
    for protocol in [2, 3] {
        let client = redis::Client::open(client_url(&resplay.url(), protocol)).unwrap();
        let mut con = client.get_connection().unwrap();
        let hash: HashMap<String, String> =
            redis::cmd("HGETALL").arg("user:7").query(&mut con).unwrap();
        assert_eq!(hash["name"], "user-7", "RESP{protocol}");
        assert_eq!(hash["lang"], "en");
    }
    // On the wire: a flat array for RESP2, a map for RESP3.
    let mut raw = Raw::connect(resplay.port);
    raw.send_raw(b"*2\r\n$7\r\nHGETALL\r\n$6\r\nuser:9\r\n");
    assert!(raw
        .read_bytes()
        .starts_with(b"*4\r\n$4\r\nname\r\n$6\r\nuser-9\r\n"));
    raw.call(&["HELLO", "3"]);
    raw.send_raw(b"*2\r\n$7\r\nHGETALL\r\n$6\r\nuser:9\r\n");
    assert!(raw.read_bytes().starts_with(b"%2\r\n"));

    // -LOADING twice, then the value, then nothing (times = 3).
    let mut raw = Raw::connect(resplay.port);
    for _ in 0..2 {
        let reply = format!("{:?}", raw.call(&["GET", "cache:k"]));
        assert!(reply.contains("LOADING"), "{reply}");
    }
    assert_eq!(
        format!("{:?}", raw.call(&["GET", "cache:k"])),
        format!("{:?}", resplay::resp::Value::Bulk("fresh".into()))
    );
    let fourth = format!("{:?}", raw.call(&["GET", "cache:k"]));
    assert!(fourth.contains("no recorded reply"), "{fourth}");
    // nth = 2: only the second INCR.
    assert!(format!("{:?}", raw.call(&["INCR", "n"])).contains("no recorded reply"));
    assert_eq!(raw.call(&["INCR", "n"]), resplay::resp::Value::Integer(41));
    // delay
    let started = Instant::now();
    assert_eq!(
        raw.call(&["GET", "slow"]),
        resplay::resp::Value::Bulk("late".into())
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    // db = 3 only.
    assert!(format!("{:?}", raw.call(&["GET", "where"])).contains("no recorded reply"));
    raw.call(&["SELECT", "3"]);
    assert_eq!(
        raw.call(&["GET", "where"]),
        resplay::resp::Value::Bulk("db3".into())
    );

    // Counted apart, listed with their counts.
    let status = ok(&admin, "GET", "/status", None);
    assert_eq!(status["served"], 0, "{status}");
    assert!(status["stubbed"].as_u64().unwrap() >= 10, "{status}");
    let listed = ok(&admin, "GET", "/stubs", None);
    assert_eq!(listed[1]["answered"], 3, "{listed}");
    assert_eq!(listed[1]["seen"], 4);

    // Added at run time, from the command line too; a bad one is refused.
    let out = ctl(
        &admin,
        &[
            "stub",
            "add",
            "GET user:{id} => \"name-{id}\"",
            "--times",
            "1",
        ],
    );
    assert!(out.contains("\"ids\""), "{out}");
    assert_eq!(
        raw.call(&["GET", "user:5"]),
        resplay::resp::Value::Bulk("name-5".into())
    );
    let (status, body) = http(
        &admin,
        "POST",
        "/stubs",
        Some(&json!({"pattern": "GET k => (integer) x"})),
    );
    assert_eq!(status, 400, "{body}");
    ok(&admin, "DELETE", "/stubs", None);
    assert!(format!("{:?}", raw.call(&["HGETALL", "user:1"])).contains("no recorded reply"));
    let (_, log) = resplay.stop();
    assert!(log.iter().any(|l| l.contains("stubbed")), "{log:?}");
}

fn ctl(admin: &str, args: &[&str]) -> String {
    let out = Command::new(resplay_bin())
        .args(["ctl", "--admin", admin])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// In front of a recording: the stub answers what it covers, the cassette
/// the rest, and the journal shows both.
#[test]
fn stubs_come_before_the_cassette() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&redis.url(), &cassette, &[]);
    let mut raw = Raw::connect(recorder.port);
    raw.call(&["SET", "a", "1"]);
    raw.call(&["GET", "a"]);
    drop(raw);
    recorder.stop();
    let (resplay, admin) = start_with_admin(&["replay", "--cassette", cassette.to_str().unwrap()]);
    ok(
        &admin,
        "POST",
        "/stubs",
        Some(
            &json!([{"pattern": "GET a", "error": "READONLY You can't write against a read only replica.", "times": 1}]),
        ),
    );
    let mut raw = Raw::connect(resplay.port);
    assert_eq!(
        raw.call(&["SET", "a", "1"]),
        resplay::resp::Value::Simple("OK".into())
    );
    assert!(format!("{:?}", raw.call(&["GET", "a"])).contains("READONLY"));
    // Its one time used: the recording answers.
    assert_eq!(
        raw.call(&["GET", "a"]),
        resplay::resp::Value::Bulk("1".into())
    );
    let calls: Vec<Value> = journal(&admin, "pattern=GET+a")["calls"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 2);
    assert!(calls[0]["reply"].as_str().unwrap().contains("READONLY"));
    assert_eq!(calls[1]["reply"], "\"1\"");
    let status = ok(&admin, "GET", "/status", None);
    assert_eq!(
        (status["served"].as_u64(), status["stubbed"].as_u64()),
        (Some(2), Some(1)),
        "{status}"
    );
    let (_, log) = resplay.stop();
    assert!(
        log.iter()
            .any(|l| l.contains("2 served") && l.contains("1 stubbed")),
        "{log:?}"
    );
}
