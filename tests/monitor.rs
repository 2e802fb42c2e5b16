//! `MONITOR` on replay follows the live commands: recorded against a real
//! redis-server with two clients in one order, replayed with them in the
//! other order, the monitor sees the order of the replay, each line naming
//! the live client's own address, as Redis would have written it.

mod common;

use common::raw::Raw;
use common::{RedisServer, Resplay};
use resplay::resp::Value;

/// The command part of a monitor line (`"SET" "x" "1"`), and its address.
fn seen(line: &Value) -> (String, String) {
    let Value::Simple(text) = line else {
        panic!("a monitor line is a simple string: {line:?}")
    };
    let text = String::from_utf8_lossy(text).into_owned();
    // 1700000000.123456 [0 127.0.0.1:5000] "SET" "x" "1"
    let (head, command) = text.split_once("] ").expect("monitor line");
    let addr = head.rsplit(' ').next().unwrap().to_string();
    (command.to_string(), addr)
}

fn local_addr(raw: &Raw) -> String {
    raw.local_addr().to_string()
}

/// Two writers and a monitor; `a_first` says which writer goes first.
/// Through the recorder, Redis names the recorder's own upstream
/// connections (as it would any proxy's), so the addresses are checked on
/// replay only.
fn session(port: u16, a_first: bool, check_addresses: bool) {
    let mut monitor = Raw::connect(port);
    assert_eq!(monitor.call(&["MONITOR"]), Value::Simple("OK".into()));
    let mut a = Raw::connect(port);
    let mut b = Raw::connect(port);
    let mut writes = [(&mut a, "x"), (&mut b, "y")];
    if !a_first {
        writes.reverse();
    }
    let mut expected = Vec::new();
    for (client, key) in writes {
        assert_eq!(client.call(&["SET", key, "1"]), Value::Simple("OK".into()));
        expected.push((format!("\"SET\" \"{key}\" \"1\""), local_addr(client)));
    }
    let mut lines = vec![seen(&monitor.read()), seen(&monitor.read())];
    if !check_addresses {
        for line in lines.iter_mut().chain(expected.iter_mut()) {
            line.1.clear();
        }
    }
    assert_eq!(lines, expected);
}

#[test]
fn the_monitor_sees_the_live_commands_in_the_live_order() {
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("monitor.jsonl");
    let mut server = RedisServer::start();
    let recorder = Resplay::record(&server.url(), &cassette, &[]);
    session(recorder.port, true, false);
    let (code, log) = recorder.stop();
    assert_eq!(code, 0, "{log:?}");
    server.kill();

    let replay = Resplay::replay(&cassette, &["--strict"]);
    session(replay.port, false, true);
    let (code, log) = replay.stop();
    assert_eq!(code, 0, "{log:?}");
}
