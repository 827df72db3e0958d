//! The MVCC [`Backend`] over fjall: records in keyspace `kv`, meta entries in `meta`.

use std::collections::HashSet;

use fjall::{Database, Keyspace, PersistMode, Readable as _};

use crate::mvcc::{Backend, BackendError, BackendView, BatchOp, Record, WriteBatch};

/// A [`Backend`] over the `kv` and `meta` keyspaces of a member's fjall database.
///
/// [`commit`](Backend::commit) is one atomic fjall batch flushed to the OS but not
/// fsynced: the raft log is the durable record, and a crash loses whole batches only
/// (see the crash-safety rules of [`crate::storage`]). [`sync`](Self::sync) makes
/// everything durable, before the raft log is compacted.
///
/// A cheap handle (`Clone`); the applier is its only writer. fjall may block: call it
/// from a dedicated thread, not from an async one.
#[derive(Clone)]
pub struct FjallBackend {
    db: Database,
    kv: Keyspace,
    meta: Keyspace,
}

fn backend_error(what: &str, err: fjall::Error) -> BackendError {
    BackendError::new(format!("{what}: {err}"))
}

/// A keyspace of its own for [`release_replaced_tables`]: nothing else reads it, and it
/// stays empty.
const DEFRAG_KEYSPACE: &str = "defrag";

/// Deletes the files of the tables a major compaction replaced. fjall keeps each old
/// table (and its file) while a version of the tree below its garbage-collection
/// watermark may still be read, and raises that watermark only when a memtable is
/// sealed, after a write: without this the space a defragment frees stays taken until
/// about a megabyte more is written, which a member under NOSPACE refuses. So one write
/// (a key inserted and removed again, in a keyspace nothing reads) and a seal of that
/// memtable raise the watermark past the compaction, and fjall drops the old versions.
fn release_replaced_tables(db: &Database) -> Result<(), BackendError> {
    let nudge = db
        .keyspace(DEFRAG_KEYSPACE, || {
            fjall::KeyspaceCreateOptions::default().max_memtable_size(1 << 20)
        })
        .map_err(|e| backend_error("opening the defrag keyspace", e))?;
    nudge
        .insert(b"nudge", b"")
        .and_then(|()| nudge.remove(b"nudge"))
        .and_then(|()| nudge.rotate_memtable_and_wait())
        .map_err(|e| backend_error("releasing replaced tables", e))
}

/// Attempts at a major compaction while background compactions hold some tables.
const MAJOR_COMPACTION_ATTEMPTS_MAX: u32 = 100;
/// The wait between two attempts: a background compaction of these small tables takes
/// milliseconds.
const MAJOR_COMPACTION_RETRY_MS: u64 = 20;

/// Merges every table of `keyspace` into its last level, dropping what is deleted and
/// shadowed. fjall's `major_compact` silently does nothing while a background compaction
/// holds one of the tables (as one does right after a flush), so it is tried again until
/// every table is in the last level. `tree` and `level_table_count` are public but
/// hidden from fjall's docs.
fn major_compact(name: &str, keyspace: &Keyspace) -> Result<(), BackendError> {
    use fjall::AbstractTree as _;
    let last_level = usize::from(keyspace.tree.tree_config().level_count.max(1) - 1);
    for _ in 0..MAJOR_COMPACTION_ATTEMPTS_MAX {
        keyspace
            .major_compact()
            .map_err(|e| backend_error(&format!("compacting the {name} keyspace"), e))?;
        let in_last = keyspace.tree.level_table_count(last_level).unwrap_or(0);
        if in_last == keyspace.table_count() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(MAJOR_COMPACTION_RETRY_MS));
    }
    Err(BackendError::new(format!(
        "compacting the {name} keyspace: background compactions kept its tables busy; \
         try again"
    )))
}

impl FjallBackend {
    /// A backend over `kv` (records) and `meta` of `db`.
    pub fn new(db: Database, kv: Keyspace, meta: Keyspace) -> FjallBackend {
        FjallBackend { db, kv, meta }
    }

    /// Fsyncs every batch committed so far (and, as the journal is shared, every other
    /// write to the member's database).
    pub fn sync(&self) -> Result<(), BackendError> {
        self.db
            .persist(PersistMode::SyncAll)
            .map_err(|e| backend_error("syncing the backend", e))
    }

    /// The bytes of the `kv` and `meta` keyspaces' tables on disk (not the journal, not
    /// the memtables): what a defragment rewrites.
    pub fn tables_size(&self) -> u64 {
        self.kv.disk_space() + self.meta.disk_space()
    }

    /// The bytes the member's database takes on disk (all keyspaces and the journal), as
    /// etcd reports its db size. 0 if fjall cannot tell.
    pub fn disk_size(&self) -> u64 {
        self.db
            .disk_space()
            .unwrap_or_else(|_| self.kv.disk_space() + self.meta.disk_space())
    }
}

