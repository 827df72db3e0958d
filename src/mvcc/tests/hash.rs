//! `hash_kv` equals etcd 3.4.23's HashKV for the same history, before and after
//! compactions. Every expected hash was captured from etcd 3.4.23 (`etcdctl endpoint
//! hashkv --rev N`) after the same requests; `tests/maintenance.rs` runs the same history
//! against a real member and against etcd itself.

use super::*;

/// The hash of an empty key bucket: nothing but the bucket's name.
const EMPTY: u32 = 1_084_519_789;

fn delete(s: &mut MvccStore<MemBackend>, key: &str, range_end: &str) {
    s.delete_range(&DeleteRangeRequest {
        key: key.into(),
        range_end: range_end.into(),
        ..Default::default()
    })
    .expect("delete");
}

fn compact_and_commit(s: &mut MvccStore<MemBackend>, revision: i64) {
    s.compact(&CompactionRequest {
        revision,
        physical: true,
    })
    .expect("compact");
    s.commit().expect("commit");
}

fn put_request(key: &str, value: &str) -> RequestOp {
    Request::Put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    })
    .into()
}

/// (hash, compacted revision) at `rev`, after committing what is staged.
fn hash_at(s: &mut MvccStore<MemBackend>, rev: i64) -> Result<(u32, i64)> {
    s.commit().expect("commit");
    s.hash_kv(rev).map(|(hash, _, compacted)| (hash, compacted))
}

/// a=1@2, a=2@3, compacted at 2.
fn overwritten_then_compacted() -> MvccStore<MemBackend> {
    let mut s = store();
    put(&mut s, "a", "1");
    put(&mut s, "a", "2");
    compact_and_commit(&mut s, 2);
    s
}

#[test]
fn a_store_never_compacted_hashes_everything_and_answers_compacted_minus_one() {
    let mut s = store();
    assert_eq!(s.hash_kv(0), Ok((EMPTY, 1, -1)));
    put(&mut s, "a", "1");
    put(&mut s, "a", "2");
    assert_eq!(hash_at(&mut s, 0), Ok((535_221_974, -1)));
    assert_eq!(hash_at(&mut s, 4), Err(Error::FutureRevision));
}

/// etcd's HashByRev leaves out, at or below the compacted revision, what a compaction
/// at the hashed revision would drop: a=1@2 is still stored but not hashed at 3.
#[test]
fn after_a_compaction_only_what_the_hashed_revision_keeps_is_hashed() {
    let mut s = overwritten_then_compacted();
    assert_eq!(hash_at(&mut s, 0), Ok((1_483_641_527, 2)));
    assert_eq!(hash_at(&mut s, 2), Err(Error::Compacted));
    put(&mut s, "b", "1"); // 4
    delete(&mut s, "a", ""); // 5
    assert_eq!(hash_at(&mut s, 3), Ok((1_483_641_527, 2)));
    assert_eq!(hash_at(&mut s, 4), Ok((1_514_356_665, 2)));
    assert_eq!(hash_at(&mut s, 5), Ok((3_170_289_113, 2)));
}

#[test]
fn compactions_at_tombstones_recreations_and_a_txn_hash_as_in_etcd() {
    let mut s = overwritten_then_compacted();
    put(&mut s, "b", "1"); // 4
    delete(&mut s, "a", ""); // 5
    compact_and_commit(&mut s, 5);
    assert_eq!(hash_at(&mut s, 0), Ok((3_584_256_279, 5)));
    put(&mut s, "a", "3"); // 6: recreated
    let txn = TxnRequest {
        success: vec![
            put_request("c", "1"),
            put_request("d", "1"),
            Request::DeleteRange(DeleteRangeRequest {
                key: "b".into(),
                ..Default::default()
            })
            .into(),
        ],
        ..Default::default()
    };
    s.txn(&txn, &no_leases).expect("txn"); // 7.0, 7.1, 7.2
    assert_eq!(hash_at(&mut s, 6), Ok((3_778_740_232, 5)));
    assert_eq!(hash_at(&mut s, 7), Ok((719_634_202, 5)));
    compact_and_commit(&mut s, 6);
    assert_eq!(hash_at(&mut s, 7), Ok((719_634_202, 6)));
    let mut s = MvccStore::open(s.into_backend()).expect("reopen");
    assert_eq!(hash_at(&mut s, 7), Ok((719_634_202, 6)), "after a rebuild");
}

/// etcd 3.4.23 deletes a tombstone at the compacted revision; this store keeps it (as
/// etcd does since 3.4.34 / 3.5.16) and, like those, leaves it out of the hash. It
/// shows when nothing is kept: etcd then hashes every stored record.
#[test]
fn a_tombstone_at_the_compacted_revision_is_not_hashed() {
    let mut s = overwritten_then_compacted();
    delete(&mut s, "", "\0"); // 4: everything
    compact_and_commit(&mut s, 4);
    assert_eq!(s.backend().record_count(), 1, "the tombstone is kept");
    assert_eq!(hash_at(&mut s, 0), Ok((EMPTY, 4)));
    let mut s = MvccStore::open(s.into_backend()).expect("reopen");
    assert_eq!(hash_at(&mut s, 0), Ok((EMPTY, 4)), "after a rebuild");
}
