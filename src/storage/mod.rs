//! The durable storage of one member, on fjall: the raft log and the MVCC backend.
//!
//! One fjall database per member, at `<data-dir>/member`, with four keyspaces:
//! - `raft_log`: log index → entry ([`DiskRaftStorage`]);
//! - `raft_state`: hard state, snapshot metadata and data ([`DiskRaftStorage`]);
//! - `kv`: MVCC record key → key-value ([`FjallBackend`]);
//! - `meta`: applied index, compaction revisions, ... ([`FjallBackend`]).
//!
//! [`MemberStore::open`] opens the database, loads and verifies the raft log, and hands
//! out the two views, and a measure of the free space left under the data dir
//! ([`DiskSpace`]: the member raises NOSPACE before the disk is full).
//!
//! # Crash-safety rules
//!
//! 1. The raft log and the hard state are fsynced before the member acknowledges an
//!    append, sends a vote, or counts its own entry toward commit:
//!    [`DiskRaftStorage::persist`] with `sync` set commits ONE fjall batch with
//!    `PersistMode::SyncAll` before it returns, and the driver sends the `Ready`'s
//!    messages and calls `advance` only after that. Many proposals share one fsync
//!    (group commit: one `Ready`, one batch).
//! 2. The applier writes the KV changes and the applied index in ONE atomic batch
//!    ([`FjallBackend`]'s `commit`), without an fsync: the raft log is the durable record,
//!    and a crash loses a suffix of applied batches, never part of one, so re-applying
//!    from the stored applied index is exactly-once. Because all keyspaces share one fjall
//!    journal, written in order, a batch that survives a crash implies that every batch
//!    before it survived too.
//! 3. Before the raft log is compacted up to an applied index, the state machine is made
//!    durable ([`FjallBackend::sync`]), so the entries dropped are never needed again.
//! 4. A failed write poisons: after a failed fsync the page cache may show data the disk
//!    lost, so [`DiskRaftStorage`] refuses every later write (and fjall itself refuses
//!    every later batch) rather than retrying and acknowledging what is not durable. The
//!    member stops serving writes and restarts from what the disk holds.
//! 5. Nothing is repaired silently. Every raft log record carries a CRC-32C and a format
//!    version; at open, a record that fails its checksum, an entry out of place, or a
//!    gap in the log is an error naming the index.
//!
//! ## Torn tails
//!
//! A write-ahead log written with plain appends (etcd's WAL) can end in a record torn by
//! a crash, which it truncates at start-up. Here that case cannot reach this module:
//! fjall's journal checksums each batch and, on recovery, drops a torn last batch
//! entirely, so a batch is visible whole or not at all. A raft log record that fails its
//! checksum was therefore damaged *after* it was written, and may have been fsynced and
//! acknowledged to a leader that counted it toward commit; the hard state's commit index
//! does not tell (it can lag the cluster's). Dropping it, even as the last record and
//! beyond the stored commit, could lose a committed entry. So any checksum failure,
//! including the last record's, stops the open with a clear error, and an operator
//! replaces the member (remove it, wipe its data, add it back).
//!
//! # Threads
//!
//! fjall is synchronous and may block on fsync: call every write from a dedicated thread
//! (an actor on its own arbiter, or `web::block`), never from an async thread that serves the network.

// Public for the fuzz target `raft_log_record` (fuzz/), which calls its decoders.
pub mod codec;
mod crc;
mod disk_space;
mod mvcc_backend;
mod raft_log;

use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions};

use crate::raft::StorageError;

pub use crc::{crc32c, crc32c_update};
pub use disk_space::{DISK_RESERVE_FIXED_BYTES, DiskSpace, Headroom};
pub use mvcc_backend::FjallBackend;
pub use raft_log::{DiskRaftStorage, LogWrite};

/// The folder under `--data-dir` that holds the member's fjall database (etcd's
/// `<data-dir>/member` too).
pub const MEMBER_DIR: &str = "member";

/// Keyspace of the raft log entries.
const RAFT_LOG_KEYSPACE: &str = "raft_log";
/// Keyspace of the hard state and snapshot.
const RAFT_STATE_KEYSPACE: &str = "raft_state";
/// Keyspace of the MVCC records.
const KV_KEYSPACE: &str = "kv";
/// Keyspace of the MVCC meta entries.
const META_KEYSPACE: &str = "meta";

/// The durable storage of one member: one fjall database with the raft log and the MVCC
/// backend.
///
/// Opening it takes fjall's lock on the folder: a second open of the same folder (in this
/// process or another) fails until every handle of the first is dropped.
pub struct MemberStore {
    path: PathBuf,
    db: Database,
    raft: DiskRaftStorage,
    backend: FjallBackend,
}

