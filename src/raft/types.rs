//! The values the Raft core reads and writes: identifiers, log entries, hard state,
//! configurations, snapshots and messages.
//!
//! These are plain data. Encoding them for the disk or the network is the job of the
//! layers around the core (storage and transport), not of the core itself; the one
//! exception is [`ConfChange`], whose bytes travel inside log entries and which the core
//! must decode when it applies one.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::{Add, Sub};

/// A Raft term. Terms start at 0 (no leader yet) and only ever grow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(pub u64);

/// A position in the Raft log. Index 0 is "before the first entry"; the first entry
/// ever written has index 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogIndex(pub u64);

/// The identifier of a cluster member. 0 ([`NodeId::NONE`]) means "no member".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

impl NodeId {
    /// No member: the value of `vote` before voting and of `lead` when no leader is known.
    pub const NONE: NodeId = NodeId(0);

    /// Whether this is [`NodeId::NONE`].
    pub fn is_none(self) -> bool {
        self == Self::NONE
    }
}

impl Term {
    /// The next term.
    pub fn next(self) -> Term {
        Term(self.0 + 1)
    }
}

impl LogIndex {
    /// The index before this one (saturating at 0).
    pub fn prev(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }

    /// The index after this one.
    pub fn next(self) -> LogIndex {
        LogIndex(self.0 + 1)
    }
}

impl Add<u64> for LogIndex {
    type Output = LogIndex;
    fn add(self, rhs: u64) -> LogIndex {
        LogIndex(self.0 + rhs)
    }
}

impl Sub<u64> for LogIndex {
    type Output = LogIndex;
    fn sub(self, rhs: u64) -> LogIndex {
        LogIndex(self.0 - rhs)
    }
}

impl Sub<LogIndex> for LogIndex {
    type Output = u64;
    fn sub(self, rhs: LogIndex) -> u64 {
        self.0 - rhs.0
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// What a log entry carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// Application data (an empty one is appended by every new leader).
    #[default]
    Normal,
    /// An encoded [`ConfChange`]: a membership change.
    ConfChange,
}

/// One entry of the replicated log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The term of the leader that created the entry.
    pub term: Term,
    /// The entry's position in the log.
    pub index: LogIndex,
    /// What `data` holds.
    pub entry_type: EntryType,
    /// Opaque application data, or an encoded [`ConfChange`].
    pub data: Vec<u8>,
}

impl Entry {
    /// The size counted against message and batch limits.
    pub fn size_bytes(&self) -> u64 {
        // Term, index and type are counted as a fixed header.
        self.data.len() as u64 + 24
    }
}

/// The state a member MUST persist before it sends the messages of the same `Ready`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HardState {
    /// The current term.
    pub term: Term,
    /// Whom this member voted for in `term` ([`NodeId::NONE`] if nobody).
    pub vote: NodeId,
    /// The highest log index known to be committed.
    pub commit: LogIndex,
}

impl HardState {
    /// Whether this is the all-zero state of a member that never ran.
    pub fn is_empty(&self) -> bool {
        *self == HardState::default()
    }
}

/// A cluster configuration as it is persisted: who votes and who learns.
///
/// Invariant: `voters`, `learners` are disjoint, and so are `voters_outgoing` and
/// `learners`; `learners_next` are voters in `voters_outgoing` that become learners when
/// the joint configuration is left.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConfState {
    /// Voters of the (incoming) configuration.
    pub voters: BTreeSet<NodeId>,
    /// Non-voting members.
    pub learners: BTreeSet<NodeId>,
    /// Voters of the outgoing configuration; non-empty only while joint.
    pub voters_outgoing: BTreeSet<NodeId>,
    /// Outgoing voters that turn into learners when the joint configuration is left.
    pub learners_next: BTreeSet<NodeId>,
    /// Whether the leader leaves the joint configuration by itself once it is applied.
    pub auto_leave: bool,
}

impl ConfState {
    /// A simple configuration of the given voters.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> ConfState {
        ConfState {
            voters: voters.into_iter().collect(),
            ..ConfState::default()
        }
    }

    /// Whether the configuration is joint (an outgoing majority is still required).
    pub fn is_joint(&self) -> bool {
        !self.voters_outgoing.is_empty()
    }
}

/// Where a snapshot stands in the log, and the configuration at that point.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SnapshotMetadata {
    /// The configuration as of `index`.
    pub conf_state: ConfState,
    /// The last log index the snapshot covers.
    pub index: LogIndex,
    /// The term of the entry at `index`.
    pub term: Term,
}

/// A state-machine snapshot that replaces the log up to and including its index.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Snapshot {
    /// The application's serialized state machine.
    pub data: Vec<u8>,
    /// Position and configuration.
    pub metadata: SnapshotMetadata,
}

impl Snapshot {
    /// Whether this is the empty snapshot (index 0).
    pub fn is_empty(&self) -> bool {
        self.metadata.index == LogIndex(0)
    }
}

