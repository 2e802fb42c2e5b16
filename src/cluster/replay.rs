//! Replaying a cluster: the recorded topology served again, a listener per
//! recorded node, each answering from its node's recordings with the usual
//! matching rules.
//!
//! Node addresses in the recorded replies are rewritten once, as the
//! cassette loads, so serving costs what a single-node replay costs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cassette::{self, CassetteError, ConnState, Event};
use crate::nodes::answers::{NodeTopology, TopologyAnswers};
use crate::nodes::listeners::{announce, Listeners, NodeListener};
use crate::nodes::rewrite::{rewrite_reply, Resolve};
use crate::replay::matcher::Matcher;
use crate::replay::{ReplayConfig, ReplayState, Report};
use crate::server::registry::Registry;
use crate::topology::Role;

/// Why a cluster replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterReplayError {
    /// The cassette could not be read.
    #[error(transparent)]
    Cassette(#[from] CassetteError),
    /// A listener could not be bound.
    #[error("{0}")]
    Listen(String),
    /// The cassette is not a cluster recording.
    #[error("{0} is not a cluster recording (its header has no \"cluster\" key)")]
    NotACluster(String),
}

/// A cluster replay, serving.
pub struct ClusterReplay {
    listeners: Arc<Listeners>,
    seed: SocketAddr,
    states: Vec<ReplayState>,
    tasks: TaskTracker,
}

/// Loads the cluster cassette at `path`, binds a listener per recorded
/// node on `listen` (see [`Listeners::bind`]), and serves each node's
/// recordings on its listener until `shutdown` fires. Returns the loader's
/// warnings too.
pub fn replay_cluster(
    path: &Path,
    config: ReplayConfig,
    listen: SocketAddr,
    shutdown: CancellationToken,
) -> Result<(ClusterReplay, Vec<String>), ClusterReplayError> {
    let header = cassette::read_header(path)?;
    let Some(topology) = header.cluster.clone() else {
        return Err(ClusterReplayError::NotACluster(path.display().to_string()));
    };
    // Listeners are served once everything is loaded: replies name nodes
    // the topology may not list (a node that joined while recording).
    let bound: Arc<Mutex<Vec<NodeListener>>> = Arc::default();
    let on_new = {
        let bound = bound.clone();
        Box::new(move |_: &Arc<Listeners>, node: NodeListener| {
            bound.lock().unwrap_or_else(|e| e.into_inner()).push(node);
        })
    };
    let listeners =
        Listeners::bind(listen, &topology.nodes, on_new).map_err(ClusterReplayError::Listen)?;
    // Connections with no `node` (written by hand) belong to the node the
    // recording's upstream URL named.
    let seed_node = header
        .upstream
        .clone()
        .filter(|u| topology.node(u).is_some())
        .or_else(|| topology.nodes.first().map(|n| n.addr.clone()))
        .unwrap_or_default();
    let mut matchers: HashMap<String, Matcher> = HashMap::new();
    let mut node_of: HashMap<u64, String> = HashMap::new();
    let mut answers = TopologyAnswers::default();
    let empty = || Matcher::empty(config.rules.clone(), config.repeat);
    let (_, warnings) = cassette::load_with(path, |mut event| {
        match &mut event {
            Event::Connection(open) if open.event == ConnState::Open => {
                if let Some(node) = &open.node {
                    // A node only connections name still gets a listener.
                    listeners.resolve(
                        node,
                        topology
                            .node(node)
                            .map_or(true, |n| n.role == Role::Primary),
                    );
                    node_of.insert(open.conn, node.clone());
                }
            }
            Event::Interaction(interaction) => {
                for reply in &mut interaction.replies {
                    rewrite_reply(&interaction.cmd, reply, &*listeners);
                }
                answers.note(&interaction.cmd, &interaction.replies);
            }
            _ => {}
        }
        let node = node_of.get(&event.conn()).unwrap_or(&seed_node);
        matchers
            .entry(node.clone())
            .or_insert_with(empty)
            .add(event);
    })?;
    let seed = listeners
        .local(&seed_node)
        .ok_or_else(|| ClusterReplayError::Listen("the cassette lists no node".into()))?;
    let answers = Arc::new(answers);
    let registry = Arc::new(Registry::default());
    let ids = Arc::new(AtomicU64::new(1));
    let tasks = TaskTracker::new();
    let mut states = Vec::new();
    // In the order bound: the header's, then nodes seen while loading.
    let ready = std::mem::take(&mut *bound.lock().unwrap_or_else(|e| e.into_inner()));
    for mut node in ready {
        let Some(listener) = node.listener.take() else {
            continue;
        };
        announce(&node);
        let mut matcher = matchers.remove(&node.announced).unwrap_or_else(empty);
        matcher.set_track_db(header.db.is_some());
        let mut config = config.clone();
        config.serve.shared_ids = Some(ids.clone());
        config.cluster = Some(NodeTopology {
            local: node.local,
            answers: answers.clone(),
        });
        let state = ReplayState::from_matcher(
            matcher,
            header.clone(),
            config,
            shutdown.child_token(),
            registry.clone(),
        );
        states.push(state.clone());
        tasks.spawn(async move { state.serve(listener).await });
    }
    tasks.close();
    Ok((
        ClusterReplay {
            listeners,
            seed,
            states,
            tasks,
        },
        warnings,
    ))
}

impl ClusterReplay {
    /// The listener of the node the recording's upstream URL named.
    pub fn seed(&self) -> SocketAddr {
        self.seed
    }

    /// Every node's recorded address and resplay's listener for it.
    pub fn nodes(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.all()
    }

    /// What every node served, missed and left unused, together.
    pub fn report(&self) -> Report {
        let mut total = Report::default();
        for state in &self.states {
            total.add(state.report());
        }
        total
    }

    /// Once `shutdown` has fired: waits for every node's sessions and
    /// returns the report.
    pub async fn finish(self) -> Report {
        self.tasks.wait().await;
        self.report()
    }
}
