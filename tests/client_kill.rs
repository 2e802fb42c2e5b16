//! `CLIENT KILL` from one connection closes another, idle one: recorded
//! against a real redis-server, the victim is closed on replay too, when
//! the kill is served, whether it sent commands of its own or none at all.

mod common;

use std::time::Duration;

use common::raw::Raw;
use common::{RedisServer, Resplay};
use resplay::resp::Value;

/// What happened to the victims, per run: the pool keeps `idle` (which
/// only ever sent a handshake `PING`, left out of recordings) and `busy`
/// (which read its own id); `killer` kills both, by id and by type.
fn session(port: u16, record: bool) {
    let mut idle = Raw::connect(port);
    assert_eq!(idle.call(&["PING"]), Value::Simple("PONG".into()));
    let mut busy = Raw::connect(port);
    let Value::Integer(busy_id) = busy.call(&["CLIENT", "ID"]) else {
        panic!("CLIENT ID")
    };
    let mut killer = Raw::connect(port);
    assert_eq!(killer.call(&["SET", "k", "v"]), Value::Simple("OK".into()));
    let id = busy_id.to_string();
    assert_eq!(
        killer.call(&["CLIENT", "KILL", "ID", &id]),
        Value::Integer(1),
        "record={record}"
    );
    assert!(
        busy.is_closed(),
        "the busy victim is closed (record={record})"
    );
    assert_eq!(
        killer.call(&["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"]),
        Value::Integer(1)
    );
    assert!(
        idle.is_closed(),
        "the idle victim is closed (record={record})"
    );
    assert_eq!(killer.call(&["GET", "k"]), Value::Bulk("v".into()));
}

#[test]
fn killed_connections_close_on_replay_when_the_kill_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("kill.jsonl");
    let mut server = RedisServer::start();
    let recorder = Resplay::record(&server.url(), &cassette, &[]);
    session(recorder.port, true);
    // The victims' closes are written as the recorder sees them.
    std::thread::sleep(Duration::from_millis(200));
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    server.kill();

    let replay = Resplay::replay(&cassette, &["--strict"]);
    session(replay.port, false);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
}
