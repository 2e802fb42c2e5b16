//! The in-process API: record against a real Redis, then replay, in one test.

mod common;

use common::RedisServer;
use resplay::embed::{RecordServer, ReplayServer};
use resplay::replay::ReplayConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_then_replay_in_process() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("embedded.jsonl");

    let recorder = RecordServer::start(&server.url(), &cassette).await.unwrap();
    let client = redis::Client::open(recorder.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let n: i64 = redis::cmd("INCR")
        .arg("n")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(n, 1);
    drop(con);
    let summary = recorder.shutdown().await;
    assert_eq!(summary.interactions, 2, "{summary}");
    assert_eq!(summary.writer.lost, 0);
    drop(server); // replay needs no Redis

    let replay = ReplayServer::start(&cassette, ReplayConfig::default())
        .await
        .unwrap();
    let client = redis::Client::open(replay.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let n: i64 = redis::cmd("INCR")
        .arg("n")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(n, 1);
    let live = replay.report();
    assert_eq!((live.served, live.missed, live.unused), (2, 0, 0));
    drop(con);
    let report = replay.shutdown().await;
    assert!(!report.is_strict_failure(), "{report}");
}
