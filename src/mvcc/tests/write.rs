//! The write transaction, staging and commit, the applied index, history, poisoning.

use super::*;

#[test]
fn changes_of_one_write_share_the_main_revision_with_rising_sub_revisions() {
    let mut s = store();
    let mut w = s.write().unwrap();
    assert_eq!(w.put(b"a", b"1".to_vec(), 0).unwrap(), 2);
    assert_eq!(w.put(b"b", b"2".to_vec(), 0).unwrap(), 2);
    assert_eq!(w.delete_range(KeyRange::Key(b"a")).unwrap(), (1, 2));
    w.finish();
    let revs = |key: &[u8]| -> Vec<Revision> {
        s.index()
            .key_index(key)
            .unwrap()
            .generations()
            .iter()
            .flat_map(|g| g.revs.clone())
            .collect()
    };
    assert_eq!(revs(b"a"), [Revision::new(2, 0), Revision::new(2, 2)]);
    assert_eq!(revs(b"b"), [Revision::new(2, 1)]);
}

#[test]
fn a_write_that_changes_nothing_takes_no_revision() {
    let mut s = store();
    let mut w = s.write().unwrap();
    assert_eq!(w.delete_range(KeyRange::From(b"")).unwrap(), (0, 1));
    assert!(w.finish().events.is_empty());
    assert_eq!(s.current_revision(), 1);
}

#[test]
fn reads_see_staged_writes_before_commit() {
    let mut s = store();
    put(&mut s, "k", "v");
    assert!(s.has_uncommitted());
    assert_eq!(s.backend().record_count(), 0);
    assert_eq!(get(&s, "k").unwrap().value, b"v");
}

#[test]
fn commit_writes_changes_and_applied_index_in_one_batch() {
    let mut s = store();
    put(&mut s, "a", "1");
    put(&mut s, "b", "2");
    s.set_applied_index(AppliedIndex { index: 7, term: 2 });
    s.commit().unwrap();
    assert_eq!(s.backend().commits(), 1);
    assert_eq!(s.backend().record_count(), 2);
    assert_eq!(
        s.backend().get_meta(meta::CONSISTENT_INDEX).unwrap(),
        Some(7u64.to_be_bytes().to_vec())
    );
    assert!(!s.has_uncommitted());
}

#[test]
fn commit_with_nothing_staged_writes_nothing() {
    let mut s = store();
    s.commit().unwrap();
    assert_eq!(s.backend().commits(), 0);
}

#[test]
fn applied_index_reads_back_staged_and_committed() {
    let mut s = store();
    assert_eq!(s.applied_index().unwrap(), AppliedIndex::default());
    s.set_applied_index(AppliedIndex { index: 3, term: 1 });
    assert_eq!(
        s.applied_index().unwrap(),
        AppliedIndex { index: 3, term: 1 }
    );
    s.commit().unwrap();
    let s = MvccStore::open(s.into_backend()).unwrap();
    assert_eq!(
        s.applied_index().unwrap(),
        AppliedIndex { index: 3, term: 1 }
    );
}

#[test]
fn other_meta_entries_commit_with_the_batch() {
    let mut s = store();
    s.set_meta(b"authRevision", vec![1, 2]);
    assert_eq!(s.meta(b"authRevision").unwrap(), Some(vec![1, 2]));
    s.commit().unwrap();
    assert_eq!(
        s.backend().get_meta(b"authRevision").unwrap(),
        Some(vec![1, 2])
    );
}

#[test]
fn history_lists_puts_and_deletes_in_revision_order() {
    let mut s = store();
    put(&mut s, "a", "1"); // 2
    s.commit().unwrap();
    put(&mut s, "b", "2"); // 3, staged
    s.delete_range(&DeleteRangeRequest {
        key: "a".into(),
        ..Default::default()
    })
    .unwrap(); // 4
    let evs = s.history(2, 5, 100).unwrap();
    let summary: Vec<_> = evs
        .iter()
        .map(|e| {
            (
                e.kind,
                keys(std::slice::from_ref(&e.kv))[0].clone(),
                e.kv.mod_revision,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (EventType::Put, "a".to_string(), 2),
            (EventType::Put, "b".to_string(), 3),
            (EventType::Delete, "a".to_string(), 4)
        ]
    );
    assert_eq!(s.history(3, 4, 100).unwrap().len(), 1);
    assert_eq!(s.history(2, 5, 2).unwrap().len(), 2);
}

/// A backend whose commits fail.
#[derive(Debug, Default)]
struct FailingBackend(MemBackend);

impl Backend for FailingBackend {
    fn get_record(&self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, BackendError> {
        self.0.get_record(key)
    }
    fn scan_records(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> std::result::Result<Vec<Record>, BackendError> {
        self.0.scan_records(start, end, limit)
    }
    fn get_meta(&self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, BackendError> {
        self.0.get_meta(key)
    }
    fn scan_meta(&self) -> std::result::Result<Vec<Record>, BackendError> {
        self.0.scan_meta()
    }
    fn commit(&mut self, _: WriteBatch) -> std::result::Result<(), BackendError> {
        Err(BackendError::new("disk on fire"))
    }
}

#[test]
fn a_failed_commit_stops_the_store() {
    let mut s = MvccStore::open(FailingBackend::default()).unwrap();
    let req = PutRequest {
        key: "k".into(),
        value: "v".into(),
        ..Default::default()
    };
    s.put(&req, &no_leases).unwrap();
    assert_eq!(
        s.commit(),
        Err(Error::Backend(BackendError::new("disk on fire")))
    );
    assert_eq!(s.put(&req, &no_leases), Err(Error::Poisoned));
    assert_eq!(s.range(&range_req("k", "")), Err(Error::Poisoned));
    assert_eq!(s.commit(), Err(Error::Poisoned));
}

#[test]
fn the_size_in_use_follows_writes_and_compaction_and_survives_a_reopen() {
    let mut s = store();
    assert_eq!(s.size_in_use(), 0);
    for i in 0..10 {
        put(&mut s, "k", &"v".repeat(100 + i));
    }
    s.commit().unwrap();
    let written = s.size_in_use();
    assert!(written > 1000, "ten values of 100+ bytes: {written}");
    let rev = s.current_revision();
    s.compact(&CompactionRequest {
        revision: rev,
        physical: true,
    })
    .unwrap();
    s.commit().unwrap();
    let compacted = s.size_in_use();
    assert!(
        compacted < written / 5,
        "one revision left: {compacted} of {written}"
    );
    let reopened = MvccStore::open(s.into_backend()).unwrap();
    assert_eq!(reopened.size_in_use(), compacted);
}
