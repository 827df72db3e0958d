//! The in-memory index from keys to their revisions (etcd's `treeIndex`, `index.go`).

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use super::key_index::{KeyIndex, KeyRevision};
use super::revision::Revision;

/// A set of keys as etcd's requests name it with `key` and `range_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRange<'a> {
    /// Just this key (`range_end` empty).
    Key(&'a [u8]),
    /// Every key at or after this one (`range_end` is `"\0"`).
    From(&'a [u8]),
    /// The keys in `[start, end)`; empty if `end <= start`.
    Range(&'a [u8], &'a [u8]),
}

impl<'a> KeyRange<'a> {
    /// The keys a request names with `key` and `range_end`, as etcd reads them: an empty
    /// `range_end` is the single key, `"\0"` means every key `>= key` (etcd's
    /// `mkGteRange`), anything else is `[key, range_end)`. A prefix is asked for with
    /// `range_end` = the prefix with its last byte incremented, as clients compute it.
    pub fn new(key: &'a [u8], range_end: &'a [u8]) -> Self {
        match range_end {
            [] => KeyRange::Key(key),
            [0] => KeyRange::From(key),
            end => KeyRange::Range(key, end),
        }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        match *self {
            KeyRange::Key(k) => k == key,
            KeyRange::From(start) => key >= start,
            KeyRange::Range(start, end) => key >= start && key < end,
        }
    }
}

/// The index of every key's revisions, ordered by key. Lives in memory and is rebuilt
/// from the backend at start-up, as in etcd.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeIndex {
    tree: BTreeMap<Vec<u8>, KeyIndex>,
}

/// One key found by [`TreeIndex::range`], with its state at the revision asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The key.
    pub key: Vec<u8>,
    /// Its state at the revision asked for.
    pub at: KeyRevision,
}

