//! The Raft state machine of one member: roles, terms, elections, and the dispatch of
//! every message. Leader-side replication lives in `replication.rs`.

use super::confchange::{self, Changer};
use super::config::Config;
use super::errors::{Error, Result};
use super::progress::{Progress, Tracker};
use super::quorum::VoteResult;
use super::raft_log::RaftLog;
use super::read_only::ReadOnly;
use super::rng::SeededRng;
use super::storage::Storage;
use super::types::{
    ConfChange, ConfState, Entry, EntryType, HardState, LogIndex, Message, MessageType, NodeId,
    Snapshot, Term,
};

/// The context of vote requests sent on a leadership transfer: voters grant them even
/// while they still hear from the current leader.
pub const CAMPAIGN_TRANSFER: &[u8] = b"CampaignTransfer";

/// A member's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// Follows a leader (or waits for one).
    #[default]
    Follower,
    /// Asks for votes in a new term.
    Candidate,
    /// Asks whether it could win, without starting a new term (pre-vote).
    PreCandidate,
    /// Leads the current term.
    Leader,
}

/// A linearizable read point: once the state machine has applied `index`, a read for
/// `request_context` may be served from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadState {
    /// The commit index the read must wait for.
    pub index: LogIndex,
    /// The context given to `read_index`.
    pub request_context: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CampaignKind {
    PreElection,
    Election,
    Transfer,
}

/// One member's Raft state machine. Read it through `RawNode::raft`; drive it only
/// through `RawNode`.
pub struct Raft<S: Storage> {
    /// This member.
    pub id: NodeId,
    /// The current term.
    pub term: Term,
    /// Whom this member voted for in `term`.
    pub vote: NodeId,
    /// The log.
    pub log: RaftLog<S>,
    /// The configuration and (as leader) every member's progress.
    pub tracker: Tracker,
    /// The current role.
    pub role: Role,
    /// Whether this member is a learner.
    pub is_learner: bool,
    /// The known leader of `term`, or NONE.
    pub lead: NodeId,
    /// The member leadership is being handed to, or NONE.
    pub lead_transferee: NodeId,
    /// The index of the last conf change the leader appended; no other may be proposed
    /// until it is applied.
    pub pending_conf_index: LogIndex,
    /// Messages to send, drained into the next `Ready`.
    pub msgs: Vec<Message>,
    /// Read points, drained into the next `Ready`.
    pub read_states: Vec<ReadState>,
    pub(super) read_only: ReadOnly,
    /// ReadIndex requests received before the leader committed an entry of its term.
    pub(super) pending_read_index: Vec<Message>,
    pub(super) max_msg_size_bytes: u64,
    election_elapsed_ticks: u64,
    heartbeat_elapsed_ticks: u64,
    pub(super) check_quorum: bool,
    pre_vote: bool,
    heartbeat_timeout_ticks: u64,
    election_timeout_ticks: u64,
    randomized_election_timeout_ticks: u64,
    rng: SeededRng,
}

impl<S: Storage> Raft<S> {
    /// A member restarting from `storage` (or starting, if it is empty).
    pub fn new(config: &Config, storage: S) -> Result<Raft<S>> {
        config.validate()?;
        let initial = storage.initial_state()?;
        let log = RaftLog::new(storage, config.max_committed_size_per_ready_bytes)?;
        let mut raft = Raft {
            id: config.id,
            term: Term(0),
            vote: NodeId::NONE,
            log,
            tracker: Tracker::new(config.max_inflight_msgs),
            role: Role::Follower,
            is_learner: false,
            lead: NodeId::NONE,
            lead_transferee: NodeId::NONE,
            pending_conf_index: LogIndex(0),
            msgs: Vec::new(),
            read_states: Vec::new(),
            read_only: ReadOnly::default(),
            pending_read_index: Vec::new(),
            max_msg_size_bytes: config.max_size_per_msg_bytes,
            election_elapsed_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            check_quorum: config.check_quorum,
            pre_vote: config.pre_vote,
            heartbeat_timeout_ticks: config.heartbeat_ticks,
            election_timeout_ticks: config.election_ticks,
            randomized_election_timeout_ticks: config.election_ticks,
            rng: SeededRng::new(config.seed),
        };
        let (tracker_config, progress) = confchange::restore(
            &initial.conf_state,
            raft.log.last_index(),
            config.max_inflight_msgs,
        )?;
        raft.switch_to_config(tracker_config, progress);
        if !initial.hard_state.is_empty() {
            raft.load_hard_state(initial.hard_state)?;
        }
        if config.applied.0 > 0 {
            raft.log.applied_to(config.applied);
        }
        raft.become_follower(raft.term, NodeId::NONE);
        Ok(raft)
    }

