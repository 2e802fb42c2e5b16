//! A real Redis Cluster for the tests: `redis-server --cluster-enabled yes`
//! nodes on free loopback ports, joined by `redis-cli --cluster create`, with
//! the moves a test needs (a node killed, a slot migrated whole or half way
//! to provoke `-ASK`), and a reader for resplay's `resplay: node …` lines.

use std::collections::{BTreeSet, HashSet};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::wait_for_ping;

/// The number of hash slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// One `redis-server --cluster-enabled yes`, in a temp dir of its own.
pub struct ClusterNode {
    /// The client port; the cluster bus is `port + 10000`.
    pub port: u16,
    /// `None` once killed.
    child: Option<Child>,
    /// Holds `nodes.conf`; removed with the node.
    _dir: tempfile::TempDir,
}

impl ClusterNode {
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// A running cluster, killed on drop. `nodes` keeps the order the nodes
/// were given to `redis-cli --cluster create`: the first `primaries` were
/// made primaries by it, the others replicas.
pub struct RedisCluster {
    pub nodes: Vec<ClusterNode>,
    /// Extra `redis-server` arguments of every node (`start_with`).
    extra: Vec<String>,
}

/// A loopback port ≤ 55535, free, whose cluster bus port (+10000) is free
/// too, and neither of them in `taken` (ports and bus ports of the nodes
/// chosen before).
fn free_cluster_port(taken: &HashSet<u16>) -> u16 {
    for _ in 0..1000 {
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(port) = listener.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port > 55535 || taken.contains(&port) || taken.contains(&(port + 10000)) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair (P, P+10000) on loopback");
}

/// `redis-server` on `port` in cluster mode; `None` if it did not answer
/// PING (most likely one of its two ports was taken in between).
fn start_node(port: u16, extra: &[String]) -> Option<ClusterNode> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", "nodes.conf"])
        // A killed node is failed in 5 s, not 15; the others keep serving
        // their slots meanwhile (no full coverage needed).
        .args(["--cluster-node-timeout", "5000"])
        .args(["--cluster-require-full-coverage", "no"])
        // CLUSTER SLOTS leaves out a replica until gossip reports a nonzero
        // replication offset for it: with the default 10 s between pings
        // of the replication stream, a fresh cluster would hide its
        // replicas for that long.
        .args(["--repl-ping-replica-period", "1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (.ci/run installs it)");
    if wait_for_ping(port, Duration::from_secs(5)) {
        Some(ClusterNode {
            port,
            child: Some(child),
            _dir: dir,
        })
    } else {
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

/// One command to the node on `port`, on a fresh connection.
pub fn node_cmd(port: u16, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(5))?;
    con.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(&mut con)
}

/// A reply as text: a bulk or simple string, or `Debug` of anything else.
pub fn text(value: &redis::Value) -> String {
    match value {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::VerbatimString { text, .. } => text.clone(),
        redis::Value::Okay => "OK".to_string(),
        other => format!("{other:?}"),
    }
}

/// A line of `CLUSTER NODES`.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub id: String,
    /// `127.0.0.1:30001` (the `@bus` part dropped).
    pub addr: String,
    pub primary: bool,
    /// The primary's id, for a replica.
    pub primary_id: Option<String>,
    pub myself: bool,
    pub failed: bool,
    /// Slot ranges, inclusive (importing/migrating markers left out).
    pub slots: Vec<(u16, u16)>,
}

/// Parses `CLUSTER NODES` text.
pub fn parse_nodes(text: &str) -> Vec<NodeInfo> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let addr = f[1].split('@').next().unwrap().to_string();
            let flags: Vec<&str> = f[2].split(',').collect();
            let slots = f[8..]
                .iter()
                .filter(|s| !s.starts_with('['))
                .map(|s| match s.split_once('-') {
                    Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                    None => (s.parse().unwrap(), s.parse().unwrap()),
                })
                .collect();
            NodeInfo {
                id: f[0].to_string(),
                addr,
                primary: flags.contains(&"master"),
                primary_id: (f[3] != "-").then(|| f[3].to_string()),
                myself: flags.contains(&"myself"),
                failed: flags.iter().any(|f| f.starts_with("fail")),
                slots,
            }
        })
        .collect()
}

