//! Running members in this process: the actix System for the actors, a tokio runtime
//! for the client ports, and the one shutdown path (Ctrl-C or SIGTERM).
//!
//! Used by both modes: `etcd-rs [etcd flags]` runs one member, `etcd-rs dev` several,
//! wired by the in-process transport.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::config::MemberConfig;
use crate::server::handle::{Identity, Limits, MemberInfo};
use crate::server::member::{MemberSpec, PeerNetwork, StartError, StorageKind, start_member};
use crate::server::transport::InProcessNetwork;

/// A member ready to start: its spec and where its client port listens.
pub struct PlannedMember {
    /// What to start.
    pub spec: MemberSpec,
    /// The addresses of --listen-client-urls.
    pub client_listen: Vec<SocketAddr>,
    /// The addresses of --listen-peer-urls (served when peers are reached over TCP).
    pub peer_listen: Vec<SocketAddr>,
}

/// How the members of this process reach their peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerMode {
    /// Every member of the cluster runs in this process (dev mode).
    InProcess,
    /// Peers are other processes, over TCP on --listen-peer-urls.
    Tcp,
}

/// Why the process could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A configuration problem, in words.
    #[error("{0}")]
    Config(String),
    /// A member failed to start.
    #[error("member {name}: {source}")]
    Start {
        /// The member.
        name: String,
        /// Why.
        source: StartError,
    },
    /// A port could not be bound, or a runtime could not be built.
    #[error("{0}")]
    Io(String),
}

/// Plans the members of one cluster from their configurations (all of them in this
/// process). `ephemeral` keeps everything in memory.
pub fn plan(configs: &[MemberConfig], ephemeral: bool) -> Result<Vec<PlannedMember>, RunError> {
    let config_error = |e: crate::config::ConfigError| RunError::Config(e.to_string());
    let mut infos = Vec::new();
    for config in configs {
        infos.push(MemberInfo {
            id: config.member_id().map_err(config_error)?.0,
            name: config.name.clone(),
            peer_urls: config.initial_advertise_peer_urls.clone(),
            client_urls: config.advertise_client_urls.clone(),
            is_learner: false,
        });
    }
    let first = configs
        .first()
        .ok_or_else(|| RunError::Config("no member to run".into()))?;
    // Members of the initial cluster that run elsewhere are listed without client URLs
    // (etcd learns them once the member publishes its attributes).
    for member in first.initial_members().map_err(config_error)? {
        if !infos.iter().any(|i| i.id == member.id.0) {
            infos.push(MemberInfo {
                id: member.id.0,
                name: member.name,
                peer_urls: member.peer_urls,
                client_urls: Vec::new(),
                is_learner: false,
            });
        }
    }
    let mut planned = Vec::new();
    for config in configs {
        if config.initial_cluster_state == crate::config::ClusterState::Existing {
            config.verify_join_existing().map_err(config_error)?;
        } else {
            config.verify_bootstrap().map_err(config_error)?;
        }
        let election_timeout = Duration::from_millis(config.election_timeout_ms);
        let identity = Identity {
            member_id: config.member_id().map_err(config_error)?.0,
            cluster_id: config.cluster_id().map_err(config_error)?.0,
            name: config.name.clone(),
            peer_urls: config.initial_advertise_peer_urls.clone(),
            client_urls: config.advertise_client_urls.clone(),
        };
        let storage = if ephemeral {
            StorageKind::Memory
        } else {
            StorageKind::Disk(config.data_dir.clone())
        };
        planned.push(PlannedMember {
            spec: MemberSpec {
                identity,
                members: infos.clone(),
                storage,
                heartbeat: Duration::from_millis(config.heartbeat_interval_ms),
                election_timeout,
                limits: Limits {
                    max_request_bytes: config.max_request_bytes as usize,
                    max_txn_ops: config.max_txn_ops as usize,
                    request_timeout: Duration::from_secs(5) + 2 * election_timeout,
                },
                watch_progress_interval: config.experimental_watch_progress_notify_interval,
                snapshot_count: config.snapshot_count,
                quota_bytes: config.quota_backend_bytes_limit(),
                join: config.initial_cluster_state == crate::config::ClusterState::Existing,
            },
            client_listen: listen_addresses(&config.listen_client_urls)?,
            peer_listen: listen_addresses(&config.listen_peer_urls)?,
        });
    }
    Ok(planned)
}

/// The file under --data-dir that records who the member is once it first started
/// (member id and cluster id): after that, the flags of the initial cluster are ignored,
/// as etcd ignores them once its WAL exists.
const IDENTITY_FILE: &str = "etcd-rs-identity.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredIdentity {
    member_id: u64,
    cluster_id: u64,
}

