//! The Python and Node packages, as a user gets them: the wheel built by
//! maturin and installed into a fresh virtualenv, and the npm package
//! installed into a Jest project; each runs a small test project (redis-py,
//! ioredis) against a real redis-server, then with Redis stopped, then with
//! one test changed; each also asserts on its calls through resplay's call
//! journal, makes a stub answer `-LOADING`, and prunes a cassette.
//!
//! Tools: `python3` with its `venv` module (`.ci/run` installs
//! `python3-venv` from Debian when it is missing); maturin, pytest and
//! redis-py are installed by this test with pip into the virtualenv it
//! makes (under target/tmp, kept between runs); `node` and `npm`, with
//! Jest and ioredis installed by this test with npm into a copy of the
//! Jest project.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use common::RedisServer;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run(cmd: &mut Command, what: &str) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e} (see the header of tests/packages.rs)"))
}

fn must(cmd: &mut Command, what: &str) -> Output {
    let out = run(cmd, what);
    assert!(out.status.success(), "{what} failed: {}", text(&out));
    out
}

/// Copies a test project (no cassettes, no node_modules) to a temp dir.
fn copy_project(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if ["cassettes", "node_modules", "__pycache__"].contains(&name.to_str().unwrap_or("")) {
            continue;
        }
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

/// One test of this file at a time: maturin rebuilds (and strips) the
/// binary at target/debug/resplay, which the Jest test runs.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A virtualenv with the wheel built from this checkout installed in it,
/// pytest and redis-py; returns its python.
fn venv_with_wheel() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("packages");
    let venv = base.join("venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        std::fs::create_dir_all(&base).unwrap();
        let out = run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv (python3 with its venv module: .ci/run installs python3-venv)",
        );
        assert!(
            out.status.success(),
            "python3 -m venv failed; on Debian install python3-venv (.ci/run does): {}",
            text(&out)
        );
    }
    let have = run(
        Command::new(&python).args(["-c", "import maturin, pytest, redis"]),
        "the virtualenv's python",
    );
    if !have.status.success() {
        must(
            Command::new(&python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "maturin>=1.4,<2",
                "pytest>=8",
                "redis",
            ]),
            "pip install maturin pytest redis (from PyPI, into the test's virtualenv)",
        );
    }
    let wheels = base.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    // A debug build (what `cargo test` has built already), stripped.
    must(
        Command::new(venv.join("bin/maturin"))
            .args(["build", "--strip", "--quiet", "--out"])
            .arg(&wheels)
            .current_dir(repo().join("python")),
        "maturin build",
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("maturin built no wheel");
    must(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--force-reinstall",
                "--no-deps",
            ])
            .arg(&wheel),
        "pip install the wheel",
    );
    python
}

/// pytest from the virtualenv in `project`, with no trace of this checkout
/// or of a resplay binary outside the wheel.
fn pytest(python: &Path, project: &Path, args: &[&str], redis_url: Option<&str>) -> Output {
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pytest", "-rA"])
        .args(args)
        .current_dir(project)
        .env_remove("RESPLAY_BIN")
        .env_remove("PYTHONPATH")
        .env_remove("REDIS_URL")
        .env("PATH", "/usr/bin:/bin");
    if let Some(url) = redis_url {
        cmd.env("REDIS_URL", url);
    }
    run(&mut cmd, "pytest")
}

