//! `resplay report`: a redis-py workload recorded from a real
//! `redis-server` (several connections, a pipeline, a blocking `BLPOP` and
//! a slow `DEBUG SLEEP`, error replies, pub/sub, a RESP3 connection, a big
//! reply), reported, and the page checked twice: its embedded data
//! against what the cassette itself says, and what a person sees in a
//! headless browser (tests/browser/report.py).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{cassette_lines, resplay_bin, RedisServer, Resplay};
use serde_json::Value;

/// The workload, run against the recorder: each `redis.Redis` is its own
/// connection. DEBUG needs `--enable-debug-command`.
const WORKLOAD: &str = r#"
import sys, time
import redis

port = int(sys.argv[1])
r = redis.Redis(port=port)
r.set("py:greeting", "hello")
for _ in range(5):
    r.get("py:greeting")
r.incr("py:counter")
r.incr("py:counter")
r.rpush("py:big", *["x" * 20] * 1000)
r.lrange("py:big", 0, -1)
pipe = r.pipeline(transaction=False)
for _ in range(10):
    pipe.incr("py:counter")
pipe.execute()
r.set("py:str", "abc")
for _ in range(2):
    try:
        r.incr("py:str")
    except redis.ResponseError:
        pass
try:
    r.lpush("py:str", "a")
except redis.ResponseError:
    pass
r.execute_command("DEBUG", "SLEEP", "0.05")
r.close()

b = redis.Redis(port=port)
b.blpop(["py:empty"], timeout=0.1)
b.close()

sub = redis.Redis(port=port).pubsub()
sub.subscribe("py:chan")
sub.get_message(timeout=1)
pub = redis.Redis(port=port)
pub.publish("py:chan", "hi")
for _ in range(20):
    m = sub.get_message(timeout=0.2)
    if m and m["type"] == "message":
        break
sub.close()
pub.close()

r3 = redis.Redis(port=port, protocol=3)
r3.hset("py:user", mapping={"name": "Ada"})
r3.hgetall("py:user")
r3.close()
"#;

