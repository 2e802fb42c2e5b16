//! The call journal (`GET /journal`, `DELETE /journal`, `resplay ctl
//! journal`) against a real redis-server: what a client sent and got, per
//! connection and database, in record, replay and passthrough; the
//! pattern and `since` filters; and the cap, under 100k commands from
//! `redis-benchmark`, with the memory it holds bounded.

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use common::admin::{http, journal, ok, start_with_admin};
use common::{resplay_bin, RedisServer};

fn calls(answer: &Value) -> &Vec<Value> {
    answer["calls"].as_array().expect("calls")
}

fn cmds(answer: &Value) -> Vec<String> {
    calls(answer)
        .iter()
        .map(|c| c["cmd"].as_str().unwrap().to_string())
        .collect()
}

/// A cache write with its TTL, a read, a write in database 2, a miss.
fn workload(url: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: u64 = redis::cmd("CLIENT").arg("ID").query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("user:1")
        .arg("ada")
        .arg("EX")
        .arg(60)
        .query(&mut con)
        .unwrap();
    let got: String = redis::cmd("GET").arg("user:1").query(&mut con).unwrap();
    assert_eq!(got, "ada");
    let ttl: i64 = redis::cmd("TTL").arg("user:1").query(&mut con).unwrap();
    assert!((1..=60).contains(&ttl), "{ttl}");
    let _: () = redis::cmd("SELECT").arg(2).query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("user:2")
        .arg("bob")
        .query(&mut con)
        .unwrap();
}

fn check_workload(admin: &str) {
    let all = journal(admin, "");
    // resplay's own id for the connection (not the upstream's CLIENT ID).
    let conn = calls(&all)
        .iter()
        .find(|c| c["cmd"] == "CLIENT ID")
        .map(|c| c["conn"].clone())
        .unwrap();
    let shown = cmds(&all);
    for want in [
        "CLIENT ID",
        "SET user:1 ada EX 60",
        "GET user:1",
        "TTL user:1",
        "SELECT 2",
        "SET user:2 bob",
    ] {
        assert!(shown.iter().any(|c| c == want), "{want} in {shown:?}");
    }
    let sets = journal(admin, "pattern=SET+user:*+...");
    let sets = calls(&sets);
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert_eq!(sets[0]["args"], json!(["SET", "user:1", "ada", "EX", "60"]));
    assert_eq!(sets[0]["reply"], "OK");
    assert_eq!(sets[0]["conn"], conn);
    assert_eq!(sets[1]["conn"], conn);
    assert_eq!(sets[0]["db"], 0);
    assert_eq!(sets[1]["db"], 2);
    assert!(sets[0]["id"].as_u64() < sets[1]["id"].as_u64());
    // The --ignore syntax: exact arity unless `...`.
    let with_ttl = journal(admin, "pattern=SET+user:*+%3Cany%3E+EX+%3Cany%3E");
    assert_eq!(calls(&with_ttl).len(), 1);
    let get = journal(admin, "pattern=GET");
    assert_eq!(calls(&get)[0]["reply"], "\"ada\"");
    let after = calls(&get)[0]["id"].as_u64().unwrap();
    let since = journal(admin, &format!("since={after}"));
    assert!(cmds(&since)
        .iter()
        .all(|c| c != "GET user:1" && c != "CLIENT ID"));
    assert!(cmds(&since).contains(&"SET user:2 bob".to_string()));
}

