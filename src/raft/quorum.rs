//! Quorums: which set of acknowledgements commits an index or wins an election, for a
//! simple majority configuration and for a joint one (a majority of both halves).

use std::collections::{BTreeMap, BTreeSet};

use super::types::{LogIndex, NodeId};

/// The outcome of counting votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoteResult {
    /// Some votes are missing; the outcome could still go either way.
    Pending,
    /// A quorum rejected.
    Lost,
    /// A quorum granted.
    Won,
}

/// A set of voters where a majority decides.
pub type MajorityConfig = BTreeSet<NodeId>;

/// The highest index acknowledged by a majority of `voters`. `acked` gives each voter's
/// acknowledged index (None: unknown, counted as 0). An empty configuration commits
/// everything (so a joint configuration with an empty outgoing half is a simple one).
pub fn majority_committed_index(
    voters: &MajorityConfig,
    acked: &impl Fn(NodeId) -> Option<LogIndex>,
) -> LogIndex {
    if voters.is_empty() {
        return LogIndex(u64::MAX);
    }
    let mut indexes: Vec<LogIndex> = voters
        .iter()
        .map(|&id| acked(id).unwrap_or(LogIndex(0)))
        .collect();
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    // With n voters, the (n/2 + 1)-th highest index is held by a majority.
    indexes[voters.len() / 2]
}

/// Counts the votes of a majority configuration. An empty configuration wins.
pub fn majority_vote_result(voters: &MajorityConfig, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let (mut granted, mut missing) = (0, 0);
    for id in voters {
        match votes.get(id) {
            Some(true) => granted += 1,
            Some(false) => {}
            None => missing += 1,
        }
    }
    let quorum = voters.len() / 2 + 1;
    if granted >= quorum {
        VoteResult::Won
    } else if granted + missing >= quorum {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

/// A configuration of one or two majorities; with two (joint consensus) every decision
/// needs a majority of each.
///
/// Invariant: `outgoing` is empty unless the configuration is joint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JointConfig {
    /// The incoming (or only) voters.
    pub incoming: MajorityConfig,
    /// The outgoing voters; empty when not joint.
    pub outgoing: MajorityConfig,
}

impl JointConfig {
    /// Every voter of either half.
    pub fn ids(&self) -> BTreeSet<NodeId> {
        self.incoming.union(&self.outgoing).copied().collect()
    }

    /// Whether `id` votes in either half.
    pub fn contains(&self, id: NodeId) -> bool {
        self.incoming.contains(&id) || self.outgoing.contains(&id)
    }

    /// Whether the configuration is joint.
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// The highest index committed by both halves.
    pub fn committed_index(&self, acked: &impl Fn(NodeId) -> Option<LogIndex>) -> LogIndex {
        let incoming = majority_committed_index(&self.incoming, acked);
        let outgoing = majority_committed_index(&self.outgoing, acked);
        incoming.min(outgoing)
    }

    /// The election outcome across both halves.
    pub fn vote_result(&self, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
        let incoming = majority_vote_result(&self.incoming, votes);
        let outgoing = majority_vote_result(&self.outgoing, votes);
        match (incoming, outgoing) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[u64]) -> MajorityConfig {
        raw.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn majority_commit_is_the_index_a_majority_has_reached() {
        let acked = |id: NodeId| match id.0 {
            1 => Some(LogIndex(5)),
            2 => Some(LogIndex(3)),
            3 => Some(LogIndex(1)),
            _ => None,
        };
        assert_eq!(
            majority_committed_index(&ids(&[1, 2, 3]), &acked),
            LogIndex(3)
        );
        assert_eq!(
            majority_committed_index(&ids(&[1, 2, 3, 4]), &acked),
            LogIndex(1)
        );
        assert_eq!(majority_committed_index(&ids(&[1]), &acked), LogIndex(5));
    }

    #[test]
    fn joint_commit_needs_both_halves() {
        let acked = |id: NodeId| match id.0 {
            1 | 2 => Some(LogIndex(9)),
            _ => Some(LogIndex(2)),
        };
        let joint = JointConfig {
            incoming: ids(&[1, 2, 3]),
            outgoing: ids(&[3, 4, 5]),
        };
        assert_eq!(joint.committed_index(&acked), LogIndex(2));
    }

    #[test]
    fn votes_are_won_lost_or_pending() {
        let voters = ids(&[1, 2, 3]);
        let mut votes = BTreeMap::new();
        votes.insert(NodeId(1), true);
        assert_eq!(majority_vote_result(&voters, &votes), VoteResult::Pending);
        votes.insert(NodeId(2), false);
        assert_eq!(majority_vote_result(&voters, &votes), VoteResult::Pending);
        votes.insert(NodeId(3), false);
        assert_eq!(majority_vote_result(&voters, &votes), VoteResult::Lost);
        votes.insert(NodeId(3), true);
        assert_eq!(majority_vote_result(&voters, &votes), VoteResult::Won);
        let joint = JointConfig {
            incoming: voters,
            outgoing: ids(&[4, 5, 6]),
        };
        assert_eq!(joint.vote_result(&votes), VoteResult::Pending);
    }
}
