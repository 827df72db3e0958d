//! The revisions of one key, in generations (etcd's `keyIndex`, `key_index.go`).
//!
//! A generation is one life of the key: from the put that creates it to the tombstone
//! that deletes it. A tombstone ends the current generation and opens a new, empty one.
//! For example `put(1.0); put(2.0); tombstone(3.0); put(4.0); tombstone(5.0)` gives
//!
//! ```text
//! {empty}
//! {4.0, 5.0(t)}
//! {1.0, 2.0, 3.0(t)}
//! ```
//!
//! Compacting at `rev` removes, generation by generation, the revisions at or below `rev`
//! except the largest of them, and drops generations that end (tombstone) below `rev`.
//! With the example: `compact(2)` leaves `{2.0, 3.0(t)}` as the oldest generation,
//! `compact(4)` leaves `{4.0, 5.0(t)}` and the empty one, `compact(5)` leaves `{5.0(t)}`
//! and the empty one, and `compact(6)` leaves only the empty generation: the key is then
//! [`KeyIndex::is_empty`] and its index entry is removed.

use std::collections::HashSet;

use super::revision::Revision;

/// One life of a key: its revisions from creation up to and including its tombstone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generation {
    /// How many versions this life has had, including any compacted away.
    pub ver: i64,
    /// The revision of the put that created this life.
    pub created: Revision,
    /// The revisions still held, ascending. Invariant: every generation but the last ends
    /// with a tombstone revision and is not empty.
    pub revs: Vec<Revision>,
}

impl Generation {
    fn is_empty(&self) -> bool {
        self.revs.is_empty()
    }

    /// Walks the revisions from newest to oldest and returns the position of the first
    /// for which `keep_walking` is false (etcd's `generation.walk`).
    fn walk(&self, mut keep_walking: impl FnMut(Revision) -> bool) -> Option<usize> {
        (0..self.revs.len())
            .rev()
            .find(|&i| !keep_walking(self.revs[i]))
    }
}

/// What the index knows of a key at a revision: the revision that last modified it, the
/// revision that created it, and its version (1 for the creating put).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRevision {
    /// The revision of the latest change at or below the revision asked for.
    pub modified: Revision,
    /// The revision that created this life of the key.
    pub created: Revision,
    /// The number of puts in this life up to `modified`.
    pub version: i64,
}

/// The revisions of one key (the key itself is the map key of [`super::TreeIndex`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyIndex {
    /// The revision of the last change. Invariant: every new revision is greater.
    modified: Revision,
    /// Oldest first. Invariant: empty only before the first put or restore.
    generations: Vec<Generation>,
}

impl KeyIndex {
    /// The revision of the last change to the key.
    pub fn modified(&self) -> Revision {
        self.modified
    }

    /// The generations, oldest first.
    pub fn generations(&self) -> &[Generation] {
        &self.generations
    }

    /// Records a put at `rev`.
    ///
    /// # Panics
    /// If `rev` is not greater than the last revision of the key: revisions only grow, so
    /// this is a bug in the caller (etcd panics too).
    pub fn put(&mut self, rev: Revision) {
        assert!(
            rev > self.modified,
            "put with an unexpected smaller revision {rev} (modified {})",
            self.modified
        );
        if self.generations.is_empty() {
            // Most keys live one life: an exact first allocation (a plain push would
            // reserve room for four generations of 48 bytes).
            self.generations.reserve_exact(1);
            self.generations.push(Generation::default());
        }
        let g = self.last_generation_mut();
        if g.revs.is_empty() {
            g.created = rev;
            // Likewise for the revisions: many keys are written once between compactions.
            // With a million keys written once, the two are about 190 MB less.
            g.revs.reserve_exact(1);
        }
        g.revs.push(rev);
        g.ver += 1;
        self.modified = rev;
    }

    /// Starts a key seen first, while rebuilding, at `modified` with version `ver` of a
    /// life created at `created` (its older revisions were compacted away).
    pub fn restore(&mut self, created: Revision, modified: Revision, ver: i64) {
        assert!(
            self.generations.is_empty(),
            "restore on a key index that has generations"
        );
        self.modified = modified;
        self.generations.push(Generation {
            ver,
            created,
            revs: vec![modified],
        });
    }

    /// Starts a key seen first, while rebuilding, as a tombstone at `rev`: its creation
    /// was compacted away, so `created` is unknown (zero), as in etcd.
    pub fn restore_tombstone(&mut self, rev: Revision) {
        self.restore(Revision::default(), rev, 1);
        self.generations.push(Generation::default());
    }

    /// Records a deletion at `rev`: appends the tombstone to the current generation and
    /// opens a new one. Returns `false`, changing nothing, if the key does not currently
    /// exist (etcd's `ErrRevisionNotFound`).
    pub fn tombstone(&mut self, rev: Revision) -> bool {
        if self.generations.last().is_none_or(Generation::is_empty) {
            return false;
        }
        self.put(rev);
        self.generations.push(Generation::default());
        true
    }

