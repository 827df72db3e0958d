//! `Range`: the cases of etcd's `TestV3RangeRequest`, and revision reads.

use super::*;

/// Puts each key with value "bar", in order; the n-th put is at revision n + 1.
fn store_with(keys: &[&str]) -> MvccStore<MemBackend> {
    let mut s = store();
    for k in keys {
        put(&mut s, k, "bar");
    }
    s
}

#[test]
fn fresh_store_is_at_revision_one() {
    let s = store();
    assert_eq!(s.current_revision(), 1);
    assert_eq!(s.compacted_revision(), -1);
    assert_eq!(s.range(&range_req("a", "\0")).unwrap().revision, 1);
}

#[test]
fn single_key_range_finds_the_key_or_nothing() {
    let s = store_with(&["foo", "bar"]);
    let resp = s.range(&range_req("foo", "")).unwrap();
    assert_eq!(
        (keys(&resp.kvs), resp.count, resp.more, resp.revision),
        (vec!["foo".into()], 1, false, 3)
    );
    let resp = s.range(&range_req("baz", "")).unwrap();
    assert_eq!((resp.kvs.len(), resp.count), (0, 0));
}

#[test]
fn range_is_half_open() {
    let s = store_with(&["a", "b", "c", "d", "e"]);
    assert_eq!(keys_in(&s, "a", "z"), ["a", "b", "c", "d", "e"]);
    assert_eq!(keys_in(&s, "b", "d"), ["b", "c"]);
    assert!(keys_in(&s, "f", "z").is_empty());
}

#[test]
fn empty_or_inverted_range_is_empty() {
    let s = store_with(&["a", "b", "c", "d", "e"]);
    assert!(keys_in(&s, "c", "c").is_empty());
    assert!(keys_in(&s, "d", "b").is_empty());
    assert_eq!(s.range(&range_req("d", "b")).unwrap().count, 0);
}

#[test]
fn nul_key_with_nul_end_is_every_key() {
    let s = store_with(&["a", "b", "c"]);
    assert_eq!(keys_in(&s, "\0", "\0"), ["a", "b", "c"]);
    assert_eq!(keys_in(&s, "b", "\0"), ["b", "c"]);
}

#[test]
fn prefix_range_end_selects_the_prefix() {
    let s = store_with(&["/a", "/a/1", "/a/2", "/b/1"]);
    assert_eq!(keys_in(&s, "/a/", "/a0"), ["/a/1", "/a/2"]);
}

#[test]
fn range_at_an_older_revision_sees_the_keys_of_then() {
    let s = store_with(&["a", "b", "c", "d", "e"]);
    let at = |rev| {
        let req = RangeRequest {
            revision: rev,
            ..range_req("a", "z")
        };
        let resp = s.range(&req).unwrap();
        (keys(&resp.kvs), resp.count, resp.revision)
    };
    assert_eq!(
        at(0),
        (
            vec!["a".into(), "b".into(), "c".into(), "d".into(), "e".into()],
            5,
            6
        )
    );
    assert_eq!(at(1), (vec![], 0, 6));
    assert_eq!(at(2), (vec!["a".into()], 1, 6));
    assert_eq!(at(3), (vec!["a".into(), "b".into()], 2, 6));
}

#[test]
fn range_at_an_older_revision_sees_the_old_value_and_version() {
    let mut s = store();
    put(&mut s, "k", "v1");
    put(&mut s, "k", "v2");
    let req = RangeRequest {
        revision: 2,
        ..range_req("k", "")
    };
    let kv = s.range(&req).unwrap().kvs.remove(0);
    assert_eq!(
        (kv.value.as_slice(), kv.version, kv.mod_revision),
        (&b"v1"[..], 1, 2)
    );
}

#[test]
fn negative_revision_reads_the_current_revision() {
    let s = store_with(&["a"]);
    let req = RangeRequest {
        revision: -5,
        ..range_req("a", "")
    };
    assert_eq!(keys(&s.range(&req).unwrap().kvs), ["a"]);
}

#[test]
fn range_at_a_future_revision_is_refused() {
    let s = store_with(&["a"]);
    let req = RangeRequest {
        revision: 3,
        ..range_req("a", "")
    };
    assert_eq!(s.range(&req), Err(Error::FutureRevision));
}

