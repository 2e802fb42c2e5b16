//! Fault injection (`--fault`), through record (to a real redis-server)
//! and through a replay of what was recorded, with the same rules: the
//! client sees the same misbehaviour both ways, and the cassette holds no
//! faulted command.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::raw::Raw;
use common::{client_url, interactions, RedisServer, Resplay, PROTOCOLS};
use resplay::resp::Value;

/// Where a scenario runs.
struct Ctx<'a> {
    /// resplay's port.
    port: u16,
    /// The real Redis (only the recorder talks to it).
    server: &'a RedisServer,
    /// True through the recorder, false through the replay.
    recording: bool,
    protocol: u8,
}

impl Ctx<'_> {
    fn redis(&self) -> redis::Connection {
        let url = client_url(&format!("redis://127.0.0.1:{}", self.port), self.protocol);
        redis::Client::open(url).unwrap().get_connection().unwrap()
    }

    /// A raw connection in the scenario's protocol.
    fn raw(&self) -> Raw {
        let mut c = Raw::connect(self.port);
        if self.protocol == 3 {
            c.call(&["HELLO", "3"]);
        }
        c
    }

    /// A raw connection straight to redis-server.
    fn direct(&self) -> Raw {
        let mut c = Raw::connect(self.server.port);
        if self.protocol == 3 {
            c.call(&["HELLO", "3"]);
        }
        c
    }
}

