//! Wall-clock arguments (`EXPIREAT`, `SET … EXAT`, `PXAT`…) replayed on a
//! later day: record against a real redis-server, make the cassette look
//! hours old, replay with times computed from the real now.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{client_url, RedisServer, Resplay, PROTOCOLS};
use redis::Value;

/// How old the doctored cassette looks: hours, and an odd few seconds so
/// that no rounding lands on a whole hour by luck.
const AGE_S: i64 = 3 * 3600 + 17;

/// One reading of the wall clock, in both units the commands use.
#[derive(Debug, Clone, Copy)]
struct Now {
    s: i64,
    ms: i64,
}

fn now() -> Now {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    Now { s: ms / 1000, ms }
}

/// A time the session sends: its value from `now`, and its unit.
fn exat(now: Now) -> i64 {
    now.s + 100
}
fn expireat(now: Now) -> i64 {
    now.s + 200
}
fn pexpireat(now: Now) -> i64 {
    now.ms + 300_000
}
fn pxat(now: Now) -> i64 {
    now.ms + 5_000
}

/// The fixed time the session also sends; it must match exactly.
const FIXED: i64 = 2_000_000_000;

/// What the session sends, with times computed from `now`.
fn commands(now: Now) -> Vec<redis::Cmd> {
    let c = |words: &[&str]| {
        let mut cmd = redis::cmd(words[0]);
        for w in &words[1..] {
            cmd.arg(*w);
        }
        cmd
    };
    vec![
        c(&["SET", "k", "v", "EXAT", &exat(now).to_string()]),
        c(&["EXPIRETIME", "k"]),
        c(&["SET", "k2", "v"]),
        c(&["EXPIREAT", "k2", &expireat(now).to_string()]),
        c(&["SET", "k3", "v"]),
        c(&["PEXPIREAT", "k3", &pexpireat(now).to_string()]),
        c(&["PEXPIRETIME", "k3"]),
        c(&["GETEX", "k", "PXAT", &pxat(now).to_string()]),
        c(&["TTL", "k2"]),
        c(&["TIME"]),
        c(&["EXPIREAT", "k2", &FIXED.to_string()]),
        c(&["EXPIRETIME", "missing"]),
    ]
}

/// Indexes into [`commands`] of the replies that hold absolute times.
const EXPIRETIME_K: usize = 1;
const PEXPIRETIME_K3: usize = 6;
const TIME: usize = 9;

fn run(url: &str, now: Now) -> Vec<Value> {
    run_all(url, &commands(now))
}

/// Sends `commands` on one connection; their replies.
fn run_all(url: &str, commands: &[redis::Cmd]) -> Vec<Value> {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    commands
        .iter()
        .map(|cmd| {
            cmd.query(&mut con)
                .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_packed_command()))
        })
        .collect()
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// `TIME`'s reply in microseconds.
fn time_us(v: &Value) -> i64 {
    let Value::Array(items) = v else {
        panic!("TIME: {v:?}")
    };
    let part = |i: usize| match &items[i] {
        Value::BulkString(b) => String::from_utf8_lossy(b).parse::<i64>().unwrap(),
        other => panic!("TIME part: {other:?}"),
    };
    part(0) * 1_000_000 + part(1)
}

/// Rewrites a cassette recorded at `recorded` as if it had been recorded
/// `AGE_S` earlier: `created`, the times the session sent and the times in
/// the replies all move back. (Moving `created` alone would not do: the
/// recorded arguments would then lie hours ahead of their own "now".)
fn age(path: &Path, recorded: Now) {
    let sent_s = [exat(recorded), expireat(recorded)].map(|t| t.to_string());
    let sent_ms = [pexpireat(recorded), pxat(recorded)].map(|t| t.to_string());
    age_with(path, &sent_s, &sent_ms, |name, reply| match name {
        "EXPIRETIME" if reply.as_i64().unwrap() > 0 => {
            *reply = (reply.as_i64().unwrap() - AGE_S).into();
        }
        "PEXPIRETIME" if reply.as_i64().unwrap() > 0 => {
            *reply = (reply.as_i64().unwrap() - AGE_S * 1000).into();
        }
        "TIME" => {
            let secs: i64 = reply[0].as_str().unwrap().parse().unwrap();
            reply[0] = (secs - AGE_S).to_string().into();
        }
        _ => {}
    });
}

