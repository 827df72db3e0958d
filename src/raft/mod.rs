//! The Raft consensus core: a pure, deterministic state machine.
//!
//! It does no I/O, reads no clock and draws randomness only from a seeded generator
//! given in its [`Config`]. Time is `tick()`; input is `step(message)`, `propose`,
//! `propose_conf_change`, `read_index` and `transfer_leader`; output is a [`Ready`]
//! that the driver carries out and then acknowledges with [`RawNode::advance`]. This is
//! the design of etcd's raft library, and what lets a whole cluster run under a seeded
//! simulation (see [`crate::sim`]).
//!
//! Features: leader election with randomized timeouts, pre-vote, check-quorum; log
//! replication with probe/replicate flow control, an in-flight window and fast
//! backtracking; commit by quorum only for entries of the leader's term; ReadIndex reads;
//! learners; membership change by joint consensus; snapshots; leadership transfer.
//!
//! # The Ready contract
//!
//! A driver loops: feed inputs (ticks, messages, proposals), then, when
//! [`RawNode::has_ready`], take one [`Ready`] with [`RawNode::ready`] and handle it in
//! this order:
//!
//! 1. If `snapshot` is set, persist it (replacing the stored log) and install it in the
//!    state machine.
//! 2. Persist `entries` (truncating stored entries at or after the first one) and
//!    `hard_state`; if `must_sync`, fsync. These MUST be durable before step 3: a
//!    follower's append acknowledgement or a vote that is sent but not persisted can be
//!    forgotten by a crash, and then the same member could vote twice in one term or
//!    lose an entry that a quorum counted as stored.
//! 3. Send `messages`. Messages to a member that is not reachable may be dropped: Raft
//!    retries. Report lost snapshots with [`RawNode::report_snapshot`].
//! 4. Apply `committed_entries` in order. A `ConfChange` entry MUST be applied with
//!    [`RawNode::apply_conf_change`]. Serve each read of `read_states` once its index is
//!    applied. Report progress with [`RawNode::applied_to`].
//! 5. Call [`RawNode::advance`]: the notice that steps 1 and 2 are done. Only then does a
//!    leader count its own copy of new entries toward the commit quorum, so an entry is
//!    never committed on the strength of a write that is not on disk.
//!
//! One exception to the order of steps 2 and 3 (Raft thesis §10.2.1): a leader whose
//! current term is already durable MAY send its messages before step 2 completes, since
//! followers persist before they acknowledge and the leader counts its own copy only at
//! `advance`. The member's RaftNode and the simulation do so.
//!
//! `ready` MUST NOT be called again before `advance`. Inputs may be fed between the two.
//! The driver MAY apply committed entries after `advance` (on another thread); it MUST
//! then apply them in order and report with `applied_to`.
//!
//! # Storage
//!
//! The core reads the stable log through the [`Storage`] trait; the driver writes to its
//! own storage in steps 1 and 2. [`MemStorage`] is the in-memory implementation for tests
//! and the simulation; the durable one lives in `crate::storage`.
//!
//! # Example: a single-member cluster commits a proposal
//!
//! ```
//! use etcd_rs::raft::{Config, ConfState, MemStorage, NodeId, RawNode};
//!
//! let storage = MemStorage::new_with_conf_state(ConfState::with_voters([NodeId(1)]));
//! let mut node = RawNode::new(&Config::new(NodeId(1)), storage).unwrap();
//! node.campaign().unwrap();
//! node.propose(b"hello".to_vec()).unwrap();
//! let mut applied = Vec::new();
//! while node.has_ready() {
//!     let ready = node.ready();
//!     let store = node.store_mut();
//!     if let Some(hs) = ready.hard_state {
//!         store.set_hard_state(hs);
//!     }
//!     store.append(&ready.entries).unwrap();
//!     for entry in &ready.committed_entries {
//!         applied.push(entry.data.clone());
//!         node.applied_to(entry.index);
//!     }
//!     node.advance();
//! }
//! assert_eq!(applied.last().unwrap(), b"hello");
//! ```

mod confchange;
mod config;
mod errors;
mod log_unstable;
mod progress;
mod quorum;
#[expect(
    clippy::module_inception,
    reason = "the state machine is the heart of the raft module"
)]
mod raft;
mod raft_log;
mod raw_node;
mod read_only;
mod replication;
mod rng;
mod storage;
mod types;

#[cfg(test)]
mod tests;

pub use config::Config;
pub use errors::{Error, Result, StorageError};
pub use progress::{Progress, ProgressState};
pub use raft::{CAMPAIGN_TRANSFER, Raft, ReadState, Role};
pub use raft_log::RaftLog;
pub use raw_node::{RawNode, Ready, SoftState, Status};
pub use rng::SeededRng;
pub use storage::{MemStorage, RaftState, Storage};
pub use types::{
    ConfChange, ConfChangeDecodeError, ConfChangeSingle, ConfChangeTransition, ConfChangeType,
    ConfState, Entry, EntryType, HardState, LogIndex, Message, MessageType, NodeId, Snapshot,
    SnapshotMetadata, Term,
};
