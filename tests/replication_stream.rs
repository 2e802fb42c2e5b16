//! `SYNC`/`PSYNC` through `resplay record`, then from the cassette it wrote,
//! read the way Redis's own test suite attaches to a master's replication
//! stream (`attach_to_replication_stream` in its tests/test_helper.tcl): an
//! inline `SYNC`, keepalive newlines skipped, the RDB read by its length
//! (no CRLF after it), then the commands the master propagates.

mod common;

use std::path::Path;

use common::raw::Raw;
use common::{RedisServer, Resplay, PROTOCOLS};
use resplay::cassette::Event;
use resplay::resp::{rdb, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Inline `SYNC`, as Redis's test helper sends it.
    Sync,
    /// `PSYNC ? -1`: `+FULLRESYNC …`, then the RDB.
    Psync,
    /// `REPLCONF capa eof` and `PSYNC ? -1` with diskless sync: the RDB
    /// comes in the `$EOF:<mark>` form, after a delay filled with newlines.
    PsyncDiskless,
}

/// What the client script saw.
#[derive(Debug, PartialEq)]
struct Seen {
    /// `+FULLRESYNC <replid> <offset>` (PSYNC only), without CRLF.
    preamble: Option<String>,
    /// The RDB transfer's exact bytes, header included.
    transfer: Vec<u8>,
    /// The replicated commands, names lowercased.
    commands: Vec<Vec<String>>,
}

fn ok(reply: Value) {
    assert_eq!(reply, Value::simple("OK"));
}

fn hello(raw: &mut Raw, protocol: u8) {
    if protocol == 3 {
        assert!(matches!(raw.call(&["HELLO", "3"]), Value::Map(_)));
    }
}

/// A replicated command: a RESP2 array of bulk strings (never a RESP3 push).
fn stream_command(value: Value) -> Vec<String> {
    let Value::Array(items) = &value else {
        panic!("replicated command is not an array: {value:?}");
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let text = String::from_utf8_lossy(item.as_bytes().expect("bulk")).into_owned();
            if i == 0 {
                text.to_ascii_lowercase()
            } else {
                text
            }
        })
        .collect()
}