/// fjall's memory budget. fjall's defaults (a 64 MiB memtable per keyspace and a 32 MiB
/// block cache) would make the memtables alone larger than etcd's whole resident set;
/// these bounds keep a member small. Memtable sizes are recorded when a keyspace is
/// created: a data dir keeps the sizes it was created with.
///
/// The raft log's newest entries are also in [`DiskRaftStorage`]'s cache, and all are deleted after
/// each snapshot: its memtable only buffers writes before they reach a segment.
const RAFT_LOG_MEMTABLE_BYTES: u64 = 1 << 20;
/// The MVCC records: a put's previous value is read back from here (or the block cache).
const KV_MEMTABLE_BYTES: u64 = 4 << 20;
/// The small keyspaces (hard state, snapshot metadata, meta).
const SMALL_MEMTABLE_BYTES: u64 = 1 << 20;
/// Blocks read from segments: a put's previous record and ranges over flushed data.
const BLOCK_CACHE_BYTES: u64 = 4 << 20;

/// Segment files fjall keeps open at most: a quarter of the process's open-files limit,
/// between 16 and 256 (fjall's default, 900, would be most of the usual limit of 1024,
/// and the client connections are given half of it: see `api::client_connections_max`).
fn cached_files_max() -> usize {
    let limit = crate::metrics::os::fd_limit()
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(1024);
    (limit / 4).clamp(16, 256)
}

fn open_keyspace(db: &Database, name: &str, memtable_bytes: u64) -> Result<Keyspace, StorageError> {
    db.keyspace(name, || {
        KeyspaceCreateOptions::default().max_memtable_size(memtable_bytes)
    })
    .map_err(|e| StorageError::Other(format!("opening keyspace {name}: {e}")))
}

impl MemberStore {
    /// Opens (creating if needed) the database at `<data_dir>/member`, then loads and
    /// verifies the raft log (see [`DiskRaftStorage::open`] for the errors).
    pub fn open(data_dir: impl AsRef<Path>) -> Result<MemberStore, StorageError> {
        let path = data_dir.as_ref().join(MEMBER_DIR);
        let db = Database::builder(&path)
            .cache_size(BLOCK_CACHE_BYTES)
            .max_cached_files(Some(cached_files_max()))
            .open()
            .map_err(|e| {
                StorageError::Other(format!("opening database {}: {e}", path.display()))
            })?;
        let raft_log = open_keyspace(&db, RAFT_LOG_KEYSPACE, RAFT_LOG_MEMTABLE_BYTES)?;
        let raft_state = open_keyspace(&db, RAFT_STATE_KEYSPACE, SMALL_MEMTABLE_BYTES)?;
        let kv = open_keyspace(&db, KV_KEYSPACE, KV_MEMTABLE_BYTES)?;
        let meta = open_keyspace(&db, META_KEYSPACE, SMALL_MEMTABLE_BYTES)?;
        let raft = DiskRaftStorage::open(db.clone(), raft_log, raft_state)?;
        let backend = FjallBackend::new(db.clone(), kv, meta);
        Ok(MemberStore {
            path,
            db,
            raft,
            backend,
        })
    }

    /// The folder of the database (`<data_dir>/member`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raft log: a handle sharing one cache with every other handle of this store.
    pub fn raft_storage(&self) -> DiskRaftStorage {
        self.raft.clone()
    }

    /// The MVCC backend over the `kv` and `meta` keyspaces.
    pub fn mvcc_backend(&self) -> FjallBackend {
        self.backend.clone()
    }

    /// The free space of the data dir's filesystem against what the member needs.
    pub fn disk_space(&self) -> DiskSpace {
        DiskSpace::new(self.path.clone(), self.backend.clone())
    }

    /// Fsyncs everything written so far (all keyspaces share one journal).
    pub fn sync(&self) -> Result<(), StorageError> {
        self.db
            .persist(fjall::PersistMode::SyncAll)
            .map_err(|e| StorageError::Other(format!("syncing database: {e}")))
    }
}

impl std::fmt::Debug for MemberStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemberStore")
            .field("path", &self.path)
            .field("raft", &self.raft)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
pub(crate) mod test_dir {
    //! Temporary folders for the tests of this module, without a crate for it.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A fresh folder under the system's temporary folder, removed on drop.
    pub struct TestDir(PathBuf);

    impl TestDir {
        /// A new, empty folder whose name says which test made it.
        pub fn new(test: &str) -> TestDir {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("etcd-rs-storage-{test}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create test folder");
            TestDir(path)
        }

        /// The folder.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
