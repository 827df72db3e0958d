//! The receiving side of the peer transport: [`serve_peer_port`] accepts connections on
//! a --listen-peer-urls address, checks each caller's hello, and hands the messages it
//! reads to the RaftNode.
//!
//! A caller is refused, with a reason sent back and logged here, if it belongs to another
//! cluster or means to reach another member. Any malformed frame, a message not addressed
//! to this member or not from the caller (except a forwarded request: see
//! [`is_forwarded`]), or a local-only message type ends the connection (the caller
//! reconnects). When the RaftNode's mailbox is full the message is dropped, never waited
//! for: Raft retries. A ping is answered with a pong at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Recipient;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::codec::{
    CodecError, Frame, HEADER_BYTES, HashKvAnswer, HashKvQuery, Hello, Reassembler, decode_header,
    decode_payload, encode_hash_kv, encode_pong, encode_refuse, encode_welcome,
};
use super::network::{PeerStream, TransportConfig, WRITE_TIMEOUT};
use crate::metrics::actors::Mailbox;
use crate::metrics::peer::PeerMetrics;
use crate::raft::{Message, MessageType, NodeId};
use crate::server::transport::Inbound;

/// Connections served at once; more are closed on accept. A cluster has a handful of
/// members, each with one connection to us (two, briefly, while one replaces another).
pub const MAX_INBOUND_CONNECTIONS: usize = 128;

/// How long a caller has to send its hello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// The read buffer of one connection: many small messages per read system call.
const READ_BUFFER_BYTES: usize = 64 << 10;

/// The pause after a failed accept (out of file descriptors, say) before the next one.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// A caller refused for the same reason is logged at most once per this interval (it
/// retries several times a second).
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Distinct refusals remembered for [`REFUSAL_LOG_INTERVAL`]; beyond it the memory is
/// cleared (and the next refusals logged again).
const MAX_REMEMBERED_REFUSALS: usize = 1024;

/// Why reading a frame failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    /// The connection failed, or closed in the middle of a frame.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The bytes are not a valid frame.
    #[error("{0}")]
    Codec(#[from] CodecError),
}

/// Whether messages of this type may come from another member than the caller: a
/// follower forwards proposals, read-index requests and leadership transfers to the
/// member it takes for the leader without changing their sender (the leader answers a
/// read index to the member that asked), so a request sent to a former leader reaches the
/// new one through it.
fn is_forwarded(msg_type: MessageType) -> bool {
    matches!(
        msg_type,
        MessageType::Propose | MessageType::ReadIndex | MessageType::TransferLeader
    )
}

/// Reads one frame; `Ok(None)` if the connection closed cleanly before it. Allocates at
/// most the payload length the header declares, which [`decode_header`] caps.
pub(super) async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Frame>, ReadError> {
    Ok(read_sized_frame(reader).await?.map(|(frame, _)| frame))
}

/// [`read_frame`], with the bytes the frame took.
async fn read_sized_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> Result<Option<(Frame, usize)>, ReadError> {
    let mut header = [0u8; HEADER_BYTES];
    if reader.read(&mut header[..1]).await? == 0 {
        return Ok(None);
    }
    reader.read_exact(&mut header[1..]).await?;
    let header = decode_header(&header)?;
    let mut payload = vec![0u8; header.payload_len];
    reader.read_exact(&mut payload).await?;
    let frame = decode_payload(&header, &payload)?;
    Ok(Some((frame, HEADER_BYTES + header.payload_len)))
}

/// What the connections of one listener share.
///
/// `by_member` holds the connection currently serving each member: a newer one replaces
/// (and closes) an older one, so a caller that reconnected after a silent network
/// failure does not leave a dead connection behind.
#[derive(Default)]
struct Shared {
    next_id: AtomicU64,
    by_member: Mutex<HashMap<NodeId, (u64, oneshot::Sender<()>)>>,
    /// When each refusal (its log line) was last logged.
    refusals_logged: Mutex<HashMap<String, Instant>>,
}

