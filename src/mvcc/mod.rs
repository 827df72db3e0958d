//! The MVCC state machine of the key space: etcd's `mvcc` package plus the request-level
//! semantics of its apply layer, with no I/O of its own.
//!
//! - [`MvccStore`] keeps every key's history as revisions: an in-memory [`TreeIndex`]
//!   (key → generations of revisions) over records in a [`Backend`] (revision → key-value).
//! - [`MvccStore::range`], [`put`](MvccStore::put), [`delete_range`](MvccStore::delete_range),
//!   [`txn`](MvccStore::txn) and [`compact`](MvccStore::compact) serve etcd's KV requests
//!   ([`rpc`] mirrors the protobuf messages), with etcd's errors ([`Error`]); the checks
//!   etcd makes before proposing are in [`validate`].
//! - Each write returns the events for the WatchHub and the lease changes for the Lessor.
//!
//! # How the applier drives it
//!
//! 1. At start-up, [`MvccStore::open`] rebuilds the index from the backend;
//!    [`MvccStore::applied_index`] says where to resume applying, and
//!    [`MvccStore::take_restored_lease_attachments`] tells the Lessor which keys hold
//!    leases.
//! 2. For each committed entry, in order: run its request, then
//!    [`MvccStore::set_applied_index`].
//! 3. [`MvccStore::commit`] (after one entry or several): the KV changes and the applied
//!    index reach the backend in ONE atomic [`WriteBatch`]. A crash before it loses both,
//!    so re-applying from the applied index is exactly-once.
//! 4. Hand the events to the WatchHub and the lease changes to the Lessor, and reply.
//!
//! Revisions: a fresh store is at revision 1; every request that changes something gets
//! the next main revision, shared by all its changes (sub revisions 0, 1, ...); a request
//! that changes nothing leaves the revision alone.

mod backend;
mod error;
mod index;
mod key_index;
mod kv;
mod ops;
mod revision;
pub mod rpc;
mod store;
pub mod validate;
mod write_txn;

pub use backend::{
    Backend, BackendView, BatchOp, CopiedView, Defragmenter, MemBackend, Record, WriteBatch, meta,
};
pub use error::{BackendError, Error, GrpcCode, Result};
pub use index::{IndexEntry, KeyRange, TreeIndex};
pub use key_index::{Generation, KeyIndex, KeyRevision};
pub use kv::{Event, EventType, KeyValue, LeaseChange, LeaseLookup};
pub use ops::Applied;
pub use revision::{
    MARKED_REVISION_KEY_LEN, REVISION_KEY_LEN, RecordKey, Revision, TOMBSTONE_MARK,
};
pub use rpc::{
    CompactionRequest, CompactionResponse, Compare, CompareResult, CompareTarget,
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest, RangeResponse,
    Request, RequestOp, Response, ResponseOp, SortOrder, SortTarget, TargetUnion, TxnRequest,
    TxnResponse,
};
pub use store::{
    AppliedIndex, MvccStore, ReadOptions, ReadResult, SCAN_CHUNK_RECORDS, WriteEffects,
};
pub use validate::DEFAULT_MAX_TXN_OPS;
pub use write_txn::WriteTxn;

#[cfg(test)]
mod tests;