#[test]
fn the_journal_lists_calls_in_record_replay_and_passthrough() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("j.jsonl");
    let c = cassette.to_str().unwrap();
    let upstream = redis.url();
    let (resplay, admin) = start_with_admin(&["record", "--upstream", &upstream, "--cassette", c]);
    workload(&resplay.url());
    check_workload(&admin);
    // Bad requests say why.
    let (status, body) = http(&admin, "GET", "/journal?pattern=GET+%22x", None);
    assert_eq!(status, 400, "{body}");
    let (status, _) = http(&admin, "GET", "/journal?since=soon", None);
    assert_eq!(status, 400);
    // The command line reads the same.
    let out = ctl(&admin, &["journal", "TTL", "--since", "0"]);
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(cmds(&answer), ["TTL user:1"]);
    assert!(answer["calls"][0]["reply"]
        .as_str()
        .unwrap()
        .starts_with("(integer) "));
    // Cleared: nothing listed; ids go on.
    let cleared = ok(&admin, "DELETE", "/journal", None);
    assert!(cleared["cleared"].as_u64().unwrap() >= 6, "{cleared}");
    let last = cleared["last"].as_u64().unwrap();
    assert_eq!(calls(&journal(&admin, "")).len(), 0);

    // Passthrough: relayed, not recorded, still noted.
    ok(
        &admin,
        "POST",
        "/mode",
        Some(&json!({"mode": "passthrough"})),
    );
    let client = redis::Client::open(resplay.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let _: i64 = redis::cmd("INCR").arg("hits").query(&mut con).unwrap();
    let incr = journal(&admin, &format!("pattern=INCR+hits&since={last}"));
    assert_eq!(calls(&incr).len(), 1);
    assert_eq!(calls(&incr)[0]["reply"], "(integer) 1");
    assert!(calls(&incr)[0]["id"].as_u64().unwrap() > last);
    drop(con);

    // Replay of what was recorded: the same calls, from the cassette.
    ok(
        &admin,
        "POST",
        "/mode",
        Some(&json!({"mode": "replay", "cassette": c})),
    );
    ok(&admin, "DELETE", "/journal", None);
    workload(&resplay.url());
    check_workload(&admin);
    // A miss is a call too, with its error.
    let client = redis::Client::open(resplay.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    let missed: redis::RedisResult<String> = redis::cmd("GET").arg("nope").query(&mut con);
    assert!(missed.is_err());
    let miss = journal(&admin, "pattern=GET+nope");
    assert_eq!(calls(&miss)[0]["error"], true);
    assert!(calls(&miss)[0]["reply"]
        .as_str()
        .unwrap()
        .starts_with("(error) ERR resplay: no recorded reply"));
    let out = ctl(&admin, &["journal", "--clear"]);
    assert!(out.contains("\"cleared\""), "{out}");
    resplay.stop();
}

fn ctl(admin: &str, args: &[&str]) -> String {
    let out = Command::new(resplay_bin())
        .args(["ctl", "--admin", admin])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out);
    String::from_utf8(out.stdout).unwrap()
}

fn benchmark(port: u16, requests: u32) {
    let out = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-n", &requests.to_string()])
        .args(["-c", "20", "-P", "16", "-t", "set,get", "-q"])
        .output()
        .expect("redis-benchmark");
    assert!(out.status.success(), "{out:?}");
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The cap holds whatever comes: 100k commands (SET and GET, 50k each)
/// through record and then replay keep 1000 calls, the newest, and count
/// the rest as dropped; the memory stays bounded.
#[test]
fn the_cap_holds_under_a_hundred_thousand_commands() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("bench.jsonl");
    let c = cassette.to_str().unwrap();
    let upstream = redis.url();
    let (resplay, admin) = start_with_admin(&[
        "record",
        "--upstream",
        &upstream,
        "--cassette",
        c,
        "--journal-max",
        "1000",
    ]);
    benchmark(resplay.port, 50_000);
    let check = |admin: &str, from: u64| {
        let all = journal(admin, "");
        let n = calls(&all).len();
        assert_eq!(n, 1000);
        assert_eq!(all["max"], 1000);
        let last = all["last"].as_u64().unwrap();
        assert!(last - from >= 100_000, "{last}");
        assert_eq!(all["dropped"].as_u64().unwrap(), last - from - 1000);
        // The newest kept, in order.
        let ids: Vec<u64> = calls(&all)
            .iter()
            .map(|c| c["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.first(), Some(&(last - 999)));
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    };
    check(&admin, 0);
    let record_rss = peak_rss_kib(resplay.pid());
    ok(
        &admin,
        "POST",
        "/mode",
        Some(&json!({"mode": "replay", "cassette": c})),
    );
    let from = ok(&admin, "DELETE", "/journal", None)["last"]
        .as_u64()
        .unwrap();
    benchmark(resplay.port, 50_000);
    check(&admin, from);
    let rss = peak_rss_kib(resplay.pid());
    // The cassette of 100k interactions and the index are most of it; the
    // journal's 1000 calls are a few hundred KiB.
    assert!(
        rss < 400 * 1024,
        "peak RSS {rss} KiB (record: {record_rss} KiB)"
    );
    resplay.stop();
    assert!(Path::new(c).is_file());
}

/// Off unless asked for (it costs replay about a tenth of its work per
/// command): the API says how to turn it on rather than listing nothing.
#[test]
fn the_journal_is_off_unless_asked_for() {
    let cassette =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cassettes/quickstart.jsonl");
    // No --journal-max: the default.
    let resplay = common::Resplay::start(&[
        "replay",
        "--cassette",
        cassette.to_str().unwrap(),
        "--admin",
        "127.0.0.1:0",
    ]);
    let admin = common::admin::admin_of(&resplay);
    for method in ["GET", "DELETE"] {
        let (status, body) = http(&admin, method, "/journal", None);
        assert_eq!(status, 409, "{method}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("--journal-max N"),
            "{body}"
        );
    }
    resplay.stop();
}
