//! Conforming a cluster cassette against a target cluster (`--cluster`).
//!
//! A cluster recording holds, per connection, the node it talked to, and
//! in its header the recorded cluster's nodes with their slots. Each
//! recorded node is matched to the target node that serves the same
//! slots: a primary to the target primary that owns its first slot, a
//! replica to a replica of that primary (the same place among its
//! replicas), or to the primary itself when the target has none. Each
//! connection then talks to its node's match, so its commands reach the
//! node that owns their keys, as they did in the recording. Replies that
//! name a node (`-MOVED 3999 127.0.0.1:7001`, `CLUSTER SLOTS`) are
//! compared with the recorded names replaced by their matches.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

use super::ConformError;
use crate::resp::Value;
use crate::topology::{Role, Topology};
use crate::upstream::{self, Transport, Upstream};

/// The recorded cluster's nodes matched to the target's.
#[derive(Debug, Clone)]
pub struct NodeMap {
    /// Recorded node address → the target node to connect to.
    targets: HashMap<String, Upstream>,
    /// Recorded address → target address, for replies that name nodes.
    names: Vec<(Bytes, Bytes)>,
    /// The target's primaries (where data lives: emptiness and `--flush`).
    pub primaries: Vec<Upstream>,
    /// Where connections with no recorded node went (the recording's seed).
    seed: Option<String>,
}

/// `target` with another address (credentials, TLS and database kept).
fn at(target: &Upstream, addr: &str) -> Upstream {
    let mut node = target.clone();
    node.addr = addr.to_string();
    node.transport = Transport::Tcp(addr.to_string());
    node
}

impl NodeMap {
    /// Reads the target's topology (`CLUSTER NODES` on the seed `target`)
    /// and matches the recorded nodes to it.
    pub async fn discover(
        recorded: &Topology,
        seed: Option<&str>,
        target: &Upstream,
    ) -> Result<NodeMap, ConformError> {
        let mut stream = target.connect().await?;
        let reply = upstream::ask(&mut stream, &["CLUSTER", "NODES"])
            .await
            .map_err(|e| ConformError::Target {
                command: "CLUSTER NODES",
                reason: e.to_string(),
            })?;
        let text = reply
            .as_bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .ok_or_else(|| ConformError::Refused(format!(
                "{} is not a cluster node (CLUSTER NODES answered {reply:?}); --cluster needs a node of the target cluster",
                target.addr
            )))?;
        let live = Topology::parse_nodes(&text).map_err(|reason| ConformError::Target {
            command: "CLUSTER NODES",
            reason,
        })?;
        NodeMap::matching(recorded, &live, seed, target)
    }

    /// Matches recorded nodes to live ones by slot (see the module doc).
    pub fn matching(
        recorded: &Topology,
        live: &Topology,
        seed: Option<&str>,
        target: &Upstream,
    ) -> Result<NodeMap, ConformError> {
        let owner = |slot: u16| {
            live.nodes.iter().find(|n| {
                n.role == Role::Primary && n.slots.iter().any(|[a, b]| (*a..=*b).contains(&slot))
            })
        };
        let mut by_id: HashMap<&str, &str> = HashMap::new();
        let mut map = NodeMap {
            targets: HashMap::new(),
            names: Vec::new(),
            primaries: live
                .nodes
                .iter()
                .filter(|n| n.role == Role::Primary && !n.slots.is_empty())
                .map(|n| at(target, &n.addr))
                .collect(),
            seed: seed.map(str::to_string),
        };
        for node in recorded.nodes.iter().filter(|n| n.role == Role::Primary) {
            let Some(first) = node.slots.first().map(|r| r[0]) else {
                continue;
            };
            let live_node = owner(first).ok_or_else(|| {
                ConformError::Refused(format!(
                    "no node of the target cluster serves slot {first} (the recorded {}'s first)",
                    node.addr
                ))
            })?;
            by_id.insert(&node.id, &live_node.id);
            map.add(target, node.names(), &live_node.addr);
        }
        for node in recorded.nodes.iter().filter(|n| n.role == Role::Replica) {
            let Some(live_primary) = node.primary.as_deref().and_then(|p| by_id.get(p)) else {
                continue;
            };
            let place = recorded
                .nodes
                .iter()
                .filter(|n| n.role == Role::Replica && n.primary == node.primary)
                .position(|n| n.id == node.id)
                .unwrap_or(0);
            let replicas: Vec<&str> = live
                .nodes
                .iter()
                .filter(|n| n.role == Role::Replica && n.primary.as_deref() == Some(live_primary))
                .map(|n| n.addr.as_str())
                .collect();
            let primary_addr = live
                .nodes
                .iter()
                .find(|n| n.id == *live_primary)
                .map(|n| n.addr.as_str());
            if let Some(addr) = replicas.get(place).copied().or(primary_addr) {
                map.add(target, node.names(), addr);
            }
        }
        Ok(map)
    }

