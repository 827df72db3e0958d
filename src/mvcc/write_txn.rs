//! A write in progress (etcd's `storeTxnWrite`, `kvstore_txn.go`).

use super::backend::Backend;
use super::error::{Error, Result};
use super::index::KeyRange;
use super::kv::{Event, EventType, KeyValue, LeaseChange};
use super::revision::{RecordKey, Revision};
use super::store::{MvccStore, ReadOptions, ReadResult, WriteEffects, to_i64};

/// A write in progress: changes get main revision `begin_revision() + 1` and sub
/// revisions 0, 1, ... (etcd's `storeTxnWrite`). Reads through it see its own changes.
///
/// The store's revision moves to the new revision at the first change, so dropping the
/// txn keeps the store consistent; but [`finish`](Self::finish) MUST be called to get the
/// events and lease changes, or watchers and the Lessor miss them.
#[derive(Debug)]
pub struct WriteTxn<'a, B: Backend> {
    store: &'a mut MvccStore<B>,
    begin_rev: i64,
    effects: WriteEffects,
}

impl<'a, B: Backend> WriteTxn<'a, B> {
    pub(super) fn new(store: &'a mut MvccStore<B>) -> Self {
        let begin_rev = store.current_rev;
        Self {
            store,
            begin_rev,
            effects: WriteEffects::default(),
        }
    }

    /// The store's revision when the write began.
    pub fn begin_revision(&self) -> i64 {
        self.begin_rev
    }

    /// The revision reads through this txn see: the new one once a change was made.
    pub fn read_revision(&self) -> i64 {
        if self.has_changes() {
            self.begin_rev + 1
        } else {
            self.begin_rev
        }
    }

    /// The compaction revision of the store.
    pub fn compacted_revision(&self) -> i64 {
        self.store.compact_rev
    }

    /// Whether a change was made.
    pub fn has_changes(&self) -> bool {
        !self.effects.events.is_empty()
    }

    /// Reads `range` as of this txn (see [`MvccStore::read`]).
    pub fn read(&self, range: KeyRange<'_>, opts: ReadOptions) -> Result<ReadResult> {
        self.store.range_keys(range, opts, self.read_revision())
    }

    /// Puts `value` at `key` with `lease` (0 for none) and returns the new revision
    /// (etcd's `put`). The lease is not checked here.
    pub fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> Result<i64> {
        let result = self.do_put(key, value, lease);
        self.poison_if_partial(result)
    }

    /// Deletes the keys of `range` that exist; returns how many, and the revision: the new
    /// one if this txn changed anything, else the current one (etcd's `DeleteRange`).
    pub fn delete_range(&mut self, range: KeyRange<'_>) -> Result<(i64, i64)> {
        let result = self.do_delete_range(range);
        self.poison_if_partial(result)
    }

    /// Ends the write and hands over its events and lease changes.
    pub fn finish(self) -> WriteEffects {
        self.effects
    }

    fn do_put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> Result<i64> {
        let rev = self.begin_rev + 1;
        let (created, version, prev) = match self.store.index.get(key, rev) {
            Some(at) => (
                at.created.main,
                at.version,
                Some(self.store.load_kv(at.modified)?),
            ),
            None => (rev, 0, None),
        };
        let idx_rev = Revision::new(rev, to_i64(self.effects.events.len()));
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision: created,
            mod_revision: rev,
            version: version + 1,
            value,
            lease,
        };
        self.store
            .pending_records
            .insert(RecordKey::put(idx_rev).to_bytes(), Some(kv.encode()));
        self.store.index.put(key, idx_rev);
        self.store.current_rev = rev;

        let old_lease = prev.as_ref().map_or(0, |p| p.lease);
        if old_lease != lease {
            if old_lease != 0 {
                self.effects.lease_changes.push(LeaseChange::Detach {
                    lease: old_lease,
                    key: key.to_vec(),
                });
            }
            if lease != 0 {
                self.effects.lease_changes.push(LeaseChange::Attach {
                    lease,
                    key: key.to_vec(),
                });
            }
        }
        self.effects.events.push(Event {
            kind: EventType::Put,
            kv,
            prev_kv: prev,
        });
        Ok(rev)
    }

    fn do_delete_range(&mut self, range: KeyRange<'_>) -> Result<(i64, i64)> {
        let (entries, _) = self.store.index.range(range, self.read_revision(), 0);
        if entries.is_empty() {
            return Ok((0, self.read_revision()));
        }
        let rev = self.begin_rev + 1;
        for entry in &entries {
            let prev = self.store.load_kv(entry.at.modified)?;
            let idx_rev = Revision::new(rev, to_i64(self.effects.events.len()));
            let tombstone = KeyValue {
                key: entry.key.clone(),
                ..KeyValue::default()
            };
            if !self.store.index.tombstone(&entry.key, idx_rev) {
                return Err(Error::Corrupt(format!(
                    "tombstone of a missing key at {idx_rev}"
                )));
            }
            self.store.pending_records.insert(
                RecordKey::tombstone(idx_rev).to_bytes(),
                Some(tombstone.encode()),
            );
            self.store.current_rev = rev;
            if prev.lease != 0 {
                self.effects.lease_changes.push(LeaseChange::Detach {
                    lease: prev.lease,
                    key: entry.key.clone(),
                });
            }
            let kv = KeyValue {
                key: entry.key.clone(),
                mod_revision: rev,
                ..KeyValue::default()
            };
            self.effects.events.push(Event {
                kind: EventType::Delete,
                kv,
                prev_kv: Some(prev),
            });
        }
        Ok((to_i64(entries.len()), rev))
    }

    /// A failure after this txn changed the index leaves a half-applied write: poison.
    fn poison_if_partial<T>(&mut self, result: Result<T>) -> Result<T> {
        if result.is_err() && self.has_changes() {
            self.store.poisoned = true;
        }
        result
    }

    /// Stops the store: for a caller whose own failure left this write half-done.
    pub(super) fn poison(&mut self) {
        self.store.poisoned = true;
    }
}
