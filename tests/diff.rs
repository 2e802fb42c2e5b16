//! `resplay diff`: a program recorded twice against a real redis-server,
//! the second run storing one value differently and sending one more
//! command, with a volatile lock token that differs in every run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{resplay_bin, RedisServer, Resplay};

/// The program under test: it reads user:1 (stored beforehand, outside
/// the recording), may also write a profile, and takes a lock whose token
/// is new in every run.
fn program(url: &str, profile: bool, token: &str) {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    let _: () = redis::cmd("SET")
        .arg("greeting")
        .arg("hello")
        .query(&mut con)
        .unwrap();
    let _: String = redis::cmd("GET").arg("user:1").query(&mut con).unwrap();
    let _: i64 = redis::cmd("INCR").arg("visits").query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("lock:{token}"))
        .arg(token)
        .arg("PX")
        .arg(30000)
        .query(&mut con)
        .unwrap();
    if profile {
        let _: i64 = redis::cmd("HSET")
            .arg("profile:1")
            .arg("name")
            .arg("Alice Smith")
            .query(&mut con)
            .unwrap();
    }
    let _: i64 = redis::cmd("DEL").arg("visits").query(&mut con).unwrap();
}

/// Records `program` into `path` through a fresh recorder, the server
/// flushed first and user:1 stored as `name` directly (not recorded).
fn record(server: &RedisServer, path: &Path, name: &str, profile: bool, token: &str) {
    let mut direct = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("FLUSHALL").query(&mut direct).unwrap();
    let _: () = redis::cmd("SET")
        .arg("user:1")
        .arg(name)
        .query(&mut direct)
        .unwrap();
    let recorder = Resplay::record(&server.url(), path, &[]);
    program(&recorder.url(), profile, token);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "recorder failed: {log:?}");
}

fn diff(args: &[&str]) -> Output {
    Command::new(resplay_bin())
        .arg("diff")
        .args(args)
        .output()
        .expect("run resplay diff")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

const LOCK_RULE: &str = "SET lock:* <any> PX <any>";

struct Recorded {
    _dir: tempfile::TempDir,
    old: PathBuf,
    new: PathBuf,
}

fn record_twice() -> Recorded {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.jsonl");
    let new = dir.path().join("new.jsonl");
    record(&server, &old, "alice", false, "9f1c");
    record(&server, &new, "Alice Smith", true, "77ab");
    Recorded {
        _dir: dir,
        old,
        new,
    }
}

#[test]
fn rerecording_shows_changed_reply_and_added_command() {
    let r = record_twice();
    let (old, new) = (s(&r.old), s(&r.new));

    // With the lock token ignored: one reply changed, one command added.
    let out = diff(&[old, new, "--ignore", LOCK_RULE]);
    let listing = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{listing}{}", text(&out.stderr));
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[0].starts_with(&format!("--- {old}: ")), "{listing}");
    assert!(lines[1].starts_with(&format!("+++ {new}: ")), "{listing}");
    let changes: Vec<&str> = lines[2..lines.len() - 1].to_vec();
    assert_eq!(
        changes,
        [
            "~ conn 1 db 0  GET user:1: \"alice\" -> \"Alice Smith\"",
            "+ conn 1 db 0  HSET profile:1 name \"Alice Smith\" -> (integer) 1",
        ],
        "{listing}"
    );
    assert_eq!(lines.last(), Some(&"1 added, 0 removed, 1 changed"));

    // Without the rule, the volatile lock shows as removed and added.
    let out = diff(&[old, new]);
    let listing = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        listing.contains("- conn 1 db 0  SET lock:9f1c 9f1c PX 30000 -> OK\n"),
        "{listing}"
    );
    assert!(
        listing.contains("+ conn 1 db 0  SET lock:77ab 77ab PX 30000 -> OK\n"),
        "{listing}"
    );
    assert!(
        listing.ends_with("2 added, 1 removed, 1 changed\n"),
        "{listing}"
    );

    // --json: one object a line, each parseable.
    let out = diff(&["--json", old, new, "--ignore", LOCK_RULE]);
    assert_eq!(out.status.code(), Some(1));
    let objects: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object a line"))
        .collect();
    assert_eq!(objects.len(), 2, "{objects:?}");
    assert_eq!(objects[0]["kind"], "changed");
    assert_eq!(objects[0]["db"], 0);
    assert_eq!(objects[0]["command"], serde_json::json!(["GET", "user:1"]));
    assert_eq!(objects[0]["old_reply"], "alice");
    assert_eq!(objects[0]["new_reply"], "Alice Smith");
    assert_eq!(objects[1]["kind"], "added");
    assert_eq!(objects[1]["new_reply"], 1);
    assert!(objects[1].get("old_reply").is_none());
}

#[test]
fn a_cassette_against_itself_and_a_volatile_argument_are_no_change() {
    let r = record_twice();
    let old = s(&r.old);
    let out = diff(&[old, old]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).ends_with("no differences\n"));
    let out = diff(&["--json", old, old]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "");

    // A re-recording of the same run: only the lock token differs.
    let server = RedisServer::start();
    let again = r.old.with_file_name("again.jsonl");
    record(&server, &again, "alice", false, "c0ffee");
    let out = diff(&[old, s(&again), "--ignore", LOCK_RULE]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let out = diff(&[old, s(&again)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).ends_with("1 added, 1 removed, 0 changed\n"));
}

#[test]
fn a_corrupt_cassette_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.jsonl");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &good,
        "{\"resplay\":1,\"db\":0}\n{\"conn\":1,\"seq\":0,\"cmd\":[\"PING\"],\"reply\":{\"+\":\"PONG\"}}\n",
    )
    .unwrap();
    std::fs::write(
        &bad,
        "{\"resplay\":1,\"db\":0}\n{\"conn\":1,\"seq\":0,\"cmd\":[\"PING\"],\"reply\":{\"+\":\"PONG\"}}\n{\"conn\":1,\"seq\":1,\"cmd\":[\"GET\"\n{\"conn\":1,\"at_ms\":1,\"event\":\"close\"}\n",
    )
    .unwrap();
    for args in [[s(&good), s(&bad)], [s(&bad), s(&good)]] {
        let out = diff(&args);
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!("{}:3: ", bad.display())),
            "stderr: {err}"
        );
        assert_eq!(text(&out.stdout), "");
    }
    let missing = dir.path().join("missing.jsonl");
    let out = diff(&[s(&good), s(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("missing.jsonl"));
}
