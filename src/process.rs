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
    /// The corruption checks it runs.
    pub corruption: crate::server::corruption::CorruptionChecks,
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
        config.verify_bootstrap().map_err(config_error)?;
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
            },
            client_listen: listen_addresses(&config.listen_client_urls)?,
            peer_listen: listen_addresses(&config.listen_peer_urls)?,
            corruption: crate::server::corruption::CorruptionChecks {
                initial: config.experimental_initial_corrupt_check,
                interval: Some(config.experimental_corrupt_check_time).filter(|t| !t.is_zero()),
            },
        });
    }
    Ok(planned)
}

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
        for (member, (bound, peer_listeners)) in members.into_iter().zip(listeners) {
            let name = member.spec.identity.name.clone();
            let corruption = member.corruption;
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
            if corruption.initial {
                // Before serving clients, as etcd does.
                let member = handle.handle.clone();
                api_handle
                    .spawn(async move { crate::server::corruption::initial_check(&member).await })
                    .await
                    .map_err(|e| RunError::Io(e.to_string()))?
                    .map_err(RunError::Corrupt)?;
            }
            if let Some(interval) = corruption.interval {
                let monitor = crate::server::corruption::monitor(handle.handle.clone(), interval);
                handle.add_task(api_handle.spawn(monitor));
            }
            let publisher = handle.handle.clone();
            api_handle.spawn(async move { publisher.publish_attributes().await });
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
        shutdown_signal().await;
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
