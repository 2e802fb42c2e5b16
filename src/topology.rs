//! A Redis Cluster's nodes as the recorder found them: read from `CLUSTER
//! NODES` on the node the upstream URL names, and kept in the cassette
//! header (`"cluster"`) so that replay serves the same topology.

use serde::{Deserialize, Serialize};

/// What a node does in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serves slots (Redis's `master` flag).
    Primary,
    /// Copies a primary (`slave`); serves reads after `READONLY`.
    Replica,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
        })
    }
}

/// One node of the recorded cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// The node's 40-character id.
    pub id: String,
    /// `host:port` as the cluster announces it to clients (what `CLUSTER
    /// SLOTS` and `-MOVED` name); the key connection events use.
    pub addr: String,
    /// Primary or replica.
    pub role: Role,
    /// A replica's primary (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// A primary's slot ranges, both ends included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slots: Vec<[u16; 2]>,
    /// The hostname the node announces (`cluster-announce-hostname`), when
    /// it does: with `cluster-preferred-endpoint-type hostname`, `CLUSTER
    /// SLOTS` and `-MOVED` name the node as `hostname:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

impl Node {
    /// Every `host:port` the cluster may name this node by: its address,
    /// and its hostname with the same port.
    pub fn names(&self) -> Vec<String> {
        let mut names = vec![self.addr.clone()];
        if let (Some(hostname), Some((_, port))) = (&self.hostname, self.addr.rsplit_once(':')) {
            names.push(format!("{hostname}:{port}"));
        }
        names
    }
}

/// The header's `"cluster"` key: `{"nodes":[…]}`, primaries first (by
/// their first slot), then replicas (by their primary's place).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Every node, in the order listeners are given out.
    pub nodes: Vec<Node>,
    /// The address of the node that answered `CLUSTER NODES` (flagged
    /// `myself`): the one the upstream URL names. Not in the cassette.
    #[serde(skip)]
    pub myself: Option<String>,
}

impl Topology {
    /// Reads `CLUSTER NODES` text: `<id> <ip:port@cport[,hostname]> <flags>
    /// <primary> <ping> <pong> <epoch> <link> <slot>…`. Nodes still in a
    /// handshake or without an address are left out.
    pub fn parse_nodes(text: &str) -> Result<Topology, String> {
        let mut nodes = Vec::new();
        let mut myself = None;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return Err(format!("a line with {} fields: {line:?}", fields.len()));
            }
            let flags: Vec<&str> = fields[2].split(',').collect();
            if flags.contains(&"handshake") || flags.contains(&"noaddr") {
                continue;
            }
            let addr =
                announced_addr(fields[1]).ok_or_else(|| format!("bad address in {line:?}"))?;
            if flags.contains(&"myself") {
                myself = Some(addr.clone());
            }
            let role = if flags.contains(&"slave") {
                Role::Replica
            } else {
                Role::Primary
            };
            let primary =
                (role == Role::Replica && fields[3] != "-").then(|| fields[3].to_string());
            let mut slots = Vec::new();
            // `[slot->-id]` and `[slot-<-id]` are migrations, not ownership.
            for range in fields[8..].iter().filter(|r| !r.starts_with('[')) {
                let (start, end) = range.split_once('-').unwrap_or((range, range));
                let parse = |s: &str| {
                    s.parse::<u16>()
                        .map_err(|_| format!("bad slot range {range:?}"))
                };
                slots.push([parse(start)?, parse(end)?]);
            }
            slots.sort_unstable();
            let hostname = fields[1]
                .split_once(',')
                .map(|(_, h)| h.to_string())
                .filter(|h| !h.is_empty());
            nodes.push(Node {
                id: fields[0].to_string(),
                addr,
                role,
                primary,
                slots,
                hostname,
            });
        }
        let mut topology = Topology::ordered(nodes);
        topology.myself = myself;
        Ok(topology)
    }

    /// Primaries by first slot (slotless ones last, by address), then
    /// replicas after their primaries, so a re-recording gives the same
    /// order and the same listener ports.
    fn ordered(nodes: Vec<Node>) -> Topology {
        let (mut primaries, mut replicas): (Vec<Node>, Vec<Node>) =
            nodes.into_iter().partition(|n| n.role == Role::Primary);
        primaries.sort_by(|a, b| {
            let first = |n: &Node| n.slots.first().map_or(u32::MAX, |r| u32::from(r[0]));
            (first(a), &a.addr).cmp(&(first(b), &b.addr))
        });
        let place = |r: &Node| {
            primaries
                .iter()
                .position(|p| Some(&p.id) == r.primary.as_ref())
                .unwrap_or(usize::MAX)
        };
        replicas.sort_by(|a, b| (place(a), &a.addr).cmp(&(place(b), &b.addr)));
        primaries.extend(replicas);
        Topology {
            nodes: primaries,
            myself: None,
        }
    }

    /// The node announced at `addr`.
    pub fn node(&self, addr: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.addr == addr)
    }
}