/// Moves a cassette `AGE_S` back: `created`, every argument that equals one
/// of the times sent (`sent_s` in seconds, `sent_ms` in milliseconds), and
/// each reply as `shift_reply` (given the command's name) says.
fn age_with(
    path: &Path,
    sent_s: &[String],
    sent_ms: &[String],
    shift_reply: impl Fn(&str, &mut serde_json::Value),
) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        if i == 0 {
            let created = humantime::parse_rfc3339(v["created"].as_str().unwrap()).unwrap();
            let older = created - Duration::from_secs(AGE_S as u64);
            v["created"] = humantime::format_rfc3339_millis(older).to_string().into();
        } else if let Some(cmd) = v.get_mut("cmd").and_then(|c| c.as_array_mut()) {
            for arg in cmd.iter_mut() {
                let Some(text) = arg.as_str() else { continue };
                let n: i64 = text.parse().unwrap_or(0);
                if sent_s.iter().any(|t| t == text) {
                    *arg = (n - AGE_S).to_string().into();
                } else if sent_ms.iter().any(|t| t == text) {
                    *arg = (n - AGE_S * 1000).to_string().into();
                }
            }
            let name = cmd[0].as_str().unwrap().to_string();
            shift_reply(&name, &mut v["reply"]);
        }
        out.push_str(&serde_json::to_string(&v).unwrap());
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// Stops `replay` and checks it served every recording and missed
/// nothing (`what` says which run, for the message).
fn stopped_with_all_served(replay: Resplay, what: &str) {
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{what}: {log:?}");
    assert!(
        log.iter().any(|l| l.contains(" 0 missed, 0 unused")),
        "{what}: {log:?}"
    );
}

/// Records the session in `protocol`; returns the cassette's directory,
/// path, when the session computed its times, and the replies.
fn record(protocol: u8) -> (tempfile::TempDir, std::path::PathBuf, Now, Vec<Value>) {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let recorded = now();
    let replies = run(&client_url(&recorder.url(), protocol), recorded);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    (dir, path, recorded, replies)
}

#[test]
fn wall_clock_arguments_match_hours_later_and_replies_follow() {
    for protocol in PROTOCOLS {
        let (_dir, path, recorded, recorded_replies) = record(protocol);
        assert_eq!(int(&recorded_replies[EXPIRETIME_K]), exat(recorded));
        assert_eq!(int(&recorded_replies[PEXPIRETIME_K3]), pexpireat(recorded));
        age(&path, recorded);

        let replay = Resplay::replay(&path, &[]);
        let live = now();
        let replies = run(&client_url(&replay.url(), protocol), live);
        let after = now();
        // The absolute times read as the ones this run sent…
        assert_eq!(int(&replies[EXPIRETIME_K]), exat(live), "RESP{protocol}");
        assert_eq!(
            int(&replies[PEXPIRETIME_K3]),
            pexpireat(live),
            "RESP{protocol}"
        );
        let time = time_us(&replies[TIME]);
        assert!(
            time >= (live.ms - 3000) * 1000 && time <= (after.ms + 3000) * 1000,
            "RESP{protocol}: TIME {time} µs, now {} ms",
            live.ms
        );
        // …and everything else is the recorded reply, -2 included.
        for (i, (a, b)) in replies.iter().zip(&recorded_replies).enumerate() {
            if ![EXPIRETIME_K, PEXPIRETIME_K3, TIME].contains(&i) {
                assert_eq!(a, b, "RESP{protocol} command {i}");
            }
        }
        assert_eq!(int(&replies[replies.len() - 1]), -2);
        stopped_with_all_served(replay, &format!("RESP{protocol}"));
    }
}

