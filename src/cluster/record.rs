//! Recording a cluster: a recorder per node, each relaying to its node and
//! rewriting node addresses to resplay's listeners, all writing one
//! cassette on one clock, with connection ids that never collide.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cassette::{CassetteWriter, WriteMode, WriterHandle, WriterTask};
use crate::handover::Carry;
use crate::nodes::listeners::{announce, Listeners, NodeListener};
use crate::nodes::ClusterLink;
use crate::record::{RecordConfig, RecordCounts, RecordSummary, Recorder};
use crate::server::registry::Registry;
use crate::server::serve;
use crate::topology::Topology;
use crate::upstream::Transport;

/// What starting a node's recorder needs; dropped when the recording ends,
/// which lets go of the cassette writer.
struct Spawner {
    config: RecordConfig,
    writer: WriterHandle,
    shutdown: CancellationToken,
    registry: Arc<Registry>,
    start: Instant,
    ids: Arc<AtomicU64>,
    tasks: TaskTracker,
    recorders: Vec<Recorder>,
}

impl Spawner {
    /// Serves `node`'s listener with a recorder relaying to that node.
    fn spawn(&mut self, listeners: &Arc<Listeners>, mut node: NodeListener) {
        let Some(listener) = node.listener.take() else {
            return;
        };
        announce(&node);
        let mut config = self.config.clone();
        config.upstream.addr = node.announced.clone();
        config.upstream.transport = Transport::Tcp(node.announced.clone());
        config.serve.shared_ids = Some(self.ids.clone());
        config.cluster = Some(ClusterLink {
            node: node.announced.clone(),
            listeners: listeners.clone(),
        });
        let options = config.serve.clone();
        let recorder = Recorder::starting_at(
            config,
            Some(self.writer.clone()),
            self.shutdown.clone(),
            self.registry.clone(),
            self.start,
        );
        self.recorders.push(recorder.clone());
        let shutdown = self.shutdown.clone();
        self.tasks
            .spawn(serve(listener, shutdown, options, move |stream, id| {
                let recorder = recorder.clone();
                async move {
                    recorder.session(Carry::fresh(stream), id).await;
                }
            }));
    }
}

/// A cluster recording in progress.
pub struct ClusterRecording {
    listeners: Arc<Listeners>,
    seed: SocketAddr,
    spawner: Arc<Mutex<Option<Spawner>>>,
    writer: WriterTask,
}

/// Why a cluster recording could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterRecordError {
    /// The topology could not be read.
    #[error(transparent)]
    Topology(#[from] crate::nodes::discover::TopologyError),
    /// A listener could not be bound.
    #[error("{0}")]
    Listen(String),
    /// The cassette could not be opened.
    #[error(transparent)]
    Cassette(#[from] crate::cassette::CassetteError),
    /// Appending would need the cassette's nodes and connection ids matched
    /// up with this recording's.
    #[error("a cluster recording cannot be appended to a cassette yet: record it afresh")]
    Append,
}

/// Reads the cluster's topology from `config.upstream`, binds a listener
/// per node on `listen` (see [`Listeners::bind`]), opens the cassette and
/// starts recording on every listener until `shutdown` fires.
pub async fn record_cluster(
    config: RecordConfig,
    listen: SocketAddr,
    path: &Path,
    mode: WriteMode,
    shutdown: CancellationToken,
) -> Result<ClusterRecording, ClusterRecordError> {
    if mode == WriteMode::Append {
        return Err(ClusterRecordError::Append);
    }
    let topology = crate::nodes::discover::discover(&config.upstream).await?;
    let mut header = config.upstream.recording_header().await;
    config.stamp_header(&mut header);
    // Bound before the cassette is opened: a taken port leaves no file.
    let pending: Arc<Mutex<Vec<NodeListener>>> = Arc::default();
    let spawner: Arc<Mutex<Option<Spawner>>> = Arc::default();
    let on_new = {
        let (pending, spawner) = (pending.clone(), spawner.clone());
        Box::new(move |listeners: &Arc<Listeners>, node: NodeListener| {
            let mut spawner = spawner.lock().unwrap_or_else(|e| e.into_inner());
            match spawner.as_mut() {
                Some(spawner) => spawner.spawn(listeners, node),
                // Before recording starts (the topology's own nodes), or
                // after it ended (a late reply): nothing serves it yet.
                None => pending.lock().unwrap_or_else(|e| e.into_inner()).push(node),
            }
        })
    };
    let listeners =
        Listeners::bind(listen, &topology.nodes, on_new).map_err(ClusterRecordError::Listen)?;
    let seed_announced = seed_address(&topology, &config.upstream.addr);
    let seed = listeners
        .local(&seed_announced)
        .or_else(|| listeners.all().first().map(|(_, local)| *local))
        .ok_or_else(|| ClusterRecordError::Listen("the cluster lists no node".into()))?;
    header = header.listening_on(seed);
    header.cluster = Some(topology);
    let (writer, task) = CassetteWriter::open(path, &header, mode).await?;
    let mut ready = Spawner {
        config,
        writer,
        shutdown,
        registry: Arc::new(Registry::default()),
        start: Instant::now(),
        ids: Arc::new(AtomicU64::new(1)),
        tasks: TaskTracker::new(),
        recorders: Vec::new(),
    };
    for node in std::mem::take(&mut *pending.lock().unwrap_or_else(|e| e.into_inner())) {
        ready.spawn(&listeners, node);
    }
    *spawner.lock().unwrap_or_else(|e| e.into_inner()) = Some(ready);
    Ok(ClusterRecording {
        listeners,
        seed,
        spawner,
        writer: task,
    })
}

/// The announced address of the node the upstream URL names: the one
/// that answered as `myself`, else the URL's own `host:port`.
fn seed_address(topology: &Topology, upstream: &str) -> String {
    topology
        .myself
        .clone()
        .unwrap_or_else(|| upstream.to_string())
}

impl ClusterRecording {
    /// The listener of the node the upstream URL named (where `REDIS_URL`
    /// points).
    pub fn seed(&self) -> SocketAddr {
        self.seed
    }

    /// Every node's announced address and resplay's listener for it.
    pub fn nodes(&self) -> Vec<(String, SocketAddr)> {
        self.listeners.all()
    }

    /// Once `shutdown` has fired: waits for every node's sessions, then
    /// closes the cassette (`commit` false throws an atomic one away).
    pub async fn finish(self, commit: bool) -> RecordSummary {
        let spawner = self
            .spawner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut counts = RecordCounts {
            connections: 0,
            interactions: 0,
        };
        if let Some(spawner) = spawner {
            spawner.tasks.close();
            spawner.tasks.wait().await;
            for recorder in &spawner.recorders {
                let c = recorder.counts();
                counts.connections += c.connections;
                counts.interactions += c.interactions;
            }
        }
        let stats = if commit {
            self.writer.finish().await
        } else {
            self.writer.discard().await
        };
        counts.with_writer(stats)
    }
}