/// Plans the one member of a process (peers over TCP). A member that joins a running
/// cluster (`--initial-cluster-state existing`) asks the peers of --initial-cluster
/// who it is; its identity is recorded in its data dir before it starts.
pub fn plan_process(config: &MemberConfig) -> Result<PlannedMember, RunError> {
    let mut planned = plan(std::slice::from_ref(config), false)?
        .pop()
        .ok_or_else(|| RunError::Config("no member to run".into()))?;
    let path = config.data_dir.join(IDENTITY_FILE);
    let identity = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<StoredIdentity>(&bytes)
            .map_err(|e| RunError::Config(format!("{} is damaged: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = if planned.spec.join {
                let (identity, members) = join_cluster(config)?;
                planned.spec.members = members;
                identity
            } else {
                StoredIdentity {
                    member_id: planned.spec.identity.member_id,
                    cluster_id: planned.spec.identity.cluster_id,
                }
            };
            store_identity(&config.data_dir, &path, &identity)?;
            identity
        }
        Err(e) => return Err(RunError::Io(format!("reading {}: {e}", path.display()))),
    };
    planned.spec.identity.member_id = identity.member_id;
    planned.spec.identity.cluster_id = identity.cluster_id;
    Ok(planned)
}

fn store_identity(
    dir: &std::path::Path,
    path: &std::path::Path,
    identity: &StoredIdentity,
) -> Result<(), RunError> {
    use std::io::Write as _;
    let io = |e: std::io::Error| {
        RunError::Io(format!(
            "recording the member's identity in {}: {e}",
            path.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(&serde_json::to_vec(identity).expect("identity serializes"))
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)
}

/// Asks the other members of --initial-cluster for the cluster: this member's id is the
/// one added (`etcdctl member add`) with its --initial-advertise-peer-urls.
fn join_cluster(config: &MemberConfig) -> Result<(StoredIdentity, Vec<MemberInfo>), RunError> {
    let mut mine = config.initial_advertise_peer_urls.clone();
    mine.sort();
    let peers: Vec<String> = config
        .initial_members()
        .map_err(|e| RunError::Config(e.to_string()))?
        .into_iter()
        .filter(|m| m.name != config.name)
        .flat_map(|m| m.peer_urls)
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Io(e.to_string()))?;
    let mut failures = Vec::new();
    for _ in 0..JOIN_ATTEMPTS {
        for url in &peers {
            let info = match runtime.block_on(crate::transport::network::query_members(url)) {
                Ok(json) => crate::server::membership::ClusterInfo::decode(&json)
                    .map_err(|e| RunError::Config(format!("member at {url}: {e}")))?,
                Err(why) => {
                    failures.push(format!("{url}: {why}"));
                    continue;
                }
            };
            let me = info.members.iter().find(|m| {
                let mut urls = m.peer_urls.clone();
                urls.sort();
                urls == mine
            });
            let Some(me) = me else {
                return Err(RunError::Config(format!(
                    "the cluster has no member with peer URLs {mine:?}: add it first (etcdctl member add {} --peer-urls={})",
                    config.name,
                    mine.join(",")
                )));
            };
            let identity = StoredIdentity {
                member_id: me.id,
                cluster_id: info.cluster_id,
            };
            let members = info
                .members
                .iter()
                .map(|m| MemberInfo {
                    id: m.id,
                    name: if m.id == me.id {
                        config.name.clone()
                    } else {
                        m.name.clone()
                    },
                    peer_urls: m.peer_urls.clone(),
                    client_urls: Vec::new(),
                    is_learner: m.is_learner,
                })
                .collect();
            return Ok((identity, members));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    failures.dedup();
    Err(RunError::Config(format!(
        "cannot fetch the cluster's members from the peers of --initial-cluster: {}",
        failures.join("; ")
    )))
}

/// Rounds of asking every peer before a joining member gives up (half a second apart).
const JOIN_ATTEMPTS: usize = 20;

fn listen_addresses(urls: &[String]) -> Result<Vec<SocketAddr>, RunError> {
    let mut out = Vec::new();
    for url in urls {
        let host_port = url
            .strip_prefix("http://")
            .ok_or_else(|| RunError::Config(format!("unsupported listen URL {url:?}")))?
            .trim_end_matches('/');
        let addr = host_port
            .to_socket_addrs()
            .map_err(|e| RunError::Config(format!("cannot resolve listen URL {url:?}: {e}")))?
            .find(SocketAddr::is_ipv4)
            .ok_or_else(|| RunError::Config(format!("no IPv4 address for listen URL {url:?}")))?;
        out.push(addr);
    }
    Ok(out)
}

/// Threads of the runtime that serves the client ports.
const API_THREADS: usize = 2;

/// Starts the planned members, calls `started` once every client port listens, and
/// runs until Ctrl-C or SIGTERM.
pub fn run(
    members: Vec<PlannedMember>,
    mode: PeerMode,
    started: impl FnOnce(),
) -> Result<(), RunError> {
    let api = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(API_THREADS)
        .thread_name("etcd-rs-api")
        .enable_all()
        .build()
        .map_err(|e| RunError::Io(format!("cannot start the API runtime: {e}")))?;
    // Bind every client port first, so a port in use fails before anything starts.
    let mut listeners = Vec::new();
    for member in &members {
        let mut bound = Vec::new();
        for addr in &member.client_listen {
            let listener = std::net::TcpListener::bind(addr)
                .map_err(|e| RunError::Io(format!("cannot listen on {addr}: {e}")))?;
            listener
                .set_nonblocking(true)
                .map_err(|e| RunError::Io(e.to_string()))?;
            bound.push(listener);
        }
        let mut peers = Vec::new();
        if mode == PeerMode::Tcp {
            for addr in &member.peer_listen {
                let listener = std::net::TcpListener::bind(addr)
                    .map_err(|e| RunError::Io(format!("cannot listen on {addr}: {e}")))?;
                listener
                    .set_nonblocking(true)
                    .map_err(|e| RunError::Io(e.to_string()))?;
                peers.push(listener);
            }
        }
        listeners.push((bound, peers));
    }
    let system = actix::System::new();
    let api_handle = api.handle().clone();
    system.block_on(async move {
        let network = InProcessNetwork::new();
        let directory = crate::server::handle::Directory::default();
        let dev = (members.len() > 1).then(|| crate::api::http::DevControl {
            network: network.clone(),
            members: std::sync::Arc::new(
                members
                    .iter()
                    .map(|m| (m.spec.identity.name.clone(), m.spec.identity.member_id))
                    .collect(),
            ),
        });
        let mut running = Vec::new();
        let (removed_tx, mut removed_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        for (member, (bound, peer_listeners)) in members.into_iter().zip(listeners) {
            let name = member.spec.identity.name.clone();
            let peer_network = match mode {
                PeerMode::InProcess => PeerNetwork::InProcess(&network),
                PeerMode::Tcp => {
                    let identity = &member.spec.identity;
                    let config = crate::transport::TransportConfig::new(
                        identity.cluster_id,
                        crate::raft::NodeId(identity.member_id),
                    );
                    let peers = member
                        .spec
                        .members
                        .iter()
                        .map(|m| (crate::raft::NodeId(m.id), m.peer_urls.clone()))
                        .collect();
                    let transport = crate::transport::NetworkTransport::start(
                        config,
                        api_handle.clone(),
                        &peers,
                    )
                    .map_err(|e| RunError::Config(e.to_string()))?;
                    PeerNetwork::Tcp {
                        transport: std::sync::Arc::new(transport),
                        config,
                        runtime: api_handle.clone(),
                        listeners: peer_listeners,
                    }
                }
            };
            let mut handle = start_member(member.spec, peer_network)
                .map_err(|source| RunError::Start { name, source })?;
            handle.handle.join_directory(&directory);
            let publisher = handle.handle.clone();
            api_handle.spawn(async move { publisher.publish_attributes().await });
            let (watched, removed) = (handle.handle.clone(), removed_tx.clone());
            api_handle.spawn(async move {
                let mut applied = watched.applied_changes();
                while applied.changed().await.is_ok() {
                    if watched.is_removed() {
                        let _ = removed.send(watched.identity.name.clone());
                        return;
                    }
                }
            });
            let http = start_http(handle.handle.clone(), dev.clone())?;
            for listener in bound {
                let member = handle.handle.clone();
                api_handle.spawn(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("etcd-rs: cannot serve the client port: {e}");
                            return;
                        }
                    };
                    if let Err(e) = crate::api::serve_client_port(listener, member, http).await {
                        eprintln!("etcd-rs: the client port stopped: {e}");
                    }
                });
            }
            running.push(handle);
        }
        started();
        loop {
            tokio::select! {
                () = shutdown_signal() => break,
                Some(name) = removed_rx.recv() => {
                    eprintln!("etcd-rs: member {name} has been permanently removed from the cluster");
                    // etcd stops a removed member; in dev mode the others go on.
                    if mode == PeerMode::Tcp {
                        // etcd's delay, so the answer to the removal gets out first.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
        eprintln!("etcd-rs: stopping");
        for member in running {
            member.stop();
        }
        Ok::<(), RunError>(())
    })?;
    api.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Starts the member's actix-web server on a loopback port and returns its address.
fn start_http(
    member: crate::server::handle::MemberHandle,
    dev: Option<crate::api::http::DevControl>,
) -> Result<SocketAddr, RunError> {
    let data = actix_web::web::Data::new(member);
    let dev = dev.map(actix_web::web::Data::new);
    let server = actix_web::HttpServer::new(move || {
        let app = actix_web::App::new().app_data(data.clone());
        let app = match &dev {
            Some(dev) => app
                .app_data(dev.clone())
                .configure(crate::api::http::configure_dev),
            None => app,
        };
        app.configure(crate::api::http::configure)
    })
    .workers(1)
    // A client that closes its side is gone, as Go's server takes it (it cancels the
    // request): the call in progress is dropped, so a gateway watch or a lock waiting
    // for its turn ends with its client (and the lock's queued key is deleted).
    .h1_allow_half_closed(false)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .map_err(|e| RunError::Io(format!("cannot start the HTTP server: {e}")))?;
    let addr = server.addrs()[0];
    actix_rt::spawn(server.run());
    Ok(addr)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
