//! Reading a cluster's topology from one of its nodes (`CLUSTER NODES`),
//! when a cluster recording starts.

use crate::resp::Value;
use crate::topology::Topology;
use crate::upstream::{ask, Upstream, UpstreamError};

/// Why the cluster's topology could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The upstream could not be reached.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The server answers, but is not a cluster node.
    #[error("upstream {addr} is not in cluster mode (CLUSTER NODES: {reply}); drop --cluster, or point --upstream at a node started with cluster-enabled yes")]
    NotACluster {
        /// The upstream.
        addr: String,
        /// Redis's answer.
        reply: String,
    },
    /// The reply made no sense.
    #[error("upstream {addr}: cannot read CLUSTER NODES: {reason}")]
    Unreadable {
        /// The upstream.
        addr: String,
        /// What was wrong.
        reason: String,
    },
}

/// Asks `upstream` for the cluster's nodes.
pub async fn discover(upstream: &Upstream) -> Result<Topology, TopologyError> {
    let mut stream = upstream.connect().await?;
    let unreadable = |reason: String| TopologyError::Unreadable {
        addr: upstream.addr.clone(),
        reason,
    };
    let reply = ask(&mut stream, &["CLUSTER", "NODES"])
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    let text = match &reply {
        Value::Bulk(b) => b.clone(),
        Value::Verbatim(v) => v.slice(v.len().min(4)..),
        Value::Error(e) | Value::BulkError(e) => {
            return Err(TopologyError::NotACluster {
                addr: upstream.addr.clone(),
                reply: String::from_utf8_lossy(e).into_owned(),
            })
        }
        other => return Err(unreadable(format!("unexpected reply {other:?}"))),
    };
    let text = std::str::from_utf8(&text).map_err(|e| unreadable(e.to_string()))?;
    let topology = Topology::parse_nodes(text).map_err(unreadable)?;
    if topology.nodes.is_empty() {
        return Err(unreadable("no nodes listed".into()));
    }
    Ok(topology)
}
