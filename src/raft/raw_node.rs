//! [`RawNode`]: the API a driver (the RaftNode actor, the simulation, tests) uses to
//! feed the core and collect its output as [`Ready`] batches. See the module docs of
//! [`crate::raft`] for the contract.

use super::config::Config;
use super::errors::{Error, Result};
use super::raft::{Raft, ReadState, Role};
use super::storage::Storage;
use super::types::{
    ConfChange, ConfState, Entry, EntryType, HardState, LogIndex, Message, MessageType, NodeId,
    Snapshot, Term,
};

/// State that is not persisted: who leads and in what role we are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftState {
    /// The known leader, or NONE.
    pub leader: NodeId,
    /// This member's role.
    pub role: Role,
}

/// Everything the core asks its driver to do, in one batch. Handle it in the order of
/// the contract in [`crate::raft`], then call [`RawNode::advance`].
#[derive(Clone, Debug, Default)]
pub struct Ready {
    /// The new soft state, if it changed. Not persisted.
    pub soft_state: Option<SoftState>,
    /// The hard state to persist, if it changed.
    pub hard_state: Option<HardState>,
    /// Confirmed read points: serve each read once `index` is applied.
    pub read_states: Vec<ReadState>,
    /// Entries to persist (after truncating any stored entries at or after the first).
    pub entries: Vec<Entry>,
    /// A snapshot to persist and install in the state machine.
    pub snapshot: Option<Snapshot>,
    /// Committed entries to apply, in order.
    pub committed_entries: Vec<Entry>,
    /// Messages to send, after persisting.
    pub messages: Vec<Message>,
    /// Whether persisting needs an fsync (entries, or a term or vote change).
    pub must_sync: bool,
}

/// What `advance` must mark persisted: recorded by `ready`.
#[derive(Clone, Copy, Debug)]
struct Handed {
    last_entry: Option<(LogIndex, Term)>,
    snapshot_index: Option<LogIndex>,
}

/// A member's progress as the leader sees it (for status reports).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// This member.
    pub id: NodeId,
    /// Term, vote and commit.
    pub hard_state: HardState,
    /// Leader and role.
    pub soft_state: SoftState,
    /// The applied index.
    pub applied: LogIndex,
    /// The last log index.
    pub last_index: LogIndex,
    /// The configuration.
    pub conf_state: ConfState,
    /// As leader: each member's matched index.
    pub matched: Vec<(NodeId, LogIndex)>,
    /// The member leadership is being handed to, or NONE.
    pub lead_transferee: NodeId,
}

/// The driver's handle on the Raft core of one member.
pub struct RawNode<S: Storage> {
    raft: Raft<S>,
    prev_soft_state: SoftState,
    prev_hard_state: HardState,
    handed: Option<Handed>,
}

impl<S: Storage> RawNode<S> {
    /// Starts (or restarts) a member over `storage`.
    pub fn new(config: &Config, storage: S) -> Result<RawNode<S>> {
        let raft = Raft::new(config, storage)?;
        let prev_soft_state = soft_state(&raft);
        let prev_hard_state = raft.hard_state();
        Ok(RawNode {
            raft,
            prev_soft_state,
            prev_hard_state,
            handed: None,
        })
    }

    /// The state machine, for inspection.
    pub fn raft(&self) -> &Raft<S> {
        &self.raft
    }

    /// The storage.
    pub fn store(&self) -> &S {
        &self.raft.log.storage
    }