/// One step of a membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfChangeType {
    /// Add a voter, or promote a learner to voter.
    AddNode,
    /// Remove a member (voter or learner).
    RemoveNode,
    /// Add a learner, or demote a voter to learner.
    AddLearnerNode,
}

/// A single change of a [`ConfChange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConfChangeSingle {
    /// What to do.
    pub change_type: ConfChangeType,
    /// To whom.
    pub node_id: NodeId,
}

/// How a [`ConfChange`] is carried out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConfChangeTransition {
    /// A single voter change is applied directly; anything else goes through a joint
    /// configuration that the leader leaves by itself.
    #[default]
    Auto,
    /// Always use a joint configuration, left by itself once applied.
    JointImplicit,
    /// Always use a joint configuration, left only by an explicit empty [`ConfChange`].
    JointExplicit,
}

/// A membership change (etcd's `ConfChangeV2`). An empty `changes` list means "leave the
/// joint configuration".
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ConfChange {
    /// How to carry out the change.
    pub transition: ConfChangeTransition,
    /// The changes, applied in order.
    pub changes: Vec<ConfChangeSingle>,
    /// Opaque data for the application (etcd puts the member's attributes here).
    pub context: Vec<u8>,
}

/// Why a [`ConfChange`] could not be decoded from a log entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed conf change entry: {0}")]
pub struct ConfChangeDecodeError(&'static str);

impl ConfChange {
    /// A change that leaves the joint configuration.
    pub fn leave_joint() -> ConfChange {
        ConfChange::default()
    }

    /// Whether this change asks to leave a joint configuration.
    pub fn is_leave_joint(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether this change enters a joint configuration, and if so whether the leader
    /// leaves it by itself.
    pub fn enters_joint(&self) -> Option<bool> {
        let needs_joint = self.transition != ConfChangeTransition::Auto || self.changes.len() > 1;
        if !needs_joint {
            return None;
        }
        Some(self.transition != ConfChangeTransition::JointExplicit)
    }

    /// Encodes the change as the data of a log entry.
    ///
    /// Layout (little endian): transition u8, change count u32, then per change a type u8
    /// and a node id u64, then the context length u32 and the context bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.changes.len() * 9 + self.context.len());
        out.push(match self.transition {
            ConfChangeTransition::Auto => 0,
            ConfChangeTransition::JointImplicit => 1,
            ConfChangeTransition::JointExplicit => 2,
        });
        out.extend_from_slice(&(self.changes.len() as u32).to_le_bytes());
        for change in &self.changes {
            out.push(match change.change_type {
                ConfChangeType::AddNode => 0,
                ConfChangeType::RemoveNode => 1,
                ConfChangeType::AddLearnerNode => 2,
            });
            out.extend_from_slice(&change.node_id.0.to_le_bytes());
        }
        out.extend_from_slice(&(self.context.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.context);
        out
    }

    /// Decodes a change written by [`ConfChange::encode`].
    pub fn decode(mut bytes: &[u8]) -> Result<ConfChange, ConfChangeDecodeError> {
        fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], ConfChangeDecodeError> {
            if bytes.len() < n {
                return Err(ConfChangeDecodeError("truncated"));
            }
            let (head, tail) = bytes.split_at(n);
            *bytes = tail;
            Ok(head)
        }
        fn take_u32(bytes: &mut &[u8]) -> Result<u32, ConfChangeDecodeError> {
            let raw = take(bytes, 4)?;
            Ok(u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
        }
        let transition = match take(&mut bytes, 1)?[0] {
            0 => ConfChangeTransition::Auto,
            1 => ConfChangeTransition::JointImplicit,
            2 => ConfChangeTransition::JointExplicit,
            _ => return Err(ConfChangeDecodeError("unknown transition")),
        };
        let count = take_u32(&mut bytes)? as usize;
        if count > bytes.len() / 9 {
            return Err(ConfChangeDecodeError("change count exceeds data"));
        }
        let mut changes = Vec::with_capacity(count);
        for _ in 0..count {
            let change_type = match take(&mut bytes, 1)?[0] {
                0 => ConfChangeType::AddNode,
                1 => ConfChangeType::RemoveNode,
                2 => ConfChangeType::AddLearnerNode,
                _ => return Err(ConfChangeDecodeError("unknown change type")),
            };
            let raw = take(&mut bytes, 8)?;
            let mut id = [0u8; 8];
            id.copy_from_slice(raw);
            changes.push(ConfChangeSingle {
                change_type,
                node_id: NodeId(u64::from_le_bytes(id)),
            });
        }
        let context_len = take_u32(&mut bytes)? as usize;
        let context = take(&mut bytes, context_len)?.to_vec();
        if !bytes.is_empty() {
            return Err(ConfChangeDecodeError("trailing bytes"));
        }
        Ok(ConfChange {
            transition,
            changes,
            context,
        })
    }
}

/// The kinds of message the core sends, receives, or takes as local input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Local: start an election (sent to self by `campaign` or on election timeout).
    Hup,
    /// Local: the leader should send heartbeats.
    Beat,
    /// A client proposal; followers forward it to the leader.
    Propose,
    /// Leader to follower: append entries.
    Append,
    /// Follower to leader: the answer to `Append`, `Snapshot` or a probe.
    AppendResponse,
    /// Candidate to voter: vote for me.
    RequestVote,
    /// Voter to candidate: the answer to `RequestVote`.
    RequestVoteResponse,
    /// Pre-candidate to voter: would you vote for me?
    RequestPreVote,
    /// Voter to pre-candidate: the answer to `RequestPreVote`.
    RequestPreVoteResponse,
    /// Leader to follower: install this snapshot.
    Snapshot,
    /// Leader to follower: I am alive, and here is the commit index you may use.
    Heartbeat,
    /// Follower to leader: the answer to `Heartbeat`.
    HeartbeatResponse,
    /// Local: the transport could not reach a peer.
    Unreachable,
    /// Local: a snapshot sent to a peer finished (or failed, if `reject`).
    SnapshotStatus,
    /// Local: the leader should check it is still in contact with a quorum.
    CheckQuorum,
    /// Ask the leader to hand leadership to `from`.
    TransferLeader,
    /// Leader to transferee: campaign now, ignoring the election timeout.
    TimeoutNow,
    /// Ask for a read index (locally, or forwarded by a follower to the leader).
    ReadIndex,
    /// Leader to follower: the answer to a forwarded `ReadIndex`.
    ReadIndexResponse,
}

impl MessageType {
    /// Whether the message is local input, never sent over the network.
    pub fn is_local(self) -> bool {
        matches!(
            self,
            MessageType::Hup
                | MessageType::Beat
                | MessageType::Unreachable
                | MessageType::SnapshotStatus
                | MessageType::CheckQuorum
        )
    }

    /// Whether the message is a response (it carries no request of its own).
    pub fn is_response(self) -> bool {
        matches!(
            self,
            MessageType::AppendResponse
                | MessageType::RequestVoteResponse
                | MessageType::RequestPreVoteResponse
                | MessageType::HeartbeatResponse
                | MessageType::ReadIndexResponse
        )
    }
}

/// A message between members (or a local input to the core).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    /// What the message is.
    pub msg_type: MessageType,
    /// The recipient.
    pub to: NodeId,
    /// The sender.
    pub from: NodeId,
    /// The sender's term (0 for local messages and proposals).
    pub term: Term,
    /// For `Append`: the term of the entry at `index`. For votes: the candidate's last
    /// log term. For a rejected `AppendResponse`: the term at `reject_hint`.
    pub log_term: Term,
    /// For `Append`: the index before `entries`. For votes: the candidate's last index.
    /// For `AppendResponse`: the index acknowledged (or rejected).
    pub index: LogIndex,
    /// Entries to append (or proposed entries, for `Propose`).
    pub entries: Vec<Entry>,
    /// The sender's commit index (for `Append` and `Heartbeat`).
    pub commit: LogIndex,
    /// The snapshot, for `Snapshot`.
    pub snapshot: Option<Snapshot>,
    /// Whether a response is a rejection.
    pub reject: bool,
    /// For a rejected `AppendResponse`: the follower's guess of where the logs agree.
    pub reject_hint: LogIndex,
    /// For read-index messages and heartbeats: the request context.
    pub context: Vec<u8>,
}

