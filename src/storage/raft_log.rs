//! The durable raft log of one member: entries, hard state and snapshot in fjall, with
//! the whole stable log cached in memory so that the Raft core's reads never touch disk.
//!
//! # Layout
//!
//! - keyspace `raft_log`: entry index (big-endian u64) → encoded [`Entry`];
//! - keyspace `raft_state`: `hard_state`, `snapshot_meta`, `snapshot_data`.
//!
//! Encoding and checksums are in [`super::codec`].
//!
//! Memory: the cache holds every entry after the snapshot, as etcd's `MemoryStorage`
//! does, but only the last [`CACHE_DATA_ENTRIES_MAX`] keep their data in memory; older
//! ones keep their index, term and type, and their data is read back from fjall when
//! asked for (a follower far behind, an applier far behind). With etcd's default
//! `--snapshot-count` of 100,000 entries this is most of a member's memory otherwise.
//! The number of entries is bounded by compaction: the driver MUST call
//! [`DiskRaftStorage::compact`] regularly (etcd keeps a few thousand entries after each
//! snapshot), or the log grows as it does on disk.
//!
//! Invariant (kept by every write, checked at open): the `raft_log` keyspace holds
//! exactly the entries `snapshot index + 1 ..= last index`, contiguous, each under its
//! own index, with terms that never go down; the hard state's commit is at most the
//! last index.
//!
//! # Threads
//!
//! [`DiskRaftStorage`] is a cheap handle (`Clone`): the `RaftNode` actor reads through
//! [`Storage`]; a dedicated writer thread calls [`DiskRaftStorage::persist`] and
//! [`DiskRaftStorage::compact`]. Writes are synchronous fjall calls that may fsync: they
//! MUST run on that thread (the RaftLog actor's arbiter, shared with the RaftNode), never on an async thread that
//! also serves the network.
//!
//! A write holds the writer lock for its whole duration but takes the cache lock only
//! to validate (shared) and, once the batch is on disk, to apply it (exclusive, no I/O):
//! readers are never blocked behind an fsync, and they only ever see what is durable
//! (the entries still being written are in the core's unstable log anyway).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use fjall::{Database, Keyspace, PersistMode};

use super::codec::{self, RecordError};
use crate::raft::{
    ConfState, Entry, HardState, LogIndex, MemStorage, NodeId, RaftState, Snapshot,
    SnapshotMetadata, Storage, StorageError, Term,
};

/// How many of the last entries keep their data in the cache. Raft reads the newest
/// entries (replication to followers that keep up, entries to apply). 5,000 is etcd's
/// `SnapshotCatchUpEntries`, the entries it keeps after a compaction for followers that
/// lag a little; at full speed here it is a few hundred milliseconds of writes.
pub const CACHE_DATA_ENTRIES_MAX: u64 = 5_000;

/// `raft_state` key of the hard state.
const HARD_STATE_KEY: &[u8] = b"hard_state";
/// `raft_state` key of the snapshot's metadata.
const SNAPSHOT_META_KEY: &[u8] = b"snapshot_meta";
/// `raft_state` key of the snapshot's data.
const SNAPSHOT_DATA_KEY: &[u8] = b"snapshot_data";

/// One write of the driver, from one `Ready`: stored as ONE atomic fjall batch.
///
/// Applied in this order: the snapshot (which replaces the whole log), then the entries
/// (truncating stored entries at or after the first one; entries at or below the
/// snapshot index are skipped), then the hard state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogWrite {
    /// A snapshot to install: `Ready::snapshot`.
    pub snapshot: Option<Snapshot>,
    /// Entries to append, contiguous: `Ready::entries`.
    pub entries: Vec<Entry>,
    /// The hard state to store: `Ready::hard_state`.
    pub hard_state: Option<HardState>,
    /// Whether to fsync before returning: `Ready::must_sync`. A write carrying a snapshot
    /// is always fsynced (it replaces the log, and the member acknowledges it).
    pub sync: bool,
}

