//! Tests of the fjall MVCC backend: the backend contract directly, then the MVCC store on
//! top of it across a reopen.

use super::*;
use crate::mvcc::{
    AppliedIndex, CompactionRequest, DeleteRangeRequest, MvccStore, PutRequest, RangeRequest, meta,
};
use crate::storage::MemberStore;
use crate::storage::test_dir::TestDir;

fn backend(dir: &TestDir) -> FjallBackend {
    MemberStore::open(dir.path())
        .expect("open member store")
        .mvcc_backend()
}

fn keys(records: Vec<Record>) -> Vec<Vec<u8>> {
    records.into_iter().map(|(k, _)| k).collect()
}

#[test]
fn commit_applies_ops_in_order_and_later_ones_win() {
    let dir = TestDir::new("backend-order");
    let mut b = backend(&dir);
    let mut batch = WriteBatch::new();
    batch.put_record(b"a".to_vec(), b"1".to_vec());
    batch.put_record(b"b".to_vec(), b"2".to_vec());
    batch.delete_record(b"a".to_vec());
    batch.set_meta(meta::TERM, vec![1]);
    batch.set_meta(meta::TERM, vec![2]);
    batch.put_record(b"c".to_vec(), b"gone".to_vec());
    batch.delete_record(b"c".to_vec());
    batch.put_record(b"c".to_vec(), b"back".to_vec());
    b.commit(batch).unwrap();
    assert_eq!(b.get_record(b"a").unwrap(), None);
    assert_eq!(b.get_record(b"b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(b.get_record(b"c").unwrap(), Some(b"back".to_vec()));
    assert_eq!(b.get_meta(meta::TERM).unwrap(), Some(vec![2]));
    // Records and meta are separate key spaces.
    assert_eq!(b.get_meta(b"b").unwrap(), None);
    assert_eq!(b.get_record(meta::TERM).unwrap(), None);
}

#[test]
fn scan_is_half_open_ordered_and_limited() {
    let dir = TestDir::new("backend-scan");
    let mut b = backend(&dir);
    let mut batch = WriteBatch::new();
    for k in [b"d", b"b", b"a", b"c"] {
        batch.put_record(k.to_vec(), k.to_vec());
    }
    b.commit(batch).unwrap();
    assert_eq!(
        keys(b.scan_records(b"b", Some(b"d"), 10).unwrap()),
        [b"b".to_vec(), b"c".to_vec()]
    );
    assert_eq!(
        keys(b.scan_records(b"a", None, 2).unwrap()),
        [b"a".to_vec(), b"b".to_vec()]
    );
    assert!(b.scan_records(b"c", Some(b"a"), 10).unwrap().is_empty());
    assert!(b.scan_records(b"c", Some(b"c"), 10).unwrap().is_empty());
    assert_eq!(b.scan_records(b"a", None, 0).unwrap(), Vec::new());
}

#[test]
fn committed_batches_survive_a_reopen_and_sync_works() {
    let dir = TestDir::new("backend-reopen");
    {
        let mut b = backend(&dir);
        let mut batch = WriteBatch::new();
        batch.put_record(b"k".to_vec(), b"v".to_vec());
        batch.set_meta(meta::CONSISTENT_INDEX, 7u64.to_be_bytes().to_vec());
        b.commit(batch).unwrap();
        b.sync().unwrap();
        assert!(b.disk_size() > 0);
    }
    let b = backend(&dir);
    assert_eq!(b.get_record(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(
        b.get_meta(meta::CONSISTENT_INDEX).unwrap(),
        Some(7u64.to_be_bytes().to_vec())
    );
}

fn put(s: &mut MvccStore<FjallBackend>, key: &str, value: &str) -> i64 {
    let req = PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    };
    s.put(&req, &|_: i64| false).expect("put").response.revision
}

fn values_at(s: &MvccStore<FjallBackend>, revision: i64) -> Vec<(String, String)> {
    let response = s
        .range(&RangeRequest {
            key: b"\0".to_vec(),
            range_end: b"\0".to_vec(),
            revision,
            ..Default::default()
        })
        .expect("range");
    response
        .kvs
        .into_iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_mvcc_store_reopens_with_its_revisions_compaction_and_applied_index() {
    let dir = TestDir::new("backend-mvcc");
    {
        let store = MemberStore::open(dir.path()).unwrap();
        let mut s = MvccStore::open(store.mvcc_backend()).unwrap();
        put(&mut s, "a", "1"); // 2
        put(&mut s, "b", "1"); // 3
        put(&mut s, "a", "2"); // 4
        s.delete_range(&DeleteRangeRequest {
            key: "b".into(),
            ..Default::default()
        })
        .unwrap(); // 5
        put(&mut s, "c", "1"); // 6
        s.compact(&CompactionRequest {
            revision: 4,
            physical: true,
        })
        .unwrap();
        s.set_applied_index(AppliedIndex { index: 12, term: 3 });
        s.commit().unwrap();
        // Staged but never committed: lost, as in a crash before the batch.
        put(&mut s, "lost", "x");
        s.set_applied_index(AppliedIndex { index: 13, term: 3 });
    }
    let store = MemberStore::open(dir.path()).unwrap();
    let s = MvccStore::open(store.mvcc_backend()).unwrap();
    assert_eq!(s.current_revision(), 6);
    assert_eq!(s.compacted_revision(), 4);
    assert_eq!(
        s.applied_index().unwrap(),
        AppliedIndex { index: 12, term: 3 }
    );
    assert_eq!(values_at(&s, 0), pairs(&[("a", "2"), ("c", "1")]));
    assert_eq!(values_at(&s, 4), pairs(&[("a", "2"), ("b", "1")]));
    assert_eq!(values_at(&s, 5), pairs(&[("a", "2")]));
    assert!(
        s.range(&RangeRequest {
            key: b"a".to_vec(),
            revision: 3,
            ..Default::default()
        })
        .is_err(),
        "a read below the compaction must fail after a reopen"
    );
}

#[test]
fn a_view_is_a_snapshot_of_what_was_committed_when_it_opened() {
    let dir = TestDir::new("backend-view");
    let mut b = backend(&dir);
    let mut batch = WriteBatch::new();
    batch.put_record(b"a".to_vec(), b"1".to_vec());
    batch.put_record(b"b".to_vec(), b"2".to_vec());
    batch.set_meta(meta::TERM, vec![1]);
    b.commit(batch).unwrap();
    let view = b.view().unwrap();
    let mut batch = WriteBatch::new();
    batch.put_record(b"c".to_vec(), b"3".to_vec());
    batch.delete_record(b"a".to_vec());
    batch.set_meta(meta::TERM, vec![2]);
    b.commit(batch).unwrap();
    // Read from another thread, as the snapshot stream does.
    let (records, after_a, metas) = std::thread::spawn(move || {
        (
            view.scan_records(b"", 10).unwrap(),
            view.scan_records(b"a\0", 1).unwrap(),
            view.scan_meta().unwrap(),
        )
    })
    .join()
    .unwrap();
    assert_eq!(keys(records), [b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(keys(after_a), [b"b".to_vec()]);
    assert_eq!(metas, vec![(meta::TERM.to_vec(), vec![1])]);
    assert_eq!(b.get_record(b"c").unwrap(), Some(b"3".to_vec()));
}
