//! The client port: gRPC (tonic) and HTTP (actix-web) on one listener, as etcd serves
//! them. A connection that opens with the HTTP/2 preface goes to tonic; anything else
//! is HTTP/1 and is relayed to the member's actix-web server on a loopback port. On an
//! `https://` client URL the same happens inside TLS (see [`tls`]).

mod authority;
pub mod gateway;
pub mod grpc;
pub mod grpc_metrics;
pub mod http;
pub mod learner;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;

use crate::pb::etcdserverpb::auth_server::AuthServer;
use crate::pb::etcdserverpb::{
    cluster_server::ClusterServer, kv_server::KvServer, lease_server::LeaseServer,
    maintenance_server::MaintenanceServer, watch_server::WatchServer,
};
use crate::pb::v3electionpb::election_server::ElectionServer;
use crate::pb::v3lockpb::lock_server::LockServer;
use crate::server::handle::MemberHandle;
use authority::AuthorityFix;
use tls::ClientStream;

/// The HTTP/2 connection preface every gRPC client sends first.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
/// etcd's allowance for gRPC framing on top of --max-request-bytes.
pub(crate) const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;
/// gRPC connections waiting to be taken by tonic (a bound, not a queue to grow).
const PENDING_GRPC_CONNECTIONS_MAX: usize = 1024;

/// Resolves once a member's client port stops (dev mode stops members on demand).
pub type Stopped = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A future that resolves once `stop` says true (or its sender is gone: never).
pub fn stopped(stop: &tokio::sync::watch::Receiver<bool>) -> Stopped {
    let mut stop = stop.clone();
    Box::pin(async move {
        if stop.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
    })
}

/// File descriptors kept out of the client connections' share: fjall's journals and
/// segments, peer connections, listeners, and the loopback relay of HTTP connections.
const FDS_RESERVED: usize = 512;
/// The descriptor limit assumed when `/proc/self/limits` cannot be read (Linux's usual
/// soft limit).
const FDS_LIMIT_ASSUMED: usize = 1024;
/// How long the accept loop waits after a failed accept (e.g. EMFILE) before it tries
/// again, instead of spinning on the error.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Descriptors an HTTP connection takes besides its own (see `accept`).
const RELAY_EXTRA_FDS: u32 = 2;

/// The descriptors the process's client connections may hold at once, over all its
/// client ports: half the open-files limit, or all of it but [`FDS_RESERVED`], whichever
/// is more. A gRPC connection holds one, an HTTP connection three (it is relayed to the
/// actix-web server over loopback). Beyond the bound, new connections wait in the
/// kernel's listen backlog until one closes, so that a flood of connections cannot take
/// the descriptors the member needs for its own files (a failed segment open fails
/// reads and writes).
fn client_connections_max() -> usize {
    let limit = crate::metrics::os::fd_limit()
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(FDS_LIMIT_ASSUMED);
    (limit / 2).max(limit.saturating_sub(FDS_RESERVED)).max(1)
}

/// The process-wide permits of [`client_connections_max`].
fn connection_permits() -> std::sync::Arc<tokio::sync::Semaphore> {
    static PERMITS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    PERMITS
        .get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(client_connections_max())))
        .clone()
}

/// grpc-go's keepalive defaults, used when a flag is 0.
const GRPC_KEEPALIVE_INTERVAL_DEFAULT: Duration = Duration::from_secs(2 * 60 * 60);
/// See [`GRPC_KEEPALIVE_INTERVAL_DEFAULT`].
const GRPC_KEEPALIVE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(20);

/// The error of every connection of a stopped client port.
fn port_stopped() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "the member stopped")
}