impl LogWrite {
    /// Whether the write changes nothing.
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.entries.is_empty() && self.hard_state.is_none()
    }
}

/// The durable [`Storage`] of one member's raft log, over fjall.
///
/// Failure model: after any failed [`persist`](Self::persist) (an I/O error, a failed
/// fsync, or a write the log cannot take) and after an I/O failure of
/// [`compact`](Self::compact), the storage is *poisoned*: every later write returns an
/// error naming the first failure. A failed fsync may have lost data that the page cache
/// still shows as written (the fsync-failure lesson, "fsyncgate"); retrying and
/// acknowledging would be a lie, so the member stops serving writes and is restarted from
/// what the disk really holds. Reads keep answering from the cache, which holds only
/// writes that succeeded.
#[derive(Clone)]
pub struct DiskRaftStorage {
    /// The stable log, hard state and snapshot, exactly as on disk, except that entries
    /// below `evicted_below` have no data in memory.
    cache: Arc<RwLock<MemStorage>>,
    /// Invariant: every cached entry with an index below it has its data evicted, every
    /// one at or above it has its data. Changed only under the cache's write lock, read
    /// under its read lock, so it always matches the cache.
    evicted_below: Arc<AtomicU64>,
    /// Where evicted data is read back from (reads never take the writer lock).
    log: Keyspace,
    /// How many of the last entries keep their data: [`CACHE_DATA_ENTRIES_MAX`], smaller
    /// in tests.
    cache_data_entries: u64,
    /// The fjall handles and the poison state; held for the whole of a write.
    writer: Arc<Mutex<Writer>>,
}

struct Writer {
    db: Database,
    log: Keyspace,
    state: Keyspace,
    /// The first failure, once a write failed. Invariant: once set, never cleared.
    poisoned: Option<String>,
    /// Test hook: make the next persist write its batch without syncing and then fail,
    /// as a failed fsync would.
    #[cfg(test)]
    fail_next_persist: bool,
}

/// The error of a fjall call.
fn disk_error(what: &str, err: fjall::Error) -> StorageError {
    StorageError::Other(format!("{what}: {err}"))
}

/// The error of a damaged raft log record.
fn corrupt_entry(index: LogIndex, err: impl std::fmt::Display) -> StorageError {
    StorageError::Other(format!(
        "raft log record at index {index} is corrupt: {err}"
    ))
}

/// The error of a damaged `raft_state` record.
fn corrupt_state(key: &[u8], err: RecordError) -> StorageError {
    StorageError::Other(format!(
        "raft state record {} is corrupt: {err}",
        String::from_utf8_lossy(key)
    ))
}

fn lock_poisoned() -> StorageError {
    StorageError::Other("raft storage lock poisoned by a panic".to_string())
}

/// Reads and decodes one `raft_state` record.
fn read_state<T>(
    state: &Keyspace,
    key: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, RecordError>,
) -> Result<Option<T>, StorageError> {
    let Some(bytes) = state
        .get(key)
        .map_err(|e| disk_error("reading raft state", e))?
    else {
        return Ok(None);
    };
    decode(&bytes).map(Some).map_err(|e| corrupt_state(key, e))
}

