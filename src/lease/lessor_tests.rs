//! Unit tests of the Lessor, named after the behaviour each proves.

use super::*;
use crate::mvcc::{LeaseChange, LeaseLookup};

const SEC: u64 = 1000;

/// etcd's defaults: minimum TTL 2 s, retry after 7 s, checkpoints every 5 min.
fn lessor() -> Lessor {
    Lessor::new(LessorConfig::default())
}

/// A leader's lessor, promoted at time 0 with no extension.
fn leader() -> Lessor {
    let mut lessor = lessor();
    lessor.promote(0, 0);
    lessor
}

fn attach(lease: i64, key: &str) -> LeaseChange {
    LeaseChange::Attach {
        lease,
        key: key.as_bytes().to_vec(),
    }
}

fn detach(lease: i64, key: &str) -> LeaseChange {
    LeaseChange::Detach {
        lease,
        key: key.as_bytes().to_vec(),
    }
}

fn keys(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|k| k.as_bytes().to_vec()).collect()
}

// ---- applied operations ----

#[test]
fn grant_returns_the_lease_to_store_with_its_ttl() {
    let mut lessor = lessor();
    let lease = lessor.grant(7, 60, 0).expect("grant");
    assert_eq!(
        lease,
        Lease {
            id: 7,
            ttl_secs: 60,
            remaining_ttl_secs: 0
        }
    );
    assert_eq!(lessor.get(7), Some(lease));
    assert_eq!(lessor.keys(7).map(|k| k.len()), Some(0));
    assert_eq!(lessor.len(), 1);
}

#[test]
fn grant_raises_a_ttl_below_the_minimum_to_the_minimum() {
    let mut lessor = lessor();
    for (id, ttl) in [(1, 1), (2, 0), (3, -5)] {
        assert_eq!(lessor.grant(id, ttl, 0).map(|l| l.ttl_secs), Ok(2), "{ttl}");
    }
    assert_eq!(lessor.grant(4, 2, 0).map(|l| l.ttl_secs), Ok(2));
    assert_eq!(lessor.grant(5, 3, 0).map(|l| l.ttl_secs), Ok(3));
}

#[test]
fn no_lease_is_granted_less_than_one_second_whatever_the_minimum() {
    let mut lessor = Lessor::new(LessorConfig {
        min_ttl_secs: 0,
        ..LessorConfig::default()
    });
    assert_eq!(lessor.grant(1, 0, 0).map(|l| l.ttl_secs), Ok(1));
}

#[test]
fn grant_refuses_a_ttl_above_the_maximum_and_accepts_the_maximum() {
    let mut lessor = lessor();
    assert_eq!(
        lessor.grant(1, MAX_LEASE_TTL_SECS + 1, 0),
        Err(LeaseError::TtlTooLarge)
    );
    assert!(!lessor.contains(1));
    assert_eq!(
        lessor.grant(1, MAX_LEASE_TTL_SECS, 0).map(|l| l.ttl_secs),
        Ok(MAX_LEASE_TTL_SECS)
    );
}

#[test]
fn grant_of_a_granted_id_is_lease_exists_and_leaves_the_lease_alone() {
    let mut lessor = lessor();
    lessor.grant(9, 60, 0).expect("grant");
    lessor.attach(9, b"k".to_vec()).expect("attach");
    assert_eq!(lessor.grant(9, 10, 0), Err(LeaseError::LeaseExists));
    assert_eq!(lessor.get(9).map(|l| l.ttl_secs), Some(60));
    assert_eq!(lessor.keys(9).map(|k| k.len()), Some(1));
}

#[test]
fn grant_checks_id_zero_then_ttl_then_existence_as_etcd() {
    let mut lessor = lessor();
    assert_eq!(lessor.grant(0, 10, 0), Err(LeaseError::LeaseNotFound));
    assert_eq!(
        lessor.grant(0, MAX_LEASE_TTL_SECS + 1, 0),
        Err(LeaseError::LeaseNotFound)
    );
    lessor.grant(1, 10, 0).expect("grant");
    assert_eq!(
        lessor.grant(1, MAX_LEASE_TTL_SECS + 1, 0),
        Err(LeaseError::TtlTooLarge)
    );
}

