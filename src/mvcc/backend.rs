//! The storage the MVCC store writes through: a small synchronous trait, and an
//! in-memory implementation for tests and `--ephemeral` members.
//!
//! A backend is a dumb ordered byte store with two key spaces, as etcd's bolt buckets
//! `key` and `meta`:
//! - *records*: [`RecordKey`](super::RecordKey) bytes → protobuf
//!   [`KeyValue`](super::KeyValue) bytes, one record per revision;
//! - *meta*: a few named entries (applied index, compaction revisions, ...), see
//!   [`meta`].
//!
//! The MVCC store owns the schema (what the bytes mean); the backend only stores them.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::error::BackendError;

/// One stored record: its record key and its encoded key-value.
pub type Record = (Vec<u8>, Vec<u8>);

/// A backend's defragmentation job (see [`Backend::defragmenter`]).
pub type Defragmenter = Box<dyn FnOnce() -> Result<(), BackendError> + Send>;

/// Names and encodings of the meta entries, as etcd's `meta` bucket holds them.
pub mod meta {
    /// The raft index of the last applied entry: 8 bytes, big-endian (etcd's
    /// `consistent_index`).
    pub const CONSISTENT_INDEX: &[u8] = b"consistent_index";
    /// The raft term of the last applied entry: 8 bytes, big-endian (etcd's `term`).
    pub const TERM: &[u8] = b"term";
    /// The revision of the last compaction started: a 17-byte revision key with sub 0
    /// (etcd's `scheduledCompactRev`).
    pub const SCHEDULED_COMPACT_REV: &[u8] = b"scheduledCompactRev";
    /// The revision of the last compaction finished, in the same encoding (etcd's
    /// `finishedCompactRev`).
    pub const FINISHED_COMPACT_REV: &[u8] = b"finishedCompactRev";
}

/// One change of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Write the record `value` at record key `key`.
    PutRecord {
        /// A record key.
        key: Vec<u8>,
        /// An encoded key-value.
        value: Vec<u8>,
    },
    /// Remove the record at `key` (physical compaction).
    DeleteRecord {
        /// A record key.
        key: Vec<u8>,
    },
    /// Set meta entry `key` to `value`.
    PutMeta {
        /// A meta entry name.
        key: Vec<u8>,
        /// Its new value.
        value: Vec<u8>,
    },
    /// Remove meta entry `key`.
    DeleteMeta {
        /// A meta entry name.
        key: Vec<u8>,
    },
}

/// Changes a backend MUST apply atomically: after a crash, all or none of them are
/// visible. The applier puts the KV changes of applied entries and the applied index in
/// one batch, which is what makes re-applying after a crash exactly-once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record.
    pub fn put_record(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(BatchOp::PutRecord { key, value });
    }

    /// Adds the removal of a record.
    pub fn delete_record(&mut self, key: Vec<u8>) {
        self.ops.push(BatchOp::DeleteRecord { key });
    }

    /// Adds the setting of a meta entry.
    pub fn set_meta(&mut self, key: &[u8], value: Vec<u8>) {
        self.ops.push(BatchOp::PutMeta {
            key: key.to_vec(),
            value,
        });
    }

    /// Adds the removal of a meta entry.
    pub fn delete_meta(&mut self, key: &[u8]) {
        self.ops.push(BatchOp::DeleteMeta { key: key.to_vec() });
    }

    /// The changes, in the order they were added; a later change to the same key wins.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// The changes, by value.
    pub fn into_ops(self) -> Vec<BatchOp> {
        self.ops
    }

    /// The number of changes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no change.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A read-only view of a backend's committed state at one point in time, readable from
/// another thread while the store goes on writing (etcd reads its snapshots from a bolt
/// read transaction the same way). Cheap to open; it pins old versions while it lives,
/// so drop it when done.
pub trait BackendView: Send {
    /// The records with keys `>= start`, in key order, at most `limit` of them.
    fn scan_records(&self, start: &[u8], limit: usize) -> Result<Vec<Record>, BackendError>;

    /// Every meta entry, in key order.
    fn scan_meta(&self) -> Result<Vec<Record>, BackendError>;
}

/// A [`BackendView`] that holds a copy of everything (what a backend without snapshots
/// offers, and the in-memory backend's view).
#[derive(Debug, Clone, Default)]
pub struct CopiedView {
    records: BTreeMap<Vec<u8>, Vec<u8>>,
    meta: Vec<Record>,
}