#[test]
fn wall_clock_arguments_off_by_more_than_the_tolerance_miss() {
    for protocol in PROTOCOLS {
        let (_dir, path, recorded, _) = record(protocol);
        age(&path, recorded);
        let replay = Resplay::replay(&path, &[]);
        let mut con = redis::Client::open(client_url(&replay.url(), protocol))
            .unwrap()
            .get_connection()
            .unwrap();
        let live = now();
        let off = expireat(live) + 60;
        let miss = redis::cmd("EXPIREAT")
            .arg("k2")
            .arg(off)
            .query::<Value>(&mut con)
            .expect_err("a minute off must miss");
        let text = miss.to_string();
        assert!(
            text.contains(&format!("no recorded reply for 'EXPIREAT k2 {off}'"))
                && text.contains("closest recorded: 'EXPIREAT k2 "),
            "RESP{protocol}: {text}"
        );
        // The miss used nothing up: the right time still gets its reply.
        let mut con2 = redis::Client::open(client_url(&replay.url(), protocol))
            .unwrap()
            .get_connection()
            .unwrap();
        let hit: Value = redis::cmd("EXPIREAT")
            .arg("k2")
            .arg(expireat(live))
            .query(&mut con2)
            .unwrap();
        assert_eq!(hit, Value::Int(1), "RESP{protocol}");
        drop(replay);

        // A cassette with no `created` gets no shifting at all.
        let text = std::fs::read_to_string(&path).unwrap();
        let (header, rest) = text.split_once('\n').unwrap();
        let mut header: serde_json::Value = serde_json::from_str(header).unwrap();
        header.as_object_mut().unwrap().remove("created");
        std::fs::write(&path, format!("{header}\n{rest}")).unwrap();
        let replay = Resplay::replay(&path, &[]);
        let mut con = redis::Client::open(client_url(&replay.url(), protocol))
            .unwrap()
            .get_connection()
            .unwrap();
        let miss = redis::cmd("SET")
            .arg(&["k", "v", "EXAT"])
            .arg(exat(now()))
            .query::<Value>(&mut con)
            .expect_err("no created, no shifting");
        assert!(miss.to_string().contains("no recorded reply"), "{miss}");
    }
}

/// Redis 7.4's hash field expiry and Redis 8's `HGETEX`/`HSETEX`: their
/// `unix-time` arguments come from the command table (Redis's own `COMMAND
/// DOCS`), and `HEXPIRETIME`/`HPEXPIRETIME` answer one time per field.
mod hash_fields {
    use super::*;
    use common::servers::ServerKind;

    fn commands(now: Now) -> Vec<redis::Cmd> {
        let c = |words: &[String]| {
            let mut cmd = redis::cmd(&words[0]);
            for w in &words[1..] {
                cmd.arg(w);
            }
            cmd
        };
        let w = |s: &str| -> Vec<String> { s.split(' ').map(str::to_string).collect() };
        vec![
            c(&w("HSET h f1 a f2 b f3 c")),
            c(&w(&format!("HEXPIREAT h {} FIELDS 1 f2", now.s + 3600))),
            c(&w(&format!(
                "HPEXPIREAT h {} NX FIELDS 1 f3",
                now.ms + 600_000
            ))),
            c(&w(&format!("HGETEX h PXAT {} FIELDS 1 f1", now.ms + 5_000))),
            c(&w(&format!("HSETEX h EXAT {} FIELDS 1 f4 d", now.s + 100))),
            c(&w("HEXPIRETIME h FIELDS 3 f2 f4 nofield")),
            c(&w("HPEXPIRETIME h FIELDS 2 f3 f1")),
        ]
    }

    fn sent(now: Now) -> (Vec<String>, Vec<String>) {
        let s = [now.s + 3600, now.s + 100];
        let ms = [now.ms + 600_000, now.ms + 5_000];
        (
            s.iter().map(i64::to_string).collect(),
            ms.iter().map(i64::to_string).collect(),
        )
    }

