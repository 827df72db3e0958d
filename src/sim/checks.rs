//! Raft's safety properties, checked after every step of the simulation against what
//! every member holds.
//!
//! - Election safety: at most one leader per term; and beneath it, each member grants at
//!   most one vote per term, across crashes and restarts (seen on the wire).
//! - Log matching: two logs holding an entry with the same index and term hold the same
//!   entry there and agree on everything before it. Checked inductively: an (index,
//!   term) pair always names the same data and the same term at index - 1.
//! - Leader completeness: an entry committed in term T is in the log of every leader of
//!   a term after T.
//! - State machine safety: every member applies the same entry at each index, in order.
//! - A member's commit index never decreases (while it runs).
//! - The commit rule (§5.4.2): a leader moves its commit index only onto an entry of its
//!   own term; older entries become committed only as a consequence. Breaking it is
//!   unsafe (the Figure 8 scenario), but the overwrite that shows the harm needs a rare
//!   schedule of crashes, so the rule is checked where it is applied.

use std::collections::{BTreeMap, HashMap};

use crate::raft::{Entry, LogIndex, NodeId, Role, Term};

/// A broken property, in words.
pub type Broken = String;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decided {
    term: Term,
    fingerprint: u64,
    /// The lowest term of a member seen to hold it committed.
    committed_in: Term,
}

/// What the checker has learned so far.
#[derive(Debug, Default)]
pub struct SafetyChecker {
    leaders: HashMap<Term, NodeId>,
    /// (index, term) → (fingerprint of the entry, term of the entry before it).
    entries: HashMap<(LogIndex, Term), (u64, Option<Term>)>,
    /// Committed entries by index.
    decided: BTreeMap<LogIndex, Decided>,
    /// Per member: the commit index seen last, with the role and term it was seen in
    /// (reset on restart).
    commits: HashMap<NodeId, (LogIndex, Role, Term)>,
    /// (voter, term) → the candidate it granted its vote to.
    votes: HashMap<(NodeId, Term), NodeId>,
    /// Per member: the index applied last (reset on restart).
    applied: HashMap<NodeId, LogIndex>,
}

/// What the checker needs of one running member.
pub struct MemberView<'a> {
    /// The member.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its term.
    pub term: Term,
    /// Its commit index.
    pub commit: LogIndex,
    /// The index before its first log entry (the snapshot's), and that entry's term.
    pub log_base: (LogIndex, Term),
    /// Its log, stable and unstable, in order.
    pub log: &'a [Entry],
}

