//! Redis Cluster through resplay (issue 14), the addresses clients are
//! told: topology replies and `-ASK`/`-MOVED` name resplay's listeners
//! only, in record and in replay: during a slot migration (alone, in a
//! pipeline, in MULTI), after a failover, to a node that joined, with
//! hostname endpoints; `redis-cli -c`, redis-py (through a migration) and
//! `redis-benchmark --cluster` follow them. Listener ports and errors are in
//! `tests/cluster_listeners.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use resplay::resp::Value;

use common::cluster::{key_slot, parse_nodes, RedisCluster};
use common::cluster_resplay::{
    as_text, cluster_listeners, error_text, listener_ports, node_lines, record_cluster,
    replay_cluster, stop_ok,
};
use common::raw::Raw;
use common::{redis_cli, Resplay};

/// A map's (or RESP2 flat pair list's) value under `name`.
fn field<'v>(v: &'v Value, name: &str) -> Option<&'v Value> {
    match v {
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_bytes() == Some(name.as_bytes()))
            .map(|(_, v)| v),
        Value::Array(items) => items
            .chunks(2)
            .find(|p| p[0].as_bytes() == Some(name.as_bytes()))
            .map(|p| &p[1]),
        _ => None,
    }
}

fn int(v: &Value) -> u16 {
    match v {
        Value::Integer(n) => u16::try_from(*n).unwrap(),
        other => panic!("not an integer: {other:?}"),
    }
}

/// The ports a topology reply names, by command.
fn ports_in(cmd: &[&str], reply: &Value) -> Vec<u16> {
    let mut ports = Vec::new();
    match cmd[1] {
        "SLOTS" => {
            for range in reply.elements().unwrap() {
                for node in &range.elements().unwrap()[2..] {
                    let node = node.elements().unwrap();
                    assert_eq!(as_text(&node[0]), "127.0.0.1", "{reply:?}");
                    ports.push(int(&node[1]));
                }
            }
        }
        "SHARDS" => {
            for shard in reply.elements().unwrap() {
                let nodes = field(shard, "nodes").unwrap_or_else(|| panic!("{shard:?}"));
                for node in nodes.elements().unwrap() {
                    let port = int(field(node, "port").unwrap());
                    for name in ["ip", "endpoint"] {
                        if let Some(v) = field(node, name) {
                            assert_eq!(as_text(v), "127.0.0.1", "{name}: {node:?}");
                        }
                    }
                    ports.push(port);
                }
            }
        }
        _ => {
            // NODES, REPLICAS: text (RESP2) or lines in an array (REPLICAS).
            let text = match reply.elements() {
                Some(lines) => lines.iter().map(as_text).collect::<Vec<_>>().join("\n"),
                None => as_text(reply).trim_start_matches("txt:").to_string(),
            };
            for node in parse_nodes(&text) {
                ports.push(
                    node.addr
                        .strip_prefix("127.0.0.1:")
                        .unwrap()
                        .parse()
                        .unwrap(),
                );
            }
        }
    }
    ports
}

/// Every address in CLUSTER SLOTS, SHARDS, NODES and REPLICAS (asked on
/// each listener, RESP2 and RESP3) is one of resplay's listeners, and each
/// listener is named for its node.
fn assert_topology_names_listeners(
    listeners: &BTreeMap<String, u16>,
    ids: &BTreeMap<String, String>,
    real: &[u16],
) {
    let all: BTreeSet<u16> = listeners.values().copied().collect();
    for (addr, &port) in listeners {
        for protocol in ["2", "3"] {
            let mut c = Raw::connect(port);
            let hello = c.call(&["HELLO", protocol]);
            assert!(!hello.is_error(), "{hello:?}");
            let primary = ids.keys().find(|a| *a != addr).unwrap();
            let mut asks: Vec<Vec<&str>> = vec![
                vec!["CLUSTER", "SLOTS"],
                vec!["CLUSTER", "SHARDS"],
                vec!["CLUSTER", "NODES"],
            ];
            let replicas = vec!["CLUSTER", "REPLICAS", ids[primary].as_str()];
            asks.push(replicas);
            for cmd in asks {
                let reply = c.call(&cmd);
                let named = ports_in(&cmd, &reply);
                for p in &named {
                    assert!(
                        !real.contains(p),
                        "{addr} {cmd:?} RESP{protocol} names real node :{p}: {reply:?}"
                    );
                    assert!(
                        all.contains(p),
                        "{addr} {cmd:?} RESP{protocol} names :{p}, not a listener: {reply:?}"
                    );
                }
                if cmd[1] != "REPLICAS" {
                    let named: BTreeSet<u16> = named.into_iter().collect();
                    assert_eq!(named, all, "{addr} {cmd:?} RESP{protocol}: {reply:?}");
                }
            }
        }
    }
}