/// Serves `member`'s client port on `listener` until the process stops, or until `stop`
/// says true: then the port closes and every connection on it breaks, as if the
/// member's process had died. `http` is the loopback address of the member's actix-web
/// server. With `tls` (an `https://` URL), every connection is TLS.
pub async fn serve_client_port(
    listener: TcpListener,
    member: MemberHandle,
    http: SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> Result<(), tonic::transport::Error> {
    let (grpc_tx, grpc_rx) = mpsc::channel::<Permitted>(PENDING_GRPC_CONNECTIONS_MAX);
    tokio::spawn(accept(listener, grpc_tx, http, stop.clone(), tls));
    let max_request = member.limits.max_request_bytes + GRPC_OVERHEAD_BYTES;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let incoming =
        tokio_stream::StreamExt::map(ReceiverStream::new(grpc_rx), |(stream, permit)| {
            Ok::<_, std::io::Error>(AuthorityFix::new(stream, stopped(&stop), permit))
        });
    let limits = &member.limits;
    // etcd's gRPC server options. --grpc-keepalive-min-time (the shortest interval a
    // client may ping at) has no counterpart in hyper's HTTP/2 server, which answers
    // every ping; it is accepted and not enforced.
    // Zero means gRPC's defaults, as in etcd (grpc-go's keepalive parameters).
    let or_default = |d: Duration, default: Duration| if d.is_zero() { default } else { d };
    Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(or_default(
            limits.grpc_keepalive_interval,
            GRPC_KEEPALIVE_INTERVAL_DEFAULT,
        )))
        .http2_keepalive_timeout(Some(or_default(
            limits.grpc_keepalive_timeout,
            GRPC_KEEPALIVE_TIMEOUT_DEFAULT,
        )))
        .layer(tls::layer())
        .layer(learner::layer(member.clone()))
        .layer(grpc_metrics::layer(member.metrics.grpc.clone()))
        .add_service(health_service)
        .add_service(
            KvServer::new(grpc::kv::KvService::new(member.clone()))
                .max_decoding_message_size(max_request)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            MaintenanceServer::new(grpc::maintenance::MaintenanceService::new(member.clone()))
                .max_decoding_message_size(max_request),
        )
        .add_service(
            WatchServer::new(grpc::watch::WatchService::new(member.clone()))
                .max_decoding_message_size(max_request)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(LeaseServer::new(grpc::lease::LeaseService::new(
            member.clone(),
        )))
        .add_service(LockServer::new(grpc::lock::LockService::new(
            member.clone(),
        )))
        .add_service(ElectionServer::new(grpc::election::ElectionService::new(
            member.clone(),
        )))
        .add_service(AuthServer::new(grpc::auth::AuthService::new(
            member.clone(),
        )))
        .add_service(
            ClusterServer::new(grpc::cluster::ClusterService::new(member))
                .max_decoding_message_size(max_request),
        )
        .serve_with_incoming(incoming)
        .await
}

/// The common name of the client's verified certificate, when it presented one (TLS
/// with --client-cert-auth): etcd's user for a request without a token. Plain TCP
/// connections have none.
pub fn client_common_name(extensions: &tonic::Extensions) -> Option<String> {
    extensions
        .get::<tls::VerifiedClientCn>()
        .map(|cn| cn.0.clone())
}

/// Serves an `https://` metrics URL on `listener`: each connection's TLS handshake,
/// then its bytes relayed to the metrics HTTP server at `http`, as the client port
/// relays HTTP/1 (a connection that opens with HTTP/2's preface is closed: the metrics
/// URLs serve no gRPC). Runs until `stop`.
pub async fn serve_metrics_tls(
    listener: TcpListener,
    http: SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
    tls: tokio_rustls::TlsAcceptor,
) {
    let (no_grpc, _) = mpsc::channel(1);
    accept(listener, no_grpc, http, stop, Some(tls)).await;
}

/// An accepted connection and its descriptor among [`client_connections_max`].
type Permitted = (ClientStream, tokio::sync::OwnedSemaphorePermit);

async fn accept(
    listener: TcpListener,
    grpc: mpsc::Sender<Permitted>,
    http: SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut port_stopped = stopped(&stop);
    let permits = connection_permits();
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
            () = &mut port_stopped => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // Dropping the listener closes the port.
            () = &mut port_stopped => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors, or a connection reset before it was accepted: try
            // again a little later rather than spin on the error.
            tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
            continue;
        };
        let stop = stop.clone();
        let _ = stream.set_nodelay(true);
        let grpc = grpc.clone();
        let permits = permits.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let mut first = [0u8; HTTP2_PREFACE.len()];
            let (stream, n) = match tls {
                None => match peek_exact(&stream, &mut first).await {
                    // Closed before a byte: nothing to serve.
                    Ok(0) | Err(_) => return,
                    Ok(n) => (ClientStream::Plain(stream), n),
                },
                Some(acceptor) => {
                    let opened = tokio::time::timeout(
                        tls::HANDSHAKE_TIMEOUT,
                        open_tls(acceptor, stream, &mut first),
                    );
                    match opened.await {
                        Ok(Ok((stream, n))) if n > 0 => (stream, n),
                        // A failed handshake (a refused certificate, say), a client that
                        // closed, or one too slow: nothing to serve.
                        _ => return,
                    }
                }
            };
            if first[..n] == *HTTP2_PREFACE {
                let _ = grpc.send((stream, permit)).await;
            } else {
                // The relay takes two more descriptors: its own connection to the
                // actix-web server, and that server's end of it.
                let Ok(relayed) = permits.acquire_many_owned(RELAY_EXTRA_FDS).await else {
                    return;
                };
                tokio::select! {
                    () = relay(stream, http) => {}
                    () = stopped(&stop) => {}
                }
                drop((permit, relayed));
            }
        });
    }
}

/// Does the TLS handshake, then reads until `buf` is full, the client stops sending what
/// could be a preface, or closes: the stream replays those bytes.
async fn open_tls(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    buf: &mut [u8],
) -> std::io::Result<(ClientStream, usize)> {
    let mut stream = Box::new(acceptor.accept(stream).await?);
    let n = read_prefix(&mut stream, buf).await?;
    Ok((
        ClientStream::Tls {
            stream,
            replay: buf[..n].to_vec(),
            replayed: 0,
        },
        n,
    ))
}

/// Reads until `buf` is full, the peer stops sending what could be a preface, or closes.
async fn read_prefix<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let read = reader.read(&mut buf[n..]).await?;
        if read == 0 {
            break;
        }
        n += read;
        if buf[..n] != HTTP2_PREFACE[..n] {
            break;
        }
    }
    Ok(n)
}

/// Peeks until `buf` is full, the peer stops sending what could be a preface, or closes.
async fn peek_exact(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let n = stream.peek(buf).await?;
        if n == 0 || n == buf.len() || buf[..n] != HTTP2_PREFACE[..n] {
            return Ok(n);
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

async fn relay(mut client: ClientStream, http: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(http).await else {
        let mut discard = [0u8; 1];
        let _ = client.read(&mut discard).await;
        return;
    };
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
