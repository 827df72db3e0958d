//! `Txn`: compares, branches, nesting, revisions, checks.

use super::*;

fn cmp(
    key: &str,
    end: &str,
    target: CompareTarget,
    result: CompareResult,
    operand: TargetUnion,
) -> Compare {
    Compare {
        result,
        target,
        key: key.into(),
        range_end: end.into(),
        target_union: Some(operand),
    }
}

fn version_is(key: &str, v: i64) -> Compare {
    cmp(
        key,
        "",
        CompareTarget::Version,
        CompareResult::Equal,
        TargetUnion::Version(v),
    )
}

fn op_put(key: &str, value: &str) -> RequestOp {
    Request::Put(PutRequest {
        key: key.into(),
        value: value.into(),
        ..Default::default()
    })
    .into()
}

fn op_get(key: &str) -> RequestOp {
    Request::Range(range_req(key, "")).into()
}

fn op_del(key: &str, end: &str) -> RequestOp {
    Request::DeleteRange(DeleteRangeRequest {
        key: key.into(),
        range_end: end.into(),
        prev_kv: false,
    })
    .into()
}

fn op_txn(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
    Request::Txn(TxnRequest {
        compare,
        success,
        failure,
    })
    .into()
}

fn run(
    s: &mut MvccStore<MemBackend>,
    compare: Vec<Compare>,
    success: Vec<RequestOp>,
    failure: Vec<RequestOp>,
) -> Result<Applied<TxnResponse>> {
    s.txn(
        &TxnRequest {
            compare,
            success,
            failure,
        },
        &no_leases,
    )
}

fn succeeds(s: &mut MvccStore<MemBackend>, c: Compare) -> bool {
    run(s, vec![c], vec![], vec![]).unwrap().response.succeeded
}

fn range_of(r: &ResponseOp) -> &RangeResponse {
    match &r.response {
        Some(Response::Range(r)) => r,
        other => panic!("expected a range response, got {other:?}"),
    }
}

fn txn_of(r: &ResponseOp) -> &TxnResponse {
    match &r.response {
        Some(Response::Txn(t)) => t,
        other => panic!("expected a txn response, got {other:?}"),
    }
}

#[test]
fn txn_without_compares_succeeds() {
    let mut s = store();
    assert!(
        run(&mut s, vec![], vec![], vec![])
            .unwrap()
            .response
            .succeeded
    );
}

#[test]
fn compare_results_equal_not_equal_greater_less() {
    let mut s = store();
    put(&mut s, "k", "v"); // version 1
    let c = |result, v| {
        cmp(
            "k",
            "",
            CompareTarget::Version,
            result,
            TargetUnion::Version(v),
        )
    };
    assert!(succeeds(&mut s, c(CompareResult::Equal, 1)));
    assert!(!succeeds(&mut s, c(CompareResult::Equal, 2)));
    assert!(succeeds(&mut s, c(CompareResult::NotEqual, 2)));
    assert!(succeeds(&mut s, c(CompareResult::Greater, 0)));
    assert!(!succeeds(&mut s, c(CompareResult::Greater, 1)));
    assert!(succeeds(&mut s, c(CompareResult::Less, 2)));
    assert!(!succeeds(&mut s, c(CompareResult::Less, 1)));
}

#[test]
fn compare_targets_create_mod_value_lease() {
    let mut s = store();
    put(&mut s, "other", "x");
    put_leased(&mut s, "k", "v", 9); // create 3
    put_leased(&mut s, "k", "w", 9); // mod 4
    let eq = CompareResult::Equal;
    assert!(succeeds(
        &mut s,
        cmp(
            "k",
            "",
            CompareTarget::Create,
            eq,
            TargetUnion::CreateRevision(3)
        )
    ));
    assert!(succeeds(
        &mut s,
        cmp("k", "", CompareTarget::Mod, eq, TargetUnion::ModRevision(4))
    ));
    assert!(succeeds(
        &mut s,
        cmp(
            "k",
            "",
            CompareTarget::Value,
            eq,
            TargetUnion::Value(b"w".to_vec())
        )
    ));
    assert!(succeeds(
        &mut s,
        cmp("k", "", CompareTarget::Lease, eq, TargetUnion::Lease(9))
    ));
    let greater = CompareResult::Greater;
    assert!(succeeds(
        &mut s,
        cmp(
            "k",
            "",
            CompareTarget::Value,
            greater,
            TargetUnion::Value(b"v".to_vec())
        )
    ));
}

