//! The cases of etcd's `key_index_test.go`, on the same example key.

use super::*;

fn r(main: i64) -> Revision {
    Revision::new(main, 0)
}

fn rs(main: i64, sub: i64) -> Revision {
    Revision::new(main, sub)
}

fn generation(created: i64, ver: i64, revs: &[Revision]) -> Generation {
    Generation {
        ver,
        created: r(created),
        revs: revs.to_vec(),
    }
}

/// The example of etcd's tests:
///
/// ```text
/// {empty}
/// {14.0, 15.1, 16.0(t)}
/// {8.0, 10.0, 12.0(t)}
/// {2.0, 4.0, 6.0(t)}
/// ```
fn example() -> KeyIndex {
    let mut ki = KeyIndex::default();
    ki.put(r(2));
    ki.put(r(4));
    assert!(ki.tombstone(r(6)));
    ki.put(r(8));
    ki.put(r(10));
    assert!(ki.tombstone(r(12)));
    ki.put(r(14));
    ki.put(rs(15, 1));
    assert!(ki.tombstone(r(16)));
    ki
}

#[test]
fn get_finds_the_latest_revision_of_the_generation_live_at_the_revision() {
    let mut ki = example();
    ki.compact(4, &mut HashSet::new());
    let found = |m: i64, c: i64, v: i64| {
        Some(KeyRevision {
            modified: r(m),
            created: r(c),
            version: v,
        })
    };
    let cases: &[(i64, Option<KeyRevision>)] = &[
        (17, None),
        (16, None),
        (
            15,
            Some(KeyRevision {
                modified: rs(15, 1),
                created: r(14),
                version: 2,
            }),
        ),
        (14, found(14, 14, 1)),
        (13, None),
        (12, None),
        (11, found(10, 8, 2)),
        (10, found(10, 8, 2)),
        (9, found(8, 8, 1)),
        (8, found(8, 8, 1)),
        (7, None),
        (6, None),
        (5, found(4, 2, 2)),
        (4, found(4, 2, 2)),
        (3, None),
        (2, None),
        (1, None),
        (0, None),
    ];
    for &(at, want) in cases {
        assert_eq!(ki.get(at), want, "get({at})");
    }
}

#[test]
fn since_returns_revisions_from_the_generation_live_at_the_revision() {
    let mut ki = example();
    ki.compact(4, &mut HashSet::new());
    let all = [r(4), r(6), r(8), r(10), r(12), r(14), rs(15, 1), r(16)];
    let cases: &[(i64, &[Revision])] = &[
        (17, &[]),
        (16, &all[7..]),
        (15, &all[6..]),
        (14, &all[5..]),
        (13, &all[5..]),
        (12, &all[4..]),
        (11, &all[4..]),
        (10, &all[3..]),
        (9, &all[3..]),
        (8, &all[2..]),
        (7, &all[2..]),
        (6, &all[1..]),
        (5, &all[1..]),
        (4, &all),
        (3, &all),
        (0, &all),
    ];
    for &(at, want) in cases {
        assert_eq!(ki.since(at), want, "since({at})");
    }
}

#[test]
fn since_keeps_only_the_largest_sub_revision_of_a_main_revision() {
    let mut ki = KeyIndex::default();
    ki.put(rs(5, 0));
    ki.put(rs(5, 3));
    ki.put(r(6));
    assert_eq!(ki.since(0), vec![rs(5, 3), r(6)]);
}

#[test]
fn put_creates_a_generation_and_counts_versions() {
    let mut ki = KeyIndex::default();
    ki.put(r(5));
    assert_eq!(ki.generations(), &[generation(5, 1, &[r(5)])]);
    assert_eq!(ki.modified(), r(5));
    ki.put(r(7));
    assert_eq!(ki.generations(), &[generation(5, 2, &[r(5), r(7)])]);
    assert_eq!(ki.modified(), r(7));
}

#[test]
#[should_panic(expected = "smaller revision")]
fn put_at_an_older_revision_panics() {
    let mut ki = KeyIndex::default();
    ki.put(r(5));
    ki.put(r(4));
}