impl Message {
    /// A message of the given type with every other field empty.
    pub fn new(msg_type: MessageType) -> Message {
        Message {
            msg_type,
            to: NodeId::NONE,
            from: NodeId::NONE,
            term: Term(0),
            log_term: Term(0),
            index: LogIndex(0),
            entries: Vec::new(),
            commit: LogIndex(0),
            snapshot: None,
            reject: false,
            reject_hint: LogIndex(0),
            context: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_change_round_trips_through_entry_bytes() {
        let change = ConfChange {
            transition: ConfChangeTransition::JointExplicit,
            changes: vec![
                ConfChangeSingle {
                    change_type: ConfChangeType::AddNode,
                    node_id: NodeId(7),
                },
                ConfChangeSingle {
                    change_type: ConfChangeType::RemoveNode,
                    node_id: NodeId(u64::MAX),
                },
            ],
            context: b"peer-urls".to_vec(),
        };
        assert_eq!(ConfChange::decode(&change.encode()), Ok(change));
    }

    #[test]
    fn conf_change_decode_rejects_truncated_and_trailing_bytes() {
        let bytes = ConfChange::leave_joint().encode();
        assert!(ConfChange::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(ConfChange::decode(&longer).is_err());
        assert!(ConfChange::decode(&[0, 255, 255, 255, 255]).is_err());
    }
}