#[test]
fn topology_replies_name_listeners_in_record_and_replay() {
    let cluster = RedisCluster::start(3, 1);
    let ids: BTreeMap<String, String> = cluster
        .primaries()
        .into_iter()
        .map(|i| (cluster.addr(i), cluster.id(i)))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("topology.jsonl");
    let (recorder, listeners) = record_cluster(&cluster, &cassette);
    let real = cluster.ports();
    assert_topology_names_listeners(&listeners, &ids, &real);
    stop_ok(recorder);
    let nodes = cluster.nodes.len();
    drop(cluster);
    let (replayer, listeners) = replay_cluster(&cassette, nodes);
    assert_topology_names_listeners(&listeners, &ids, &real);
    stop_ok(replayer);
}

/// The client side of the migration scenario, against listeners `from` and
/// `to` (resplay's, for the source and target of the slot's move);
/// `between(1)` starts the migration (key `{m}:1` moved, `{m}:2` not),
/// `between(2)` finishes it. Every redirection must name resplay's
/// listeners.
fn migration_session(from: u16, to: u16, slot: u16, between: &mut dyn FnMut(u8)) {
    let ask = Value::error(format!("ASK {slot} 127.0.0.1:{to}"));
    let moved_to = Value::error(format!("MOVED {slot} 127.0.0.1:{to}"));
    let moved_from = Value::error(format!("MOVED {slot} 127.0.0.1:{from}"));
    let mut a = Raw::connect(from);
    let mut b = Raw::connect(to);
    assert_eq!(a.call(&["SET", "{m}:1", "one"]), Value::simple("OK"));
    assert_eq!(a.call(&["SET", "{m}:2", "two"]), Value::simple("OK"));
    between(1);
    // Half way: the moved key is asked for elsewhere, the other is here.
    assert_eq!(a.call(&["GET", "{m}:1"]), ask);
    assert_eq!(a.call(&["GET", "{m}:2"]), Value::bulk("two"));
    // The importing node sends a client without ASKING back to the owner.
    assert_eq!(b.call(&["GET", "{m}:1"]), moved_from);
    assert_eq!(b.call(&["ASKING"]), Value::simple("OK"));
    assert_eq!(b.call(&["GET", "{m}:1"]), Value::bulk("one"));
    // In a pipeline.
    a.send(&["GET", "{m}:2"]);
    a.send(&["GET", "{m}:1"]);
    a.send(&["GET", "{m}:2"]);
    assert_eq!(a.read(), Value::bulk("two"));
    assert_eq!(a.read(), ask);
    assert_eq!(a.read(), Value::bulk("two"));
    between(2);
    assert_eq!(a.call(&["GET", "{m}:2"]), moved_to);
    // In MULTI: the queued command is refused with the redirection.
    assert_eq!(a.call(&["MULTI"]), Value::simple("OK"));
    assert_eq!(a.call(&["GET", "{m}:1"]), moved_to);
    assert!(error_text(&a.call(&["EXEC"])).starts_with("EXECABORT"));
    // A transaction on the new owner.
    assert_eq!(b.call(&["MULTI"]), Value::simple("OK"));
    assert_eq!(b.call(&["GET", "{m}:1"]), Value::simple("QUEUED"));
    assert_eq!(b.call(&["GET", "{m}:2"]), Value::simple("QUEUED"));
    assert_eq!(
        b.call(&["EXEC"]),
        Value::Array(vec![Value::bulk("one"), Value::bulk("two")])
    );
    assert_eq!(b.call(&["GET", "{m}:2"]), Value::bulk("two"));
    // A pipeline over both keys on the old owner: both redirected.
    a.send(&["GET", "{m}:1"]);
    a.send(&["GET", "{m}:2"]);
    assert_eq!(a.read(), moved_to);
    assert_eq!(a.read(), moved_to);
}

