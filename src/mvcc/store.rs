//! The multi-version key-value store over a [`Backend`] (etcd's `store`, `kvstore.go`,
//! `kvstore_txn.go`, `kvstore_compaction.go`).
//!
//! Writes are staged in memory and reach the backend only on [`MvccStore::commit`], as
//! one [`WriteBatch`](super::WriteBatch) together with the applied index (see
//! [`MvccStore::set_applied_index`]). Reads see staged writes.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use super::backend::{Backend, Record, WriteBatch, meta};
use super::error::{Error, Result};
use super::index::{KeyRange, TreeIndex};
use super::key_index::KeyIndex;
use super::kv::{Event, EventType, KeyValue, LeaseChange};
use super::revision::{REVISION_KEY_LEN, RecordKey, Revision};
use super::write_txn::WriteTxn;

/// Records read from the backend per scan, while rebuilding the index and while
/// compacting: bounds the memory of one step (etcd's `restoreChunkKeys`).
pub const SCAN_CHUNK_RECORDS: usize = 10_000;

/// The raft position of the last entry applied to the store, kept in the same batch as
/// the entry's changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppliedIndex {
    /// The raft log index (etcd's `consistent_index`).
    pub index: u64,
    /// The raft term of that entry (etcd's `term`).
    pub term: u64,
}

/// How to read a range (etcd's `RangeOptions`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// At most this many key-values; 0 or less for no limit.
    pub limit: i64,
    /// The revision to read at; 0 or less for the current one.
    pub revision: i64,
    /// Count the keys and return no key-value.
    pub count_only: bool,
}

/// What a range read found (etcd's `RangeResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadResult {
    /// The key-values, in key order.
    pub kvs: Vec<KeyValue>,
    /// The number of keys in the range at the revision, regardless of the limit.
    pub count: i64,
    /// The store's revision when read (not the revision read at).
    pub revision: i64,
}

/// What a write produced, for the WatchHub and the Lessor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteEffects {
    /// One event per change, in order.
    pub events: Vec<Event>,
    /// Lease attachments and detachments, in order.
    pub lease_changes: Vec<LeaseChange>,
}

/// The multi-version store: an in-memory [`TreeIndex`] over records in a [`Backend`].
///
/// Single-threaded: the applier owns it. Every write MUST come from a committed raft
/// entry, in log order, so that all members compute the same revisions.
#[derive(Debug)]
pub struct MvccStore<B> {
    pub(super) backend: B,
    pub(super) index: TreeIndex,
    /// The revision of the last completed write. Invariant: `>= compact_rev`, `>= 1`.
    pub(super) current_rev: i64,
    /// The revision of the last compaction; -1 before any, as in etcd.
    pub(super) compact_rev: i64,
    /// Staged record changes (`None` = removal), not yet in the backend.
    pub(super) pending_records: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Staged meta changes.
    pending_meta: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Set when a write or commit failed half-way; then every call fails.
    pub(super) poisoned: bool,
    /// Key → lease of the keys found attached to leases while rebuilding.
    restored_leases: Vec<LeaseChange>,
    /// Bytes of the stored records (keys and values): the store's size in use, whatever
    /// the backend's files hold besides (etcd's `dbSizeInUse`).
    logical_bytes: u64,
}

impl<B: Backend> MvccStore<B> {
    /// Opens the store over `backend`: rebuilds the index from the stored records (etcd's
    /// `restore`), and finishes a compaction that was started but not finished (which
    /// commits). A fresh backend gives a store at revision 1.
    pub fn open(backend: B) -> Result<Self> {
        let mut store = Self {
            backend,
            index: TreeIndex::new(),
            current_rev: 1,
            compact_rev: -1,
            pending_records: BTreeMap::new(),
            pending_meta: BTreeMap::new(),
            poisoned: false,
            restored_leases: Vec::new(),
            logical_bytes: 0,
        };
        store.restore()?;
        Ok(store)
    }