/// A [`BackendView`] over a fjall snapshot: every keyspace as it was when it was opened,
/// while the applier goes on writing.
struct FjallView {
    snapshot: fjall::Snapshot,
    kv: Keyspace,
    meta: Keyspace,
}

impl BackendView for FjallView {
    fn scan_records(&self, start: &[u8], limit: usize) -> Result<Vec<Record>, BackendError> {
        self.snapshot
            .range(&self.kv, start..)
            .take(limit)
            .map(|item| {
                item.into_inner()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| backend_error("scanning records of a snapshot", e))
            })
            .collect()
    }

    fn scan_meta(&self) -> Result<Vec<Record>, BackendError> {
        self.snapshot
            .iter(&self.meta)
            .map(|item| {
                item.into_inner()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| backend_error("scanning meta entries of a snapshot", e))
            })
            .collect()
    }
}

impl Backend for FjallBackend {
    fn view(&self) -> Result<Box<dyn BackendView>, BackendError> {
        Ok(Box::new(FjallView {
            snapshot: self.db.snapshot(),
            kv: self.kv.clone(),
            meta: self.meta.clone(),
        }))
    }

    fn defragmenter(&self) -> Option<crate::mvcc::Defragmenter> {
        let (db, kv, meta) = (self.db.clone(), self.kv.clone(), self.meta.clone());
        Some(Box::new(move || {
            // A major compaction rewrites the tables without the dead versions; reads
            // and writes go on meanwhile (LSM), unlike etcd's stop-the-world defrag.
            // It merges tables only: the memtable is flushed first, or the deletions
            // of a recent MVCC compaction (still in the memtable) would not remove the
            // records they shadow. The flush also raises fjall's garbage-collection
            // watermark (raised only when a memtable is sealed), below which the
            // compaction may drop versions: without it, a defragment soon after start
            // drops nothing. `rotate_memtable_and_wait` is public but hidden from
            // fjall's docs (its tests use it); fjall 3 has no other flush.
            for (name, keyspace) in [("kv", &kv), ("meta", &meta)] {
                keyspace
                    .rotate_memtable_and_wait()
                    .map_err(|e| backend_error(&format!("flushing the {name} keyspace"), e))?;
                major_compact(name, keyspace)?;
            }
            release_replaced_tables(&db)
        }))
    }

    fn sync(&self) -> Result<(), BackendError> {
        FjallBackend::sync(self)
    }

    fn get_record(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        self.kv
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| backend_error("reading a record", e))
    }

    fn scan_records(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Record>, BackendError> {
        let iter = match end {
            Some(end) if end <= start => return Ok(Vec::new()),
            Some(end) => self.kv.range(start..end),
            None => self.kv.range(start..),
        };
        iter.take(limit)
            .map(|item| {
                item.into_inner()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| backend_error("scanning records", e))
            })
            .collect()
    }

    fn scan_meta(&self) -> Result<Vec<Record>, BackendError> {
        self.meta
            .iter()
            .map(|item| {
                item.into_inner()
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(|e| backend_error("scanning meta entries", e))
            })
            .collect()
    }

    fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        self.meta
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| backend_error("reading a meta entry", e))
    }

    fn commit(&mut self, batch: WriteBatch) -> Result<(), BackendError> {
        // All changes of a fjall batch share one sequence number, so two changes to one
        // key would not be ordered: keep only the last change of each key, as the
        // `WriteBatch` contract says it wins.
        let mut seen: HashSet<(bool, &[u8])> = HashSet::with_capacity(batch.len());
        let mut out = self.db.batch();
        for op in batch.ops().iter().rev() {
            let (is_record, key) = match op {
                BatchOp::PutRecord { key, .. } | BatchOp::DeleteRecord { key } => (true, key),
                BatchOp::PutMeta { key, .. } | BatchOp::DeleteMeta { key } => (false, key),
            };
            if !seen.insert((is_record, key.as_slice())) {
                continue;
            }
            let keyspace = if is_record { &self.kv } else { &self.meta };
            match op {
                BatchOp::PutRecord { value, .. } | BatchOp::PutMeta { value, .. } => {
                    out.insert(keyspace, key.as_slice(), value.as_slice());
                }
                BatchOp::DeleteRecord { .. } | BatchOp::DeleteMeta { .. } => {
                    out.remove(keyspace, key.as_slice());
                }
            }
        }
        out.durability(Some(PersistMode::Buffer))
            .commit()
            .map_err(|e| backend_error("committing a batch", e))
    }
}

impl std::fmt::Debug for FjallBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallBackend").finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "mvcc_backend_tests.rs"]
mod tests;
