//! The log as the core sees it: the stable part in [`Storage`] followed by the
//! [`Unstable`] part, plus the commit and apply cursors.

use super::errors::{Error, Result, StorageError};
use super::log_unstable::Unstable;
use super::storage::{Storage, limit_size};
use super::types::{Entry, LogIndex, Snapshot, Term};

/// The combined log.
///
/// Invariant: `applied <= applying <= committed <= last_index()`.
pub struct RaftLog<S: Storage> {
    /// The stable entries, owned by the caller's storage.
    pub storage: S,
    /// Entries and a snapshot not yet persisted.
    pub unstable: Unstable,
    /// The highest index known to be committed.
    pub committed: LogIndex,
    /// The highest index handed to the application to apply.
    pub applying: LogIndex,
    /// The highest index the application confirmed as applied.
    pub applied: LogIndex,
    /// The most bytes of committed entries per `Ready`.
    pub max_applying_size_bytes: u64,
}

impl<S: Storage> RaftLog<S> {
    /// A log over `storage`, with everything stored counted as stable.
    pub fn new(storage: S, max_applying_size_bytes: u64) -> Result<RaftLog<S>> {
        let first = storage.first_index()?;
        let last = storage.last_index()?;
        Ok(RaftLog {
            storage,
            unstable: Unstable {
                snapshot: None,
                entries: Vec::new(),
                offset: last.next(),
            },
            committed: first.prev(),
            applying: first.prev(),
            applied: first.prev(),
            max_applying_size_bytes,
        })
    }

    /// The first index in the log.
    pub fn first_index(&self) -> LogIndex {
        self.unstable
            .maybe_first_index()
            .unwrap_or_else(|| self.storage.first_index().unwrap_or(LogIndex(1)))
    }

    /// The last index in the log.
    pub fn last_index(&self) -> LogIndex {
        self.unstable
            .maybe_last_index()
            .unwrap_or_else(|| self.storage.last_index().unwrap_or(LogIndex(0)))
    }

    /// The term of the last entry.
    pub fn last_term(&self) -> Term {
        self.term(self.last_index()).unwrap_or(Term(0))
    }

    /// The term of the entry at `index`. `Compacted` below the first index minus one,
    /// `Unavailable` past the last.
    pub fn term(&self, index: LogIndex) -> std::result::Result<Term, StorageError> {
        if let Some(term) = self.unstable.maybe_term(index) {
            return Ok(term);
        }
        if index.next() < self.first_index() {
            return Err(StorageError::Compacted);
        }
        if index > self.last_index() {
            return Err(StorageError::Unavailable);
        }
        self.storage.term(index)
    }

    /// The term at `index`, 0 if out of range.
    pub fn term_or_zero(&self, index: LogIndex) -> Term {
        self.term(index).unwrap_or(Term(0))
    }

    /// Whether the entry at `index` has `term`.
    pub fn match_term(&self, index: LogIndex, term: Term) -> bool {
        self.term(index).is_ok_and(|t| t == term)
    }

    /// Whether a log ending at `(last_index, term)` is at least as up to date as this one
    /// (Raft §5.4.1).
    pub fn is_up_to_date(&self, last_index: LogIndex, term: Term) -> bool {
        term > self.last_term() || (term == self.last_term() && last_index >= self.last_index())
    }

    /// The index of the first entry of `entries` that conflicts with (or extends) this
    /// log, or `LogIndex(0)` if all of them are already here.
    pub fn find_conflict(&self, entries: &[Entry]) -> LogIndex {
        for entry in entries {
            if !self.match_term(entry.index, entry.term) {
                return entry.index;
            }
        }
        LogIndex(0)
    }

    /// The last index at or below `index` whose term is at most `term`, and that term.
    /// Used to skip, in one round trip, every entry of a term the other log does not have.
    pub fn find_conflict_by_term(&self, index: LogIndex, term: Term) -> (LogIndex, Term) {
        let mut index = index.min(self.last_index());
        loop {
            match self.term(index) {
                Ok(t) if t > term => {
                    if index.0 == 0 {
                        return (index, t);
                    }
                    index = index.prev();
                }
                Ok(t) => return (index, t),
                Err(_) => return (index, Term(0)),
            }
        }
    }

    /// Appends `entries` after `(index, log_term)` if the log has that entry (the
    /// consistency check of AppendEntries, §5.3), and advances the commit to
    /// `min(committed, last new index)`. Returns the last new index, or None on mismatch.
    pub fn maybe_append(
        &mut self,
        index: LogIndex,
        log_term: Term,
        committed: LogIndex,
        entries: &[Entry],
    ) -> Result<Option<LogIndex>> {
        if !self.match_term(index, log_term) {
            return Ok(None);
        }
        let last_new = index + entries.len() as u64;
        let conflict = self.find_conflict(entries);
        if conflict.0 != 0 {
            assert!(
                conflict > self.committed,
                "entry {conflict} conflicts with committed entry (committed {})",
                self.committed
            );
            let start = (conflict - index.next()) as usize;
            self.append(&entries[start..]);
        }
        self.commit_to(committed.min(last_new));
        Ok(Some(last_new))
    }

