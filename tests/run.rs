//! `resplay run` around real programs, VCR record modes, and the config file.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{resplay_bin, RedisServer};

fn resplay(args: &[&str], dir: &Path) -> Output {
    Command::new(resplay_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run resplay")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Records a client program's run, stops Redis, replays it: same output.
fn record_then_replay(program: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("client.jsonl");
    let cassette = cassette.to_str().unwrap();
    let mut server = RedisServer::start();
    let upstream = server.url();
    let mut args = vec!["run", "--cassette", cassette, "--upstream", &upstream, "--"];
    args.extend_from_slice(program);
    let first = resplay(&args, repo());
    assert!(first.status.success(), "record run: {}", stderr(&first));
    assert!(stderr(&first).contains("recorded"), "{}", stderr(&first));
    server.kill();

    let mut args = vec!["run", "--strict", "--cassette", cassette, "--"];
    args.extend_from_slice(program);
    let second = resplay(&args, repo());
    assert!(second.status.success(), "replay run: {}", stderr(&second));
    assert_eq!(stdout(&second), stdout(&first));
    assert!(stdout(&first).contains("hello"), "{}", stdout(&first));
    assert!(
        stderr(&second).contains("0 missed, 0 unused"),
        "{}",
        stderr(&second)
    );
}

#[test]
fn python_redis_py_program() {
    record_then_replay(&["python3", "tests/clients/app.py"]);
}

#[test]
fn node_ioredis_program() {
    if !repo()
        .join("tests/clients/node/node_modules/ioredis")
        .exists()
    {
        panic!("ioredis is not installed: run `npm install --prefix tests/clients/node` (.ci/run does)");
    }
    record_then_replay(&["node", "tests/clients/node/app.js"]);
}

#[test]
fn exit_status_and_environment_reach_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    std::fs::write(&cassette, "{\"resplay\":1,\"created\":\"x\"}\n").unwrap();
    let out = resplay(
        &[
            "run",
            "--cassette",
            cassette.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo $REDIS_URL $REDIS_HOST $REDIS_PORT; exit 3",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(3));
    let words: Vec<String> = stdout(&out).split_whitespace().map(String::from).collect();
    assert_eq!(words[0], format!("redis://127.0.0.1:{}", words[2]));
    assert_eq!(words[1], "127.0.0.1");
}

#[test]
fn strict_failure_when_the_child_passed() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    std::fs::write(
        &cassette,
        "{\"resplay\":1,\"created\":\"x\"}\n{\"conn\":1,\"seq\":0,\"cmd\":[\"GET\",\"never\"],\"reply\":null}\n",
    )
    .unwrap();
    let out = resplay(
        &[
            "run",
            "--strict",
            "--cassette",
            cassette.to_str().unwrap(),
            "--",
            "true",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("1 unused"), "{}", stderr(&out));
    let out = resplay(
        &[
            "run",
            "--cassette",
            cassette.to_str().unwrap(),
            "--",
            "true",
        ],
        dir.path(),
    );
    assert!(out.status.success());
}

/// A shell step that sets `k` to `v` through resplay (redis-cli is installed
/// with the tests' Redis).
fn set_via_cli(value: &str) -> String {
    format!("redis-cli -p $REDIS_PORT SET k {value} >/dev/null && redis-cli -p $REDIS_PORT GET k")
}

/// The argument list of `resplay run --mode MODE --cassette PATH --upstream
/// UPSTREAM -- sh -c STEP`.
fn run_args<'a>(mode: &'a str, path: &'a str, upstream: &'a str, step: &'a str) -> [&'a str; 11] {
    [
        "run",
        "--mode",
        mode,
        "--cassette",
        path,
        "--upstream",
        upstream,
        "--",
        "sh",
        "-c",
        step,
    ]
}

#[test]
fn modes_none_all_and_new_episodes() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let path = cassette.to_str().unwrap();
    // none never records.
    let out = resplay(
        &["run", "--mode", "none", "--cassette", path, "--", "true"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));

    let server = RedisServer::start();
    let upstream = server.url();
    // No --mode: `once` by default, which records a missing cassette.
    let step = set_via_cli("one");
    let out = resplay(
        &[
            "run",
            "--cassette",
            path,
            "--upstream",
            &upstream,
            "--",
            "sh",
            "-c",
            &step,
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "one");
    let first = std::fs::read_to_string(&cassette).unwrap();

    // all records afresh; a failing command leaves the old cassette alone.
    let step = format!("{}; exit 1", set_via_cli("two"));
    let out = resplay(&run_args("all", path, &upstream, &step), dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&cassette).unwrap(), first);
    let step = set_via_cli("three");
    let out = resplay(&run_args("all", path, &upstream, &step), dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let third = std::fs::read_to_string(&cassette).unwrap();
    // The values as JSON strings: the header's HELLO says "standalone".
    assert!(
        third.contains("\"three\"") && !third.contains("\"one\""),
        "{third}"
    );

    // all, killed mid-run: the old cassette is intact.
    let mut child = Command::new(resplay_bin())
        .args(run_args(
            "all",
            path,
            &upstream,
            &format!("{}; sleep 30", set_via_cli("four")),
        ))
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(std::fs::read_to_string(&cassette).unwrap(), third);

    // new-episodes replays what matches and appends the rest.
    let step = format!(
        "{} && redis-cli -p $REDIS_PORT GET other",
        set_via_cli("three")
    );
    let out = resplay(
        &run_args("new-episodes", path, &upstream, &step),
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let extended = std::fs::read_to_string(&cassette).unwrap();
    assert!(
        extended.starts_with(&third),
        "new-episodes must only append"
    );
    assert!(extended[third.len()..].contains("\"other\""), "{extended}");
    assert_eq!(
        resplay::cassette::load(&cassette)
            .unwrap()
            .interactions()
            .filter(|i| i.cmd[0] == "GET")
            .count(),
        2
    );
}

#[test]
fn config_file_errors_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("resplay.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nconection_string = \"redis://x\"\n",
    )
    .unwrap();
    let out = resplay(
        &["--config", config.to_str().unwrap(), "show", "x.jsonl"],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("conection_string") && err.contains("resplay.toml"),
        "{err}"
    );

    std::fs::write(&config, "ignore = [\"GET\"]\n").unwrap();
    let out = resplay(
        &["--config", config.to_str().unwrap(), "show", "x.jsonl"],
        dir.path(),
    );
    assert!(stderr(&out).contains("GET"), "{}", stderr(&out));

    // The file names a cassette; the flag overrides it.
    let good = dir.path().join("good.jsonl");
    std::fs::write(
        &good,
        "{\"resplay\":1,\"created\":\"x\"}\n{\"conn\":1,\"seq\":0,\"cmd\":[\"GET\",\"k\"],\"reply\":\"from-good\"}\n",
    )
    .unwrap();
    std::fs::write(&config, "cassette = \"missing.jsonl\"\nstrict = true\n").unwrap();
    let get = "redis-cli -p $REDIS_PORT GET k";
    let out = resplay(
        &[
            "--config",
            config.to_str().unwrap(),
            "run",
            "--",
            "sh",
            "-c",
            get,
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.jsonl"), "{}", stderr(&out));
    let out = resplay(
        &[
            "--config",
            config.to_str().unwrap(),
            "run",
            "--cassette",
            good.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            get,
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "from-good");
}

#[test]
fn show_lists_the_example_and_reports_bad_lines() {
    let out = resplay(&["show", "examples/cassettes/quickstart.jsonl"], repo());
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("GET greeting\n\"hello from resplay\""),
        "{}",
        stdout(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"resplay\":1,\"created\":\"x\"}\nnot json\n{\"conn\":1,\"seq\":0,\"cmd\":[\"PING\"]}\n",
    )
    .unwrap();
    let out = resplay(&["show", bad.to_str().unwrap()], dir.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.jsonl:2:"), "{}", stderr(&out));
}
