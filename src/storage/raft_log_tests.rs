//! Tests of the durable raft log: what is persisted comes back after a reopen, exactly,
//! and damage is reported, never repaired silently.

use fjall::{Database, KeyspaceCreateOptions, PersistMode};

use super::*;
use crate::raft::{EntryType, SeededRng};
use crate::storage::test_dir::TestDir;
use crate::storage::{MEMBER_DIR, MemberStore};

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term: Term(term),
        index: LogIndex(index),
        entry_type: if index % 5 == 0 {
            EntryType::ConfChange
        } else {
            EntryType::Normal
        },
        data: format!("entry {index} of term {term}").into_bytes(),
    }
}

fn entries(range: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    range.map(|i| entry(i, term)).collect()
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term: Term(term),
        vote: NodeId(vote),
        commit: LogIndex(commit),
    }
}

fn voters(ids: &[u64]) -> ConfState {
    ConfState::with_voters(ids.iter().map(|&id| NodeId(id)))
}

fn open(dir: &TestDir) -> DiskRaftStorage {
    MemberStore::open(dir.path())
        .expect("open member store")
        .raft_storage()
}

fn append(storage: &DiskRaftStorage, new: Vec<Entry>, hs: HardState) {
    storage
        .persist(&LogWrite {
            snapshot: None,
            entries: new,
            hard_state: Some(hs),
            sync: true,
        })
        .expect("persist");
}

fn all_entries(storage: &impl Storage) -> Vec<Entry> {
    let first = storage.first_index().unwrap();
    let last = storage.last_index().unwrap();
    storage.entries(first, last.next(), u64::MAX).unwrap()
}

/// Runs `change` on the raw fjall database of the member at `dir` (the store MUST be
/// closed), then persists.
fn tamper(dir: &TestDir, change: impl FnOnce(&Database, &Keyspace)) {
    let db = Database::builder(dir.path().join(MEMBER_DIR))
        .open()
        .expect("open raw database");
    let log = db
        .keyspace("raft_log", KeyspaceCreateOptions::default)
        .expect("raft_log keyspace");
    change(&db, &log);
    db.persist(PersistMode::SyncAll).expect("persist tampering");
}

fn flip_a_byte_of(dir: &TestDir, index: u64) {
    tamper(dir, |_, log| {
        let key = codec::entry_key(LogIndex(index));
        let mut value = log.get(key).expect("read").expect("record exists").to_vec();
        value[10] ^= 0x40;
        log.insert(key, value).expect("write damaged record");
    });
}