#[test]
fn pytest_project_records_per_test_then_replays_without_redis() {
    let _serial = serial();
    let python = venv_with_wheel();
    let venv_bin = python.parent().unwrap().to_path_buf();
    // The wheel put the executable in the environment's bin/ (on PATH once
    // it is activated).
    let version = must(
        Command::new(venv_bin.join("resplay")).arg("--version"),
        "the wheel's resplay",
    );
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("resplay "),
        "{}",
        text(&version)
    );
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    copy_project(&repo().join("tests/pytest_project"), &project);
    let cassettes = project.join("cassettes/test_app");
    let names = ["test_strings", "test_pipeline", "test_pubsub"];

    // Once, against redis-server: three cassettes, and two of
    // test_journal.py (its assertions on the journal pass while recording).
    let mut redis = RedisServer::start();
    let out = pytest(
        &python,
        &project,
        &["--resplay-mode", "once"],
        Some(&redis.url()),
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("5 passed"), "{shown}");
    assert!(
        shown.contains("PASSED test_journal.py::test_cache_write_has_a_ttl"),
        "{shown}"
    );
    let cache = std::fs::read_to_string(
        project.join("cassettes/test_journal/test_cache_write_has_a_ttl.jsonl"),
    )
    .unwrap();
    assert!(
        cache.contains(r#"["SET","user:1","ada","EX","60"]"#),
        "{cache}"
    );
    // The installed package ran, not this checkout's sources.
    assert!(
        shown.contains(&format!(
            "binary {}",
            venv_bin.join("resplay").to_string_lossy()
        )),
        "{shown}"
    );
    assert!(shown.contains("site-packages/resplay"), "{shown}");
    for name in names {
        let cassette = cassettes.join(format!("{name}.jsonl"));
        let text = std::fs::read_to_string(&cassette)
            .unwrap_or_else(|e| panic!("{}: {e}", cassette.display()));
        assert!(text.lines().count() > 2, "{text}");
    }
    let strings = std::fs::read_to_string(cassettes.join("test_strings.jsonl")).unwrap();
    assert!(
        strings.contains(r#"["SET","greeting","hello"]"#),
        "{strings}"
    );
    assert!(!strings.contains("PUBLISH"), "cassettes mixed: {strings}");
    eprintln!("{}", summary_line(&shown));

    // Redis stopped: every test replays, strictly; the journal test
    // asserts the same calls, and the stub makes redis-py retry through two
    // -LOADING before the recorded value.
    redis.kill();
    let out = pytest(
        &python,
        &project,
        &["--resplay-mode", "none", "--resplay-strict"],
        None,
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("5 passed"), "{shown}");
    assert!(
        shown.contains("PASSED test_journal.py::test_retries_while_redis_loads"),
        "{shown}"
    );
    eprintln!("{}", summary_line(&shown));

    // A failed assert_called says what came close.
    let journal_file = project.join("test_journal.py");
    let asked = r#"assert_called("SET user:* <any> EX <any>", times=1)"#;
    edit(
        &journal_file,
        asked,
        r#"assert_called("SET user:* <any> PX <any>", times=1)"#,
    );
    let out = pytest(&python, &project, &["--resplay-mode", "none"], None);
    let shown = text(&out);
    assert!(shown.contains("1 failed, 4 passed"), "{shown}");
    assert!(
        shown.contains(
            "AssertionError: resplay: expected 1 call matching 'SET user:* <any> PX <any>', got 0"
        ) && shown.contains("close calls (same command, SET):")
            && shown.contains("SET user:1 ada EX 60 -> OK  (conn "),
        "{shown}"
    );
    edit(
        &journal_file,
        r#"assert_called("SET user:* <any> PX <any>", times=1)"#,
        asked,
    );
    // An unknown mark option names the ones there are.
    edit(&journal_file, "resplay(stubs=", "resplay(stub=");
    let out = pytest(&python, &project, &["--resplay-mode", "none"], None);
    let shown = text(&out);
    assert!(
        shown.contains("unknown option(s) stub (cassette, ignore, strict, timing, stubs)"),
        "{shown}"
    );
    edit(&journal_file, "resplay(stub=", "resplay(stubs=");

    // One test sends another command: only it fails, with resplay's words.
    let test_file = project.join("test_app.py");
    // Each replayed test also leaves its HTML report: the failed one shows
    // its miss with the closest recording.
    edit(&test_file, "GREETING = \"hello\"", "GREETING = \"bonjour\"");
    let reports = dir.path().join("reports");
    let out = pytest(
        &python,
        &project,
        &[
            "--resplay-mode",
            "none",
            "--resplay-report",
            reports.to_str().unwrap(),
        ],
        None,
    );
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("1 failed, 4 passed"), "{shown}");
    assert!(shown.contains("resplay: 5 replay report(s) in"), "{shown}");
    for name in names {
        let page = reports.join(format!("test_app/{name}.html"));
        let html = std::fs::read_to_string(&page)
            .unwrap_or_else(|e| panic!("{}: {e}\n{shown}", page.display()));
        assert!(html.contains("resplay-data"), "{}", page.display());
    }
    let failed = std::fs::read_to_string(reports.join("test_app/test_strings.html")).unwrap();
    assert!(
        failed.contains(r#""command":"SET greeting bonjour","closest":"SET greeting hello""#),
        "the report of the failed test has no miss"
    );
    assert!(
        shown.contains("FAILED test_app.py::test_strings"),
        "{shown}"
    );
    assert!(
        shown.contains(
            "no recorded reply for 'SET greeting bonjour' (closest recorded: 'SET greeting hello')"
        ),
        "{shown}"
    );
    edit(&test_file, "GREETING = \"bonjour\"", "GREETING = \"hello\"");

    // Strict: a recording the test no longer uses fails it, naming it.
    edit(&test_file, "    assert r.incr(\"visits\") == 1\n", "");
    let out = pytest(
        &python,
        &project,
        &["--resplay-mode", "none", "--resplay-strict"],
        None,
    );
    let shown = text(&out);
    assert!(shown.contains("1 failed, 4 passed"), "{shown}");
    assert!(shown.contains("0 missed, 1 unused"), "{shown}");
    assert!(shown.contains("unused: INCRBY visits 1"), "{shown}");
    // Without strict it passes.
    let out = pytest(&python, &project, &["--resplay-mode", "none"], None);
    assert!(out.status.success(), "{}", text(&out));

    // --resplay-prune: the passing test's cassette loses exactly the
    // recording it no longer uses; a test that fails (here before its
    // pipeline) keeps its cassette as it was.
    let strings = cassettes.join("test_strings.jsonl");
    let pipeline = cassettes.join("test_pipeline.jsonl");
    let (strings_before, pipeline_before) = (parts(&strings), std::fs::read(&pipeline).unwrap());
    let pipeline_test = "    pipe = r.pipeline(transaction=False)\n";
    edit(
        &test_file,
        pipeline_test,
        &format!("    assert False, \"fails before its pipeline\"\n{pipeline_test}"),
    );
    let out = pytest(
        &python,
        &project,
        &["--resplay-mode", "none", "--resplay-prune"],
        None,
    );
    let shown = text(&out);
    assert!(shown.contains("1 failed, 4 passed"), "{shown}");
    assert!(shown.contains("fails before its pipeline"), "{shown}");
    assert_eq!(
        parts(&strings),
        without(&strings_before, &["INCRBY", "visits", "1"])
    );
    assert_eq!(std::fs::read(&pipeline).unwrap(), pipeline_before);
    assert!(!cassettes.join("test_pipeline.pruned.jsonl").exists());
    edit(
        &test_file,
        &format!("    assert False, \"fails before its pipeline\"\n{pipeline_test}"),
        pipeline_test,
    );
    // Strict passes now where the unused recording failed it.
    let out = pytest(
        &python,
        &project,
        &["--resplay-mode", "none", "--resplay-strict"],
        None,
    );
    let shown = text(&out);
    assert!(shown.contains("5 passed"), "{shown}");

    // new_episodes against Redis again: the new command is appended, and
    // replays afterwards.
    let redis = RedisServer::start();
    edit(
        &test_file,
        "    r.set(\"greeting\", GREETING)\n",
        "    r.set(\"greeting\", GREETING)\n    r.set(\"farewell\", \"bye\")\n    assert r.get(\"farewell\") == b\"bye\"\n",
    );
    let out = pytest(
        &python,
        &project,
        &["--resplay-mode", "new_episodes"],
        Some(&redis.url()),
    );
    assert!(out.status.success(), "{}", text(&out));
    let strings = std::fs::read_to_string(cassettes.join("test_strings.jsonl")).unwrap();
    assert!(
        strings.contains(r#"["SET","greeting","hello"]"#),
        "{strings}"
    );
    assert!(strings.contains(r#"["SET","farewell","bye"]"#), "{strings}");
    drop(redis);
    let out = pytest(&python, &project, &["--resplay-mode", "none"], None);
    assert!(out.status.success(), "{}", text(&out));

    // --resplay-max-age: an expired cassette is replayed with a warning
    // without Redis, fails the test under strict, is recorded again with it.
    let strings = cassettes.join("test_strings.jsonl");
    backdate(&strings);
    let aged = ["--resplay-mode", "once", "--resplay-max-age", "30d"];
    let out = pytest(&python, &project, &aged, None);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("created 2020-01-01T00:00:00.000Z")
            && shown.contains("older than max_age 30days); replaying it anyway"),
        "{shown}"
    );
    let out = pytest(
        &python,
        &project,
        &[&aged[..], &["--resplay-strict"]].concat(),
        None,
    );
    let shown = text(&out);
    // Failed in the fixture: pytest counts an error.
    assert!(shown.contains("4 passed, 1 error"), "{shown}");
    assert!(
        shown.contains("older than max_age 30days); pass --resplay-upstream"),
        "{shown}"
    );
    let redis = RedisServer::start();
    let out = pytest(&python, &project, &aged, Some(&redis.url()));
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("recording it again"), "{shown}");
    assert!(!first_line(&strings).contains("2020-01-01"));

    // A compressed cassette, named by the mark: recorded, then replayed.
    edit(
        &test_file,
        "@pytest.mark.resplay\ndef test_pipeline",
        "@pytest.mark.resplay(cassette=\"cassettes/test_app/test_pipeline.jsonl.zst\")\ndef test_pipeline",
    );
    let out = pytest(
        &python,
        &project,
        &["--resplay-mode", "once"],
        Some(&redis.url()),
    );
    assert!(out.status.success(), "{}", text(&out));
    let zst = std::fs::read(cassettes.join("test_pipeline.jsonl.zst")).unwrap();
    assert_eq!(zst[..4], [0x28, 0xb5, 0x2f, 0xfd], "not zstd");
    drop(redis);
    let out = pytest(
        &python,
        &project,
        &["--resplay-mode", "none", "--resplay-strict"],
        None,
    );
    let shown = text(&out);
    assert!(shown.contains("5 passed"), "{shown}");

    // The errors a user can meet say what to do.
    std::fs::remove_file(cassettes.join("test_pubsub.jsonl")).unwrap();
    let out = pytest(&python, &project, &["--resplay-mode", "none"], None);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("cassettes/test_app/test_pubsub.jsonl does not exist, and --resplay-mode none never records"),
        "{shown}"
    );
    let out = pytest(&python, &project, &["--resplay-mode", "once"], None);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("needs a real Redis to record")
            && shown.contains("--resplay-upstream redis://HOST:PORT or set REDIS_URL"),
        "{shown}"
    );
    let out = run(
        Command::new(&python)
            .args(["-m", "pytest", "--resplay-mode", "none"])
            .current_dir(&project)
            .env("RESPLAY_BIN", "/nonexistent/resplay"),
        "pytest",
    );
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("RESPLAY_BIN=/nonexistent/resplay is not an executable file"),
        "{shown}"
    );
}