    fn ints(v: &Value) -> Vec<i64> {
        match v {
            Value::Array(items) => items.iter().map(int).collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    /// [`super::age`] for this session: arguments and the per-field
    /// replies of HEXPIRETIME/HPEXPIRETIME move back by `AGE_S`.
    fn age(path: &Path, recorded: Now) {
        let (sent_s, sent_ms) = sent(recorded);
        age_with(path, &sent_s, &sent_ms, |name, reply| {
            let unit = match name {
                "HEXPIRETIME" => 1,
                "HPEXPIRETIME" => 1000,
                _ => return,
            };
            for t in reply.as_array_mut().unwrap() {
                let n = t.as_i64().unwrap();
                if n > 0 {
                    *t = (n - AGE_S * unit).into();
                }
            }
        });
    }

    fn run(url: &str, now: Now) -> Vec<Value> {
        run_all(url, &commands(now))
    }

    #[test]
    fn hash_field_times_recorded_on_redis_8_replay_hours_later() {
        for protocol in PROTOCOLS {
            let server = RedisServer::start_kind(ServerKind::Redis8, &[]);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("c.jsonl");
            let recorder = Resplay::record(&server.url(), &path, &[]);
            let recorded = now();
            let recorded_replies = run(&client_url(&recorder.url(), protocol), recorded);
            let (code, log) = recorder.stop();
            assert_eq!(code, 0, "{log:?}");
            assert_eq!(
                ints(&recorded_replies[5]),
                [recorded.s + 3600, recorded.s + 100, -2]
            );
            age(&path, recorded);

            let replay = Resplay::replay(&path, &[]);
            let live = now();
            let replies = run(&client_url(&replay.url(), protocol), live);
            // Every command hit, and the per-field times are this run's.
            assert_eq!(
                ints(&replies[5]),
                [live.s + 3600, live.s + 100, -2],
                "RESP{protocol}"
            );
            // Each time comes back as this run sent it, milliseconds too.
            assert_eq!(
                ints(&replies[6]),
                [live.ms + 600_000, live.ms + 5_000],
                "RESP{protocol}"
            );
            for i in 0..5 {
                assert_eq!(
                    replies[i], recorded_replies[i],
                    "RESP{protocol} command {i}"
                );
            }
            stopped_with_all_served(replay, &format!("RESP{protocol}"));
        }
    }
}

/// A client that computes its times from `TIME`, replayed later and at
/// another pace than it was recorded (a slower CI): each time is read
/// against its own moment, `TIME` reads now, a time sent comes back as
/// sent, and a fixed date is never moved.
#[test]
fn times_from_time_match_at_any_pace_and_fixed_dates_stay() {
    const FAR: i64 = 33_177_117_420;
    fn time_s(con: &mut redis::Connection) -> i64 {
        time_us(&redis::cmd("TIME").query(con).unwrap()) / 1_000_000
    }
    /// The session, with `pause` between its two halves; the times it
    /// sent and the replies to EXPIRETIME c, EXPIRETIME a.
    fn session(url: &str, pause: Duration) -> ([i64; 2], [i64; 2], Vec<i64>) {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _: () = redis::cmd("MSET")
            .arg(&["a", "1", "b", "1", "c", "1"])
            .query(&mut con)
            .unwrap();
        let t1 = time_s(&mut con);
        let a: i64 = redis::cmd("EXPIREAT")
            .arg("a")
            .arg(t1 + 60)
            .query(&mut con)
            .unwrap();
        std::thread::sleep(pause);
        let t2 = time_s(&mut con);
        let b: i64 = redis::cmd("EXPIREAT")
            .arg("b")
            .arg(t2 + 60)
            .query(&mut con)
            .unwrap();
        let c: i64 = redis::cmd("EXPIREAT")
            .arg("c")
            .arg(FAR)
            .query(&mut con)
            .unwrap();
        assert_eq!((a, b, c), (1, 1, 1), "{url}");
        let replies = ["c", "a"]
            .iter()
            .map(|k| redis::cmd("EXPIRETIME").arg(*k).query(&mut con).unwrap())
            .collect();
        ([t1, t2], [t1 + 60, t2 + 60], replies)
    }

    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &path, &[]);
    let (_, recorded_sent, recorded_replies) = session(&recorder.url(), Duration::from_secs(1));
    assert_eq!(recorded_replies, [FAR, recorded_sent[0]]);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    drop(server);

    // Replayed 5 s later, three times slower.
    std::thread::sleep(Duration::from_secs(5));
    let replay = Resplay::replay(&path, &[]);
    let before = now().s;
    let (times, sent, replies) = session(&replay.url(), Duration::from_secs(3));
    let after = now().s;
    for t in times {
        assert!(
            t >= before - 1 && t <= after + 1,
            "TIME {t} is not now ({before}..{after})"
        );
    }
    assert_eq!(
        replies,
        [FAR, sent[0]],
        "a fixed date stays, a sent time comes back"
    );
    stopped_with_all_served(replay, "replayed slower");
}
