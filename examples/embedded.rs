//! Embedding resplay in a Rust test, the way Go tests use miniredis: start a
//! replay server in-process on a free port, point a client at it, check
//! the report, shut it down. No Redis needed.
//!
//! Run it with `cargo run --example embedded`; `cargo test` runs it too.

use resplay::embed::ReplayServer;
use resplay::replay::ReplayConfig;

async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    let cassette = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/cassettes/quickstart.jsonl"
    );
    let server = ReplayServer::start(cassette, ReplayConfig::default()).await?;
    println!("replaying {cassette} on {}", server.url());

    let client = redis::Client::open(server.url())?;
    let mut con = client.get_multiplexed_async_connection().await?;
    let greeting: String = redis::cmd("GET")
        .arg("greeting")
        .query_async(&mut con)
        .await?;
    let visits: i64 = redis::cmd("INCR")
        .arg("visits")
        .query_async(&mut con)
        .await?;
    println!("GET greeting -> {greeting:?}; INCR visits -> {visits}");
    assert_eq!(greeting, "hello from resplay");
    assert_eq!(visits, 1);

    // Not in the cassette: a clear error, counted as a miss.
    let miss: redis::RedisResult<String> =
        redis::cmd("GET").arg("nope").query_async(&mut con).await;
    println!("GET nope -> {}", miss.as_ref().unwrap_err());

    let report = server.shutdown().await;
    println!("{report}");
    assert_eq!(report.missed, 1);
    assert!(report.served >= 2);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    demo().await
}

#[test]
fn example_runs() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(demo()).unwrap();
}