/// Records the workload through `resplay record` into `cassette`.
fn record(cassette: &Path) {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let recorder = Resplay::record(&redis.url(), cassette, &[]);
    let out = Command::new("python3")
        .args(["-c", WORKLOAD, &recorder.port.to_string()])
        .output()
        .expect("python3 with redis-py is needed: `pip install redis` (.ci/run does)");
    assert!(
        out.status.success(),
        "workload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
}

/// Runs `resplay report CASSETTE -o OUT`.
fn report(cassette: &Path, out: &Path) {
    let run = Command::new(resplay_bin())
        .arg("report")
        .arg(cassette)
        .arg("-o")
        .arg(out)
        .output()
        .expect("run resplay report");
    assert!(
        run.status.success(),
        "resplay report failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

/// The JSON the page carries in `#resplay-data`.
fn page_data(html: &str) -> Value {
    let open = "<script type=\"application/json\" id=\"resplay-data\">";
    let start = html.find(open).expect("data element") + open.len();
    let end = start + html[start..].find("</script>").expect("data element ends");
    serde_json::from_str(&html[start..end]).expect("the data is JSON")
}

/// Every `src=`/`href=`/`url(`/`@import` reference in the page to
/// another host.
fn external_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for attr in ["src=", "href=", "url(", "@import", "srcset=", "action="] {
        for (at, _) in lower.match_indices(attr) {
            let rest = lower[at + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            if rest.starts_with("http:") || rest.starts_with("https:") || rest.starts_with("//") {
                found.push(html[at..(at + 80).min(html.len())].to_string());
            }
        }
    }
    found
}

/// A command line of the cassette, upper-cased name, as the test reads it.
fn words(line: &Value) -> Vec<String> {
    line["cmd"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|w| w.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn temp() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let cassette = dir.path().join("workload.jsonl");
    let html = dir.path().join("report.html");
    (dir, cassette, html)
}

#[test]
fn report_of_a_recorded_workload() {
    let (_dir, cassette, html_path) = temp();
    record(&cassette);
    report(&cassette, &html_path);
    let html = std::fs::read_to_string(&html_path).expect("report written");
    assert_eq!(external_references(&html), Vec::<String>::new());
    let data = page_data(&html);

    // What the cassette itself says, read independently of the report.
    let lines = cassette_lines(&cassette);
    let events = &lines[1..];
    let cmds: Vec<&Value> = events.iter().filter(|l| l.get("cmd").is_some()).collect();
    let conns: BTreeSet<u64> = events.iter().map(|l| l["conn"].as_u64().unwrap()).collect();
    let errors = cmds
        .iter()
        .filter(|l| l["reply"].get("-").is_some() || l["reply"].get("!").is_some())
        .count() as u64;
    let pushes = events.iter().filter(|l| l.get("push").is_some()).count() as u64;
    let named = |name: &str| {
        cmds.iter()
            .filter(|l| words(l)[0].eq_ignore_ascii_case(name))
            .count() as u64
    };

    let summary = &data["summary"];
    assert_eq!(summary["interactions"], cmds.len() as u64);
    assert_eq!(summary["connections"], conns.len() as u64);
    assert!(conns.len() >= 5, "one connection per client: {conns:?}");
    assert_eq!(summary["errors"], errors);
    assert!(errors >= 3);
    assert!(pushes >= 1, "the published message is a push");
    assert_eq!(summary["pushes"], pushes);
    assert_eq!(summary["blocking"], named("BLPOP"));
    // redis-py's HELLO 3 is a handshake call the recorder leaves out; the
    // RESP3 connection shows by its map reply to HGETALL.
    assert_eq!(summary["resp3"], 1);
    assert_eq!(summary["resp2"], conns.len() as u64 - 1);
    assert_eq!(summary["databases"], serde_json::json!([[0, cmds.len()]]));
    assert_eq!(data["file"], "workload.jsonl");
    assert_eq!(data["created"], lines[0]["created"]);
    assert!(summary["duration_ms"].as_u64().unwrap() >= 150, "{summary}");

    // A lane per connection, in the order they appeared, with opens and
    // closes as recorded.
    let lanes = data["lanes"].as_array().unwrap();
    let lane_conns: Vec<u64> = lanes.iter().map(|l| l["c"].as_u64().unwrap()).collect();
    assert_eq!(lane_conns.iter().copied().collect::<BTreeSet<_>>(), conns);
    for lane in lanes {
        let c = lane["c"].as_u64().unwrap();
        let closed = events
            .iter()
            .find(|l| l["conn"] == c && l["event"] == "close");
        assert_eq!(
            lane["close"],
            closed.map_or(Value::Null, |l| l["at_ms"].clone())
        );
    }

    // Every event is drawn (far below the sampling limit).
    let marks = data["marks"].as_array().unwrap();
    assert_eq!(marks.len() as u64, cmds.len() as u64 + pushes);
    assert_eq!(data["sampling"]["stride"], 1);
    let mark = |e: &Value| {
        marks
            .iter()
            .find(|m| &m["e"] == e)
            .expect("linked mark drawn")
    };
    assert!(marks.iter().any(|m| m["k"] == "push"));
    let blpop = marks
        .iter()
        .find(|m| m["k"] == "block")
        .expect("BLPOP drawn as blocking");
    assert!(
        blpop["x"].as_str().unwrap().contains("] BLPOP py:empty"),
        "{blpop}"
    );

    // The slowest: BLPOP waited its 0.1 s timeout, DEBUG SLEEP its 50 ms.
    let slowest = data["slowest"].as_array().unwrap();
    assert_eq!(slowest[0]["name"], "BLPOP", "{slowest:?}");
    assert!(slowest[0]["took_us"].as_u64().unwrap() >= 100_000);
    assert_eq!(slowest[1]["name"], "DEBUG", "{slowest:?}");
    assert!(slowest[1]["took_us"].as_u64().unwrap() >= 50_000);
    assert_eq!(
        mark(&slowest[0]["e"])["d"],
        slowest[0]["took_us"],
        "the slowest links to its own mark"
    );

    // Latency and mix by command name.
    let latency = data["latency"]["commands"].as_array().unwrap();
    let get = latency.iter().find(|c| c["name"] == "GET").expect("GET");
    assert_eq!(get["count"], named("GET"));
    assert!(get["p50"].as_u64().unwrap() <= get["p99"].as_u64().unwrap());
    assert!(get["p99"].as_u64().unwrap() <= get["max"].as_u64().unwrap());
    let mix: HashMap<String, u64> = data["mix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(mix.values().sum::<u64>(), cmds.len() as u64);
    // redis-py sends INCR as INCRBY key 1.
    assert_eq!(mix["INCRBY"], named("INCRBY"));
    assert_eq!(named("INCRBY"), 14);

    // Keys come from key specs: INCR's, the pipeline's, GET's.
    let keys = &data["keys"];
    assert_eq!(keys["error_bound"], 0);
    let count_of = |k: &str| {
        keys["top"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == k)
            .map(|e| e["count"].as_u64().unwrap())
    };
    assert_eq!(count_of("\"py:counter\""), Some(12));
    assert_eq!(count_of("\"py:greeting\""), Some(6));
    // PUBLISH names a channel, not a key; SUBSCRIBE likewise.
    assert_eq!(count_of("\"py:chan\""), None);

    // The biggest reply: LRANGE of 1000 strings of 20 bytes, as RESP.
    let biggest = &data["biggest"][0];
    assert_eq!(biggest["name"], "LRANGE");
    assert_eq!(biggest["bytes"], 7 + 1000 * (5 + 20 + 2));

    // Errors grouped by text, each linking to its first example.
    let groups = data["errors"]["groups"].as_array().unwrap();
    let group = |prefix: &str| {
        groups
            .iter()
            .find(|g| g["text"].as_str().unwrap().starts_with(prefix))
            .unwrap_or_else(|| panic!("no group {prefix}: {groups:?}"))
    };
    let not_int = group("(error) ERR value is not an integer");
    assert_eq!(not_int["count"], 2);
    assert_eq!(not_int["first"], "INCRBY py:str 1");
    assert_eq!(mark(&not_int["e"])["k"], "err");
    assert_eq!(group("(error) WRONGTYPE")["count"], 1);
    assert_eq!(
        groups
            .iter()
            .map(|g| g["count"].as_u64().unwrap())
            .sum::<u64>(),
        errors
    );
    assert!(data["replay"].is_null());

    common::browser::run_script(
        "report.py",
        &[
            html_path.to_str().unwrap(),
            &conns.len().to_string(),
            &cmds.len().to_string(),
            "BLPOP py:empty",
        ],
    );
}

/// Replayed against the workload's cassette: the five recorded `GET
/// py:greeting` and two more (repeats of the last), then a near miss.
const REPLAY_CLIENT: &str = r#"
import sys
import redis

r = redis.Redis(port=int(sys.argv[1]))
print([r.get("py:greeting") for _ in range(7)])
try:
    r.get("py:greetings")
except redis.ResponseError as e:
    print("miss", e)
r.close()
"#;

/// The places (among interactions) of the recordings of `want`.
fn recordings_of(events: &[Value], want: &[&str]) -> Vec<usize> {
    events
        .iter()
        .filter(|l| l.get("cmd").is_some())
        .enumerate()
        .filter(|(_, l)| words(l) == want)
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn report_of_a_replay() {
    let (dir, cassette, _) = temp();
    record(&cassette);
    let html_path = dir.path().join("replay.html");
    let replay = Resplay::replay(&cassette, &["--report", html_path.to_str().unwrap()]);
    let out = Command::new("python3")
        .args(["-c", REPLAY_CLIENT, &replay.port.to_string()])
        .output()
        .expect("python3 with redis-py");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.starts_with(&format!("[{}]", ["b'hello'"; 7].join(", "))),
        "{said}"
    );
    assert!(
        said.contains("closest recorded: 'GET py:greeting'"),
        "{said}"
    );
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("report: {}", html_path.display()))),
        "{log:?}"
    );

    let html = std::fs::read_to_string(&html_path).expect("replay wrote the report");
    assert_eq!(external_references(&html), Vec::<String>::new());
    let data = page_data(&html);
    let lines = cassette_lines(&cassette);
    let events = &lines[1..];
    let total = events.iter().filter(|l| l.get("cmd").is_some()).count();
    assert_eq!(data["summary"]["interactions"], total);

    let replay = &data["replay"];
    assert_eq!(replay["missed"], 1, "{replay}");
    assert_eq!(replay["repeated"], 2, "{replay}");
    assert!(replay["mismatch"].is_null(), "{replay}");
    assert!(
        replay["unused"].as_u64().unwrap() > 0,
        "BLPOP and others were not replayed"
    );
    let miss = &replay["misses"][0];
    assert_eq!(miss["command"], "GET py:greetings");
    assert_eq!(miss["closest"], "GET py:greeting");
    assert_eq!(miss["live_conn"], 1);

    // The GET recordings: four served once, the last served three times
    // (twice as a repeat); the miss links to the first.
    let gets = recordings_of(events, &["GET", "py:greeting"]);
    assert_eq!(gets.len(), 5);
    let marks = data["marks"].as_array().unwrap();
    let state = |n: usize| {
        marks
            .iter()
            .find(|m| m["n"] == n)
            .map(|m| m["o"].as_str().unwrap().to_string())
    };
    let states: Vec<_> = gets.iter().map(|&n| state(n)).collect();
    assert_eq!(
        states,
        [["served"; 4].as_slice(), &["repeated"]]
            .concat()
            .into_iter()
            .map(|s| Some(s.to_string()))
            .collect::<Vec<_>>()
    );
    let closest = marks
        .iter()
        .find(|m| m["e"] == miss["e"])
        .expect("the closest recording is drawn");
    assert_eq!(closest["n"], gets[0]);
    let blpop = recordings_of(events, &["BLPOP", "py:empty", "0.1"]);
    assert_eq!(state(blpop[0]).as_deref(), Some("unused"));

    common::browser::run_script(
        "report.py",
        &[
            html_path.to_str().unwrap(),
            &data["summary"]["connections"].to_string(),
            &total.to_string(),
            "BLPOP py:empty",
            "--miss",
            "GET py:greetings",
            "GET py:greeting",
            "served",
        ],
    );
}

#[test]
fn a_bad_cassette_is_an_error_and_leaves_no_page() {
    let (dir, cassette, html_path) = temp();
    std::fs::write(
        &cassette,
        "{\"resplay\":1,\"created\":\"2026-01-01T00:00:00Z\"}\n{\"conn\":1,\"seq\":0,\"cmd\":[\"GET\"],\"reply\":1}\nnot json\n{\"conn\":1,\"seq\":1,\"cmd\":[\"GET\"],\"reply\":1}\n",
    )
    .unwrap();
    let run = Command::new(resplay_bin())
        .arg("report")
        .arg(&cassette)
        .arg("-o")
        .arg(&html_path)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains(":3"), "names the bad line: {stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("workload.jsonl")]);
}

/// A redis-py client for `resplay run`: sets and reads `a`, then reads the
/// key given (a miss on replay when it was not recorded).
const RUN_CLIENT: &str = r#"
import os, sys, redis
r = redis.Redis(port=int(os.environ["REDIS_PORT"]))
r.set("run:a", "1")
print(r.get("run:a"))
try:
    print(r.get(sys.argv[1]))
except redis.ResponseError as e:
    print("error", e)
"#;

/// `resplay run --report`: the report of what it recorded, then of the
/// replay with its miss; a report that cannot be written fails the run.
#[test]
fn run_writes_the_report_of_its_recording_and_of_its_replay() {
    let (dir, cassette, _) = temp();
    let redis = RedisServer::start();
    let run = |mode: &str, key: &str, report: &Path| {
        Command::new(resplay_bin())
            .args(["run", "--cassette"])
            .arg(&cassette)
            .args(["--mode", mode, "--upstream", &redis.url(), "--report"])
            .arg(report)
            .args(["--", "python3", "-c", RUN_CLIENT, key])
            .output()
            .expect("run resplay run")
    };
    let recorded = dir.path().join("recorded.html");
    let out = run("all", "run:a", &recorded);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("report: {}", recorded.display())),
        "{log}"
    );
    let data = page_data(&std::fs::read_to_string(&recorded).unwrap());
    assert_eq!(
        data["summary"]["interactions"],
        cassette_interactions(&cassette)
    );
    assert!(data["replay"].is_null(), "a recording has no overlay");

    let replayed = dir.path().join("replayed.html");
    let out = run("none", "run:b", &replayed);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    let data = page_data(&std::fs::read_to_string(&replayed).unwrap());
    let replay = &data["replay"];
    assert_eq!(replay["missed"], 1, "{replay}");
    assert_eq!(replay["misses"][0]["command"], "GET run:b");
    assert_eq!(replay["misses"][0]["closest"], "GET run:a");
    assert_eq!(
        replay["misses"][0]["why"],
        r#"argument 1 differs: "run:a" recorded, "run:b" sent"#
    );

    let nowhere = dir.path().join("no/such/dir/r.html");
    let out = run("none", "run:a", &nowhere);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("cannot write the report"), "{log}");
}

fn cassette_interactions(cassette: &Path) -> usize {
    cassette_lines(cassette)
        .iter()
        .filter(|l| l.get("cmd").is_some())
        .count()
}