/// Sets a cassette's `created` to 1 January 2020, as if recorded then.
fn backdate(cassette: &Path) {
    let text = std::fs::read_to_string(cassette).unwrap();
    let (head, rest) = text.split_once('\n').unwrap();
    let mut header: serde_json::Value = serde_json::from_str(head).unwrap();
    header["created"] = "2020-01-01T00:00:00.000Z".into();
    std::fs::write(cassette, format!("{header}\n{rest}")).unwrap();
}

/// A cassette's lines as values: the header and connection events as they
/// are, each interaction without its `seq` (a pruned cassette numbers a
/// connection's interactions afresh).
fn parts(cassette: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(cassette)
        .unwrap_or_else(|e| panic!("{}: {e}", cassette.display()))
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(fields) = value.as_object_mut() {
                fields.remove("seq");
            }
            value
        })
        .collect()
}

/// `lines` without the one interaction whose command is `cmd` (there must
/// be exactly one).
fn without(lines: &[serde_json::Value], cmd: &[&str]) -> Vec<serde_json::Value> {
    let cmd = serde_json::json!(cmd);
    let (gone, kept): (Vec<_>, Vec<_>) = lines.iter().cloned().partition(|l| l["cmd"] == cmd);
    assert_eq!(gone.len(), 1, "{cmd} in {lines:#?}");
    kept
}