#[test]
fn negative_ids_are_granted_as_etcd_accepts_them() {
    let mut lessor = lessor();
    assert_eq!(lessor.grant(-3, 10, 0).map(|l| l.id), Ok(-3));
    assert!(lessor.lease_exists(-3));
}

#[test]
fn revoke_returns_the_attached_keys_in_key_order_and_forgets_the_lease() {
    let mut lessor = lessor();
    lessor.grant(1, 10, 0).expect("grant");
    lessor.grant(2, 10, 0).expect("grant");
    let unknown = lessor.apply_lease_changes(&[
        attach(1, "zebra"),
        attach(1, "apple"),
        attach(2, "other"),
        attach(1, "mango"),
    ]);
    assert!(unknown.is_empty());
    assert_eq!(lessor.revoke(1), Ok(keys(&["apple", "mango", "zebra"])));
    assert!(!lessor.contains(1));
    assert_eq!(lessor.revoke(1), Err(LeaseError::LeaseNotFound));
    assert_eq!(lessor.revoke(2), Ok(keys(&["other"])));
    assert!(lessor.is_empty());
}

#[test]
fn revoke_of_an_unknown_lease_is_lease_not_found() {
    assert_eq!(lessor().revoke(42), Err(LeaseError::LeaseNotFound));
}

#[test]
fn lease_changes_move_a_key_between_leases() {
    let mut lessor = lessor();
    lessor.grant(1, 10, 0).expect("grant");
    lessor.grant(2, 10, 0).expect("grant");
    lessor.apply_lease_changes(&[attach(1, "k"), attach(1, "j")]);
    // A put of k with lease 2: mvcc reports a detach from 1 and an attach to 2.
    lessor.apply_lease_changes(&[detach(1, "k"), attach(2, "k")]);
    assert_eq!(lessor.revoke(1), Ok(keys(&["j"])));
    assert_eq!(lessor.revoke(2), Ok(keys(&["k"])));
}

#[test]
fn detaching_a_deleted_key_leaves_the_lease_without_it() {
    let mut lessor = lessor();
    lessor.grant(1, 10, 0).expect("grant");
    lessor.attach(1, b"k".to_vec()).expect("attach");
    lessor.detach(1, b"k").expect("detach");
    assert_eq!(lessor.revoke(1), Ok(vec![]));
}

#[test]
fn attach_to_an_unknown_lease_is_reported_and_detach_from_a_revoked_one_is_not() {
    let mut lessor = lessor();
    lessor.grant(1, 10, 0).expect("grant");
    lessor.attach(1, b"k".to_vec()).expect("attach");
    let keys_to_delete = lessor.revoke(1).expect("revoke");
    // Deleting the revoked lease's keys makes mvcc report detaches from lease 1.
    let detaches: Vec<_> = keys_to_delete
        .into_iter()
        .map(|key| LeaseChange::Detach { lease: 1, key })
        .collect();
    assert!(lessor.apply_lease_changes(&detaches).is_empty());
    assert_eq!(
        lessor.apply_lease_changes(&[attach(5, "x")]),
        vec![attach(5, "x")]
    );
    assert_eq!(
        lessor.attach(5, b"x".to_vec()),
        Err(LeaseError::LeaseNotFound)
    );
    assert_eq!(lessor.detach(5, b"x"), Err(LeaseError::LeaseNotFound));
}

#[test]
fn the_lessor_answers_mvccs_lease_lookup() {
    let mut lessor = lessor();
    lessor.grant(3, 10, 0).expect("grant");
    assert!(lessor.lease_exists(3));
    assert!(!lessor.lease_exists(4));
    lessor.revoke(3).expect("revoke");
    assert!(!lessor.lease_exists(3));
}