    /// etcd's HashKV: a CRC-32C (Castagnoli) over the name of etcd's key bucket and
    /// every record at or below `rev` (0: the current revision), in revision order.
    /// Answers (hash, revision hashed, compacted revision: -1 before any compaction).
    ///
    /// At or below the compacted revision only the records a compaction at the *hashed*
    /// revision would keep are hashed (etcd's `HashByRev` takes `kvindex.Keep(rev)`, not
    /// the keep of the compaction), unless that keep is empty: then every stored record
    /// is. A tombstone at exactly the compacted revision is never hashed: etcd up to
    /// 3.4.33 / 3.5.15 (and this store's reference, 3.4.23) deletes it when compacting,
    /// later etcd keeps it as this store does and skips it in the hash, so that all
    /// versions agree. Records are stored as etcd stores them, so the same history
    /// gives etcd's hash.
    pub fn hash_kv(&self, rev: i64) -> Result<(u32, i64, i64)> {
        self.check_poisoned()?;
        if rev > self.current_rev {
            return Err(Error::FutureRevision);
        }
        if rev > 0 && rev <= self.compact_rev {
            return Err(Error::Compacted);
        }
        let upper = if rev > 0 { rev } else { self.current_rev };
        // Below the first compaction there is nothing to leave out: spare the walk over
        // the whole index (etcd walks it anyway; the result is the same).
        let keep = if self.compact_rev > 0 {
            self.index.keep(upper)
        } else {
            std::collections::HashSet::new()
        };
        let hashed = |rk: &RecordKey| {
            let compacted = rk.revision.main <= self.compact_rev;
            let dropped = compacted && !keep.is_empty() && !keep.contains(&rk.revision);
            let compaction_tombstone = rk.tombstone && rk.revision.main == self.compact_rev;
            !dropped && !compaction_tombstone
        };
        let mut hash = crate::storage::crc32c_update(0, b"key");
        let mut start = Revision::new(1, 0).to_bytes().to_vec();
        let end = Revision::new(upper + 1, 0).to_bytes();
        loop {
            let chunk = self
                .backend
                .scan_records(&start, Some(&end), SCAN_CHUNK_RECORDS)?;
            for (key, value) in &chunk {
                if !hashed(&RecordKey::from_bytes(key)?) {
                    continue;
                }
                hash = crate::storage::crc32c_update(hash, key);
                hash = crate::storage::crc32c_update(hash, value);
            }
            match chunk.last() {
                Some((last, _)) if chunk.len() == SCAN_CHUNK_RECORDS => {
                    start = last.clone();
                    start.push(0);
                }
                _ => break,
            }
        }
        Ok((hash, upper, self.compact_rev))
    }

    /// Replaces the whole store with `records` and `meta` (a snapshot of another
    /// member's store), durably, and rebuilds the index. Nothing may be staged.
    pub fn install(&mut self, records: Vec<Record>, meta: Vec<Record>) -> Result<()> {
        self.check_poisoned()?;
        if self.has_uncommitted() {
            return Err(Error::Corrupt(
                "installing a snapshot over staged changes".into(),
            ));
        }
        let mut batch = WriteBatch::new();
        for (key, _) in self.backend.scan_records(&[], None, usize::MAX)? {
            batch.delete_record(key);
        }
        for (key, _) in self.backend.scan_meta()? {
            batch.delete_meta(&key);
        }
        for (key, value) in records {
            batch.put_record(key, value);
        }
        for (key, value) in meta {
            batch.set_meta(&key, value);
        }
        if let Err(e) = self
            .backend
            .commit(batch)
            .and_then(|()| self.backend.sync())
        {
            self.poisoned = true;
            return Err(e.into());
        }
        self.index = TreeIndex::new();
        self.current_rev = 1;
        self.compact_rev = -1;
        self.restored_leases.clear();
        self.logical_bytes = 0;
        self.restore()
    }

    fn restore(&mut self) -> Result<()> {
        if let Some(finished) = self.compact_meta(meta::FINISHED_COMPACT_REV)? {
            self.compact_rev = finished;
        }
        let scheduled = self.compact_meta(meta::SCHEDULED_COMPACT_REV)?.unwrap_or(0);

        let mut last_main = 1;
        let mut key_to_lease: HashMap<Vec<u8>, i64> = HashMap::new();
        let mut start = Revision::new(1, 0).to_bytes().to_vec();
        loop {
            let chunk = self
                .backend
                .scan_records(&start, None, SCAN_CHUNK_RECORDS)?;
            for (key, value) in &chunk {
                self.logical_bytes += (key.len() + value.len()) as u64;
                let rk = RecordKey::from_bytes(key)?;
                let kv = KeyValue::decode(value)?;
                if rk.revision.main < last_main {
                    return Err(Error::Corrupt(format!(
                        "revision {} stored after revision {last_main}",
                        rk.revision
                    )));
                }
                last_main = rk.revision.main;
                if !rk.tombstone && kv.lease != 0 {
                    key_to_lease.insert(kv.key.clone(), kv.lease);
                } else {
                    key_to_lease.remove(&kv.key);
                }
                self.restore_record(rk, kv)?;
            }
            match chunk.last() {
                Some((last, _)) if chunk.len() == SCAN_CHUNK_RECORDS => start = key_after(last),
                _ => break,
            }
        }

        // Records up to the compaction point may all have been removed; the revision
        // never goes below a compaction, finished or only scheduled (etcd #17780).
        self.current_rev = last_main.max(self.compact_rev).max(scheduled);
        let mut leases: Vec<_> = key_to_lease.into_iter().collect();
        leases.sort();
        self.restored_leases = leases
            .into_iter()
            .map(|(key, lease)| LeaseChange::Attach { lease, key })
            .collect();

        if scheduled != 0 && scheduled > self.compact_rev {
            self.compact_at(scheduled)?;
            self.commit()?;
        }
        Ok(())
    }