#[test]
fn restore_starts_a_generation_at_the_given_version() {
    let mut ki = KeyIndex::default();
    ki.restore(r(5), r(7), 2);
    assert_eq!(ki.generations(), &[generation(5, 2, &[r(7)])]);
    assert_eq!(ki.modified(), r(7));
}

#[test]
fn tombstone_ends_the_generation_and_opens_an_empty_one() {
    let mut ki = KeyIndex::default();
    ki.put(r(5));
    assert!(ki.tombstone(r(7)));
    assert_eq!(
        ki.generations(),
        &[generation(5, 2, &[r(5), r(7)]), Generation::default()]
    );
    ki.put(r(8));
    ki.put(r(9));
    assert!(ki.tombstone(r(15)));
    assert_eq!(
        ki.generations(),
        &[
            generation(5, 2, &[r(5), r(7)]),
            generation(8, 3, &[r(8), r(9), r(15)]),
            Generation::default()
        ]
    );
    assert_eq!(ki.modified(), r(15));
}

#[test]
fn tombstone_of_a_deleted_key_is_refused() {
    let mut ki = KeyIndex::default();
    ki.put(r(5));
    assert!(ki.tombstone(r(7)));
    assert!(!ki.tombstone(r(8)));
    assert_eq!(ki.modified(), r(7));
}

#[test]
fn restored_tombstone_reads_as_absent_and_is_kept_until_a_later_compaction() {
    let mut ki = KeyIndex::default();
    ki.restore_tombstone(r(16));
    for at in 16..=20 {
        assert_eq!(ki.get(at), None, "get({at})");
    }
    let mut available = HashSet::new();
    ki.compact(16, &mut available);
    assert_eq!(available, HashSet::from([r(16)]));

    ki.put(r(17));
    ki.put(r(18));
    assert_eq!(ki.since(16), vec![r(16), r(17), r(18)]);

    ki.compact(17, &mut HashSet::new());
    assert_eq!(ki.generations().len(), 1);
    assert_eq!(ki.generations()[0].revs, vec![r(17), r(18)]);
}

/// etcd's `TestKeyIndexCompactAndKeep` table: for each compaction revision, the key
/// index after compacting and the revisions kept.
fn compaction_table() -> Vec<(i64, Vec<Generation>, Vec<Revision>)> {
    let g1 = |revs: &[Revision]| generation(2, 3, revs);
    let g2 = |revs: &[Revision]| generation(8, 3, revs);
    let g3 = |revs: &[Revision]| generation(14, 3, revs);
    let full1 = [r(2), r(4), r(6)];
    let full2 = [r(8), r(10), r(12)];
    let full3 = [r(14), rs(15, 1), r(16)];
    let empty = Generation::default();
    vec![
        (
            1,
            vec![g1(&full1), g2(&full2), g3(&full3), empty.clone()],
            vec![],
        ),
        (
            2,
            vec![g1(&full1), g2(&full2), g3(&full3), empty.clone()],
            vec![r(2)],
        ),
        (
            3,
            vec![g1(&full1), g2(&full2), g3(&full3), empty.clone()],
            vec![r(2)],
        ),
        (
            4,
            vec![g1(&full1[1..]), g2(&full2), g3(&full3), empty.clone()],
            vec![r(4)],
        ),
        (
            5,
            vec![g1(&full1[1..]), g2(&full2), g3(&full3), empty.clone()],
            vec![r(4)],
        ),
        (
            6,
            vec![g1(&full1[2..]), g2(&full2), g3(&full3), empty.clone()],
            vec![r(6)],
        ),
        (7, vec![g2(&full2), g3(&full3), empty.clone()], vec![]),
        (8, vec![g2(&full2), g3(&full3), empty.clone()], vec![r(8)]),
        (9, vec![g2(&full2), g3(&full3), empty.clone()], vec![r(8)]),
        (
            10,
            vec![g2(&full2[1..]), g3(&full3), empty.clone()],
            vec![r(10)],
        ),
        (
            11,
            vec![g2(&full2[1..]), g3(&full3), empty.clone()],
            vec![r(10)],
        ),
        (
            12,
            vec![g2(&full2[2..]), g3(&full3), empty.clone()],
            vec![r(12)],
        ),
        (13, vec![g3(&full3), empty.clone()], vec![]),
        (14, vec![g3(&full3), empty.clone()], vec![r(14)]),
        (15, vec![g3(&full3[1..]), empty.clone()], vec![rs(15, 1)]),
        (16, vec![g3(&full3[2..]), empty.clone()], vec![r(16)]),
        (17, vec![empty], vec![]),
    ]
}