#[test]
fn limit_cuts_the_result_and_sets_more_but_count_is_the_total() {
    let s = store_with(&["a", "b", "c"]);
    let with = |limit| {
        let resp = s
            .range(&RangeRequest {
                limit,
                ..range_req("a", "z")
            })
            .unwrap();
        (keys(&resp.kvs).len(), resp.more, resp.count)
    };
    assert_eq!(with(1), (1, true, 3));
    assert_eq!(with(2), (2, true, 3));
    assert_eq!(with(3), (3, false, 3));
    assert_eq!(with(4), (3, false, 3));
    assert_eq!(with(-1), (3, false, 3));
}

fn sorted(
    s: &MvccStore<MemBackend>,
    limit: i64,
    order: SortOrder,
    target: SortTarget,
) -> (Vec<String>, bool, i64) {
    let req = RangeRequest {
        limit,
        sort_order: order,
        sort_target: target,
        ..range_req("a", "z")
    };
    let resp = s.range(&req).unwrap();
    (keys(&resp.kvs), resp.more, resp.count)
}

/// b@2, a@3, c@4, d@5, c again @6.
fn sort_store() -> MvccStore<MemBackend> {
    store_with(&["b", "a", "c", "d", "c"])
}

#[test]
fn sort_by_key_ascending_and_descending() {
    let s = sort_store();
    assert_eq!(
        sorted(&s, 1, SortOrder::Ascend, SortTarget::Key),
        (vec!["a".into()], true, 4)
    );
    assert_eq!(
        sorted(&s, 1, SortOrder::Descend, SortTarget::Key),
        (vec!["d".into()], true, 4)
    );
}

#[test]
fn sort_by_create_and_mod_revision() {
    let s = sort_store();
    assert_eq!(
        sorted(&s, 1, SortOrder::Ascend, SortTarget::Create),
        (vec!["b".into()], true, 4)
    );
    assert_eq!(
        sorted(&s, 1, SortOrder::Descend, SortTarget::Mod),
        (vec!["c".into()], true, 4)
    );
}

#[test]
fn sort_target_other_than_key_with_order_none_sorts_ascending() {
    let s = sort_store();
    let want: Vec<String> = ["b", "a", "c", "d"].map(String::from).to_vec();
    assert_eq!(
        sorted(&s, 10, SortOrder::None, SortTarget::Create),
        (want, false, 4)
    );
}

#[test]
fn sort_with_order_none_applies_the_limit_before_sorting_as_etcd_does() {
    // etcd reads limit+1 keys in key order ("a", "b") before sorting them by create
    // revision, so "b" (created first) comes first but "c" is never seen.
    let s = sort_store();
    assert_eq!(
        sorted(&s, 1, SortOrder::None, SortTarget::Create),
        (vec!["b".into()], true, 4)
    );
    let s = store_with(&["c", "b", "a"]);
    assert_eq!(
        sorted(&s, 1, SortOrder::None, SortTarget::Create),
        (vec!["b".into()], true, 3)
    );
    assert_eq!(
        sorted(&s, 1, SortOrder::Ascend, SortTarget::Create),
        (vec!["c".into()], true, 3)
    );
}

#[test]
fn sort_by_version_and_value_keeps_key_order_among_ties() {
    let mut s = store();
    for (k, v) in [("a", "2"), ("b", "1"), ("c", "1"), ("a", "3")] {
        put(&mut s, k, v);
    }
    assert_eq!(
        sorted(&s, 0, SortOrder::Ascend, SortTarget::Version).0,
        ["b", "c", "a"]
    );
    assert_eq!(
        sorted(&s, 0, SortOrder::Descend, SortTarget::Version).0,
        ["a", "b", "c"]
    );
    assert_eq!(
        sorted(&s, 0, SortOrder::Ascend, SortTarget::Value).0,
        ["b", "c", "a"]
    );
    assert_eq!(
        sorted(&s, 0, SortOrder::Descend, SortTarget::Value).0,
        ["a", "b", "c"]
    );
}

#[test]
fn sorting_an_empty_range_gives_nothing() {
    let s = sort_store();
    let req = RangeRequest {
        limit: 1,
        sort_order: SortOrder::Descend,
        sort_target: SortTarget::Create,
        ..range_req("z", "z")
    };
    let resp = s.range(&req).unwrap();
    assert_eq!((resp.kvs.len(), resp.more, resp.count), (0, false, 0));
}

fn filtered(s: &MvccStore<MemBackend>, f: impl Fn(&mut RangeRequest)) -> (Vec<String>, i64) {
    let mut req = range_req("\0", "\0");
    f(&mut req);
    let resp = s.range(&req).unwrap();
    (keys(&resp.kvs), resp.count)
}

