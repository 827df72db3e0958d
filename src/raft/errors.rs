//! Errors of the Raft core and of the storage it reads.

use super::types::{LogIndex, NodeId};

/// Why a storage read could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The requested index is at or below the compacted prefix of the log.
    #[error("requested index is unavailable due to compaction")]
    Compacted,
    /// The requested index is beyond the last entry.
    #[error("requested entry at index is unavailable")]
    Unavailable,
    /// A snapshot is being built; ask again later.
    #[error("snapshot is temporarily unavailable")]
    SnapshotTemporarilyUnavailable,
    /// The snapshot asked for is older than the one stored.
    #[error("requested index is older than the existing snapshot")]
    SnapshotOutOfDate,
    /// The storage itself failed (I/O, corruption). The member must stop.
    #[error("storage failed: {0}")]
    Other(String),
}

/// Errors returned by the Raft core's API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The proposal was dropped: no leader is known, a leadership transfer is under way,
    /// the member is not in the configuration, or a configuration change is pending.
    #[error("raft proposal dropped")]
    ProposalDropped,
    /// A step was given a local message type it does not accept from the network, or a
    /// response from a peer that is not in the configuration.
    #[error("raft: cannot step {0} message")]
    StepLocalMessage(&'static str),
    /// A response from a member not in the configuration.
    #[error("raft: cannot step as peer {0} not found")]
    StepPeerNotFound(NodeId),
    /// The configuration change is invalid.
    #[error("invalid configuration change: {0}")]
    ConfChange(String),
    /// The configuration is invalid.
    #[error("invalid raft configuration: {0}")]
    Config(String),
    /// A read of the storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The entry at this index could not be decoded as a configuration change.
    #[error("malformed conf change at index {0}")]
    MalformedConfChange(LogIndex),
}

/// Result of the Raft core's API.
pub type Result<T> = std::result::Result<T, Error>;
