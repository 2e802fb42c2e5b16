//! `resplay conform` against real servers: a redis-py workload recorded on
//! Redis 7.0.15, driven against a fresh 7.0.15 (no difference may be
//! reported), against Redis 8.2.3 and Valkey 8.1.1 (only the real
//! differences), against a target that answers one command otherwise, and
//! the safety rules.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::servers::ServerKind;
use common::{resplay_bin, RedisServer, Resplay, PROTOCOLS};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn require_redis_py() {
    let ok = Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with redis-py is needed: .ci/run installs it (pip install redis)"
    );
}

/// Records the workload through `resplay record` against Redis 7.0.15,
/// speaking `protocol`.
fn record_workload(dir: &Path, protocol: u8) -> PathBuf {
    require_redis_py();
    let cassette = dir.join(format!("workload-resp{protocol}.jsonl"));
    let server = RedisServer::start();
    let recorder = Resplay::record(&server.url(), &cassette, &[]);
    let out = Command::new("python3")
        .arg(repo().join("tests/clients/conform_workload.py"))
        .args([recorder.port.to_string(), protocol.to_string()])
        .output()
        .expect("run the workload");
    assert!(
        out.status.success(),
        "workload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    cassette
}

fn conform(cassette: &Path, target: &str, extra: &[&str]) -> Output {
    Command::new(resplay_bin())
        .arg("conform")
        .arg(cassette)
        .args(["--target", target])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run resplay conform")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The summary line of a `--json` run.
fn summary(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().expect("a summary line");
    let summary: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(summary["type"], "summary", "{stdout}");
    summary
}

/// The differences of a `--json` run: (command, reason).
fn differences(out: &Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "difference")
        .map(|v| {
            (
                v["command"].as_str().unwrap().to_string(),
                v["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Records `commands` sent by the `redis` crate on one connection through
/// `resplay record` in front of `server`.
fn record_commands(server: &RedisServer, cassette: &Path, commands: &[&[&str]]) {
    let recorder = Resplay::record(&server.url(), cassette, &[]);
    let mut con = redis::Client::open(recorder.url())
        .unwrap()
        .get_connection()
        .unwrap();
    for words in commands {
        let mut cmd = redis::cmd(words[0]);
        for w in &words[1..] {
            cmd.arg(*w);
        }
        let _: redis::Value = cmd.query(&mut con).unwrap();
    }
    drop(con);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
}

#[test]
fn the_same_server_version_shows_no_difference_and_every_command_is_counted() {
    for protocol in PROTOCOLS {
        let dir = tempfile::tempdir().unwrap();
        let cassette = record_workload(dir.path(), protocol);
        let recorded = common::cassette_lines(&cassette)
            .iter()
            .filter(|l| l.get("cmd").is_some())
            .count() as u64;
        let target = RedisServer::start();
        let out = conform(&cassette, &target.url(), &["--json"]);
        assert_eq!(out.status.code(), Some(0), "RESP{protocol}: {}", text(&out));
        let s = summary(&out);
        let totals = &s["totals"];
        assert_eq!(totals["recorded"], recorded, "{s}");
        assert_eq!(totals["different"], 0, "{s}");
        assert_eq!(totals["unanswered"], 0, "{s}");
        // The noise was there and was not a difference.
        assert!(totals["equivalent"].as_u64().unwrap() >= 3, "{s}");
        assert!(totals["not_comparable"].as_u64().unwrap() >= 3, "{s}");
    }
}

#[test]
fn another_server_shows_only_its_real_differences() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = record_workload(dir.path(), 2);
    for kind in [ServerKind::Redis8, ServerKind::Valkey8] {
        let target = RedisServer::start_kind(kind, &[]);
        let out = conform(&cassette, &target.url(), &["--json"]);
        let found = differences(&out);
        // Redis 7.0 refused `CLIENT SETINFO` (new in 7.2), which redis-py
        // sends on every connection; both newer servers accept it. That is
        // the only difference this workload has.
        assert!(!found.is_empty(), "{}: {}", kind.name(), text(&out));
        for (command, reason) in &found {
            assert_eq!(
                (command.as_str(), reason.as_str()),
                ("CLIENT SETINFO", "error in the recording only"),
                "{}: {}",
                kind.name(),
                text(&out)
            );
        }
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    }
}

#[test]
fn a_target_that_answers_one_command_otherwise_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("small.jsonl");
    let server = RedisServer::start();
    record_commands(
        &server,
        &cassette,
        &[&["SET", "k", "v"], &["GET", "k"], &["INCR", "n"]],
    );
    // The target: a replay of the cassette with GET's reply edited.
    let edited = dir.path().join("edited.jsonl");
    let lines = std::fs::read_to_string(&cassette).unwrap();
    std::fs::write(&edited, lines.replace("\"reply\":\"v\"", "\"reply\":\"w\"")).unwrap();
    assert_ne!(std::fs::read_to_string(&edited).unwrap(), lines);
    let target = Resplay::replay(&edited, &[]);
    let out = conform(&cassette, &target.url(), &[]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("GET: different value"), "{report}");
    assert!(report.contains("] GET k\n"), "{report}");
    assert!(report.contains("recorded: \"v\""), "{report}");
    assert!(report.contains("target:   \"w\""), "{report}");
    assert!(report.contains("SET "), "{report}");
}

#[test]
fn a_target_with_data_or_the_recorded_upstream_is_refused_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let server = RedisServer::start();
    record_commands(
        &server,
        &cassette,
        &[
            &["SET", "k", "v"],
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
        ],
    );

    // The recorded upstream itself (which holds `k` too).
    let out = conform(&cassette, &server.url(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("recorded from"), "{}", text(&out));

    // Another server that holds data.
    let target = RedisServer::start();
    common::redis_cli(target.port, &["SET", "other", "1"], None);
    let out = conform(&cassette, &target.url(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("holds data"), "{}", text(&out));
    let out = conform(&cassette, &target.url(), &["--flush"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("FLUSHALL"), "{}", text(&out));
    // CONFIG SET changes the server: skipped and listed, not sent.
    assert!(
        text(&out).contains("skipped: CONFIG SET maxmemory-policy allkeys-lru"),
        "{}",
        text(&out)
    );
    let policy = common::redis_cli(target.port, &["CONFIG", "GET", "maxmemory-policy"], None);
    assert!(!policy.contains("allkeys-lru"), "{policy}");
}

#[test]
fn an_old_cassettes_absolute_times_move_with_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("times.jsonl");
    let server = RedisServer::start();
    record_commands(
        &server,
        &cassette,
        &[
            &["SET", "k", "v", "EX", "100"],
            &["EXPIRETIME", "k"],
            &["EXPIREAT", "j", "2000000000"],
            &["SET", "j", "v", "EXAT", "2000000000"],
            &["EXPIRETIME", "j"],
        ],
    );
    // The cassette looks three hours old.
    let written = std::fs::read_to_string(&cassette).unwrap();
    let mut lines: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let created = humantime::parse_rfc3339(lines[0]["created"].as_str().unwrap()).unwrap();
    let older = created - std::time::Duration::from_secs(3 * 3600);
    lines[0]["created"] = humantime::format_rfc3339_millis(older).to_string().into();
    // As a recording made then: `EXPIRETIME k` answered three hours
    // earlier (`k`'s expiry came from the clock; `j`'s is a fixed date).
    for line in lines.iter_mut() {
        if line["cmd"] == serde_json::json!(["EXPIRETIME", "k"]) {
            let at = line["reply"].as_i64().unwrap();
            line["reply"] = (at - 3 * 3600).into();
        }
    }
    let doctored: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&cassette, doctored.join("\n") + "\n").unwrap();

    let target = RedisServer::start();
    let out = conform(&cassette, &target.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn load_replay_plays_the_traffic_over_and_reports_latencies() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = record_workload(dir.path(), 2);
    let recorded = common::cassette_lines(&cassette)
        .iter()
        .filter(|l| l.get("cmd").is_some())
        .count() as u64;
    let target = RedisServer::start();
    // Each recorded connection twice at once, the whole twice over.
    let out = conform(
        &cassette,
        &target.url(),
        &["--connections-scale", "2", "--loop", "2", "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(report["type"], "load", "{report}");
    let played = report["answered"].as_u64().unwrap() + report["skipped"].as_u64().unwrap();
    assert_eq!(played, 4 * recorded, "{report}");
    assert_eq!(report["unanswered"], 0, "{report}");
    assert!(report["commands_per_s"].as_f64().unwrap() > 0.0, "{report}");
    let set = &report["by_command"]["SET"];
    assert_eq!(set["count"], 4 * 12, "{report}");
    assert!(set["p50_us"].as_u64().unwrap() <= set["max_us"].as_u64().unwrap());

    // Compared at the recorded pace, twice as fast: still no difference.
    let fresh = RedisServer::start();
    let out = conform(&cassette, &fresh.url(), &["--speed", "2x"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = conform(&cassette, &fresh.url(), &["--speed", "fast"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn passwords_databases_and_client_reply_conform() {
    // Recorded against a server with a password, handshake calls kept:
    // AUTH's password is stored redacted, and the target URL's stands in
    // for it; the recorded SELECT is sent as recorded.
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("auth.jsonl");
    let server = RedisServer::start_with(&["--requirepass", "s3cret"]);
    let recorder = Resplay::record(
        &format!("redis://127.0.0.1:{}", server.port),
        &cassette,
        &["--record-trivial-calls", "--redact", "* => field=ssn"],
    );
    let mut raw = common::raw::Raw::connect(recorder.port);
    use resplay::resp::Value;
    assert_eq!(raw.call(&["AUTH", "s3cret"]), Value::simple("OK"));
    assert_eq!(raw.call(&["SELECT", "3"]), Value::simple("OK"));
    assert_eq!(raw.call(&["SET", "k", "in-3"]), Value::simple("OK"));
    raw.send(&["CLIENT", "REPLY", "OFF"]);
    raw.send(&["SET", "quiet", "1"]);
    assert_eq!(raw.call(&["CLIENT", "REPLY", "ON"]), Value::simple("OK"));
    assert_eq!(raw.call(&["GET", "quiet"]), Value::Bulk("1".into()));
    assert_eq!(raw.call(&["GET", "k"]), Value::Bulk("in-3".into()));
    // Data a redaction rule replaced is sent as recorded, never as the
    // target's password.
    assert_eq!(
        raw.call(&["HSET", "user:1", "ssn", "123-45-6789"]),
        Value::Integer(1)
    );
    assert_eq!(
        raw.call(&["HGET", "user:1", "ssn"]),
        Value::Bulk("123-45-6789".into())
    );
    drop(raw);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    let stored = std::fs::read_to_string(&cassette).unwrap();
    assert!(!stored.contains("s3cret"), "{stored}");
    assert!(!stored.contains("123-45-6789"), "{stored}");

    let target = RedisServer::start_with(&["--requirepass", "other"]);
    // The target's password comes from the URL.
    let out = conform(
        &cassette,
        &format!("redis://:other@127.0.0.1:{}", target.port),
        &["--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = summary(&out);
    assert_eq!(s["totals"]["different"], 0, "{s}");
    assert_eq!(s["by_command"]["AUTH"]["same"], 1, "{s}");
    assert_eq!(s["by_command"]["SELECT"]["same"], 1, "{s}");
    assert_eq!(s["by_command"]["CLIENT REPLY"]["recorded"], 2, "{s}");
    // And the writes went to database 3, as recorded.
    let in_3 = Command::new("redis-cli")
        .args([
            "-p",
            &target.port.to_string(),
            "-a",
            "other",
            "-n",
            "3",
            "GET",
            "k",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&in_3.stdout).trim(), "in-3");
}
