//! The storage the Raft core reads: the stable part of the log, the hard state and the
//! latest snapshot.
//!
//! The core only ever reads storage. The caller writes to it while handling a `Ready`
//! (appending entries, saving the hard state, installing a snapshot) and compacts it
//! after taking a snapshot of its state machine.

use super::errors::StorageError;
use super::types::{ConfState, Entry, HardState, LogIndex, Snapshot, SnapshotMetadata, Term};

/// The persisted state a member restarts from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftState {
    /// The last persisted hard state.
    pub hard_state: HardState,
    /// The configuration as of the last persisted snapshot or applied conf change.
    pub conf_state: ConfState,
}

/// Read access to a member's durable Raft state.
///
/// Invariant the implementation keeps: entries are contiguous from `first_index()` to
/// `last_index()`; the entry before `first_index()` is covered by the snapshot, whose
/// term `term(first_index() - 1)` MUST still answer.
pub trait Storage {
    /// The hard state and configuration to start from.
    fn initial_state(&self) -> Result<RaftState, StorageError>;

    /// Entries in `[low, high)`, at most `max_size_bytes` of them in total but always at
    /// least one if the range is not empty. `Compacted` if `low` is before the first
    /// index; `Unavailable` if `high` is past `last_index() + 1`.
    fn entries(
        &self,
        low: LogIndex,
        high: LogIndex,
        max_size_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError>;

    /// The term of the entry at `index`, which MAY be the snapshot's index.
    fn term(&self, index: LogIndex) -> Result<Term, StorageError>;

    /// The index of the first entry still in the log (the snapshot's index plus one).
    fn first_index(&self) -> Result<LogIndex, StorageError>;

    /// The index of the last entry (the snapshot's index if the log is empty).
    fn last_index(&self) -> Result<LogIndex, StorageError>;

    /// The latest snapshot. `SnapshotTemporarilyUnavailable` tells the leader to retry.
    fn snapshot(&self) -> Result<Snapshot, StorageError>;
}

/// An in-memory [`Storage`], for tests and the simulation. Writes are the caller's to
/// make (what a member would persist to disk).
#[derive(Clone, Debug, Default)]
pub struct MemStorage {
    hard_state: HardState,
    snapshot: Snapshot,
    /// `entries[0]` has index `snapshot.metadata.index + 1`.
    entries: Vec<Entry>,
}

impl MemStorage {
    /// An empty storage (a member that never ran and knows no configuration).
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// A storage for a member of a new cluster: a snapshot at index 1, term 1 carrying
    /// the initial configuration. Members added later start empty and receive it (or a
    /// later one) from the leader.
    pub fn new_with_conf_state(conf_state: ConfState) -> MemStorage {
        let mut storage = MemStorage::new();
        storage.snapshot.metadata = SnapshotMetadata {
            conf_state,
            index: LogIndex(1),
            term: Term(1),
        };
        storage.hard_state = HardState {
            term: Term(1),
            vote: super::types::NodeId::NONE,
            commit: LogIndex(1),
        };
        storage
    }

    /// The persisted hard state.
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    /// Persists a hard state.
    pub fn set_hard_state(&mut self, hard_state: HardState) {
        self.hard_state = hard_state;
    }

    fn offset(&self) -> LogIndex {
        self.snapshot.metadata.index
    }

    /// Installs a snapshot, dropping the whole log. Older snapshots are refused.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), StorageError> {
        if snapshot.metadata.index <= self.snapshot.metadata.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        self.hard_state.term = self.hard_state.term.max(snapshot.metadata.term);
        self.hard_state.commit = snapshot.metadata.index;
        self.entries.clear();
        self.snapshot = snapshot;
        Ok(())
    }

    /// Appends entries, first truncating any stored entries at or after the first new
    /// index (a new leader overwriting an uncommitted suffix). Entries already covered by
    /// the snapshot are skipped.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), StorageError> {
        let Some(first_new) = entries.first() else {
            return Ok(());
        };
        let first = self.offset().next();
        let last_new = entries[entries.len() - 1].index;
        if last_new < first {
            return Ok(());
        }
        let skip = if first_new.index < first {
            (first - first_new.index) as usize
        } else {
            0
        };
        let entries = &entries[skip..];
        let start = entries[0].index;
        let last = self.offset() + self.entries.len() as u64;
        if start > last.next() {
            return Err(StorageError::Other(format!(
                "missing log entries: last index {last}, appending at {start}"
            )));
        }
        self.entries.truncate((start - first) as usize);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// Builds a snapshot of the state machine as of `index` (which MUST be applied and
    /// in the log), keeping the log.
    pub fn create_snapshot(
        &mut self,
        index: LogIndex,
        conf_state: ConfState,
        data: Vec<u8>,
    ) -> Result<(), StorageError> {
        if index <= self.snapshot.metadata.index {
            return Err(StorageError::SnapshotOutOfDate);
        }
        let term = self.term(index)?;
        self.snapshot = Snapshot {
            data,
            metadata: SnapshotMetadata {
                conf_state,
                index,
                term,
            },
        };
        // The snapshot now marks the start of the log: keep the entries after it.
        let _ = self.compact_to_snapshot();
        Ok(())
    }

