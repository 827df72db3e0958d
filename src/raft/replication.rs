//! The leader's side: proposals, replicating the log to each follower under flow
//! control, commit by quorum, heartbeats, ReadIndex confirmation and leadership transfer.

use super::errors::{Error, Result, StorageError};
use super::progress::ProgressState;
use super::raft::{Raft, ReadState, Role};
use super::storage::Storage;
use super::types::{ConfChange, Entry, EntryType, Message, MessageType, NodeId};

impl<S: Storage> Raft<S> {
    /// Commits what a quorum has persisted, if it is of the current term. Returns whether
    /// the commit index advanced.
    pub(super) fn maybe_commit(&mut self) -> bool {
        let index = self.tracker.committed();
        self.log.maybe_commit(index, self.term)
    }

    fn committed_entry_in_current_term(&self) -> bool {
        self.log.term_or_zero(self.log.committed) == self.term
    }

    /// Sends appends (or heartbeats of the log) to every other member.
    pub(super) fn bcast_append(&mut self) {
        let ids: Vec<NodeId> = self.tracker.progress.keys().copied().collect();
        for id in ids {
            if id != self.id {
                self.maybe_send_append(id, true);
            }
        }
    }

    /// Sends heartbeats to every other member, carrying the newest pending read context.
    pub(super) fn bcast_heartbeat(&mut self) {
        let context = self
            .read_only
            .last_pending_context()
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        self.bcast_heartbeat_with_context(context);
    }

    fn bcast_heartbeat_with_context(&mut self, context: Vec<u8>) {
        let targets: Vec<(NodeId, super::types::LogIndex)> = self
            .tracker
            .progress
            .iter()
            .filter(|(id, _)| **id != self.id)
            .map(|(id, p)| (*id, p.matched))
            .collect();
        for (to, matched) in targets {
            let mut m = Message::new(MessageType::Heartbeat);
            m.to = to;
            // A follower may not have entries up to our commit: only tell it what it
            // provably has, so it never commits an index it lacks.
            m.commit = matched.min(self.log.committed);
            m.context = context.clone();
            self.send(m);
        }
    }

    /// Sends entries (or a snapshot) to `to` if its progress allows. With
    /// `send_if_empty` false, nothing is sent when there are no new entries. Returns
    /// whether a message was sent.
    pub(super) fn maybe_send_append(&mut self, to: NodeId, send_if_empty: bool) -> bool {
        let Some(progress) = self.tracker.progress.get(&to) else {
            return false;
        };
        if progress.is_paused() {
            return false;
        }
        let next = progress.next;
        let prev_term = self.log.term(next.prev());
        let entries = self.log.entries_from(next, self.max_msg_size_bytes);
        if let (Ok(prev_term), Ok(entries)) = (&prev_term, &entries) {
            if entries.is_empty() && !send_if_empty {
                return false;
            }
            let mut m = Message::new(MessageType::Append);
            m.to = to;
            m.index = next.prev();
            m.log_term = *prev_term;
            m.commit = self.log.committed;
            m.entries = entries.clone();
            if let Some(last) = entries.last() {
                let progress = self
                    .tracker
                    .progress
                    .get_mut(&to)
                    .expect("progress checked above");
                match progress.state {
                    ProgressState::Replicate => {
                        progress.optimistic_update(last.index);
                        progress.inflights.add(last.index);
                    }
                    ProgressState::Probe => progress.probe_sent = true,
                    ProgressState::Snapshot => {
                        unreachable!("a paused progress sent an append")
                    }
                }
            }
            self.send(m);
            return true;
        }
        let compacted = matches!(prev_term, Err(StorageError::Compacted))
            || matches!(entries, Err(Error::Storage(StorageError::Compacted)));
        assert!(
            compacted,
            "reading the log for {to} failed: term {prev_term:?}, entries {entries:?}"
        );
        self.send_snapshot(to)
    }

