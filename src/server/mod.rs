//! The actors of one member (see `../shared/DESIGN.md`):
//!
//! - [`raft_node`]: RaftNode drives the pure raft core, ticks it, and carries out its
//!   Ready batches.
//! - [`raft_log`]: RaftLog persists the raft log on its own thread, many proposals per
//!   fsync.
//! - [`applier`]: the Applier applies committed entries to the MVCC store and answers
//!   the waiting proposers.
//! - [`watch_hub`]: the WatchHub serves every watcher, catching slow ones up from the
//!   store.
//! - [`transport`]: how RaftNodes reach each other (in-process in dev mode).
//! - [`handle`]: the API layer's handle on a member; [`member`] starts one.
//! - [`corruption`]: the corruption checks (members compare their HashKV; CORRUPT).

pub mod applier;
pub mod compactor;
pub mod convert;
pub mod corruption;
pub mod handle;
pub mod log_store;
pub mod member;
pub mod membership;
pub mod raft_log;
pub mod raft_node;
pub mod state_snapshot;
pub mod transport;
pub mod wait;
pub mod watch_hub;
