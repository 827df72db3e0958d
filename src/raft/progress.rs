//! What the leader knows of each follower's log (Progress), the window of appends in
//! flight to it (Inflights), and the configuration with all progresses (Tracker).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::quorum::{JointConfig, VoteResult};
use super::types::{ConfState, LogIndex, NodeId};

/// How the leader replicates to one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// The leader does not know where the follower's log agrees with its own: it sends
    /// one `Append` per heartbeat interval and waits for the answer.
    Probe,
    /// The logs agree up to `matched`: the leader streams entries optimistically, up to
    /// the in-flight window.
    Replicate,
    /// The follower needs a snapshot; nothing else is sent until it is installed.
    Snapshot,
}

/// A bounded window of `Append` messages in flight to one follower, each remembered by
/// the last index it carried.
#[derive(Clone, Debug)]
pub struct Inflights {
    capacity: usize,
    last_indexes: VecDeque<LogIndex>,
}

impl Inflights {
    /// An empty window of `capacity` messages.
    pub fn new(capacity: usize) -> Inflights {
        Inflights {
            capacity,
            last_indexes: VecDeque::with_capacity(capacity.min(64)),
        }
    }

    /// Whether no more messages may be sent.
    pub fn full(&self) -> bool {
        self.last_indexes.len() >= self.capacity
    }

    /// The number of messages in flight.
    pub fn count(&self) -> usize {
        self.last_indexes.len()
    }

    /// Records a message whose last entry is `last`. The window MUST NOT be full.
    pub fn add(&mut self, last: LogIndex) {
        assert!(!self.full(), "cannot add into a full inflights window");
        self.last_indexes.push_back(last);
    }

    /// Frees every message whose last index is at or below `index` (they were
    /// acknowledged).
    pub fn free_to(&mut self, index: LogIndex) {
        while self.last_indexes.front().is_some_and(|&last| last <= index) {
            self.last_indexes.pop_front();
        }
    }

    /// Frees the oldest message in flight.
    pub fn free_first(&mut self) {
        self.last_indexes.pop_front();
    }

    /// Empties the window.
    pub fn reset(&mut self) {
        self.last_indexes.clear();
    }
}

/// The leader's view of one follower.
///
/// Invariant: `matched < next`.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The highest index known to be in the follower's log, agreeing with the leader's.
    pub matched: LogIndex,
    /// The next index to send.
    pub next: LogIndex,
    /// The replication state.
    pub state: ProgressState,
    /// In `Snapshot` state: the index of the snapshot being sent.
    pub pending_snapshot: LogIndex,
    /// Whether the follower was heard from since the last check-quorum round.
    pub recent_active: bool,
    /// In `Probe` state: a probe was sent and no answer received since the last
    /// heartbeat; nothing more is sent until then.
    pub probe_sent: bool,
    /// The appends in flight.
    pub inflights: Inflights,
    /// Whether the member is a learner (it receives the log but does not vote).
    pub is_learner: bool,
}

impl Progress {
    /// A progress in probe state starting at `next`.
    pub fn new(next: LogIndex, max_inflight: usize) -> Progress {
        Progress {
            matched: LogIndex(0),
            next,
            state: ProgressState::Probe,
            pending_snapshot: LogIndex(0),
            recent_active: false,
            probe_sent: false,
            inflights: Inflights::new(max_inflight),
            is_learner: false,
        }
    }

    fn reset_state(&mut self, state: ProgressState) {
        self.probe_sent = false;
        self.pending_snapshot = LogIndex(0);
        self.state = state;
        self.inflights.reset();
    }

    /// Moves to `Probe`, restarting after the match (or after a snapshot being sent).
    pub fn become_probe(&mut self) {
        if self.state == ProgressState::Snapshot {
            let pending = self.pending_snapshot;
            self.reset_state(ProgressState::Probe);
            self.next = (self.matched.next()).max(pending.next());
        } else {
            self.reset_state(ProgressState::Probe);
            self.next = self.matched.next();
        }
    }

    /// Moves to `Replicate`, sending from just after the match.
    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next = self.matched.next();
    }

    /// Moves to `Snapshot`, waiting for the snapshot at `snapshot_index` to be installed.
    pub fn become_snapshot(&mut self, snapshot_index: LogIndex) {
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snapshot_index;
    }

    /// Records an acknowledgement of everything up to `index`. Returns whether it was
    /// news (the match advanced).
    pub fn maybe_update(&mut self, index: LogIndex) -> bool {
        let mut updated = false;
        if self.matched < index {
            self.matched = index;
            updated = true;
            self.probe_sent = false;
        }
        self.next = self.next.max(index.next());
        updated
    }

    /// Records that entries up to `last` were sent optimistically (Replicate state).
    pub fn optimistic_update(&mut self, last: LogIndex) {
        self.next = last.next();
    }

    /// Handles a rejected append of `rejected` whose answer suggests `match_hint` as the
    /// last index that may agree. Returns false if the rejection is stale (ignored).
    pub fn maybe_decr_to(&mut self, rejected: LogIndex, match_hint: LogIndex) -> bool {
        if self.state == ProgressState::Replicate {
            // Out-of-order or duplicate rejection of something already matched: stale.
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched.next();
            return true;
        }
        // In probe state only the rejection of the last probe (index next - 1) counts.
        if self.next.prev() != rejected {
            return false;
        }
        self.next = (match_hint.next()).min(rejected).max(self.matched.next());
        self.probe_sent = false;
        true
    }

    /// Whether sending to this follower is paused (waiting for an answer, or a full
    /// window, or a snapshot in progress).
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot => true,
        }
    }
}