/// Loads the stable log from disk and checks the invariant of the module.
fn load(log: &Keyspace, state: &Keyspace) -> Result<MemStorage, StorageError> {
    let hard_state = read_state(state, HARD_STATE_KEY, codec::decode_hard_state)?;
    let metadata = read_state(state, SNAPSHOT_META_KEY, codec::decode_snapshot_metadata)?;
    let data = read_state(state, SNAPSHOT_DATA_KEY, codec::decode_snapshot_data)?;
    let mut cache = MemStorage::new();
    if let Some(metadata) = metadata {
        if metadata.index == LogIndex(0) {
            return Err(StorageError::Other(
                "raft state record snapshot_meta is corrupt: snapshot at index 0".to_string(),
            ));
        }
        // No entry could follow it (and raft's index arithmetic would overflow).
        if metadata.index == LogIndex(u64::MAX) {
            return Err(StorageError::Other(
                "raft state record snapshot_meta is corrupt: snapshot at the last possible index"
                    .to_string(),
            ));
        }
        cache.apply_snapshot(Snapshot {
            data: data.unwrap_or_default(),
            metadata,
        })?;
    }
    let snapshot = cache.snapshot()?.metadata;
    // Compaction deletes covered entries in the same batch that moves the snapshot.
    if let Some(item) = log.range(..=codec::entry_key(snapshot.index)).next() {
        let (key, _) = item
            .into_inner()
            .map_err(|e| disk_error("reading raft log", e))?;
        let index = codec::index_of_key(&key).map_err(|e| corrupt_entry(snapshot.index, e))?;
        return Err(StorageError::Other(format!(
            "raft log holds an entry at index {index}, at or below the snapshot index {}",
            snapshot.index
        )));
    }
    let mut entries = Vec::new();
    let mut expected = snapshot.index.next();
    let mut prev_term = snapshot.term;
    for item in log.range(codec::entry_key(expected)..) {
        let (key, value) = item
            .into_inner()
            .map_err(|e| disk_error("reading raft log", e))?;
        let index = codec::index_of_key(&key).map_err(|e| corrupt_entry(expected, e))?;
        if index != expected {
            return Err(StorageError::Other(format!(
                "raft log is not contiguous: expected index {expected}, found {index}"
            )));
        }
        let entry = codec::decode_entry(&value).map_err(|e| corrupt_entry(index, e))?;
        if entry.index != index {
            return Err(corrupt_entry(
                index,
                format_args!("it holds the entry of index {}", entry.index),
            ));
        }
        if entry.term < prev_term {
            return Err(corrupt_entry(
                index,
                format_args!("term {} is below the previous term {prev_term}", entry.term),
            ));
        }
        if index == LogIndex(u64::MAX) {
            return Err(corrupt_entry(index, "an entry at the last possible index"));
        }
        prev_term = entry.term;
        expected = index.next();
        entries.push(entry);
    }
    cache.append(&entries)?;
    if let Some(hard_state) = hard_state {
        cache.set_hard_state(hard_state);
    }
    let (commit, last) = (cache.hard_state().commit, cache.last_index()?);
    if commit > last {
        return Err(StorageError::Other(format!(
            "hard state commit {commit} is beyond the last log index {last}: committed entries are missing"
        )));
    }
    Ok(cache)
}

/// Evicts the data of the entries older than the last `keep` (at least 1), from
/// `evicted_below` on, and moves `evicted_below` past them. MUST be called under the
/// cache's write lock.
fn evict(cache: &mut MemStorage, evicted_below: &AtomicU64, keep: u64) -> Result<(), StorageError> {
    let keep_from = cache
        .last_index()?
        .0
        .saturating_sub(keep.max(1) - 1)
        .max(cache.first_index()?.0);
    let from = evicted_below.load(Ordering::Relaxed);
    if keep_from > from {
        cache.evict_data(LogIndex(from), LogIndex(keep_from));
        evicted_below.store(keep_from, Ordering::Relaxed);
    }
    Ok(())
}

/// The entry `cached` (whose data was evicted) as read back from disk: the next item of
/// a range read over the evicted entries. The entry was durable when it was cached, so
/// a missing record means a compaction removed it since (`Compacted`, as if the read
/// had come a moment later); a record of another term would mean the log changed under
/// a read of its stable part, which Raft never does.
fn read_back(item: Option<fjall::Guard>, cached: &Entry) -> Result<Entry, StorageError> {
    let Some(item) = item else {
        return Err(StorageError::Compacted);
    };
    let (key, value) = item
        .into_inner()
        .map_err(|e| disk_error("reading raft log", e))?;
    let index = codec::index_of_key(&key).map_err(|e| corrupt_entry(cached.index, e))?;
    if index > cached.index {
        return Err(StorageError::Compacted);
    }
    let entry = codec::decode_entry(&value).map_err(|e| corrupt_entry(index, e))?;
    if entry.index != cached.index || entry.term != cached.term {
        return Err(StorageError::Other(format!(
            "raft log entry {} (term {}) changed on disk while being read: found index {} term {}",
            cached.index, cached.term, entry.index, entry.term
        )));
    }
    Ok(entry)
}

