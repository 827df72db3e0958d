//! Running members in this process: the actix System for the actors, a tokio runtime
//! for the client ports, and the one shutdown path (Ctrl-C or SIGTERM).
//!
//! Used by both modes: `etcd-rs [etcd flags]` runs one member, `etcd-rs dev` several,
//! wired by the in-process transport.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::api::http::DevRefusal;
use crate::config::MemberConfig;
use crate::server::handle::{Identity, Limits, MemberInfo};
use crate::server::member::{
    MemberSpec, PeerNetwork, RunningMember, StartError, StorageKind, start_member,
};
use crate::server::transport::InProcessNetwork;

/// A member ready to start: its spec and where its client port listens.
#[derive(Clone)]
pub struct PlannedMember {
    /// What to start.
    pub spec: MemberSpec,
    /// The addresses of --listen-client-urls.
    pub client_listen: Vec<SocketAddr>,
    /// Whether each of `client_listen` is an `https://` URL.
    pub client_https: Vec<bool>,
    /// The TLS of the `https://` client URLs, if there are any.
    pub client_tls: Option<tokio_rustls::TlsAcceptor>,
    /// How it dials other members' `https://` client URLs, if it can.
    pub client_dialer: Option<tokio_rustls::TlsConnector>,
    /// The addresses of --listen-peer-urls (served when peers are reached over TCP).
    pub peer_listen: Vec<SocketAddr>,
    /// Whether each of `peer_listen` is an `https://` URL.
    pub peer_https: Vec<bool>,
    /// The TLS of the peer URLs (serving `https://` ones, dialing `https://` peers).
    pub peer_tls: Option<crate::tls::PeerTls>,
    /// --enable-grpc-gateway: whether the client port serves the JSON gateway.
    pub grpc_gateway: bool,
    /// The addresses of --listen-metrics-urls (`/metrics` and `/health` only).
    pub metrics_listen: Vec<SocketAddr>,
    /// Whether each of `metrics_listen` is an `https://` URL.
    pub metrics_https: Vec<bool>,
    /// The TLS of the `https://` metrics URLs, if there are any.
    pub metrics_tls: Option<tokio_rustls::TlsAcceptor>,
    /// The corruption checks it runs.
    pub corruption: crate::server::corruption::CorruptionChecks,
    /// --auto-compaction-mode and --auto-compaction-retention.
    pub auto_compaction: crate::config::AutoCompaction,
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
    /// The initial corruption check found a member whose data differs (etcd's message).
    #[error("{0}")]
    Corrupt(String),
    /// A member stopped because writing its raft log failed (a failed fsync, a full
    /// disk): the process exits, as etcd does, and restarts from what is on disk.
    #[error(
        "member {0} stopped: its raft log could not be written (see above); restart it once the disk is sound"
    )]
    StorageFailed(String),
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
    let tls_error = |e: crate::tls::TlsError| RunError::Config(e.to_string());
    for config in configs {
        let (provider, warnings) =
            crate::tls::cipher_provider(&config.cipher_suites).map_err(tls_error)?;
        for warning in warnings {
            eprintln!("{warning}");
        }
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
                    max_concurrent_streams: config.max_concurrent_streams,
                    grpc_keepalive_interval: config.grpc_keepalive_interval,
                    grpc_keepalive_timeout: config.grpc_keepalive_timeout,
                    strict_reconfig_check: config.strict_reconfig_check,
                },
                watch_progress_interval: config.experimental_watch_progress_notify_interval,
                snapshot_count: config.snapshot_count,
                quota_bytes: config.quota_backend_bytes_limit(),
                join: config.initial_cluster_state == crate::config::ClusterState::Existing,
                extensive_metrics: config.metrics == "extensive",
                auth: crate::auth::AuthConfig {
                    token_ttl: Duration::from_secs(config.auth_token_ttl),
                    bcrypt_cost: config.bcrypt_cost as u32,
                    jwt: config.jwt_tokens().map_err(config_error)?,
                },
            },
            client_listen: listen_addresses(&config.listen_client_urls)?,
            client_https: https_flags(&config.listen_client_urls),
            client_tls: crate::tls::client_acceptor(config, &provider).map_err(tls_error)?,
            client_dialer: crate::tls::client_dialer(config, &provider).map_err(tls_error)?,
            peer_listen: listen_addresses(&config.listen_peer_urls)?,
            peer_https: https_flags(&config.listen_peer_urls),
            peer_tls: crate::tls::peer_tls(config, &provider).map_err(tls_error)?,
            grpc_gateway: config.enable_grpc_gateway,
            metrics_listen: listen_addresses(&config.listen_metrics_urls)?,
            metrics_https: https_flags(&config.listen_metrics_urls),
            metrics_tls: crate::tls::metrics_acceptor(config, &provider).map_err(tls_error)?,
            auto_compaction: config.auto_compaction().map_err(config_error)?,
            corruption: crate::server::corruption::CorruptionChecks {
                initial: config.experimental_initial_corrupt_check,
                interval: Some(config.experimental_corrupt_check_time).filter(|t| !t.is_zero()),
            },
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
            import_etcd_backend(config, planned.spec.join)?;
            let identity = if planned.spec.join {
                let tls = planned.peer_tls.as_ref().map(|t| &t.connector);
                let (identity, members) = join_cluster(config, tls)?;
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

/// On a member's first start on a data dir that `etcdctl snapshot restore` made: etcd's
/// backend becomes this member's store, which then starts a new cluster from the flags,
/// as etcd starts on a restored data dir (see [`crate::snapshot::import`]).
fn import_etcd_backend(config: &MemberConfig, join: bool) -> Result<(), RunError> {
    use crate::snapshot::import::{self, ImportError};
    let dir = &config.data_dir;
    let restored = dir.join(import::RESTORED_DB).is_file()
        || dir.join(import::MOVED_ETCD_DIR).join("snap/db").is_file();
    if !restored {
        return Ok(());
    }
    if join {
        return Err(RunError::Config(format!(
            "{} holds a restored etcd snapshot: start its member with --initial-cluster-state new, as etcd starts restored members",
            dir.display()
        )));
    }
    let outcome = import::import_restored(dir, |db| {
        let store = crate::storage::MemberStore::open(dir)
            .map_err(|e| ImportError::Store(e.to_string()))?;
        let mut backend = store.mvcc_backend();
        let imported = import::import(db, &mut backend)?;
        store
            .sync()
            .map_err(|e| ImportError::Store(e.to_string()))?;
        Ok(imported)
    })
    .map_err(|e| {
        RunError::Config(format!(
            "cannot import the etcd snapshot restored in {}: {e}",
            dir.display()
        ))
    })?;
    if let Some((imported, db)) = outcome {
        let compacted = imported
            .compacted
            .map_or(String::new(), |rev| format!(", compacted at {rev}"));
        eprintln!(
            "etcd-rs: imported etcd's backend {}: {} records up to revision {}{compacted}, {} leases, {} users and {} roles (auth {}), {} alarms; etcd's restored files stay in {}",
            db.display(),
            imported.records,
            imported.revision,
            imported.leases,
            imported.users,
            imported.roles,
            if imported.auth_enabled {
                "enabled"
            } else {
                "disabled"
            },
            imported.alarms,
            dir.join(import::MOVED_ETCD_DIR).display()
        );
    }
    Ok(())
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
fn join_cluster(
    config: &MemberConfig,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<(StoredIdentity, Vec<MemberInfo>), RunError> {
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
            let info = match runtime.block_on(crate::transport::network::query_members(url, tls)) {
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

/// Whether each URL is `https://`.
fn https_flags(urls: &[String]) -> Vec<bool> {
    urls.iter().map(|u| u.starts_with("https://")).collect()
}

fn listen_addresses(urls: &[String]) -> Result<Vec<SocketAddr>, RunError> {
    let mut out = Vec::new();
    for url in urls {
        let host_port = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
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

/// Binds `addrs` (non-blocking, for tokio).
fn bind_all(addrs: &[SocketAddr]) -> Result<Vec<std::net::TcpListener>, RunError> {
    let mut bound = Vec::new();
    for addr in addrs {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| RunError::Io(format!("cannot listen on {addr}: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| RunError::Io(e.to_string()))?;
        bound.push(listener);
    }
    Ok(bound)
}

/// A bound client listener and the TLS of its connections, if its URL is `https://`.
type Listener = (std::net::TcpListener, Option<tokio_rustls::TlsAcceptor>);
/// A bound peer listener and the TLS of its connections, if its URL is `https://`.
type PeerListener = (std::net::TcpListener, Option<crate::tls::PeerAcceptor>);

/// Binds `addrs`, pairing each with `tls` where `https` says so.
fn bind_tls<T: Clone>(
    addrs: &[SocketAddr],
    https: &[bool],
    tls: Option<&T>,
) -> Result<Vec<(std::net::TcpListener, Option<T>)>, RunError> {
    Ok(bind_all(addrs)?
        .into_iter()
        .zip(https.iter().chain(std::iter::repeat(&false)))
        .map(|(listener, https)| (listener, tls.filter(|_| *https).cloned()))
        .collect())
}

/// Binds a member's client URLs.
fn bind_client(member: &PlannedMember) -> Result<Vec<Listener>, RunError> {
    bind_tls(
        &member.client_listen,
        &member.client_https,
        member.client_tls.as_ref(),
    )
}

/// Binds a member's metrics URLs.
fn bind_metrics(member: &PlannedMember) -> Result<Vec<Listener>, RunError> {
    bind_tls(
        &member.metrics_listen,
        &member.metrics_https,
        member.metrics_tls.as_ref(),
    )
}

/// Binds a member's peer URLs.
fn bind_peer(member: &PlannedMember) -> Result<Vec<PeerListener>, RunError> {
    let tls = member.peer_tls.as_ref().and_then(|t| t.acceptor.as_ref());
    bind_tls(&member.peer_listen, &member.peer_https, tls)
}

/// A member running in this process: its actors and what serves its client port.
struct Launched {
    member: RunningMember,
    stop_port: tokio::sync::watch::Sender<bool>,
    http: actix_web::dev::ServerHandle,
    /// The server of --listen-metrics-urls, if any.
    metrics_http: Option<actix_web::dev::ServerHandle>,
}

/// A member's bound listeners.
struct Bound {
    client: Vec<Listener>,
    peer: Vec<PeerListener>,
    metrics: Vec<Listener>,
}

/// Starts (and in dev mode stops and restarts) the members of this process.
#[derive(Clone)]
struct Launcher {
    mode: PeerMode,
    network: InProcessNetwork,
    directory: crate::server::handle::Directory,
    api: tokio::runtime::Handle,
    dev: Option<crate::api::http::DevControl>,
    removed: tokio::sync::mpsc::UnboundedSender<String>,
    /// Names of members whose raft log failed (their RaftNode stopped).
    failed: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Launcher {
    /// Starts `planned` on its bound listeners. MUST run inside the actix System.
    fn launch(&self, planned: &PlannedMember, bound: Bound) -> Result<Launched, RunError> {
        let member = self.start(planned, bound.peer)?;
        self.serve(planned, member, bound.client, bound.metrics)
    }

    /// Starts `planned`'s actors and peer port (not its client port yet).
    fn start(
        &self,
        planned: &PlannedMember,
        peer: Vec<PeerListener>,
    ) -> Result<RunningMember, RunError> {
        let name = planned.spec.identity.name.clone();
        let peer_network = match self.mode {
            PeerMode::InProcess => PeerNetwork::InProcess(&self.network),
            PeerMode::Tcp => {
                let identity = &planned.spec.identity;
                let config = crate::transport::TransportConfig::new(
                    identity.cluster_id,
                    crate::raft::NodeId(identity.member_id),
                );
                let peers = planned
                    .spec
                    .members
                    .iter()
                    .map(|m| (crate::raft::NodeId(m.id), m.peer_urls.clone()))
                    .collect();
                let tls = planned.peer_tls.as_ref().map(|t| t.connector.clone());
                let transport = crate::transport::NetworkTransport::start_with_tls(
                    config,
                    self.api.clone(),
                    &peers,
                    tls,
                )
                .map_err(|e| RunError::Config(e.to_string()))?;
                PeerNetwork::Tcp {
                    transport: std::sync::Arc::new(transport),
                    config,
                    runtime: self.api.clone(),
                    listeners: peer,
                }
            }
        };
        let mut member = start_member(planned.spec.clone(), peer_network)
            .map_err(|source| RunError::Start { name, source })?;
        member.handle.join_directory(&self.directory);
        if let Some(tls) = &planned.client_dialer {
            member.handle.dial_client_urls_with(tls.clone());
        }
        if let Some(tls) = &planned.peer_tls {
            member.handle.dial_peer_urls_with(tls.connector.clone());
        }
        if planned.auto_compaction != crate::config::AutoCompaction::Disabled {
            let compactor =
                crate::server::compactor::run(member.handle.clone(), planned.auto_compaction);
            member.add_task(self.api.spawn(compactor));
        }
        if let Some(interval) = planned.corruption.interval {
            let monitor = crate::server::corruption::monitor(member.handle.clone(), interval);
            member.add_task(self.api.spawn(monitor));
        }
        Ok(member)
    }

    /// Serves a started member's client port (and metrics URLs) on its bound listeners.
    fn serve(
        &self,
        planned: &PlannedMember,
        member: RunningMember,
        client: Vec<Listener>,
        metrics: Vec<Listener>,
    ) -> Result<Launched, RunError> {
        let publisher = member.handle.clone();
        self.api
            .spawn(async move { publisher.publish_attributes().await });
        let (watched, removed) = (member.handle.clone(), self.removed.clone());
        self.api.spawn(async move {
            let mut applied = watched.applied_changes();
            while applied.changed().await.is_ok() {
                if watched.is_removed() {
                    let _ = removed.send(watched.identity.name.clone());
                    return;
                }
            }
        });
        let (watched, failed) = (member.handle.clone(), self.failed.clone());
        self.api.spawn(async move {
            let mut status = watched.status_changes();
            while status.changed().await.is_ok() {
                if !status.borrow().running {
                    let _ = failed.send(watched.identity.name.clone());
                    return;
                }
            }
        });
        let (http_addr, http) = start_http(
            member.handle.clone(),
            self.dev.clone(),
            planned.grpc_gateway,
        )?;
        // `https://` metrics URLs are relayed, after their TLS handshake, to the metrics
        // server on a loopback port of its own; plain ones are served by it directly.
        let (mut plain_metrics, mut tls_metrics) = (Vec::new(), Vec::new());
        for (listener, tls) in metrics {
            match tls {
                None => plain_metrics.push(listener),
                Some(tls) => tls_metrics.push((listener, tls)),
            }
        }
        let metrics_loopback = if tls_metrics.is_empty() {
            None
        } else {
            let loopback = std::net::TcpListener::bind(("127.0.0.1", 0))
                .map_err(|e| RunError::Io(format!("cannot serve the metrics URLs: {e}")))?;
            let address = loopback
                .local_addr()
                .map_err(|e| RunError::Io(format!("cannot serve the metrics URLs: {e}")))?;
            plain_metrics.push(loopback);
            Some(address)
        };
        let metrics_http = if plain_metrics.is_empty() {
            None
        } else {
            Some(start_metrics_http(member.handle.clone(), plain_metrics)?)
        };
        let (stop_port, stop) = tokio::sync::watch::channel(false);
        if let Some(http) = metrics_loopback {
            for (listener, tls) in tls_metrics {
                let stop = stop.clone();
                self.api.spawn(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            crate::api::serve_metrics_tls(listener, http, stop, tls).await;
                        }
                        Err(e) => eprintln!("etcd-rs: cannot serve a metrics URL: {e}"),
                    }
                });
            }
        }
        for (listener, tls) in client {
            let (member, stop) = (member.handle.clone(), stop.clone());
            self.api.spawn(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("etcd-rs: cannot serve the client port: {e}");
                        return;
                    }
                };
                if let Err(e) =
                    crate::api::serve_client_port(listener, member, http_addr, stop, tls).await
                {
                    eprintln!("etcd-rs: the client port stopped: {e}");
                }
            });
        }
        Ok(Launched {
            member,
            stop_port,
            http,
            metrics_http,
        })
    }

    /// Stops a launched member: its client port closes, its connections break, its
    /// actors stop.
    fn stop(&self, launched: Launched) {
        let _ = launched.stop_port.send(true);
        self.directory
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&launched.member.handle.identity.member_id);
        self.api.spawn(launched.http.stop(false));
        if let Some(metrics_http) = launched.metrics_http {
            self.api.spawn(metrics_http.stop(false));
        }
        launched.member.stop();
    }
}

/// Dev mode's members by name: stopped and started on demand.
struct DevMembers {
    launcher: std::sync::OnceLock<Launcher>,
    members: std::sync::Mutex<Vec<(PlannedMember, Option<Launched>)>>,
    ephemeral: bool,
}

impl crate::api::http::DevFaults for DevMembers {
    fn id(&self, name: &str) -> Option<u64> {
        self.lock()
            .iter()
            .find(|(p, _)| p.spec.identity.name == name)
            .map(|(p, _)| p.spec.identity.member_id)
    }

    fn stop(&self, name: &str) -> Result<String, DevRefusal> {
        if self.ephemeral {
            return Err(DevRefusal::Refused(
                "the members of an --ephemeral cluster keep their state in memory: stopping one would lose it (isolate it instead)".into(),
            ));
        }
        let launcher = self.launcher()?;
        let mut members = self.lock();
        let (_, launched) = find(&mut members, name)?;
        let launched = launched
            .take()
            .ok_or_else(|| DevRefusal::Refused(format!("{name} is stopped already")))?;
        launcher.stop(launched);
        Ok(format!("stopped {name}"))
    }

    fn start(&self, name: &str) -> Result<String, DevRefusal> {
        let launcher = self.launcher()?;
        let mut members = self.lock();
        let (planned, launched) = find(&mut members, name)?;
        if launched.is_some() {
            return Err(DevRefusal::Refused(format!("{name} is running already")));
        }
        // The previous run's ports and store close as its actors finish stopping: until
        // then this fails, and the caller tries again.
        let started = bind_client(planned).and_then(|client| {
            let bound = Bound {
                client,
                peer: Vec::new(),
                metrics: bind_metrics(planned)?,
            };
            launcher.launch(planned, bound)
        });
        let started = started.map_err(|e| DevRefusal::Busy(format!("cannot start {name}: {e}")))?;
        *launched = Some(started);
        Ok(format!("started {name}"))
    }
}

/// Member `name` of dev mode's members.
fn find<'a>(
    members: &'a mut [(PlannedMember, Option<Launched>)],
    name: &str,
) -> Result<&'a mut (PlannedMember, Option<Launched>), DevRefusal> {
    members
        .iter_mut()
        .find(|(p, _)| p.spec.identity.name == name)
        .ok_or_else(|| DevRefusal::NoMember(name.to_string()))
}

impl DevMembers {
    fn launcher(&self) -> Result<&Launcher, DevRefusal> {
        self.launcher
            .get()
            .ok_or_else(|| DevRefusal::Busy("the dev cluster is still starting".into()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(PlannedMember, Option<Launched>)>> {
        self.members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Starts the planned members, calls `started` once every client port listens, and
/// runs until Ctrl-C or SIGTERM (or, for one member over TCP, until it is removed from
/// the cluster).
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
    // Bind every port first, so a port in use fails before anything starts.
    let mut listeners = Vec::new();
    for member in &members {
        let client = bind_client(member)?;
        let peer = match mode {
            PeerMode::Tcp => bind_peer(member)?,
            PeerMode::InProcess => Vec::new(),
        };
        let metrics = bind_metrics(member)?;
        listeners.push(Bound {
            client,
            peer,
            metrics,
        });
    }
    let ephemeral = members
        .iter()
        .any(|m| matches!(m.spec.storage, StorageKind::Memory));
    let system = actix::System::new();
    let api_handle = api.handle().clone();
    system.block_on(async move {
        let network = InProcessNetwork::new();
        let dev_members = std::sync::Arc::new(DevMembers {
            launcher: std::sync::OnceLock::new(),
            members: std::sync::Mutex::new(Vec::new()),
            ephemeral,
        });
        let dev = (mode == PeerMode::InProcess).then(|| crate::api::http::DevControl {
            network: network.clone(),
            members: dev_members.clone(),
        });
        let (removed_tx, mut removed_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let (failed_tx, mut failed_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let launcher = Launcher {
            mode,
            network,
            directory: crate::server::handle::Directory::default(),
            api: api_handle.clone(),
            dev,
            removed: removed_tx,
            failed: failed_tx,
        };
        for (member, bound) in members.into_iter().zip(listeners) {
            let running = launcher.start(&member, bound.peer)?;
            if member.corruption.initial {
                // Before serving clients, as etcd does.
                let handle = running.handle.clone();
                let checked = api_handle
                    .spawn(async move { crate::server::corruption::initial_check(&handle).await })
                    .await
                    .map_err(|e| RunError::Io(e.to_string()))?;
                if let Err(e) = checked {
                    running.stop();
                    return Err(RunError::Corrupt(e));
                }
            }
            let launched = launcher.serve(&member, running, bound.client, bound.metrics)?;
            dev_members.lock().push((member, Some(launched)));
        }
        let _ = dev_members.launcher.set(launcher.clone());
        started();
        let mut outcome = Ok(());
        loop {
            tokio::select! {
                () = shutdown_signal() => break,
                Some(name) = failed_rx.recv() => {
                    // A failed fsync may have lost what the page cache still shows: the
                    // member never acknowledges another write (its RaftNode stopped), and
                    // with one member per process the process exits, as etcd does. In dev
                    // mode the others go on, as after `stop/{name}`.
                    if mode == PeerMode::Tcp {
                        outcome = Err(RunError::StorageFailed(name));
                        break;
                    }
                    eprintln!("etcd-rs: member {name} stopped: its raft log could not be written");
                }
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
        for (_, launched) in dev_members.lock().drain(..) {
            if let Some(launched) = launched {
                launcher.stop(launched);
            }
        }
        outcome
    })?;
    api.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Starts the member's actix-web server on a loopback port and returns its address.
fn start_http(
    member: crate::server::handle::MemberHandle,
    dev: Option<crate::api::http::DevControl>,
    gateway: bool,
) -> Result<(SocketAddr, actix_web::dev::ServerHandle), RunError> {
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
        app.configure(|config| crate::api::http::configure(config, gateway))
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
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((addr, handle))
}

/// Serves `/metrics` and `/health` of the member on its --listen-metrics-urls.
fn start_metrics_http(
    member: crate::server::handle::MemberHandle,
    listeners: Vec<std::net::TcpListener>,
) -> Result<actix_web::dev::ServerHandle, RunError> {
    let data = actix_web::web::Data::new(member);
    let mut server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .configure(crate::api::http::configure_metrics)
    })
    .workers(1)
    .disable_signals();
    for listener in listeners {
        server = server
            .listen(listener)
            .map_err(|e| RunError::Io(format!("cannot serve the metrics URL: {e}")))?;
    }
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok(handle)
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
