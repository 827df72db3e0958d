//! The free space of the filesystem under a member's data dir, against the room the
//! member needs to keep working: the applier raises NOSPACE when it falls short (see
//! `server::applier`'s `check_quota`), before a write fails for want of space.
//!
//! etcd only knows its backend quota: on a disk that fills up before the quota, bbolt's
//! write fails and etcd panics. Here the member notices first, refuses the writes that
//! grow the store, and keeps serving reads, deletes, compaction, defragment and
//! `alarm disarm`, which is how an operator recovers from an over-quota NOSPACE too.
//!
//! If a write fails for want of space anyway (another process fills the disk faster than
//! the check runs), nothing acknowledged is lost: a failed raft log write stops the
//! member before it acknowledges, and fjall poisons the whole database at any failed
//! write (journal, flush or compaction), so the member stops and restarts from its raft
//! log and backend as they are on disk (see the crash-safety rules of [`super`]).

use std::path::PathBuf;

use super::FjallBackend;
use super::{KV_MEMTABLE_BYTES, RAFT_LOG_MEMTABLE_BYTES, SMALL_MEMTABLE_BYTES};

/// Every keyspace's memtable (raft log, kv, and the two small ones), full.
const MEMTABLES_BYTES: u64 = RAFT_LOG_MEMTABLE_BYTES + KV_MEMTABLE_BYTES + 2 * SMALL_MEMTABLE_BYTES;

/// Written after the free space was last found sufficient: the proposals committed
/// before the alarm's own entry, then the operator's deletes, compaction and disarm.
/// Each reaches the shared journal twice (raft log, then backend). Five requests of
/// etcd's default `--max-request-bytes` (1.5 MiB), twice: 15 MiB, rounded up. A margin
/// rather than a bound: the check runs after every applied batch, so only what is in
/// flight while the alarm itself goes through Raft can pass it.
const IN_FLIGHT_WRITES_BYTES: u64 = 16 << 20;

/// Level-0 compactions of the raft log keyspace: fjall merges its first tables (one per
/// 1 MiB memtable flushed) into level 1 in the background; raft log keys only grow, so
/// the merge rewrites a few tables at a time.
const RAFT_LOG_COMPACTION_BYTES: u64 = 4 * RAFT_LOG_MEMTABLE_BYTES;

/// The free space a member keeps whatever its size (34 MiB with the memtable sizes of
/// [`super`]):
/// - twice every memtable: fjall flushes a sealed memtable into a table of about its
///   size while the next one fills, and a flush that fails poisons the database;
/// - the writes in flight ([`IN_FLIGHT_WRITES_BYTES`]);
/// - the raft log's background compactions ([`RAFT_LOG_COMPACTION_BYTES`]).
///
/// The journal needs nothing more: fjall creates each journal file sparse (its 64 MiB
/// are a length, not blocks), so it takes space as it is written, and that is counted
/// above.
pub const DISK_RESERVE_FIXED_BYTES: u64 =
    2 * MEMTABLES_BYTES + IN_FLIGHT_WRITES_BYTES + RAFT_LOG_COMPACTION_BYTES;

/// What the filesystem of the data dir has left, and what the member needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headroom {
    /// Bytes an unprivileged process may still write there (statvfs `f_bavail`: a
    /// filesystem's root reserve is left alone, one more margin).
    pub free_bytes: u64,
    /// [`DISK_RESERVE_FIXED_BYTES`] plus the MVCC backend's tables: a defragment (a
    /// major compaction) writes the live records into new tables before it deletes the
    /// old ones, as etcd's defrag writes a whole copy of its db file. Without that room,
    /// the operator's remedy for NOSPACE would itself fill the disk.
    pub reserve_bytes: u64,
}

impl Headroom {
    /// Whether the member is short of space: it must raise NOSPACE.
    pub fn is_short(&self) -> bool {
        self.free_bytes < self.reserve_bytes
    }
}

/// Measures the [`Headroom`] of one member's storage. Cheap: one `statvfs` and a sum
/// over the backend's table list in memory, so it runs after every applied batch.
pub struct DiskSpace {
    dir: PathBuf,
    backend: FjallBackend,
}

impl DiskSpace {
    pub(super) fn new(dir: PathBuf, backend: FjallBackend) -> DiskSpace {
        DiskSpace { dir, backend }
    }

    /// The headroom now; an error if the filesystem cannot tell.
    pub fn headroom(&self) -> std::io::Result<Headroom> {
        let stat = rustix::fs::statvfs(&self.dir)?;
        let backend_tables = self.backend.tables_size();
        Ok(Headroom {
            free_bytes: stat.f_bavail.saturating_mul(stat.f_frsize),
            reserve_bytes: DISK_RESERVE_FIXED_BYTES.saturating_add(backend_tables),
        })
    }
}

impl std::fmt::Debug for DiskSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskSpace")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_reserve_is_34_mib_with_these_memtables() {
        assert_eq!(DISK_RESERVE_FIXED_BYTES, 34 << 20);
    }

    #[test]
    fn a_member_is_short_only_below_its_reserve() {
        let at = |free_bytes| Headroom {
            free_bytes,
            reserve_bytes: 100,
        };
        assert!(at(99).is_short());
        assert!(!at(100).is_short());
        assert!(!at(101).is_short());
    }

    #[test]
    fn a_fresh_store_measures_free_space_and_the_fixed_reserve() {
        let dir = super::super::test_dir::TestDir::new("disk-space");
        let store = super::super::MemberStore::open(dir.path()).expect("open");
        let headroom = store.disk_space().headroom().expect("statvfs");
        assert!(headroom.reserve_bytes >= DISK_RESERVE_FIXED_BYTES);
        assert!(headroom.free_bytes > 0, "{headroom:?}");
    }
}
