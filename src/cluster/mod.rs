//! Redis Cluster: record and replay an application that talks to every
//! node of a cluster, through one resplay listener per node.
//!
//! What a cluster looks like (`crate::topology`) and how its node
//! addresses reach clients (`crate::nodes`: listeners, rewriting, topology
//! answers) live below record and replay, which use them; this module
//! runs one recorder or replay server per node on top of both modes.
//!
//! - `record`: a recorder per node, one cassette.
//! - `replay`: a replay server per node, each serving its node's
//!   recordings.

mod record;
mod replay;

pub use record::{record_cluster, ClusterRecordError, ClusterRecording};
pub use replay::{replay_cluster, ClusterReplay, ClusterReplayError};