    /// The storage, for the driver's writes while handling a `Ready`.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.raft.log.storage
    }

    /// Gives the storage back, dropping every volatile state (a crash, in simulation).
    pub fn into_store(self) -> S {
        self.raft.log.storage
    }

    /// Advances the logical clock by one tick.
    pub fn tick(&mut self) {
        self.raft.tick();
    }

    /// Starts an election now (pre-vote first if enabled).
    pub fn campaign(&mut self) -> Result<()> {
        self.raft.step(Message::new(MessageType::Hup))
    }

    /// Proposes application data. `ProposalDropped` if no leader is known or leadership
    /// is being transferred; a follower forwards the proposal to the leader, and a
    /// success means only that it was accepted for replication, not that it committed.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<()> {
        let entry = Entry {
            data,
            ..Entry::default()
        };
        self.raft.step(Raft::<S>::proposal(vec![entry]))
    }

    /// Proposes a membership change. Applying it (once committed) is the driver's job,
    /// through [`RawNode::apply_conf_change`].
    pub fn propose_conf_change(&mut self, change: &ConfChange) -> Result<()> {
        let entry = Entry {
            entry_type: EntryType::ConfChange,
            data: change.encode(),
            ..Entry::default()
        };
        self.raft.step(Raft::<S>::proposal(vec![entry]))
    }

    /// Feeds a message received from a peer.
    pub fn step(&mut self, m: Message) -> Result<()> {
        if m.msg_type.is_local() {
            return Err(Error::StepLocalMessage("local"));
        }
        if m.msg_type.is_response()
            && !self.raft.tracker.progress.contains_key(&m.from)
            && m.msg_type != MessageType::ReadIndexResponse
        {
            return Err(Error::StepPeerNotFound(m.from));
        }
        self.raft.step(m)
    }

    /// Asks for a linearizable read point. The answer comes as a [`ReadState`] carrying
    /// `context` in a later `Ready` (or never, if leadership is lost: retry on timeout).
    pub fn read_index(&mut self, context: Vec<u8>) -> Result<()> {
        let mut m = Message::new(MessageType::ReadIndex);
        m.context = context;
        self.raft.step(m)
    }

    /// Asks the leader to hand leadership to `transferee`.
    pub fn transfer_leader(&mut self, transferee: NodeId) {
        let mut m = Message::new(MessageType::TransferLeader);
        m.from = transferee;
        // Dropped without a known leader: the caller retries.
        let _ = self.raft.step(m);
    }

    /// Tells the leader that `id` could not be reached.
    pub fn report_unreachable(&mut self, id: NodeId) {
        let mut m = Message::new(MessageType::Unreachable);
        m.from = id;
        let _ = self.raft.step(m);
    }

    /// Tells the leader how sending a snapshot to `id` ended.
    pub fn report_snapshot(&mut self, id: NodeId, succeeded: bool) {
        let mut m = Message::new(MessageType::SnapshotStatus);
        m.from = id;
        m.reject = !succeeded;
        let _ = self.raft.step(m);
    }

    /// Applies a committed conf change and returns the configuration now in force, which
    /// the driver persists with its next snapshot.
    pub fn apply_conf_change(&mut self, change: &ConfChange) -> Result<ConfState> {
        self.raft.apply_conf_change(change)
    }

    /// The application has applied entries up to `index`.
    pub fn applied_to(&mut self, index: LogIndex) {
        self.raft.applied_to(index);
    }

    /// Whether a `Ready` would carry anything.
    pub fn has_ready(&self) -> bool {
        let raft = &self.raft;
        soft_state(raft) != self.prev_soft_state
            || raft.hard_state() != self.prev_hard_state
            || raft.log.unstable.snapshot.is_some()
            || !raft.log.unstable.entries.is_empty()
            || raft.log.has_next_committed_entries()
            || !raft.msgs.is_empty()
            || !raft.read_states.is_empty()
    }

    /// Collects the work to do. The previous `Ready` MUST have been advanced.
    pub fn ready(&mut self) -> Ready {
        assert!(
            self.handed.is_none(),
            "ready() called before advance() of the previous Ready"
        );
        let raft = &mut self.raft;
        let entries = raft.log.unstable_entries().to_vec();
        let committed_entries = if raft.log.has_next_committed_entries() {
            raft.log
                .next_committed_entries()
                .unwrap_or_else(|e| panic!("reading committed entries failed: {e}"))
        } else {
            Vec::new()
        };
        let snapshot = raft.log.unstable.snapshot.clone();
        let soft = soft_state(raft);
        let hard = raft.hard_state();
        let must_sync = !entries.is_empty()
            || hard.term != self.prev_hard_state.term
            || hard.vote != self.prev_hard_state.vote;
        let ready = Ready {
            soft_state: (soft != self.prev_soft_state).then_some(soft),
            hard_state: (hard != self.prev_hard_state).then_some(hard),
            read_states: std::mem::take(&mut raft.read_states),
            entries,
            snapshot,
            committed_entries,
            messages: std::mem::take(&mut raft.msgs),
            must_sync,
        };
        self.prev_soft_state = soft;
        self.prev_hard_state = hard;
        if let Some(last) = ready.committed_entries.last() {
            raft.log.applying_to(last.index);
        }
        self.handed = Some(Handed {
            last_entry: ready.entries.last().map(|e| (e.index, e.term)),
            snapshot_index: ready.snapshot.as_ref().map(|s| s.metadata.index),
        });
        ready
    }

    /// The notice that the last `Ready` was handled: its entries, hard state and snapshot
    /// are persisted (and its messages sent, its committed entries handed to the state
    /// machine). As leader, our own copy of the entries now counts toward commit.
    pub fn advance(&mut self) {
        let Some(handed) = self.handed.take() else {
            return;
        };
        if let Some(index) = handed.snapshot_index {
            self.raft.log.stable_snap_to(index);
            // Installing the snapshot applied everything up to its index.
            self.raft.log.applied_to(index);
        }
        if let Some((index, term)) = handed.last_entry {
            self.raft.log.stable_to(index, term);
        }
        self.raft.on_persisted();
    }

    /// A summary of the member's state.
    pub fn status(&self) -> Status {
        let raft = &self.raft;
        let matched = if raft.is_leader() {
            raft.tracker
                .progress
                .iter()
                .map(|(id, p)| (*id, p.matched))
                .collect()
        } else {
            Vec::new()
        };
        Status {
            id: raft.id,
            hard_state: raft.hard_state(),
            soft_state: soft_state(raft),
            applied: raft.log.applied,
            last_index: raft.log.last_index(),
            conf_state: raft.tracker.conf_state(),
            matched,
            lead_transferee: raft.lead_transferee,
        }
    }
}

fn soft_state<S: Storage>(raft: &Raft<S>) -> SoftState {
    SoftState {
        leader: raft.lead,
        role: raft.role,
    }
}