/// A slot moves while resplay records: the client sees `-ASK` half way and
/// `-MOVED` after, with resplay's addresses, and replay (its own listener
/// ports) answers the same with its own.
#[test]
fn ask_then_moved_during_a_slot_migration() {
    let cluster = RedisCluster::start(3, 0);
    let slot = key_slot("{m}:1");
    let from = cluster.owner_of(slot);
    let to = cluster
        .primaries()
        .into_iter()
        .find(|&i| i != from)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("migration.jsonl");
    let (recorder, listeners) = record_cluster(&cluster, &cassette);
    let (from_addr, to_addr) = (cluster.addr(from), cluster.addr(to));
    migration_session(
        listeners[&from_addr],
        listeners[&to_addr],
        slot,
        &mut |step| match step {
            1 => cluster.migrate_slot_half(slot, from, to, &["{m}:1"]),
            _ => cluster.finish_migration(slot, from, to),
        },
    );
    stop_ok(recorder);
    let nodes = cluster.nodes.len();
    drop(cluster);
    let (replayer, listeners) = replay_cluster(&cassette, nodes);
    migration_session(
        listeners[&from_addr],
        listeners[&to_addr],
        slot,
        &mut |_| {},
    );
    stop_ok(replayer);
}

/// The output `redis-cli -c` gives for `SET k v` / `GET k` per key, from a
/// connection to `start`: a redirection line when the key lives elsewhere.
fn cli_expected(keys: &[(&str, usize)], start: usize, port_of: &dyn Fn(usize) -> u16) -> String {
    let mut at = start;
    let mut out = String::new();
    for (i, (key, owner)) in keys.iter().enumerate() {
        if *owner != at {
            out += &format!(
                "-> Redirected to slot [{}] located at 127.0.0.1:{}\n",
                key_slot(key),
                port_of(*owner)
            );
            at = *owner;
        }
        out += &format!("OK\nv{i}\n");
    }
    out
}

#[test]
fn redis_cli_follows_redirections() {
    let cluster = RedisCluster::start(3, 0);
    // Keys on every primary, none first on the seed node's.
    let mut keys: Vec<(&str, usize)> = Vec::new();
    for key in ["foo", "bar", "hello", "key:1", "key:2", "key:3", "zz"] {
        keys.push((key, cluster.owner_of(key_slot(key))));
    }
    keys.sort_by_key(|&(_, owner)| owner == 0);
    let owners: BTreeSet<usize> = keys.iter().map(|k| k.1).collect();
    assert_eq!(owners.len(), 3, "{keys:?}");
    let script: String = keys
        .iter()
        .enumerate()
        .map(|(i, (k, _))| format!("SET {k} v{i}\nGET {k}\n"))
        .collect();
    let direct = redis_cli(cluster.nodes[0].port, &["-c"], Some(&script));
    assert_eq!(direct, cli_expected(&keys, 0, &|i| cluster.nodes[i].port));

    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("cli.jsonl");
    let (recorder, listeners) = record_cluster(&cluster, &cassette);
    let addrs: Vec<String> = (0..cluster.nodes.len()).map(|i| cluster.addr(i)).collect();
    let through = redis_cli(recorder.port, &["-c"], Some(&script));
    assert_eq!(through, cli_expected(&keys, 0, &|i| listeners[&addrs[i]]));
    stop_ok(recorder);
    drop(cluster);
    let (replayer, listeners) = replay_cluster(&cassette, addrs.len());
    let replayed = redis_cli(replayer.port, &["-c"], Some(&script));
    assert_eq!(replayed, cli_expected(&keys, 0, &|i| listeners[&addrs[i]]));
    stop_ok(replayer);
}

