//! Pending ReadIndex requests at the leader: each waits for a quorum of heartbeat
//! acknowledgements carrying its context, which proves the leader was still the leader
//! when the read was asked (Raft thesis §6.4).

use std::collections::{BTreeSet, HashMap, VecDeque};

use super::types::{LogIndex, Message, NodeId};

/// A read request and the acknowledgements gathered for it.
#[derive(Clone, Debug)]
pub struct ReadIndexStatus {
    /// The original request (its `from` says whom to answer).
    pub request: Message,
    /// The commit index when the request arrived: the index the read must wait for.
    pub index: LogIndex,
    /// Members that acknowledged a heartbeat carrying the request's context.
    pub acks: BTreeSet<NodeId>,
}

/// The read requests a leader is confirming, in arrival order.
#[derive(Clone, Debug, Default)]
pub struct ReadOnly {
    pending: HashMap<Vec<u8>, ReadIndexStatus>,
    queue: VecDeque<Vec<u8>>,
}

impl ReadOnly {
    /// Starts confirming `request` (identified by its context) at commit index `index`.
    /// A context already pending is ignored.
    pub fn add_request(&mut self, index: LogIndex, request: Message) {
        let context = request.context.clone();
        if self.pending.contains_key(&context) {
            return;
        }
        self.pending.insert(
            context.clone(),
            ReadIndexStatus {
                request,
                index,
                acks: BTreeSet::new(),
            },
        );
        self.queue.push_back(context);
    }

    /// Records `from`'s acknowledgement of `context`; returns who acknowledged so far.
    pub fn recv_ack(&mut self, from: NodeId, context: &[u8]) -> Option<&BTreeSet<NodeId>> {
        let status = self.pending.get_mut(context)?;
        status.acks.insert(from);
        Some(&status.acks)
    }

    /// Releases the request with `context` and every request queued before it (a quorum
    /// acknowledging a later heartbeat confirms the earlier ones too).
    pub fn advance(&mut self, context: &[u8]) -> Vec<ReadIndexStatus> {
        let Some(position) = self.queue.iter().position(|c| c.as_slice() == context) else {
            return Vec::new();
        };
        let mut released = Vec::with_capacity(position + 1);
        for queued in self.queue.drain(..=position) {
            if let Some(status) = self.pending.remove(&queued) {
                released.push(status);
            }
        }
        released
    }

    /// The context of the newest pending request, sent with heartbeats.
    pub fn last_pending_context(&self) -> Option<&[u8]> {
        self.queue.back().map(Vec::as_slice)
    }
}