/// Whether `rev` is the tombstone ending one of the key's generations.
fn is_tombstone_rev(ki: &KeyIndex, rev: i64) -> bool {
    let gens = ki.generations();
    gens[..gens.len() - 1]
        .iter()
        .any(|g| g.revs.last().is_some_and(|r| r.main == rev))
}

#[test]
fn successive_compactions_keep_the_latest_revision_at_or_below_each_point() {
    let mut ki = example();
    for (at, want_gens, want_kept) in compaction_table() {
        let mut kept = HashSet::new();
        ki.compact(at, &mut kept);
        assert_eq!(ki.generations(), want_gens.as_slice(), "compact({at})");
        assert_eq!(
            kept,
            want_kept.into_iter().collect(),
            "kept by compact({at})"
        );
        assert_eq!(ki.modified(), r(16));
    }
    assert!(ki.is_empty());
}

#[test]
fn a_single_compaction_at_each_point_gives_the_same_result_as_successive_ones() {
    for (at, want_gens, want_kept) in compaction_table() {
        let mut ki = example();
        let mut kept = HashSet::new();
        ki.compact(at, &mut kept);
        assert_eq!(ki.generations(), want_gens.as_slice(), "compact({at})");
        assert_eq!(
            kept,
            want_kept.into_iter().collect(),
            "kept by compact({at})"
        );
    }
}

#[test]
fn keep_changes_nothing_and_matches_compact_except_for_tombstones() {
    for (at, _, want_kept) in compaction_table() {
        let ki = example();
        let mut kept = HashSet::new();
        ki.keep(at, &mut kept);
        assert_eq!(ki, example(), "keep({at}) changed the key index");
        if is_tombstone_rev(&ki, at) {
            assert!(kept.is_empty(), "keep({at}) kept a tombstone: {kept:?}");
        } else {
            assert_eq!(kept, want_kept.into_iter().collect(), "keep({at})");
        }
    }
}

#[test]
fn compaction_beyond_the_last_revision_keeps_the_last_revision() {
    let mut ki = KeyIndex::default();
    ki.put(r(1));
    ki.put(r(2));
    let mut kept = HashSet::new();
    ki.compact(3, &mut kept);
    assert_eq!(ki.generations(), &[generation(1, 2, &[r(2)])]);
    assert_eq!(kept, HashSet::from([r(2)]));
}

#[test]
fn is_empty_only_with_one_empty_generation() {
    let mut ki = KeyIndex::default();
    ki.put(r(1));
    assert!(ki.tombstone(r(2)));
    assert!(!ki.is_empty());
    ki.compact(3, &mut HashSet::new());
    assert!(ki.is_empty());
}

#[test]
fn find_generation_is_none_between_a_tombstone_and_the_next_put() {
    let ki = example();
    let cases: &[(i64, Option<usize>)] = &[
        (0, None),
        (1, None),
        (2, Some(0)),
        (3, Some(0)),
        (5, Some(0)),
        (6, None),
        (7, None),
        (8, Some(1)),
        (11, Some(1)),
        (12, None),
        (13, None),
        (14, Some(2)),
        (16, None),
        (17, None),
    ];
    for &(at, want) in cases {
        assert_eq!(ki.find_generation(at), want, "find_generation({at})");
    }
}
