//! `Compaction`: errors, what is kept, what is removed from the backend.

use super::*;

fn compact(s: &mut MvccStore<MemBackend>, revision: i64) -> Result<CompactionResponse> {
    s.compact(&CompactionRequest {
        revision,
        physical: false,
    })
}

fn read_at(s: &MvccStore<MemBackend>, key: &str, revision: i64) -> Result<RangeResponse> {
    s.range(&RangeRequest {
        revision,
        ..range_req(key, "")
    })
}

/// k=v1@2, k=v2@3, k=v3@4.
fn three_versions() -> MvccStore<MemBackend> {
    let mut s = store();
    for v in ["v1", "v2", "v3"] {
        put(&mut s, "k", v);
    }
    s
}

#[test]
fn reading_below_the_compaction_is_compacted() {
    let mut s = three_versions();
    compact(&mut s, 3).unwrap();
    assert_eq!(read_at(&s, "k", 2), Err(Error::Compacted));
}

#[test]
fn reading_at_the_compaction_revision_still_works() {
    let mut s = three_versions();
    compact(&mut s, 3).unwrap();
    assert_eq!(read_at(&s, "k", 3).unwrap().kvs[0].value, b"v2");
    assert_eq!(read_at(&s, "k", 0).unwrap().kvs[0].value, b"v3");
}

#[test]
fn compaction_answers_with_the_current_revision() {
    let mut s = three_versions();
    assert_eq!(compact(&mut s, 3).unwrap().revision, 4);
    assert_eq!(s.compacted_revision(), 3);
}

#[test]
fn compaction_at_a_future_revision_is_refused() {
    let mut s = three_versions();
    assert_eq!(compact(&mut s, 5), Err(Error::FutureRevision));
    assert_eq!(s.compacted_revision(), -1);
}

#[test]
fn compaction_at_or_below_the_last_one_is_compacted() {
    let mut s = three_versions();
    compact(&mut s, 3).unwrap();
    assert_eq!(compact(&mut s, 3), Err(Error::Compacted));
    assert_eq!(compact(&mut s, 2), Err(Error::Compacted));
    assert_eq!(compact(&mut s, 4).map(|r| r.revision), Ok(4));
}

#[test]
fn compaction_of_a_fresh_store_at_revision_one_works() {
    let mut s = store();
    assert_eq!(compact(&mut s, 1).map(|r| r.revision), Ok(1));
}

#[test]
fn compaction_removes_superseded_records_from_the_backend() {
    let mut s = three_versions();
    s.commit().unwrap();
    assert_eq!(s.backend().record_count(), 3);
    compact(&mut s, 3).unwrap();
    s.commit().unwrap();
    // v1@2 is gone; v2@3 (latest at 3) and v3@4 stay.
    assert_eq!(s.backend().record_count(), 2);
    assert!(
        s.backend()
            .get_record(&RecordKey::put(Revision::new(2, 0)).to_bytes())
            .unwrap()
            .is_none()
    );
}

#[test]
fn compaction_removes_keys_deleted_before_it_with_their_tombstones() {
    let mut s = store();
    put(&mut s, "gone", "x"); // 2
    s.delete_range(&DeleteRangeRequest {
        key: "gone".into(),
        ..Default::default()
    })
    .unwrap(); // 3
    put(&mut s, "kept", "y"); // 4
    compact(&mut s, 4).unwrap();
    s.commit().unwrap();
    assert!(s.index().key_index(b"gone").is_none());
    assert_eq!(s.backend().record_count(), 1);
}

#[test]
fn compaction_at_a_tombstone_keeps_it() {
    let mut s = store();
    put(&mut s, "k", "x"); // 2
    s.delete_range(&DeleteRangeRequest {
        key: "k".into(),
        ..Default::default()
    })
    .unwrap(); // 3
    compact(&mut s, 3).unwrap();
    s.commit().unwrap();
    assert!(s.index().key_index(b"k").is_some());
    assert_eq!(s.backend().record_count(), 1);
    assert!(get(&s, "k").is_none());
}

#[test]
fn compaction_of_uncommitted_writes_removes_them_too() {
    let mut s = three_versions();
    compact(&mut s, 4).unwrap();
    s.commit().unwrap();
    assert_eq!(s.backend().record_count(), 1);
}

#[test]
fn compaction_records_its_revision_in_meta() {
    let mut s = three_versions();
    compact(&mut s, 3).unwrap();
    s.commit().unwrap();
    let want = Some(Revision::new(3, 0).to_bytes().to_vec());
    assert_eq!(
        s.backend().get_meta(meta::SCHEDULED_COMPACT_REV).unwrap(),
        want
    );
    assert_eq!(
        s.backend().get_meta(meta::FINISHED_COMPACT_REV).unwrap(),
        want
    );
}

#[test]
fn versions_and_create_revision_survive_compaction() {
    let mut s = three_versions();
    compact(&mut s, 4).unwrap();
    let kv = get(&s, "k").unwrap();
    assert_eq!((kv.create_revision, kv.version), (2, 3));
    assert_eq!(put(&mut s, "k", "v4"), 5);
    assert_eq!(get(&s, "k").unwrap().version, 4);
}

#[test]
fn history_below_the_compaction_is_compacted() {
    let mut s = three_versions();
    compact(&mut s, 3).unwrap();
    assert_eq!(s.history(2, 10, 10), Err(Error::Compacted));
    assert_eq!(s.history(3, 10, 10).unwrap().len(), 2);
}

#[test]
fn compaction_spanning_several_scan_chunks_of_committed_and_staged_records() {
    let mut s = store();
    let n = SCAN_CHUNK_RECORDS + 10;
    for i in 0..n {
        put(&mut s, "k", &i.to_string());
        if i == n / 2 {
            s.commit().unwrap();
        }
    }
    let current = s.current_revision();
    compact(&mut s, current).unwrap();
    s.commit().unwrap();
    assert_eq!(s.backend().record_count(), 1);
    assert_eq!(get(&s, "k").unwrap().version, n as i64);
}