impl RedisCluster {
    /// `primaries` primaries with `replicas_per_primary` replicas each, the
    /// slots spread evenly by `redis-cli --cluster create`; returns once
    /// every node says `cluster_state:ok`, knows every node, agrees on
    /// `CLUSTER SLOTS`, and every replica's link to its primary is up.
    pub fn start(primaries: usize, replicas_per_primary: usize) -> RedisCluster {
        Self::start_with(primaries, replicas_per_primary, &[])
    }

    /// `start` with extra `redis-server` arguments for every node (e.g.
    /// `--cluster-announce-hostname`).
    pub fn start_with(
        primaries: usize,
        replicas_per_primary: usize,
        extra: &[&str],
    ) -> RedisCluster {
        let extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        assert!(
            primaries >= 3,
            "redis-cli --cluster create needs 3 primaries"
        );
        let total = primaries * (1 + replicas_per_primary);
        let mut taken = HashSet::new();
        let mut nodes = Vec::new();
        let mut attempts = 0;
        while nodes.len() < total {
            attempts += 1;
            assert!(attempts < total + 20, "cluster nodes did not start");
            let port = free_cluster_port(&taken);
            taken.insert(port);
            taken.insert(port + 10000);
            if let Some(node) = start_node(port, &extra) {
                nodes.push(node);
            }
        }
        let cluster = RedisCluster { nodes, extra };
        let addrs: Vec<String> = cluster.nodes.iter().map(ClusterNode::addr).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas_per_primary.to_string()])
            .arg("--cluster-yes")
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli must be installed (.ci/run installs redis-tools)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.wait_settled(Duration::from_secs(60));
        cluster
    }

    /// The client ports, in node order.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// `127.0.0.1:PORT` of node `i`.
    pub fn addr(&self, i: usize) -> String {
        self.nodes[i].addr()
    }

    /// The index of the node with this address.
    pub fn index_of(&self, addr: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.addr() == addr)
            .unwrap_or_else(|| panic!("no node {addr}"))
    }

    /// One command to node `i`; panics on an error reply.
    pub fn cmd(&self, i: usize, args: &[&str]) -> redis::Value {
        node_cmd(self.nodes[i].port, args)
            .unwrap_or_else(|e| panic!("{args:?} on {}: {e}", self.addr(i)))
    }

    /// `CLUSTER NODES` as node `i` sees it.
    pub fn topology(&self, i: usize) -> Vec<NodeInfo> {
        parse_nodes(&text(&self.cmd(i, &["CLUSTER", "NODES"])))
    }

    /// The node id of node `i`.
    pub fn id(&self, i: usize) -> String {
        text(&self.cmd(i, &["CLUSTER", "MYID"]))
    }

    /// Indexes of the nodes that are primaries now (as the first live node
    /// sees it), in node order.
    pub fn primaries(&self) -> Vec<usize> {
        let seer = self.live().next().expect("a live node");
        let topo = self.topology(seer);
        (0..self.nodes.len())
            .filter(|&i| {
                topo.iter()
                    .any(|n| n.addr == self.addr(i) && n.primary && !n.failed)
            })
            .collect()
    }

    /// Indexes of the nodes that are replicas now, in node order.
    pub fn replicas(&self) -> Vec<usize> {
        let seer = self.live().next().expect("a live node");
        let topo = self.topology(seer);
        (0..self.nodes.len())
            .filter(|&i| {
                topo.iter()
                    .any(|n| n.addr == self.addr(i) && !n.primary && !n.failed)
            })
            .collect()
    }

    /// The primary serving `slot` (as the first live node sees it).
    pub fn owner_of(&self, slot: u16) -> usize {
        let seer = self.live().next().expect("a live node");
        let topo = self.topology(seer);
        let owner = topo
            .iter()
            .find(|n| n.primary && n.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
            .unwrap_or_else(|| panic!("no owner of slot {slot}"));
        self.index_of(&owner.addr)
    }

    /// A key `PREFIX:N` whose slot primary `i` serves.
    pub fn key_on(&self, i: usize, prefix: &str) -> String {
        let topo = self.topology(i);
        let me = topo.iter().find(|n| n.myself).expect("myself");
        (0u32..)
            .map(|n| format!("{prefix}:{n}"))
            .find(|k| {
                let slot = key_slot(k);
                me.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
            })
            .unwrap()
    }

    /// The replicas of primary `i`.
    pub fn replicas_of(&self, i: usize) -> Vec<usize> {
        let id = self.id(i);
        let topo = self.topology(i);
        topo.iter()
            .filter(|n| n.primary_id.as_deref() == Some(id.as_str()))
            .map(|n| self.index_of(&n.addr))
            .collect()
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| self.nodes[i].child.is_some())
    }

    /// Waits until every live node is `cluster_state:ok`, knows all nodes,
    /// has the same `CLUSTER SLOTS`, and every live replica's link is up.
    pub fn wait_settled(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let Err(why) = self.settled() else {
                return;
            };
            assert!(Instant::now() < deadline, "cluster did not settle: {why}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn settled(&self) -> Result<(), String> {
        let mut slots = BTreeSet::new();
        for i in self.live() {
            let port = self.nodes[i].port;
            let q = |args: &[&str]| node_cmd(port, args).map_err(|e| format!("{port}: {e}"));
            let info = text(&q(&["CLUSTER", "INFO"])?);
            if !info.contains("cluster_state:ok") {
                return Err(format!("{port} not ok"));
            }
            let nodes = parse_nodes(&text(&q(&["CLUSTER", "NODES"])?));
            if nodes.len() != self.nodes.len() {
                return Err(format!("{port} knows {} nodes", nodes.len()));
            }
            if nodes.iter().any(|n| n.addr.ends_with(":0")) {
                return Err(format!("{port} has a node without address yet"));
            }
            let reply = q(&["CLUSTER", "SLOTS"])?;
            let listed = slot_nodes(&reply);
            // Every live node but a primary without slots.
            let expected = nodes
                .iter()
                .filter(|n| !n.failed && (!n.primary || !n.slots.is_empty()))
                .count();
            if listed != expected {
                return Err(format!(
                    "{port}: CLUSTER SLOTS lists {listed} nodes, not {expected}"
                ));
            }
            slots.insert(format!("{reply:?}"));
            let me = nodes.iter().find(|n| n.myself).ok_or("no myself")?;
            if !me.primary {
                let repl = text(&q(&["INFO", "replication"])?);
                if !repl.contains("master_link_status:up") {
                    return Err(format!("{port}: replica link down"));
                }
            }
        }
        if slots.len() != 1 {
            return Err(format!("nodes disagree on CLUSTER SLOTS: {slots:?}"));
        }
        Ok(())
    }

    /// Starts one more node, empty, and has the cluster meet it: a primary
    /// without slots (give it some with `migrate_slot`). Returns its index.
    pub fn add_node(&mut self) -> usize {
        let mut taken: HashSet<u16> = HashSet::new();
        for n in &self.nodes {
            taken.insert(n.port);
            taken.insert(n.port + 10000);
        }
        let node = loop {
            let port = free_cluster_port(&taken);
            taken.insert(port);
            if let Some(node) = start_node(port, &self.extra) {
                break node;
            }
        };
        let port = node.port.to_string();
        self.nodes.push(node);
        let seer = self.live().next().expect("a live node");
        self.ok(seer, &["CLUSTER", "MEET", "127.0.0.1", &port]);
        self.wait_settled(Duration::from_secs(30));
        self.nodes.len() - 1
    }

    /// Kills node `i` at once (SIGKILL).
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the migration of `slot` from node `from` to node `to`
    /// (IMPORTING on `to`, MIGRATING on `from`) and moves only `keys` (which
    /// must be in that slot): a command on a moved key sent to `from` gets
    /// `-ASK slot to`, one on a key still there is served by `from`.
    pub fn migrate_slot_half(&self, slot: u16, from: usize, to: usize, keys: &[&str]) {
        let (from_id, to_id) = (self.id(from), self.id(to));
        let s = slot.to_string();
        self.ok(to, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &from_id]);
        self.ok(from, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &to_id]);
        if !keys.is_empty() {
            self.migrate_keys(from, to, keys);
        }
    }

    /// Moves the keys still in `slot` on `from` and gives the slot to `to`
    /// on every primary (target first, as the Redis manual orders it): after
    /// this `from` answers `-MOVED slot to`. Ends a `migrate_slot_half`.
    pub fn finish_migration(&self, slot: u16, from: usize, to: usize) {
        let s = slot.to_string();
        loop {
            let keys = match self.cmd(from, &["CLUSTER", "GETKEYSINSLOT", &s, "100"]) {
                redis::Value::Array(keys) => keys.iter().map(text).collect::<Vec<_>>(),
                other => panic!("GETKEYSINSLOT: {other:?}"),
            };
            if keys.is_empty() {
                break;
            }
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            self.migrate_keys(from, to, &keys);
        }
        let to_id = self.id(to);
        // Replicas refuse SETSLOT; they learn the move from their primary.
        let mut order = vec![to, from];
        order.extend(
            self.primaries()
                .into_iter()
                .filter(|&i| i != to && i != from),
        );
        for i in order {
            self.ok(i, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]);
        }
        self.wait_settled(Duration::from_secs(30));
    }

    /// The whole migration of `slot` from `from` to `to`, keys included.
    pub fn migrate_slot(&self, slot: u16, from: usize, to: usize) {
        self.migrate_slot_half(slot, from, to, &[]);
        self.finish_migration(slot, from, to);
    }

    /// `MIGRATE 127.0.0.1 PORT "" 0 5000 KEYS k…` from `from` to `to`.
    fn migrate_keys(&self, from: usize, to: usize, keys: &[&str]) {
        let port = self.nodes[to].port.to_string();
        let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        args.extend_from_slice(keys);
        let reply = self.cmd(from, &args);
        assert!(
            matches!(reply, redis::Value::Okay) || text(&reply) == "OK",
            "MIGRATE {keys:?}: {reply:?}"
        );
    }

    fn ok(&self, i: usize, args: &[&str]) {
        let reply = self.cmd(i, args);
        assert!(
            matches!(reply, redis::Value::Okay) || text(&reply) == "OK",
            "{args:?} on {}: {reply:?}",
            self.addr(i)
        );
    }
}

/// The distinct nodes (ids) a `CLUSTER SLOTS` reply names.
fn slot_nodes(reply: &redis::Value) -> usize {
    let mut ids = HashSet::new();
    if let redis::Value::Array(ranges) = reply {
        for range in ranges {
            if let redis::Value::Array(items) = range {
                for node in items.iter().skip(2) {
                    if let redis::Value::Array(fields) = node {
                        ids.insert(fields.get(2).map(text));
                    }
                }
            }
        }
    }
    ids.len()
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill_node(i);
        }
    }
}

/// CRC16-CCITT (XMODEM), the hash of Redis Cluster's key slots.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The slot of a key, hash tags (`{…}`) honoured.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    crc16(hashed) % SLOTS
}

/// `n` keys `PREFIX:N` that all hash to `slot` (found by search, no tags).
pub fn keys_in_slot(prefix: &str, slot: u16, n: usize) -> Vec<String> {
    (0u64..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| key_slot(k) == slot)
        .take(n)
        .collect()
}