/// What a [`LogWrite`] does to the keys on disk, worked out before anything is written.
struct Plan<'a> {
    /// The entries to insert (those above the snapshot index).
    entries: &'a [Entry],
    /// Ranges of entry indexes to remove.
    deletes: [(LogIndex, LogIndex); 2],
    /// The hard state to store.
    hard_state: Option<HardState>,
}

impl<'a> Plan<'a> {
    /// Checks `write` against the stored log and works out its keys. Nothing is written
    /// if this fails.
    fn new(cache: &MemStorage, write: &'a LogWrite) -> Result<Plan<'a>, StorageError> {
        let old_snapshot = cache.first_index()?.prev();
        let old_last = cache.last_index()?;
        let (mut snapshot, mut last) = (old_snapshot, old_last);
        let mut hard_state = None;
        if let Some(s) = &write.snapshot {
            if s.metadata.index <= old_snapshot {
                return Err(StorageError::SnapshotOutOfDate);
            }
            snapshot = s.metadata.index;
            last = snapshot;
            // As `MemStorage::apply_snapshot`: the snapshot is committed.
            let mut hs = cache.hard_state();
            hs.term = hs.term.max(s.metadata.term);
            hs.commit = snapshot;
            hard_state = Some(hs);
        }
        for pair in write.entries.windows(2) {
            if pair[1].index != pair[0].index.next() {
                return Err(StorageError::Other(format!(
                    "entries to persist are not contiguous: {} then {}",
                    pair[0].index, pair[1].index
                )));
            }
        }
        let skip = write
            .entries
            .iter()
            .take_while(|e| e.index <= snapshot)
            .count();
        let entries = &write.entries[skip..];
        if let (Some(first), Some(new_last)) = (entries.first(), entries.last()) {
            if first.index > last.next() {
                return Err(StorageError::Other(format!(
                    "missing log entries: last index {last}, appending at {}",
                    first.index
                )));
            }
            last = new_last.index;
        }
        if let Some(hs) = write.hard_state {
            hard_state = Some(hs);
        }
        if let Some(commit) = hard_state.map(|hs| hs.commit).filter(|&c| c > last) {
            return Err(StorageError::Other(format!(
                "hard state commit {commit} is beyond the last log index {last}"
            )));
        }
        // On disk: (old_snapshot, old_last]. Kept: (snapshot, last], of which the new
        // entries are overwritten in place. Removed: the rest, below and above.
        let first_on_disk = old_snapshot.next();
        let deletes = [
            (first_on_disk, old_last.min(snapshot)),
            (first_on_disk.max(last.next()), old_last),
        ];
        Ok(Plan {
            entries,
            deletes,
            hard_state,
        })
    }
}

/// Removes the entries `[low, high]` (nothing if `low > high`).
fn remove_entries(
    batch: &mut fjall::OwnedWriteBatch,
    log: &Keyspace,
    low: LogIndex,
    high: LogIndex,
) {
    for index in low.0..=high.0 {
        batch.remove(log, codec::entry_key(LogIndex(index)).to_vec());
    }
}

impl DiskRaftStorage {
    /// Loads the raft log from the keyspaces `log` (entries) and `state` (hard state and
    /// snapshot) of `db`, verifying every record.
    ///
    /// Fails with `StorageError::Other` naming the record if any checksum fails (for an
    /// entry: "raft log record at index N is corrupt: checksum mismatch"), if the entries
    /// are not contiguous after the snapshot, or if the hard state's commit is beyond the
    /// last entry. Nothing is ever truncated or repaired silently: fjall's journal
    /// already discards a batch torn by a crash (it is never visible, whole or in part),
    /// so a record that fails its checksum here was damaged after it was written and
    /// possibly acknowledged; see the module docs of `crate::storage`.
    pub fn open(db: Database, log: Keyspace, state: Keyspace) -> Result<Self, StorageError> {
        let mut cache = load(&log, &state)?;
        let evicted_below = AtomicU64::new(cache.first_index()?.0);
        evict(&mut cache, &evicted_below, CACHE_DATA_ENTRIES_MAX)?;
        Ok(DiskRaftStorage {
            cache: Arc::new(RwLock::new(cache)),
            evicted_below: Arc::new(evicted_below),
            log: log.clone(),
            cache_data_entries: CACHE_DATA_ENTRIES_MAX,
            writer: Arc::new(Mutex::new(Writer {
                db,
                log,
                state,
                poisoned: None,
                #[cfg(test)]
                fail_next_persist: false,
            })),
        })
    }

