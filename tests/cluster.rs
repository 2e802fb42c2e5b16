//! Redis Cluster through resplay (issue 14), against a real cluster
//! (`tests/common/cluster.rs`): real cluster clients (redis-py
//! `RedisCluster`, ioredis `Cluster`) give the same output direct, through
//! `resplay record --cluster` and against `resplay replay` with the cluster
//! gone, and never reach a real node; replicas read after READONLY; `resplay
//! run --cluster` hands the child every listener. Redirections are in
//! `tests/cluster_redirects.rs`, listener ports and errors in
//! `tests/cluster_listeners.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use resplay::resp::Value;

use common::cluster::{key_slot, node_cmd, text, RedisCluster};
use common::cluster_resplay::{cluster_listeners, listener_ports, stop_ok};
use common::raw::Raw;
use common::{cassette_lines, resplay_bin, Resplay};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- tools

/// Fails with the way to install a missing tool or client library.
fn require_python() {
    let ok = Command::new("python3")
        .args(["-c", "import redis.cluster"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 with redis-py (RedisCluster) is needed: `pip install redis` (.ci/run does)"
    );
}

fn require_ioredis() {
    assert!(
        repo()
            .join("tests/clients/node/node_modules/ioredis")
            .exists(),
        "ioredis is not installed: run `npm ci --prefix tests/clients/node` (.ci/run does)"
    );
}

// ---------------------------------------------------------------- programs

/// The redis-py program, RESP2 or RESP3.
fn python(protocol: u8) -> Vec<String> {
    require_python();
    let mut argv = vec!["python3", "tests/clients/cluster_app.py"];
    if protocol == 3 {
        argv.extend(["--protocol", "3"]);
    }
    argv.into_iter().map(String::from).collect()
}

/// The ioredis program.
fn node() -> Vec<String> {
    require_ioredis();
    ["node", "tests/clients/node/cluster_app.js"]
        .map(String::from)
        .to_vec()
}

/// Runs a client program with `extra` arguments (and `--hold` when `held`
/// is given: `held` is called with the program's pid once it has printed
/// everything, its connections still open). Returns its stdout, the `hold`
/// line left out. 90 s at most.
fn run_program(argv: &[String], extra: &[&str], held: Option<&dyn Fn(u32)>) -> String {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).args(extra).current_dir(repo());
    if held.is_some() {
        cmd.arg("--hold");
    }
    let mut child = cmd
        .env_remove("REDIS_URL")
        .env_remove("REDIS_CLUSTER_NODES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut out = Vec::new();
    let mut stdin = child.stdin.take();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line == "hold" => {
                if let Some(check) = held {
                    check(child.id());
                }
                stdin.take();
            }
            Ok(line) => out.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{argv:?} {extra:?} timed out; stdout {out:?}; stderr {}",
                    err.join().unwrap()
                );
            }
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    let err = err.join().unwrap();
    assert!(
        status.success(),
        "{argv:?} {extra:?}: {status}; stdout {out:?}; stderr {err}"
    );
    let text = out.join("\n") + "\n";
    assert!(
        text.contains("get 200 ok") && text.contains("done"),
        "{text}"
    );
    text
}

// ---------------------------------------------------------------- sockets

/// The established TCP connections process `pid` holds: (local port, remote
/// port), from its file descriptors and /proc/net/tcp{,6}.
fn tcp_connections(pid: u32) -> Vec<(u16, u16)> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(
                link.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_string(),
            )
        })
        .collect();
    let port = |field: &str| u16::from_str_radix(field.rsplit(':').next().unwrap(), 16).unwrap();
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // st 01 is ESTABLISHED.
            if f.len() > 9 && f[3] == "01" && inodes.contains(f[9]) {
                found.push((port(f[1]), port(f[2])));
            }
        }
    }
    found
}