    /// Appends entries (truncating a conflicting unstable suffix). Returns the new last
    /// index. The first entry MUST come after the commit index.
    pub fn append(&mut self, entries: &[Entry]) -> LogIndex {
        let Some(first) = entries.first() else {
            return self.last_index();
        };
        assert!(
            first.index > self.committed,
            "appending at {} would overwrite committed entries (committed {})",
            first.index,
            self.committed
        );
        self.unstable.truncate_and_append(entries);
        self.last_index()
    }

    /// Entries not yet persisted.
    pub fn unstable_entries(&self) -> &[Entry] {
        &self.unstable.entries
    }

    /// Committed entries not yet handed to the application.
    pub fn next_committed_entries(&self) -> Result<Vec<Entry>> {
        let low = self.applying.next().max(self.first_index());
        let high = self.committed.next();
        if low >= high {
            return Ok(Vec::new());
        }
        self.slice(low, high, self.max_applying_size_bytes)
    }

    /// Whether committed entries wait to be handed to the application.
    pub fn has_next_committed_entries(&self) -> bool {
        let low = self.applying.next().max(self.first_index());
        low <= self.committed && self.unstable.snapshot.is_none()
    }

    /// The pending snapshot, or the stored one.
    pub fn snapshot(&self) -> std::result::Result<Snapshot, StorageError> {
        match &self.unstable.snapshot {
            Some(snapshot) => Ok(snapshot.clone()),
            None => self.storage.snapshot(),
        }
    }

    /// Advances the commit index (never backwards). It MUST be within the log.
    pub fn commit_to(&mut self, index: LogIndex) {
        if self.committed < index {
            assert!(
                index <= self.last_index(),
                "commit index {index} is out of range [last index {}]; was the log corrupted, truncated or lost?",
                self.last_index()
            );
            self.committed = index;
        }
    }

    /// Commits up to `index` if its entry is of `term` (only entries of the leader's own
    /// term are committed by counting replicas, §5.4.2). Returns whether it advanced.
    pub fn maybe_commit(&mut self, index: LogIndex, term: Term) -> bool {
        if index > self.committed && self.term_or_zero(index) == term {
            self.commit_to(index);
            return true;
        }
        false
    }

    /// Records that entries up to `index` were handed to the application.
    pub fn applying_to(&mut self, index: LogIndex) {
        assert!(
            index <= self.committed,
            "applying {index} beyond commit {}",
            self.committed
        );
        self.applying = self.applying.max(index);
    }

    /// Records that the application applied entries up to `index`.
    pub fn applied_to(&mut self, index: LogIndex) {
        assert!(
            index <= self.committed,
            "applied {index} beyond commit {}",
            self.committed
        );
        self.applied = self.applied.max(index);
        self.applying = self.applying.max(index);
    }

    /// The entries up to `(index, term)` were persisted.
    pub fn stable_to(&mut self, index: LogIndex, term: Term) {
        self.unstable.stable_to(index, term);
    }

    /// The snapshot at `index` was persisted.
    pub fn stable_snap_to(&mut self, index: LogIndex) {
        self.unstable.stable_snap_to(index);
    }

    /// Replaces the log with a snapshot (to be persisted from the next `Ready`).
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.committed = snapshot.metadata.index;
        self.unstable.restore(snapshot);
    }

    /// Entries from `index` to the end, at most `max_size_bytes` (at least one).
    pub fn entries_from(&self, index: LogIndex, max_size_bytes: u64) -> Result<Vec<Entry>> {
        if index > self.last_index() {
            return Ok(Vec::new());
        }
        self.slice(index, self.last_index().next(), max_size_bytes)
    }

    /// Entries in `[low, high)`, at most `max_size_bytes` (at least one).
    pub fn slice(&self, low: LogIndex, high: LogIndex, max_size_bytes: u64) -> Result<Vec<Entry>> {
        if low == high {
            return Ok(Vec::new());
        }
        if low < self.first_index() {
            return Err(Error::Storage(StorageError::Compacted));
        }
        assert!(
            low <= high && high <= self.last_index().next(),
            "slice [{low}, {high}) out of bounds [{}, {}]",
            self.first_index(),
            self.last_index()
        );
        let mut out = Vec::new();
        if low < self.unstable.offset {
            let stored_high = high.min(self.unstable.offset);
            out = self.storage.entries(low, stored_high, max_size_bytes)?;
            if out.len() < (stored_high - low) as usize {
                // The size limit cut the stored part short.
                return Ok(out);
            }
        }
        if high > self.unstable.offset {
            let unstable = self.unstable.slice(low.max(self.unstable.offset), high);
            out.extend_from_slice(unstable);
        }
        Ok(limit_size(&out, max_size_bytes))
    }
}