    fn read_cache(&self) -> Result<RwLockReadGuard<'_, MemStorage>, StorageError> {
        self.cache.read().map_err(|_| lock_poisoned())
    }

    fn write_cache(&self) -> Result<RwLockWriteGuard<'_, MemStorage>, StorageError> {
        self.cache.write().map_err(|_| lock_poisoned())
    }

    /// The writer, if the storage is not poisoned.
    fn writer(&self) -> Result<MutexGuard<'_, Writer>, StorageError> {
        let writer = self.writer.lock().map_err(|_| lock_poisoned())?;
        match &writer.poisoned {
            Some(first) => Err(StorageError::Other(format!(
                "raft storage is poisoned by an earlier failed write ({first}); restart the member"
            ))),
            None => Ok(writer),
        }
    }

    /// Whether an earlier write failed, so that every write now fails.
    pub fn is_poisoned(&self) -> bool {
        self.writer
            .lock()
            .map_or(true, |writer| writer.poisoned.is_some())
    }

    /// Whether the member has never stored anything (no hard state, snapshot or entry).
    pub fn is_empty(&self) -> Result<bool, StorageError> {
        let cache = self.read_cache()?;
        Ok(cache.hard_state().is_empty() && cache.last_index()? == LogIndex(0))
    }

    /// Initialises the storage of a member of a new cluster, as
    /// [`MemStorage::new_with_conf_state`]: a snapshot at index 1, term 1 carrying the
    /// initial configuration, and the hard state (term 1, commit 1). Fsynced. Fails if
    /// the storage is not [empty](Self::is_empty).
    pub fn bootstrap(&self, conf_state: ConfState) -> Result<(), StorageError> {
        if !self.is_empty()? {
            return Err(StorageError::Other(
                "cannot bootstrap: the raft log already holds state".to_string(),
            ));
        }
        self.persist(&LogWrite {
            snapshot: Some(Snapshot {
                data: Vec::new(),
                metadata: SnapshotMetadata {
                    conf_state,
                    index: LogIndex(1),
                    term: Term(1),
                },
            }),
            entries: Vec::new(),
            hard_state: Some(HardState {
                term: Term(1),
                vote: NodeId::NONE,
                commit: LogIndex(1),
            }),
            sync: true,
        })
    }

    /// Stores one write (steps 1 and 2 of the Ready contract) as ONE atomic fjall batch:
    /// the snapshot's metadata and data, the removal of every stored entry the write
    /// replaces (those covered by a new snapshot and the conflicting suffix beyond the new
    /// entries), the new entries, and the hard state. Fsynced (`SyncAll`) before
    /// returning if `write.sync` or a snapshot is written; otherwise flushed to the OS
    /// only, which survives a crash of the process but not of the machine.
    ///
    /// Takes `&self` (the handle is shared); MUST be called from the dedicated writer
    /// thread. On success the write is visible to readers; on any failure nothing of it
    /// is, and the storage is poisoned (see [`DiskRaftStorage`]).
    pub fn persist(&self, write: &LogWrite) -> Result<(), StorageError> {
        let mut writer = self.writer()?;
        let result = self.persist_locked(&mut writer, write);
        if let Err(err) = &result {
            writer.poisoned = Some(err.to_string());
        }
        result
    }

    fn persist_locked(&self, writer: &mut Writer, write: &LogWrite) -> Result<(), StorageError> {
        let plan = Plan::new(&*self.read_cache()?, write)?;
        let mut batch = writer.db.batch();
        if let Some(snapshot) = &write.snapshot {
            batch.insert(
                &writer.state,
                SNAPSHOT_META_KEY,
                codec::encode_snapshot_metadata(&snapshot.metadata),
            );
            batch.insert(
                &writer.state,
                SNAPSHOT_DATA_KEY,
                codec::encode_snapshot_data(&snapshot.data),
            );
        }
        for (low, high) in plan.deletes {
            remove_entries(&mut batch, &writer.log, low, high);
        }
        for entry in plan.entries {
            batch.insert(
                &writer.log,
                codec::entry_key(entry.index).to_vec(),
                codec::encode_entry(entry),
            );
        }
        if let Some(hs) = plan.hard_state {
            batch.insert(&writer.state, HARD_STATE_KEY, codec::encode_hard_state(&hs));
        }
        let sync = write.sync || write.snapshot.is_some();
        #[cfg(test)]
        if std::mem::take(&mut writer.fail_next_persist) {
            // The batch reaches the OS, then "fsync" fails: what is on disk is unknown.
            batch
                .durability(Some(PersistMode::Buffer))
                .commit()
                .map_err(|e| disk_error("writing raft log", e))?;
            return Err(StorageError::Other(
                "writing raft log: injected fsync failure".to_string(),
            ));
        }
        if batch.is_empty() {
            if sync {
                writer
                    .db
                    .persist(PersistMode::SyncAll)
                    .map_err(|e| disk_error("syncing raft log", e))?;
            }
            return Ok(());
        }
        let mode = if sync {
            PersistMode::SyncAll
        } else {
            PersistMode::Buffer
        };
        batch
            .durability(Some(mode))
            .commit()
            .map_err(|e| disk_error("writing raft log", e))?;
        // The write is on disk: mirror it in the cache. These cannot fail after a
        // successful `Plan::new`; if they did, cache and disk would disagree, and the
        // caller poisons the storage.
        let mut cache = self.write_cache()?;
        if let Some(snapshot) = &write.snapshot {
            cache.apply_snapshot(snapshot.clone())?;
            self.evicted_below
                .store(snapshot.metadata.index.0 + 1, Ordering::Relaxed);
        }
        if let Some(first) = plan.entries.first() {
            // The entries from `first` on are replaced by ones that carry their data.
            self.evicted_below
                .fetch_min(first.index.0, Ordering::Relaxed);
        }
        cache.append(plan.entries)?;
        if let Some(hs) = plan.hard_state {
            cache.set_hard_state(hs);
        }
        evict(&mut cache, &self.evicted_below, self.cache_data_entries)
    }

    /// Takes a snapshot of the state machine at `index` and drops the log up to it: the
    /// snapshot's metadata (with `conf_state`, the configuration as of `index`) and
    /// `data`, and the removal of entries `<= index`, in one fsynced batch.
    ///
    /// `index` MUST be applied to the state machine, whose state MUST be durable first
    /// (`FjallBackend::sync`). Refused without writing or poisoning:
    /// `SnapshotOutOfDate` if `index` is not beyond the current snapshot, `Unavailable`
    /// if it is beyond the last entry, `Other` if it is beyond the commit index. An I/O
    /// failure poisons the storage.
    pub fn compact(
        &self,
        index: LogIndex,
        conf_state: ConfState,
        data: Vec<u8>,
    ) -> Result<(), StorageError> {
        let mut writer = self.writer()?;
        let (old_snapshot, term) = {
            let cache = self.read_cache()?;
            let old_snapshot = cache.first_index()?.prev();
            if index <= old_snapshot {
                return Err(StorageError::SnapshotOutOfDate);
            }
            if index > cache.last_index()? {
                return Err(StorageError::Unavailable);
            }
            let commit = cache.hard_state().commit;
            if index > commit {
                return Err(StorageError::Other(format!(
                    "cannot compact the raft log to {index}: beyond the commit index {commit}"
                )));
            }
            (old_snapshot, cache.term(index)?)
        };
        let metadata = SnapshotMetadata {
            conf_state,
            index,
            term,
        };
        let mut batch = writer.db.batch();
        batch.insert(
            &writer.state,
            SNAPSHOT_META_KEY,
            codec::encode_snapshot_metadata(&metadata),
        );
        batch.insert(
            &writer.state,
            SNAPSHOT_DATA_KEY,
            codec::encode_snapshot_data(&data),
        );
        remove_entries(&mut batch, &writer.log, old_snapshot.next(), index);
        let result = batch
            .durability(Some(PersistMode::SyncAll))
            .commit()
            .map_err(|e| disk_error("compacting raft log", e))
            .and_then(|()| {
                self.write_cache()?
                    .create_snapshot(index, metadata.conf_state, data)
            });
        if let Err(err) = &result {
            writer.poisoned = Some(err.to_string());
        }
        result
    }

    /// Test hook: keep the data of only the last `keep` entries in memory (from the next
    /// write on), so that tests read evicted entries back from disk.
    #[cfg(test)]
    pub(crate) fn with_cache_data_entries(mut self, keep: u64) -> Self {
        self.cache_data_entries = keep;
        self
    }

    /// Test hook: the next [`persist`](Self::persist) writes its batch without an fsync
    /// and then fails as a failed fsync would.
    #[cfg(test)]
    pub(crate) fn fail_next_persist(&self) {
        if let Ok(mut writer) = self.writer.lock() {
            writer.fail_next_persist = true;
        }
    }
}

