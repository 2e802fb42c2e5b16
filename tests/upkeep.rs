//! Cassette upkeep against a real redis-server: record filters
//! (`--exclude`, the `exclude` config key) and expiry (`run --max-age`,
//! the `max_age` config key).

mod common;

use std::path::Path;

use common::raw::Raw;
use common::{output_text as text, resplay_in as resplay, RedisServer, Resplay};
use resplay::resp::Value;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn bulk(v: &Value) -> String {
    match v {
        Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn error(v: &Value) -> String {
    match v {
        Value::Error(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("not an error: {other:?}"),
    }
}

/// The commands of a recording, as `NAME arg…` lines.
fn recorded(path: &Path) -> Vec<String> {
    resplay::cassette::load(path)
        .expect("loads")
        .interactions()
        .map(|i| {
            i.cmd
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

const RULES: [&str; 3] = ["INFO *", "PING", "INCR metrics:*"];

#[test]
fn excluded_commands_are_relayed_not_recorded_and_replay_says_so() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    // Handshake calls recorded too: PING stays out because of its rule,
    // not because trivial calls are left out by default.
    let mut flags = vec!["--record-trivial-calls"];
    for rule in RULES {
        flags.extend(["--exclude", rule]);
    }
    let recorder = Resplay::record(&server.url(), &path, &flags);
    let mut c = Raw::connect(recorder.port);
    // The client gets real answers to excluded commands.
    assert_eq!(c.call(&["PING"]), Value::simple("PONG"));
    assert!(bulk(&c.call(&["INFO", "server"])).contains("redis_version"));
    assert_eq!(c.call(&["ECHO", "kept"]), Value::Bulk("kept".into()));
    assert_eq!(c.call(&["SET", "k", "v"]), Value::simple("OK"));
    assert_eq!(c.call(&["INCR", "metrics:hits"]), Value::Integer(1));
    assert_eq!(c.call(&["GET", "k"]), Value::Bulk("v".into()));
    // Inside a transaction nothing is left out.
    assert_eq!(c.call(&["MULTI"]), Value::simple("OK"));
    assert_eq!(c.call(&["INCR", "metrics:hits"]), Value::simple("QUEUED"));
    assert_eq!(c.call(&["PING"]), Value::simple("QUEUED"));
    assert_eq!(
        c.call(&["EXEC"]),
        Value::Array(vec![Value::Integer(2), Value::simple("PONG")])
    );
    drop(c);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");

    let cassette = resplay::cassette::load(&path).unwrap();
    assert_eq!(cassette.header.excluded, RULES);
    let cmds = recorded(&path);
    let want = [
        "ECHO kept",
        "SET k v",
        "GET k",
        "MULTI",
        "INCR metrics:hits",
        "PING",
        "EXEC",
    ];
    let cmds: Vec<&str> = cmds
        .iter()
        .map(String::as_str)
        .filter(|c| !c.starts_with("CLIENT SETINFO") && !c.starts_with("HELLO"))
        .collect();
    assert_eq!(cmds, want);
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(
        raw.lines()
            .next()
            .unwrap()
            .ends_with(r#""excluded":["INFO *","PING","INCR metrics:*"]}"#),
        "{raw}"
    );

    // show says the cassette was filtered, and by what.
    let out = resplay(&["show", s(&path)], dir.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(
            "# filtered: commands matching --exclude 'INFO *', 'PING', 'INCR metrics:*' were relayed but not recorded"
        ),
        "{}",
        text(&out)
    );

    // Replay: PING is made up, as for any unrecorded handshake call; the
    // others are misses that say they were excluded.
    let replay = Resplay::replay(&path, &[]);
    let mut c = Raw::connect(replay.port);
    assert_eq!(c.call(&["PING"]), Value::simple("PONG"));
    let info = error(&c.call(&["INFO", "server"]));
    assert_eq!(
        info,
        "ERR resplay: 'INFO server' was excluded from the recording (--exclude 'INFO *'): no reply to replay"
    );
    assert!(error(&c.call(&["INCR", "metrics:hits"])).contains("--exclude 'INCR metrics:*'"));
    assert_eq!(c.call(&["ECHO", "kept"]), Value::Bulk("kept".into()));
    assert_eq!(c.call(&["SET", "k", "v"]), Value::simple("OK"));
    assert_eq!(c.call(&["GET", "k"]), Value::Bulk("v".into()));
    // A command no rule covers still misses the usual way.
    assert!(error(&c.call(&["GET", "other"])).contains("no recorded reply for 'GET other'"));
    assert_eq!(c.call(&["MULTI"]), Value::simple("OK"));
    assert_eq!(c.call(&["INCR", "metrics:hits"]), Value::simple("QUEUED"));
    assert_eq!(c.call(&["PING"]), Value::simple("QUEUED"));
    assert_eq!(
        c.call(&["EXEC"]),
        Value::Array(vec![Value::Integer(2), Value::simple("PONG")])
    );
    drop(c);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
    assert!(log.iter().any(|l| l.contains("3 missed")), "{log:?}");
}

#[test]
fn exclude_rules_that_would_break_a_recording_are_refused_and_the_config_key_works() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let out = resplay(
        &[
            "record",
            "--upstream",
            &server.url(),
            "--cassette",
            s(&path),
            "--exclude",
            "SUBSCRIBE",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("invalid exclude rule 'SUBSCRIBE': SUBSCRIBE cannot be left out"),
        "{}",
        text(&out)
    );

    // The config file's `exclude`, through `resplay run`.
    let config = dir.path().join("resplay.toml");
    std::fs::write(&config, "exclude = [\"INFO *\", \"DBSIZE\"]\n").unwrap();
    let step = "redis-cli -p $REDIS_PORT INFO server | grep -c redis_version; \
                redis-cli -p $REDIS_PORT DBSIZE; redis-cli -p $REDIS_PORT SET a b";
    let out = resplay(
        &[
            "--config",
            s(&config),
            "run",
            "--cassette",
            s(&path),
            "--upstream",
            &server.url(),
            "--",
            "sh",
            "-c",
            step,
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n0\nOK\n");
    let cmds = recorded(&path);
    assert!(cmds.iter().any(|c| c == "SET a b"), "{cmds:?}");
    assert!(
        !cmds
            .iter()
            .any(|c| c.starts_with("INFO") || c.starts_with("DBSIZE")),
        "{cmds:?}"
    );
    assert_eq!(
        resplay::cassette::load(&path).unwrap().header.excluded,
        ["INFO *", "DBSIZE"]
    );

    // A bad rule in the file names the file and line.
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nexclude = [\"MULTI\"]\n").unwrap();
    let out = resplay(&["--config", s(&config), "show", s(&path)], dir.path());
    assert!(!out.status.success());
    assert!(
        text(&out).contains("resplay.toml:2: invalid exclude rule 'MULTI'"),
        "{}",
        text(&out)
    );
}

/// A cassette recorded on 1 January 2020 that answers `GET k` with `old`.
fn old_cassette(path: &Path) {
    std::fs::write(
        path,
        "{\"resplay\":1,\"created\":\"2020-01-01T00:00:00.000Z\"}\n\
         {\"conn\":1,\"seq\":0,\"cmd\":[\"GET\",\"k\"],\"reply\":\"old\"}\n",
    )
    .unwrap();
}

#[test]
fn an_expired_cassette_is_recorded_again_warned_about_or_fails_strict() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let get = ["sh", "-c", "redis-cli -p $REDIS_PORT GET k"];
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--cassette", s(&path)];
        args.extend_from_slice(extra);
        args.push("--");
        args.extend_from_slice(&get);
        resplay(&args, dir.path())
    };

    // No upstream: replayed, with a warning.
    old_cassette(&path);
    let out = run(&["--max-age", "30d"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "old\n");
    let said = text(&out);
    assert!(
        said.contains("created 2020-01-01T00:00:00.000Z")
            && said.contains("older than max_age 30days")
            && said.contains("pass --upstream redis://HOST:PORT to record it again"),
        "{said}"
    );
    // --strict: a failure, before the command runs.
    let out = run(&["--max-age", "30d", "--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert!(text(&out).contains("older than max_age 30days"));
    // Young enough: no word of it.
    let out = run(&["--max-age", "100000d", "--strict"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("max_age"), "{}", text(&out));

    // With an upstream: recorded again, against the real server.
    let mut redis = Raw::connect(server.addr().rsplit(':').next().unwrap().parse().unwrap());
    assert_eq!(redis.call(&["SET", "k", "new"]), Value::simple("OK"));
    let out = run(&["--max-age", "30d", "--upstream", &server.url()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "new\n");
    assert!(text(&out).contains("recording it again"), "{}", text(&out));
    let header = resplay::cassette::read_header(&path).unwrap();
    assert!(header.created.starts_with("20") && !header.created.starts_with("2020-01-01"));
    assert!(
        !resplay::expiry::cassette_age(&path, std::time::Duration::from_secs(3600))
            .unwrap()
            .is_expired()
    );

    // The config key, and --mode none, which never records.
    old_cassette(&path);
    let config = dir.path().join("resplay.toml");
    std::fs::write(&config, "max_age = \"30d\"\nstrict = true\n").unwrap();
    let out = resplay(
        &[
            "--config",
            s(&config),
            "run",
            "--mode",
            "none",
            "--upstream",
            &server.url(),
            "--cassette",
            s(&path),
            "--",
            "true",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("--mode none never records"),
        "{}",
        text(&out)
    );
    std::fs::write(&config, "max_age = \"a month\"\n").unwrap();
    let out = resplay(&["--config", s(&config), "show", s(&path)], dir.path());
    assert!(!out.status.success());
    assert!(
        text(&out).contains("resplay.toml:1: max_age = \"a month\""),
        "{}",
        text(&out)
    );
}