impl TreeIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of keys with revisions in the index (live or not).
    pub fn len(&self) -> usize {
        self.tree.len()
    }

    /// Whether the index holds no key.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// The state of `key` at `at_rev`, or `None` if it did not exist then.
    pub fn get(&self, key: &[u8], at_rev: i64) -> Option<KeyRevision> {
        self.tree.get(key)?.get(at_rev)
    }

    /// The keys of `range` that exist at `at_rev`, in key order, at most `limit` of them
    /// (no limit if `limit` is 0), and the number of all of them regardless of `limit`
    /// (etcd's `Range` with `withTotalCount`, which the apply layer always asks for).
    pub fn range(
        &self,
        range: KeyRange<'_>,
        at_rev: i64,
        limit: usize,
    ) -> (Vec<IndexEntry>, usize) {
        let mut entries = Vec::new();
        let mut total = 0;
        self.visit(range, |key, ki| {
            if let Some(at) = ki.get(at_rev) {
                if limit == 0 || entries.len() < limit {
                    entries.push(IndexEntry {
                        key: key.to_vec(),
                        at,
                    });
                }
                total += 1;
            }
        });
        (entries, total)
    }

    /// The number of keys of `range` that exist at `at_rev`.
    pub fn count(&self, range: KeyRange<'_>, at_rev: i64) -> usize {
        let mut total = 0;
        self.visit(range, |_, ki| {
            if ki.get(at_rev).is_some() {
                total += 1;
            }
        });
        total
    }

    /// The revisions of `key` at or after main revision `rev` (see [`KeyIndex::since`]).
    pub fn revisions_since(&self, key: &[u8], rev: i64) -> Vec<Revision> {
        self.tree
            .get(key)
            .map(|ki| ki.since(rev))
            .unwrap_or_default()
    }

    /// Records a put of `key` at `rev`.
    pub fn put(&mut self, key: &[u8], rev: Revision) {
        match self.tree.get_mut(key) {
            Some(ki) => ki.put(rev),
            None => {
                let mut ki = KeyIndex::default();
                ki.put(rev);
                self.tree.insert(key.to_vec(), ki);
            }
        }
    }

    /// Records a deletion of `key` at `rev`. Returns `false`, changing nothing, if the key
    /// does not currently exist.
    pub fn tombstone(&mut self, key: &[u8], rev: Revision) -> bool {
        self.tree.get_mut(key).is_some_and(|ki| ki.tombstone(rev))
    }

    /// Compacts every key at `rev` (see [`KeyIndex::compact`]), drops keys left empty,
    /// and returns the revisions whose records the backend must keep.
    pub fn compact(&mut self, rev: i64) -> HashSet<Revision> {
        let mut available = HashSet::new();
        self.tree.retain(|_, ki| {
            ki.compact(rev, &mut available);
            !ki.is_empty()
        });
        available
    }

    /// The revisions a compaction at `rev` would keep, for hashing the kept history
    /// (see [`KeyIndex::keep`]).
    pub fn keep(&self, rev: i64) -> HashSet<Revision> {
        let mut available = HashSet::new();
        for ki in self.tree.values() {
            ki.keep(rev, &mut available);
        }
        available
    }

    /// The revisions of one key.
    pub fn key_index(&self, key: &[u8]) -> Option<&KeyIndex> {
        self.tree.get(key)
    }

    pub(crate) fn key_index_mut(&mut self, key: &[u8]) -> Option<&mut KeyIndex> {
        self.tree.get_mut(key)
    }

    pub(crate) fn insert(&mut self, key: Vec<u8>, ki: KeyIndex) {
        self.tree.insert(key, ki);
    }

    fn visit(&self, range: KeyRange<'_>, mut f: impl FnMut(&[u8], &KeyIndex)) {
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = match range {
            KeyRange::Key(key) => {
                if let Some(ki) = self.tree.get(key) {
                    f(key, ki);
                }
                return;
            }
            KeyRange::From(start) => (Bound::Included(start), Bound::Unbounded),
            KeyRange::Range(start, end) if start < end => {
                (Bound::Included(start), Bound::Excluded(end))
            }
            // An empty or inverted range names no key (and BTreeMap::range would panic).
            KeyRange::Range(..) => return,
        };
        for (key, ki) in self.tree.range::<[u8], _>(bounds) {
            f(key, ki);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    /// foo@2, foo1@3, foo2@4, foo deleted@5, bar@6.
    fn index() -> TreeIndex {
        let mut ti = TreeIndex::new();
        ti.put(b"foo", r(2));
        ti.put(b"foo1", r(3));
        ti.put(b"foo2", r(4));
        assert!(ti.tombstone(b"foo", r(5)));
        ti.put(b"bar", r(6));
        ti
    }

    fn keys(entries: &[IndexEntry]) -> Vec<&[u8]> {
        entries.iter().map(|e| e.key.as_slice()).collect()
    }

    #[test]
    fn key_range_reads_empty_end_as_one_key_and_nul_as_from_key() {
        assert_eq!(KeyRange::new(b"a", b""), KeyRange::Key(b"a"));
        assert_eq!(KeyRange::new(b"a", b"\0"), KeyRange::From(b"a"));
        assert_eq!(KeyRange::new(b"a", b"b"), KeyRange::Range(b"a", b"b"));
        assert!(KeyRange::new(b"a", b"\0").contains(b"zzz"));
        assert!(!KeyRange::new(b"a", b"b").contains(b"b"));
    }

    #[test]
    fn range_is_half_open_and_in_key_order_at_the_revision() {
        let ti = index();
        let (e, total) = ti.range(KeyRange::Range(b"foo", b"foo3"), 4, 0);
        assert_eq!(keys(&e), vec![&b"foo"[..], b"foo1", b"foo2"]);
        assert_eq!(total, 3);
        let (e, _) = ti.range(KeyRange::Range(b"foo", b"foo2"), 6, 0);
        assert_eq!(keys(&e), vec![&b"foo1"[..]]);
    }

    #[test]
    fn range_from_key_has_no_upper_bound() {
        let (e, _) = index().range(KeyRange::From(b"foo1"), 6, 0);
        assert_eq!(keys(&e), vec![&b"foo1"[..], b"foo2"]);
    }

    #[test]
    fn range_with_end_before_start_is_empty() {
        let (e, total) = index().range(KeyRange::Range(b"foo2", b"foo"), 6, 0);
        assert!(e.is_empty());
        assert_eq!(total, 0);
    }

    #[test]
    fn range_limit_caps_entries_but_not_the_total() {
        let (e, total) = index().range(KeyRange::From(b""), 4, 2);
        assert_eq!(keys(&e), vec![&b"foo"[..], b"foo1"]);
        assert_eq!(total, 3);
    }

    #[test]
    fn count_counts_keys_existing_at_the_revision() {
        let ti = index();
        assert_eq!(ti.count(KeyRange::From(b""), 4), 3);
        assert_eq!(ti.count(KeyRange::From(b""), 6), 3);
        assert_eq!(ti.count(KeyRange::Key(b"foo"), 5), 0);
    }

    #[test]
    fn get_of_a_single_key_sees_versions_and_deletion() {
        let mut ti = index();
        ti.put(b"foo1", r(7));
        let at = ti.get(b"foo1", 7).unwrap();
        assert_eq!((at.modified, at.created, at.version), (r(7), r(3), 2));
        assert_eq!(ti.get(b"foo", 5), None);
        assert_eq!(ti.get(b"nope", 7), None);
    }

    #[test]
    fn tombstone_of_a_missing_key_is_refused() {
        let mut ti = index();
        assert!(!ti.tombstone(b"nope", r(7)));
        assert!(!ti.tombstone(b"foo", r(7)));
    }

    #[test]
    fn compact_drops_keys_deleted_before_the_compaction_point() {
        let mut ti = index();
        let kept = ti.compact(6);
        assert_eq!(ti.len(), 3, "foo was deleted at 5 and is gone");
        assert!(ti.key_index(b"foo").is_none());
        assert_eq!(kept, HashSet::from([r(3), r(4), r(6)]));
    }

    #[test]
    fn compact_at_the_tombstone_keeps_it() {
        let mut ti = index();
        let kept = ti.compact(5);
        assert!(kept.contains(&r(5)));
        assert!(ti.key_index(b"foo").is_some());
        assert_eq!(ti.get(b"foo", 5), None);
    }

    #[test]
    fn revisions_since_lists_a_keys_history() {
        let mut ti = index();
        ti.put(b"foo", r(7));
        assert_eq!(ti.revisions_since(b"foo", 3), vec![r(5), r(7)]);
        assert!(ti.revisions_since(b"nope", 0).is_empty());
    }
}
