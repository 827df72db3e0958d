//! The RaftLog actor: persists each Ready's entries, hard state and snapshot on its own
//! thread (fjall is synchronous, so it never runs on a network thread). Group commit
//! comes from the RaftNode: while one write is in flight, new proposals pile up in the
//! core's unstable log and go to disk together in the next write, under one fsync.

use actix::prelude::*;

use super::log_store::LogStore;
use crate::raft::StorageError;
use crate::storage::LogWrite;

/// Persist one Ready's worth of state.
/// Counted in its actor's mailbox depth: a sender MUST call `Mailbox::sent` (see
/// [`crate::metrics::actors`]).
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct Persist(pub LogWrite);

/// Compact the log up to an index (see [`LogStore::compact`]).
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct Compact {
    /// The last index to drop.
    pub index: crate::raft::LogIndex,
    /// The configuration at that index.
    pub conf_state: crate::raft::ConfState,
}

/// The writer of one member's raft log.
pub struct RaftLog<S: LogStore> {
    store: S,
    metrics: std::sync::Arc<crate::metrics::MemberMetrics>,
}

impl<S: LogStore> RaftLog<S> {
    /// Starts the writer on `arbiter`, which MUST be dedicated to it: its handlers block on
    /// fjall and fsync. A plain actor on its own arbiter, not a `SyncArbiter`: a
    /// `SyncArbiter`'s messages pass through a dispatcher on the System's thread, one more
    /// thread wake-up on every write's path (two hops instead of one; measured in
    /// BENCHMARKS.md's profile notes).
    pub fn start(
        store: S,
        metrics: std::sync::Arc<crate::metrics::MemberMetrics>,
        arbiter: &actix::ArbiterHandle,
    ) -> Addr<Self> {
        RaftLog::start_in_arbiter(arbiter, move |_| RaftLog { store, metrics })
    }
}

impl<S: LogStore> Actor for RaftLog<S> {
    type Context = Context<Self>;
}

impl<S: LogStore> Handler<Persist> for RaftLog<S> {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, Persist(write): Persist, _: &mut Self::Context) -> Self::Result {
        let _handling = self.metrics.actors.raft_log.handling("Persist");
        let started = std::time::Instant::now();
        let sync = write.sync;
        let result = self.store.persist(&write);
        if sync {
            self.metrics
                .wal_fsync_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        result
    }
}

impl<S: LogStore> Handler<Compact> for RaftLog<S> {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, compact: Compact, _: &mut Self::Context) -> Self::Result {
        self.store.compact(compact.index, compact.conf_state)
    }
}