/// A stable hash of an entry's content (FNV-1a).
pub fn fingerprint(entry: &Entry) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let kind = entry.entry_type as u8;
    for &byte in std::iter::once(&kind).chain(entry.data.iter()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

impl SafetyChecker {
    /// Forgets a member's volatile history (it restarted).
    pub fn restarted(&mut self, id: NodeId, snapshot_index: LogIndex) {
        self.commits.remove(&id);
        self.applied.insert(id, snapshot_index);
    }

    /// Checks one running member.
    pub fn check_member(&mut self, member: &MemberView<'_>) -> Result<(), Broken> {
        let id = member.id;
        if member.role == Role::Leader {
            let leader = *self.leaders.entry(member.term).or_insert(id);
            if leader != id {
                return Err(format!(
                    "election safety: {leader} and {id} are both leaders of term {}",
                    member.term
                ));
            }
        }
        let seen = (member.commit, member.role, member.term);
        let (last_commit, last_role, last_term) =
            self.commits
                .insert(id, seen)
                .unwrap_or((LogIndex(0), Role::Follower, Term(0)));
        if member.commit < last_commit {
            return Err(format!(
                "commit index of {id} went back from {last_commit} to {}",
                member.commit
            ));
        }
        let first_index = member.log_base.0.next();
        if member.role == Role::Leader
            && last_role == Role::Leader
            && last_term == member.term
            && member.commit > last_commit
            && member.commit >= first_index
        {
            let term = member.log[(member.commit - first_index) as usize].term;
            if term != member.term {
                return Err(format!(
                    "commit rule: {id}, leader of term {}, committed index {} of term {term} \
                     by counting replicas",
                    member.term, member.commit
                ));
            }
        }
        let mut previous_term = Some(member.log_base.1);
        for entry in member.log {
            let fp = fingerprint(entry);
            let known = *self
                .entries
                .entry((entry.index, entry.term))
                .or_insert((fp, previous_term));
            if known.0 != fp
                || (known.1.is_some() && previous_term.is_some() && known.1 != previous_term)
            {
                return Err(format!(
                    "log matching: {id} holds a different entry at index {} term {} \
                     (or a different entry before it)",
                    entry.index, entry.term
                ));
            }
            previous_term = Some(entry.term);
        }
        let first = member.log_base.0.next();
        for entry in member.log.iter().filter(|e| e.index <= member.commit) {
            self.decide(entry, member.term, id, "committed")?;
        }
        if member.role == Role::Leader {
            let last = member.log.last().map_or(member.log_base.0, |e| e.index);
            for (&index, decided) in self.decided.range(first..) {
                if decided.committed_in > member.term {
                    continue;
                }
                let held = (index <= last)
                    .then(|| member.log[(index - first) as usize].term)
                    .filter(|&t| t == decided.term);
                if held.is_none() {
                    return Err(format!(
                        "leader completeness: {id}, leader of term {}, lacks the entry \
                         committed at index {index} term {} (seen committed in term {})",
                        member.term, decided.term, decided.committed_in
                    ));
                }
            }
        }
        Ok(())
    }

    /// Records a vote granted on the wire: `voter` to `candidate` in `term`.
    pub fn vote_granted(
        &mut self,
        voter: NodeId,
        term: Term,
        candidate: NodeId,
    ) -> Result<(), Broken> {
        let first = *self.votes.entry((voter, term)).or_insert(candidate);
        if first != candidate {
            return Err(format!(
                "election safety: {voter} voted for {first} and then for {candidate} in term {term}"
            ));
        }
        Ok(())
    }

    /// Records that `id` applied `entry` (or jumped to a snapshot when `entry` is None).
    pub fn applied(&mut self, id: NodeId, term: Term, entry: &Entry) -> Result<(), Broken> {
        let last = self.applied.get(&id).copied().unwrap_or_default();
        if entry.index != last.next() {
            return Err(format!(
                "state machine safety: {id} applied index {} after {last}",
                entry.index
            ));
        }
        self.applied.insert(id, entry.index);
        self.decide(entry, term, id, "applied")
    }

    /// Records that `id` installed a snapshot up to `index`.
    pub fn installed_snapshot(&mut self, id: NodeId, index: LogIndex) -> Result<(), Broken> {
        let last = self.applied.get(&id).copied().unwrap_or_default();
        if index < last {
            return Err(format!(
                "state machine safety: {id} installed a snapshot at {index} after applying {last}"
            ));
        }
        self.applied.insert(id, index);
        Ok(())
    }

    fn decide(&mut self, entry: &Entry, term: Term, id: NodeId, how: &str) -> Result<(), Broken> {
        let fp = fingerprint(entry);
        let decided = self.decided.entry(entry.index).or_insert(Decided {
            term: entry.term,
            fingerprint: fp,
            committed_in: term,
        });
        if decided.term != entry.term || decided.fingerprint != fp {
            return Err(format!(
                "state machine safety: {id} {how} an entry at index {} term {} where \
                 another member's committed entry has term {}",
                entry.index, entry.term, decided.term
            ));
        }
        decided.committed_in = decided.committed_in.min(term);
        Ok(())
    }

    /// The number of committed entries seen.
    pub fn committed_entries(&self) -> usize {
        self.decided.len()
    }
}