/// A node that joins while recording (a slot moved to it): the `-MOVED`
/// to it names a listener made for it, announced by a `resplay: node` line,
/// and serving it; replay does the same with its own listener.
#[test]
fn a_node_added_while_recording_gets_a_listener() {
    let mut cluster = RedisCluster::start(3, 0);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let (mut recorder, listeners) = record_cluster(&cluster, &cassette);
    let key = "late:key";
    let slot = key_slot(key);
    let from = cluster.owner_of(slot);
    let from_addr = cluster.addr(from);
    let mut a = Raw::connect(listeners[&from_addr]);
    assert_eq!(a.call(&["SET", key, "v"]), Value::simple("OK"));
    let new = cluster.add_node();
    let new_addr = cluster.addr(new);
    cluster.migrate_slot(slot, from, new);
    let moved = |a: &mut Raw, resplay: &mut Resplay, known: &BTreeMap<String, u16>| {
        let e = error_text(&a.call(&["GET", key]));
        let prefix = format!("MOVED {slot} 127.0.0.1:");
        let port: u16 = e
            .strip_prefix(&prefix)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{e}"));
        assert!(!known.values().any(|&p| p == port), "{e}: an old listener");
        resplay.drain_log(Duration::from_millis(500));
        let lines = cluster_listeners(&resplay.log);
        let line = lines
            .get(&new_addr)
            .unwrap_or_else(|| panic!("no node line for {new_addr}: {:?}", resplay.log));
        assert_eq!((line.role.as_str(), line.port), ("primary", port), "{e}");
        let mut b = Raw::connect(port);
        assert_eq!(b.call(&["GET", key]), Value::bulk("v"));
    };
    moved(&mut a, &mut recorder, &listeners);
    stop_ok(recorder);
    drop(cluster);
    let mut replayer = Resplay::replay(&cassette, &[]);
    let listeners = listener_ports(&replayer.log);
    let mut a = Raw::connect(listeners[&from_addr]);
    assert_eq!(a.call(&["SET", key, "v"]), Value::simple("OK"));
    let old: BTreeMap<String, u16> = listeners
        .into_iter()
        .filter(|(addr, _)| *addr != new_addr)
        .collect();
    moved(&mut a, &mut replayer, &old);
    stop_ok(replayer);
}