    /// Adds one stored record to the index (etcd's `restoreIntoIndex`).
    fn restore_record(&mut self, rk: RecordKey, kv: KeyValue) -> Result<()> {
        let rev = rk.revision;
        match self.index.key_index_mut(&kv.key) {
            Some(ki) => {
                if rev <= ki.modified() {
                    return Err(Error::Corrupt(format!(
                        "revision {rev} of a key stored twice"
                    )));
                }
                if rk.tombstone {
                    // A tombstone of a key already deleted: etcd warns and goes on.
                    ki.tombstone(rev);
                } else {
                    ki.put(rev);
                }
            }
            None => {
                let mut ki = KeyIndex::default();
                if rk.tombstone {
                    ki.restore_tombstone(rev);
                } else {
                    ki.restore(Revision::new(kv.create_revision, 0), rev, kv.version);
                }
                self.index.insert(kv.key, ki);
            }
        }
        Ok(())
    }

    /// The revision of the last write; 1 for a fresh store.
    pub fn current_revision(&self) -> i64 {
        self.current_rev
    }

    /// The revision of the last compaction; -1 if there was none, as in etcd.
    pub fn compacted_revision(&self) -> i64 {
        self.compact_rev
    }

    /// The key index.
    pub fn index(&self) -> &TreeIndex {
        &self.index
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Gives the backend back, dropping uncommitted changes.
    pub fn into_backend(self) -> B {
        self.backend
    }

    /// The keys found attached to leases when the store was opened, as attachments for
    /// the Lessor to replay (etcd re-attaches them in `restore`). Taken once.
    pub fn take_restored_lease_attachments(&mut self) -> Vec<LeaseChange> {
        std::mem::take(&mut self.restored_leases)
    }

    /// Whether changes are staged and not yet committed.
    pub fn has_uncommitted(&self) -> bool {
        !self.pending_records.is_empty() || !self.pending_meta.is_empty()
    }

    /// Stages the raft position of the last applied entry; it is committed with the
    /// entry's changes.
    pub fn set_applied_index(&mut self, applied: AppliedIndex) {
        self.set_meta(meta::CONSISTENT_INDEX, applied.index.to_be_bytes().to_vec());
        self.set_meta(meta::TERM, applied.term.to_be_bytes().to_vec());
    }

    /// The raft position of the last applied entry, staged or committed; zero if none
    /// was ever set. Read at start-up to know where to resume applying.
    pub fn applied_index(&self) -> Result<AppliedIndex> {
        Ok(AppliedIndex {
            index: self.meta_u64(meta::CONSISTENT_INDEX)?,
            term: self.meta_u64(meta::TERM)?,
        })
    }

    /// Stages a meta entry (for state that must change atomically with the KV changes).
    pub fn set_meta(&mut self, key: &[u8], value: Vec<u8>) {
        self.pending_meta.insert(key.to_vec(), Some(value));
    }

    /// Stages the removal of a meta entry.
    pub fn delete_meta(&mut self, key: &[u8]) {
        self.pending_meta.insert(key.to_vec(), None);
    }

    /// A meta entry, staged or committed.
    pub fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.pending_meta.get(key) {
            Some(staged) => Ok(staged.clone()),
            None => Ok(self.backend.get_meta(key)?),
        }
    }

