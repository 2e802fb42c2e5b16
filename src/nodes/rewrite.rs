//! Node addresses in replies, replaced by resplay's own: a cluster client
//! learns where nodes are from `CLUSTER SLOTS|SHARDS|NODES|REPLICAS` and
//! from `-MOVED`/`-ASK` redirections, and would go around resplay to the
//! real nodes if it saw their addresses.
//!
//! The cassette keeps the addresses as the cluster announced them; the
//! recorder rewrites what it relays, and replay rewrites what it loads,
//! each to its own listeners.

use std::net::SocketAddr;

use bytes::Bytes;

use crate::resp::Value;

/// Finds (or makes) the listener for a node address as the cluster
/// announced it (`host:port`); `primary` says whether it was named as one.
pub trait Resolve {
    /// resplay's address for that node, or `None` when it has none.
    fn resolve(&self, announced: &str, primary: bool) -> Option<SocketAddr>;
}

/// The topology commands whose replies name nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopologyCommand {
    /// `CLUSTER SLOTS`.
    Slots,
    /// `CLUSTER SHARDS`.
    Shards,
    /// `CLUSTER NODES`, `CLUSTER REPLICAS|SLAVES <id>`: the text format.
    Nodes,
}

/// The topology command `args` is, if it is one.
pub fn topology_command(args: &[Bytes]) -> Option<TopologyCommand> {
    let [name, sub, ..] = args else {
        return None;
    };
    if !name.eq_ignore_ascii_case(b"CLUSTER") {
        return None;
    }
    let sub = sub.to_ascii_uppercase();
    match sub.as_slice() {
        b"SLOTS" => Some(TopologyCommand::Slots),
        b"SHARDS" => Some(TopologyCommand::Shards),
        b"NODES" | b"REPLICAS" | b"SLAVES" => Some(TopologyCommand::Nodes),
        _ => None,
    }
}

/// Whether a reply frame may hold a redirection (a cheap test on its bytes
/// before decoding it).
pub fn may_redirect(frame: &[u8]) -> bool {
    memchr::memmem::find(frame, b"MOVED ").is_some()
        || memchr::memmem::find(frame, b"ASK ").is_some()
}

/// Rewrites the node addresses in `reply` to a command `args`: the
/// topology, when it is a topology command, and redirections anywhere (a
/// pipeline's, or inside an `EXEC` reply). Returns whether anything changed.
pub fn rewrite_reply(args: &[Bytes], reply: &mut Value, resolver: &dyn Resolve) -> bool {
    let mut changed = rewrite_redirections(reply, resolver);
    changed |= match topology_command(args) {
        Some(TopologyCommand::Slots) => rewrite_slots(reply, resolver),
        Some(TopologyCommand::Shards) => rewrite_shards(reply, resolver),
        Some(TopologyCommand::Nodes) => rewrite_nodes(reply, resolver),
        None => false,
    };
    changed
}

/// `MOVED <slot> <host:port>` and `ASK <slot> <host:port>` errors, at any
/// depth.
pub fn rewrite_redirections(value: &mut Value, resolver: &dyn Resolve) -> bool {
    match value {
        Value::Error(text) | Value::BulkError(text) => match redirected(text, resolver) {
            Some(new) => {
                *text = new;
                true
            }
            None => false,
        },
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            let mut changed = false;
            for item in items.iter_mut() {
                changed |= rewrite_redirections(item, resolver);
            }
            changed
        }
        Value::Attributed { value, .. } => rewrite_redirections(value, resolver),
        _ => false,
    }
}

/// The error text with its address replaced, if it is a redirection.
fn redirected(text: &[u8], resolver: &dyn Resolve) -> Option<Bytes> {
    let text = std::str::from_utf8(text).ok()?;
    let mut parts = text.splitn(3, ' ');
    let kind = parts.next()?;
    if kind != "MOVED" && kind != "ASK" {
        return None;
    }
    let slot = parts.next()?;
    let addr = parts.next()?;
    let local = resolver.resolve(addr, true)?;
    Some(Bytes::from(format!("{kind} {slot} {local}")))
}