    fn load_hard_state(&mut self, hard_state: HardState) -> Result<()> {
        if hard_state.commit < self.log.committed || hard_state.commit > self.log.last_index() {
            return Err(Error::Config(format!(
                "hard state commit {} is out of range [{}, {}]",
                hard_state.commit,
                self.log.committed,
                self.log.last_index()
            )));
        }
        self.log.committed = hard_state.commit;
        self.term = hard_state.term;
        self.vote = hard_state.vote;
        Ok(())
    }

    /// The state to persist.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.log.committed,
        }
    }

    /// The highest index persisted and part of the current log.
    pub fn persisted_index(&self) -> LogIndex {
        if self.log.unstable.snapshot.is_some() {
            return LogIndex(0);
        }
        self.log.unstable.offset.prev().min(self.log.last_index())
    }

    /// Whether this member may campaign: it is a voter and not waiting on a snapshot.
    pub fn promotable(&self) -> bool {
        self.tracker.progress.contains_key(&self.id)
            && !self.is_learner
            && self.log.unstable.snapshot.is_none()
    }

    // ---- Sending ----

    /// Queues a message, stamping sender and term.
    pub(super) fn send(&mut self, mut m: Message) {
        if m.from.is_none() {
            m.from = self.id;
        }
        match m.msg_type {
            MessageType::RequestVote
            | MessageType::RequestVoteResponse
            | MessageType::RequestPreVote
            | MessageType::RequestPreVoteResponse => {
                // Vote messages carry the term they are about, set by the caller.
                assert!(
                    m.term.0 != 0,
                    "term should be set when sending {:?}",
                    m.msg_type
                );
            }
            MessageType::Propose | MessageType::ReadIndex => {}
            _ => m.term = self.term,
        }
        self.msgs.push(m);
    }

    // ---- Role changes ----

    fn reset(&mut self, term: Term) {
        if self.term != term {
            self.term = term;
            self.vote = NodeId::NONE;
        }
        self.lead = NodeId::NONE;
        self.election_elapsed_ticks = 0;
        self.heartbeat_elapsed_ticks = 0;
        self.randomized_election_timeout_ticks = self
            .rng
            .range(self.election_timeout_ticks, 2 * self.election_timeout_ticks);
        self.lead_transferee = NodeId::NONE;
        self.tracker.reset_votes();
        let last = self.log.last_index();
        let persisted = self.persisted_index();
        let max_inflight = self.tracker.max_inflight;
        for (&id, progress) in self.tracker.progress.iter_mut() {
            let is_learner = progress.is_learner;
            *progress = Progress::new(last.next(), max_inflight);
            progress.is_learner = is_learner;
            if id == self.id {
                progress.matched = persisted;
            }
        }
        self.pending_conf_index = LogIndex(0);
        self.read_only = ReadOnly::default();
        self.pending_read_index.clear();
    }

    /// Becomes a follower of `lead` in `term`.
    pub fn become_follower(&mut self, term: Term, lead: NodeId) {
        self.reset(term);
        self.lead = lead;
        self.role = Role::Follower;
    }

    fn become_candidate(&mut self) {
        assert!(
            self.role != Role::Leader,
            "invalid transition [leader -> candidate]"
        );
        let next = self.term.next();
        self.reset(next);
        self.vote = self.id;
        self.role = Role::Candidate;
    }

    fn become_pre_candidate(&mut self) {
        assert!(
            self.role != Role::Leader,
            "invalid transition [leader -> pre-candidate]"
        );
        // Pre-vote changes neither the term nor the vote.
        self.tracker.reset_votes();
        self.lead = NodeId::NONE;
        self.role = Role::PreCandidate;
    }

    pub(super) fn become_leader(&mut self) {
        assert!(
            self.role != Role::Follower,
            "invalid transition [follower -> leader]"
        );
        self.reset(self.term);
        self.lead = self.id;
        self.role = Role::Leader;
        let persisted = self.persisted_index();
        if let Some(progress) = self.tracker.progress.get_mut(&self.id) {
            progress.become_replicate();
            progress.matched = persisted;
            progress.next = self.log.last_index().next();
            progress.recent_active = true;
        }
        // Conf changes in the uncommitted tail may exist; refuse new ones until everything
        // up to here is applied.
        self.pending_conf_index = self.log.last_index();
        // An empty entry of the new term: committing it commits everything before it
        // (§5.4.2) and lets ReadIndex serve reads.
        self.append_entries(vec![Entry::default()]);
    }

    /// Appends entries as leader, stamping term and index. The leader's own progress is
    /// advanced only when they are persisted (see `on_persisted`).
    pub(super) fn append_entries(&mut self, mut entries: Vec<Entry>) {
        let last = self.log.last_index();
        for (offset, entry) in entries.iter_mut().enumerate() {
            entry.term = self.term;
            entry.index = last + 1 + offset as u64;
        }
        self.log.append(&entries);
    }

    /// Notice from the caller that the log is persisted up to `index`: the leader may now
    /// count its own copy toward the quorum.
    pub fn on_persisted(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let persisted = self.persisted_index();
        let updated = self
            .tracker
            .progress
            .get_mut(&self.id)
            .is_some_and(|p| p.maybe_update(persisted));
        if updated && self.maybe_commit() {
            self.release_pending_read_index();
            self.bcast_append();
        }
    }

    pub(super) fn set_election_elapsed(&mut self, ticks: u64) {
        self.election_elapsed_ticks = ticks;
    }

    /// Ticks since the last election-timer reset.
    pub fn election_elapsed_ticks(&self) -> u64 {
        self.election_elapsed_ticks
    }

    /// The configured election timeout, in ticks.
    pub fn election_timeout_ticks(&self) -> u64 {
        self.election_timeout_ticks
    }

    /// The election timeout drawn for the current term, in ticks.
    pub fn randomized_election_timeout_ticks(&self) -> u64 {
        self.randomized_election_timeout_ticks
    }

    // ---- Ticks ----

    /// Advances the logical clock by one tick.
    pub fn tick(&mut self) {
        match self.role {
            Role::Leader => self.tick_heartbeat(),
            _ => self.tick_election(),
        }
    }

    fn past_election_timeout(&self) -> bool {
        self.election_elapsed_ticks >= self.randomized_election_timeout_ticks
    }

    fn tick_election(&mut self) {
        self.election_elapsed_ticks += 1;
        if self.promotable() && self.past_election_timeout() {
            self.election_elapsed_ticks = 0;
            self.hup(CampaignKind::from_pre_vote(self.pre_vote));
        }
    }

    fn tick_heartbeat(&mut self) {
        self.heartbeat_elapsed_ticks += 1;
        self.election_elapsed_ticks += 1;
        if self.election_elapsed_ticks >= self.election_timeout_ticks {
            self.election_elapsed_ticks = 0;
            if self.check_quorum && !self.tracker.quorum_active(self.id) {
                // Lost contact with a quorum: step down so clients go elsewhere (§6.2).
                self.become_follower(self.term, NodeId::NONE);
                return;
            }
            // A transfer that did not finish within an election timeout is abandoned.
            if self.role == Role::Leader && !self.lead_transferee.is_none() {
                self.lead_transferee = NodeId::NONE;
            }
        }
        if self.role != Role::Leader {
            return;
        }
        if self.heartbeat_elapsed_ticks >= self.heartbeat_timeout_ticks {
            self.heartbeat_elapsed_ticks = 0;
            self.bcast_heartbeat();
        }
    }

    // ---- Elections ----

    fn has_unapplied_conf_changes(&self) -> bool {
        if self.log.applied >= self.log.committed {
            return false;
        }
        let low = self.log.applied.next().max(self.log.first_index());
        let high = self.log.committed.next();
        match self.log.slice(low, high, u64::MAX) {
            Ok(entries) => entries
                .iter()
                .any(|e| e.entry_type == EntryType::ConfChange),
            // Cannot tell: be safe and do not campaign.
            Err(_) => true,
        }
    }

    fn hup(&mut self, kind: CampaignKind) {
        if self.role == Role::Leader || !self.promotable() {
            return;
        }
        // A member that has not applied a committed conf change may be campaigning with
        // the wrong configuration.
        if self.has_unapplied_conf_changes() {
            return;
        }
        self.campaign(kind);
    }

    fn campaign(&mut self, kind: CampaignKind) {
        let (vote_type, term) = if kind == CampaignKind::PreElection {
            self.become_pre_candidate();
            (MessageType::RequestPreVote, self.term.next())
        } else {
            self.become_candidate();
            (MessageType::RequestVote, self.term)
        };
        let self_response = response_type(vote_type);
        if self.poll(self.id, self_response, true) == VoteResult::Won {
            // A single-voter configuration wins at once.
            if kind == CampaignKind::PreElection {
                self.campaign(CampaignKind::Election);
            } else {
                self.become_leader();
            }
            return;
        }
        let voters: Vec<NodeId> = self.tracker.config.voters.ids().into_iter().collect();
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for id in voters {
            if id == self.id {
                continue;
            }
            let mut m = Message::new(vote_type);
            m.to = id;
            m.term = term;
            m.index = last_index;
            m.log_term = last_term;
            if kind == CampaignKind::Transfer {
                m.context = CAMPAIGN_TRANSFER.to_vec();
            }
            self.send(m);
        }
    }

    fn poll(&mut self, id: NodeId, _response: MessageType, granted: bool) -> VoteResult {
        self.tracker.record_vote(id, granted);
        self.tracker.tally_votes().2
    }

    // ---- Stepping ----

    /// Feeds one message (from a peer, or a local input) to the state machine.
    pub fn step(&mut self, m: Message) -> Result<()> {
        if m.term.0 != 0 && m.term > self.term {
            if matches!(
                m.msg_type,
                MessageType::RequestVote | MessageType::RequestPreVote
            ) {
                let force = m.context == CAMPAIGN_TRANSFER;
                let in_lease = self.check_quorum
                    && !self.lead.is_none()
                    && self.election_elapsed_ticks < self.election_timeout_ticks;
                if !force && in_lease {
                    // We heard from a leader within the election timeout: a member asking
                    // for votes now is disruptive (§6, "disruptive servers"). Ignore it.
                    return Ok(());
                }
            }
            match m.msg_type {
                // A pre-vote request does not bump our term.
                MessageType::RequestPreVote => {}
                // A granted pre-vote carries the future term; we bump it when we win.
                MessageType::RequestPreVoteResponse if !m.reject => {}
                MessageType::Append | MessageType::Heartbeat | MessageType::Snapshot => {
                    self.become_follower(m.term, m.from);
                }
                _ => self.become_follower(m.term, NodeId::NONE),
            }
        } else if m.term.0 != 0 && m.term < self.term {
            if (self.check_quorum || self.pre_vote)
                && matches!(m.msg_type, MessageType::Heartbeat | MessageType::Append)
            {
                // A stale leader (perhaps partitioned away): tell it our term so it steps
                // down, or it never learns while we ignore its messages.
                let mut reply = Message::new(MessageType::AppendResponse);
                reply.to = m.from;
                self.send(reply);
            } else if m.msg_type == MessageType::RequestPreVote {
                let mut reply = Message::new(MessageType::RequestPreVoteResponse);
                reply.to = m.from;
                reply.term = self.term;
                reply.reject = true;
                self.send(reply);
            }
            return Ok(());
        }

        match m.msg_type {
            MessageType::Hup => {
                self.hup(CampaignKind::from_pre_vote(self.pre_vote));
                Ok(())
            }
            MessageType::RequestVote | MessageType::RequestPreVote => {
                self.handle_vote_request(&m);
                Ok(())
            }
            _ => match self.role {
                Role::Leader => self.step_leader(m),
                Role::Candidate | Role::PreCandidate => self.step_candidate(m),
                Role::Follower => self.step_follower(m),
            },
        }
    }

    fn handle_vote_request(&mut self, m: &Message) {
        let can_vote = self.vote == m.from
            || (self.vote.is_none() && self.lead.is_none())
            || (m.msg_type == MessageType::RequestPreVote && m.term > self.term);
        let mut reply = Message::new(response_type(m.msg_type));
        reply.to = m.from;
        if can_vote && self.log.is_up_to_date(m.index, m.log_term) {
            // The response carries the term of the request: for a pre-vote that is the
            // future term the candidate would use.
            reply.term = m.term;
            if m.msg_type == MessageType::RequestVote {
                self.election_elapsed_ticks = 0;
                self.vote = m.from;
            }
        } else {
            reply.term = self.term;
            reply.reject = true;
        }
        self.send(reply);
    }

    fn step_candidate(&mut self, m: Message) -> Result<()> {
        let my_response = if self.role == Role::PreCandidate {
            MessageType::RequestPreVoteResponse
        } else {
            MessageType::RequestVoteResponse
        };
        match m.msg_type {
            MessageType::Propose => return Err(Error::ProposalDropped),
            MessageType::Append => {
                self.become_follower(m.term, m.from);
                self.handle_append(m);
            }
            MessageType::Heartbeat => {
                self.become_follower(m.term, m.from);
                self.handle_heartbeat(m);
            }
            MessageType::Snapshot => {
                self.become_follower(m.term, m.from);
                self.handle_snapshot(m);
            }
            t if t == my_response => match self.poll(m.from, t, !m.reject) {
                VoteResult::Won => {
                    if self.role == Role::PreCandidate {
                        self.campaign(CampaignKind::Election);
                    } else {
                        self.become_leader();
                        self.bcast_append();
                    }
                }
                VoteResult::Lost => self.become_follower(self.term, NodeId::NONE),
                VoteResult::Pending => {}
            },
            MessageType::ReadIndex => return Err(Error::ProposalDropped),
            _ => {}
        }
        Ok(())
    }

    fn step_follower(&mut self, mut m: Message) -> Result<()> {
        match m.msg_type {
            MessageType::Propose | MessageType::ReadIndex | MessageType::TransferLeader => {
                if self.lead.is_none() {
                    return Err(Error::ProposalDropped);
                }
                m.to = self.lead;
                self.send(m);
            }
            MessageType::Append => {
                self.election_elapsed_ticks = 0;
                self.lead = m.from;
                self.handle_append(m);
            }
            MessageType::Heartbeat => {
                self.election_elapsed_ticks = 0;
                self.lead = m.from;
                self.handle_heartbeat(m);
            }
            MessageType::Snapshot => {
                self.election_elapsed_ticks = 0;
                self.lead = m.from;
                self.handle_snapshot(m);
            }
            MessageType::TimeoutNow => {
                // Campaign now, skipping pre-vote: the leader asked us to (§3.10 of the
                // thesis, leadership transfer).
                self.hup(CampaignKind::Transfer);
            }
            MessageType::ReadIndexResponse => {
                self.read_states.push(ReadState {
                    index: m.index,
                    request_context: m.context,
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_append(&mut self, m: Message) {
        let mut reply = Message::new(MessageType::AppendResponse);
        reply.to = m.from;
        if m.index < self.log.committed {
            // Everything up to our commit is known to match; say so.
            reply.index = self.log.committed;
            self.send(reply);
            return;
        }
        match self
            .log
            .maybe_append(m.index, m.log_term, m.commit, &m.entries)
        {
            Ok(Some(last_new)) => {
                reply.index = last_new;
            }
            _ => {
                // Our log does not have (index, log_term). Find the last index whose term
                // is at most log_term: the leader can skip the whole conflicting term.
                let hint = m.index.min(self.log.last_index());
                let (hint_index, hint_term) = self.log.find_conflict_by_term(hint, m.log_term);
                reply.index = m.index;
                reply.reject = true;
                reply.reject_hint = hint_index;
                reply.log_term = hint_term;
            }
        }
        self.send(reply);
    }

    fn handle_heartbeat(&mut self, m: Message) {
        self.log.commit_to(m.commit.min(self.log.last_index()));
        let mut reply = Message::new(MessageType::HeartbeatResponse);
        reply.to = m.from;
        reply.context = m.context;
        self.send(reply);
    }

    fn handle_snapshot(&mut self, m: Message) {
        let mut reply = Message::new(MessageType::AppendResponse);
        reply.to = m.from;
        let Some(snapshot) = m.snapshot else {
            return;
        };
        reply.index = if self.restore(snapshot) {
            self.log.last_index()
        } else {
            self.log.committed
        };
        self.send(reply);
    }

    /// Installs a snapshot from the leader. Returns false if it is not newer than what
    /// the log already commits (or merely fast-forwards the commit index).
    fn restore(&mut self, snapshot: Snapshot) -> bool {
        let meta = &snapshot.metadata;
        if meta.index <= self.log.committed {
            return false;
        }
        // The snapshot's configuration may not include us yet: a member added after the
        // snapshot was taken learns of its own addition from the entries that follow.
        // (etcd refuses such snapshots; it can because its server always sends a fresh one.)
        let cs = &meta.conf_state;
        if self.log.match_term(meta.index, meta.term) {
            // We already have the snapshot's last entry: just commit up to it.
            self.log.commit_to(meta.index);
            return false;
        }
        let conf_state = cs.clone();
        self.log.restore(snapshot);
        match confchange::restore(
            &conf_state,
            self.log.last_index(),
            self.tracker.max_inflight,
        ) {
            Ok((config, progress)) => {
                self.switch_to_config(config, progress);
            }
            Err(e) => panic!("unable to restore config from snapshot: {e}"),
        }
        true
    }

    // ---- Membership ----

    /// Applies a committed conf change and returns the configuration now in force.
    pub fn apply_conf_change(&mut self, change: &ConfChange) -> Result<ConfState> {
        let changer = Changer {
            config: &self.tracker.config,
            progress: &self.tracker.progress,
            last_index: self.log.last_index(),
            max_inflight: self.tracker.max_inflight,
        };
        let (config, progress) = if change.is_leave_joint() {
            changer.leave_joint()?
        } else if let Some(auto_leave) = change.enters_joint() {
            changer.enter_joint(auto_leave, &change.changes)?
        } else {
            changer.simple(&change.changes)?
        };
        Ok(self.switch_to_config(config, progress))
    }

    fn switch_to_config(
        &mut self,
        config: super::progress::TrackerConfig,
        progress: std::collections::BTreeMap<NodeId, Progress>,
    ) -> ConfState {
        self.tracker.config = config;
        self.tracker.progress = progress;
        let conf_state = self.tracker.conf_state();
        let own = self.tracker.progress.get(&self.id);
        self.is_learner = own.is_some_and(|p| p.is_learner);
        if (own.is_none() || self.is_learner) && self.role == Role::Leader {
            // The leader was removed (or demoted): step down, and the others elect a new
            // leader after an election timeout.
            self.become_follower(self.term, NodeId::NONE);
            return conf_state;
        }
        if self.role != Role::Leader || conf_state.voters.is_empty() {
            return conf_state;
        }
        // The quorum may have changed: the commit index may advance, and new members need
        // entries.
        if self.maybe_commit() {
            self.bcast_append();
        } else {
            let ids: Vec<NodeId> = self.tracker.progress.keys().copied().collect();
            for id in ids {
                if id != self.id {
                    self.maybe_send_append(id, false);
                }
            }
        }
        if !self.lead_transferee.is_none() && !self.tracker.is_voter(self.lead_transferee) {
            self.lead_transferee = NodeId::NONE;
        }
        conf_state
    }

    /// The application applied entries up to `index`. A leader in a joint configuration
    /// that leaves by itself proposes leaving once the entering change is applied.
    pub fn applied_to(&mut self, index: LogIndex) {
        self.log.applied_to(index);
        if self.tracker.config.auto_leave
            && index >= self.pending_conf_index
            && self.role == Role::Leader
        {
            let entry = Entry {
                entry_type: EntryType::ConfChange,
                data: ConfChange::leave_joint().encode(),
                ..Entry::default()
            };
            let mut m = Message::new(MessageType::Propose);
            m.entries = vec![entry];
            // Refusal (e.g. a transfer is under way) is retried at the next apply.
            let _ = self.step(m);
        }
    }
}

impl CampaignKind {
    fn from_pre_vote(pre_vote: bool) -> CampaignKind {
        if pre_vote {
            CampaignKind::PreElection
        } else {
            CampaignKind::Election
        }
    }
}

/// The response type of a vote request type.
fn response_type(request: MessageType) -> MessageType {
    match request {
        MessageType::RequestPreVote => MessageType::RequestPreVoteResponse,
        _ => MessageType::RequestVoteResponse,
    }
}