impl Storage for DiskRaftStorage {
    fn initial_state(&self) -> Result<RaftState, StorageError> {
        self.read_cache()?.initial_state()
    }

    fn entries(
        &self,
        low: LogIndex,
        high: LogIndex,
        max_size_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        let cache = self.read_cache()?;
        let evicted_below = LogIndex(self.evicted_below.load(Ordering::Relaxed));
        if low >= evicted_below {
            return cache.entries(low, high, max_size_bytes);
        }
        // The cached entries give the bounds and terms; the evicted data comes from disk.
        let cached = cache.entries(low, high, u64::MAX)?;
        let mut on_disk = self
            .log
            .range(codec::entry_key(low)..codec::entry_key(evicted_below));
        let mut out = Vec::with_capacity(cached.len());
        let mut size_bytes = 0;
        for entry in cached {
            let entry = if entry.index < evicted_below {
                read_back(on_disk.next(), &entry)?
            } else {
                entry
            };
            size_bytes += entry.size_bytes();
            if !out.is_empty() && size_bytes > max_size_bytes {
                break;
            }
            out.push(entry);
        }
        Ok(out)
    }

    fn term(&self, index: LogIndex) -> Result<Term, StorageError> {
        self.read_cache()?.term(index)
    }

    fn first_index(&self) -> Result<LogIndex, StorageError> {
        self.read_cache()?.first_index()
    }

    fn last_index(&self) -> Result<LogIndex, StorageError> {
        self.read_cache()?.last_index()
    }

    fn snapshot(&self) -> Result<Snapshot, StorageError> {
        self.read_cache()?.snapshot()
    }
}

impl std::fmt::Debug for DiskRaftStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("DiskRaftStorage");
        if let Ok(cache) = self.cache.read() {
            s.field("first_index", &cache.first_index())
                .field("last_index", &cache.last_index())
                .field("hard_state", &cache.hard_state());
        }
        s.field("poisoned", &self.is_poisoned()).finish()
    }
}

#[cfg(test)]
#[path = "raft_log_tests.rs"]
mod tests;