fn first_line(cassette: &Path) -> String {
    let text = std::fs::read_to_string(cassette).unwrap();
    text.lines().next().unwrap_or_default().to_string()
}

/// The plugin's closing line (process start and switch times), for the log.
fn summary_line(shown: &str) -> String {
    shown
        .lines()
        .find(|l| l.starts_with("resplay: one process for"))
        .unwrap_or("(no resplay summary line)")
        .to_string()
}

/// `npm pack`s node/ and installs it, with the runner and ioredis, into a
/// copy of tests/<name> (with tests/jest_project's test file); returns the
/// project's directory.
fn node_project(dir: &Path, name: &str) -> PathBuf {
    let project = dir.join("project");
    copy_project(&repo().join("tests").join(name), &project);
    if !project.join("app.test.js").exists() {
        std::fs::copy(
            repo().join("tests/jest_project/app.test.js"),
            project.join("app.test.js"),
        )
        .unwrap();
    }
    let packed = must(
        Command::new("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(dir)
            .arg(repo().join("node")),
        "npm pack node/ (node and npm are needed: .ci/run runs where they are)",
    );
    let tarball = dir.join(String::from_utf8_lossy(&packed.stdout).trim());
    assert!(tarball.is_file(), "npm pack made no {}", tarball.display());
    // The install step finds the binary through RESPLAY_BIN: here the one
    // cargo built for this test run.
    must(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .arg(&tarball)
            .current_dir(&project)
            .env("RESPLAY_BIN", env!("CARGO_BIN_EXE_resplay")),
        "npm install (the test runner, ioredis and the packed resplay package, from the npm registry)",
    );
    project
}

fn jest(project: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("node");
    cmd.arg(project.join("node_modules/jest/bin/jest.js"))
        .arg("--ci")
        .current_dir(project)
        .env_remove("RESPLAY_BIN")
        .env_remove("REDIS_URL")
        .env_remove("RESPLAY_MODE")
        .env_remove("RESPLAY_STRICT")
        .env_remove("RESPLAY_MAX_AGE")
        .env_remove("RESPLAY_PRUNE")
        .env_remove("RESPLAY_JOURNAL_MAX")
        .env_remove("RESPLAY_UPSTREAM");
    for (key, value) in env {
        cmd.env(key, value);
    }
    run(&mut cmd, "jest")
}

#[test]
fn jest_project_records_per_test_then_replays_without_redis() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let project = node_project(dir.path(), "jest_project");
    let installed = std::fs::read_to_string(project.join("node_modules/resplay/resplay-bin.json"))
        .expect("the install step recorded no binary");
    assert!(installed.contains("RESPLAY_BIN"), "{installed}");
    let cassettes = project.join("cassettes/app.test");
    let timings = dir.path().join("timings.txt");
    let timings_env = timings.to_str().unwrap();

    let mut redis = RedisServer::start();
    let url = redis.url();
    let out = jest(
        &project,
        &[
            ("RESPLAY_MODE", "once"),
            ("REDIS_URL", &url),
            ("RESPLAY_TIMINGS", timings_env),
        ],
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    // toHaveReceived passes while recording too.
    assert!(shown.contains("Tests:       5 passed, 5 total"), "{shown}");
    let cache = std::fs::read_to_string(cassettes.join("cache-write-has-a-ttl.jsonl")).unwrap();
    assert!(
        cache.contains(r#"["set","user:1","ada","EX","60"]"#),
        "{cache}"
    );
    for name in ["strings", "pipeline", "pub-sub"] {
        let cassette = cassettes.join(format!("{name}.jsonl"));
        let text = std::fs::read_to_string(&cassette)
            .unwrap_or_else(|e| panic!("{}: {e}", cassette.display()));
        assert!(text.lines().count() > 2, "{text}");
    }
    let pubsub = std::fs::read_to_string(cassettes.join("pub-sub.jsonl")).unwrap();
    assert!(pubsub.contains(r#""push""#), "{pubsub}");
    assert!(!pubsub.contains("greeting"), "cassettes mixed: {pubsub}");

    redis.kill();
    let out = jest(
        &project,
        &[
            ("RESPLAY_MODE", "none"),
            ("RESPLAY_STRICT", "1"),
            ("RESPLAY_TIMINGS", timings_env),
        ],
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    // Replayed: the same expectations, and the stub's two -LOADING before
    // the recorded value.
    assert!(shown.contains("Tests:       5 passed, 5 total"), "{shown}");
    eprintln!("{}", std::fs::read_to_string(&timings).unwrap_or_default());

    // A failed toHaveReceived says what came close.
    let test_file = project.join("app.test.js");
    let asked = "toHaveReceived('SET user:* <any> EX <any>', 1)";
    edit(
        &test_file,
        asked,
        "toHaveReceived('SET user:* <any> PX <any>', 1)",
    );
    let out = jest(&project, &[("RESPLAY_MODE", "none")]);
    let shown = text(&out);
    assert!(
        shown.contains("Tests:       1 failed, 4 passed, 5 total"),
        "{shown}"
    );
    assert!(
        shown.contains("resplay: expected 1 call matching 'SET user:* <any> PX <any>', got 0")
            && shown.contains("close calls (same command, SET):")
            && shown.contains("set user:1 ada EX 60 -> OK  (conn "),
        "{shown}"
    );
    edit(
        &test_file,
        "toHaveReceived('SET user:* <any> PX <any>', 1)",
        asked,
    );

    edit(
        &test_file,
        "const GREETING = 'hello';",
        "const GREETING = 'bonjour';",
    );
    let out = jest(&project, &[("RESPLAY_MODE", "none")]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("Tests:       1 failed, 4 passed, 5 total"),
        "{shown}"
    );
    assert!(shown.contains("✕ strings"), "{shown}");
    assert!(
        shown.contains(
            "no recorded reply for 'set greeting bonjour' (closest recorded: 'SET greeting hello')"
        ),
        "{shown}"
    );
    edit(
        &test_file,
        "const GREETING = 'bonjour';",
        "const GREETING = 'hello';",
    );

    // RESPLAY_PRUNE=1: a test that stops sending a command fails strict
    // replay; pruned, its cassette loses exactly that command, and a test
    // that fails (here before its pipeline) keeps its cassette as it was;
    // then strict replay passes.
    edit(
        &test_file,
        "    expect(await r.incr('visits')).toBe(1);\n",
        "",
    );
    let out = jest(
        &project,
        &[("RESPLAY_MODE", "none"), ("RESPLAY_STRICT", "1")],
    );
    let shown = text(&out);
    assert!(
        shown.contains("Tests:       1 failed, 4 passed, 5 total")
            && shown.contains("0 missed, 1 unused")
            && shown.contains("unused: incr visits"),
        "{shown}"
    );
    let strings = cassettes.join("strings.jsonl");
    let pipeline = cassettes.join("pipeline.jsonl");
    let (strings_before, pipeline_before) = (parts(&strings), std::fs::read(&pipeline).unwrap());
    let fails_early =
        "    throw new Error('fails before its pipeline');\n    const results = await r\n";
    edit(&test_file, "    const results = await r\n", fails_early);
    let out = jest(
        &project,
        &[("RESPLAY_MODE", "none"), ("RESPLAY_PRUNE", "1")],
    );
    let shown = text(&out);
    assert!(
        shown.contains("Tests:       1 failed, 4 passed, 5 total")
            && shown.contains("fails before its pipeline"),
        "{shown}"
    );
    assert_eq!(
        parts(&strings),
        without(&strings_before, &["incr", "visits"])
    );
    assert_eq!(std::fs::read(&pipeline).unwrap(), pipeline_before);
    assert!(!cassettes.join("pipeline.pruned.jsonl").exists());
    edit(&test_file, fails_early, "    const results = await r\n");
    let out = jest(
        &project,
        &[("RESPLAY_MODE", "none"), ("RESPLAY_STRICT", "1")],
    );
    let shown = text(&out);
    assert!(shown.contains("Tests:       5 passed, 5 total"), "{shown}");

    // RESPLAY_MAX_AGE: an expired cassette is replayed with a warning
    // without Redis, fails the test under strict, is recorded again with it.
    backdate(&strings);
    let aged = [("RESPLAY_MODE", "once"), ("RESPLAY_MAX_AGE", "30d")];
    let out = jest(&project, &aged);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("older than max_age 30days); replaying it anyway"),
        "{shown}"
    );
    let out = jest(&project, &[&aged[..], &[("RESPLAY_STRICT", "1")]].concat());
    let shown = text(&out);
    assert!(
        shown.contains("Tests:       1 failed, 4 passed, 5 total")
            && shown.contains("older than max_age 30days); set RESPLAY_UPSTREAM"),
        "{shown}"
    );
    let redis = RedisServer::start();
    let url = redis.url();
    let out = jest(
        &project,
        &[&aged[..], &[("REDIS_URL", url.as_str())]].concat(),
    );
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("recording it again"), "{shown}");
    assert!(!first_line(&strings).contains("2020-01-01"));

    // Compressed cassettes, named by the cassette option, recorded
    // against a fresh Redis (the tests count visits from 1).
    drop(redis);
    let redis = RedisServer::start();
    let url = redis.url();
    edit(
        &test_file,
        "useResplay({ ignore",
        "useResplay({ cassette: (file, test) => `cassettes/zst/${test.replace(/\\W+/g, '-')}.jsonl.zst`, ignore",
    );
    let out = jest(&project, &[("RESPLAY_MODE", "once"), ("REDIS_URL", &url)]);
    assert!(out.status.success(), "{}", text(&out));
    drop(redis);
    let out = jest(
        &project,
        &[("RESPLAY_MODE", "none"), ("RESPLAY_STRICT", "1")],
    );
    let shown = text(&out);
    assert!(shown.contains("Tests:       5 passed, 5 total"), "{shown}");
    let zst: Vec<PathBuf> = std::fs::read_dir(project.join("cassettes/zst"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(zst.len(), 5, "{zst:?}");
    for path in zst {
        assert_eq!(std::fs::read(&path).unwrap()[..4], [0x28, 0xb5, 0x2f, 0xfd]);
    }
    edit(
        &test_file,
        "useResplay({ cassette: (file, test) => `cassettes/zst/${test.replace(/\\W+/g, '-')}.jsonl.zst`, ignore",
        "useResplay({ ignore",
    );

    std::fs::remove_file(cassettes.join("pub-sub.jsonl")).unwrap();
    let out = jest(&project, &[("RESPLAY_MODE", "none")]);
    let shown = text(&out);
    assert!(
        shown.contains(
            "cassettes/app.test/pub-sub.jsonl does not exist, and mode none never records"
        ),
        "{shown}"
    );
    let out = jest(&project, &[("RESPLAY_MODE", "once")]);
    let shown = text(&out);
    assert!(
        shown.contains("mode once needs a real Redis to record")
            && shown.contains("set RESPLAY_UPSTREAM=redis://HOST:PORT or REDIS_URL"),
        "{shown}"
    );
    let out = jest(
        &project,
        &[
            ("RESPLAY_MODE", "none"),
            ("RESPLAY_BIN", "/nonexistent/resplay"),
        ],
    );
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("RESPLAY_BIN=/nonexistent/resplay is not an executable file"),
        "{shown}"
    );
}

#[test]
fn npm_install_without_a_binary_says_what_to_do() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let packed = must(
        Command::new("npm")
            .args(["pack", "--silent", "--pack-destination"])
            .arg(dir.path())
            .arg(repo().join("node")),
        "npm pack node/",
    );
    let tarball = dir
        .path()
        .join(String::from_utf8_lossy(&packed.stdout).trim());
    let project = dir.path().join("empty");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("package.json"), "{\"private\":true}\n").unwrap();
    // No RESPLAY_BIN, no resplay on PATH (node and npm only), and the
    // package is not in a checkout: nothing to build from.
    let node_dir = which("node").parent().unwrap().to_path_buf();
    let out = run(
        Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--offline"])
            .arg(&tarball)
            .current_dir(&project)
            .env_remove("RESPLAY_BIN")
            .env("PATH", format!("{}:/usr/bin:/bin", node_dir.display())),
        "npm install",
    );
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("cannot find the resplay binary. Set RESPLAY_BIN=/path/to/resplay"),
        "{shown}"
    );
}

fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

#[test]
fn vitest_project_records_per_test_then_replays_without_redis() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let project = node_project(dir.path(), "vitest_project");
    let cassettes = project.join("cassettes/app.test");
    let timings = dir.path().join("timings.txt");
    let timings_env = timings.to_str().unwrap();
    let vitest = |env: &[(&str, &str)]| {
        let mut cmd = Command::new("node");
        cmd.arg(project.join("node_modules/vitest/vitest.mjs"))
            .arg("run")
            .current_dir(&project)
            .env("NO_COLOR", "1")
            .env("RESPLAY_WORKERS", "2")
            .env("RESPLAY_TIMINGS", timings_env)
            .env_remove("RESPLAY_BIN")
            .env_remove("REDIS_URL")
            .env_remove("RESPLAY_MODE")
            .env_remove("RESPLAY_STRICT");
        for (key, value) in env {
            cmd.env(key, value);
        }
        run(&mut cmd, "vitest")
    };

    let mut redis = RedisServer::start();
    let url = redis.url();
    let out = vitest(&[("RESPLAY_MODE", "once"), ("REDIS_URL", &url)]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("Tests  5 passed (5)"), "{shown}");
    for name in ["strings", "pipeline", "pub-sub"] {
        assert!(
            cassettes.join(format!("{name}.jsonl")).is_file(),
            "{name}: {shown}"
        );
    }
    redis.kill();
    let out = vitest(&[("RESPLAY_MODE", "none"), ("RESPLAY_STRICT", "1")]);
    let shown = text(&out);
    let pubsub = std::fs::read_to_string(cassettes.join("pub-sub.jsonl")).unwrap();
    assert!(out.status.success(), "{shown}\n--- pub-sub.jsonl\n{pubsub}");
    // toHaveReceived, calls() and the stub through Vitest's expect.
    assert!(shown.contains("Tests  5 passed (5)"), "{shown}");
    // The global setup's process served the tests: none was started per file.
    let timings = std::fs::read_to_string(&timings).unwrap();
    assert!(
        timings.lines().all(|l| l.contains("shared process")),
        "{timings}"
    );
    eprintln!("{timings}");

    edit(
        &project.join("app.test.js"),
        "const GREETING = 'hello';",
        "const GREETING = 'bonjour';",
    );
    let out = vitest(&[("RESPLAY_MODE", "none")]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("Tests  1 failed | 4 passed (5)"), "{shown}");
    assert!(
        shown.contains("no recorded reply for 'set greeting bonjour'"),
        "{shown}"
    );
}