    /// Writes every staged change to the backend in one atomic batch. A failure poisons
    /// the store: what the backend holds is then unknown, so the member must restart.
    pub fn commit(&mut self) -> Result<()> {
        self.check_poisoned()?;
        if !self.has_uncommitted() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        let mut logical = self.logical_bytes;
        for (key, value) in std::mem::take(&mut self.pending_records) {
            match value {
                Some(value) => {
                    logical += (key.len() + value.len()) as u64;
                    batch.put_record(key, value);
                }
                None => {
                    // Records are only removed by compaction: one read each to keep
                    // the size in use exact.
                    if let Some(old) = self.backend.get_record(&key)? {
                        logical = logical.saturating_sub((key.len() + old.len()) as u64);
                    }
                    batch.delete_record(key);
                }
            }
        }
        for (key, value) in std::mem::take(&mut self.pending_meta) {
            match value {
                Some(value) => batch.set_meta(&key, value),
                None => batch.delete_meta(&key),
            }
        }
        if let Err(e) = self.backend.commit(batch) {
            self.poisoned = true;
            return Err(e.into());
        }
        self.logical_bytes = logical;
        Ok(())
    }

    /// Bytes of the stored records (keys and values), committed.
    pub fn size_in_use(&self) -> u64 {
        self.logical_bytes
    }

    /// Reads `range` at the current revision or an older one (etcd's `Range`).
    pub fn read(&self, range: KeyRange<'_>, opts: ReadOptions) -> Result<ReadResult> {
        self.check_poisoned()?;
        self.range_keys(range, opts, self.current_rev)
    }