    /// Drops entries covered by the current snapshot.
    fn compact_to_snapshot(&mut self) -> Result<(), StorageError> {
        // Entries were indexed from the previous snapshot; re-base them on the new one.
        let snap_index = self.snapshot.metadata.index;
        self.entries.retain(|e| e.index > snap_index);
        Ok(())
    }

    /// Frees the data of the stored entries in `[low, high)`, keeping their index, term
    /// and type. For a cache in front of a disk that still holds the data: afterwards
    /// `entries` answers those entries with empty data, and the cache MUST fill them in.
    pub fn evict_data(&mut self, low: LogIndex, high: LogIndex) {
        let first = self.offset().next();
        let low = low.max(first);
        let end = (self.offset() + self.entries.len() as u64).next();
        let high = high.min(end);
        if low >= high {
            return;
        }
        let (from, to) = ((low - first) as usize, (high - first) as usize);
        for entry in &mut self.entries[from..to] {
            entry.data = Vec::new();
        }
    }

    /// All entries currently stored (for checks and tests).
    pub fn all_entries(&self) -> &[Entry] {
        &self.entries
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> Result<RaftState, StorageError> {
        Ok(RaftState {
            hard_state: self.hard_state,
            conf_state: self.snapshot.metadata.conf_state.clone(),
        })
    }

    fn entries(
        &self,
        low: LogIndex,
        high: LogIndex,
        max_size_bytes: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        if low <= self.offset() {
            return Err(StorageError::Compacted);
        }
        let last = self.offset() + self.entries.len() as u64;
        if high > last.next() {
            return Err(StorageError::Unavailable);
        }
        let start = (low - self.offset().next()) as usize;
        let end = (high - self.offset().next()) as usize;
        Ok(limit_size(&self.entries[start..end], max_size_bytes))
    }

    fn term(&self, index: LogIndex) -> Result<Term, StorageError> {
        let offset = self.offset();
        if index < offset {
            return Err(StorageError::Compacted);
        }
        if index == offset {
            return Ok(self.snapshot.metadata.term);
        }
        let position = (index - offset) as usize - 1;
        self.entries
            .get(position)
            .map(|e| e.term)
            .ok_or(StorageError::Unavailable)
    }

    fn first_index(&self) -> Result<LogIndex, StorageError> {
        Ok(self.offset().next())
    }

    fn last_index(&self) -> Result<LogIndex, StorageError> {
        Ok(self.offset() + self.entries.len() as u64)
    }

    fn snapshot(&self) -> Result<Snapshot, StorageError> {
        Ok(self.snapshot.clone())
    }
}

/// The longest prefix of `entries` within `max_size_bytes`, but at least one entry.
pub fn limit_size(entries: &[Entry], max_size_bytes: u64) -> Vec<Entry> {
    let mut size = 0u64;
    let mut count = 0;
    for entry in entries {
        size += entry.size_bytes();
        if count > 0 && size > max_size_bytes {
            break;
        }
        count += 1;
    }
    entries[..count].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index: LogIndex(index),
            term: Term(term),
            ..Entry::default()
        }
    }

    #[test]
    fn append_truncates_conflicting_suffix_and_skips_compacted_prefix() {
        let mut storage = MemStorage::new();
        storage
            .append(&[entry(1, 1), entry(2, 1), entry(3, 1)])
            .unwrap();
        storage.append(&[entry(2, 2)]).unwrap();
        assert_eq!(storage.last_index().unwrap(), LogIndex(2));
        assert_eq!(storage.term(LogIndex(2)).unwrap(), Term(2));
        storage
            .create_snapshot(LogIndex(2), ConfState::default(), vec![])
            .unwrap();
        storage
            .append(&[entry(1, 1), entry(2, 2), entry(3, 2)])
            .unwrap();
        assert_eq!(storage.first_index().unwrap(), LogIndex(3));
        assert_eq!(storage.term(LogIndex(3)).unwrap(), Term(2));
        assert_eq!(
            storage.entries(LogIndex(2), LogIndex(3), u64::MAX),
            Err(StorageError::Compacted)
        );
        assert!(storage.append(&[entry(9, 2)]).is_err());
    }

    #[test]
    fn entries_respect_size_limit_but_return_at_least_one() {
        let mut storage = MemStorage::new();
        storage
            .append(&[entry(1, 1), entry(2, 1), entry(3, 1)])
            .unwrap();
        let got = storage.entries(LogIndex(1), LogIndex(4), 0).unwrap();
        assert_eq!(got.len(), 1);
        let got = storage.entries(LogIndex(1), LogIndex(4), 48).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            storage.entries(LogIndex(1), LogIndex(5), u64::MAX),
            Err(StorageError::Unavailable)
        );
    }
}