#[test]
fn checkpoint_records_the_remaining_ttl_to_store_and_ignores_unknown_leases() {
    let mut lessor = lessor();
    lessor.grant(1, 600, 0).expect("grant");
    assert_eq!(
        lessor.checkpoint(1, 250),
        Some(Lease {
            id: 1,
            ttl_secs: 600,
            remaining_ttl_secs: 250
        })
    );
    assert_eq!(lessor.get(1).map(|l| l.remaining_ttl_secs), Some(250));
    assert_eq!(lessor.checkpoint(2, 250), None);
}

// ---- leader operations: renew, time to live ----

#[test]
fn a_follower_neither_renews_nor_answers_time_to_live() {
    let mut lessor = lessor();
    lessor.grant(1, 10, 0).expect("grant");
    assert_eq!(lessor.renew(1, 0), Err(LeaseError::NotPrimary));
    assert_eq!(
        lessor.time_to_live(1, 0, false),
        Err(LeaseError::NotPrimary)
    );
    assert_eq!(lessor.renew(2, 0), Err(LeaseError::NotPrimary));
}

#[test]
fn renew_extends_the_deadline_to_the_full_ttl_from_now() {
    let mut lessor = leader();
    lessor.grant(1, 10, 0).expect("grant");
    assert_eq!(
        lessor.renew(1, 8 * SEC),
        Ok(Renewal {
            ttl_secs: 10,
            clear_checkpoint: false
        })
    );
    // Without the renewal the lease would have expired at 10 s; now at 18 s.
    assert!(lessor.expired(17_999, 100).is_empty());
    assert_eq!(
        lessor
            .time_to_live(1, 17 * SEC, false)
            .map(|t| t.remaining_ttl_secs),
        Ok(1)
    );
    assert_eq!(lessor.expired(18 * SEC, 100), vec![1]);
}

#[test]
fn renew_of_an_unknown_lease_is_lease_not_found() {
    assert_eq!(leader().renew(5, 0), Err(LeaseError::LeaseNotFound));
}

#[test]
fn renew_after_the_deadline_is_expired_and_does_not_revive_the_lease() {
    let mut lessor = leader();
    lessor.grant(1, 10, 0).expect("grant");
    assert_eq!(lessor.renew(1, 10 * SEC), Err(LeaseError::Expired));
    assert_eq!(lessor.expired(10 * SEC, 100), vec![1]);
    assert_eq!(lessor.renew(1, 11 * SEC), Err(LeaseError::Expired));
}

#[test]
fn renew_asks_to_clear_a_checkpointed_remaining_ttl() {
    let mut lessor = leader();
    lessor.grant(1, 600, 0).expect("grant");
    assert!(!lessor.renew(1, SEC).expect("renew").clear_checkpoint);
    lessor.checkpoint(1, 300);
    assert!(lessor.renew(1, 2 * SEC).expect("renew").clear_checkpoint);
    lessor.checkpoint(1, 0);
    assert!(!lessor.renew(1, 3 * SEC).expect("renew").clear_checkpoint);

    let mut off = Lessor::new(LessorConfig {
        checkpointing: false,
        ..LessorConfig::default()
    });
    off.promote(0, 0);
    off.grant(1, 600, 0).expect("grant");
    off.checkpoint(1, 300);
    assert!(!off.renew(1, SEC).expect("renew").clear_checkpoint);
}

