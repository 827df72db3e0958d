//! [`NetworkTransport`]: the sending side of the peer transport. One outgoing TCP
//! connection per peer, fed by a bounded queue and written by one task per peer.
//!
//! # What happens to a message
//!
//! 1. [`Transport::send`] (called on the RaftNode's thread) pushes it into its peer's
//!    queue and returns at once. A full queue, or a peer this transport does not know,
//!    loses the message and counts it: Raft retries.
//! 2. The peer's writer task takes up to [`WRITE_BATCH_MESSAGES`] queued messages,
//!    encodes them (a large one as 1 MiB chunks, see [`super::codec`]) and writes them in
//!    as few writes as possible (one per [`FLUSH_BYTES`]).
//! 3. If the connection is down, the writer reconnects with exponential backoff from
//!    [`RECONNECT_BACKOFF_MIN`] to [`RECONNECT_BACKOFF_MAX`]. Messages queued while it
//!    waits between attempts are dropped (and counted): a stale backlog is useless to
//!    Raft, which sends fresh messages once the peer answers again.
//!
//! Each connection opens with a hello frame (cluster ID, our ID, the peer's ID); the peer
//! answers welcome or refuse (with a reason, which is logged here and on the peer).
//!
//! # Reports for the RaftNode
//!
//! [`PeerReports`] (from [`NetworkTransport::reports`]) tells the RaftNode which peers are
//! unreachable right now and how snapshot sends ended; the module docs of
//! [`crate::transport`] show how to feed them to `RawNode::report_unreachable` and
//! `RawNode::report_snapshot`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::codec::DEFAULT_MAX_MESSAGE_BYTES;
use super::peer_writer::PeerWriter;
use crate::raft::{Message, NodeId};
use crate::server::transport::Transport;

/// Messages one peer's queue holds. Raft keeps at most `max_inflight_msgs` (256) appends
/// in flight per follower plus heartbeats and votes, so this is ample headroom for a
/// connected peer; beyond it messages are dropped rather than queued without bound.
pub const PEER_QUEUE_MESSAGES: usize = 4096;

/// Bytes of entries, contexts and snapshot data one peer's queue holds; a message that
/// does not fit is dropped, except that one message of any size (a snapshot) is accepted
/// into an empty queue. Bounds memory when a slow peer is sent large appends.
pub const PEER_QUEUE_BYTES: u64 = 64 << 20;

/// Messages the writer takes from the queue per batch.
pub const WRITE_BATCH_MESSAGES: usize = 512;

/// The writer writes once its buffer reaches this size, and at the end of each batch.
pub const FLUSH_BYTES: usize = 1 << 20;

/// The first pause after a failed connection attempt.
pub const RECONNECT_BACKOFF_MIN: Duration = Duration::from_millis(50);

/// The longest pause between connection attempts; well under etcd's default election
/// timeout (1 s) so a restarted peer is heard again quickly.
pub const RECONNECT_BACKOFF_MAX: Duration = Duration::from_millis(800);

/// How long connecting and the hello/welcome exchange may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one write may block before the connection is deemed dead (etcd's
/// `ConnWriteTimeout`).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a writer pings its peer (the first ping one interval after connecting). Each
/// pong is one observation of `etcd_network_peer_round_trip_time_seconds` (etcd probes
/// every 4 s and records a smoothed value every 30 s).
pub const PING_INTERVAL: Duration = Duration::from_secs(1);

/// Snapshot outcomes kept for the RaftNode to collect; the oldest go first beyond this.
pub const MAX_SNAPSHOT_REPORTS: usize = 1024;

/// Who this member is on the peer network, and the largest message it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportConfig {
    /// The cluster; peers of another cluster are refused.
    pub cluster_id: u64,
    /// This member.
    pub local_id: NodeId,
    /// The largest encoded message sent or received (a snapshot, mostly); see
    /// [`DEFAULT_MAX_MESSAGE_BYTES`].
    pub max_message_bytes: u64,
}