#[test]
fn compare_on_a_missing_key_sees_zeros() {
    let mut s = store();
    assert!(succeeds(&mut s, version_is("nope", 0)));
    let c = cmp(
        "nope",
        "",
        CompareTarget::Create,
        CompareResult::Equal,
        TargetUnion::CreateRevision(0),
    );
    assert!(succeeds(&mut s, c));
}

#[test]
fn value_compare_on_a_missing_key_always_fails() {
    let mut s = store();
    let eq_empty = cmp(
        "nope",
        "",
        CompareTarget::Value,
        CompareResult::Equal,
        TargetUnion::Value(vec![]),
    );
    assert!(!succeeds(&mut s, eq_empty));
    let ne = cmp(
        "nope",
        "",
        CompareTarget::Value,
        CompareResult::NotEqual,
        TargetUnion::Value(b"x".to_vec()),
    );
    assert!(!succeeds(&mut s, ne));
}

#[test]
fn operand_of_another_target_counts_as_zero() {
    let mut s = store();
    put(&mut s, "k", "v");
    // Target VERSION with a MOD operand: compared against 0, as etcd does.
    let c = cmp(
        "k",
        "",
        CompareTarget::Version,
        CompareResult::Greater,
        TargetUnion::ModRevision(100),
    );
    assert!(succeeds(&mut s, c));
}

#[test]
fn all_compares_must_hold() {
    let mut s = store();
    put(&mut s, "k", "v");
    assert!(
        !run(
            &mut s,
            vec![version_is("k", 1), version_is("k", 2)],
            vec![],
            vec![]
        )
        .unwrap()
        .response
        .succeeded
    );
}

/// etcd's `TestV3TxnRangeCompare`: /a/2, /a/3, /a/4, /f/5 created at the revision in
/// their name.
#[test]
fn compare_over_a_range_must_hold_for_every_key() {
    let mut s = store();
    for k in ["/a/2", "/a/3", "/a/4", "/f/5"] {
        put(&mut s, k, "x");
    }
    let less = CompareResult::Less;
    let create = CompareTarget::Create;
    assert!(succeeds(
        &mut s,
        cmp("/a/", "\0", create, less, TargetUnion::CreateRevision(6))
    ));
    assert!(!succeeds(
        &mut s,
        cmp("/a/", "\0", create, less, TargetUnion::CreateRevision(5))
    ));
    assert!(succeeds(
        &mut s,
        cmp("/a/", "/a0", create, less, TargetUnion::CreateRevision(5))
    ));
    assert!(!succeeds(
        &mut s,
        cmp("/a/", "/a0", create, less, TargetUnion::CreateRevision(4))
    ));
    let value = cmp(
        "/b/",
        "/b0",
        CompareTarget::Value,
        CompareResult::Equal,
        TargetUnion::Value(b"x".to_vec()),
    );
    assert!(!succeeds(&mut s, value));
    let leased = cmp(
        "/a/",
        "/a0",
        CompareTarget::Lease,
        CompareResult::Greater,
        TargetUnion::Lease(0),
    );
    assert!(!succeeds(&mut s, leased));
    let unleased = cmp(
        "/a/",
        "/a0",
        CompareTarget::Lease,
        CompareResult::Equal,
        TargetUnion::Lease(0),
    );
    assert!(succeeds(&mut s, unleased));
}

#[test]
fn failed_compare_runs_the_failure_branch() {
    let mut s = store();
    let resp = run(
        &mut s,
        vec![version_is("k", 1)],
        vec![op_put("then", "1")],
        vec![op_put("else", "1")],
    )
    .unwrap()
    .response;
    assert!(!resp.succeeded);
    assert_eq!(keys_in(&s, "\0", "\0"), ["else"]);
}

#[test]
fn read_only_txn_keeps_the_revision() {
    let mut s = store();
    let rev = put(&mut s, "abc", "def");
    let resp = run(&mut s, vec![], vec![op_get("abc")], vec![])
        .unwrap()
        .response;
    assert_eq!(resp.revision, rev);
    assert_eq!(s.current_revision(), rev);
}

#[test]
fn txn_whose_writes_change_nothing_keeps_the_revision() {
    let mut s = store();
    let rev = put(&mut s, "abc", "def");
    let applied = run(&mut s, vec![], vec![op_del("def", "")], vec![]).unwrap();
    assert_eq!(applied.response.revision, rev);
    assert!(applied.events.is_empty());
}