#[test]
fn time_to_live_gives_granted_and_remaining_seconds_rounded_down_and_the_keys() {
    let mut lessor = leader();
    lessor.grant(1, 30, 1000).expect("grant");
    lessor.apply_lease_changes(&[attach(1, "b"), attach(1, "a")]);
    assert_eq!(
        lessor.time_to_live(1, 1000, true),
        Ok(TimeToLive {
            granted_ttl_secs: 30,
            remaining_ttl_secs: 30,
            keys: keys(&["a", "b"]),
        })
    );
    let later = lessor.time_to_live(1, 1001, false).expect("ttl");
    assert_eq!((later.remaining_ttl_secs, later.keys.len()), (29, 0));
    assert_eq!(
        lessor
            .time_to_live(1, 31_000, false)
            .map(|t| t.remaining_ttl_secs),
        Ok(0)
    );
    assert_eq!(
        lessor
            .time_to_live(1, 99_000, false)
            .map(|t| t.remaining_ttl_secs),
        Ok(0),
        "past the deadline, the remaining TTL stays 0"
    );
    assert_eq!(
        lessor.time_to_live(2, 0, true),
        Err(LeaseError::LeaseNotFound)
    );
}

#[test]
fn leases_lists_soonest_deadline_first_and_by_id_on_a_follower() {
    let mut lessor = leader();
    lessor.grant(3, 30, 0).expect("grant");
    lessor.grant(1, 60, 0).expect("grant");
    lessor.grant(2, 10, 0).expect("grant");
    assert_eq!(lessor.leases(), vec![2, 3, 1]);
    lessor.demote();
    assert_eq!(lessor.leases(), vec![1, 2, 3]);
}

// ---- expiry ----

#[test]
fn a_lease_expires_at_its_deadline_not_before() {
    let mut lessor = leader();
    lessor.grant(1, 10, 500).expect("grant");
    assert!(lessor.expired(10_499, 100).is_empty());
    assert_eq!(lessor.expired(10_500, 100), vec![1]);
}

#[test]
fn expired_leases_come_oldest_first_at_most_limit_per_call() {
    let mut lessor = leader();
    // Deadlines: lease 10 at 50 s, lease 20 at 20 s, lease 30 at 30 s, lease 40 at 40 s.
    lessor.grant(10, 50, 0).expect("grant");
    lessor.grant(20, 20, 0).expect("grant");
    lessor.grant(30, 30, 0).expect("grant");
    lessor.grant(40, 40, 0).expect("grant");
    assert_eq!(lessor.expired(60 * SEC, 2), vec![20, 30]);
    assert_eq!(lessor.expired(60 * SEC, 2), vec![40, 10]);
    assert!(lessor.expired(60 * SEC, 2).is_empty());
}

#[test]
fn an_expired_lease_is_handed_out_once_until_the_retry_interval() {
    let mut lessor = leader();
    lessor.grant(1, 10, 0).expect("grant");
    assert_eq!(lessor.expired(10 * SEC, 100), vec![1]);
    assert!(lessor.expired(10 * SEC + 500, 100).is_empty());
    assert!(lessor.expired(16_999, 100).is_empty());
    // Still granted 7 s later: the revoke was lost, hand it out again.
    assert_eq!(lessor.expired(17 * SEC, 100), vec![1]);
    lessor.revoke(1).expect("revoke");
    assert!(lessor.expired(60 * SEC, 100).is_empty());
}

#[test]
fn a_revoked_or_renewed_lease_is_not_handed_out() {
    let mut lessor = leader();
    lessor.grant(1, 10, 0).expect("grant");
    lessor.grant(2, 10, 0).expect("grant");
    lessor.revoke(1).expect("revoke");
    lessor.renew(2, 9 * SEC).expect("renew");
    assert!(lessor.expired(18_999, 100).is_empty());
    assert_eq!(lessor.expired(19 * SEC, 100), vec![2]);
}

#[test]
fn a_follower_never_expires_a_lease() {
    let mut lessor = lessor();
    lessor.grant(1, 10, 0).expect("grant");
    assert!(lessor.expired(u64::MAX / 2, 100).is_empty());
    assert!(lessor.checkpoints_due(u64::MAX / 2, 100).is_empty());
    assert_eq!(lessor.next_wakeup_ms(), None);
}

