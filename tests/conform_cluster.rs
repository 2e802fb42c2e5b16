//! `resplay conform --cluster`: a redis-py `RedisCluster` workload recorded
//! through `record --cluster` against a real three-node cluster, driven
//! against a second, fresh cluster: every connection reaches the node that
//! serves its recorded node's slots, and no difference is reported.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::cluster::RedisCluster;
use common::cluster_resplay::{record_cluster, stop_ok};
use common::resplay_bin;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn a_cluster_cassette_conforms_against_a_fresh_cluster() {
    let ok = Command::new("python3")
        .args(["-c", "import redis.cluster"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with redis-py is needed: .ci/run installs it (pip install redis)"
    );
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("cluster.jsonl");
    let recorded = RedisCluster::start(3, 0);
    let (recorder, listeners) = record_cluster(&recorded, &cassette);
    let seed = listeners[&recorded.addr(0)];
    let out = Command::new("python3")
        .arg(repo().join("tests/clients/cluster_app.py"))
        .args(["--url", &format!("redis://127.0.0.1:{seed}")])
        .env_remove("REDIS_URL")
        .env_remove("REDIS_CLUSTER_NODES")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop_ok(recorder);

    let target = RedisCluster::start(3, 0);
    let conform = |extra: &[&str]| {
        Command::new(resplay_bin())
            .arg("conform")
            .arg(&cassette)
            .args(["--target", &format!("redis://{}", target.addr(0))])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let out = conform(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("pass --cluster"), "{}", text(&out));
    let out = conform(&["--cluster", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["totals"]["different"], 0, "{summary}");
    assert_eq!(summary["totals"]["unanswered"], 0, "{summary}");
    assert!(
        summary["totals"]["same"].as_u64().unwrap() > 100,
        "{summary}"
    );
}