#[test]
fn txn_that_writes_takes_one_revision_for_all_its_changes() {
    let mut s = store();
    let rev = put(&mut s, "abc", "def");
    let applied = run(
        &mut s,
        vec![],
        vec![op_put("a", "1"), op_put("b", "2"), op_del("abc", "")],
        vec![],
    )
    .unwrap();
    assert_eq!(applied.response.revision, rev + 1);
    assert_eq!(s.current_revision(), rev + 1);
    assert!(applied.events.iter().all(|e| e.kv.mod_revision == rev + 1));
    let subs: Vec<_> = s
        .index()
        .revisions_since(b"a", 0)
        .into_iter()
        .chain(s.index().revisions_since(b"b", 0))
        .collect();
    assert_eq!(subs, [Revision::new(rev + 1, 0), Revision::new(rev + 1, 1)]);
}

#[test]
fn responses_come_in_op_order_with_their_revisions() {
    let mut s = store();
    put(&mut s, "k", "v0"); // revision 2
    let ops = vec![
        op_get("k"),
        op_put("k", "v1"),
        op_get("k"),
        op_del("nope", ""),
    ];
    let resp = run(&mut s, vec![], ops, vec![]).unwrap().response;
    assert_eq!(resp.responses.len(), 4);
    let first = range_of(&resp.responses[0]);
    assert_eq!(
        (first.kvs[0].value.as_slice(), first.revision),
        (&b"v0"[..], 2)
    );
    assert!(matches!(&resp.responses[1].response, Some(Response::Put(p)) if p.revision == 3));
    let third = range_of(&resp.responses[2]);
    assert_eq!(
        (third.kvs[0].value.as_slice(), third.revision),
        (&b"v1"[..], 3)
    );
    assert!(
        matches!(&resp.responses[3].response, Some(Response::DeleteRange(d)) if d.revision == 3 && d.deleted == 0)
    );
}

#[test]
fn range_in_a_txn_sees_the_txns_earlier_writes() {
    let mut s = store();
    let resp = run(
        &mut s,
        vec![],
        vec![
            op_put("a", "1"),
            op_put("b", "2"),
            Request::Range(range_req("a", "z")).into(),
        ],
        vec![],
    )
    .unwrap()
    .response;
    let r = range_of(&resp.responses[2]);
    assert_eq!(
        (keys(&r.kvs), r.count),
        (vec!["a".to_string(), "b".to_string()], 2)
    );
}

#[test]
fn put_in_a_txn_returns_prev_kv() {
    let mut s = store();
    put(&mut s, "k", "old");
    let op = Request::Put(PutRequest {
        key: "k".into(),
        value: "new".into(),
        prev_kv: true,
        ..Default::default()
    });
    let resp = run(&mut s, vec![], vec![op.into()], vec![])
        .unwrap()
        .response;
    let Some(Response::Put(p)) = &resp.responses[0].response else {
        panic!("not a put response")
    };
    assert_eq!(
        p.prev_kv.as_ref().map(|kv| kv.value.as_slice()),
        Some(&b"old"[..])
    );
}

#[test]
fn nested_txns_follow_their_own_compares() {
    let mut s = store();
    // k is absent: version 0 holds, version 1 does not.
    let inner = op_txn(
        vec![version_is("k", 1)],
        vec![op_put("inner-then", "x")],
        vec![op_put("inner-else", "x")],
    );
    let resp = run(
        &mut s,
        vec![version_is("k", 0)],
        vec![inner, op_put("outer", "x")],
        vec![],
    )
    .unwrap()
    .response;
    assert!(resp.succeeded);
    let nested = txn_of(&resp.responses[0]);
    assert!(!nested.succeeded);
    assert_eq!(nested.responses.len(), 1);
    assert_eq!(nested.revision, 0, "etcd leaves nested txn headers empty");
    assert_eq!(keys_in(&s, "\0", "\0"), ["inner-else", "outer"]);
}

#[test]
fn deeply_nested_txns_follow_the_path_of_their_compares() {
    let mut s = store();
    let path = [
        true, false, false, true, true, false, true, false, true, true,
    ];
    let mut req = TxnRequest::default();
    for &taken in path.iter().rev() {
        let op = Request::Txn(std::mem::take(&mut req)).into();
        req = if taken {
            TxnRequest {
                compare: vec![version_is("k", 0)],
                success: vec![op],
                failure: vec![],
            }
        } else {
            TxnRequest {
                compare: vec![version_is("k", 1)],
                success: vec![],
                failure: vec![op],
            }
        };
    }
    let resp = s.txn(&req, &no_leases).unwrap().response;
    let mut cur = &resp;
    for (i, &taken) in path.iter().enumerate() {
        assert_eq!(cur.succeeded, taken, "level {i}");
        cur = txn_of(&cur.responses[0]);
    }
}