#[test]
fn next_wakeup_is_the_soonest_deadline_or_checkpoint() {
    let mut lessor = leader();
    assert_eq!(lessor.next_wakeup_ms(), None);
    lessor.grant(1, 20, 1000).expect("grant");
    assert_eq!(lessor.next_wakeup_ms(), Some(21_000));
    lessor.grant(2, 600, 1000).expect("grant");
    assert_eq!(lessor.next_wakeup_ms(), Some(21_000));
    lessor.revoke(1).expect("revoke");
    // Lease 2's first checkpoint, one interval after its grant.
    assert_eq!(lessor.next_wakeup_ms(), Some(301_000));
}

// ---- promotion and demotion ----

#[test]
fn promote_starts_every_lease_at_its_full_ttl_plus_extend() {
    let mut lessor = lessor();
    lessor.grant(1, 10, 0).expect("grant");
    lessor.promote(100 * SEC, SEC);
    assert_eq!(
        lessor
            .time_to_live(1, 100 * SEC, false)
            .map(|t| t.remaining_ttl_secs),
        Ok(11)
    );
    assert!(lessor.expired(110_999, 100).is_empty());
    assert_eq!(lessor.expired(111 * SEC, 100), vec![1]);
}

#[test]
fn promote_keeps_the_checkpointed_remaining_ttl() {
    // The old leader checkpointed 120 s left of a 600 s lease; the new leader starts
    // from there, not from 600 s.
    let mut lessor = lessor();
    lessor.grant(1, 600, 0).expect("grant");
    lessor.checkpoint(1, 120);
    lessor.promote(50 * SEC, SEC);
    assert_eq!(
        lessor.time_to_live(1, 50 * SEC, false),
        Ok(TimeToLive {
            granted_ttl_secs: 600,
            remaining_ttl_secs: 121,
            keys: vec![]
        })
    );
    assert_eq!(lessor.expired(171 * SEC, 100), vec![1]);
}

#[test]
fn a_renewal_after_promotion_restores_the_full_ttl() {
    let mut lessor = lessor();
    lessor.grant(1, 600, 0).expect("grant");
    lessor.checkpoint(1, 120);
    lessor.promote(0, 0);
    let renewal = lessor.renew(1, SEC).expect("renew");
    assert_eq!(renewal.ttl_secs, 600);
    assert!(renewal.clear_checkpoint);
    assert_eq!(
        lessor
            .time_to_live(1, SEC, false)
            .map(|t| t.remaining_ttl_secs),
        Ok(600)
    );
}

#[test]
fn demote_stops_expiry_until_the_next_promotion() {
    let mut lessor = leader();
    lessor.grant(1, 10, 0).expect("grant");
    lessor.demote();
    assert!(!lessor.is_primary());
    assert!(lessor.expired(60 * SEC, 100).is_empty());
    lessor.promote(60 * SEC, 0);
    assert!(lessor.expired(69_999, 100).is_empty());
    assert_eq!(lessor.expired(70 * SEC, 100), vec![1]);
}

#[test]
fn a_lease_granted_on_a_follower_gets_its_deadline_on_promotion() {
    let mut lessor = lessor();
    lessor.grant(1, 10, 0).expect("grant");
    lessor.promote(5 * SEC, 0);
    assert_eq!(lessor.expired(15 * SEC, 100), vec![1]);
}

#[test]
fn promote_spreads_piled_up_deadlines_as_etcd() {
    // A revoke rate of 4 per second: at most 3 leases should expire in one second.
    let mut lessor = Lessor::new(LessorConfig {
        revoke_rate_per_sec: 4,
        ..LessorConfig::default()
    });
    for id in 1..=8 {
        lessor.grant(id, 10, 0).expect("grant");
    }
    lessor.promote(0, 0);
    // etcd: the 4th lease of the window gets 4/3 s more, the 5th 5/3 s, and so on.
    let deadlines: Vec<u64> = (1..=8)
        .map(|id| {
            lessor
                .deadline_ms(id)
                .expect("a leader's lease has a deadline")
        })
        .collect();
    assert_eq!(
        deadlines,
        [
            10_000, 10_000, 10_000, 11_333, 11_666, 12_000, 12_333, 12_666
        ]
    );
    assert_eq!(lessor.expired(10 * SEC, 100), vec![1, 2, 3]);
    assert!(lessor.expired(11_332, 100).is_empty());
    assert_eq!(lessor.expired(11_333, 100), vec![4]);
}