fn open_error(dir: &TestDir) -> String {
    match MemberStore::open(dir.path()) {
        Ok(store) => panic!("opening a damaged log succeeded: {store:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn a_fresh_store_is_empty() {
    let dir = TestDir::new("fresh");
    let storage = open(&dir);
    assert!(storage.is_empty().unwrap());
    assert_eq!(storage.first_index().unwrap(), LogIndex(1));
    assert_eq!(storage.last_index().unwrap(), LogIndex(0));
    assert_eq!(storage.initial_state().unwrap(), RaftState::default());
    assert!(storage.snapshot().unwrap().is_empty());
}

#[test]
fn a_second_open_of_the_same_folder_fails_while_the_first_is_open() {
    let dir = TestDir::new("locked");
    let first = MemberStore::open(dir.path()).expect("first open");
    let second = MemberStore::open(dir.path());
    assert!(second.is_err(), "two stores over one folder: {second:?}");
    drop(first);
    MemberStore::open(dir.path()).expect("open after the first is closed");
}

#[test]
fn entries_hard_state_and_snapshot_survive_a_reopen() {
    let dir = TestDir::new("roundtrip");
    let snapshot = Snapshot {
        data: b"state machine".to_vec(),
        metadata: SnapshotMetadata {
            conf_state: voters(&[1, 2, 3]),
            index: LogIndex(4),
            term: Term(2),
        },
    };
    let before = {
        let storage = open(&dir);
        storage
            .persist(&LogWrite {
                snapshot: Some(snapshot.clone()),
                entries: entries(5..=9, 3),
                hard_state: Some(hard_state(3, 2, 7)),
                sync: true,
            })
            .unwrap();
        append(&storage, entries(10..=12, 3), hard_state(3, 2, 11));
        all_entries(&storage)
    };
    let storage = open(&dir);
    assert_eq!(storage.first_index().unwrap(), LogIndex(5));
    assert_eq!(storage.last_index().unwrap(), LogIndex(12));
    assert_eq!(all_entries(&storage), before);
    assert_eq!(before, entries(5..=12, 3));
    assert_eq!(storage.term(LogIndex(4)).unwrap(), Term(2));
    assert_eq!(storage.snapshot().unwrap(), snapshot);
    assert_eq!(
        storage.initial_state().unwrap(),
        RaftState {
            hard_state: hard_state(3, 2, 11),
            conf_state: voters(&[1, 2, 3]),
        }
    );
}

#[test]
fn unsynced_writes_are_visible_and_survive_a_clean_reopen() {
    let dir = TestDir::new("unsynced");
    {
        let storage = open(&dir);
        storage
            .persist(&LogWrite {
                entries: entries(1..=3, 1),
                hard_state: Some(hard_state(1, 0, 2)),
                sync: false,
                ..LogWrite::default()
            })
            .unwrap();
        assert_eq!(storage.last_index().unwrap(), LogIndex(3));
    }
    assert_eq!(all_entries(&open(&dir)), entries(1..=3, 1));
}

#[test]
fn a_conflicting_suffix_is_truncated_and_stays_truncated_after_reopen() {
    let dir = TestDir::new("truncate");
    {
        let storage = open(&dir);
        append(&storage, entries(1..=6, 1), hard_state(1, 1, 2));
        // A new leader of term 2 overwrites from index 4 with a shorter suffix.
        append(&storage, entries(4..=4, 2), hard_state(2, 3, 2));
        assert_eq!(storage.last_index().unwrap(), LogIndex(4));
        assert_eq!(
            storage.entries(LogIndex(1), LogIndex(6), u64::MAX),
            Err(StorageError::Unavailable)
        );
    }
    let storage = open(&dir);
    assert_eq!(storage.last_index().unwrap(), LogIndex(4));
    let mut want = entries(1..=3, 1);
    want.push(entry(4, 2));
    assert_eq!(all_entries(&storage), want);
    assert_eq!(storage.term(LogIndex(5)), Err(StorageError::Unavailable));
}

#[test]
fn compaction_moves_the_first_index_and_survives_reopen() {
    let dir = TestDir::new("compact");
    {
        let storage = open(&dir);
        append(&storage, entries(1..=10, 1), hard_state(1, 1, 8));
        storage
            .compact(LogIndex(6), voters(&[1, 2]), b"at 6".to_vec())
            .unwrap();
        assert_eq!(storage.first_index().unwrap(), LogIndex(7));
    }
    let storage = open(&dir);
    assert_eq!(storage.first_index().unwrap(), LogIndex(7));
    assert_eq!(storage.last_index().unwrap(), LogIndex(10));
    assert_eq!(
        storage.entries(LogIndex(6), LogIndex(8), u64::MAX),
        Err(StorageError::Compacted)
    );
    assert_eq!(storage.term(LogIndex(6)).unwrap(), Term(1));
    assert_eq!(storage.term(LogIndex(5)), Err(StorageError::Compacted));
    assert_eq!(all_entries(&storage), entries(7..=10, 1));
    let snapshot = storage.snapshot().unwrap();
    assert_eq!(snapshot.data, b"at 6");
    assert_eq!(snapshot.metadata.conf_state, voters(&[1, 2]));
    assert_eq!(storage.initial_state().unwrap().conf_state, voters(&[1, 2]));
}

#[test]
fn compaction_refusals_write_nothing_and_do_not_poison() {
    let dir = TestDir::new("compact-refused");
    let storage = open(&dir);
    append(&storage, entries(1..=10, 1), hard_state(1, 1, 8));
    storage
        .compact(LogIndex(4), ConfState::default(), Vec::new())
        .unwrap();
    assert_eq!(
        storage.compact(LogIndex(4), ConfState::default(), Vec::new()),
        Err(StorageError::SnapshotOutOfDate)
    );
    assert_eq!(
        storage.compact(LogIndex(11), ConfState::default(), Vec::new()),
        Err(StorageError::Unavailable)
    );
    let beyond_commit = storage.compact(LogIndex(9), ConfState::default(), Vec::new());
    assert!(
        matches!(&beyond_commit, Err(StorageError::Other(m)) if m.contains("beyond the commit index 8")),
        "{beyond_commit:?}"
    );
    assert!(!storage.is_poisoned());
    assert_eq!(storage.first_index().unwrap(), LogIndex(5));
    append(&storage, entries(11..=11, 1), hard_state(1, 1, 9));
}

#[test]
fn a_snapshot_replaces_the_whole_log_and_raises_term_and_commit() {
    let dir = TestDir::new("install");
    {
        let storage = open(&dir);
        append(&storage, entries(1..=5, 1), hard_state(1, 1, 3));
        storage
            .persist(&LogWrite {
                snapshot: Some(Snapshot {
                    data: b"leader state".to_vec(),
                    metadata: SnapshotMetadata {
                        conf_state: voters(&[1, 2, 3]),
                        index: LogIndex(20),
                        term: Term(4),
                    },
                }),
                sync: false,
                ..LogWrite::default()
            })
            .unwrap();
    }
    let storage = open(&dir);
    assert_eq!(storage.first_index().unwrap(), LogIndex(21));
    assert_eq!(storage.last_index().unwrap(), LogIndex(20));
    assert_eq!(storage.term(LogIndex(20)).unwrap(), Term(4));
    assert_eq!(
        storage.initial_state().unwrap().hard_state,
        hard_state(4, 1, 20)
    );
    assert!(all_entries(&storage).is_empty());
    // Entries covered by the snapshot are skipped; the rest are appended after it.
    append(&storage, entries(19..=22, 4), hard_state(4, 1, 21));
    assert_eq!(all_entries(&storage), entries(21..=22, 4));
}

#[test]
fn bootstrap_matches_mem_storage_and_is_refused_the_second_time() {
    let dir = TestDir::new("bootstrap");
    {
        let storage = open(&dir);
        storage.bootstrap(voters(&[1, 2, 3])).unwrap();
        assert!(storage.bootstrap(voters(&[1])).is_err());
    }
    let storage = open(&dir);
    let model = MemStorage::new_with_conf_state(voters(&[1, 2, 3]));
    assert_eq!(storage.initial_state(), model.initial_state());
    assert_eq!(storage.snapshot(), model.snapshot());
    assert_eq!(storage.first_index(), model.first_index());
    assert_eq!(storage.last_index(), model.last_index());
    assert_eq!(storage.term(LogIndex(1)), Ok(Term(1)));
}

#[test]
fn a_corrupted_record_fails_the_open_with_its_index() {
    let dir = TestDir::new("corrupt");
    {
        let storage = open(&dir);
        append(&storage, entries(1..=6, 1), hard_state(1, 1, 6));
    }
    flip_a_byte_of(&dir, 3);
    assert_eq!(
        open_error(&dir),
        "storage failed: raft log record at index 3 is corrupt: checksum mismatch"
    );
}

#[test]
fn a_corrupted_last_record_beyond_the_commit_is_not_discarded_either() {
    // Torn writes never reach this layer (fjall drops a torn batch whole), so a bad
    // checksum is damage to a record that may have been acknowledged.
    let dir = TestDir::new("corrupt-tail");
    {
        let storage = open(&dir);
        append(&storage, entries(1..=6, 1), hard_state(1, 1, 2));
    }
    flip_a_byte_of(&dir, 6);
    assert_eq!(
        open_error(&dir),
        "storage failed: raft log record at index 6 is corrupt: checksum mismatch"
    );
}

#[test]
fn a_gap_in_the_log_fails_the_open() {
    let dir = TestDir::new("gap");
    {
        let storage = open(&dir);
        append(&storage, entries(1..=6, 1), hard_state(1, 1, 6));
    }
    tamper(&dir, |_, log| {
        log.remove(codec::entry_key(LogIndex(4))).expect("remove");
    });
    assert_eq!(
        open_error(&dir),
        "storage failed: raft log is not contiguous: expected index 4, found 5"
    );
}

#[test]
fn a_record_under_the_wrong_key_fails_the_open() {
    let dir = TestDir::new("misplaced");
    {
        let storage = open(&dir);
        append(&storage, entries(1..=3, 1), hard_state(1, 1, 3));
    }
    tamper(&dir, |_, log| {
        let key = codec::entry_key(LogIndex(2));
        log.insert(key, codec::encode_entry(&entry(3, 1)))
            .expect("misplace");
    });
    assert_eq!(
        open_error(&dir),
        "storage failed: raft log record at index 2 is corrupt: it holds the entry of index 3"
    );
}

/// Checksummed records naming the last possible index: the open refused them, but only
/// after `LogIndex::next` overflowed (a panic with overflow checks, a wrap without).
/// Found while choosing what to fuzz, by reading `load`.
#[test]
fn records_at_the_last_possible_index_fail_the_open_without_overflow() {
    for (snapshot_index, entry_index, error) in [
        (
            u64::MAX,
            None,
            "storage failed: raft state record snapshot_meta is corrupt: snapshot at the last possible index",
        ),
        (
            u64::MAX - 1,
            Some(u64::MAX),
            "storage failed: raft log record at index 18446744073709551615 is corrupt: an entry at the last possible index",
        ),
    ] {
        let dir = TestDir::new("max-index");
        {
            let storage = open(&dir);
            append(&storage, entries(1..=3, 1), hard_state(1, 1, 3));
        }
        tamper(&dir, |db, log| {
            let state = db
                .keyspace("raft_state", KeyspaceCreateOptions::default)
                .expect("raft_state keyspace");
            let meta = SnapshotMetadata {
                conf_state: voters(&[1]),
                index: LogIndex(snapshot_index),
                term: Term(1),
            };
            state
                .insert(SNAPSHOT_META_KEY, codec::encode_snapshot_metadata(&meta))
                .expect("snapshot record");
            for index in 1..=3 {
                log.remove(codec::entry_key(LogIndex(index)))
                    .expect("remove");
            }
            if let Some(index) = entry_index {
                log.insert(
                    codec::entry_key(LogIndex(index)),
                    codec::encode_entry(&entry(index, 1)),
                )
                .expect("entry record");
            }
        });
        assert_eq!(open_error(&dir), error);
    }
}

#[test]
fn missing_committed_entries_fail_the_open() {
    let dir = TestDir::new("lost-commit");
    {
        let storage = open(&dir);
        append(&storage, entries(1..=6, 1), hard_state(1, 1, 6));
    }
    tamper(&dir, |_, log| {
        log.remove(codec::entry_key(LogIndex(6))).expect("remove");
    });
    assert!(
        open_error(&dir).contains("hard state commit 6 is beyond the last log index 5"),
        "wrong error"
    );
}

#[test]
fn a_failed_persist_poisons_every_later_write() {
    let dir = TestDir::new("poison");
    let storage = open(&dir);
    append(&storage, entries(1..=3, 1), hard_state(1, 1, 2));
    storage.fail_next_persist();
    let failed = storage.persist(&LogWrite {
        entries: entries(4..=5, 1),
        hard_state: Some(hard_state(1, 1, 4)),
        sync: true,
        ..LogWrite::default()
    });
    assert!(failed.is_err());
    assert!(storage.is_poisoned());
    // Readers see only what succeeded.
    assert_eq!(storage.last_index().unwrap(), LogIndex(3));
    assert_eq!(
        storage.initial_state().unwrap().hard_state,
        hard_state(1, 1, 2)
    );
    let later = storage.persist(&LogWrite {
        hard_state: Some(hard_state(2, 0, 2)),
        sync: true,
        ..LogWrite::default()
    });
    assert!(
        matches!(&later, Err(StorageError::Other(m)) if m.contains("poisoned") && m.contains("injected fsync failure")),
        "{later:?}"
    );
    assert!(
        storage
            .compact(LogIndex(2), ConfState::default(), Vec::new())
            .is_err()
    );
    // Every handle shares the poison.
    assert!(storage.clone().persist(&LogWrite::default()).is_err());
}

#[test]
fn a_write_the_log_cannot_take_is_refused_and_poisons() {
    let dir = TestDir::new("refused");
    let storage = open(&dir);
    append(&storage, entries(1..=3, 1), hard_state(1, 1, 2));
    let gap = storage.persist(&LogWrite {
        entries: entries(5..=6, 1),
        ..LogWrite::default()
    });
    assert!(
        matches!(&gap, Err(StorageError::Other(m)) if m.contains("missing log entries")),
        "{gap:?}"
    );
    assert!(storage.is_poisoned());
    drop(storage);
    assert_eq!(all_entries(&open(&dir)), entries(1..=3, 1));
}

/// One step of the random history in [`random_histories_agree_with_mem_storage`].
fn random_step(rng: &mut SeededRng, model: &MemStorage) -> Step {
    let hs = model.hard_state();
    let snapshot_index = model.first_index().unwrap().prev();
    let last = model.last_index().unwrap();
    match rng.range(0, 10) {
        0..=5 => {
            // A leader (maybe of a new term) appends, overwriting uncommitted entries.
            let term = hs.term.0.max(1) + u64::from(rng.chance(1, 4));
            let low = hs.commit.max(snapshot_index).next().0;
            let start = rng.range(low, last.0 + 2);
            let count = rng.range(0, 6);
            let new = entries(start..=start + count, term);
            let new_last = start + count;
            let commit = rng.range(hs.commit.0, new_last + 1);
            let vote = if rng.chance(1, 2) {
                hs.vote.0
            } else {
                rng.range(1, 4)
            };
            Step::Persist(LogWrite {
                snapshot: None,
                entries: new,
                hard_state: Some(hard_state(term, vote, commit)),
                sync: rng.chance(1, 2),
            })
        }
        6 => {
            // A snapshot from the leader, sometimes with entries after it (one Ready).
            let index = hs.commit.max(snapshot_index).0 + rng.range(1, 8);
            let term = hs.term.0.max(1) + rng.range(0, 2);
            let count = rng.range(0, 4);
            let commit = index + rng.range(0, count + 1);
            Step::Persist(LogWrite {
                snapshot: Some(Snapshot {
                    data: format!("snapshot at {index}").into_bytes(),
                    metadata: SnapshotMetadata {
                        conf_state: voters(&[1, rng.range(2, 5)]),
                        index: LogIndex(index),
                        term: Term(term),
                    },
                }),
                entries: entries(index + 1..=index + count, term),
                hard_state: (count > 0).then(|| hard_state(term, hs.vote.0, commit)),
                sync: rng.chance(1, 2),
            })
        }
        7 | 8 if hs.commit > snapshot_index => {
            let index = rng.range(snapshot_index.0 + 1, hs.commit.0 + 1);
            Step::Compact(LogIndex(index), voters(&[1, 2, rng.range(3, 6)]))
        }
        _ => Step::Reopen,
    }
}

enum Step {
    Persist(LogWrite),
    Compact(LogIndex, ConfState),
    Reopen,
}

fn assert_agree(disk: &DiskRaftStorage, model: &MemStorage, context: &str) {
    assert_eq!(
        disk.first_index(),
        model.first_index(),
        "first index {context}"
    );
    assert_eq!(
        disk.last_index(),
        model.last_index(),
        "last index {context}"
    );
    assert_eq!(all_entries(disk), all_entries(model), "entries {context}");
    // Every sub-range, with size limits that cut it at each entry: the evicted entries
    // read back from disk must be cut exactly where the model cuts.
    let (first, last) = (model.first_index().unwrap(), model.last_index().unwrap());
    for low in first.0..=last.0 {
        for high in low + 1..=last.0 + 1 {
            for max_size_bytes in [0, 30, 60, u64::MAX] {
                let (low, high) = (LogIndex(low), LogIndex(high));
                assert_eq!(
                    disk.entries(low, high, max_size_bytes),
                    model.entries(low, high, max_size_bytes),
                    "entries [{low}, {high}) of at most {max_size_bytes} bytes {context}"
                );
            }
        }
    }
    assert_eq!(
        disk.initial_state(),
        model.initial_state(),
        "state {context}"
    );
    assert_eq!(disk.snapshot(), model.snapshot(), "snapshot {context}");
    let snapshot_index = model.first_index().unwrap().prev();
    assert_eq!(
        disk.term(snapshot_index),
        model.term(snapshot_index),
        "snapshot term {context}"
    );
}

#[test]
fn random_histories_agree_with_mem_storage_across_reopens() {
    // How often each kind of step ran, to prove the history exercised them all.
    let (mut truncations, mut snapshots, mut compactions, mut reopens) = (0, 0, 0, 0);
    for seed in 0..12u64 {
        let dir = TestDir::new(&format!("random-{seed}"));
        let mut rng = SeededRng::new(seed);
        let mut model = MemStorage::new();
        // How many entries keep their data in memory: seeds also read evicted entries
        // back from disk, across truncations, snapshots and compactions.
        let keep = [1, 2, 5, CACHE_DATA_ENTRIES_MAX][seed as usize % 4];
        let mut disk = open(&dir).with_cache_data_entries(keep);
        for step in 0..80 {
            let context = format!("after step {step} of seed {seed}");
            match random_step(&mut rng, &model) {
                Step::Persist(write) => {
                    let last = model.last_index().unwrap();
                    if write.entries.first().is_some_and(|e| e.index <= last) {
                        truncations += 1;
                    }
                    if write.snapshot.is_some() {
                        snapshots += 1;
                    }
                    disk.persist(&write)
                        .unwrap_or_else(|e| panic!("persist {context}: {e}"));
                    if let Some(snapshot) = &write.snapshot {
                        model.apply_snapshot(snapshot.clone()).unwrap();
                    }
                    model.append(&write.entries).unwrap();
                    if let Some(hs) = write.hard_state {
                        model.set_hard_state(hs);
                    }
                }
                Step::Compact(index, conf_state) => {
                    let data = format!("compacted at {index}").into_bytes();
                    disk.compact(index, conf_state.clone(), data.clone())
                        .unwrap_or_else(|e| panic!("compact {context}: {e}"));
                    model.create_snapshot(index, conf_state, data).unwrap();
                    compactions += 1;
                }
                Step::Reopen => {
                    reopens += 1;
                    drop(disk);
                    disk = open(&dir).with_cache_data_entries(keep);
                }
            }
            assert_agree(&disk, &model, &context);
        }
        drop(disk);
        assert_agree(&open(&dir), &model, &format!("at the end of seed {seed}"));
    }
    for (kind, count) in [
        ("overwrites of a suffix", truncations),
        ("snapshot installs", snapshots),
        ("compactions", compactions),
        ("reopens", reopens),
    ] {
        assert!(count >= 20, "the random histories ran only {count} {kind}");
    }
}

#[test]
fn handles_share_one_log_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DiskRaftStorage>();
    let dir = TestDir::new("threads");
    let reader = open(&dir);
    let writer = reader.clone();
    std::thread::spawn(move || append(&writer, entries(1..=4, 1), hard_state(1, 1, 3)))
        .join()
        .expect("writer thread");
    assert_eq!(all_entries(&reader), entries(1..=4, 1));
    assert_eq!(
        reader.initial_state().unwrap().hard_state,
        hard_state(1, 1, 3)
    );
}
