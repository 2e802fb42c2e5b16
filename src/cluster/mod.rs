//! Redis Cluster: record and replay an application that talks to every
//! node of a cluster, through one resplay listener per node.
//!
//! - [`topology`]: the nodes, read from `CLUSTER NODES` and kept in the
//!   cassette header.
//! - [`rewrite`]: node addresses in replies (topology commands, `-MOVED`,
//!   `-ASK`) replaced by resplay's.
//! - [`answers`]: the topology, answered on any node in replay.
//! - [`listeners`]: a listener per node, bound up front or when a node is
//!   first seen.
//! - `record`: a recorder per node, one cassette.
//! - `replay`: a replay server per node, each serving its node's
//!   recordings.

pub mod answers;
pub mod listeners;
mod record;
mod replay;
pub mod rewrite;
pub mod topology;

use std::sync::Arc;

use bytes::Bytes;

pub use record::{record_cluster, ClusterRecordError, ClusterRecording};
pub use replay::{replay_cluster, ClusterReplay, ClusterReplayError};

use crate::resp::{parse_reply, to_bytes, Limits};
use listeners::Listeners;

/// What a recorder serving one cluster node needs: the node, and the
/// table to rewrite addresses with.
#[derive(Clone)]
pub struct ClusterLink {
    /// The node's address as the cluster announced it (the open event's
    /// `node`).
    pub node: String,
    /// Every node's listener.
    pub listeners: Arc<Listeners>,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLink")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl ClusterLink {
    /// The bytes the client gets for a reply `frame` from the node, when
    /// they differ: node addresses rewritten to resplay's. `request` is
    /// the command the frame answers (`None` for a push).
    pub fn client_frame(&self, request: Option<&[Bytes]>, frame: &Bytes) -> Option<Bytes> {
        let topology = request.filter(|args| rewrite::topology_command(args).is_some());
        if topology.is_none() && !rewrite::may_redirect(frame) {
            return None;
        }
        let (mut value, len) = parse_reply(frame, &Limits::upstream()).ok()??;
        if len != frame.len() {
            return None;
        }
        let args = topology.unwrap_or_default();
        rewrite::rewrite_reply(args, &mut value, &*self.listeners)
            .then(|| to_bytes(&value).freeze())
    }
}
