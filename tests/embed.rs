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
    assert_eq!(set_then_incr(&recorder.url()).await, 1);
    let summary = recorder.shutdown().await;
    // SET and INCR, and the client's two `CLIENT SETINFO` when the server
    // refuses them (before Redis 7.2): failed handshake calls are kept.
    let setinfo_refused = if summary.interactions == 4 { 2 } else { 0 };
    assert_eq!(summary.interactions, 2 + setinfo_refused, "{summary}");
    assert_eq!(summary.writer.lost, 0);
    drop(server); // replay needs no Redis

    let replay = ReplayServer::start(&cassette, ReplayConfig::default())
        .await
        .unwrap();
    assert_eq!(set_then_incr(&replay.url()).await, 1);
    let live = replay.report();
    assert_eq!(
        (live.served, live.missed, live.unused),
        (2 + setinfo_refused, 0, 0)
    );
    let report = replay.shutdown().await;
    assert!(!report.is_strict_failure(), "{report}");
}

/// The application's calls, the same against the recorder and the replay:
/// `SET k v`, then `INCR n`, whose reply it returns.
async fn set_then_incr(url: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    redis::cmd("INCR")
        .arg("n")
        .query_async(&mut con)
        .await
        .unwrap()
}