    fn send_snapshot(&mut self, to: NodeId) -> bool {
        let Some(progress) = self.tracker.progress.get(&to) else {
            return false;
        };
        if !progress.recent_active {
            // Do not build and send a snapshot to a member that is probably down.
            return false;
        }
        let snapshot = match self.log.snapshot() {
            Ok(snapshot) => snapshot,
            Err(StorageError::SnapshotTemporarilyUnavailable) => return false,
            Err(e) => panic!("failed to read the snapshot to send to {to}: {e}"),
        };
        assert!(
            !snapshot.is_empty(),
            "need a non-empty snapshot to send to {to}"
        );
        let index = snapshot.metadata.index;
        if let Some(progress) = self.tracker.progress.get_mut(&to) {
            progress.become_snapshot(index);
        }
        let mut m = Message::new(MessageType::Snapshot);
        m.to = to;
        m.snapshot = Some(snapshot);
        self.send(m);
        true
    }

    fn send_timeout_now(&mut self, to: NodeId) {
        let mut m = Message::new(MessageType::TimeoutNow);
        m.to = to;
        self.send(m);
    }

    /// Answers a confirmed read: locally if it was asked here, else to the follower.
    fn respond_to_read_index(&mut self, request: Message, index: super::types::LogIndex) {
        if request.from.is_none() || request.from == self.id {
            self.read_states.push(ReadState {
                index,
                request_context: request.context,
            });
            return;
        }
        let mut m = Message::new(MessageType::ReadIndexResponse);
        m.to = request.from;
        m.index = index;
        m.context = request.context;
        self.send(m);
    }

    /// Starts confirming a read: records the commit index and asks a quorum to
    /// acknowledge a heartbeat carrying the read's context.
    fn start_read_index(&mut self, request: Message) {
        if self.tracker.is_singleton() {
            let committed = self.log.committed;
            self.respond_to_read_index(request, committed);
            return;
        }
        let context = request.context.clone();
        self.read_only.add_request(self.log.committed, request);
        self.read_only.recv_ack(self.id, &context);
        self.bcast_heartbeat_with_context(context);
    }

    /// Serves the reads that waited for the leader's first commit in its term.
    pub(super) fn release_pending_read_index(&mut self) {
        if !self.committed_entry_in_current_term() {
            return;
        }
        for request in std::mem::take(&mut self.pending_read_index) {
            self.start_read_index(request);
        }
    }

    fn propose(&mut self, mut m: Message) -> Result<()> {
        if m.entries.is_empty() {
            return Err(Error::ProposalDropped);
        }
        if !self.tracker.progress.contains_key(&self.id) || !self.lead_transferee.is_none() {
            // Removed from the configuration, or handing leadership over.
            return Err(Error::ProposalDropped);
        }
        let last = self.log.last_index();
        for (offset, entry) in m.entries.iter_mut().enumerate() {
            if entry.entry_type != EntryType::ConfChange {
                continue;
            }
            let change =
                ConfChange::decode(&entry.data).map_err(|e| Error::ConfChange(e.to_string()))?;
            let already_joint = self.tracker.config.voters.is_joint();
            let refusal = if self.pending_conf_index > self.log.applied {
                Some("possible unapplied conf change")
            } else if already_joint && !change.is_leave_joint() {
                Some("must transition out of joint config first")
            } else if !already_joint && change.is_leave_joint() {
                Some("not in joint state; refusing empty conf change")
            } else {
                None
            };
            if let Some(reason) = refusal {
                return Err(Error::ConfChange(reason.into()));
            }
            self.pending_conf_index = last + 1 + offset as u64;
        }
        self.append_entries(std::mem::take(&mut m.entries));
        self.bcast_append();
        Ok(())
    }

