//! How a member's RaftNode reaches its peers: the [`Transport`] trait, and the
//! in-process network of dev mode, where every member lives in one process.
//!
//! Raft tolerates loss, so a transport MAY drop a message rather than block or queue
//! without bound: the in-process one drops when a peer's mailbox is full or the peer is
//! stopped.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix::prelude::*;

use crate::metrics::actors::Mailbox;
use crate::raft::{Message, NodeId};

/// A message from a peer, for the RaftNode.
/// Counted in its actor's mailbox depth: a sender MUST call `Mailbox::sent` (see
/// [`crate::metrics::actors`]).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Inbound(pub Message);

/// Sends raft messages to peers.
pub trait Transport: Send + Sync {
    /// Sends each message to its `to`, dropping what cannot be delivered now.
    fn send(&self, messages: Vec<Message>);

    /// Makes the peers exactly these (member id, peer URLs), after a membership change.
    /// In process every member is reachable by id, so there is nothing to do.
    fn set_peers(&self, _peers: &[(NodeId, Vec<String>)]) {}
}

/// A member of the in-process network: its RaftNode, and that RaftNode's mailbox count
/// (see [`crate::metrics::actors`]).
type Peer = (Recipient<Inbound>, Mailbox);

/// The members of one process, by id: dev mode's network.
#[derive(Clone, Default)]
pub struct InProcessNetwork {
    peers: Arc<RwLock<HashMap<NodeId, Peer>>>,
    /// Cut links (from, to): dev mode's faults on demand.
    cut: Arc<RwLock<std::collections::HashSet<(NodeId, NodeId)>>>,
}

impl InProcessNetwork {
    /// An empty network.
    pub fn new() -> InProcessNetwork {
        InProcessNetwork::default()
    }

    /// Connects member `id`, whose RaftNode counts its queued messages in `mailbox`.
    pub fn register(&self, id: NodeId, recipient: Recipient<Inbound>, mailbox: Mailbox) {
        self.peers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, (recipient, mailbox));
    }

    /// Cuts the link from `from` to `to` (one direction).
    pub fn cut_link(&self, from: NodeId, to: NodeId) {
        self.cut
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((from, to));
    }

    /// Cuts every link to and from `id` (a network partition around it).
    pub fn isolate(&self, id: NodeId) {
        let peers: Vec<NodeId> = self
            .peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        let mut cut = self
            .cut
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for peer in peers.into_iter().filter(|p| *p != id) {
            cut.insert((id, peer));
            cut.insert((peer, id));
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.cut
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

impl Transport for InProcessNetwork {
    fn send(&self, messages: Vec<Message>) {
        let peers = self
            .peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let cut = self
            .cut
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for message in messages {
            if cut.contains(&(message.from, message.to)) {
                continue;
            }
            if let Some((peer, mailbox)) = peers.get(&message.to) {
                // A full mailbox or a stopped peer loses the message; Raft retries.
                mailbox.sent();
                if peer.try_send(Inbound(message)).is_err() {
                    mailbox.refused();
                }
            }
        }
    }
}
