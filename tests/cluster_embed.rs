//! A Redis Cluster recorded and replayed inside the test process
//! (`resplay::embed::ClusterRecordServer` / `ClusterReplayServer`), against
//! a real cluster, with a client that follows `-MOVED` from node to node.

mod common;

use std::net::SocketAddr;

use resplay::embed::{ClusterRecordServer, ClusterReplayServer};
use resplay::replay::ReplayConfig;
use resplay::resp::Value;

use common::cluster::RedisCluster;
use common::raw::Raw;

/// Sends `args` to `nodes[0]`, following `-MOVED` to the node it names,
/// which must be one of `nodes`.
fn call(nodes: &[SocketAddr], args: &[&str]) -> Value {
    let mut at = nodes[0];
    for _ in 0..3 {
        let reply = Raw::connect(at.port()).call(args);
        let Value::Error(text) = &reply else {
            return reply;
        };
        let text = String::from_utf8_lossy(text).into_owned();
        let Some(target) = text
            .strip_prefix("MOVED ")
            .and_then(|t| t.split(' ').nth(1))
        else {
            return reply;
        };
        at = target.parse().unwrap();
        assert!(
            nodes.contains(&at),
            "{text} names a node resplay does not serve: {nodes:?}"
        );
    }
    panic!("redirected in a loop: {args:?}");
}

/// What the client does: keys on every node, then reads them back.
fn session(nodes: Vec<SocketAddr>) -> Vec<Value> {
    let mut replies = Vec::new();
    for i in 0..12 {
        replies.push(call(&nodes, &["SET", &format!("k{i}"), &i.to_string()]));
    }
    for i in 0..12 {
        replies.push(call(&nodes, &["GET", &format!("k{i}")]));
    }
    replies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_then_replay_a_cluster_in_process() {
    let cluster = RedisCluster::start(3, 0);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("cluster.jsonl");
    let recorder = ClusterRecordServer::start(&format!("redis://{}", cluster.addr(0)), &cassette)
        .await
        .unwrap();
    let nodes = recorder.nodes();
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes
            .iter()
            .any(|n| recorder.url() == format!("redis://{n}")),
        "{} is none of {nodes:?}",
        recorder.url()
    );
    let recorded = tokio::task::spawn_blocking(move || session(nodes))
        .await
        .unwrap();
    assert!(
        recorded[12..].iter().all(|v| matches!(v, Value::Bulk(_))),
        "{recorded:?}"
    );
    let summary = recorder.shutdown().await;
    assert!(summary.writer.error.is_none(), "{summary}");
    drop(cluster);

    let replay = ClusterReplayServer::start(&cassette, ReplayConfig::default())
        .await
        .unwrap();
    let nodes = replay.nodes();
    let replayed = tokio::task::spawn_blocking(move || session(nodes))
        .await
        .unwrap();
    assert_eq!(replayed, recorded);
    let report = replay.shutdown().await;
    assert_eq!((report.missed, report.unused), (0, 0), "{report}");
}

/// A cassette that is not a cluster recording is refused by name.
#[tokio::test]
async fn a_single_server_cassette_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("one.jsonl");
    std::fs::write(&cassette, "{\"resplay\":1}\n").unwrap();
    let refused = ClusterReplayServer::start(&cassette, ReplayConfig::default())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(refused.contains("is not a cluster recording"), "{refused}");
}
