//! The Applier actor: applies committed entries, in order, to the MVCC store, and
//! answers the proposers waiting for them.
//!
//! Each batch of entries is applied and then committed to the backend in ONE atomic
//! write, together with the applied index: after a crash, the member resumes after the
//! last index that reached the backend and re-applies the rest from the raft log, so
//! every entry takes effect exactly once. The backend write is not fsynced; the raft log
//! is the durable record.

use std::sync::Arc;

use actix::prelude::*;
use prost::Message as _;
use tokio::sync::watch;

use super::convert;
use super::raft_node::Applied;
use super::wait::WaitRegistry;
use super::watch_hub::{CommittedEvents, HistoryRead, ReadHistory};
use crate::metrics::MemberMetrics;
use crate::mvcc::{self, AppliedIndex, Backend, MvccStore};
use crate::pb::etcdserverpb as pb;
use crate::raft::{Entry, EntryType, LogIndex};

/// What applying one request answered.
#[derive(Clone, Debug)]
pub enum AppliedResponse {
    /// A put.
    Put(mvcc::PutResponse),
    /// A delete.
    DeleteRange(mvcc::DeleteRangeResponse),
    /// A txn.
    Txn(mvcc::TxnResponse),
    /// A compaction.
    Compaction(mvcc::CompactionResponse),
}

/// The result a proposer waits for.
pub type ApplyResult = Result<AppliedResponse, mvcc::Error>;

/// The applied state, published after every batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppliedState {
    /// The last applied raft index.
    pub index: LogIndex,
    /// The store's current revision.
    pub revision: i64,
}

/// Committed entries to apply, in order.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyEntries {
    /// The entries.
    pub entries: Vec<Entry>,
}

/// Serve a range from the local store (the caller made it linearizable if asked).
#[derive(Message)]
#[rtype(result = "Result<mvcc::RangeResponse, mvcc::Error>")]
pub struct ReadRange(pub mvcc::RangeRequest);

/// Tells the Applier where to report applied indexes.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectRaft(pub Recipient<Applied>);

/// Tells the Applier where to send the events of each committed batch.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ConnectWatch(pub Recipient<CommittedEvents>);

/// The backend's size on disk, in bytes.
#[derive(Message)]
#[rtype(result = "u64")]
pub struct DbSize;

/// Measures a backend's size on disk.
pub type SizeOf<B> = Box<dyn Fn(&B) -> u64 + Send>;

/// The Applier of one member.
pub struct Applier<B: Backend> {
    store: MvccStore<B>,
    wait: Arc<WaitRegistry>,
    raft: Option<Recipient<Applied>>,
    watch: Option<Recipient<CommittedEvents>>,
    applied: watch::Sender<AppliedState>,
    metrics: Arc<MemberMetrics>,
    size_of: SizeOf<B>,
    failed: bool,
}

impl<B: Backend + Unpin + 'static> Applier<B> {
    /// An Applier over an opened store.
    pub fn new(
        store: MvccStore<B>,
        wait: Arc<WaitRegistry>,
        applied: watch::Sender<AppliedState>,
        metrics: Arc<MemberMetrics>,
        size_of: SizeOf<B>,
    ) -> Applier<B> {
        Applier {
            store,
            wait,
            raft: None,
            watch: None,
            applied,
            metrics,
            size_of,
            failed: false,
        }
    }

    /// Applies one request; its events are added to `events`.
    fn apply(
        &mut self,
        request: &pb::InternalRaftRequest,
        events: &mut Vec<mvcc::Event>,
    ) -> ApplyResult {
        // Leases arrive with issue 4; until then only "no lease" exists.
        let no_leases = |_: i64| false;
        if let Some(put) = &request.put {
            let applied = self.store.put(&convert::put_request(put), &no_leases)?;
            events.extend(applied.events);
            return Ok(AppliedResponse::Put(applied.response));
        }
        if let Some(delete) = &request.delete_range {
            let applied = self.store.delete_range(&convert::delete_request(delete))?;
            events.extend(applied.events);
            return Ok(AppliedResponse::DeleteRange(applied.response));
        }
        if let Some(txn) = &request.txn {
            let txn = convert::txn_request(txn)?;
            let applied = self.store.txn(&txn, &no_leases)?;
            events.extend(applied.events);
            return Ok(AppliedResponse::Txn(applied.response));
        }
        if let Some(compaction) = &request.compaction {
            let response = self
                .store
                .compact(&convert::compaction_request(compaction))?;
            return Ok(AppliedResponse::Compaction(response));
        }
        Err(mvcc::Error::Corrupt(
            "a committed request of a kind this member cannot apply".into(),
        ))
    }

    fn publish(&mut self, index: LogIndex) {
        let revision = self.store.current_revision();
        self.applied.send_replace(AppliedState { index, revision });
        self.metrics.current_revision.set(revision);
    }
}

