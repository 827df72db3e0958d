//! Cases of etcd's `TestV3TxnDuplicateKeys` and `TestV3TxnTooManyOps`, and the single
//! request checks.

use super::*;
use crate::mvcc::rpc::Compare;

fn put(key: &str) -> RequestOp {
    Request::Put(PutRequest {
        key: key.into(),
        value: b"def".to_vec(),
        ..Default::default()
    })
    .into()
}

fn del(key: &str, end: &str) -> RequestOp {
    Request::DeleteRange(DeleteRangeRequest {
        key: key.into(),
        range_end: end.into(),
        prev_kv: false,
    })
    .into()
}

fn get(key: &str) -> RequestOp {
    Request::Range(RangeRequest {
        key: key.into(),
        ..Default::default()
    })
    .into()
}

fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
    Request::Txn(TxnRequest {
        compare: vec![],
        success,
        failure,
    })
    .into()
}

fn check(success: Vec<RequestOp>) -> Result<()> {
    TxnRequest {
        compare: vec![],
        success,
        failure: vec![],
    }
    .validate(DEFAULT_MAX_TXN_OPS)
}

#[test]
fn two_puts_of_one_key_are_duplicates() {
    assert_eq!(
        check(vec![put("abc"), put("abc")]),
        Err(Error::DuplicateKey)
    );
}

#[test]
fn put_and_delete_of_one_key_are_duplicates() {
    assert_eq!(
        check(vec![put("abc"), del("abc", "")]),
        Err(Error::DuplicateKey)
    );
}

#[test]
fn put_inside_a_deleted_range_is_a_duplicate() {
    assert_eq!(
        check(vec![put("abc"), del("a", "b")]),
        Err(Error::DuplicateKey)
    );
}

#[test]
fn put_then_nested_delete_of_it_is_a_duplicate() {
    assert_eq!(
        check(vec![put("abc"), txn(vec![del("a", "b")], vec![])]),
        Err(Error::DuplicateKey)
    );
}

#[test]
fn delete_then_nested_put_in_it_is_a_duplicate() {
    assert_eq!(
        check(vec![del("a", "b"), txn(vec![put("abc")], vec![])]),
        Err(Error::DuplicateKey)
    );
}

#[test]
fn the_same_key_put_in_two_nested_txns_is_a_duplicate() {
    let two_sided = txn(vec![put("abc")], vec![put("abc")]);
    assert_eq!(
        check(vec![two_sided.clone(), two_sided]),
        Err(Error::DuplicateKey)
    );
}

#[test]
fn both_branches_of_one_nested_txn_may_put_the_same_key() {
    let two_sided = txn(vec![put("abc")], vec![put("abc")]);
    assert_eq!(check(vec![del("abb", "abc"), two_sided]), Ok(()));
}

#[test]
fn overlapping_deletes_are_allowed() {
    let two_sided = txn(vec![del("a", "b")], vec![del("a", "b")]);
    assert_eq!(
        check(vec![txn(vec![del("a", "b")], vec![]), two_sided]),
        Ok(())
    );
    assert_eq!(
        check(vec![
            del("abc", ""),
            del("a", "b"),
            del("abc", ""),
            del("a", "b")
        ]),
        Ok(())
    );
}

#[test]
fn put_outside_a_deleted_range_is_allowed() {
    assert_eq!(check(vec![put("abc"), del("abb", "abc")]), Ok(()));
}

#[test]
fn delete_from_key_with_nul_end_conflicts_with_no_put_as_in_etcd() {
    // etcd reads range_end "\0" as the empty interval [key, "\0") here.
    assert_eq!(check(vec![put("abc"), del("a", "\0")]), Ok(()));
}

#[test]
fn duplicates_in_the_failure_branch_are_refused_too() {
    let req = TxnRequest {
        compare: vec![],
        success: vec![],
        failure: vec![put("k"), put("k")],
    };
    assert_eq!(req.validate(DEFAULT_MAX_TXN_OPS), Err(Error::DuplicateKey));
}

#[test]
fn more_ops_than_max_txn_ops_in_any_list_is_too_many() {
    let ops: Vec<_> = (0..4).map(|i| put(&format!("k{i}"))).collect();
    let compares: Vec<_> = (0..4)
        .map(|_| Compare {
            key: b"k".to_vec(),
            ..Default::default()
        })
        .collect();
    let success = TxnRequest {
        success: ops.clone(),
        ..Default::default()
    };
    let failure = TxnRequest {
        failure: ops,
        ..Default::default()
    };
    let compare = TxnRequest {
        compare: compares,
        ..Default::default()
    };
    for req in [success, failure, compare] {
        assert_eq!(req.validate(3), Err(Error::TooManyOps));
        assert_eq!(req.validate(4), Ok(()));
    }
}

#[test]
fn nested_txn_gets_what_is_left_of_max_txn_ops() {
    let nested = txn(vec![put("a"), put("b")], vec![]);
    let req = TxnRequest {
        success: vec![nested, put("c")],
        ..Default::default()
    };
    // Top level uses 2 of 3, leaving 1 for the nested txn, which has 2.
    assert_eq!(req.validate(3), Err(Error::TooManyOps));
    assert_eq!(req.validate(4), Ok(()));
}

#[test]
fn compare_with_empty_key_is_refused() {
    let req = TxnRequest {
        compare: vec![Compare::default()],
        ..Default::default()
    };
    assert_eq!(req.validate(DEFAULT_MAX_TXN_OPS), Err(Error::EmptyKey));
}

#[test]
fn empty_request_op_is_key_not_found() {
    assert_eq!(check(vec![RequestOp::default()]), Err(Error::KeyNotFound));
}

#[test]
fn ops_inside_a_txn_are_checked_like_single_requests() {
    assert_eq!(check(vec![get("")]), Err(Error::EmptyKey));
    assert_eq!(check(vec![put("")]), Err(Error::EmptyKey));
    assert_eq!(check(vec![del("", "")]), Err(Error::EmptyKey));
    assert_eq!(
        check(vec![txn(vec![], vec![get("")])]),
        Err(Error::EmptyKey)
    );
}

#[test]
fn requests_with_empty_key_are_refused() {
    assert_eq!(RangeRequest::default().validate(), Err(Error::EmptyKey));
    assert_eq!(PutRequest::default().validate(), Err(Error::EmptyKey));
    assert_eq!(
        DeleteRangeRequest::default().validate(),
        Err(Error::EmptyKey)
    );
}

#[test]
fn put_with_ignore_value_and_a_value_is_refused() {
    let req = PutRequest {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        ignore_value: true,
        ..Default::default()
    };
    assert_eq!(req.validate(), Err(Error::ValueProvided));
}

#[test]
fn put_with_ignore_lease_and_a_lease_is_refused() {
    let req = PutRequest {
        key: b"k".to_vec(),
        lease: 7,
        ignore_lease: true,
        ..Default::default()
    };
    assert_eq!(req.validate(), Err(Error::LeaseProvided));
}