impl BackendView for CopiedView {
    fn scan_records(&self, start: &[u8], limit: usize) -> Result<Vec<Record>, BackendError> {
        Ok(self
            .records
            .range::<[u8], _>((Bound::Included(start), Bound::Unbounded))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn scan_meta(&self) -> Result<Vec<Record>, BackendError> {
        Ok(self.meta.clone())
    }
}

/// Synchronous storage of records and meta entries.
///
/// Reads MUST see every batch committed before them. Implementations are called from one
/// thread (the applier's); they need no internal locking for the store's sake.
pub trait Backend {
    /// The record at exactly `key`, if any.
    fn get_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;

    /// The records with keys in `[start, end)` (no upper bound if `end` is `None`), in
    /// key order, at most `limit` of them.
    fn scan_records(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Record>, BackendError>;

    /// Makes everything committed so far durable (fsync). Called before the raft log is
    /// compacted past what the backend holds. The default does nothing (memory only).
    fn sync(&self) -> Result<(), BackendError> {
        Ok(())
    }

    /// A job that rewrites the backend's files to reclaim the space of deleted and
    /// overwritten records (etcd's defragmentation), to run on another thread while the
    /// store keeps serving; `None` when there is nothing to reclaim (memory only).
    fn defragmenter(&self) -> Option<Defragmenter> {
        None
    }

    /// Every meta entry, in key order (for snapshots of the whole store).
    fn scan_meta(&self) -> Result<Vec<Record>, BackendError>;

    /// A point-in-time view of everything committed so far. The default copies the
    /// whole store; backends with snapshots override it with one.
    fn view(&self) -> Result<Box<dyn BackendView>, BackendError> {
        Ok(Box::new(CopiedView {
            records: self
                .scan_records(&[], None, usize::MAX)?
                .into_iter()
                .collect(),
            meta: self.scan_meta()?,
        }))
    }

    /// The meta entry `key`, if set.
    fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;

    /// Applies `batch` atomically. Need not be durable on return (the raft log is the
    /// durable record), but MUST be all-or-nothing across a crash. After an error the
    /// store stops using the backend.
    fn commit(&mut self, batch: WriteBatch) -> Result<(), BackendError>;
}

/// A [`Backend`] in memory: two ordered maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemBackend {
    records: BTreeMap<Vec<u8>, Vec<u8>>,
    meta: BTreeMap<Vec<u8>, Vec<u8>>,
    commits: u64,
}

impl MemBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of batches committed so far.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// The number of records stored.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }
}

impl Backend for MemBackend {
    fn get_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.records.get(key).cloned())
    }

    fn scan_records(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Record>, BackendError> {
        let upper = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        Ok(self
            .records
            .range::<[u8], _>((Bound::Included(start), upper))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn scan_meta(&self) -> Result<Vec<Record>, BackendError> {
        Ok(self
            .meta
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.meta.get(key).cloned())
    }

    fn commit(&mut self, batch: WriteBatch) -> Result<(), BackendError> {
        for op in batch.into_ops() {
            match op {
                BatchOp::PutRecord { key, value } => {
                    self.records.insert(key, value);
                }
                BatchOp::DeleteRecord { key } => {
                    self.records.remove(&key);
                }
                BatchOp::PutMeta { key, value } => {
                    self.meta.insert(key, value);
                }
                BatchOp::DeleteMeta { key } => {
                    self.meta.remove(&key);
                }
            }
        }
        self.commits += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_applies_ops_in_order_and_later_ones_win() {
        let mut b = MemBackend::new();
        let mut batch = WriteBatch::new();
        batch.put_record(b"a".to_vec(), b"1".to_vec());
        batch.put_record(b"b".to_vec(), b"2".to_vec());
        batch.delete_record(b"a".to_vec());
        batch.set_meta(meta::TERM, vec![1]);
        batch.set_meta(meta::TERM, vec![2]);
        b.commit(batch).unwrap();
        assert_eq!(b.get_record(b"a").unwrap(), None);
        assert_eq!(b.get_record(b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(b.get_meta(meta::TERM).unwrap(), Some(vec![2]));
        assert_eq!(b.commits(), 1);
    }

    #[test]
    fn a_view_keeps_the_state_it_was_opened_on() {
        let mut b = MemBackend::new();
        let mut batch = WriteBatch::new();
        batch.put_record(b"a".to_vec(), b"1".to_vec());
        batch.put_record(b"b".to_vec(), b"2".to_vec());
        batch.set_meta(meta::TERM, vec![1]);
        b.commit(batch).unwrap();
        let view = b.view().unwrap();
        let mut batch = WriteBatch::new();
        batch.put_record(b"c".to_vec(), b"3".to_vec());
        batch.delete_record(b"a".to_vec());
        batch.set_meta(meta::TERM, vec![2]);
        b.commit(batch).unwrap();
        assert_eq!(
            view.scan_records(b"", 10).unwrap(),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        assert_eq!(
            view.scan_records(b"a\0", 10).unwrap(),
            vec![(b"b".to_vec(), b"2".to_vec())]
        );
        assert_eq!(
            view.scan_meta().unwrap(),
            vec![(meta::TERM.to_vec(), vec![1])]
        );
    }

    #[test]
    fn scan_is_half_open_ordered_and_limited() {
        let mut b = MemBackend::new();
        let mut batch = WriteBatch::new();
        for k in [b"a", b"b", b"c", b"d"] {
            batch.put_record(k.to_vec(), k.to_vec());
        }
        b.commit(batch).unwrap();
        let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(b.scan_records(b"b", Some(b"d"), 10).unwrap()),
            [b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            keys(b.scan_records(b"a", None, 2).unwrap()),
            [b"a".to_vec(), b"b".to_vec()]
        );
        assert!(b.scan_records(b"c", Some(b"a"), 10).unwrap().is_empty());
    }
}