impl TransportConfig {
    /// The configuration of member `local_id` of cluster `cluster_id`, with the default
    /// message limit.
    pub fn new(cluster_id: u64, local_id: NodeId) -> TransportConfig {
        TransportConfig {
            cluster_id,
            local_id,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Why a peer could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A peer URL is not `http://host:port`.
    #[error("unsupported peer URL {url:?}: {why}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Where a peer URL points: `host:port` to connect to, the host (the name its TLS
/// certificate must be valid for), and whether to speak TLS (`https://`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerTarget {
    /// `host:port`.
    pub address: String,
    /// The host, without IPv6 brackets.
    pub host: String,
    /// Whether the URL is `https://`.
    pub tls: bool,
}

/// Reads `http://host:port[/]` or `https://host:port[/]`.
pub fn peer_target(url: &str) -> Result<PeerTarget, TransportError> {
    let bad = |why| TransportError::BadUrl {
        url: url.to_owned(),
        why,
    };
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(bad("expected http://host:port or https://host:port"));
    };
    let host_port = rest.trim_end_matches('/');
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(PeerTarget {
            address: host_port.to_owned(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            tls,
        }),
        _ => Err(bad("expected http://host:port or https://host:port")),
    }
}

/// Turns `http://host:port[/]` (or `https://`) into `host:port`.
pub fn peer_address(url: &str) -> Result<String, TransportError> {
    peer_target(url).map(|t| t.address)
}

/// A connection to a peer, plain or TLS.
pub(super) trait PeerIo: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> PeerIo for T {}

/// A connection to or from a peer.
pub(super) type PeerStream = Box<dyn PeerIo>;

/// Connects to `target`, over TLS with `tls` if its URL is `https://`.
pub(super) async fn dial(
    target: &PeerTarget,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<PeerStream, String> {
    let stream = tokio::net::TcpStream::connect(&target.address)
        .await
        .map_err(|e| e.to_string())?;
    // Batching is done by the writer; do not let Nagle delay heartbeats.
    let _ = stream.set_nodelay(true);
    if !target.tls {
        return Ok(Box::new(stream));
    }
    let connector = tls.ok_or_else(|| {
        "an https:// peer URL, and no peer TLS (give --peer-trusted-ca-file, --peer-cert-file and --peer-key-file, or --peer-auto-tls)".to_string()
    })?;
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|e| format!("peer host {:?}: {e}", target.host))?;
    let stream = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS: {e}"))?;
    Ok(Box::new(stream))
}

/// Asks the member at peer URL `url` for the cluster's members (a joining member's
/// first step): the JSON it answers. `tls` dials `https://` URLs.
pub async fn query_members(
    url: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<Vec<u8>, String> {
    let mut query = Vec::new();
    super::codec::encode_members_query(&mut query);
    ask(url, tls, &query, WRITE_TIMEOUT, |frame| match frame {
        super::codec::Frame::Members(json) => Some(json),
        _ => None,
    })
    .await
}

/// Asks the member at peer URL `url` for its HashKV at `query.revision` (the
/// corruption checks), waiting at most `patience` for the answer; `Err` says why there
/// is none (its refusal, e.g. etcd's compacted-revision error, or no connection).
pub async fn query_hash_kv(
    url: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
    query: super::codec::HashKvQuery,
    patience: Duration,
) -> Result<super::codec::HashKvAnswer, String> {
    let mut bytes = Vec::new();
    super::codec::encode_hash_kv_query(&query, &mut bytes);
    ask(url, tls, &bytes, patience, |frame| match frame {
        super::codec::Frame::HashKv(answer) => Some(answer),
        _ => None,
    })
    .await
}

/// One query on a connection of its own to peer URL `url`: writes `query` and reads
/// one frame, which `answer` takes (a refusal is the error it says; any other frame is
/// unexpected), all within `patience`.
async fn ask<T>(
    url: &str,
    tls: Option<&tokio_rustls::TlsConnector>,
    query: &[u8],
    patience: Duration,
    answer: impl FnOnce(super::codec::Frame) -> Option<T>,
) -> Result<T, String> {
    use tokio::io::AsyncWriteExt;
    let target = peer_target(url).map_err(|e| e.to_string())?;
    let address = target.address.clone();
    let exchange = async {
        let mut stream = dial(&target, tls).await?;
        stream.write_all(query).await.map_err(|e| e.to_string())?;
        match super::listener::read_frame(&mut stream).await {
            Ok(Some(super::codec::Frame::Refuse(why))) => Err(why),
            Ok(Some(frame)) => answer(frame).ok_or_else(|| "unexpected answer".to_string()),
            Ok(None) => Err("unexpected answer".to_string()),
            Err(e) => Err(e.to_string()),
        }
    };
    tokio::time::timeout(patience, exchange)
        .await
        .map_err(|_| format!("no answer from {address} in time"))?
}

/// What the RaftNode needs to hear from the transport. Cheap to clone; all clones share
/// the same state.
#[derive(Clone, Debug, Default)]
pub struct PeerReports {
    inner: Arc<Mutex<ReportsInner>>,
}

#[derive(Debug, Default)]
struct ReportsInner {
    unreachable: HashSet<NodeId>,
    snapshots: Vec<(NodeId, bool)>,
}

impl PeerReports {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReportsInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The peers whose connection is down now (a connection attempt failed or was
    /// refused, or the connection broke, and no connection has succeeded since), sorted.
    pub fn unreachable(&self) -> Vec<NodeId> {
        let mut ids: Vec<_> = self.lock().unreachable.iter().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Takes the outcomes of snapshot messages since the last call, in order:
    /// `(peer, true)` once the whole snapshot was written to the connection, `(peer,
    /// false)` if it was dropped or its connection failed.
    pub fn take_snapshot_reports(&self) -> Vec<(NodeId, bool)> {
        std::mem::take(&mut self.lock().snapshots)
    }

    /// Records the state of peer `id` as its writer sees it, unless that writer was
    /// retired: checked under the lock [`PeerReports::retire`] takes, so a writer on its
    /// way out never leaves a stale entry behind.
    pub(super) fn set_unreachable(&self, id: NodeId, unreachable: bool, writer: &PeerShared) {
        let mut inner = self.lock();
        if writer.retired.load(Ordering::Relaxed) {
            return;
        }
        if unreachable {
            inner.unreachable.insert(id);
        } else {
            inner.unreachable.remove(&id);
        }
    }

    /// Retires the writer of peer `id` (replaced or removed) and forgets its state.
    fn retire(&self, id: NodeId, writer: &PeerShared) {
        let mut inner = self.lock();
        writer.retired.store(true, Ordering::Relaxed);
        inner.unreachable.remove(&id);
    }

    pub(super) fn report_snapshot(&self, id: NodeId, succeeded: bool) {
        let mut inner = self.lock();
        if inner.snapshots.len() >= MAX_SNAPSHOT_REPORTS {
            inner.snapshots.remove(0);
        }
        inner.snapshots.push((id, succeeded));
    }
}

/// Counters of one peer's connection, for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Whether the connection is up (welcomed by the peer).
    pub connected: bool,
    /// Messages waiting in the queue.
    pub queued_messages: u64,
    /// Messages written to the connection.
    pub sent_messages: u64,
    /// Bytes written to the connection.
    pub sent_bytes: u64,
    /// Messages dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Messages dropped because the connection was down or failed while they were written.
    pub dropped_disconnected: u64,
    /// Messages dropped because they exceed `max_message_bytes`.
    pub dropped_too_large: u64,
    /// Connections established.
    pub connects: u64,
    /// Connection attempts the peer refused (another cluster, or another member).
    pub refusals: u64,
    /// Why the last attempt or connection failed, if it did.
    pub last_error: Option<String>,
}

/// The state a peer's writer shares with [`NetworkTransport`].
#[derive(Default)]
pub(super) struct PeerShared {
    /// Set when the peer is replaced or removed; the writer's reports are then ignored.
    pub(super) retired: AtomicBool,
    pub(super) connected: AtomicBool,
    pub(super) queued_messages: AtomicU64,
    pub(super) queued_bytes: AtomicU64,
    pub(super) sent_messages: AtomicU64,
    pub(super) sent_bytes: AtomicU64,
    pub(super) dropped_queue_full: AtomicU64,
    pub(super) dropped_disconnected: AtomicU64,
    pub(super) dropped_too_large: AtomicU64,
    pub(super) connects: AtomicU64,
    pub(super) refusals: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
}

impl PeerShared {
    fn stats(&self) -> PeerStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        PeerStats {
            connected: self.connected.load(Ordering::Relaxed),
            queued_messages: get(&self.queued_messages),
            sent_messages: get(&self.sent_messages),
            sent_bytes: get(&self.sent_bytes),
            dropped_queue_full: get(&self.dropped_queue_full),
            dropped_disconnected: get(&self.dropped_disconnected),
            dropped_too_large: get(&self.dropped_too_large),
            connects: get(&self.connects),
            refusals: get(&self.refusals),
            last_error: self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        }
    }

    pub(super) fn count(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The bytes a queued message is charged against [`PEER_QUEUE_BYTES`].
pub(super) fn queued_size(m: &Message) -> u64 {
    let entries: u64 = m.entries.iter().map(|e| e.size_bytes()).sum();
    let snapshot = m.snapshot.as_ref().map_or(0, |s| s.data.len() as u64);
    64 + m.context.len() as u64 + entries + snapshot
}

/// The sending end of one peer: its queue and its counters. Dropping it stops the writer.
struct PeerHandle {
    queue: mpsc::Sender<Message>,
    shared: Arc<PeerShared>,
    urls: Vec<String>,
}

/// The network peer transport of one member. Cheap to share behind an `Arc`; dropping
/// the last reference (or calling [`NetworkTransport::shutdown`]) stops every writer
/// task and closes its connection.
pub struct NetworkTransport {
    config: TransportConfig,
    runtime: Handle,
    peers: RwLock<HashMap<NodeId, PeerHandle>>,
    reports: PeerReports,
    dropped_unknown_peer: AtomicU64,
    metrics: crate::metrics::peer::PeerMetrics,
    /// Dials `https://` peer URLs (`None`: such URLs cannot be reached).
    tls: Option<tokio_rustls::TlsConnector>,
}

impl NetworkTransport {
    /// A transport with no peers yet; writer tasks will run on `runtime`, which MUST
    /// outlive the transport (a stopped runtime silently stops its writers).
    pub fn new(config: TransportConfig, runtime: Handle) -> NetworkTransport {
        NetworkTransport {
            config,
            runtime,
            peers: RwLock::new(HashMap::new()),
            reports: PeerReports::default(),
            dropped_unknown_peer: AtomicU64::new(0),
            metrics: crate::metrics::peer::PeerMetrics::new(),
            tls: None,
        }
    }

    /// The bytes sent and round trips measured by this transport's writers (register
    /// them to export them; the peer port counts the bytes received into the same).
    pub fn metrics(&self) -> crate::metrics::peer::PeerMetrics {
        self.metrics.clone()
    }

    /// A transport connected to `peers` (member id → its peer URLs, `http://host:port`).
    /// This member's own entry, if present, is skipped.
    pub fn start(
        config: TransportConfig,
        runtime: Handle,
        peers: &HashMap<NodeId, Vec<String>>,
    ) -> Result<NetworkTransport, TransportError> {
        NetworkTransport::start_with_tls(config, runtime, peers, None)
    }

    /// [`NetworkTransport::start`], dialing `https://` peer URLs with `tls`.
    pub fn start_with_tls(
        config: TransportConfig,
        runtime: Handle,
        peers: &HashMap<NodeId, Vec<String>>,
        tls: Option<tokio_rustls::TlsConnector>,
    ) -> Result<NetworkTransport, TransportError> {
        let mut transport = NetworkTransport::new(config, runtime);
        transport.tls = tls;
        for (id, urls) in peers {
            if *id != config.local_id {
                transport.add_peer(*id, urls)?;
            }
        }
        Ok(transport)
    }

    /// Starts sending to member `id` at `urls` (tried in turn), replacing the peer's
    /// previous URLs and connection if it had one. Connects right away.
    pub fn add_peer(&self, id: NodeId, urls: &[String]) -> Result<(), TransportError> {
        let addresses = urls
            .iter()
            .map(|url| peer_target(url))
            .collect::<Result<Vec<_>, _>>()?;
        if addresses.is_empty() {
            return Err(TransportError::BadUrl {
                url: String::new(),
                why: "a peer needs at least one URL",
            });
        }
        let (queue, receiver) = mpsc::channel(PEER_QUEUE_MESSAGES);
        let shared = Arc::new(PeerShared::default());
        let label = id.to_string();
        let writer = PeerWriter {
            config: self.config,
            to: id,
            sent_bytes: self.metrics.sent_bytes.with_label_values(&[&label]),
            round_trip: self.metrics.round_trip_seconds.with_label_values(&[&label]),
            addresses,
            tls: self.tls.clone(),
            queue: receiver,
            shared: shared.clone(),
            reports: self.reports.clone(),
            last_logged: None,
        };
        // Replacing the handle drops the old queue's sender, which stops the old writer.
        let old = self
            .peers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                id,
                PeerHandle {
                    queue,
                    shared,
                    urls: urls.to_vec(),
                },
            );
        if let Some(old) = old {
            self.reports.retire(id, &old.shared);
        }
        self.runtime.spawn(writer.run());
        Ok(())
    }

    /// Stops sending to member `id` (it was removed) and closes its connection.
    pub fn remove_peer(&self, id: NodeId) {
        let old = self
            .peers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
        if let Some(old) = old {
            self.reports.retire(id, &old.shared);
        }
    }

    /// Stops every writer and closes every connection; later sends are dropped.
    pub fn shutdown(&self) {
        let old = std::mem::take(
            &mut *self
                .peers
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (id, peer) in old {
            self.reports.retire(id, &peer.shared);
        }
    }

    /// The reports the RaftNode reads on each tick.
    pub fn reports(&self) -> PeerReports {
        self.reports.clone()
    }

    /// The counters of peer `id`, if it is a peer.
    pub fn stats(&self, id: NodeId) -> Option<PeerStats> {
        self.peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .map(|peer| peer.shared.stats())
    }

    /// Messages dropped because their recipient is not a peer of this transport.
    pub fn dropped_unknown_peer(&self) -> u64 {
        self.dropped_unknown_peer.load(Ordering::Relaxed)
    }
}

impl Transport for NetworkTransport {
    /// Adds the peers it lacks (or whose URLs changed) and removes those not listed.
    fn set_peers(&self, peers: &[(NodeId, Vec<String>)]) {
        let current: HashMap<NodeId, Vec<String>> = self
            .peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(id, peer)| (*id, peer.urls.clone()))
            .collect();
        for (id, urls) in peers {
            if *id != self.config.local_id
                && current.get(id) != Some(urls)
                && let Err(e) = self.add_peer(*id, urls)
            {
                eprintln!("etcd-rs: cannot reach member {id} at {urls:?}: {e}");
            }
        }
        for id in current.keys() {
            if !peers.iter().any(|(p, _)| p == id) {
                self.remove_peer(*id);
            }
        }
    }

    /// Queues each message for its peer; never blocks.
    fn send(&self, messages: Vec<Message>) {
        let peers = self
            .peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for message in messages {
            let to = message.to;
            let is_snapshot = message.snapshot.is_some();
            let Some(peer) = peers.get(&to) else {
                PeerShared::count(&self.dropped_unknown_peer, 1);
                if is_snapshot {
                    self.reports.report_snapshot(to, false);
                }
                continue;
            };
            let shared = &peer.shared;
            let size = queued_size(&message);
            // Charged before the push so the writer's refund never comes first.
            shared.queued_messages.fetch_add(1, Ordering::Relaxed);
            let before = shared.queued_bytes.fetch_add(size, Ordering::Relaxed);
            let fits = before == 0 || before + size <= PEER_QUEUE_BYTES;
            let outcome = if fits {
                peer.queue.try_send(message).map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => &shared.dropped_queue_full,
                    mpsc::error::TrySendError::Closed(_) => &shared.dropped_disconnected,
                })
            } else {
                Err(&shared.dropped_queue_full)
            };
            if let Err(counter) = outcome {
                shared.queued_messages.fetch_sub(1, Ordering::Relaxed);
                shared.queued_bytes.fetch_sub(size, Ordering::Relaxed);
                PeerShared::count(counter, 1);
                if is_snapshot {
                    self.reports.report_snapshot(to, false);
                }
            }
        }
    }
}
