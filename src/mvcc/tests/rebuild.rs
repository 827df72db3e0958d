//! Opening a store over an existing backend rebuilds the same state.

use super::*;

/// A history with overwrites, deletions, re-creations, a multi-key txn and leases.
fn busy_store() -> MvccStore<MemBackend> {
    let mut s = store();
    put(&mut s, "a", "1");
    put(&mut s, "b", "1");
    put(&mut s, "a", "2");
    s.delete_range(&DeleteRangeRequest {
        key: "b".into(),
        ..Default::default()
    })
    .unwrap();
    put_leased(&mut s, "c", "1", 7);
    let txn = TxnRequest {
        success: vec![
            Request::Put(PutRequest {
                key: "b".into(),
                value: "again".into(),
                ..Default::default()
            })
            .into(),
            Request::Put(PutRequest {
                key: "d".into(),
                value: "1".into(),
                ..Default::default()
            })
            .into(),
        ],
        ..Default::default()
    };
    s.txn(&txn, &no_leases).unwrap();
    put(&mut s, "a", "3");
    s.set_applied_index(AppliedIndex { index: 10, term: 3 });
    s.commit().unwrap();
    s
}

fn reopen(s: MvccStore<MemBackend>) -> MvccStore<MemBackend> {
    MvccStore::open(s.into_backend()).unwrap()
}

fn everything_at(s: &MvccStore<MemBackend>, revision: i64) -> Result<RangeResponse> {
    s.range(&RangeRequest {
        revision,
        ..range_req("\0", "\0")
    })
}

#[test]
fn rebuild_gives_the_same_index_revision_and_answers() {
    let before = busy_store();
    let answers: Vec<_> = (0..=before.current_revision() + 1)
        .map(|rev| everything_at(&before, rev))
        .collect();
    // Not the index structure itself: as in etcd, a rebuilt generation's `created` has
    // sub revision 0 (records only keep the main create revision).
    let histories: Vec<_> = ["a", "b", "c", "d"]
        .map(|k| before.index().revisions_since(k.as_bytes(), 0))
        .to_vec();
    let rev = before.current_revision();
    let after = reopen(before);
    assert_eq!(after.current_revision(), rev);
    let rebuilt: Vec<_> = ["a", "b", "c", "d"]
        .map(|k| after.index().revisions_since(k.as_bytes(), 0))
        .to_vec();
    assert_eq!(rebuilt, histories);
    for (i, want) in answers.into_iter().enumerate() {
        assert_eq!(
            everything_at(&after, i as i64),
            want,
            "read at revision {i}"
        );
    }
    assert_eq!(
        after.applied_index().unwrap(),
        AppliedIndex { index: 10, term: 3 }
    );
}

#[test]
fn rebuild_after_compaction_gives_the_same_answers_and_compaction() {
    let mut before = busy_store();
    before
        .compact(&CompactionRequest {
            revision: 5,
            physical: true,
        })
        .unwrap();
    before.commit().unwrap();
    let answers: Vec<_> = (0..=before.current_revision())
        .map(|rev| everything_at(&before, rev))
        .collect();
    let after = reopen(before);
    assert_eq!(after.compacted_revision(), 5);
    for (i, want) in answers.into_iter().enumerate() {
        assert_eq!(
            everything_at(&after, i as i64),
            want,
            "read at revision {i}"
        );
    }
}

#[test]
fn rebuilt_store_continues_versions_and_revisions() {
    let mut before = busy_store();
    before
        .compact(&CompactionRequest {
            revision: 8,
            physical: true,
        })
        .unwrap();
    before.commit().unwrap();
    let mut after = reopen(before);
    assert_eq!(put(&mut after, "a", "4"), 9);
    let kv = get(&after, "a").unwrap();
    assert_eq!((kv.create_revision, kv.version), (2, 4));
}

#[test]
fn rebuild_of_a_key_known_only_by_its_tombstone_reads_it_as_absent() {
    let mut s = store();
    put(&mut s, "k", "v"); // 2
    s.delete_range(&DeleteRangeRequest {
        key: "k".into(),
        ..Default::default()
    })
    .unwrap(); // 3
    s.compact(&CompactionRequest {
        revision: 3,
        physical: true,
    })
    .unwrap();
    s.commit().unwrap();
    let mut s = reopen(s);
    assert!(get(&s, "k").is_none());
    assert_eq!(s.current_revision(), 3);
    put(&mut s, "k", "again");
    let kv = get(&s, "k").unwrap();
    assert_eq!((kv.create_revision, kv.version), (4, 1));
}

