//! The part of the log not yet handed to storage: entries and possibly a snapshot that
//! the caller will persist from the next `Ready`.

use super::types::{Entry, LogIndex, Snapshot, Term};

/// Entries (and a snapshot) not yet persisted.
///
/// Invariant: `entries[i].index == offset + i`; if `snapshot` is set, `offset` is its
/// index plus one.
#[derive(Clone, Debug, Default)]
pub struct Unstable {
    /// An incoming snapshot not yet persisted.
    pub snapshot: Option<Snapshot>,
    /// Entries not yet persisted.
    pub entries: Vec<Entry>,
    /// The index of `entries[0]` (or of the next entry if there is none).
    pub offset: LogIndex,
}

impl Unstable {
    /// The first index, if a snapshot is pending.
    pub fn maybe_first_index(&self) -> Option<LogIndex> {
        self.snapshot.as_ref().map(|s| s.metadata.index.next())
    }

    /// The last index, if there are unstable entries or a snapshot.
    pub fn maybe_last_index(&self) -> Option<LogIndex> {
        if let Some(last) = self.entries.last() {
            return Some(last.index);
        }
        self.snapshot.as_ref().map(|s| s.metadata.index)
    }

    /// The term at `index` if this part of the log knows it.
    pub fn maybe_term(&self, index: LogIndex) -> Option<Term> {
        if index < self.offset {
            return self
                .snapshot
                .as_ref()
                .filter(|s| s.metadata.index == index)
                .map(|s| s.metadata.term);
        }
        let last = self.maybe_last_index()?;
        if index > last {
            return None;
        }
        Some(self.entries[(index - self.offset) as usize].term)
    }

    /// The entries up to `(index, term)` were persisted: drop them. Ignored if the entry
    /// at `index` has since been replaced by one of another term.
    pub fn stable_to(&mut self, index: LogIndex, term: Term) {
        if index < self.offset {
            return;
        }
        if self.maybe_term(index) == Some(term) {
            let keep_from = (index - self.offset) as usize + 1;
            self.entries.drain(..keep_from);
            self.offset = index.next();
        }
    }

    /// The snapshot at `index` was persisted.
    pub fn stable_snap_to(&mut self, index: LogIndex) {
        if self
            .snapshot
            .as_ref()
            .is_some_and(|s| s.metadata.index == index)
        {
            self.snapshot = None;
        }
    }

    /// Replaces everything with an incoming snapshot.
    pub fn restore(&mut self, snapshot: Snapshot) {
        self.offset = snapshot.metadata.index.next();
        self.entries.clear();
        self.snapshot = Some(snapshot);
    }

    /// Appends entries, truncating any unstable entries at or after the first one.
    pub fn truncate_and_append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        let after = first.index;
        if after == self.offset + self.entries.len() as u64 {
            self.entries.extend_from_slice(entries);
        } else if after <= self.offset {
            // Replacing everything unstable (and possibly stable entries after `after`,
            // which storage will truncate when these are persisted).
            self.offset = after;
            self.entries = entries.to_vec();
        } else {
            self.entries.truncate((after - self.offset) as usize);
            self.entries.extend_from_slice(entries);
        }
    }

    /// The unstable entries in `[low, high)`. The range MUST lie within them.
    pub fn slice(&self, low: LogIndex, high: LogIndex) -> &[Entry] {
        assert!(
            low >= self.offset && high <= self.offset + self.entries.len() as u64 && low <= high,
            "unstable slice [{low}, {high}) out of bounds (offset {}, {} entries)",
            self.offset,
            self.entries.len()
        );
        &self.entries[(low - self.offset) as usize..(high - self.offset) as usize]
    }
}