impl<B: Backend + Unpin + 'static> Actor for Applier<B> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        let index = self.store.applied_index().map_or(0, |a| a.index);
        self.publish(LogIndex(index));
    }
}

impl<B: Backend + Unpin + 'static> Handler<ApplyEntries> for Applier<B> {
    type Result = ();

    fn handle(&mut self, batch: ApplyEntries, ctx: &mut Context<Self>) {
        if self.failed {
            return;
        }
        let already = self.store.applied_index().map_or(0, |a| a.index);
        let mut results = Vec::new();
        let mut events = Vec::new();
        let mut last = LogIndex(already);
        for entry in batch.entries {
            if entry.index.0 <= already {
                // Applied before a restart: its effects are in the store already.
                continue;
            }
            if entry.entry_type == EntryType::Normal && !entry.data.is_empty() {
                match pb::InternalRaftRequest::decode(entry.data.as_slice()) {
                    Ok(request) => {
                        let result = self.apply(&request, &mut events);
                        let id = request.header.as_ref().map_or(request.id, |h| h.id);
                        results.push((id, result));
                    }
                    Err(e) => {
                        eprintln!(
                            "etcd-rs: committed entry {} is not a request: {e}",
                            entry.index
                        );
                    }
                }
            }
            self.store.set_applied_index(AppliedIndex {
                index: entry.index.0,
                term: entry.term.0,
            });
            last = entry.index;
        }
        if last.0 == already {
            return;
        }
        let started = std::time::Instant::now();
        if let Err(e) = self.store.commit() {
            eprintln!("etcd-rs: the applier stops: committing to the backend failed: {e}");
            self.failed = true;
            ctx.stop();
            return;
        }
        self.metrics
            .backend_commit_seconds
            .observe(started.elapsed().as_secs_f64());
        if let Some(watch) = &self.watch {
            watch.do_send(CommittedEvents {
                events,
                revision: self.store.current_revision(),
                compacted: self.store.compacted_revision(),
            });
        }
        for (id, result) in results {
            self.wait.trigger(id, result);
        }
        self.publish(last);
        if let Some(raft) = &self.raft {
            raft.do_send(Applied(last));
        }
    }
}

impl<B: Backend + Unpin + 'static> Handler<ReadRange> for Applier<B> {
    type Result = Result<mvcc::RangeResponse, mvcc::Error>;

    fn handle(&mut self, ReadRange(request): ReadRange, _: &mut Context<Self>) -> Self::Result {
        self.store.range(&request)
    }
}

impl<B: Backend + Unpin + 'static> Handler<ConnectRaft> for Applier<B> {
    type Result = ();

    fn handle(&mut self, ConnectRaft(raft): ConnectRaft, _: &mut Context<Self>) {
        self.raft = Some(raft);
    }
}

impl<B: Backend + Unpin + 'static> Handler<ConnectWatch> for Applier<B> {
    type Result = ();

    fn handle(&mut self, ConnectWatch(watch): ConnectWatch, _: &mut Context<Self>) {
        self.watch = Some(watch);
    }
}

impl<B: Backend + Unpin + 'static> Handler<ReadHistory> for Applier<B> {
    type Result = Result<HistoryRead, mvcc::Error>;

    fn handle(&mut self, read: ReadHistory, _: &mut Context<Self>) -> Self::Result {
        let mut events = self.store.history(read.start, read.end, read.limit)?;
        if read.prev_kv {
            for event in &mut events {
                let before = mvcc::RangeRequest {
                    key: event.kv.key.clone(),
                    revision: event.kv.mod_revision - 1,
                    ..Default::default()
                };
                // Below the compaction the previous value is gone: none, as in etcd.
                event.prev_kv = self
                    .store
                    .range(&before)
                    .ok()
                    .and_then(|r| r.kvs.into_iter().next());
            }
        }
        Ok(HistoryRead {
            events,
            compacted: self.store.compacted_revision(),
        })
    }
}

impl<B: Backend + Unpin + 'static> Handler<DbSize> for Applier<B> {
    type Result = u64;

    fn handle(&mut self, _: DbSize, _: &mut Context<Self>) -> u64 {
        (self.size_of)(self.store.backend())
    }
}