/// A primary dies and its replica takes over while recording: the
/// redirections then name the promoted replica's listener, in record and
/// in replay, and it serves the slot.
#[test]
fn failover_while_recording() {
    let mut cluster = RedisCluster::start(3, 1);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let (recorder, listeners) = record_cluster(&cluster, &cassette);
    let primaries = cluster.primaries();
    // Not the seed's node: the client keeps asking there.
    let victim = primaries[1];
    let seed = primaries[0];
    let heir = cluster.replicas_of(victim)[0];
    let key = format!("{{{}}}", cluster.key_on(victim, "fo"));
    let slot = key_slot(&key);
    let (seed_addr, victim_addr, heir_addr) =
        (cluster.addr(seed), cluster.addr(victim), cluster.addr(heir));
    let mut v = Raw::connect(listeners[&victim_addr]);
    assert_eq!(v.call(&["SET", &key, "kept"]), Value::simple("OK"));
    assert_eq!(v.call(&["WAIT", "1", "5000"]), Value::Integer(1));
    cluster.kill_node(victim);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cluster.primaries().contains(&heir) {
        assert!(Instant::now() < deadline, "no failover to {heir_addr}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let session = |listeners: &BTreeMap<String, u16>| {
        let mut s = Raw::connect(listeners[&seed_addr]);
        let moved = Value::error(format!("MOVED {slot} 127.0.0.1:{}", listeners[&heir_addr]));
        assert_eq!(s.call(&["GET", &key]), moved);
        let mut h = Raw::connect(listeners[&heir_addr]);
        assert_eq!(h.call(&["GET", &key]), Value::bulk("kept"));
    };
    // Until the seed itself routes the slot to the heir (asked directly, so
    // that the recording holds one session only).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = common::cluster::node_cmd(cluster.nodes[seed].port, &["GET", &key]);
        if reply
            .as_ref()
            .is_err_and(|e| e.to_string().contains(&heir_addr))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{reply:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    session(&listeners);
    stop_ok(recorder);
    let nodes = cluster.nodes.len();
    drop(cluster);
    let (replayer, listeners) = replay_cluster(&cassette, nodes);
    session(&listeners);
    stop_ok(replayer);
}

/// Node id → port, from CLUSTER SLOTS and from CLUSTER NODES on `port`.
fn ports_by_id(port: u16) -> (BTreeMap<String, u16>, BTreeMap<String, u16>) {
    let mut c = Raw::connect(port);
    let mut slots = BTreeMap::new();
    for range in c.call(&["CLUSTER", "SLOTS"]).elements().unwrap() {
        for node in &range.elements().unwrap()[2..] {
            let node = node.elements().unwrap();
            slots.insert(as_text(&node[2]), int(&node[1]));
        }
    }
    let nodes = parse_nodes(&as_text(&c.call(&["CLUSTER", "NODES"])))
        .into_iter()
        .map(|n| (n.id, n.addr.rsplit(':').next().unwrap().parse().unwrap()))
        .collect();
    (slots, nodes)
}

/// Nodes that announce a hostname and prefer it as their endpoint
/// (`cluster-preferred-endpoint-type hostname`): CLUSTER SLOTS and -MOVED
/// name `localhost:PORT`, CLUSTER NODES `127.0.0.1:PORT,localhost`. Both
/// are the same node: through resplay they must name the same listener,
/// as they name the same port direct, and no second listener is made.
#[test]
fn hostname_endpoints_keep_one_listener_per_node() {
    let cluster = RedisCluster::start_with(
        3,
        0,
        &[
            "--cluster-announce-hostname",
            "localhost",
            "--cluster-preferred-endpoint-type",
            "hostname",
        ],
    );
    let (slots, nodes) = ports_by_id(cluster.nodes[0].port);
    assert_eq!(slots, nodes, "direct");
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let (mut recorder, listeners) = record_cluster(&cluster, &cassette);
    let (slots, nodes) = ports_by_id(recorder.port);
    let key = cluster.key_on(2, "h");
    let moved = error_text(&Raw::connect(recorder.port).call(&["GET", &key]));
    recorder.drain_log(Duration::from_millis(300));
    let lines = node_lines(&recorder.log);
    assert_eq!(
        slots, nodes,
        "CLUSTER SLOTS and CLUSTER NODES through resplay; {lines:?}"
    );
    let mine: BTreeSet<u16> = listeners.values().copied().collect();
    let port: u16 = moved.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        mine.contains(&port),
        "{moved}: not one of {listeners:?}; {lines:?}"
    );
    assert_eq!(lines.len(), 3, "one listener per node: {lines:?}");
    stop_ok(recorder);
}

/// `redis-benchmark --cluster` reads CLUSTER NODES from the node it is
/// given and connects to every primary: through record it finds resplay's
/// listeners only, and its workload runs through record and replay alike.
#[test]
fn redis_benchmark_cluster_through_record_and_replay() {
    let cluster = RedisCluster::start(3, 0);
    let bench = |port: u16| {
        let out = Command::new("redis-benchmark")
            .args(["--cluster", "-h", "127.0.0.1", "-p", &port.to_string()])
            .args([
                "-t", "set,get", "-n", "3000", "-c", "10", "-P", "4", "--csv",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("redis-benchmark must be installed (.ci/run installs redis-tools)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{text}{err}");
        assert!(
            text.contains("\"SET\"") && text.contains("\"GET\""),
            "{text}{err}"
        );
        // "Master 0: <id> 127.0.0.1:PORT"
        text.lines()
            .filter(|l| l.starts_with("Master "))
            .map(|l| l.rsplit(':').next().unwrap().parse::<u16>().unwrap())
            .collect::<BTreeSet<u16>>()
    };
    let real: BTreeSet<u16> = cluster.ports().into_iter().collect();
    assert_eq!(bench(cluster.nodes[0].port), real, "direct");
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let (recorder, listeners) = record_cluster(&cluster, &cassette);
    let mine: BTreeSet<u16> = listeners.values().copied().collect();
    assert_eq!(bench(recorder.port), mine, "through record");
    let log = stop_ok(recorder);
    let opened: BTreeSet<String> = common::cassette_lines(&cassette)
        .iter()
        .filter(|l| l["event"] == "open")
        .map(|l| l["node"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(opened.len(), 3, "{opened:?} {log:?}");
    drop(cluster);
    let (replayer, listeners) = replay_cluster(&cassette, 3);
    let mine: BTreeSet<u16> = listeners.values().copied().collect();
    assert_eq!(bench(replayer.port), mine, "against replay");
    let log = stop_ok(replayer);
    assert!(log.iter().any(|l| l.contains(" 0 missed")), "{log:?}");
}

/// Runs `tests/clients/cluster_moves.py` against `url`; `between(step)` runs
/// after each step it prints (`set`, `half`, `moved`). Returns its stdout.
fn moves_program(url: &str, between: &mut dyn FnMut(&str)) -> String {
    use std::io::{BufRead, BufReader, Write};
    let ok = Command::new("python3")
        .args(["-c", "import redis.cluster"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 with redis-py is needed: `pip install redis` (.ci/run does)"
    );
    let mut child = Command::new("python3")
        .args(["tests/clients/cluster_moves.py", "--url", url])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(Ok(line)) = lines.next() {
        out += &line;
        out.push('\n');
        if line == "done" {
            break;
        }
        between(line.split(' ').next().unwrap());
        let _ = writeln!(stdin, "go");
    }
    drop(stdin);
    let result = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{out}{err}");
    assert!(out.ends_with("done\n"), "{out}{err}");
    out
}

/// redis-py itself follows `-ASK` and then `-MOVED` while a slot moves,
/// through record (resplay's addresses) and against replay: the values it
/// reads are the same as direct.
#[test]
fn redis_py_follows_a_slot_migration() {
    let run = |through_resplay: bool| {
        let cluster = RedisCluster::start(3, 0);
        let slot = key_slot("{m}");
        let from = cluster.owner_of(slot);
        let to = cluster
            .primaries()
            .into_iter()
            .find(|&i| i != from)
            .unwrap();
        let mut moves = |step: &str| match step {
            "set" => cluster.migrate_slot_half(slot, from, to, &["{m}:1"]),
            "half" => cluster.finish_migration(slot, from, to),
            _ => {}
        };
        if !through_resplay {
            return (
                moves_program(&format!("redis://{}", cluster.addr(0)), &mut moves),
                None,
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let cassette = dir.path().join("moves.jsonl");
        let (recorder, _) = record_cluster(&cluster, &cassette);
        let out = moves_program(&recorder.url(), &mut moves);
        stop_ok(recorder);
        (out, Some(dir))
    };
    let (direct, _) = run(false);
    assert!(direct.contains("half b'one' b'two'"), "{direct}");
    let (recorded, dir) = run(true);
    assert_eq!(recorded, direct, "through record");
    let dir = dir.unwrap();
    // The recording holds what redis-py was told: an -ASK, then a -MOVED.
    let errors: Vec<String> = common::cassette_lines(&dir.path().join("moves.jsonl"))
        .iter()
        .filter_map(|l| l["reply"]["-"].as_str().map(String::from))
        .collect();
    let first = |word: &str| errors.iter().position(|e| e.starts_with(word));
    assert!(
        first("ASK ") < first("MOVED ") && first("ASK ").is_some(),
        "{errors:?}"
    );
    let (replayer, _) = replay_cluster(&dir.path().join("moves.jsonl"), 3);
    let replayed = moves_program(&replayer.url(), &mut |_| {});
    let log = stop_ok(replayer);
    assert_eq!(replayed, direct, "against replay: {log:?}");
}

/// In replay, a node with no recording of a topology command answers it
/// from another node's: ioredis refreshes its slots from a node picked at
/// random, and need not pick the one it asked while recording. `CLUSTER
/// NODES` then flags the answering node `myself`.
#[test]
fn replay_answers_the_topology_on_any_node() {
    let cluster = RedisCluster::start(3, 0);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("topology.jsonl");
    let (recorder, listeners) = record_cluster(&cluster, &cassette);
    let seed_addr = cluster.addr(0);
    let mut c = Raw::connect(listeners[&seed_addr]);
    assert!(c.call(&["CLUSTER", "SLOTS"]).elements().is_some());
    let nodes = as_text(&c.call(&["CLUSTER", "NODES"]));
    drop(c);
    stop_ok(recorder);
    drop(cluster);
    let (replayer, listeners) = replay_cluster(&cassette, 3);
    let seed = listeners[&seed_addr];
    // The recording's own node first (its recordings answer there, the
    // subcommand in another case), then the others.
    let mut ports: Vec<u16> = listeners.values().copied().collect();
    ports.sort_by_key(|&p| p != seed);
    let mut slots = None;
    for port in ports {
        let mut c = Raw::connect(port);
        let here = c.call(&["cluster", "slots"]);
        let text = as_text(&c.call(&["CLUSTER", "NODES"]));
        let myself: Vec<&str> = text.lines().filter(|l| l.contains("myself")).collect();
        assert_eq!(myself.len(), 1, "{text}");
        assert!(myself[0].contains(&format!("127.0.0.1:{port}@")), "{text}");
        // Replay's own addresses, the same on every node.
        let slots = slots.get_or_insert_with(|| here.clone());
        assert_eq!(&here, slots, "the same topology on port {port}");
        assert_eq!(text.lines().count(), nodes.lines().count());
    }
    let log = stop_ok(replayer);
    assert!(
        log.iter().any(|l| l.contains(" 0 missed, 0 unused")),
        "{log:?}"
    );
}
