//! A subscriber under `CLIENT REPLY OFF` still gets its messages on
//! replay: its `SUBSCRIBE`, recorded with no reply, takes effect as it did
//! in Redis (found by Redis's own `unit/pubsub`, "PubSub messages with
//! CLIENT REPLY OFF").

mod common;

use common::raw::Raw;
use common::{RedisServer, Resplay};
use resplay::resp::Value;

fn session(port: u16) {
    let mut sub = Raw::connect(port);
    let _hello = sub.call(&["HELLO", "3"]);
    sub.send(&["CLIENT", "REPLY", "OFF"]);
    sub.send(&["SUBSCRIBE", "channel"]);
    // The confirmation is a push: Redis sends it even with replies off.
    let confirmation = sub.read();
    assert!(matches!(confirmation, Value::Push(_)), "{confirmation:?}");
    let mut publisher = Raw::connect(port);
    assert_eq!(
        publisher.call(&["PUBLISH", "channel", "foo"]),
        Value::Integer(1)
    );
    let message = sub.read();
    assert_eq!(
        message,
        Value::Push(vec![
            Value::Bulk("message".into()),
            Value::Bulk("channel".into()),
            Value::Bulk("foo".into())
        ])
    );
}

#[test]
fn a_subscriber_with_replies_off_gets_its_messages_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("reply-off.jsonl");
    let server = RedisServer::start();
    let recorder = Resplay::record(&server.url(), &cassette, &[]);
    session(recorder.port);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    drop(server);

    let replay = Resplay::replay(&cassette, &[]);
    session(replay.port);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
}
