//! Redaction rules (`--redact`, `resplay redact`) against a real Redis and
//! a redis-py program: no secret reaches the cassette, structure is kept,
//! and the program replays green with the same rules.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{resplay_bin, RedisServer};

const SECRETS: [&str; 4] = [
    "tok_live_9f8e7d6c5b4a39281706",
    "ada@example.com",
    "078-05-1120",
    "sk_test_51HxYz0123abcd",
];

const RULES: [&str; 5] = [
    "SET session:* => arg=2",
    "GET session:* => reply",
    "HSET user:* => field=email field=ssn",
    "* => field=ssn field=email",
    "* => regex=sk_test_[0-9A-Za-z]+",
];

fn resplay(args: &[&str]) -> Output {
    Command::new(resplay_bin())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("run resplay")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn with_rules<'a>(mut args: Vec<&'a str>, rules: &[&'a str]) -> Vec<&'a str> {
    for rule in rules {
        args.extend(["--redact", rule]);
    }
    args
}

const PROGRAM: [&str; 2] = ["python3", "tests/clients/secret_store.py"];

/// Records the program, with `rules`, into `cassette`.
fn record(cassette: &str, rules: &[&str]) -> Output {
    let server = RedisServer::start();
    let upstream = server.url();
    let mut args = with_rules(
        vec!["run", "--cassette", cassette, "--upstream", &upstream],
        rules,
    );
    args.push("--");
    args.extend(PROGRAM);
    let out = resplay(&args);
    assert!(out.status.success(), "record run: {}", stderr(&out));
    drop(server);
    out
}

/// Replays the program strictly with `rules`; must be green.
fn replay(cassette: &str, rules: &[&str]) {
    let mut args = with_rules(
        vec!["run", "--mode", "none", "--strict", "--cassette", cassette],
        rules,
    );
    args.push("--");
    args.extend(PROGRAM);
    let out = resplay(&args);
    assert!(out.status.success(), "replay run: {}", stderr(&out));
    assert!(
        stderr(&out).contains("0 missed, 0 unused"),
        "{}",
        stderr(&out)
    );
}

fn assert_no_secrets(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains("<redacted:"), "{text}");
}

/// The JSON shape of a line: strings as "s", numbers as 0, arrays and
/// objects kept (with their lengths and keys).
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::String(_) => J::String("s".into()),
        J::Number(_) => J::from(0),
        J::Array(items) => J::Array(items.iter().map(shape).collect()),
        J::Object(map) => J::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        other => other.clone(),
    }
}

fn shapes(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| shape(&serde_json::from_str(l).unwrap()))
        .collect()
}

#[test]
fn recorded_under_rules_has_no_secrets_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.jsonl");
    let cassette = path.to_str().unwrap();
    let mut rules = RULES.to_vec();
    rules.push("GET nothing:* => reply");
    let out = record(cassette, &rules);
    assert_no_secrets(&path);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.lines().next().unwrap().contains("\"redact_salt\":"),
        "{text}"
    );
    // The same token gets the same placeholder in SET and in GET's reply.
    let set: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["cmd"][0] == "SET" && v["cmd"][1] == "session:abc")
        .unwrap();
    let placeholder = set["cmd"][2].as_str().unwrap().to_string();
    assert!(placeholder.starts_with("<redacted:"), "{placeholder}");
    assert!(
        text.contains(&format!("\"reply\":\"{placeholder}\"")),
        "{text}"
    );
    // Names the rule that matched nothing, and only it.
    let err = stderr(&out);
    assert!(
        err.contains("redaction rule 'GET nothing:* => reply' matched no command"),
        "{err}"
    );
    assert_eq!(err.matches("matched no command").count(), 1, "{err}");
    replay(cassette, &RULES);
}

#[test]
fn redact_an_existing_cassette() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.jsonl");
    let clean = dir.path().join("clean.jsonl");
    record(plain.to_str().unwrap(), &[]);
    let text = std::fs::read_to_string(&plain).unwrap();
    assert!(SECRETS.iter().all(|s| text.contains(s)));

    let mut args = with_rules(
        vec!["redact", plain.to_str().unwrap(), clean.to_str().unwrap()],
        &RULES,
    );
    args.extend(["--redact", "DEL nothing => arg=1"]);
    let out = resplay(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("redaction rule 'DEL nothing => arg=1' matched no command"),
        "{err}"
    );
    assert_eq!(err.matches("matched no command").count(), 1, "{err}");
    assert_no_secrets(&clean);
    // Structure kept: the same lines, the same JSON types and lengths.
    let before = shapes(&plain);
    assert_eq!(before.len(), text.lines().count() - 1);
    assert_eq!(shapes(&clean), before);
    // Redacting again changes nothing (same salt, placeholders left alone).
    let again = dir.path().join("again.jsonl");
    let args = with_rules(
        vec!["redact", clean.to_str().unwrap(), again.to_str().unwrap()],
        &RULES,
    );
    assert!(resplay(&args).status.success());
    assert_eq!(
        std::fs::read_to_string(&again).unwrap(),
        std::fs::read_to_string(&clean).unwrap()
    );
    // And the program replays green against it with the same rules.
    replay(clean.to_str().unwrap(), &RULES);
}

#[test]
fn redact_needs_rules_and_rejects_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c.jsonl");
    std::fs::write(&c, "{\"resplay\":1}\n").unwrap();
    let c = c.to_str().unwrap();
    let out = resplay(&["redact", c, c]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no redaction rules"),
        "{}",
        stderr(&out)
    );
    let out = resplay(&["redact", c, c, "--redact", "GET k => argh"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid redaction rule"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_published_secret_is_redacted_in_the_subscribers_push_too() {
    use common::raw::Raw;
    use common::Resplay;
    use resplay::resp::Value;

    let secret = "tok_live_published_0451";
    let rule = ["--redact", "PUBLISH alerts => arg=2"];
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("pubsub.jsonl");
    let recorder = Resplay::record(&server.url(), &cassette, &rule);
    let mut subscriber = Raw::connect(recorder.port);
    subscriber.call(&["SUBSCRIBE", "alerts"]);
    let mut publisher = Raw::connect(recorder.port);
    assert_eq!(
        publisher.call(&["PUBLISH", "alerts", secret]),
        Value::Integer(1)
    );
    let live = subscriber.read();
    assert_eq!(live.elements().unwrap()[2], Value::bulk(secret));
    drop((subscriber, publisher));
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    drop(server);
    let text = std::fs::read_to_string(&cassette).unwrap();
    assert!(
        !text.contains(secret),
        "the secret reached the cassette:\n{text}"
    );
    assert!(text.contains("<redacted:"), "{text}");

    // Replayed with the same rule, the live PUBLISH of the real secret
    // matches, and the subscriber gets what was recorded.
    let replay = Resplay::replay(&cassette, &rule);
    let mut subscriber = Raw::connect(replay.port);
    subscriber.call(&["SUBSCRIBE", "alerts"]);
    let mut publisher = Raw::connect(replay.port);
    assert_eq!(
        publisher.call(&["PUBLISH", "alerts", secret]),
        Value::Integer(1)
    );
    let replayed = subscriber.read();
    let payload = replayed.elements().unwrap()[2].as_bytes().unwrap().to_vec();
    assert!(payload.starts_with(b"<redacted:"), "{replayed:?}");
    drop((subscriber, publisher));
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
}