    pub(super) fn step_leader(&mut self, m: Message) -> Result<()> {
        match m.msg_type {
            MessageType::Beat => {
                self.bcast_heartbeat();
                return Ok(());
            }
            MessageType::CheckQuorum => {
                if !self.tracker.quorum_active(self.id) {
                    self.become_follower(self.term, NodeId::NONE);
                }
                return Ok(());
            }
            MessageType::Propose => return self.propose(m),
            MessageType::ReadIndex => {
                if !self.committed_entry_in_current_term() {
                    // Our commit index may be behind the cluster's until an entry of our
                    // term commits: the read must wait for it (thesis §6.4 step 1).
                    self.pending_read_index.push(m);
                    return Ok(());
                }
                self.start_read_index(m);
                return Ok(());
            }
            _ => {}
        }
        let from = m.from;
        let Some(progress) = self.tracker.progress.get_mut(&from) else {
            return Ok(());
        };
        match m.msg_type {
            MessageType::AppendResponse => {
                progress.recent_active = true;
                if m.reject {
                    let mut hint = m.reject_hint;
                    if m.log_term.0 > 0 {
                        // Skip every entry of terms the follower does not have.
                        hint = self.log.find_conflict_by_term(m.reject_hint, m.log_term).0;
                    }
                    let progress = self.tracker.progress.get_mut(&from).expect("present");
                    if progress.maybe_decr_to(m.index, hint) {
                        if progress.state == ProgressState::Replicate {
                            progress.become_probe();
                        }
                        self.maybe_send_append(from, true);
                    }
                    return Ok(());
                }
                let was_paused = progress.is_paused();
                let probe_acked =
                    progress.state == ProgressState::Probe && progress.matched == m.index;
                if !progress.maybe_update(m.index) && !probe_acked {
                    return Ok(());
                }
                match progress.state {
                    ProgressState::Probe => progress.become_replicate(),
                    ProgressState::Snapshot => {
                        if progress.matched.next() >= self.log.first_index() {
                            progress.become_probe();
                            progress.become_replicate();
                        }
                    }
                    ProgressState::Replicate => progress.inflights.free_to(m.index),
                }
                let matched = progress.matched;
                if self.maybe_commit() {
                    self.release_pending_read_index();
                    self.bcast_append();
                } else if was_paused {
                    self.maybe_send_append(from, true);
                }
                // Keep the window full.
                while self.maybe_send_append(from, false) {}
                if from == self.lead_transferee && matched == self.log.last_index() {
                    self.send_timeout_now(from);
                }
            }
            MessageType::HeartbeatResponse => {
                progress.recent_active = true;
                progress.probe_sent = false;
                if progress.state == ProgressState::Replicate && progress.inflights.full() {
                    // Free one slot so a lost append does not stall the window forever.
                    progress.inflights.free_first();
                }
                if progress.matched < self.log.last_index() {
                    self.maybe_send_append(from, true);
                }
                if m.context.is_empty() {
                    return Ok(());
                }
                let Some(acks) = self.read_only.recv_ack(from, &m.context) else {
                    return Ok(());
                };
                let votes = acks.iter().map(|id| (*id, true)).collect();
                if self.tracker.config.voters.vote_result(&votes) != super::quorum::VoteResult::Won
                {
                    return Ok(());
                }
                for status in self.read_only.advance(&m.context) {
                    self.respond_to_read_index(status.request, status.index);
                }
            }
            MessageType::SnapshotStatus => {
                if progress.state != ProgressState::Snapshot {
                    return Ok(());
                }
                if m.reject {
                    progress.pending_snapshot = super::types::LogIndex(0);
                }
                progress.become_probe();
                // Wait for a heartbeat response before probing again.
                progress.probe_sent = true;
            }
            MessageType::Unreachable if progress.state == ProgressState::Replicate => {
                // Appends sent optimistically were probably lost: probe again.
                progress.become_probe();
            }
            MessageType::TransferLeader => {
                if progress.is_learner {
                    return Ok(());
                }
                let transferee = from;
                if !self.lead_transferee.is_none() {
                    if self.lead_transferee == transferee {
                        return Ok(());
                    }
                    self.lead_transferee = NodeId::NONE;
                }
                if transferee == self.id {
                    return Ok(());
                }
                // The transfer must finish within one election timeout (see tick).
                self.reset_election_elapsed();
                self.lead_transferee = transferee;
                let matched = self.tracker.progress[&transferee].matched;
                if matched == self.log.last_index() {
                    self.send_timeout_now(transferee);
                } else {
                    self.maybe_send_append(transferee, true);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Test hook and transfer timer reset.
    pub(super) fn reset_election_elapsed(&mut self) {
        self.set_election_elapsed(0);
    }

    /// Whether the member leads.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// Builds a proposal message for `entries` (used by `RawNode`).
    pub(super) fn proposal(entries: Vec<Entry>) -> Message {
        let mut m = Message::new(MessageType::Propose);
        m.entries = entries;
        m
    }
}