/// The client script, against a recorder or a replay on `port`; returns
/// what it saw and how many keepalive newlines came before the RDB. Every
/// read has a timeout, so a hang fails the test.
fn script(port: u16, protocol: u8, variant: Variant) -> (Seen, usize) {
    let diskless = variant == Variant::PsyncDiskless;
    let mut admin = Raw::connect(port);
    hello(&mut admin, protocol);
    ok(admin.call(&["CONFIG", "SET", "repl-ping-replica-period", "3600"]));
    if diskless {
        ok(admin.call(&["CONFIG", "SET", "repl-diskless-sync", "yes"]));
        ok(admin.call(&["CONFIG", "SET", "repl-diskless-sync-delay", "2"]));
    }
    let mut replica = Raw::connect(port);
    hello(&mut replica, protocol);
    if diskless {
        ok(replica.call(&["REPLCONF", "capa", "eof"]));
    }
    replica.send_raw(match variant {
        Variant::Sync => b"SYNC\r\n",
        _ => b"PSYNC ? -1\r\n",
    });
    let mut newlines = 0;
    let mut preamble = None;
    let header = loop {
        let line = replica.read_line();
        match line.first() {
            None => newlines += 1,
            Some(b'+') => preamble = Some(String::from_utf8(line).unwrap()),
            Some(b'$') => break line,
            _ => panic!("unexpected line {:?}", String::from_utf8_lossy(&line)),
        }
    };
    let mut transfer = header.clone();
    transfer.extend_from_slice(b"\r\n");
    match header.strip_prefix(b"$EOF:") {
        Some(mark) => transfer.extend(replica.read_through(mark)),
        None => {
            let n: usize = std::str::from_utf8(&header[1..]).unwrap().parse().unwrap();
            transfer.extend(replica.read_exact_bytes(n));
        }
    }
    // Redis answers a replica's acknowledgement with nothing. After a
    // diskless transfer it starts the stream only on an acknowledgement
    // that comes once it has seen the transfer's child exit (a real replica
    // acknowledges every second).
    if diskless {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    replica.send(&["REPLCONF", "ACK", "0"]);

    let mut writer = Raw::connect(port);
    hello(&mut writer, protocol);
    ok(writer.call(&["SELECT", "9"]));
    ok(writer.call(&["SET", "foo", "bar"]));
    assert_eq!(writer.call(&["INCR", "n"]), Value::Integer(1));
    let mut commands: Vec<Vec<String>> = Vec::new();
    while commands.last().map(|c| c[0].as_str()) != Some("incr") {
        assert!(commands.len() < 10, "no INCR in {commands:?}");
        commands.push(stream_command(replica.read()));
    }
    let seen = Seen {
        preamble,
        transfer,
        commands,
    };
    (seen, newlines)
}

fn words(lists: &[&[&str]]) -> Vec<Vec<String>> {
    lists
        .iter()
        .map(|l| l.iter().map(|w| w.to_string()).collect())
        .collect()
}

/// The cassette holds the SYNC/PSYNC interaction with its replies (the
/// transfer reproducible byte for byte), the acknowledgement with no reply,
/// and the replicated commands as pushes, each after the interaction that
/// caused it.
fn check_cassette(path: &Path, variant: Variant, seen: &Seen) {
    let cassette = resplay::cassette::load(path).unwrap();
    let events = &cassette.events;
    let interaction = |name: &str, arg: Option<&str>| {
        events
            .iter()
            .position(|e| match e {
                Event::Interaction(i) => {
                    i.cmd[0].eq_ignore_ascii_case(name.as_bytes())
                        && arg.map_or(true, |a| i.cmd.get(1).is_some_and(|x| x == a.as_bytes()))
                }
                _ => false,
            })
            .unwrap_or_else(|| panic!("no {name} in the cassette"))
    };
    let sync_name = if variant == Variant::Sync {
        "SYNC"
    } else {
        "PSYNC"
    };
    let Event::Interaction(sync) = &events[interaction(sync_name, None)] else {
        unreachable!()
    };
    let conn = sync.conn;
    let Some(Value::Bulk(stored)) = sync.replies.last() else {
        panic!("RDB not stored as a bulk: {:?}", sync.replies);
    };
    let mut wire = bytes::BytesMut::new();
    rdb::encode_transfer(stored, &mut wire);
    assert_eq!(&wire[..], &seen.transfer[..], "transfer not reproducible");
    match &seen.preamble {
        Some(line) => {
            assert_eq!(sync.replies.len(), 2);
            assert_eq!(sync.replies[0], Value::Simple(line[1..].to_string().into()));
        }
        None => assert_eq!(sync.replies.len(), 1),
    }
    let Event::Interaction(ack) = &events[interaction("REPLCONF", Some("ACK"))] else {
        unreachable!()
    };
    assert_eq!(ack.conn, conn);
    assert!(ack.replies.is_empty(), "{:?}", ack.replies);

    let pushes: Vec<(usize, Vec<String>)> = events
        .iter()
        .enumerate()
        .filter_map(|(at, e)| match e {
            Event::Push(p) if p.conn == conn => Some((at, stream_command(p.push.clone()))),
            _ => None,
        })
        .collect();
    let recorded: Vec<Vec<String>> = pushes.iter().map(|(_, c)| c.clone()).collect();
    assert_eq!(recorded, seen.commands);
    for (cause, name) in [("SET", "set"), ("INCR", "incr")] {
        let cause_at = interaction(cause, None);
        let push_at = pushes.iter().find(|(_, c)| c[0] == name).unwrap().0;
        assert!(
            cause_at < push_at,
            "the {name} push (line {push_at}) is before its cause (line {cause_at})"
        );
    }
}

fn record_then_replay(variant: Variant) {
    for protocol in PROTOCOLS {
        let server = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        // Two runtime threads: sessions then race to the writer, which is
        // what the causal gate is for (the order checks in check_cassette).
        let recorder = Resplay::record(&server.url(), &path, &["--threads", "2"]);
        let (recorded, newlines) = script(recorder.port, protocol, variant);
        assert_eq!(
            recorded.commands,
            words(&[&["select", "9"], &["set", "foo", "bar"], &["incr", "n"]]),
            "RESP{protocol} {variant:?}"
        );
        assert_eq!(recorded.preamble.is_some(), variant != Variant::Sync);
        if variant == Variant::PsyncDiskless {
            assert!(recorded.transfer.starts_with(b"$EOF:"));
            // The master waited two seconds before the transfer, sending a
            // keepalive newline every second: they came through the proxy.
            assert!(newlines >= 1, "no keepalive newline relayed");
        }
        let (code, log) = recorder.stop();
        assert_eq!(code, 0, "{log:?}");
        check_cassette(&path, variant, &recorded);
        drop(server);

        let replay = Resplay::replay(&path, &["--strict"]);
        let (replayed, _) = script(replay.port, protocol, variant);
        assert_eq!(
            replayed, recorded,
            "RESP{protocol} {variant:?}: replay differs"
        );
        let (code, log) = replay.stop();
        assert_eq!(code, 0, "RESP{protocol} {variant:?}: {log:?}");
    }
}

#[test]
fn sync_stream_records_and_replays() {
    record_then_replay(Variant::Sync);
}

#[test]
fn psync_fullresync_records_and_replays() {
    record_then_replay(Variant::Psync);
}

#[test]
fn psync_diskless_eof_form_records_and_replays() {
    record_then_replay(Variant::PsyncDiskless);
}
