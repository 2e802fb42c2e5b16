//! `resplay learn`: a redis-py and an ioredis program that send fresh
//! values on every run (uuid4 keys, the time, random tokens and key
//! suffixes) are each recorded twice against redis-server; the second run
//! misses when it replays against the first; `learn` proposes rules (safe
//! ones only) with which it replays green under `--strict`, and `--write`
//! puts them in a config file that replay reads.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{resplay_bin, RedisServer};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `resplay run --mode MODE --cassette C [EXTRA…] -- PROGRAM…`.
fn run(
    cassette: &Path,
    mode: &str,
    upstream: Option<&str>,
    extra: &[&str],
    program: &[&str],
) -> Output {
    let mut cmd = Command::new(resplay_bin());
    cmd.args(["run", "--mode", mode, "--cassette"])
        .arg(cassette)
        .args(extra)
        .current_dir(repo());
    if let Some(url) = upstream {
        cmd.args(["--upstream", url]);
    }
    cmd.arg("--").args(program);
    cmd.output().expect("run resplay run")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn learn(args: &[&str]) -> String {
    let out = Command::new(resplay_bin())
        .arg("learn")
        .args(args)
        .output()
        .expect("run resplay learn");
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    shown
}

/// Records `program` twice, checks the second run misses against the first
/// under --strict, learns, and replays it green with the rules written to
/// a config file. Returns what learn printed.
fn learn_from(name: &str, program: &[&str]) -> String {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join(format!("{name}-1.jsonl"));
    let second = dir.path().join(format!("{name}-2.jsonl"));
    for cassette in [&first, &second] {
        let out = run(cassette, "all", Some(&redis.url()), &[], program);
        assert!(out.status.success(), "{}", text(&out));
    }
    // Without rules, the second run's values miss.
    let replay_second = |extra: &[&str]| {
        // The second run replayed against the first recording: a fresh run
        // of the program (its values differ again) with --strict.
        run(
            &first,
            "none",
            None,
            &[&["--strict"], extra].concat(),
            program,
        )
    };
    let out = replay_second(&[]);
    assert!(
        !out.status.success(),
        "replayed without rules: {}",
        text(&out)
    );

    let config: PathBuf = dir.path().join("resplay.toml");
    std::fs::write(&config, "# the team's settings\nno_repeat = false\n").unwrap();
    let shown = learn(&[
        first.to_str().unwrap(),
        second.to_str().unwrap(),
        "--write",
        config.to_str().unwrap(),
    ]);
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.starts_with("# the team's settings\nno_repeat = false\n"),
        "{written}"
    );
    assert!(written.contains("ignore = ["), "{written}");

    let out = replay_second(&["--config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "with the learned rules:\n{}\n{shown}\n{written}",
        text(&out)
    );
    shown
}

#[test]
fn redis_py_uuid_keys_times_and_tokens() {
    let shown = learn_from("py", &["python3", "tests/clients/volatile.py"]);
    // The narrowest patterns: the key's stable prefix, <any> for a time.
    assert!(shown.contains("ZADD events <any> login:*"), "{shown}");
    assert!(shown.contains("timestamp"), "{shown}");
    assert!(shown.contains("HSET session:current seen <any>"), "{shown}");
    // The uuid4 key is a token replay already pairs: proposed, said to
    // remove no miss, and not written.
    assert!(
        shown.contains("SET req:* pending EX 60\n  random token; 1 occurrence(s); removes no miss"),
        "{shown}"
    );
    assert!(shown.contains("wrote 3 rule(s)"), "{shown}");
    assert!(shown.contains("with these"), "{shown}");
}

#[test]
fn ioredis_key_suffixes_and_times() {
    let node_modules = repo().join("tests/clients/node/node_modules/ioredis");
    assert!(
        node_modules.exists(),
        "ioredis is missing: npm ci --prefix tests/clients/node (.ci/run does)"
    );
    let shown = learn_from("node", &["node", "tests/clients/node/volatile.js"]);
    assert!(
        shown.contains("HSET job:* state queued at <any>"),
        "{shown}"
    );
    assert!(shown.contains("random key suffix"), "{shown}");
}

/// Two recordings whose differing values are different questions with
/// different answers: no rule is proposed for them.
#[test]
fn an_ambiguous_rule_is_not_proposed() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, user: &str, other: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "{{\"resplay\":1,\"created\":\"2026-12-07T00:00:00.000Z\"}}\n\
                 {{\"conn\":1,\"seq\":0,\"at_ms\":0,\"took_us\":5,\"cmd\":[\"GET\",\"user:{user}\"],\"reply\":\"{user}-data\"}}\n\
                 {{\"conn\":1,\"seq\":1,\"at_ms\":1,\"took_us\":5,\"cmd\":[\"GET\",\"user:{other}\"],\"reply\":\"{other}-data\"}}\n"
            ),
        )
        .unwrap();
        path
    };
    let a = write("a.jsonl", "alice", "bob");
    let b = write("b.jsonl", "carol", "dave");
    let shown = learn(&[a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(shown.contains("not proposed: GET user:*"), "{shown}");
    assert!(
        shown.contains("it would let 'GET user:alice' (\"alice-data\") and 'GET user:bob' (\"bob-data\") answer each other"),
        "{shown}"
    );
    assert!(!shown.contains("rule 1:"), "{shown}");
}

/// `resplay run --learn` records the program twice and proposes the rules.
#[test]
fn run_learn_records_twice_and_proposes() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("py.jsonl");
    let out = run(
        &cassette,
        "once",
        Some(&redis.url()),
        &["--learn"],
        &["python3", "tests/clients/volatile.py"],
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(dir.path().join("py.second.jsonl").exists(), "{shown}");
    assert!(shown.contains("ZADD events <any> login:*"), "{shown}");
    assert!(shown.contains("0 with these"), "{shown}");
}
