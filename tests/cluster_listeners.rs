//! Redis Cluster through resplay (issue 14), the listeners: from a BASE
//! port in node order (and a taken one refused) in record and replay, the
//! node lines' order, the seed a replica, the `cluster` config key; and the
//! errors of `--cluster`: a plain server, a node that dies while recording.

mod common;

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use resplay::resp::Value;

use common::cluster::RedisCluster;
use common::cluster_resplay::{
    cluster_listeners, error_text, listener_ports, node_lines, record_cluster, stop_ok,
};
use common::raw::Raw;
use common::{resplay_bin, RedisServer, Resplay};

/// Runs resplay to its exit (20 s at most).
fn resplay_exits(args: &[&str]) -> Output {
    let mut child = Command::new(resplay_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn resplay");
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "resplay {args:?} did not exit: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn cluster_against_a_plain_server_is_an_error() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let url = server.url();
    let out = resplay_exits(&[
        "record",
        "--upstream",
        &url,
        "--cassette",
        cassette.to_str().unwrap(),
        "--cluster",
        "--listen",
        "127.0.0.1:0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("cluster mode"), "{stderr}");
}

/// `n` consecutive free loopback ports: the first.
fn free_run(n: u16) -> u16 {
    // Below the kernel's ephemeral range (32768 and up on Linux): ports
    // there are handed to any socket bound to port 0 or connecting out,
    // by this test and the others running beside it, between the check
    // and resplay's bind.
    for _ in 0..200 {
        let base = fastrand::u16(20000..30000);
        if (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no {n} consecutive free ports");
}

#[test]
fn listeners_from_a_base_port_and_a_taken_one() {
    let cluster = RedisCluster::start(3, 0);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let seed = cluster.addr(0);
    let url = format!("redis://{seed}");
    let base = free_run(3);
    let listen = format!("127.0.0.1:{base}");
    let args = [
        "record",
        "--upstream",
        &url,
        "--cassette",
        cassette.to_str().unwrap(),
        "--cluster",
        "--listen",
        &listen,
    ];
    // BASE+1 taken: an error naming it, before serving.
    let taken = TcpListener::bind(("127.0.0.1", base + 1)).unwrap();
    let out = resplay_exits(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&(base + 1).to_string()), "{stderr}");
    assert!(!stderr.contains("resplay: listening on"), "{stderr}");
    drop(taken);

    // Free: BASE, BASE+1, BASE+2 in the order of the node lines.
    let (port, log) = run_until_listening(&args);
    let ports: Vec<u16> = node_lines(&log).iter().map(|(_, port)| *port).collect();
    assert_eq!(ports, vec![base, base + 1, base + 2], "{log:?}");
    let listeners = cluster_listeners(&log);
    assert_eq!(port, listeners[&cluster.addr(0)].port, "{log:?}");
    drop(cluster);

    // Replay: the same, in the header's order, the seed's listener last.
    let order: Vec<String> = common::cassette_lines(&cassette)[0]["cluster"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["addr"].as_str().unwrap().to_string())
        .collect();
    let base = free_run(3);
    let listen = format!("127.0.0.1:{base}");
    let args = [
        "replay",
        "--cassette",
        cassette.to_str().unwrap(),
        "--listen",
        &listen,
    ];
    let (port, log) = run_until_listening(&args);
    let expected: Vec<(String, u16)> = order.iter().cloned().zip(base..).collect();
    assert_eq!(node_lines(&log), expected, "{log:?}");
    assert_eq!(port, cluster_listeners(&log)[&seed].port, "{log:?}");
    let taken = TcpListener::bind(("127.0.0.1", base + 2)).unwrap();
    let out = resplay_exits(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&(base + 2).to_string()), "{stderr}");
    drop(taken);
}

/// Starts resplay, waits for its `listening on` line, and stops it
/// (SIGTERM, clean exit expected): that port and the log.
fn run_until_listening(args: &[&str]) -> (u16, Vec<String>) {
    let mut child = Command::new(resplay_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::stderr_lines(&mut child);
    let mut log = Vec::new();
    let port = common::wait_for_listening(&lines, &mut log);
    common::signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    log.extend(lines.iter());
    let port = port.unwrap_or_else(|| panic!("resplay {args:?} did not listen: {log:?}"));
    assert!(status.success(), "resplay {args:?}: {status}: {log:?}");
    (port, log)
}

/// Replay on free ports prints its node lines as record did: in the
/// header's topology order (primaries by first slot, then replicas).
#[test]
fn replay_prints_node_lines_in_topology_order() {
    let cluster = RedisCluster::start(3, 1);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let (recorder, _) = record_cluster(&cluster, &cassette);
    let recorded: Vec<String> = node_lines(&recorder.log)
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    stop_ok(recorder);
    drop(cluster);
    let order: Vec<String> = common::cassette_lines(&cassette)[0]["cluster"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["addr"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(recorded, order, "record's node lines");
    for _ in 0..3 {
        let replayer = Resplay::replay(&cassette, &[]);
        let replayed: Vec<String> = node_lines(&replayer.log)
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        stop_ok(replayer);
        assert_eq!(replayed, order, "replay's node lines");
    }
}

/// A node dies while recording: its clients (a waiting one, a new one) get
/// `-ERR resplay: upstream <node addr> …`; another node still answers, and
/// the recorder exits cleanly.
#[test]
fn a_node_killed_while_recording() {
    let mut cluster = RedisCluster::start(3, 0);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let (recorder, listeners) = record_cluster(&cluster, &cassette);
    let primaries = cluster.primaries();
    let (victim, other) = (primaries[1], primaries[0]);
    // Hash tags keep each node's keys together.
    let (v, o) = (cluster.key_on(victim, "v"), cluster.key_on(other, "o"));
    let v_list = format!("{{{v}}}:list");
    let v = format!("{{{v}}}");
    let victim_addr = cluster.addr(victim);
    let mut alive = Raw::connect(listeners[&cluster.addr(other)]);
    assert_eq!(alive.call(&["SET", &o, "still"]), Value::simple("OK"));
    let mut waiting = Raw::connect(listeners[&victim_addr]);
    assert_eq!(waiting.call(&["SET", &v, "x"]), Value::simple("OK"));
    waiting.send(&["BLPOP", &v_list, "0"]);
    std::thread::sleep(Duration::from_millis(300));
    cluster.kill_node(victim);
    let e = error_text(&waiting.read());
    assert!(
        e.starts_with("ERR resplay: upstream") && e.contains(&victim_addr),
        "{e}"
    );
    let mut late = Raw::connect(listeners[&victim_addr]);
    let e = error_text(&late.call(&["GET", &v]));
    assert!(
        e.starts_with("ERR resplay: upstream") && e.contains(&victim_addr),
        "{e}"
    );
    assert_eq!(alive.call(&["GET", &o]), Value::bulk("still"));
    let mut fresh = Raw::connect(listeners[&cluster.addr(other)]);
    assert_eq!(fresh.call(&["GET", &o]), Value::bulk("still"));
    stop_ok(recorder);
}

/// The config file's `cluster = true` is `--cluster`.
#[test]
fn cluster_config_key() {
    let cluster = RedisCluster::start(3, 0);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("resplay.toml");
    std::fs::write(&config, "cluster = true\n").unwrap();
    let cassette = dir.path().join("c.jsonl");
    let url = format!("redis://{}", cluster.addr(0));
    let recorder = Resplay::start(&[
        "--config",
        config.to_str().unwrap(),
        "record",
        "--upstream",
        &url,
        "--cassette",
        cassette.to_str().unwrap(),
    ]);
    assert_eq!(listener_ports(&recorder.log).len(), 3, "{:?}", recorder.log);
    stop_ok(recorder);
    assert!(common::cassette_lines(&cassette)[0]["cluster"]["nodes"].is_array());
}

/// The upstream URL may name a replica: `listening on` is its listener.
#[test]
fn the_seed_may_be_a_replica() {
    let cluster = RedisCluster::start(3, 1);
    let replica = cluster.replicas()[0];
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let url = format!("redis://{}", cluster.addr(replica));
    let recorder = Resplay::record(&url, &cassette, &["--cluster"]);
    let lines = cluster_listeners(&recorder.log);
    assert_eq!(lines.len(), 6, "{:?}", recorder.log);
    let seed = &lines[&cluster.addr(replica)];
    assert_eq!(
        (seed.role.as_str(), seed.port),
        ("replica", recorder.port),
        "{:?}",
        recorder.log
    );
    let key = cluster.key_on(cluster.primaries()[0], "s");
    let e = error_text(&Raw::connect(recorder.port).call(&["GET", &key]));
    assert!(e.starts_with("MOVED"), "{e}");
    stop_ok(recorder);
    drop(cluster);
    let replayer = Resplay::replay(&cassette, &[]);
    let lines = cluster_listeners(&replayer.log);
    assert_eq!(lines.len(), 6, "{:?}", replayer.log);
    assert_eq!(
        lines[&url["redis://".len()..]].port,
        replayer.port,
        "{:?}",
        replayer.log
    );
    stop_ok(replayer);
}

/// Without `--cluster` nothing of this shows: no node lines, no `cluster`
/// key in the header, no `node` on open events.
#[test]
fn a_single_node_cassette_is_unchanged() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let recorder = Resplay::record(&server.url(), &cassette, &[]);
    let mut c = Raw::connect(recorder.port);
    assert_eq!(c.call(&["SET", "a", "1"]), Value::simple("OK"));
    drop(c);
    let log = stop_ok(recorder);
    assert!(node_lines(&log).is_empty(), "{log:?}");
    let lines = common::cassette_lines(&cassette);
    assert!(lines[0].get("cluster").is_none(), "{}", lines[0]);
    let opens: Vec<_> = lines.iter().filter(|l| l["event"] == "open").collect();
    assert!(!opens.is_empty());
    assert!(opens.iter().all(|l| l.get("node").is_none()), "{opens:?}");
}

/// What a cluster cannot do is refused up front, with a nonzero exit:
/// the control API and kept connections (they steer one listener), a
/// passthrough miss in replay (it would need the node's upstream), and
/// `run --mode new-episodes` on a cluster cassette.
#[test]
fn refused_with_a_cluster() {
    let cluster = RedisCluster::start(3, 0);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let path = cassette.to_str().unwrap();
    let url = format!("redis://{}", cluster.addr(0));
    let record = [
        "record",
        "--upstream",
        &url,
        "--cassette",
        path,
        "--cluster",
    ];
    for extra in [&["--admin", "127.0.0.1:0"][..], &["--keep-connections"]] {
        let mut args = record.to_vec();
        args.extend_from_slice(extra);
        args.extend(["--listen", "127.0.0.1:0"]);
        let out = resplay_exits(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("resplay: listening on") && stderr.contains(extra[0]),
            "{args:?}: {stderr}"
        );
    }
    let recorder = Resplay::record(&url, &cassette, &["--cluster"]);
    assert_eq!(
        Raw::connect(recorder.port).call(&["PING"]),
        Value::simple("PONG")
    );
    stop_ok(recorder);
    drop(cluster);
    let args = [
        "replay",
        "--cassette",
        path,
        "--on-miss",
        "passthrough",
        "--upstream",
        &url,
    ];
    let out = resplay_exits(&[&args[..], &["--listen", "127.0.0.1:0"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("passthrough"), "{stderr}");
    let args = [
        "run",
        "--mode",
        "new-episodes",
        "--cassette",
        path,
        "--upstream",
        &url,
        "--",
        "true",
    ];
    let out = resplay_exits(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("new-episodes"), "{stderr}");
}

/// With a BASE port, a node that joins while recording gets the next port
/// after the last one given out.
#[test]
fn a_late_node_gets_the_next_base_port() {
    let mut cluster = RedisCluster::start(3, 0);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("c.jsonl");
    let base = free_run(4);
    let listen = format!("127.0.0.1:{base}");
    let url = format!("redis://{}", cluster.addr(0));
    let mut child = Command::new(resplay_bin())
        .args(["record", "--upstream", &url, "--cassette"])
        .arg(&cassette)
        .args(["--cluster", "--listen", &listen])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = common::stderr_lines(&mut child);
    let mut log = Vec::new();
    let seed = common::wait_for_listening(&lines, &mut log);
    assert_eq!(seed, Some(base), "{log:?}");
    let key = "late:base";
    let slot = common::cluster::key_slot(key);
    let from = cluster.owner_of(slot);
    let from_port = listener_ports(&log)[&cluster.addr(from)];
    let new = cluster.add_node();
    cluster.migrate_slot(slot, from, new);
    let reply = Raw::connect(from_port).call(&["GET", key]);
    common::signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    log.extend(lines.iter());
    assert!(status.success(), "{log:?}");
    assert_eq!(
        reply,
        Value::error(format!("MOVED {slot} 127.0.0.1:{}", base + 3)),
        "{log:?}"
    );
    assert_eq!(
        listener_ports(&log).get(&cluster.addr(new)),
        Some(&(base + 3)),
        "{log:?}"
    );
}