/// The program (`pid`) is connected to resplay's listeners only, and the
/// real nodes see resplay's connections only.
fn assert_only_through_resplay(
    pid: u32,
    cluster: &RedisCluster,
    resplay_pid: u32,
    listeners: &[u16],
) {
    let real: BTreeSet<u16> = cluster.ports().into_iter().collect();
    let peers: Vec<u16> = tcp_connections(pid).iter().map(|&(_, r)| r).collect();
    let direct: Vec<u16> = peers.iter().copied().filter(|p| real.contains(p)).collect();
    assert!(
        direct.is_empty(),
        "the client is connected to real nodes {direct:?} (all its peers: {peers:?})"
    );
    assert!(
        peers.iter().any(|p| listeners.contains(p)),
        "the client holds no connection to resplay's listeners {listeners:?}: {peers:?}"
    );
    assert_nodes_serve_only(cluster, resplay_pid);
}

/// Every `CLIENT LIST` entry of every real node, but replication links and
/// the connection asking, comes from a socket of process `resplay_pid`.
fn assert_nodes_serve_only(cluster: &RedisCluster, resplay_pid: u32) {
    let real: BTreeSet<u16> = cluster.ports().into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let ours: HashSet<u16> = tcp_connections(resplay_pid)
            .into_iter()
            .filter(|(_, remote)| real.contains(remote))
            .map(|(local, _)| local)
            .collect();
        let mut foreign = Vec::new();
        let mut seen = 0;
        for &port in &real {
            let list = text(&node_cmd(port, &["CLIENT", "LIST"]).unwrap());
            for entry in list.lines() {
                let field = |name: &str| {
                    entry
                        .split(' ')
                        .find_map(|f| f.strip_prefix(name))
                        .unwrap_or_default()
                };
                let flags = field("flags=");
                if flags.contains('S') || flags.contains('M') || field("cmd=") == "client|list" {
                    continue;
                }
                let from: u16 = field("addr=").rsplit(':').next().unwrap().parse().unwrap();
                if ours.contains(&from) {
                    seen += 1;
                } else {
                    foreign.push(format!("{port}: {entry}"));
                }
            }
        }
        if foreign.is_empty() {
            assert!(seen > 0, "no upstream connection of resplay on any node");
            return;
        }
        // A connection of this test that closed a moment ago may linger.
        assert!(
            Instant::now() < deadline,
            "real nodes have clients that are not resplay's: {foreign:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------- cassette

/// The header's `cluster` key describes the real cluster: every node's id,
/// address and role, and the primaries' slots cover all 16384.
fn assert_header_topology(cassette: &Path, cluster: &RedisCluster) {
    let lines = cassette_lines(cassette);
    let header = &lines[0];
    let nodes = header["cluster"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no cluster.nodes in the header: {header}"));
    let mut addrs = BTreeSet::new();
    let mut covered = 0u32;
    let primaries: Vec<usize> = cluster.primaries();
    for node in nodes {
        let addr = node["addr"].as_str().unwrap_or_else(|| panic!("{node}"));
        let i = cluster.index_of(addr);
        addrs.insert(addr.to_string());
        assert_eq!(node["id"], cluster.id(i), "{node}");
        let role = if primaries.contains(&i) {
            "primary"
        } else {
            "replica"
        };
        assert_eq!(node["role"], role, "{node}");
        for range in node["slots"].as_array().into_iter().flatten() {
            let (a, b) = (range[0].as_u64().unwrap(), range[1].as_u64().unwrap());
            covered += (b - a + 1) as u32;
        }
    }
    let real: BTreeSet<String> = (0..cluster.nodes.len()).map(|i| cluster.addr(i)).collect();
    assert_eq!(addrs, real, "{header}");
    assert_eq!(covered, 16384, "{header}");
}

/// Every `open` event names a real node; returns conn → node.
fn open_nodes(cassette: &Path, cluster: &RedisCluster) -> BTreeMap<u64, String> {
    let mut nodes = BTreeMap::new();
    for line in cassette_lines(cassette) {
        if line["event"] == "open" {
            let node = line["node"]
                .as_str()
                .unwrap_or_else(|| panic!("open event without node: {line}"));
            cluster.index_of(node);
            nodes.insert(line["conn"].as_u64().unwrap(), node.to_string());
        }
    }
    nodes
}

/// The commands (first word, upper case) recorded on connections to `node`.
fn commands_on(cassette: &Path, opens: &BTreeMap<u64, String>, node: &str) -> Vec<String> {
    cassette_lines(cassette)
        .iter()
        .filter(|l| l.get("cmd").is_some())
        .filter(|l| {
            l["conn"]
                .as_u64()
                .and_then(|c| opens.get(&c))
                .map(String::as_str)
                == Some(node)
        })
        .map(|l| {
            l["cmd"][0]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase()
        })
        .collect()
}

// ---------------------------------------------------------------- resplay

/// The `resplay: node …` lines: real address → resplay port, and checks
/// that they name every node of the cluster with its role, and that the
/// `listening on` port is the seed node's listener.
fn listeners_of(resplay: &Resplay, cluster: &RedisCluster, seed: usize) -> BTreeMap<String, u16> {
    let lines = cluster_listeners(&resplay.log);
    let primaries = cluster.primaries();
    let real: BTreeSet<String> = (0..cluster.nodes.len()).map(|i| cluster.addr(i)).collect();
    assert_eq!(
        lines.keys().cloned().collect::<BTreeSet<_>>(),
        real,
        "{:?}",
        resplay.log
    );
    for (addr, listener) in &lines {
        let role = if primaries.contains(&cluster.index_of(addr)) {
            "primary"
        } else {
            "replica"
        };
        assert_eq!(listener.role, role, "{addr}: {:?}", resplay.log);
        assert!(
            !cluster.ports().contains(&listener.port),
            "{:?}",
            resplay.log
        );
    }
    assert_eq!(
        lines[&cluster.addr(seed)].port,
        resplay.port,
        "{:?}",
        resplay.log
    );
    lines.into_iter().map(|(a, l)| (a, l.port)).collect()
}

/// `record --cluster` from node 0, its node lines checked (`listeners_of`).
fn record_checked(cluster: &RedisCluster, cassette: &Path) -> (Resplay, BTreeMap<String, u16>) {
    let seed = format!("redis://{}", cluster.addr(0));
    let resplay = Resplay::record(&seed, cassette, &["--cluster"]);
    let listeners = listeners_of(&resplay, cluster, 0);
    (resplay, listeners)
}

/// The program direct, through `record --cluster` (checking that it never
/// reaches a real node), and against `replay` once the cluster is gone:
/// three equal outputs. Returns the cassette's dir and the cassette.
fn direct_record_replay(
    argv: &[String],
    extra: &[&str],
    replicas: usize,
) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let cluster = RedisCluster::start(3, replicas);
    let mut args: Vec<&str> = extra.to_vec();
    let url = format!("redis://{}", cluster.addr(0));
    args.extend(["--url", &url]);
    let direct = run_program(argv, &args, None);

    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("cluster.jsonl");
    let (recorder, listeners) = record_checked(&cluster, &cassette);
    let recorded_roles = cluster_listeners(&recorder.log);
    let ports: Vec<u16> = listeners.values().copied().collect();
    let url = recorder.url();
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["--url", &url]);
    let pid = recorder.pid();
    let check = |client: u32| assert_only_through_resplay(client, &cluster, pid, &ports);
    let recorded = run_program(argv, &args, Some(&check));
    stop_ok(recorder);
    assert_eq!(recorded, direct, "through record --cluster");
    assert_header_topology(&cassette, &cluster);
    let opens = open_nodes(&cassette, &cluster);
    let used: BTreeSet<&String> = opens.values().collect();
    for i in cluster.primaries() {
        assert!(
            used.contains(&cluster.addr(i)),
            "no connection to {}: {opens:?}",
            cluster.addr(i)
        );
    }
    drop(cluster);

    let replayer = Resplay::replay(&cassette, &[]);
    let roles = cluster_listeners(&replayer.log);
    assert_eq!(roles.len(), 3 * (1 + replicas), "{:?}", replayer.log);
    assert_eq!(
        roles
            .iter()
            .map(|(a, l)| (a.clone(), l.role.clone()))
            .collect::<Vec<_>>(),
        recorded_roles
            .iter()
            .map(|(a, l)| (a.clone(), l.role.clone()))
            .collect::<Vec<_>>()
    );
    let url = replayer.url();
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(["--url", &url]);
    let replayed = run_program(argv, &args, None);
    let log = stop_ok(replayer);
    assert_eq!(replayed, direct, "against replay; replay's log: {log:?}");
    (dir, cassette, direct)
}

// ---------------------------------------------------------------- tests

#[test]
fn harness_slots_and_migration() {
    let cluster = RedisCluster::start(3, 0);
    for key in ["foo", "{user:1}:a", "py:k:7", "a{}b", "{}x{y}"] {
        let theirs = cluster.cmd(0, &["CLUSTER", "KEYSLOT", key]);
        assert_eq!(theirs, redis::Value::Int(key_slot(key).into()), "{key}");
    }
    let slot = key_slot("foo");
    let from = cluster.owner_of(slot);
    let to = cluster
        .primaries()
        .into_iter()
        .find(|&i| i != from)
        .unwrap();
    cluster.cmd(from, &["SET", "foo", "1"]);
    cluster.migrate_slot(slot, from, to);
    assert_eq!(cluster.owner_of(slot), to);
    let err = node_cmd(cluster.nodes[from].port, &["GET", "foo"]).unwrap_err();
    assert!(err.to_string().contains(&cluster.addr(to)), "{err}");
    assert_eq!(text(&cluster.cmd(to, &["GET", "foo"])), "1");
}

#[test]
fn redis_py_resp2_direct_record_replay() {
    direct_record_replay(&python(2), &[], 0);
}

#[test]
fn redis_py_resp3_direct_record_replay() {
    direct_record_replay(&python(3), &[], 0);
}

#[test]
fn ioredis_direct_record_replay() {
    direct_record_replay(&node(), &[], 0);
}

/// READONLY connections to replicas (3 primaries, 3 replicas): the clients
/// read from replicas in both modes, and a raw client sees the replica's
/// answer after READONLY and a `-MOVED` to resplay's primary before it.
#[test]
fn replica_reads_after_readonly() {
    for argv in [python(2), node()] {
        let (_dir, cassette, out) = direct_record_replay(&argv, &["--replicas"], 1);
        assert!(out.contains("wait"), "{out}");
        // The topology says which recorded nodes were replicas.
        let header = &cassette_lines(&cassette)[0];
        let replicas: Vec<String> = header["cluster"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["role"] == "replica")
            .map(|n| n["addr"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(replicas.len(), 3, "{header}");
        let lines = cassette_lines(&cassette);
        let opens: BTreeMap<u64, String> = lines
            .iter()
            .filter(|l| l["event"] == "open")
            .map(|l| {
                (
                    l["conn"].as_u64().unwrap(),
                    l["node"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut read = 0;
        for replica in &replicas {
            let cmds = commands_on(&cassette, &opens, replica);
            if cmds.iter().any(|c| c == "GET" || c == "MGET") {
                assert!(
                    cmds.contains(&"READONLY".to_string()),
                    "{argv:?}: {replica}: {cmds:?}"
                );
                read += 1;
            }
        }
        assert!(read > 0, "{argv:?}: no read reached a replica: {opens:?}");
    }
}

#[test]
fn raw_readonly_on_a_replica_listener() {
    let cluster = RedisCluster::start(3, 1);
    let slot = key_slot("ro:key");
    let primary = cluster.owner_of(slot);
    let replica = cluster.replicas_of(primary)[0];
    cluster.cmd(primary, &["SET", "ro:key", "v"]);
    cluster.cmd(primary, &["WAIT", "1", "5000"]);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("ro.jsonl");
    let (recorder, listeners) = record_checked(&cluster, &cassette);
    let expect = |listeners: &BTreeMap<String, u16>| {
        let mut c = Raw::connect(listeners[&cluster.addr(replica)]);
        let moved = format!(
            "MOVED {slot} 127.0.0.1:{}",
            listeners[&cluster.addr(primary)]
        );
        assert_eq!(c.call(&["GET", "ro:key"]), Value::error(moved));
        assert_eq!(c.call(&["READONLY"]), Value::simple("OK"));
        assert_eq!(c.call(&["GET", "ro:key"]), Value::bulk("v"));
    };
    expect(&listeners);
    stop_ok(recorder);
    let addrs: Vec<String> = (0..cluster.nodes.len()).map(|i| cluster.addr(i)).collect();
    drop(cluster);
    let replayer = Resplay::replay(&cassette, &[]);
    let listeners = listener_ports(&replayer.log);
    assert_eq!(
        listeners.keys().collect::<BTreeSet<_>>(),
        addrs.iter().collect::<BTreeSet<_>>()
    );
    let mut c = Raw::connect(listeners[&addrs[replica]]);
    let moved = format!("MOVED {slot} 127.0.0.1:{}", listeners[&addrs[primary]]);
    assert_eq!(c.call(&["GET", "ro:key"]), Value::error(moved));
    assert_eq!(c.call(&["READONLY"]), Value::simple("OK"));
    assert_eq!(c.call(&["GET", "ro:key"]), Value::bulk("v"));
    stop_ok(replayer);
}

/// `$REDIS_URL $REDIS_CLUSTER_NODES` as the child saw them, checked against
/// resplay's node lines: every listener once, no real node, REDIS_URL the
/// seed's (node 0's). Returns the real nodes in the list's order.
fn cluster_env(env: &str, stderr: &str, real: &[String]) -> Vec<String> {
    let log: Vec<String> = stderr.lines().map(String::from).collect();
    let by_port: BTreeMap<u16, String> = listener_ports(&log)
        .into_iter()
        .map(|(addr, port)| (port, addr))
        .collect();
    let (url, nodes) = env
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("{env:?}"));
    let order: Vec<String> = nodes
        .split(',')
        .map(|n| {
            let port: u16 = n
                .strip_prefix("127.0.0.1:")
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("REDIS_CLUSTER_NODES {nodes}"));
            by_port
                .get(&port)
                .unwrap_or_else(|| panic!("{n} is not a listener: {env} {stderr}"))
                .clone()
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    let mut all = real.to_vec();
    all.sort();
    assert_eq!(sorted, all, "REDIS_CLUSTER_NODES {nodes}");
    let seed = url
        .strip_prefix("redis://")
        .unwrap_or_else(|| panic!("{env}"));
    let seed: u16 = seed.rsplit(':').next().unwrap().parse().unwrap();
    assert_eq!(
        by_port.get(&seed),
        Some(&real[0]),
        "REDIS_URL {url}: {stderr}"
    );
    order
}

/// `resplay run --cluster`: the child gets REDIS_URL (the seed's listener)
/// and REDIS_CLUSTER_NODES (every listener); the redis-py program started
/// from that list passes record, then replay of the same cassette.
#[test]
fn run_exports_the_cluster_nodes() {
    let argv = python(2);
    let cluster = RedisCluster::start(3, 0);
    let dir = tempfile::tempdir().unwrap();
    let cassette = dir.path().join("run.jsonl");
    let env_file = dir.path().join("env.txt");
    let script = format!(
        "echo \"$REDIS_URL $REDIS_CLUSTER_NODES\" > {}; exec {} {}",
        env_file.display(),
        argv[0],
        argv[1..].join(" ")
    );
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--cassette", cassette.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend(["--", "sh", "-c", &script]);
        let out = Command::new(resplay_bin())
            .args(&args)
            .current_dir(repo())
            .env_remove("REDIS_URL")
            .env_remove("REDIS_CLUSTER_NODES")
            .stdin(Stdio::null())
            .output()
            .expect("run resplay");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "resplay {args:?}: {stderr}");
        let env = std::fs::read_to_string(&env_file).unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            env,
            stderr,
        )
    };
    let upstream = format!("redis://{}", cluster.addr(0));
    let (recorded, env, stderr) = run(&["--cluster", "--upstream", &upstream]);
    assert!(recorded.contains("get 200 ok"), "{recorded}{stderr}");
    let real: Vec<String> = (0..3).map(|i| cluster.addr(i)).collect();
    let recorded_order = cluster_env(&env, &stderr, &real);
    assert_header_topology(&cassette, &cluster);
    let direct = run_program(&argv, &["--url", &upstream], None);
    assert_eq!(recorded, direct);
    drop(cluster);
    let (replayed, env, stderr) = run(&[]);
    // A program starting from the list's first node asks it for the slots:
    // replay must list the nodes in the order record did.
    let replayed_order = cluster_env(&env, &stderr, &real);
    assert_eq!(
        replayed_order, recorded_order,
        "REDIS_CLUSTER_NODES names the nodes in another order in replay ({env})"
    );
    assert_eq!(replayed, recorded, "{stderr}");
}