    /// Opens a write: every change made through it gets the next main revision, with sub
    /// revisions counting up from 0.
    pub fn write(&mut self) -> Result<WriteTxn<'_, B>> {
        self.check_poisoned()?;
        Ok(WriteTxn::new(self))
    }

    /// The changes with main revision in `[start_rev, end_rev)`, in revision order, at
    /// most `limit`, for catching watchers up. Deletions carry only the key and their
    /// revision; `prev_kv` is not filled (read it with [`read`](Self::read) at the
    /// revision before). [`Error::Compacted`] if `start_rev` is below the compaction.
    pub fn history(&self, start_rev: i64, end_rev: i64, limit: usize) -> Result<Vec<Event>> {
        self.check_poisoned()?;
        if start_rev < self.compact_rev {
            return Err(Error::Compacted);
        }
        if end_rev <= start_rev || limit == 0 {
            return Ok(Vec::new());
        }
        let start = Revision::new(start_rev.max(0), 0).to_bytes();
        let end = Revision::new(end_rev, 0).to_bytes();
        let records = self.scan_merged(&start, Some(&end), limit)?;
        records
            .into_iter()
            .map(|(key, value)| {
                let rk = RecordKey::from_bytes(&key)?;
                let mut kv = KeyValue::decode(&value)?;
                let kind = if rk.tombstone {
                    kv.mod_revision = rk.revision.main;
                    EventType::Delete
                } else {
                    EventType::Put
                };
                Ok(Event {
                    kind,
                    kv,
                    prev_kv: None,
                })
            })
            .collect()
    }

    /// Compacts at `rev`: drops from the index and the backend every revision at or
    /// below `rev` that is not the latest of its key at `rev` (keys deleted at or before
    /// `rev` vanish), and records the compaction in meta. Staged; commit to persist.
    pub(crate) fn compact_at(&mut self, rev: i64) -> Result<()> {
        self.check_poisoned()?;
        if rev <= self.compact_rev {
            return Err(Error::Compacted);
        }
        if rev > self.current_rev {
            return Err(Error::FutureRevision);
        }
        let result = self.do_compact(rev);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn do_compact(&mut self, rev: i64) -> Result<()> {
        self.compact_rev = rev;
        let rev_bytes = Revision::new(rev, 0).to_bytes().to_vec();
        self.set_meta(meta::SCHEDULED_COMPACT_REV, rev_bytes.clone());
        let keep = self.index.compact(rev);
        let end = Revision::new(rev.saturating_add(1), 0).to_bytes();
        let mut start = Vec::new();
        loop {
            let chunk = self.scan_merged(&start, Some(&end), SCAN_CHUNK_RECORDS)?;
            for (key, _) in &chunk {
                if !keep.contains(&RecordKey::from_bytes(key)?.revision) {
                    self.pending_records.insert(key.clone(), None);
                }
            }
            match chunk.last() {
                Some((last, _)) if chunk.len() == SCAN_CHUNK_RECORDS => start = key_after(last),
                _ => break,
            }
        }
        self.set_meta(meta::FINISHED_COMPACT_REV, rev_bytes);
        Ok(())
    }

    /// etcd's `rangeKeys`: reads at `opts.revision` (0 = `cur_rev`); `cur_rev` is the
    /// revision reported and the bound for future revisions.
    pub(super) fn range_keys(
        &self,
        range: KeyRange<'_>,
        opts: ReadOptions,
        cur_rev: i64,
    ) -> Result<ReadResult> {
        let mut rev = opts.revision;
        if rev > cur_rev {
            return Err(Error::FutureRevision);
        }
        if rev <= 0 {
            rev = cur_rev;
        }
        if rev < self.compact_rev {
            return Err(Error::Compacted);
        }
        if opts.count_only {
            let count = to_i64(self.index.count(range, rev));
            return Ok(ReadResult {
                kvs: Vec::new(),
                count,
                revision: cur_rev,
            });
        }
        let limit = if opts.limit <= 0 {
            0
        } else {
            usize::try_from(opts.limit).unwrap_or(usize::MAX)
        };
        let (entries, total) = self.index.range(range, rev, limit);
        let kvs = entries
            .iter()
            .map(|e| self.load_kv(e.at.modified))
            .collect::<Result<Vec<_>>>()?;
        Ok(ReadResult {
            kvs,
            count: to_i64(total),
            revision: cur_rev,
        })
    }

    /// The key-value put at `rev`, staged or committed. The index only points at
    /// existing records, so a missing one means the backend lost data.
    pub(super) fn load_kv(&self, rev: Revision) -> Result<KeyValue> {
        let key = RecordKey::put(rev).to_bytes();
        let value = match self.pending_records.get(&key) {
            Some(staged) => staged.clone(),
            None => self.backend.get_record(&key)?,
        };
        match value {
            Some(bytes) => KeyValue::decode(&bytes),
            None => Err(Error::Corrupt(format!("no record at revision {rev}"))),
        }
    }

    /// The records with keys in `[start, end)`, staged changes applied over committed
    /// ones, in key order, at most `limit`.
    fn scan_merged(&self, start: &[u8], end: Option<&[u8]>, limit: usize) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let mut from = start.to_vec();
        loop {
            if end.is_some_and(|end| end <= from.as_slice()) {
                return Ok(out);
            }
            let chunk = self.backend.scan_records(&from, end, limit)?;
            let full = chunk.len() == limit;
            // Merge the staged changes up to where this chunk is known to be complete.
            let upper = match chunk.last() {
                Some((last, _)) if full => Some(key_after(last)),
                _ => end.map(<[u8]>::to_vec),
            };
            let upper_bound = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
            let mut staged = self
                .pending_records
                .range::<[u8], _>((Bound::Included(from.as_slice()), upper_bound))
                .peekable();
            let mut stored = chunk.into_iter().peekable();
            loop {
                let take_staged = match (stored.peek(), staged.peek()) {
                    (None, None) => break,
                    (Some(_), None) => false,
                    (None, Some(_)) => true,
                    (Some((sk, _)), Some((pk, _))) => pk.as_slice() <= sk.as_slice(),
                };
                if take_staged {
                    let Some((key, value)) = staged.next() else {
                        break;
                    };
                    if stored.peek().is_some_and(|(sk, _)| sk == key) {
                        stored.next();
                    }
                    if let Some(value) = value {
                        out.push((key.clone(), value.clone()));
                    }
                } else if let Some(record) = stored.next() {
                    out.push(record);
                }
            }
            if out.len() >= limit {
                out.truncate(limit);
                return Ok(out);
            }
            match upper {
                Some(next) if full => from = next,
                _ => return Ok(out),
            }
        }
    }

    fn compact_meta(&self, key: &[u8]) -> Result<Option<i64>> {
        match self.backend.get_meta(key)? {
            None => Ok(None),
            Some(bytes) if bytes.len() == REVISION_KEY_LEN => {
                Ok(Some(RecordKey::from_bytes(&bytes)?.revision.main))
            }
            Some(bytes) => Err(Error::Corrupt(format!(
                "meta {} has {} bytes, want {REVISION_KEY_LEN}",
                String::from_utf8_lossy(key),
                bytes.len()
            ))),
        }
    }

    fn meta_u64(&self, key: &[u8]) -> Result<u64> {
        match self.meta(key)? {
            None => Ok(0),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    Error::Corrupt(format!(
                        "meta {} has {} bytes, want 8",
                        String::from_utf8_lossy(key),
                        bytes.len()
                    ))
                }),
        }
    }

    fn check_poisoned(&self) -> Result<()> {
        if self.poisoned {
            Err(Error::Poisoned)
        } else {
            Ok(())
        }
    }
}

/// The smallest key greater than `key`.
fn key_after(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// A count as etcd's int64; counts of in-memory things always fit.
pub(crate) fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
