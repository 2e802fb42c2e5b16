//! resplay in front of a `RedisCluster` (`cluster.rs`): `record --cluster`
//! and `replay` started and stopped, and its `resplay: node <real addr>
//! <role> listening on <addr>` lines read.

use std::collections::BTreeMap;
use std::path::Path;

use resplay::resp::Value;

use super::cluster::RedisCluster;
use super::Resplay;

/// One `resplay: node ADDR ROLE listening on LISTEN` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// `primary` or `replica`.
    pub role: String,
    /// resplay's listener for that node.
    pub port: u16,
}

/// The `resplay: node <real addr> <role> listening on <addr>` lines of a
/// resplay log: real node address → (role, resplay port). A node seen twice
/// (a later line after a failover) keeps its last line.
pub fn cluster_listeners(log: &[String]) -> BTreeMap<String, Listener> {
    log.iter()
        .filter_map(|l| parse_node_line(l))
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

/// The `resplay: node …` lines as real address → resplay port.
pub fn listener_ports(log: &[String]) -> BTreeMap<String, u16> {
    cluster_listeners(log)
        .into_iter()
        .map(|(addr, l)| (addr, l.port))
        .collect()
}

/// Parses one `resplay: node …` line.
pub fn parse_node_line(line: &str) -> Option<(String, Listener)> {
    let rest = line.strip_prefix("resplay: node ")?;
    let (node, rest) = rest.split_once(' ')?;
    let (role, rest) = rest.split_once(' ')?;
    let listen = rest.strip_prefix("listening on ")?;
    let port = listen.rsplit(':').next()?.trim().parse().ok()?;
    Some((
        node.to_string(),
        Listener {
            role: role.to_string(),
            port,
        },
    ))
}

pub fn stop_ok(resplay: Resplay) -> Vec<String> {
    let (code, log) = resplay.stop();
    assert_eq!(code, 0, "{log:?}");
    log
}

/// `resplay record --cluster`, the upstream URL naming node 0; with its
/// listeners (real address → port).
pub fn record_cluster(cluster: &RedisCluster, cassette: &Path) -> (Resplay, BTreeMap<String, u16>) {
    let resplay = Resplay::record(
        &format!("redis://{}", cluster.addr(0)),
        cassette,
        &["--cluster"],
    );
    let listeners = listener_ports(&resplay.log);
    assert_eq!(listeners.len(), cluster.nodes.len(), "{:?}", resplay.log);
    (resplay, listeners)
}

pub fn replay_cluster(cassette: &Path, nodes: usize) -> (Resplay, BTreeMap<String, u16>) {
    let resplay = Resplay::replay(cassette, &[]);
    let listeners = listener_ports(&resplay.log);
    assert_eq!(listeners.len(), nodes, "{:?}", resplay.log);
    (resplay, listeners)
}

pub fn error_text(v: &Value) -> String {
    match v {
        Value::Error(e) | Value::BulkError(e) => String::from_utf8_lossy(e).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

pub fn as_text(v: &Value) -> String {
    String::from_utf8_lossy(
        v.as_bytes()
            .unwrap_or_else(|| panic!("not a string: {v:?}")),
    )
    .into_owned()
}

/// The `resplay: node` lines of a log: (real address, resplay port), in
/// order.
pub fn node_lines(log: &[String]) -> Vec<(String, u16)> {
    log.iter()
        .filter_map(|l| parse_node_line(l))
        .map(|(addr, l)| (addr, l.port))
        .collect()
}
