//! A cluster's node addresses as clients see them: one resplay listener per
//! node, every address in a reply rewritten to resplay's, and the topology
//! answered on any node in replay. Record and replay sessions both use it;
//! `crate::cluster` runs them per node.
//!
//! - [`listeners`]: a listener per node, bound up front or when a node is
//!   first seen.
//! - [`rewrite`]: node addresses in replies (topology commands, `-MOVED`,
//!   `-ASK`) replaced by resplay's.
//! - [`answers`]: the topology, answered on any node in replay.
//! - [`discover`]: the topology read from a node (`CLUSTER NODES`).

pub mod answers;
pub mod discover;
pub mod listeners;
pub mod rewrite;

use std::sync::Arc;

use bytes::Bytes;

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