#[test]
fn promote_leaves_deadlines_alone_below_the_revoke_rate() {
    let mut lessor = Lessor::new(LessorConfig {
        revoke_rate_per_sec: 9,
        ..LessorConfig::default()
    });
    for id in 1..=8 {
        lessor.grant(id, 10, 0).expect("grant");
    }
    lessor.promote(0, 0);
    assert_eq!(lessor.expired(10 * SEC, 100), (1..=8).collect::<Vec<_>>());
}

// ---- checkpoints ----

#[test]
fn a_long_lease_is_checkpointed_every_interval_with_its_remaining_ttl_rounded_up() {
    let mut lessor = leader();
    lessor.grant(1, 900, 0).expect("grant");
    assert!(lessor.checkpoints_due(299_999, 100).is_empty());
    assert_eq!(
        lessor.checkpoints_due(300 * SEC + 1, 100),
        vec![Checkpoint {
            id: 1,
            remaining_ttl_secs: 600
        }]
    );
    assert!(lessor.checkpoints_due(300 * SEC + 2, 100).is_empty());
    assert_eq!(
        lessor.checkpoints_due(600 * SEC + 1, 100),
        vec![Checkpoint {
            id: 1,
            remaining_ttl_secs: 300
        }]
    );
}

#[test]
fn a_lease_shorter_than_the_interval_is_not_checkpointed() {
    let mut lessor = leader();
    lessor.grant(1, 300, 0).expect("grant");
    lessor.grant(2, 60, 0).expect("grant");
    assert!(lessor.checkpoints_due(1_000 * SEC, 100).is_empty());
    assert_eq!(lessor.next_wakeup_ms(), Some(60 * SEC));
}

#[test]
fn a_lease_with_its_full_ttl_left_needs_no_checkpoint_but_stays_scheduled() {
    let mut lessor = leader();
    lessor.grant(1, 900, 0).expect("grant");
    lessor.renew(1, 300 * SEC).expect("renew");
    assert!(lessor.checkpoints_due(300 * SEC, 100).is_empty());
    assert_eq!(
        lessor.checkpoints_due(600 * SEC, 100),
        vec![Checkpoint {
            id: 1,
            remaining_ttl_secs: 600
        }]
    );
}

#[test]
fn checkpoints_come_in_batches_of_at_most_limit() {
    let mut lessor = leader();
    for id in 1..=5 {
        lessor.grant(id, 900, 0).expect("grant");
    }
    let first = lessor.checkpoints_due(400 * SEC, 3);
    let second = lessor.checkpoints_due(400 * SEC, 3);
    assert_eq!(
        (first.len(), second.len()),
        (3, 2),
        "{first:?} then {second:?}"
    );
}

#[test]
fn no_checkpoints_with_checkpointing_off_or_after_demotion() {
    let mut off = Lessor::new(LessorConfig {
        checkpointing: false,
        ..LessorConfig::default()
    });
    off.promote(0, 0);
    off.grant(1, 900, 0).expect("grant");
    assert!(off.checkpoints_due(400 * SEC, 100).is_empty());

    let mut lessor = leader();
    lessor.grant(1, 900, 0).expect("grant");
    lessor.demote();
    assert!(lessor.checkpoints_due(400 * SEC, 100).is_empty());
}