    fn add(&mut self, target: &Upstream, names: Vec<String>, live: &str) {
        for name in names {
            self.targets.insert(name.clone(), at(target, live));
            self.names
                .push((Bytes::from(name), Bytes::copy_from_slice(live.as_bytes())));
        }
    }

    /// The node a recorded connection that talked to `node` (`None`: the
    /// recording's seed) connects to.
    pub fn for_conn(&self, node: Option<&str>) -> Option<&Upstream> {
        self.targets.get(node.or(self.seed.as_deref())?)
    }

    /// A recorded reply with the recorded node names replaced by their
    /// matches.
    pub fn rename(&self, value: &Value) -> Value {
        let text = |b: &Bytes| -> Bytes {
            let mut out = b.clone();
            for (from, to) in &self.names {
                if let Some(at) = find(&out, from) {
                    let mut replaced = BytesMut::with_capacity(out.len());
                    replaced.extend_from_slice(&out[..at]);
                    replaced.extend_from_slice(to);
                    replaced.extend_from_slice(&out[at + from.len()..]);
                    out = replaced.freeze();
                }
            }
            out
        };
        let port = |v: &Value| self.rename(v);
        match value {
            Value::Bulk(b) => Value::Bulk(text(b)),
            Value::Simple(b) => Value::Simple(text(b)),
            Value::Error(b) => Value::Error(text(b)),
            Value::Verbatim(b) => Value::Verbatim(text(b)),
            Value::Array(items) => Value::Array(items.iter().map(port).collect()),
            Value::Set(items) => Value::Set(items.iter().map(port).collect()),
            Value::Map(pairs) => {
                Value::Map(pairs.iter().map(|(k, v)| (port(k), port(v))).collect())
            }
            other => other.clone(),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topology(text: &str) -> Topology {
        Topology::parse_nodes(text).unwrap()
    }

    #[test]
    fn recorded_nodes_match_the_target_nodes_serving_their_slots() {
        let recorded = topology(
            "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-8191\n\
             b1 127.0.0.1:7001@17001 master - 0 0 2 connected 8192-16383\n\
             c1 127.0.0.1:7002@17002 slave a1 0 0 1 connected\n",
        );
        let live = topology(
            "x9 127.0.0.1:9001@19001 master - 0 0 2 connected 8192-16383\n\
             y9 127.0.0.1:9000@19000 myself,master - 0 0 1 connected 0-8191\n",
        );
        let target = Upstream::parse("redis://127.0.0.1:9000").unwrap();
        let map = NodeMap::matching(&recorded, &live, Some("127.0.0.1:7000"), &target).unwrap();
        assert_eq!(
            map.for_conn(Some("127.0.0.1:7001")).unwrap().addr,
            "127.0.0.1:9001"
        );
        assert_eq!(map.for_conn(None).unwrap().addr, "127.0.0.1:9000");
        // No replica on the target: the replica's primary stands in.
        assert_eq!(
            map.for_conn(Some("127.0.0.1:7002")).unwrap().addr,
            "127.0.0.1:9000"
        );
        let moved = Value::Error(Bytes::from_static(b"MOVED 9000 127.0.0.1:7001"));
        assert_eq!(
            map.rename(&moved),
            Value::Error(Bytes::from_static(b"MOVED 9000 127.0.0.1:9001"))
        );
        assert_eq!(map.primaries.len(), 2);
    }
}
