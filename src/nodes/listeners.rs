//! One listener per cluster node, and the table from the addresses the
//! cluster announces to resplay's own.
//!
//! With `--listen HOST:BASE` (BASE not 0) the nodes get BASE, BASE+1, … in
//! the topology's order, so a test can know them in advance; with port 0,
//! free ports. Every listener the topology needs is bound before anything
//! is served, so a taken port is an error at start, naming it. A node seen
//! later (a failover, a new shard, a `-MOVED` to an address not in the
//! topology) gets the next port, or a free one if that is taken.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};

use tokio::net::TcpListener;

use super::rewrite::Resolve;
use crate::topology::{Node, Role};

/// What to do with a listener bound for a node: serve it (record), or keep
/// it until the cassette is loaded (replay).
pub type OnNewNode = Box<dyn Fn(&Arc<Listeners>, NodeListener) + Send + Sync>;

/// A node and resplay's listener for it.
#[derive(Debug)]
pub struct NodeListener {
    /// The node's address as the cluster announced it.
    pub announced: String,
    /// Its role, as far as known.
    pub role: Role,
    /// resplay's address for it.
    pub local: SocketAddr,
    /// The socket (taken by whoever serves it).
    pub listener: Option<TcpListener>,
}

/// Every node's listener, by announced address.
pub struct Listeners {
    /// The IP listeners are bound to (`--listen`'s).
    bind_ip: IpAddr,
    /// The IP clients are told to connect to (the bound one, or loopback
    /// for a wildcard).
    ip: IpAddr,
    table: Mutex<Table>,
    on_new: OnNewNode,
    /// Itself, for `on_new` (set once at creation).
    me: Weak<Listeners>,
}

struct Table {
    /// Every name a node is known by (its address, its hostname with the
    /// port) to resplay's address for it.
    by_announced: HashMap<String, SocketAddr>,
    /// Each node once, by its address, in the order listeners were bound.
    nodes: Vec<(String, SocketAddr)>,
    /// The port the next node gets when ports are consecutive.
    next_port: Option<u16>,
}

impl Listeners {
    /// Binds a listener for each of `nodes` on `listen`'s IP: consecutive
    /// ports from `listen`'s port, or free ones when it is 0. Fails naming
    /// the first port that cannot be bound. `on_new` is given each node's
    /// listener, these and later ones, in that order.
    pub fn bind(
        listen: SocketAddr,
        nodes: &[Node],
        on_new: OnNewNode,
    ) -> Result<Arc<Listeners>, String> {
        let ip = if listen.ip().is_unspecified() {
            // Clients need an address they can reach: on a wildcard
            // listener, loopback is the one every local client can.
            tracing::warn!(
                "cluster listeners on {}: announcing 127.0.0.1 to clients",
                listen.ip()
            );
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            listen.ip()
        };
        let mut bound = Vec::new();
        let mut by_announced = HashMap::new();
        let mut next_port = (listen.port() != 0).then_some(listen.port());
        for node in nodes {
            let (announced, role) = (&node.addr, &node.role);
            let port = next_port.unwrap_or(0);
            let addr = SocketAddr::new(listen.ip(), port);
            let listener = bind_now(addr).map_err(|e| {
                format!("cannot listen on {addr} for cluster node {announced}: {e}")
            })?;
            next_port = next_port.map(|p| p.saturating_add(1));
            let local =
                SocketAddr::new(ip, listener.local_addr().map_err(|e| e.to_string())?.port());
            for name in node.names() {
                by_announced.insert(name, local);
            }
            bound.push(NodeListener {
                announced: announced.clone(),
                role: *role,
                local,
                listener: Some(listener),
            });
        }
        let listeners = Arc::new_cyclic(|me| Listeners {
            bind_ip: listen.ip(),
            ip,
            table: Mutex::new(Table {
                by_announced,
                nodes: bound
                    .iter()
                    .map(|n| (n.announced.clone(), n.local))
                    .collect(),
                next_port,
            }),
            on_new,
            me: me.clone(),
        });
        for node in bound {
            (listeners.on_new)(&listeners, node);
        }
        Ok(listeners)
    }

    /// Every node's address as the cluster announced it, and resplay's, in
    /// the order listeners were bound (the topology's, then nodes seen
    /// later): the same in record and replay.
    pub fn all(&self) -> Vec<(String, SocketAddr)> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.nodes.clone()
    }

    /// resplay's address for the node announced at `announced`, if known.
    pub fn local(&self, announced: &str) -> Option<SocketAddr> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.by_announced.get(announced).copied()
    }
}

impl Resolve for Listeners {
    fn resolve(&self, announced: &str, primary: bool) -> Option<SocketAddr> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(local) = table.by_announced.get(announced) {
            return Some(*local);
        }
        // Not an address a client could connect to (`:0`, an empty host
        // when the cluster does not know the endpoint): leave it as it is.
        let (host, port) = announced.rsplit_once(':')?;
        if host.is_empty() || port.parse::<u16>().ok()? == 0 {
            return None;
        }
        let listener = table
            .next_port
            .and_then(|p| bind_now(SocketAddr::new(self.bind_ip, p)).ok())
            .or_else(|| bind_now(SocketAddr::new(self.bind_ip, 0)).ok());
        let Some(listener) = listener else {
            tracing::error!("cannot listen for cluster node {announced}: no free port");
            return None;
        };
        let local = SocketAddr::new(self.ip, listener.local_addr().ok()?.port());
        if let Some(next) = &mut table.next_port {
            *next = local.port().saturating_add(1).max(*next);
        }
        table.by_announced.insert(announced.to_string(), local);
        table.nodes.push((announced.to_string(), local));
        drop(table);
        let me = self.me.upgrade()?;
        let role = if primary {
            Role::Primary
        } else {
            Role::Replica
        };
        (self.on_new)(
            &me,
            NodeListener {
                announced: announced.to_string(),
                role,
                local,
                listener: Some(listener),
            },
        );
        Some(local)
    }
}

/// Binds now (not in a future), so that listeners are in place before the
/// reply naming them reaches the client.
fn bind_now(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let std = std::net::TcpListener::bind(addr)?;
    std.set_nonblocking(true)?;
    TcpListener::from_std(std)
}

/// The line tools and tests read: `resplay: node ADDR ROLE listening on
/// LOCAL`.
pub fn announce(node: &NodeListener) {
    eprintln!(
        "resplay: node {} {} listening on {}",
        node.announced, node.role, node.local
    );
}