impl Shared {
    /// Logs a refusal unless the same one was logged within [`REFUSAL_LOG_INTERVAL`].
    fn log_refusal(&self, line: String) {
        let mut logged = self
            .refusals_logged
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if logged
            .get(&line)
            .is_some_and(|at| at.elapsed() < REFUSAL_LOG_INTERVAL)
        {
            return;
        }
        if logged.len() >= MAX_REMEMBERED_REFUSALS {
            logged.clear();
        }
        eprintln!("etcd-rs: {line}");
        logged.insert(line, Instant::now());
    }

    /// Registers a connection from `member`; the receiver fires when a newer one arrives.
    fn register(&self, member: NodeId) -> (u64, oneshot::Receiver<()>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        // The replaced sender is dropped here, which wakes the older connection.
        self.lock().insert(member, (id, tx));
        (id, rx)
    }

    fn unregister(&self, member: NodeId, id: u64) {
        let mut by_member = self.lock();
        if by_member
            .get(&member)
            .is_some_and(|(current, _)| *current == id)
        {
            by_member.remove(&member);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, (u64, oneshot::Sender<()>)>> {
        self.by_member
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What a listener answers a members query with (JSON bytes), if it knows.
pub type MembersFn = Arc<dyn Fn() -> Option<Vec<u8>> + Send + Sync>;

/// The member's HashKV at a revision, or why it has none (etcd's error text).
pub type HashKvFn = Arc<
    dyn Fn(i64) -> std::pin::Pin<Box<dyn Future<Output = Result<HashKvAnswer, String>> + Send>>
        + Send
        + Sync,
>;

/// What a member's peer port answers besides Raft's messages, each on a connection of
/// its own with no hello: a joining member's members query, and the corruption checks'
/// HashKV queries (etcd's `/members` and `/members/hashkv` peer endpoints). Both are
/// refused while unset.
#[derive(Clone)]
pub struct PeerQueries {
    /// The cluster's members.
    pub members: MembersFn,
    /// The member's HashKV.
    pub hash_kv: Option<HashKvFn>,
}

impl Default for PeerQueries {
    fn default() -> PeerQueries {
        PeerQueries {
            members: Arc::new(|| None),
            hash_kv: None,
        }
    }
}

/// Serves the peer port on `listener`, delivering each message to `inbound` (the
/// RaftNode). MUST run on a tokio runtime (the connections are spawned on it). Runs until
/// the future is dropped (abort the task that runs it): the connections are tasks of a
/// [`JoinSet`] the future owns, so they stop with it. Members queries are refused.
pub async fn serve_peer_port(
    listener: TcpListener,
    config: TransportConfig,
    inbound: Recipient<Inbound>,
) {
    let counted = PeerPortMetrics::default();
    let queries = PeerQueries::default();
    serve_member_peer_port(listener, config, inbound, queries, counted, None).await;
}

/// What a member's peer port counts: bytes received and pongs sent per peer, and the
/// messages it queues for the RaftNode (see [`crate::metrics`]).
#[derive(Clone, Default)]
pub struct PeerPortMetrics {
    /// The member's peer metrics (those of its [`super::NetworkTransport`]).
    pub peer: PeerMetrics,
    /// The RaftNode's mailbox count.
    pub inbound: Mailbox,
}

/// [`serve_peer_port`], answering the queries of `queries`, and counting
/// into `metrics`. With `tls` (an `https://` peer URL), every connection is TLS: its
/// handshake, in the connection's own task, must end within [`HELLO_TIMEOUT`].
pub async fn serve_member_peer_port(
    listener: TcpListener,
    config: TransportConfig,
    inbound: Recipient<Inbound>,
    queries: PeerQueries,
    metrics: PeerPortMetrics,
    tls: Option<crate::tls::PeerAcceptor>,
) {
    let shared = Arc::new(Shared::default());
    let mut connections = JoinSet::new();
    loop {
        let (stream, address) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("etcd-rs: accepting a peer connection failed: {e}");
                tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_INBOUND_CONNECTIONS {
            eprintln!(
                "etcd-rs: closed a peer connection from {address}: {MAX_INBOUND_CONNECTIONS} connections already"
            );
            continue;
        }
        let connection = Connection {
            config,
            address,
            inbound: inbound.clone(),
            shared: shared.clone(),
            queries: queries.clone(),
            metrics: metrics.clone(),
            tls: tls.clone(),
        };
        connections.spawn(connection.serve(stream));
    }
}

/// One accepted connection.
struct Connection {
    config: TransportConfig,
    address: SocketAddr,
    inbound: Recipient<Inbound>,
    shared: Arc<Shared>,
    queries: PeerQueries,
    metrics: PeerPortMetrics,
    tls: Option<crate::tls::PeerAcceptor>,
}

impl Connection {
    async fn serve(self, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let stream: PeerStream = match &self.tls {
            None => Box::new(stream),
            Some(tls) => {
                match tokio::time::timeout(HELLO_TIMEOUT, self.open_tls(tls, stream)).await {
                    Ok(Ok(stream)) => stream,
                    // A refused certificate: the caller retries; log it now and then.
                    Ok(Err(why)) => {
                        return self.shared.log_refusal(format!(
                            "refused a peer connection from {}: {why}",
                            self.address.ip()
                        ));
                    }
                    Err(_) => return self.log("no TLS handshake in time"),
                }
            }
        };
        // The write half MUST live as long as the connection: dropping it sends FIN,
        // which the caller takes for a closed connection.
        let (read, mut write) = tokio::io::split(stream);
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, read);
        let hello = match tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut reader)).await {
            Ok(Ok(Some(Frame::Hello(hello)))) => hello,
            Ok(Ok(Some(Frame::MembersQuery))) => return self.answer_members(write).await,
            Ok(Ok(Some(Frame::HashKvQuery(query)))) => {
                return self.answer_hash_kv(query, write).await;
            }
            Ok(Ok(None)) => return,
            Ok(Ok(Some(_))) => return self.log("the first frame is not a hello"),
            Ok(Err(e)) => return self.log(&e.to_string()),
            Err(_) => return self.log("no hello in time"),
        };
        let mut answer = Vec::new();
        if let Some(why) = self.refusal(&hello) {
            // The caller's port changes on every retry: log the member, not the address.
            self.shared.log_refusal(format!(
                "refused peer connections from member {} at {}: {why}",
                hello.from,
                self.address.ip()
            ));
            encode_refuse(&why, &mut answer);
            let _ = tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&answer)).await;
            return;
        }
        encode_welcome(&mut answer);
        match tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&answer)).await {
            Ok(Ok(())) => {}
            _ => return self.log("cannot answer the hello"),
        }
        let (id, mut replaced) = self.shared.register(hello.from);
        let ended = tokio::select! {
            ended = self.receive(&mut reader, &mut write, &hello) => ended,
            _ = &mut replaced => Err("replaced by a newer connection from the same member".into()),
        };
        self.shared.unregister(hello.from, id);
        drop(write);
        if let Err(why) = ended {
            self.log(&format!("member {}: {why}", hello.from));
        }
    }

    /// The TLS handshake, then etcd's check of the client certificate's SANs.
    async fn open_tls(
        &self,
        tls: &crate::tls::PeerAcceptor,
        stream: TcpStream,
    ) -> Result<PeerStream, String> {
        let stream = tls
            .acceptor
            .accept(stream)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first());
        if let Some(certificate) = certificate.filter(|_| tls.check_client_san) {
            crate::tls::check_client_san(certificate, self.address.ip()).await?;
        }
        Ok(Box::new(stream))
    }

    /// Answers a joining member's query with the cluster's members.
    async fn answer_members(&self, mut write: WriteHalf<PeerStream>) {
        let mut answer = Vec::new();
        match (self.queries.members)() {
            Some(json) if json.len() < super::codec::MAX_FRAME_PAYLOAD_BYTES => {
                super::codec::encode_members(&json, &mut answer);
            }
            _ => encode_refuse(
                "this member does not know the cluster's members yet",
                &mut answer,
            ),
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&answer)).await;
    }

    /// Answers a HashKV query of a member of this cluster. The hash may take a while (it
    /// reads the whole store): the caller bounds how long it waits.
    async fn answer_hash_kv(&self, query: HashKvQuery, mut write: WriteHalf<PeerStream>) {
        let mut answer = Vec::new();
        match &self.queries.hash_kv {
            _ if query.cluster_id != self.config.cluster_id => encode_refuse(
                &format!(
                    "cluster ID mismatch: {:x}, not {:x}",
                    query.cluster_id, self.config.cluster_id
                ),
                &mut answer,
            ),
            None => encode_refuse("this member answers no HashKV", &mut answer),
            Some(hash_kv) => match hash_kv(query.revision).await {
                Ok(hash) => encode_hash_kv(&hash, &mut answer),
                Err(why) => encode_refuse(&why, &mut answer),
            },
        }
        let _ = tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&answer)).await;
    }

    fn log(&self, why: &str) {
        eprintln!(
            "etcd-rs: closed the peer connection from {}: {why}",
            self.address
        );
    }

    /// Why the caller of `hello` must be refused, if it must.
    fn refusal(&self, hello: &Hello) -> Option<String> {
        if hello.cluster_id != self.config.cluster_id {
            return Some(format!(
                "cluster ID mismatch: member {} is in cluster {:x}, the caller in cluster {:x}",
                self.config.local_id, self.config.cluster_id, hello.cluster_id
            ));
        }
        if hello.to != self.config.local_id {
            return Some(format!(
                "member ID mismatch: this is member {}, the caller wants member {} (check the peer URLs in --initial-cluster)",
                self.config.local_id, hello.to
            ));
        }
        None
    }

    /// Reads messages until the caller closes (`Ok`) or breaks the protocol (`Err`);
    /// answers pings on `write`.
    async fn receive<R: AsyncRead + Unpin>(
        &self,
        reader: &mut R,
        write: &mut WriteHalf<PeerStream>,
        hello: &Hello,
    ) -> Result<(), String> {
        let mut reassembler = Reassembler::new(self.config.max_message_bytes);
        let peer = hello.from.to_string();
        let received = self.metrics.peer.received_bytes.with_label_values(&[&peer]);
        let sent = self.metrics.peer.sent_bytes.with_label_values(&[&peer]);
        let mut pong = Vec::new();
        loop {
            let frame = read_sized_frame(reader).await.map_err(|e| e.to_string())?;
            if let Some((_, bytes)) = &frame {
                received.inc_by(*bytes as u64);
            }
            let message = match frame.map(|(frame, _)| frame) {
                Some(Frame::Ping(sent_at)) => {
                    pong.clear();
                    encode_pong(sent_at, &mut pong);
                    match tokio::time::timeout(WRITE_TIMEOUT, write.write_all(&pong)).await {
                        Ok(Ok(())) => sent.inc_by(pong.len() as u64),
                        Ok(Err(e)) => return Err(format!("answering a ping: {e}")),
                        Err(_) => return Err("answering a ping timed out".into()),
                    }
                    continue;
                }
                None if reassembler.in_progress() => {
                    return Err("closed in the middle of a chunked message".into());
                }
                None => return Ok(()),
                Some(Frame::Message(_)) if reassembler.in_progress() => {
                    return Err("a message inside a chunked message".into());
                }
                Some(Frame::Message(message)) => *message,
                Some(Frame::Chunk(chunk)) => {
                    match reassembler.push(chunk).map_err(|e| e.to_string())? {
                        Some(message) => message,
                        None => continue,
                    }
                }
                Some(_) => return Err("an unexpected control frame".into()),
            };
            self.deliver(message, hello)?;
        }
    }

    fn deliver(&self, message: Message, hello: &Hello) -> Result<(), String> {
        if message.msg_type.is_local() {
            return Err(format!("a local {:?} message", message.msg_type));
        }
        let sender_ok = message.from == hello.from || is_forwarded(message.msg_type);
        if message.to != self.config.local_id || !sender_ok {
            return Err(format!(
                "a message from {} to {} on the connection from {} to {}",
                message.from, message.to, hello.from, self.config.local_id
            ));
        }
        // A full mailbox or a stopped RaftNode loses the message; Raft retries.
        self.metrics.inbound.sent();
        if self.inbound.try_send(Inbound(message)).is_err() {
            self.metrics.inbound.refused();
        }
        Ok(())
    }
}