#[test]
fn mod_revision_filters_keep_keys_modified_within_bounds() {
    let s = store_with(&["rev2", "rev3", "rev4", "rev5", "rev6"]);
    let names = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(
        filtered(&s, |r| r.min_mod_revision = 3),
        (names(&["rev3", "rev4", "rev5", "rev6"]), 5)
    );
    assert_eq!(
        filtered(&s, |r| r.max_mod_revision = 3),
        (names(&["rev2", "rev3"]), 5)
    );
    let both = |r: &mut RangeRequest| {
        r.min_mod_revision = 3;
        r.max_mod_revision = 5;
    };
    assert_eq!(filtered(&s, both), (names(&["rev3", "rev4", "rev5"]), 5));
    assert_eq!(filtered(&s, |r| r.max_mod_revision = 10).0.len(), 5);
}

#[test]
fn create_revision_filters_keep_keys_created_within_bounds() {
    let s = store_with(&["rev2", "rev3", "rev2", "rev2", "rev6", "rev3"]);
    let names = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(
        filtered(&s, |r| r.min_create_revision = 3),
        (names(&["rev3", "rev6"]), 3)
    );
    assert_eq!(
        filtered(&s, |r| r.max_create_revision = 3),
        (names(&["rev2", "rev3"]), 3)
    );
    let both = |r: &mut RangeRequest| {
        r.min_create_revision = 3;
        r.max_create_revision = 5;
    };
    assert_eq!(filtered(&s, both), (names(&["rev3"]), 3));
}

#[test]
fn filters_apply_before_the_limit_and_more_counts_filtered_keys() {
    let s = store_with(&["a", "b", "c", "d"]);
    let req = RangeRequest {
        limit: 1,
        min_mod_revision: 4,
        ..range_req("a", "z")
    };
    let resp = s.range(&req).unwrap();
    assert_eq!(
        (keys(&resp.kvs), resp.more, resp.count),
        (vec!["c".into()], true, 4)
    );
    let req = RangeRequest {
        limit: 2,
        min_mod_revision: 4,
        ..range_req("a", "z")
    };
    assert!(!s.range(&req).unwrap().more);
}

#[test]
fn keys_only_clears_values_and_keeps_the_rest() {
    let mut s = store();
    put_leased(&mut s, "k", "v", 7);
    let resp = s
        .range(&RangeRequest {
            keys_only: true,
            ..range_req("k", "")
        })
        .unwrap();
    let kv = &resp.kvs[0];
    assert!(kv.value.is_empty());
    assert_eq!(
        (
            kv.key.as_slice(),
            kv.create_revision,
            kv.mod_revision,
            kv.version,
            kv.lease
        ),
        (&b"k"[..], 2, 2, 1, 7)
    );
}

#[test]
fn keys_only_still_sorts_by_value() {
    let mut s = store();
    put(&mut s, "a", "2");
    put(&mut s, "b", "1");
    let req = RangeRequest {
        keys_only: true,
        sort_order: SortOrder::Ascend,
        sort_target: SortTarget::Value,
        ..range_req("a", "z")
    };
    assert_eq!(keys(&s.range(&req).unwrap().kvs), ["b", "a"]);
}

#[test]
fn count_only_returns_the_count_and_no_key_values() {
    let s = store_with(&["a", "b", "c"]);
    let resp = s
        .range(&RangeRequest {
            count_only: true,
            limit: 1,
            ..range_req("a", "z")
        })
        .unwrap();
    assert_eq!(
        (resp.kvs.len(), resp.count, resp.more, resp.revision),
        (0, 3, false, 4)
    );
}

#[test]
fn count_only_at_an_older_revision_counts_the_keys_of_then() {
    let s = store_with(&["a", "b", "c"]);
    let resp = s
        .range(&RangeRequest {
            count_only: true,
            revision: 3,
            ..range_req("a", "z")
        })
        .unwrap();
    assert_eq!(resp.count, 2);
}

#[test]
fn deleted_keys_are_not_in_ranges_after_their_deletion_but_are_before() {
    let mut s = store_with(&["a", "b"]);
    s.delete_range(&DeleteRangeRequest {
        key: "a".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(keys_in(&s, "a", "z"), ["b"]);
    let req = RangeRequest {
        revision: 3,
        ..range_req("a", "z")
    };
    assert_eq!(keys(&s.range(&req).unwrap().kvs), ["a", "b"]);
}

#[test]
fn unknown_sort_enum_values_are_invalid_sort_options() {
    assert_eq!(SortOrder::try_from(3), Err(Error::InvalidSortOption));
    assert_eq!(SortTarget::try_from(5), Err(Error::InvalidSortOption));
    assert_eq!(SortTarget::try_from(4), Ok(SortTarget::Value));
}