    /// The state of the key at `at_rev`, or `None` if it did not exist then.
    pub fn get(&self, at_rev: i64) -> Option<KeyRevision> {
        let g = &self.generations[self.find_generation(at_rev)?];
        let n = g.walk(|rev| rev.main > at_rev)?;
        let newer = i64::try_from(g.revs.len() - n - 1).unwrap_or(i64::MAX);
        Some(KeyRevision {
            modified: g.revs[n],
            created: g.created,
            version: g.ver - newer,
        })
    }

    /// The revisions at or after main revision `rev`, ascending; of several changes in one
    /// main revision, only the one with the largest sub revision (the others were never
    /// visible). For replaying history to watchers.
    pub fn since(&self, rev: i64) -> Vec<Revision> {
        let since = Revision::new(rev, 0);
        let mut gi = self.generations.len().saturating_sub(1);
        while gi > 0 {
            let g = &self.generations[gi];
            if !g.is_empty() && since > g.created {
                break;
            }
            gi -= 1;
        }
        let mut revs: Vec<Revision> = Vec::new();
        let mut last = 0;
        for g in &self.generations[gi..] {
            for &r in &g.revs {
                if since > r {
                    continue;
                }
                if r.main == last {
                    if let Some(slot) = revs.last_mut() {
                        *slot = r;
                    }
                    continue;
                }
                revs.push(r);
                last = r.main;
            }
        }
        revs
    }

    /// Compacts at `at_rev`: drops the revisions at or below it except, in the generation
    /// that is live at `at_rev` (or the first after it), the largest one, which is added
    /// to `available` (the records the backend keeps). Generations ending below `at_rev`
    /// are dropped; afterwards the key may be [`is_empty`](Self::is_empty).
    pub fn compact(&mut self, at_rev: i64, available: &mut HashSet<Revision>) {
        if self.generations.is_empty() {
            return;
        }
        let (gen_idx, rev_idx) = self.do_compact(at_rev, available);
        let g = &mut self.generations[gen_idx];
        if let Some(i) = rev_idx {
            g.revs.drain(..i);
        }
        self.generations.drain(..gen_idx);
    }

    /// Adds to `available` the revision [`compact`](Self::compact) would keep at
    /// `at_rev`, without changing anything; a tombstone is not kept here, unlike
    /// `compact`, to match etcd's hash of the kept history (`keyIndex.keep`).
    pub fn keep(&self, at_rev: i64, available: &mut HashSet<Revision>) {
        if self.is_empty() || self.generations.is_empty() {
            return;
        }
        let (gen_idx, rev_idx) = self.do_compact(at_rev, available);
        let g = &self.generations[gen_idx];
        let is_tombstone =
            |i: usize| i == g.revs.len() - 1 && gen_idx != self.generations.len() - 1;
        if let Some(i) = rev_idx.filter(|&i| is_tombstone(i)) {
            available.remove(&g.revs[i]);
        }
    }

    /// Finds the generation to compact in (the first that ends at or after `at_rev`, or
    /// the last) and the position of its largest revision at or below `at_rev`, which is
    /// added to `available`.
    fn do_compact(&self, at_rev: i64, available: &mut HashSet<Revision>) -> (usize, Option<usize>) {
        let mut gen_idx = 0;
        while gen_idx < self.generations.len() - 1 {
            let tomb = self.generations[gen_idx]
                .revs
                .last()
                .map_or(i64::MIN, |r| r.main);
            if tomb >= at_rev {
                break;
            }
            gen_idx += 1;
        }
        let rev_idx = self.generations[gen_idx].walk(|rev| {
            if rev.main <= at_rev {
                available.insert(rev);
                false
            } else {
                true
            }
        });
        (gen_idx, rev_idx)
    }

    /// Whether the key has no revisions left: one empty generation.
    pub fn is_empty(&self) -> bool {
        self.generations.len() == 1 && self.generations[0].is_empty()
    }

    /// The generation live at `rev`, or `None` if the key did not exist then (etcd's
    /// `findGeneration`).
    fn find_generation(&self, rev: i64) -> Option<usize> {
        let last = self.generations.len().checked_sub(1)?;
        for (i, g) in self.generations.iter().enumerate().rev() {
            let (Some(first), Some(tomb)) = (g.revs.first(), g.revs.last()) else {
                continue;
            };
            if i != last && tomb.main <= rev {
                return None;
            }
            if first.main <= rev {
                return Some(i);
            }
        }
        None
    }

    fn last_generation_mut(&mut self) -> &mut Generation {
        if self.generations.is_empty() {
            self.generations.push(Generation::default());
        }
        let last = self.generations.len() - 1;
        &mut self.generations[last]
    }
}

#[cfg(test)]
#[path = "key_index_tests.rs"]
mod tests;