#[test]
fn uncommitted_changes_are_lost_by_a_crash() {
    let mut s = busy_store();
    put(&mut s, "lost", "x");
    s.set_applied_index(AppliedIndex { index: 11, term: 3 });
    let s = reopen(s);
    assert!(get(&s, "lost").is_none());
    assert_eq!(s.applied_index().unwrap().index, 10);
}

#[test]
fn rebuild_reports_the_keys_attached_to_leases() {
    let mut s = busy_store();
    put_leased(&mut s, "e", "1", 8);
    put_leased(&mut s, "e", "2", 9);
    s.commit().unwrap();
    let mut s = reopen(s);
    assert_eq!(
        s.take_restored_lease_attachments(),
        [
            LeaseChange::Attach {
                lease: 7,
                key: b"c".to_vec()
            },
            LeaseChange::Attach {
                lease: 9,
                key: b"e".to_vec()
            }
        ]
    );
    assert!(s.take_restored_lease_attachments().is_empty());
}

#[test]
fn revision_never_falls_below_a_finished_compaction() {
    let mut b = MemBackend::new();
    let mut batch = WriteBatch::new();
    batch.put_record(
        RecordKey::put(Revision::new(2, 0)).to_bytes(),
        KeyValue {
            key: b"k".to_vec(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            ..Default::default()
        }
        .encode(),
    );
    batch.set_meta(
        meta::FINISHED_COMPACT_REV,
        Revision::new(9, 0).to_bytes().to_vec(),
    );
    b.commit(batch).unwrap();
    let s = MvccStore::open(b).unwrap();
    assert_eq!((s.current_revision(), s.compacted_revision()), (9, 9));
}

#[test]
fn open_finishes_a_compaction_that_was_scheduled_but_not_finished() {
    let mut s = store();
    put(&mut s, "k", "1");
    put(&mut s, "k", "2");
    put(&mut s, "k", "3");
    s.commit().unwrap();
    let mut b = s.into_backend();
    let mut batch = WriteBatch::new();
    batch.set_meta(
        meta::SCHEDULED_COMPACT_REV,
        Revision::new(3, 0).to_bytes().to_vec(),
    );
    b.commit(batch).unwrap();

    let s = MvccStore::open(b).unwrap();
    assert_eq!(s.compacted_revision(), 3);
    assert!(!s.has_uncommitted());
    assert_eq!(s.backend().record_count(), 2);
    assert_eq!(
        s.backend().get_meta(meta::FINISHED_COMPACT_REV).unwrap(),
        Some(Revision::new(3, 0).to_bytes().to_vec())
    );
}

#[test]
fn open_refuses_an_undecodable_record() {
    let mut b = MemBackend::new();
    let mut batch = WriteBatch::new();
    batch.put_record(
        RecordKey::put(Revision::new(2, 0)).to_bytes(),
        vec![0x0a, 0x05, b'k'],
    );
    b.commit(batch).unwrap();
    assert!(matches!(MvccStore::open(b), Err(Error::Corrupt(_))));
}

#[test]
fn open_refuses_a_malformed_record_key() {
    let mut b = MemBackend::new();
    let mut batch = WriteBatch::new();
    batch.put_record(
        b"0000000002-00000000".to_vec(),
        KeyValue {
            key: b"k".to_vec(),
            ..Default::default()
        }
        .encode(),
    );
    b.commit(batch).unwrap();
    assert!(matches!(MvccStore::open(b), Err(Error::Corrupt(_))));
}

#[test]
fn rebuild_reads_more_records_than_one_scan_chunk() {
    let mut s = store();
    let n = SCAN_CHUNK_RECORDS + 5;
    let mut w = s.write().unwrap();
    for i in 0..n {
        w.put(format!("k{i:06}").as_bytes(), vec![], 0).unwrap();
    }
    w.finish();
    put(&mut s, "k000000", "last");
    s.commit().unwrap();
    let s = reopen(s);
    assert_eq!(s.index().len(), n);
    assert_eq!(s.current_revision(), 3);
    assert_eq!(get(&s, "k000000").unwrap().version, 2);
}