fn bulk_text(value: &Value) -> Option<&str> {
    match value {
        Value::Bulk(b) | Value::Simple(b) | Value::Verbatim(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// `CLUSTER SLOTS`: `[[start, end, [host, port, id, meta], …], …]`; the
/// first node of a range is its primary.
fn rewrite_slots(reply: &mut Value, resolver: &dyn Resolve) -> bool {
    let Value::Array(ranges) = reply else {
        return false;
    };
    let mut changed = false;
    for range in ranges.iter_mut() {
        let Value::Array(parts) = range else {
            continue;
        };
        for (i, node) in parts.iter_mut().enumerate().skip(2) {
            let Value::Array(fields) = node else {
                continue;
            };
            let (Some(host), Some(Value::Integer(port))) = (fields.first(), fields.get(1)) else {
                continue;
            };
            let Some(host) = bulk_text(host) else {
                continue;
            };
            let Some(local) = resolver.resolve(&format!("{host}:{port}"), i == 2) else {
                continue;
            };
            fields[0] = Value::Bulk(Bytes::from(local.ip().to_string()));
            fields[1] = Value::Integer(i64::from(local.port()));
            // Networking metadata (Redis 7): `ip` or `hostname`, whichever
            // is not the preferred endpoint.
            if let Some(meta) = fields.get_mut(3) {
                rewrite_pairs(meta, |key, value| {
                    if (key == "ip" || key == "hostname")
                        && bulk_text(value).is_some_and(|v| !v.is_empty())
                    {
                        *value = Value::Bulk(Bytes::from(local.ip().to_string()));
                    }
                });
            }
            changed = true;
        }
    }
    changed
}

/// Calls `f` on each key (as text) and value of a map, or of an array of
/// alternating keys and values (a map under RESP2).
fn rewrite_pairs(value: &mut Value, mut f: impl FnMut(&str, &mut Value)) {
    match value {
        Value::Map(pairs) => {
            for (k, v) in pairs.iter_mut() {
                if let Some(key) = bulk_text(k) {
                    let key = key.to_string();
                    f(&key, v);
                }
            }
        }
        Value::Array(items) => {
            for pair in items.chunks_mut(2) {
                if let [k, v] = pair {
                    if let Some(key) = bulk_text(k) {
                        let key = key.to_string();
                        f(&key, v);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Reads a field of a map or RESP2 pair list.
fn field<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| bulk_text(k) == Some(name))
            .map(|(_, v)| v),
        Value::Array(items) => items
            .chunks_exact(2)
            .find(|pair| bulk_text(&pair[0]) == Some(name))
            .map(|pair| &pair[1]),
        _ => None,
    }
}

/// `CLUSTER SHARDS`: shards of `slots` and `nodes`, each node a map with
/// `ip`, `endpoint`, `hostname`, `port`, `tls-port` and `role`.
fn rewrite_shards(reply: &mut Value, resolver: &dyn Resolve) -> bool {
    let Value::Array(shards) = reply else {
        return false;
    };
    let mut changed = false;
    for shard in shards.iter_mut() {
        rewrite_pairs(shard, |key, nodes| {
            if key != "nodes" {
                return;
            }
            let Value::Array(nodes) = nodes else {
                return;
            };
            for node in nodes.iter_mut() {
                let host = ["ip", "endpoint"]
                    .iter()
                    .find_map(|k| field(node, k).and_then(bulk_text).filter(|h| !h.is_empty()))
                    .map(str::to_string);
                let port = ["port", "tls-port"]
                    .iter()
                    .find_map(|k| match field(node, k) {
                        Some(Value::Integer(p)) if *p > 0 => Some(*p),
                        _ => None,
                    });
                let primary = field(node, "role").and_then(bulk_text) == Some("master");
                let (Some(host), Some(port)) = (host, port) else {
                    continue;
                };
                let Some(local) = resolver.resolve(&format!("{host}:{port}"), primary) else {
                    continue;
                };
                let ip = local.ip().to_string();
                rewrite_pairs(node, |key, value| match key {
                    "ip" | "endpoint" => *value = Value::Bulk(Bytes::from(ip.clone())),
                    "hostname" if bulk_text(value).is_some_and(|h| !h.is_empty()) => {
                        *value = Value::Bulk(Bytes::from(ip.clone()))
                    }
                    "port" | "tls-port" => *value = Value::Integer(i64::from(local.port())),
                    _ => {}
                });
                changed = true;
            }
        });
    }
    changed
}

/// `CLUSTER NODES` (one text, bulk or verbatim) and `CLUSTER REPLICAS`
/// (an array of lines): the second field of each line,
/// `ip:port@cport[,hostname]`.
fn rewrite_nodes(reply: &mut Value, resolver: &dyn Resolve) -> bool {
    let rewrite = |line: &str| rewrite_node_line(line, resolver);
    match reply {
        Value::Array(lines) => {
            let mut changed = false;
            for line in lines.iter_mut() {
                changed |= map_node_lines(line, rewrite);
            }
            changed
        }
        text => map_node_lines(text, rewrite),
    }
}

/// Replaces each line of a `CLUSTER NODES`-style text (a bulk string, or a
/// verbatim one after its `txt:`) for which `f` gives a new one; returns
/// whether any was. Anything else is left as it is.
pub(super) fn map_node_lines(text: &mut Value, mut f: impl FnMut(&str) -> Option<String>) -> bool {
    let (bytes, skip) = match text {
        Value::Bulk(b) => (b, 0),
        Value::Verbatim(b) => (b, 4),
        _ => return false,
    };
    let Some(body) = bytes.get(skip..).and_then(|b| std::str::from_utf8(b).ok()) else {
        return false;
    };
    let mut out = String::with_capacity(body.len());
    let mut changed = false;
    for line in body.split_inclusive('\n') {
        match f(line) {
            Some(new) => {
                out.push_str(&new);
                changed = true;
            }
            None => out.push_str(line),
        }
    }
    if changed {
        let mut new = bytes[..skip].to_vec();
        new.extend_from_slice(out.as_bytes());
        *bytes = Bytes::from(new);
    }
    changed
}

/// One `CLUSTER NODES` line with its address field replaced.
fn rewrite_node_line(line: &str, resolver: &dyn Resolve) -> Option<String> {
    let mut fields = line.splitn(4, ' ');
    let id = fields.next()?;
    let address = fields.next()?;
    let flags = fields.next()?;
    let rest = fields.next()?;
    let (addr, bus) = address.split_once('@')?;
    let local = resolver.resolve(addr, !flags.contains("slave"))?;
    // The bus port and the hostname are kept in shape: clients ignore the
    // first, and the second names resplay too.
    let bus = match bus.split_once(',') {
        Some((cport, hostname)) if !hostname.is_empty() => format!("{cport},{}", local.ip()),
        _ => bus.to_string(),
    };
    Some(format!("{id} {local}@{bus} {flags} {rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Real ports 7000.. map to 9000..; others are unknown, and every
    /// question is remembered.
    #[derive(Default)]
    struct Table(Mutex<Vec<(String, bool)>>);

    impl Resolve for Table {
        fn resolve(&self, announced: &str, primary: bool) -> Option<SocketAddr> {
            self.0
                .lock()
                .unwrap()
                .push((announced.to_string(), primary));
            let map: HashMap<&str, &str> = [
                ("127.0.0.1:7000", "127.0.0.1:9000"),
                ("127.0.0.1:7001", "127.0.0.1:9001"),
                ("host-b:7001", "127.0.0.1:9001"),
            ]
            .into();
            map.get(announced).map(|a| a.parse().unwrap())
        }
    }

    fn args(text: &str) -> Vec<Bytes> {
        text.split(' ')
            .map(|a| Bytes::from(a.to_string()))
            .collect()
    }

    fn bulk(text: &str) -> Value {
        Value::Bulk(Bytes::from(text.to_string()))
    }

    #[test]
    fn redirections_at_any_depth() {
        let table = Table::default();
        let mut reply = Value::Error(Bytes::from_static(b"MOVED 3999 127.0.0.1:7001"));
        assert!(rewrite_reply(&args("GET k"), &mut reply, &table));
        assert_eq!(
            reply,
            Value::Error(Bytes::from_static(b"MOVED 3999 127.0.0.1:9001"))
        );
        let mut reply = Value::Array(vec![
            Value::Simple(Bytes::from_static(b"OK")),
            Value::BulkError(Bytes::from_static(b"ASK 12 127.0.0.1:7000")),
        ]);
        assert!(rewrite_reply(&args("EXEC"), &mut reply, &table));
        assert_eq!(
            reply,
            Value::Array(vec![
                Value::Simple(Bytes::from_static(b"OK")),
                Value::BulkError(Bytes::from_static(b"ASK 12 127.0.0.1:9000")),
            ])
        );
        let mut other = Value::Error(Bytes::from_static(b"ERR MOVED 1 2"));
        assert!(!rewrite_reply(&args("GET k"), &mut other, &table));
        assert!(may_redirect(b"-MOVED 1 a:1\r\n"));
        assert!(!may_redirect(b"$5\r\nhello\r\n"));
    }

    #[test]
    fn cluster_slots() {
        let table = Table::default();
        let node = |host: &str, port: i64, id: &str| {
            Value::Array(vec![
                bulk(host),
                Value::Integer(port),
                bulk(id),
                Value::Map(vec![(bulk("hostname"), bulk("host-b"))]),
            ])
        };
        let mut reply = Value::Array(vec![Value::Array(vec![
            Value::Integer(0),
            Value::Integer(5460),
            node("127.0.0.1", 7000, "a"),
            node("127.0.0.1", 7001, "b"),
        ])]);
        assert!(rewrite_reply(&args("cluster slots"), &mut reply, &table));
        let expected = Value::Array(vec![Value::Array(vec![
            Value::Integer(0),
            Value::Integer(5460),
            Value::Array(vec![
                bulk("127.0.0.1"),
                Value::Integer(9000),
                bulk("a"),
                Value::Map(vec![(bulk("hostname"), bulk("127.0.0.1"))]),
            ]),
            Value::Array(vec![
                bulk("127.0.0.1"),
                Value::Integer(9001),
                bulk("b"),
                Value::Map(vec![(bulk("hostname"), bulk("127.0.0.1"))]),
            ]),
        ])]);
        assert_eq!(reply, expected);
        // The first node of a range is named as a primary, the next not.
        let asked = table.0.lock().unwrap().clone();
        assert_eq!(
            asked,
            [
                ("127.0.0.1:7000".to_string(), true),
                ("127.0.0.1:7001".to_string(), false)
            ]
        );
    }

    #[test]
    fn cluster_shards_resp2_and_resp3() {
        let table = Table::default();
        let node_fields = || {
            vec![
                (bulk("id"), bulk("b")),
                (bulk("port"), Value::Integer(7001)),
                (bulk("ip"), bulk("127.0.0.1")),
                (bulk("endpoint"), bulk("127.0.0.1")),
                (bulk("hostname"), bulk("")),
                (bulk("role"), bulk("master")),
            ]
        };
        let flat = |pairs: Vec<(Value, Value)>| {
            Value::Array(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect())
        };
        for resp3 in [false, true] {
            let wrap = |pairs: Vec<(Value, Value)>| {
                if resp3 {
                    Value::Map(pairs)
                } else {
                    flat(pairs)
                }
            };
            let shard = wrap(vec![
                (
                    bulk("slots"),
                    Value::Array(vec![Value::Integer(0), Value::Integer(5460)]),
                ),
                (bulk("nodes"), Value::Array(vec![wrap(node_fields())])),
            ]);
            let mut reply = Value::Array(vec![shard]);
            assert!(rewrite_reply(&args("CLUSTER SHARDS"), &mut reply, &table));
            let Value::Array(shards) = &reply else {
                panic!()
            };
            let Some(Value::Array(nodes)) = field(&shards[0], "nodes") else {
                panic!()
            };
            assert_eq!(field(&nodes[0], "port"), Some(&Value::Integer(9001)));
            assert_eq!(field(&nodes[0], "ip"), Some(&bulk("127.0.0.1")));
            assert_eq!(field(&nodes[0], "hostname"), Some(&bulk("")));
        }
    }

    #[test]
    fn cluster_nodes_text() {
        let table = Table::default();
        let text = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
                    b2 127.0.0.1:7001@17001,host-b slave a1 0 0 1 connected\n\
                    c3 10.0.0.9:7005@17005 master - 0 0 1 connected 5461-16383\n";
        let mut reply = Value::Verbatim(Bytes::from(format!("txt:{text}")));
        assert!(rewrite_reply(&args("CLUSTER NODES"), &mut reply, &table));
        assert_eq!(
            reply,
            Value::Verbatim(Bytes::from(
                "txt:a1 127.0.0.1:9000@17000 myself,master - 0 0 1 connected 0-5460\n\
                 b2 127.0.0.1:9001@17001,127.0.0.1 slave a1 0 0 1 connected\n\
                 c3 10.0.0.9:7005@17005 master - 0 0 1 connected 5461-16383\n"
            ))
        );
        let mut replicas = Value::Array(vec![bulk(
            "b2 127.0.0.1:7001@17001 slave a1 0 0 1 connected",
        )]);
        assert!(rewrite_reply(
            &args("CLUSTER REPLICAS a1"),
            &mut replicas,
            &table
        ));
        assert_eq!(
            replicas,
            Value::Array(vec![bulk(
                "b2 127.0.0.1:9001@17001 slave a1 0 0 1 connected"
            )])
        );
    }
}