/// `ip:port@cport[,hostname]` → `ip:port`.
fn announced_addr(field: &str) -> Option<String> {
    let addr = field.split(['@', ',']).next()?;
    let (host, port) = addr.rsplit_once(':')?;
    port.parse::<u16>().ok().filter(|p| *p != 0)?;
    (!host.is_empty()).then(|| addr.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@40001,host-a myself,master - 0 1426238316232 1 connected 0-5460
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@40004 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922 [5461->-292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f]
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@40003 master - 0 1426238318243 3 connected 10923-16383 100
6ec23923021cf3ffec47632106199cb7f496ce01 :0@0 master,noaddr - 0 0 0 disconnected
";

    #[test]
    fn reads_cluster_nodes() {
        let t = Topology::parse_nodes(NODES).unwrap();
        let addrs: Vec<&str> = t.nodes.iter().map(|n| n.addr.as_str()).collect();
        // Primaries by first slot (100 sorts 30003 before 30002), then the
        // replica; the node with no address is left out.
        assert_eq!(
            addrs,
            [
                "127.0.0.1:30001",
                "127.0.0.1:30003",
                "127.0.0.1:30002",
                "127.0.0.1:30004"
            ]
        );
        assert_eq!(t.myself.as_deref(), Some("127.0.0.1:30001"));
        assert_eq!(t.nodes[0].hostname.as_deref(), Some("host-a"));
        assert_eq!(t.nodes[0].names(), ["127.0.0.1:30001", "host-a:30001"]);
        assert_eq!(t.nodes[1].names(), ["127.0.0.1:30003"]);
        assert_eq!(t.nodes[0].slots, vec![[0, 5460]]);
        assert_eq!(t.nodes[1].slots, vec![[100, 100], [10923, 16383]]);
        assert_eq!(t.nodes[2].slots, vec![[5461, 10922]]);
        assert_eq!(t.nodes[3].role, Role::Replica);
        assert_eq!(
            t.nodes[3].primary.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
    }

    #[test]
    fn header_text() {
        let t = Topology::parse_nodes(NODES).unwrap();
        let text = serde_json::to_string(&t.nodes[3]).unwrap();
        assert_eq!(
            text,
            r#"{"id":"07c37dfeb235213a872192d90877d0cd55635b91","addr":"127.0.0.1:30004","role":"replica","primary":"e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca"}"#
        );
        let back: Topology = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back.nodes, t.nodes);
        assert!(serde_json::from_str::<Topology>(r#"{"nodes":[],"x":1}"#).is_err());
    }

    #[test]
    fn bad_lines_are_named() {
        assert!(Topology::parse_nodes("abc 127.0.0.1:1@2 master")
            .unwrap_err()
            .contains("3 fields"));
        assert!(
            Topology::parse_nodes("a 127.0.0.1:1@2 master - 0 0 1 connected x-y")
                .unwrap_err()
                .contains("bad slot range")
        );
    }
}