#[test]
fn nested_compares_are_evaluated_before_any_write_of_the_txn() {
    let mut s = store();
    // The outer put creates k, but the nested compare (k absent) was evaluated before.
    let inner = op_txn(
        vec![version_is("k", 0)],
        vec![op_put("seen-absent", "x")],
        vec![],
    );
    let resp = run(&mut s, vec![], vec![op_put("k", "v"), inner], vec![])
        .unwrap()
        .response;
    assert!(txn_of(&resp.responses[1]).succeeded);
}

#[test]
fn nested_txn_writes_share_the_outer_revision() {
    let mut s = store();
    let inner = op_txn(vec![], vec![op_put("b", "2")], vec![]);
    let applied = run(&mut s, vec![], vec![op_put("a", "1"), inner], vec![]).unwrap();
    assert_eq!(applied.response.revision, 2);
    assert_eq!(get(&s, "b").unwrap().mod_revision, 2);
    assert_eq!(applied.events.len(), 2);
}

#[test]
fn range_at_a_future_revision_fails_the_whole_txn_before_any_write() {
    let mut s = store();
    let future = Request::Range(RangeRequest {
        revision: 10,
        ..range_req("k", "")
    })
    .into();
    assert_eq!(
        run(&mut s, vec![], vec![op_put("a", "1"), future], vec![]),
        Err(Error::FutureRevision)
    );
    assert_eq!(s.current_revision(), 1);
    assert!(get(&s, "a").is_none());
}

#[test]
fn range_at_a_compacted_revision_fails_the_txn() {
    let mut s = store();
    put(&mut s, "k", "1");
    put(&mut s, "k", "2");
    s.compact(&CompactionRequest {
        revision: 3,
        physical: true,
    })
    .unwrap();
    let old = Request::Range(RangeRequest {
        revision: 2,
        ..range_req("k", "")
    })
    .into();
    assert_eq!(
        run(&mut s, vec![], vec![old], vec![]),
        Err(Error::Compacted)
    );
}

#[test]
fn put_with_an_unknown_lease_fails_the_txn() {
    let mut s = store();
    let op = Request::Put(PutRequest {
        key: "k".into(),
        lease: 5,
        ..Default::default()
    });
    assert_eq!(
        run(&mut s, vec![], vec![op_put("a", "1"), op.into()], vec![]),
        Err(Error::LeaseNotFound)
    );
    assert_eq!(s.current_revision(), 1);
}

#[test]
fn put_with_ignore_value_on_a_missing_key_fails_the_txn() {
    let mut s = store();
    let op = Request::Put(PutRequest {
        key: "k".into(),
        ignore_value: true,
        ..Default::default()
    });
    assert_eq!(
        run(&mut s, vec![], vec![op.into()], vec![]),
        Err(Error::KeyNotFound)
    );
}

#[test]
fn checks_of_a_nested_txn_on_the_branch_taken_apply() {
    let mut s = store();
    let bad = Request::Put(PutRequest {
        key: "k".into(),
        lease: 5,
        ..Default::default()
    });
    let inner = op_txn(vec![], vec![bad.into()], vec![]);
    assert_eq!(
        run(&mut s, vec![], vec![inner], vec![]),
        Err(Error::LeaseNotFound)
    );
}

#[test]
fn ops_of_the_branch_not_taken_are_not_checked() {
    let mut s = store();
    let bad = Request::Put(PutRequest {
        key: "k".into(),
        lease: 5,
        ..Default::default()
    });
    let resp = run(
        &mut s,
        vec![version_is("k", 1)],
        vec![bad.into()],
        vec![op_put("ok", "1")],
    )
    .unwrap();
    assert!(!resp.response.succeeded);
    assert!(get(&s, "ok").is_some());
}

#[test]
fn put_with_a_known_lease_in_a_txn_attaches_it() {
    let mut s = store();
    let op = Request::Put(PutRequest {
        key: "k".into(),
        lease: 5,
        ..Default::default()
    });
    let applied = s
        .txn(
            &TxnRequest {
                success: vec![op.into()],
                ..Default::default()
            },
            &all_leases,
        )
        .unwrap();
    assert_eq!(
        applied.lease_changes,
        [LeaseChange::Attach {
            lease: 5,
            key: b"k".to_vec()
        }]
    );
}

#[test]
fn empty_request_op_gets_an_empty_response() {
    let mut s = store();
    let resp = run(&mut s, vec![], vec![RequestOp::default()], vec![])
        .unwrap()
        .response;
    assert_eq!(resp.responses, [ResponseOp { response: None }]);
}
