//! `DeleteRange`: counts, revisions, `prev_kv`, events, lease detachments.

use super::*;

fn del(key: &str, end: &str, prev_kv: bool) -> DeleteRangeRequest {
    DeleteRangeRequest {
        key: key.into(),
        range_end: end.into(),
        prev_kv,
    }
}

#[test]
fn delete_of_one_key_counts_one_and_takes_a_revision() {
    let mut s = store();
    put(&mut s, "k", "v");
    let resp = s.delete_range(&del("k", "", false)).unwrap().response;
    assert_eq!((resp.deleted, resp.revision), (1, 3));
    assert!(get(&s, "k").is_none());
    assert_eq!(s.current_revision(), 3);
}

#[test]
fn delete_of_nothing_keeps_the_revision() {
    let mut s = store();
    put(&mut s, "k", "v");
    let applied = s.delete_range(&del("nope", "", true)).unwrap();
    assert_eq!(
        (applied.response.deleted, applied.response.revision),
        (0, 2)
    );
    assert!(applied.response.prev_kvs.is_empty());
    assert!(applied.events.is_empty());
    assert_eq!(s.current_revision(), 2);
}

#[test]
fn delete_of_a_range_deletes_every_key_in_it_at_one_revision() {
    let mut s = store();
    for k in ["a", "b", "c", "d"] {
        put(&mut s, k, "v");
    }
    let applied = s.delete_range(&del("b", "d", false)).unwrap();
    assert_eq!(
        (applied.response.deleted, applied.response.revision),
        (2, 6)
    );
    assert_eq!(keys_in(&s, "a", "z"), ["a", "d"]);
    let revs: Vec<_> = applied.events.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(revs, [6, 6]);
}

#[test]
fn delete_from_key_with_nul_end_deletes_all_keys_after() {
    let mut s = store();
    for k in ["a", "b", "c"] {
        put(&mut s, k, "v");
    }
    assert_eq!(
        s.delete_range(&del("b", "\0", false))
            .unwrap()
            .response
            .deleted,
        2
    );
    assert_eq!(keys_in(&s, "\0", "\0"), ["a"]);
}

#[test]
fn delete_returns_the_deleted_key_values_when_asked() {
    let mut s = store();
    put(&mut s, "a", "1");
    put(&mut s, "b", "2");
    let resp = s.delete_range(&del("a", "z", true)).unwrap().response;
    assert_eq!(keys(&resp.prev_kvs), ["a", "b"]);
    assert_eq!(resp.prev_kvs[1].value, b"2");
}

#[test]
fn delete_event_has_only_key_and_revision_and_the_previous_key_value() {
    let mut s = store();
    put(&mut s, "k", "v");
    let applied = s.delete_range(&del("k", "", false)).unwrap();
    let ev = &applied.events[0];
    assert_eq!(ev.kind, EventType::Delete);
    assert_eq!(
        ev.kv,
        KeyValue {
            key: b"k".to_vec(),
            mod_revision: 3,
            ..Default::default()
        }
    );
    assert_eq!(
        ev.prev_kv.as_ref().map(|p| p.value.as_slice()),
        Some(&b"v"[..])
    );
}

#[test]
fn delete_of_a_leased_key_detaches_its_lease() {
    let mut s = store();
    put_leased(&mut s, "k", "v", 5);
    put(&mut s, "plain", "v");
    let applied = s.delete_range(&del("\0", "\0", false)).unwrap();
    assert_eq!(
        applied.lease_changes,
        [LeaseChange::Detach {
            lease: 5,
            key: b"k".to_vec()
        }]
    );
}

#[test]
fn a_deleted_key_cannot_be_deleted_again() {
    let mut s = store();
    put(&mut s, "k", "v");
    s.delete_range(&del("k", "", false)).unwrap();
    assert_eq!(
        s.delete_range(&del("k", "", false))
            .unwrap()
            .response
            .deleted,
        0
    );
    assert_eq!(s.current_revision(), 3);
}