#[test]
fn an_expired_lease_is_not_checkpointed() {
    let mut lessor = Lessor::new(LessorConfig {
        checkpoint_interval_ms: 5 * SEC,
        ..LessorConfig::default()
    });
    lessor.promote(0, 0);
    lessor.grant(1, 10, 0).expect("grant");
    assert_eq!(lessor.checkpoints_due(5 * SEC, 10).len(), 1);
    assert!(lessor.checkpoints_due(10 * SEC, 10).is_empty());
    assert!(lessor.checkpoints_due(60 * SEC, 10).is_empty());
}

// ---- persistence ----

#[test]
fn restore_rebuilds_leases_and_keys_as_a_follower() {
    let mut before = leader();
    before.grant(1, 600, 0).expect("grant");
    before.grant(2, 10, 0).expect("grant");
    before.checkpoint(1, 200);
    before.apply_lease_changes(&[attach(1, "a"), attach(2, "b"), attach(1, "c")]);
    let stored: Vec<(Vec<u8>, Vec<u8>)> = before
        .records()
        .map(|l| (meta_key(l.id), encode_lease(&l)))
        .collect();

    let mut after = lessor();
    after.promote(0, 0);
    let leases = stored
        .iter()
        .map(|(k, v)| decode_lease_entry(k, v))
        .collect::<Result<Vec<_>, _>>()
        .expect("decode");
    // As MvccStore::take_restored_lease_attachments would report them, plus an orphan.
    let attachments = [
        attach(1, "a"),
        attach(1, "c"),
        attach(2, "b"),
        attach(3, "z"),
    ];
    let orphans = after.restore(leases, &attachments);
    assert_eq!(orphans, vec![attach(3, "z")]);
    assert!(!after.is_primary());
    assert_eq!(
        after.records().collect::<Vec<_>>(),
        before.records().collect::<Vec<_>>()
    );
    assert_eq!(after.keys(1), before.keys(1));
    assert_eq!(after.keys(2), before.keys(2));
    // The checkpointed remaining TTL survives the restart.
    after.promote(0, 0);
    assert_eq!(
        after
            .time_to_live(1, 0, false)
            .map(|t| t.remaining_ttl_secs),
        Ok(200)
    );
}

#[test]
fn restore_raises_stored_ttls_below_the_minimum() {
    let mut lessor = Lessor::new(LessorConfig {
        min_ttl_secs: 5,
        ..LessorConfig::default()
    });
    lessor.restore(
        [Lease {
            id: 1,
            ttl_secs: 2,
            remaining_ttl_secs: 0,
        }],
        &[],
    );
    assert_eq!(lessor.get(1).map(|l| l.ttl_secs), Some(5));
}

#[test]
fn restore_replaces_everything_held_before() {
    let mut lessor = leader();
    lessor.grant(1, 10, 0).expect("grant");
    lessor.restore(
        [Lease {
            id: 2,
            ttl_secs: 10,
            remaining_ttl_secs: 0,
        }],
        &[],
    );
    assert_eq!(lessor.leases(), vec![2]);
    assert_eq!(lessor.next_wakeup_ms(), None);
}

#[test]
fn applied_operations_leave_leader_and_follower_in_the_same_replicated_state() {
    let mut leader = leader();
    let mut follower = lessor();
    // The same committed entries, applied at different local times.
    for (lessor, clock) in [(&mut leader, 5 * SEC), (&mut follower, 900 * SEC)] {
        lessor.grant(1, 600, clock).expect("grant");
        lessor.grant(2, 1, clock).expect("grant");
        lessor.apply_lease_changes(&[attach(1, "a"), attach(2, "b"), detach(1, "a")]);
        lessor.checkpoint(1, 480);
        lessor.revoke(2).expect("revoke");
    }
    assert_eq!(
        leader.records().collect::<Vec<_>>(),
        follower.records().collect::<Vec<_>>()
    );
    assert_eq!(leader.keys(1), follower.keys(1));
    assert_eq!(leader.deadline_ms(1), Some(605 * SEC));
    assert_eq!(follower.deadline_ms(1), None);
}
