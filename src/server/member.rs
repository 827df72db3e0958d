//! Starting one member: storage, the MVCC store, and the actors, each on its own
//! arbiter (thread), wired to each other and to the transport.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::applier::{Applier, ConnectRaft, ConnectWatch, SizeOf};
use super::handle::{Endpoints, Identity, Limits, MemberHandle, MemberInfo};
use super::log_store::{LogStore, SharedMemLog};
use super::raft_log::RaftLog;
use super::raft_node::{RaftNode, RaftStatus};
use super::transport::InProcessNetwork;
use super::wait::WaitRegistry;
use super::watch_hub::WatchHub;
use crate::lease::{ETCD_RS_CHECKPOINT_INTERVAL_MS, Lessor, LessorConfig};
use crate::metrics::MemberMetrics;
use crate::mvcc::{Backend, MemBackend, MvccStore};
use crate::raft::{ConfState, Config, NodeId, RawNode, StorageError};
use crate::storage::MemberStore;

/// Where a member keeps its state.
#[derive(Clone, Debug)]
pub enum StorageKind {
    /// On disk, under this --data-dir.
    Disk(PathBuf),
    /// In memory only (`etcd-rs dev --ephemeral`): nothing survives the process.
    Memory,
}

/// Everything needed to start one member.
#[derive(Clone, Debug)]
pub struct MemberSpec {
    /// Who it is.
    pub identity: Identity,
    /// The initial cluster (every voter, this member included).
    pub members: Vec<MemberInfo>,
    /// Where its state lives.
    pub storage: StorageKind,
    /// --heartbeat-interval.
    pub heartbeat: Duration,
    /// --election-timeout.
    pub election_timeout: Duration,
    /// Request limits.
    pub limits: Limits,
    /// --experimental-watch-progress-notify-interval (zero: etcd's 10 minutes).
    pub watch_progress_interval: Duration,
    /// --snapshot-count: applied entries between two compactions of the raft log.
    pub snapshot_count: u64,
    /// --quota-backend-bytes (None: no quota).
    pub quota_bytes: Option<u64>,
    /// --initial-cluster-state existing: the member joins a running cluster, which
    /// sends it everything (its log starts empty, with no configuration).
    pub join: bool,
    /// --metrics=extensive: export what etcd adds with it (`grpc_server_handling_seconds`).
    pub extensive_metrics: bool,
    /// --auth-token-ttl, --bcrypt-cost.
    pub auth: crate::auth::AuthConfig,
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The data dir could not be opened or is damaged.
    #[error("cannot open the data dir: {0}")]
    Storage(#[from] StorageError),
    /// The MVCC store could not be opened.
    #[error("cannot open the key-value store: {0}")]
    Mvcc(#[from] crate::mvcc::Error),
    /// The raft configuration is invalid.
    #[error("invalid raft configuration: {0}")]
    Raft(#[from] crate::raft::Error),
    /// Metrics could not be registered.
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// How a member reaches its peers.
pub enum PeerNetwork<'a> {
    /// Dev mode: every member in this process.
    InProcess(&'a InProcessNetwork),
    /// Peers over TCP: the transport, and the --listen-peer-urls to serve.
    Tcp {
        /// The outgoing side.
        transport: Arc<crate::transport::NetworkTransport>,
        /// Who this member is, for the peer port.
        config: crate::transport::TransportConfig,
        /// The runtime the peer port runs on.
        runtime: tokio::runtime::Handle,
        /// The bound --listen-peer-urls, each with its TLS if it is `https://`.
        listeners: Vec<(std::net::TcpListener, Option<crate::tls::PeerAcceptor>)>,
    },
}

/// A running member: its handle, and the arbiters its actors run on.
pub struct RunningMember {
    /// What the API layer uses.
    pub handle: MemberHandle,
    arbiters: Vec<Arbiter>,
    peer_tasks: Vec<tokio::task::JoinHandle<()>>,
    transport: Option<Arc<crate::transport::NetworkTransport>>,
}

impl RunningMember {
    /// A task of this member on another runtime, aborted when the member stops.
    pub fn add_task(&mut self, task: tokio::task::JoinHandle<()>) {
        self.peer_tasks.push(task);
    }

    /// Stops the member's actors and its peer port.
    pub fn stop(self) {
        for task in self.peer_tasks {
            task.abort();
        }
        if let Some(transport) = self.transport {
            transport.shutdown();
        }
        for arbiter in self.arbiters {
            arbiter.stop();
        }
    }
}

/// The peer port's answer to a joining member's query: the cluster's members (JSON),
/// once known.
fn members_query(
    membership: &super::membership::SharedMembership,
    cluster_id: u64,
) -> crate::transport::MembersFn {
    let membership = membership.clone();
    std::sync::Arc::new(move || {
        let membership = membership
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (!membership.members.is_empty()).then(|| {
            super::membership::ClusterInfo {
                cluster_id,
                members: membership.members.values().cloned().collect(),
            }
            .encode()
        })
    })
}

/// The peer port's answer to the corruption checks' HashKV query: the Applier's HashKV
/// at the revision asked for, with the member's current revision (as the Maintenance
/// service's HashKV answers).
fn hash_kv_query(
    hasher: Recipient<super::applier::HashKv>,
    applied: watch::Receiver<super::applier::AppliedState>,
) -> crate::transport::HashKvFn {
    Arc::new(move |revision| {
        let (hasher, applied) = (hasher.clone(), applied.clone());
        Box::pin(async move {
            let (hash, _, compacted) = hasher
                .send(super::applier::HashKv(revision))
                .await
                .map_err(|_| "the member is stopping".to_string())?
                .map_err(|e| e.to_string())?;
            Ok(crate::transport::codec::HashKvAnswer {
                hash,
                revision: applied.borrow().revision,
                compacted,
            })
        })
    })
}

/// Starts a member and connects it to `network`. MUST be called inside an actix System.
pub fn start_member(
    spec: MemberSpec,
    network: PeerNetwork<'_>,
) -> Result<RunningMember, StartError> {
    let voters = ConfState::with_voters(spec.members.iter().map(|m| NodeId(m.id)));
    match spec.storage.clone() {
        StorageKind::Disk(dir) => {
            let store = MemberStore::open(&dir)?;
            let log = store.raft_storage();
            if log.is_empty()? && !spec.join {
                log.bootstrap(voters)?;
            }
            let size_of: SizeOf<_> = Box::new(|b: &crate::storage::FjallBackend| b.disk_size());
            let disk_space = Some(store.disk_space());
            start_with(
                spec,
                log,
                store.mvcc_backend(),
                size_of,
                disk_space,
                network,
            )
        }
        StorageKind::Memory => {
            let log = SharedMemLog::new_with_conf_state(voters);
            let size_of: SizeOf<MemBackend> = Box::new(|_| 0);
            start_with(spec, log, MemBackend::new(), size_of, None, network)
        }
    }
}

fn start_with<S, B>(
    spec: MemberSpec,
    log: S,
    backend: B,
    size_of: SizeOf<B>,
    disk_space: Option<crate::storage::DiskSpace>,
    network: PeerNetwork<'_>,
) -> Result<RunningMember, StartError>
where
    S: LogStore,
    B: Backend + Send + Unpin + 'static,
{
    let network = network;
    let metrics = Arc::new(MemberMetrics::with_options(spec.extensive_metrics)?);
    let store = MvccStore::open(backend)?;
    let (revision, compacted) = (store.current_revision(), store.compacted_revision());
    let id = NodeId(spec.identity.member_id);

    let heartbeat_ms = spec.heartbeat.as_millis().max(1) as u64;
    let mut config = Config::new(id);
    config.heartbeat_ticks = 1;
    config.election_ticks = (spec.election_timeout.as_millis() as u64 / heartbeat_ms).max(2);
    // Raft hands out again every committed entry after its snapshot: the Applier skips
    // those its store holds, and conf changes among them rebuild the configuration.
    config.seed = id.0
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
    let raw = RawNode::new(&config, log.clone())?;

    let wait = Arc::new(WaitRegistry::default());
    let (applied_tx, applied_rx) = watch::channel(Default::default());
    let (status_tx, status_rx) = watch::channel(RaftStatus::default());

    let mut lessor_config = LessorConfig::for_raft_timing(config.election_ticks, heartbeat_ms);
    lessor_config.checkpoint_interval_ms = ETCD_RS_CHECKPOINT_INTERVAL_MS;
    let lessor = Lessor::new(lessor_config);
    let attributes = super::handle::Attributes::default();
    let membership = super::membership::SharedMembership::default();
    let seed = (!spec.join).then(|| {
        super::membership::Membership::bootstrap(spec.members.iter().map(|m| {
            super::membership::Member {
                id: m.id,
                peer_urls: m.peer_urls.clone(),
                name: m.name.clone(),
                is_learner: m.is_learner,
            }
        }))
    });
    let auth = Arc::new(crate::auth::Auth::new(spec.auth.clone()));
    let applier_state = Applier::new(
        store,
        lessor,
        attributes.clone(),
        (membership.clone(), seed),
        status_rx.clone(),
        wait.clone(),
        applied_tx,
        metrics.clone(),
        size_of,
        auth.clone(),
    )?;
    let alarms = applier_state.alarms();
    let applier_arbiter = Arbiter::new();
    let applier = Applier::start_in_arbiter(&applier_arbiter.handle(), move |_| applier_state);
    let watch_arbiter = Arbiter::new();
    let watch = {
        let history = applier.clone().recipient();
        let (cluster_id, member_id) = (spec.identity.cluster_id, spec.identity.member_id);
        let status = status_rx.clone();
        let header: super::watch_hub::HeaderFn =
            Arc::new(move |revision| crate::pb::etcdserverpb::ResponseHeader {
                cluster_id,
                member_id,
                revision,
                raft_term: status.borrow().term.0,
            });
        let max_bytes = spec.limits.max_request_bytes;
        let interval = spec.watch_progress_interval;
        let metrics = metrics.clone();
        WatchHub::start_in_arbiter(&watch_arbiter.handle(), move |_| {
            WatchHub::new(
                history, header, revision, compacted, max_bytes, interval, metrics,
            )
        })
    };
    applier.do_send(ConnectWatch(watch.clone().recipient()));
    let raft_arbiter = Arbiter::new();
    // The log writer shares the RaftNode's thread on purpose: see `RaftLog::start`.
    let writer = RaftLog::start(log, metrics.clone(), &raft_arbiter.handle());
    let (transport, reports): (Arc<dyn super::transport::Transport>, _) = match &network {
        PeerNetwork::InProcess(network) => (Arc::new((*network).clone()), None),
        PeerNetwork::Tcp { transport, .. } => (transport.clone(), Some(transport.reports())),
    };
    let raft = {
        let snapshots = (applier.clone().recipient(), applier.clone().recipient());
        let (applier, metrics) = (applier.clone().recipient(), metrics.clone());
        let election_timeout = spec.election_timeout;
        let tick = spec.heartbeat;
        let membership = membership.clone();
        RaftNode::start_in_arbiter(&raft_arbiter.handle(), move |_| {
            RaftNode::new(
                raw,
                writer,
                transport,
                applier,
                snapshots,
                tick,
                election_timeout,
                status_tx,
                metrics,
                reports,
                membership,
            )
        })
    };
    applier.do_send(ConnectRaft {
        applied: raft.clone().recipient(),
        propose: raft.clone().recipient(),
        compact: raft.clone().recipient(),
        snapshot_count: spec.snapshot_count,
        member_id: spec.identity.member_id,
        quota_bytes: spec.quota_bytes,
        disk_space,
        membership_changed: raft.clone().recipient(),
    });
    let mut peer_tasks = Vec::new();
    let mut tcp_transport = None;
    match network {
        PeerNetwork::InProcess(network) => network.register(
            id,
            raft.clone().recipient(),
            metrics.actors.raft_node.mailbox.clone(),
        ),
        PeerNetwork::Tcp {
            transport,
            config,
            runtime,
            listeners,
        } => {
            let peer_metrics = transport.metrics();
            metrics.register_peer(&peer_metrics)?;
            let counted = crate::transport::PeerPortMetrics {
                peer: peer_metrics,
                inbound: metrics.actors.raft_node.mailbox.clone(),
            };
            for (listener, tls) in listeners {
                let counted = counted.clone();
                let (config, inbound) = (config, raft.clone().recipient());
                let queries = crate::transport::PeerQueries {
                    members: members_query(&membership, spec.identity.cluster_id),
                    hash_kv: Some(hash_kv_query(
                        applier.clone().recipient(),
                        applied_rx.clone(),
                    )),
                };
                peer_tasks.push(runtime.spawn(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            crate::transport::serve_member_peer_port(
                                listener, config, inbound, queries, counted, tls,
                            )
                            .await;
                        }
                        Err(e) => eprintln!("etcd-rs: cannot serve the peer port: {e}"),
                    }
                }));
            }
            tcp_transport = Some(transport);
        }
    }

    let endpoints = Endpoints {
        propose: raft.clone().recipient(),
        read_index: raft.clone().recipient(),
        reads: applier.clone().recipient(),
        db_size: applier.clone().recipient(),
        watch,
        transfer: raft.clone().recipient(),
        conf_change: raft.clone().recipient(),
        leader_view: raft.clone().recipient(),
        keep_alive: applier.clone().recipient(),
        time_to_live: applier.clone().recipient(),
        lease_list: applier.clone().recipient(),
        lease_exists: applier.clone().recipient(),
        hash_kv: applier.clone().recipient(),
        defragment: applier.clone().recipient(),
        open_view: applier.recipient(),
    };
    let handle = MemberHandle::new(
        spec.identity,
        spec.limits,
        metrics,
        endpoints,
        status_rx,
        applied_rx,
        wait,
        attributes,
        alarms,
        membership,
        auth,
    );
    Ok(RunningMember {
        handle,
        arbiters: vec![applier_arbiter, raft_arbiter, watch_arbiter],
        peer_tasks,
        transport: tcp_transport,
    })
}
