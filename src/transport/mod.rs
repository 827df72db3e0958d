//! The peer transport over the network: how the RaftNodes of members in different
//! processes reach each other, behind the same [`Transport`] trait as dev mode's
//! in-process network ([`crate::server::transport`]).
//!
//! - [`codec`]: the wire format: checksummed, length-prefixed frames; raft messages in a
//!   compact binary layout; chunked transfer of large messages (snapshots).
//! - [`network`]: [`NetworkTransport`], the sending side: one TCP connection per peer,
//!   a bounded queue per peer, batching, reconnect with backoff, and the
//!   [`PeerReports`] the RaftNode reads; `peer_writer` is the task behind each peer, which
//!   also pings the peer every [`network::PING_INTERVAL`] to measure the round trip.
//! - [`listener`]: [`serve_peer_port`], the receiving side on --listen-peer-urls.
//!
//! On `https://` peer URLs both sides speak TLS ([`crate::tls::PeerTls`]): the dialing
//! side wraps its connection before the hello, the listening side does the handshake
//! (and etcd's certificate checks) in the connection's own task, within the hello's
//! timeout. The frames inside are the same.
//!
//! Each member dials each peer and only writes on that connection (after the hello and
//! its answer); messages coming back arrive on the peer's own connection to us. So a pair
//! of members shares two connections, one per direction, as etcd's streams do.
//!
//! # Wiring a member (`etcd-rs [etcd flags]`)
//!
//! ```ignore
//! // process.rs, inside the actix System, with `api` the tokio runtime of the client ports:
//! let config = TransportConfig::new(identity.cluster_id, NodeId(identity.member_id));
//! let peers: HashMap<NodeId, Vec<String>> = members
//!     .iter()
//!     .map(|m| (NodeId(m.id), m.peer_urls.clone()))
//!     .collect();
//! let transport = Arc::new(NetworkTransport::start(config, api.handle().clone(), &peers)?);
//! let reports = transport.reports();
//! // member.rs: pass `transport.clone() as Arc<dyn Transport>` to RaftNode::new instead of
//! // the InProcessNetwork, and `reports` to the RaftNode, which on each tick does:
//! //     for id in reports.unreachable() { raw.report_unreachable(id) }
//! //     for (id, ok) in reports.take_snapshot_reports() { raw.report_snapshot(id, ok) }
//! // Once the RaftNode is started, serve the peer port (bound before anything starts,
//! // like the client ports) and keep the task to abort it on shutdown:
//! let listener = tokio::net::TcpListener::from_std(std_listener)?; // inside `api`
//! let peer_port = api.spawn(serve_peer_port(listener, config, raft.clone().recipient()));
//! // Shutdown: peer_port.abort(); transport.shutdown(); then stop the member's arbiters.
//! ```
//!
//! [`Transport`]: crate::server::transport::Transport

pub mod codec;
pub mod listener;
pub mod network;
mod peer_writer;

pub use listener::{
    HashKvFn, MembersFn, PeerPortMetrics, PeerQueries, serve_member_peer_port, serve_peer_port,
};
pub use network::{NetworkTransport, PeerReports, PeerStats, TransportConfig, TransportError};

#[cfg(test)]
mod tests;