struct Recorded {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// Runs `scenario` in both protocols, through a recorder with `rules` (and
/// `extra` flags) and then through a replay of its cassette with the same;
/// `setup` prepares the fresh redis-server first. Returns each protocol's
/// cassette.
fn both_ways(
    rules: &[&str],
    extra: &[&str],
    setup: impl Fn(&mut Raw),
    scenario: impl Fn(&Ctx),
) -> Vec<Recorded> {
    let mut flags: Vec<&str> = Vec::new();
    for rule in rules {
        flags.extend(["--fault", rule]);
    }
    flags.extend_from_slice(extra);
    let mut cassettes = Vec::new();
    for protocol in PROTOCOLS {
        let server = RedisServer::start();
        setup(&mut Raw::connect(server.port));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let recorder = Resplay::record(&server.url(), &path, &flags);
        scenario(&Ctx {
            port: recorder.port,
            server: &server,
            recording: true,
            protocol,
        });
        let (code, log) = recorder.stop();
        assert_eq!(code, 0, "{log:?}");
        let replay = Resplay::replay(&path, &flags);
        scenario(&Ctx {
            port: replay.port,
            server: &server,
            recording: false,
            protocol,
        });
        let (code, log) = replay.stop();
        assert_eq!(code, 0, "{log:?}");
        cassettes.push(Recorded { _dir: dir, path });
    }
    cassettes
}

/// The cassette's commands, as words joined by spaces.
fn commands(path: &Path) -> Vec<String> {
    interactions(path)
        .iter()
        .map(|l| {
            l["cmd"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap_or("?").to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn error_code(e: &redis::RedisError) -> String {
    e.code().unwrap_or_default().to_string()
}

fn get(con: &mut redis::Connection, key: &str) -> redis::RedisResult<Option<String>> {
    redis::cmd("GET").arg(key).query(con)
}

fn set_k(raw: &mut Raw) {
    raw.call(&["SET", "k", "v"]);
}

#[test]
fn an_error_with_a_count_then_real_values() {
    let loading = r#"GET k => error="LOADING Redis is loading the dataset in memory" count=2"#;
    let cassettes = both_ways(&[loading], &[], set_k, |ctx| {
        let mut con = ctx.redis();
        for _ in 0..2 {
            let e = get(&mut con, "k").expect_err("LOADING");
            assert_eq!(error_code(&e), "LOADING", "{e}");
            assert!(
                e.to_string()
                    .contains("Redis is loading the dataset in memory"),
                "{e}"
            );
        }
        assert_eq!(get(&mut con, "k").unwrap().as_deref(), Some("v"));
        assert_eq!(get(&mut con, "k").unwrap().as_deref(), Some("v"));
    });
    for c in cassettes {
        let cmds = commands(&c.path);
        assert_eq!(cmds.iter().filter(|c| *c == "GET k").count(), 2, "{cmds:?}");
        let text = std::fs::read_to_string(&c.path).unwrap();
        assert!(!text.contains("LOADING"), "{text}");
    }
}

#[test]
fn after_lets_the_first_through() {
    let rule =
        r#"GET k => error="READONLY You can't write against a read only replica." after=1 count=1"#;
    both_ways(&[rule], &[], set_k, |ctx| {
        let mut con = ctx.redis();
        assert_eq!(get(&mut con, "k").unwrap().as_deref(), Some("v"));
        let e = get(&mut con, "k").expect_err("READONLY");
        assert_eq!(error_code(&e), "READONLY", "{e}");
        assert_eq!(get(&mut con, "k").unwrap().as_deref(), Some("v"));
    });
}

#[test]
fn a_seed_repeats_the_same_fire_pattern() {
    let rule = r#"GET ... => error="TRYAGAIN Multiple keys request during rehashing of slot" probability=0.5"#;
    let patterns = std::sync::Mutex::new(Vec::new());
    both_ways(&[rule], &["--seed", "7"], set_k, |ctx| {
        let mut con = ctx.redis();
        let fired: Vec<bool> = (0..24).map(|_| get(&mut con, "k").is_err()).collect();
        patterns.lock().unwrap().push(fired);
    });
    let patterns = patterns.into_inner().unwrap();
    assert_eq!(patterns.len(), 4);
    assert!(patterns.iter().all(|p| *p == patterns[0]), "{patterns:?}");
    assert!(patterns[0].contains(&true) && patterns[0].contains(&false));
}

#[test]
fn latency_delays_the_reply() {
    let delay = Duration::from_millis(300);
    both_ways(&["GET k => latency=300ms"], &[], set_k, |ctx| {
        let mut con = ctx.redis();
        let start = Instant::now();
        assert_eq!(get(&mut con, "k").unwrap().as_deref(), Some("v"));
        assert!(start.elapsed() >= delay, "{:?}", start.elapsed());
        // A pipeline: the reply behind the slow one arrives after it.
        let mut raw = ctx.raw();
        let start = Instant::now();
        raw.send_raw(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(raw.read(), Value::Bulk("v".into()));
        assert!(matches!(raw.read(), Value::Simple(_)));
        assert!(start.elapsed() >= delay, "{:?}", start.elapsed());
    });
}

#[test]
fn drop_closes_after_the_earlier_replies() {
    let cassettes = both_ways(
        &["GET x => drop"],
        &[],
        |_| {},
        |ctx| {
            let mut raw = ctx.raw();
            raw.send_raw(
                b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n",
            );
            assert_eq!(raw.read(), Value::simple("OK"));
            assert!(raw.is_closed(), "the connection must close");
            // The next connection works.
            let mut con = ctx.redis();
            let n: i64 = redis::cmd("INCR").arg("n").query(&mut con).unwrap();
            assert_eq!(n, 1);
        },
    );
    for c in cassettes {
        let cmds = commands(&c.path);
        assert!(!cmds.contains(&"GET x".to_string()), "{cmds:?}");
        assert!(cmds.contains(&"SET x 1".to_string()), "{cmds:?}");
    }
}

#[test]
fn hang_never_answers() {
    let cassettes = both_ways(
        &["GET h => hang"],
        &[],
        |_| {},
        |ctx| {
            let mut con = ctx.redis();
            let _: () = redis::cmd("SET").arg("h").arg("1").query(&mut con).unwrap();
            con.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let e = get(&mut con, "h").expect_err("no reply");
            assert!(e.is_timeout(), "{e:?}");
            // Nothing after it is answered (nor sent upstream) either.
            let mut raw = ctx.raw();
            raw.send_raw(
                b"*2\r\n$3\r\nGET\r\n$1\r\nh\r\n*3\r\n$3\r\nSET\r\n$1\r\nh\r\n$1\r\n2\r\n",
            );
            std::thread::sleep(Duration::from_millis(300));
            if ctx.recording {
                let mut direct = ctx.direct();
                assert_eq!(direct.call(&["GET", "h"]), Value::Bulk("1".into()));
            }
        },
    );
    for c in cassettes {
        let cmds = commands(&c.path);
        assert!(!cmds.iter().any(|c| c.starts_with("GET h")), "{cmds:?}");
        assert!(!cmds.contains(&"SET h 2".to_string()), "{cmds:?}");
    }
}

#[test]
fn partial_sends_half_a_reply_then_closes() {
    let setup = |raw: &mut Raw| {
        raw.call(&["HSET", "h", "name", "Ada", "lang", "Rust", "year", "2015"]);
    };
    let cassettes = both_ways(&["HGETALL h => partial"], &[], setup, |ctx| {
        let whole = ctx.direct().call(&["HGETALL", "h"]);
        let mut expected = bytes::BytesMut::new();
        resplay::resp::encode(&whole, &mut expected);
        let mut raw = ctx.raw();
        raw.send(&["HGETALL", "h"]);
        let got = raw.read_to_end();
        assert_eq!(got.len(), expected.len() / 2, "{got:?}");
        assert_eq!(&got[..], &expected[..got.len()]);
    });
    // It ran: the interaction is recorded as it happened.
    for c in cassettes {
        assert!(commands(&c.path).contains(&"HGETALL h".to_string()));
    }
}

#[test]
fn a_fault_in_a_pipeline_affects_only_its_command() {
    let rule = r#"GET b => error="BUSY Redis is busy running a script. You can only call SCRIPT KILL or FUNCTION KILL.""#;
    let cassettes = both_ways(
        &[rule],
        &[],
        |_| {},
        |ctx| {
            let mut pipe = redis::pipe();
            pipe.cmd("SET").arg("a").arg("1").ignore();
            pipe.cmd("GET").arg("b");
            pipe.cmd("GET").arg("a");
            let mut raw = ctx.raw();
            let mut out = bytes::BytesMut::new();
            for args in [&["SET", "a", "1"][..], &["GET", "b"], &["GET", "a"]] {
                resplay::resp::encode_command(args, &mut out);
            }
            raw.send_raw(&out);
            assert_eq!(raw.read(), Value::simple("OK"));
            let busy = raw.read_bytes();
            assert!(
                busy.starts_with(b"-BUSY Redis is busy running a script."),
                "{busy:?}"
            );
            assert_eq!(raw.read(), Value::Bulk("1".into()));
            // The redis crate sees the error at its place.
            let mut con = ctx.redis();
            let e = pipe.query::<(Option<String>, Option<String>)>(&mut con);
            assert!(e.is_err(), "{e:?}");
        },
    );
    for c in cassettes {
        let cmds = commands(&c.path);
        assert!(!cmds.contains(&"GET b".to_string()), "{cmds:?}");
    }
}

#[test]
fn an_error_inside_multi_aborts_the_transaction() {
    let rule = r#"SET k2 ... => error="OOM command not allowed when used memory > 'maxmemory'.""#;
    let cassettes = both_ways(
        &[rule],
        &[],
        |_| {},
        |ctx| {
            let mut raw = ctx.raw();
            let mut out = bytes::BytesMut::new();
            for args in [
                &["MULTI"][..],
                &["SET", "k1", "x"],
                &["SET", "k2", "y"],
                &["EXEC"],
                &["GET", "k1"],
            ] {
                resplay::resp::encode_command(args, &mut out);
            }
            raw.send_raw(&out);
            assert_eq!(raw.read(), Value::simple("OK"));
            assert_eq!(raw.read(), Value::simple("QUEUED"));
            let oom = raw.read_bytes();
            assert_eq!(
                oom,
                b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
            );
            assert_eq!(
                raw.read_bytes(),
                b"-EXECABORT Transaction discarded because of previous errors.\r\n"
            );
            // The connection is out of the transaction, and nothing ran.
            assert!(matches!(raw.read(), Value::NullBulk | Value::Null));
            if ctx.recording {
                assert!(matches!(
                    ctx.direct().call(&["EXISTS", "k1"]),
                    Value::Integer(0)
                ));
            }
            // The redis crate's atomic pipeline gets the abort.
            let mut con = ctx.redis();
            let e = redis::pipe()
                .atomic()
                .cmd("SET")
                .arg("k2")
                .arg("z")
                .query::<()>(&mut con)
                .expect_err("aborted");
            assert!(
                e.to_string().contains("OOM") || e.to_string().contains("EXECABORT"),
                "{e}"
            );
        },
    );
    for c in cassettes {
        let cmds = commands(&c.path);
        assert!(!cmds.iter().any(|c| c.starts_with("SET k2")), "{cmds:?}");
        let lines = interactions(&c.path);
        let exec = lines
            .iter()
            .find(|l| l["cmd"][0] == "EXEC")
            .expect("EXEC recorded");
        assert_eq!(
            exec["reply"]["-"],
            "EXECABORT Transaction discarded because of previous errors."
        );
    }
}

/// A cassette with a header and nothing recorded.
fn empty_cassette(dir: &Path) -> PathBuf {
    let path = dir.join("empty.jsonl");
    std::fs::write(
        &path,
        "{\"resplay\":1,\"created\":\"2026-11-29T10:00:00Z\",\"upstream\":\"127.0.0.1:6379\"}\n",
    )
    .unwrap();
    path
}

#[test]
fn faults_come_before_passthrough() {
    let server = RedisServer::start();
    set_k(&mut Raw::connect(server.port));
    let dir = tempfile::tempdir().unwrap();
    let cassette = empty_cassette(dir.path());
    let replay = Resplay::replay(
        &cassette,
        &[
            "--on-miss",
            "passthrough",
            "--upstream",
            &server.url(),
            "--fault",
            r#"GET k => error="MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'." count=1"#,
        ],
    );
    let mut raw = Raw::connect(replay.port);
    let down = raw.call(&["GET", "k"]);
    assert!(
        matches!(&down, Value::Error(e) if e.starts_with(b"MASTERDOWN Link with MASTER is down")),
        "{down:?}"
    );
    assert_eq!(raw.call(&["GET", "k"]), Value::Bulk("v".into()));
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.contains("fired 1 time(s) for 2 matching")),
        "{log:?}"
    );
}

#[test]
fn config_file_faults_and_seed() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = empty_cassette(dir.path());
    let config = dir.path().join("resplay.toml");
    std::fs::write(
        &config,
        "seed = 3\n\n[[fault]]\nmatch = \"PING\"\nerror = \"CLUSTERDOWN The cluster is down\"\nafter = 1\ncount = 1\n",
    )
    .unwrap();
    let replay = Resplay::start(&[
        "--config",
        config.to_str().unwrap(),
        "replay",
        "--cassette",
        cassette.to_str().unwrap(),
    ]);
    let mut raw = Raw::connect(replay.port);
    assert_eq!(raw.call(&["PING"]), Value::simple("PONG"));
    assert_eq!(
        raw.call(&["PING"]),
        Value::Error("CLUSTERDOWN The cluster is down".into())
    );
    assert_eq!(raw.call(&["PING"]), Value::simple("PONG"));
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
    // A seed was given: none is drawn and printed.
    assert!(!log.iter().any(|l| l.contains("seeded with")), "{log:?}");
}