/// The configuration the leader tracks progress against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackerConfig {
    /// The voters (joint or simple).
    pub voters: JointConfig,
    /// Learners.
    pub learners: BTreeSet<NodeId>,
    /// Outgoing voters that become learners when the joint configuration is left.
    pub learners_next: BTreeSet<NodeId>,
    /// Leave the joint configuration automatically once applied.
    pub auto_leave: bool,
}

impl TrackerConfig {
    /// The persisted form of this configuration.
    pub fn to_conf_state(&self) -> ConfState {
        ConfState {
            voters: self.voters.incoming.clone(),
            learners: self.learners.clone(),
            voters_outgoing: self.voters.outgoing.clone(),
            learners_next: self.learners_next.clone(),
            auto_leave: self.auto_leave,
        }
    }
}

/// The configuration, every member's progress, and the votes of the current election.
#[derive(Clone, Debug)]
pub struct Tracker {
    /// The configuration in force.
    pub config: TrackerConfig,
    /// Progress of every voter and learner.
    pub progress: BTreeMap<NodeId, Progress>,
    /// Votes received in the current election.
    pub votes: BTreeMap<NodeId, bool>,
    /// The in-flight window of new progresses.
    pub max_inflight: usize,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(max_inflight: usize) -> Tracker {
        Tracker {
            config: TrackerConfig::default(),
            progress: BTreeMap::new(),
            votes: BTreeMap::new(),
            max_inflight,
        }
    }

    /// The configuration as persisted.
    pub fn conf_state(&self) -> ConfState {
        self.config.to_conf_state()
    }

    /// Whether `id` is a voter in either half of the configuration.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.config.voters.contains(id)
    }

    /// Whether the configuration has exactly this one voter (it may commit alone).
    pub fn is_singleton(&self) -> bool {
        self.config.voters.outgoing.is_empty() && self.config.voters.incoming.len() == 1
    }

    /// The highest index acknowledged by a quorum.
    pub fn committed(&self) -> LogIndex {
        let progress = &self.progress;
        self.config
            .voters
            .committed_index(&|id| progress.get(&id).map(|p| p.matched))
    }

    /// Forgets the votes of the last election.
    pub fn reset_votes(&mut self) {
        self.votes.clear();
    }

    /// Records a vote (the first one of each voter counts).
    pub fn record_vote(&mut self, id: NodeId, granted: bool) {
        self.votes.entry(id).or_insert(granted);
    }

    /// The current election outcome, with the count of grants and rejections.
    pub fn tally_votes(&self) -> (usize, usize, VoteResult) {
        let (mut granted, mut rejected) = (0, 0);
        for (id, &vote) in &self.votes {
            if !self.is_voter(*id) {
                continue;
            }
            if vote {
                granted += 1;
            } else {
                rejected += 1;
            }
        }
        (
            granted,
            rejected,
            self.config.voters.vote_result(&self.votes),
        )
    }

    /// Whether a quorum has been active since the last check (self counts as active).
    /// Clears the flags of everyone but `self_id` for the next round.
    pub fn quorum_active(&mut self, self_id: NodeId) -> bool {
        let mut votes = BTreeMap::new();
        for (&id, progress) in &mut self.progress {
            if id == self_id {
                votes.insert(id, true);
                continue;
            }
            if progress.is_learner {
                continue;
            }
            votes.insert(id, progress.recent_active);
            progress.recent_active = false;
        }
        self.config.voters.vote_result(&votes) == VoteResult::Won
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflights_window_fills_and_frees_in_order() {
        let mut inflights = Inflights::new(3);
        for i in 1..=3 {
            inflights.add(LogIndex(i * 10));
        }
        assert!(inflights.full());
        inflights.free_to(LogIndex(15));
        assert_eq!(inflights.count(), 2);
        inflights.free_to(LogIndex(30));
        assert_eq!(inflights.count(), 0);
    }

    #[test]
    fn probe_rejection_moves_next_to_hint_and_ignores_stale_ones() {
        let mut progress = Progress::new(LogIndex(10), 8);
        assert!(!progress.maybe_decr_to(LogIndex(5), LogIndex(3)));
        assert!(progress.maybe_decr_to(LogIndex(9), LogIndex(4)));
        assert_eq!(progress.next, LogIndex(5));
        progress.matched = LogIndex(4);
        progress.become_replicate();
        assert!(!progress.maybe_decr_to(LogIndex(4), LogIndex(0)));
        assert!(progress.maybe_decr_to(LogIndex(7), LogIndex(0)));
        assert_eq!(progress.next, LogIndex(5));
    }
}
