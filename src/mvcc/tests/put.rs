//! `Put`: revisions, versions, leases, `prev_kv`, `ignore_value`, `ignore_lease`.

use super::*;

#[test]
fn first_put_gets_revision_two_and_version_one() {
    let mut s = store();
    assert_eq!(put(&mut s, "k", "v"), 2);
    let kv = get(&s, "k").unwrap();
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version, kv.value),
        (2, 2, 1, b"v".to_vec())
    );
    assert_eq!(s.current_revision(), 2);
}

#[test]
fn overwrite_keeps_create_revision_and_counts_versions() {
    let mut s = store();
    put(&mut s, "k", "v1");
    put(&mut s, "other", "x");
    put(&mut s, "k", "v2");
    let kv = get(&s, "k").unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 4, 2));
}

#[test]
fn put_after_delete_starts_a_new_life_at_version_one() {
    let mut s = store();
    put(&mut s, "k", "v1");
    s.delete_range(&DeleteRangeRequest {
        key: "k".into(),
        ..Default::default()
    })
    .unwrap();
    put(&mut s, "k", "v2");
    let kv = get(&s, "k").unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (4, 4, 1));
}

#[test]
fn put_records_the_lease() {
    let mut s = store();
    put_leased(&mut s, "k", "v", 42);
    assert_eq!(get(&s, "k").unwrap().lease, 42);
}

#[test]
fn put_with_an_unknown_lease_is_refused_and_changes_nothing() {
    let mut s = store();
    let req = PutRequest {
        key: "k".into(),
        value: "v".into(),
        lease: 42,
        ..Default::default()
    };
    assert_eq!(s.put(&req, &no_leases), Err(Error::LeaseNotFound));
    assert_eq!(s.current_revision(), 1);
    assert!(get(&s, "k").is_none());
}

#[test]
fn put_returns_prev_kv_when_asked() {
    let mut s = store();
    put(&mut s, "k", "v1");
    let req = PutRequest {
        key: "k".into(),
        value: "v2".into(),
        prev_kv: true,
        ..Default::default()
    };
    let resp = s.put(&req, &no_leases).unwrap().response;
    let prev = resp.prev_kv.unwrap();
    assert_eq!((prev.value.as_slice(), prev.mod_revision), (&b"v1"[..], 2));
    assert_eq!(resp.revision, 3);
}

#[test]
fn put_prev_kv_of_a_new_key_is_none() {
    let mut s = store();
    let req = PutRequest {
        key: "k".into(),
        value: "v".into(),
        prev_kv: true,
        ..Default::default()
    };
    assert_eq!(s.put(&req, &no_leases).unwrap().response.prev_kv, None);
}

#[test]
fn put_without_prev_kv_flag_returns_none() {
    let mut s = store();
    put(&mut s, "k", "v1");
    let req = PutRequest {
        key: "k".into(),
        value: "v2".into(),
        ..Default::default()
    };
    assert_eq!(s.put(&req, &no_leases).unwrap().response.prev_kv, None);
}

#[test]
fn ignore_value_keeps_the_value_and_changes_the_lease() {
    let mut s = store();
    put(&mut s, "k", "v1");
    let req = PutRequest {
        key: "k".into(),
        lease: 5,
        ignore_value: true,
        ..Default::default()
    };
    s.put(&req, &all_leases).unwrap();
    let kv = get(&s, "k").unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.lease, kv.version),
        (&b"v1"[..], 5, 2)
    );
}

#[test]
fn ignore_lease_keeps_the_lease_and_changes_the_value() {
    let mut s = store();
    put_leased(&mut s, "k", "v1", 5);
    let req = PutRequest {
        key: "k".into(),
        value: "v2".into(),
        ignore_lease: true,
        ..Default::default()
    };
    let applied = s.put(&req, &no_leases).unwrap();
    let kv = get(&s, "k").unwrap();
    assert_eq!((kv.value.as_slice(), kv.lease), (&b"v2"[..], 5));
    assert!(applied.lease_changes.is_empty());
}

#[test]
fn ignore_value_on_a_missing_key_is_key_not_found() {
    let mut s = store();
    let req = PutRequest {
        key: "k".into(),
        ignore_value: true,
        ..Default::default()
    };
    assert_eq!(s.put(&req, &no_leases), Err(Error::KeyNotFound));
    assert_eq!(s.current_revision(), 1);
}

#[test]
fn ignore_lease_on_a_deleted_key_is_key_not_found() {
    let mut s = store();
    put(&mut s, "k", "v");
    s.delete_range(&DeleteRangeRequest {
        key: "k".into(),
        ..Default::default()
    })
    .unwrap();
    let req = PutRequest {
        key: "k".into(),
        value: "v".into(),
        ignore_lease: true,
        ..Default::default()
    };
    assert_eq!(s.put(&req, &no_leases), Err(Error::KeyNotFound));
}

#[test]
fn unknown_lease_is_reported_before_a_missing_key() {
    let mut s = store();
    let req = PutRequest {
        key: "k".into(),
        lease: 9,
        ignore_value: true,
        ..Default::default()
    };
    assert_eq!(s.put(&req, &no_leases), Err(Error::LeaseNotFound));
}

#[test]
fn put_event_carries_the_new_and_previous_key_value() {
    let mut s = store();
    put(&mut s, "k", "v1");
    let req = PutRequest {
        key: "k".into(),
        value: "v2".into(),
        ..Default::default()
    };
    let applied = s.put(&req, &no_leases).unwrap();
    assert_eq!(applied.events.len(), 1);
    let ev = &applied.events[0];
    assert_eq!(ev.kind, EventType::Put);
    assert_eq!(
        (ev.kv.value.as_slice(), ev.kv.mod_revision, ev.kv.version),
        (&b"v2"[..], 3, 2)
    );
    assert_eq!(
        ev.prev_kv.as_ref().map(|p| p.value.as_slice()),
        Some(&b"v1"[..])
    );
}

#[test]
fn put_with_a_lease_attaches_it() {
    let mut s = store();
    let applied = put_leased(&mut s, "k", "v", 5);
    assert_eq!(
        applied.lease_changes,
        [LeaseChange::Attach {
            lease: 5,
            key: b"k".to_vec()
        }]
    );
}

#[test]
fn put_with_another_lease_detaches_the_old_and_attaches_the_new() {
    let mut s = store();
    put_leased(&mut s, "k", "v", 5);
    let applied = put_leased(&mut s, "k", "v", 6);
    assert_eq!(
        applied.lease_changes,
        [
            LeaseChange::Detach {
                lease: 5,
                key: b"k".to_vec()
            },
            LeaseChange::Attach {
                lease: 6,
                key: b"k".to_vec()
            }
        ]
    );
}

#[test]
fn put_without_lease_over_a_leased_key_detaches_it() {
    let mut s = store();
    put_leased(&mut s, "k", "v", 5);
    let req = PutRequest {
        key: "k".into(),
        value: "v".into(),
        ..Default::default()
    };
    let applied = s.put(&req, &no_leases).unwrap();
    assert_eq!(
        applied.lease_changes,
        [LeaseChange::Detach {
            lease: 5,
            key: b"k".to_vec()
        }]
    );
}

#[test]
fn put_with_the_same_lease_changes_no_attachment() {
    let mut s = store();
    put_leased(&mut s, "k", "v", 5);
    assert!(put_leased(&mut s, "k", "v2", 5).lease_changes.is_empty());
}
