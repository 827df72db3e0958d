//! From etcd to etcd-rs: an etcd backend file read into a new member's store.
//!
//! An operator moves a cluster as etcd's own disaster-recovery guide says: `etcdctl
//! snapshot save` on etcd, `etcdctl snapshot restore` into a new data dir per member
//! (which writes etcd's backend at `<data-dir>/member/snap/db`, and a WAL), then start
//! the members on those data dirs with the same `--name`, `--initial-cluster`,
//! `--initial-cluster-token` and `--initial-advertise-peer-urls`. A member of etcd-rs
//! started on such a data dir for the first time ([`import_restored`]) moves etcd's
//! files to `<data-dir>/member.etcd`, reads the backend into its own store, and starts a
//! new cluster on it: the members come from the flags (etcd's restore writes them to its
//! WAL from the same flags), the history from the snapshot.
//!
//! What is read, bucket by bucket (the reverse of [`super::schema`]):
//! - `key`: every record, byte for byte (keys, values, versions, leases, tombstones),
//!   so revisions go on from the snapshot's;
//! - `meta`: the compacted revisions (`scheduledCompactRev`, `finishedCompactRev`);
//!   etcd's `consistent_index` and `term` are left out, since the new raft log starts
//!   over;
//! - `lease`: every lease (its TTL; the remaining TTL restarts, as in etcd);
//! - `auth`, `authUsers`, `authRoles`: the auth store (enabled or not, its revision,
//!   users with their bcrypt hashes, roles);
//! - `alarm`: raised alarms;
//! - `members`, `members_removed`, `cluster` and etcd-rs's own `etcdrs` bucket are left
//!   out: the membership is the new cluster's.
//!
//! Records and leases are checked as they are read (a record key and a `KeyValue`, a
//! lease whose key and value agree): a damaged file stops the start-up with a message,
//! before anything is served.

use std::path::{Path, PathBuf};

use prost::Message as _;

use super::bolt_read::{self, ReadError};
use crate::mvcc::{Backend, KeyValue, RecordKey, WriteBatch, meta};
use crate::pb::{authpb, etcdserverpb as pb};

/// Where `etcdctl snapshot restore` puts etcd's backend, under the data dir.
pub const RESTORED_DB: &str = "member/snap/db";
/// Where etcd's restored files are moved before the import, under the data dir.
pub const MOVED_ETCD_DIR: &str = "member.etcd";
/// Records written per batch.
const BATCH_RECORDS: usize = 10_000;

/// What an import read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Records (every revision of every key, tombstones included).
    pub records: u64,
    /// The newest revision.
    pub revision: i64,
    /// The compacted revision, if any.
    pub compacted: Option<i64>,
    /// Leases.
    pub leases: usize,
    /// Users and roles of the auth store, and whether auth is enabled.
    pub users: usize,
    /// Roles.
    pub roles: usize,
    /// Whether auth is enabled.
    pub auth_enabled: bool,
    /// Raised alarms.
    pub alarms: usize,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read, or is damaged.
    #[error("{0}")]
    Read(#[from] ReadError),
    /// An entry is not what etcd writes there.
    #[error("{0}")]
    Damaged(String),
    /// The store refused the writes.
    #[error("writing the store: {0}")]
    Store(String),
    /// Moving etcd's files failed.
    #[error("{0}")]
    Io(String),
}

fn damaged(what: impl Into<String>) -> ImportError {
    ImportError::Damaged(what.into())
}

/// Reads the etcd backend file at `db` into `backend` (an empty store).
pub fn import<B: Backend>(db: &Path, backend: &mut B) -> Result<Imported, ImportError> {
    import_from(&bolt_read::open(db)?, backend)
}

/// Reads the etcd backend `reader` opened into `backend` (an empty store).
pub fn import_from<B: Backend>(
    reader: &bolt_read::BoltReader<dyn bolt_read::Bytes>,
    backend: &mut B,
) -> Result<Imported, ImportError> {
    let mut imported = Imported::default();
    let commit = |backend: &mut B, batch: WriteBatch| {
        backend
            .commit(batch)
            .map_err(|e| ImportError::Store(e.to_string()))
    };

    let mut batch = WriteBatch::new();
    let mut pending = 0;
    let mut failure = None;
    reader
        .for_each(b"key", &mut |key, value| {
            let record = match RecordKey::from_bytes(key) {
                Ok(record) => record,
                Err(_) => {
                    failure = Some(damaged(format!("bucket key: {key:?} is no revision")));
                    return Err(ReadError::Damaged("stop".into()));
                }
            };
            if let Err(e) = KeyValue::decode(value) {
                failure = Some(damaged(format!(
                    "bucket key: the record at revision {} is no KeyValue: {e}",
                    record.revision.main
                )));
                return Err(ReadError::Damaged("stop".into()));
            }
            imported.revision = imported.revision.max(record.revision.main);
            imported.records += 1;
            batch.put_record(key.to_vec(), value.to_vec());
            pending += 1;
            if pending == BATCH_RECORDS {
                let full = std::mem::replace(&mut batch, WriteBatch::new());
                pending = 0;
                if let Err(e) = backend.commit(full) {
                    failure = Some(ImportError::Store(e.to_string()));
                    return Err(ReadError::Damaged("stop".into()));
                }
            }
            Ok(())
        })
        .map_err(|e| failure.take().unwrap_or(ImportError::Read(e)))?;
    if let Some(failure) = failure {
        return Err(failure);
    }

    reader.for_each(b"meta", &mut |key, value| {
        if key == meta::SCHEDULED_COMPACT_REV || key == meta::FINISHED_COMPACT_REV {
            // A revision key, as etcd writes them (main, `_`, sub).
            let revision = RecordKey::from_bytes(value).map_err(|_| {
                ReadError::Damaged(format!(
                    "bucket meta: {} is no revision",
                    String::from_utf8_lossy(key)
                ))
            })?;
            if key == meta::FINISHED_COMPACT_REV {
                imported.compacted = Some(revision.revision.main);
            }
            batch.set_meta(key, value.to_vec());
        }
        Ok(())
    })?;

    let mut lease_ids = Vec::new();
    reader.for_each(b"lease", &mut |key, value| {
        let id = <[u8; 8]>::try_from(key)
            .map(i64::from_be_bytes)
            .map_err(|_| ReadError::Damaged(format!("bucket lease: key {key:?} is no lease id")))?;
        let meta_key = crate::lease::meta_key(id);
        crate::lease::decode_lease_entry(&meta_key, value)
            .map_err(|e| ReadError::Damaged(format!("bucket lease: lease {id:x}: {e}")))?;
        batch.set_meta(&meta_key, value.to_vec());
        lease_ids.extend_from_slice(&id.to_be_bytes());
        imported.leases += 1;
        Ok(())
    })?;
    if !lease_ids.is_empty() {
        batch.set_meta(crate::server::applier::LEASE_IDS_META, lease_ids);
    }

    reader.for_each(b"alarm", &mut |key, _| {
        let alarm = pb::AlarmMember::decode(key)
            .map_err(|e| ReadError::Damaged(format!("bucket alarm: {e}")))?;
        let mut meta_key = crate::server::applier::ALARM_META.to_vec();
        meta_key.extend_from_slice(&alarm.member_id.to_be_bytes());
        meta_key.extend_from_slice(&alarm.alarm.to_be_bytes());
        batch.set_meta(&meta_key, Vec::new());
        imported.alarms += 1;
        Ok(())
    })?;

    if let Some(auth) = read_auth(reader)? {
        imported.users = auth.users.len();
        imported.roles = auth.roles.len();
        imported.auth_enabled = auth.enabled;
        batch.set_meta(crate::auth::store::AUTH_META, auth.encode_to_vec());
    }
    commit(backend, batch)?;
    Ok(imported)
}

/// etcd's auth buckets as this project's auth store entry; `None` when etcd never
/// touched auth (no `auth` bucket entries beyond its initial revision 1, no users).
fn read_auth(
    reader: &bolt_read::BoltReader<dyn bolt_read::Bytes>,
) -> Result<Option<pb::AuthStoreState>, ImportError> {
    let mut state = pb::AuthStoreState::default();
    let mut found = false;
    reader.for_each(b"auth", &mut |key, value| {
        match key {
            b"authEnabled" => state.enabled = value == [1],
            b"authRevision" => {
                let revision = <[u8; 8]>::try_from(value).map_err(|_| {
                    ReadError::Damaged("bucket auth: authRevision is not 8 bytes".into())
                })?;
                state.revision = u64::from_be_bytes(revision);
            }
            _ => {}
        }
        found = true;
        Ok(())
    })?;
    reader.for_each(b"authUsers", &mut |_, value| {
        let user = authpb::User::decode(value)
            .map_err(|e| ReadError::Damaged(format!("bucket authUsers: {e}")))?;
        state.users.push(user);
        Ok(())
    })?;
    reader.for_each(b"authRoles", &mut |_, value| {
        let role = authpb::Role::decode(value)
            .map_err(|e| ReadError::Damaged(format!("bucket authRoles: {e}")))?;
        state.roles.push(role);
        Ok(())
    })?;
    let untouched = !state.enabled && state.users.is_empty() && state.roles.is_empty();
    Ok((found && !untouched).then_some(state))
}

/// On a member's first start: if `data_dir` holds what `etcdctl snapshot restore`
/// writes, moves etcd's files to [`MOVED_ETCD_DIR`] and imports the backend with
/// `import_into` (which opens the member's new store and calls [`import`]). A start that
/// stopped half-way through an import starts it over. Returns what was imported, or
/// `None` when there is nothing to import.
pub fn import_restored(
    data_dir: &Path,
    import_into: impl FnOnce(&Path) -> Result<Imported, ImportError>,
) -> Result<Option<(Imported, PathBuf)>, ImportError> {
    let io = |what: &str, e: std::io::Error| ImportError::Io(format!("{what}: {e}"));
    let moved = data_dir.join(MOVED_ETCD_DIR);
    let restored = data_dir.join(RESTORED_DB);
    if restored.is_file() {
        if moved.exists() {
            return Err(ImportError::Io(format!(
                "{} exists: move it away to import {}",
                moved.display(),
                restored.display()
            )));
        }
        let member = data_dir.join(crate::storage::MEMBER_DIR);
        std::fs::rename(&member, &moved)
            .map_err(|e| io(&format!("moving {} aside", member.display()), e))?;
        std::fs::File::open(data_dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| io("syncing the data dir", e))?;
    }
    let db = moved.join("snap").join("db");
    if !db.is_file() {
        return Ok(None);
    }
    // A store left by an import that did not finish is started over.
    let member = data_dir.join(crate::storage::MEMBER_DIR);
    if member.exists() {
        std::fs::remove_dir_all(&member)
            .map_err(|e| io(&format!("removing the unfinished {}", member.display()), e))?;
    }
    let imported = import_into(&db)?;
    Ok(Some((imported, db)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::MemBackend;
    use crate::snapshot::bolt::tests::{Mem, file_of as bytes_of};

    fn file_of(source: &Mem, dir: &Path) -> PathBuf {
        let path = dir.join("db");
        std::fs::write(&path, bytes_of(source).unwrap()).unwrap();
        path
    }

    fn record_key(main: i64, sub: i64) -> Vec<u8> {
        let mut key = main.to_be_bytes().to_vec();
        key.push(b'_');
        key.extend_from_slice(&sub.to_be_bytes());
        key
    }

    fn kv(key: &str, value: &str, rev: i64, lease: i64) -> Vec<u8> {
        crate::mvcc::KeyValue {
            key: key.as_bytes().to_vec(),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            value: value.as_bytes().to_vec(),
            lease,
        }
        .encode()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("etcd-rs-import-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn etcds_buckets_become_records_and_meta_entries() {
        let dir = temp_dir("buckets");
        let lease = crate::lease::Lease {
            id: 0x77,
            ttl_secs: 600,
            remaining_ttl_secs: 0,
        };
        let user = authpb::User {
            name: b"root".to_vec(),
            password: b"$2a$10$hash".to_vec(),
            roles: vec!["root".into()],
            ..Default::default()
        };
        let alarm = pb::AlarmMember {
            member_id: 9,
            alarm: pb::AlarmType::Nospace as i32,
        };
        let source = Mem(vec![
            (b"alarm".to_vec(), vec![(alarm.encode_to_vec(), Vec::new())]),
            (
                b"auth".to_vec(),
                vec![
                    (b"authEnabled".to_vec(), vec![1]),
                    (b"authRevision".to_vec(), 5u64.to_be_bytes().to_vec()),
                ],
            ),
            (b"authRoles".to_vec(), Vec::new()),
            (
                b"authUsers".to_vec(),
                vec![(b"root".to_vec(), user.encode_to_vec())],
            ),
            (
                b"key".to_vec(),
                vec![
                    (record_key(2, 0), kv("a", "1", 2, 0)),
                    (record_key(3, 0), kv("b", "2", 3, 0x77)),
                ],
            ),
            (
                b"lease".to_vec(),
                vec![(
                    0x77i64.to_be_bytes().to_vec(),
                    crate::lease::encode_lease(&lease),
                )],
            ),
            (b"members".to_vec(), vec![(b"1".to_vec(), b"{}".to_vec())]),
            (
                b"meta".to_vec(),
                vec![
                    (b"consistent_index".to_vec(), 99u64.to_be_bytes().to_vec()),
                    (b"finishedCompactRev".to_vec(), record_key(2, 0)),
                    (b"scheduledCompactRev".to_vec(), record_key(2, 0)),
                ],
            ),
        ]);
        let db = file_of(&source, &dir);
        let mut backend = MemBackend::new();
        let imported = import(&db, &mut backend).unwrap();
        assert_eq!(
            imported,
            Imported {
                records: 2,
                revision: 3,
                compacted: Some(2),
                leases: 1,
                users: 1,
                roles: 0,
                auth_enabled: true,
                alarms: 1,
            }
        );
        let records = backend.scan_records(&[], None, usize::MAX).unwrap();
        assert_eq!(records.len(), 2);
        let meta: std::collections::BTreeMap<_, _> =
            backend.scan_meta().unwrap().into_iter().collect();
        assert!(!meta.contains_key(meta::CONSISTENT_INDEX.to_vec().as_slice()));
        assert_eq!(meta[meta::FINISHED_COMPACT_REV], record_key(2, 0));
        assert_eq!(
            meta[&crate::lease::meta_key(0x77)],
            crate::lease::encode_lease(&lease)
        );
        assert_eq!(
            meta[crate::server::applier::LEASE_IDS_META],
            0x77i64.to_be_bytes()
        );
        let auth =
            pb::AuthStoreState::decode(meta[crate::auth::store::AUTH_META].as_slice()).unwrap();
        assert!(auth.enabled);
        assert_eq!((auth.revision, auth.users.len()), (5, 1));
        assert_eq!(meta.keys().filter(|k| k.starts_with(b"alarm/")).count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_record_that_is_not_etcds_stops_the_import() {
        let dir = temp_dir("bad-record");
        let source = Mem(vec![(
            b"key".to_vec(),
            vec![(b"not a revision".to_vec(), b"x".to_vec())],
        )]);
        let db = file_of(&source, &dir);
        let error = import(&db, &mut MemBackend::new()).unwrap_err();
        assert!(error.to_string().contains("is no revision"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_restored_layout_is_moved_aside_and_an_unfinished_import_starts_over() {
        let dir = temp_dir("layout");
        assert!(import_restored(&dir, |_| unreachable!()).unwrap().is_none());
        std::fs::create_dir_all(dir.join("member/snap")).unwrap();
        std::fs::create_dir_all(dir.join("member/wal")).unwrap();
        std::fs::write(dir.join(RESTORED_DB), b"db").unwrap();
        // The first try fails half-way (after the store was created).
        let failed = import_restored(&dir, |db| {
            assert_eq!(db, dir.join("member.etcd/snap/db"));
            std::fs::create_dir_all(dir.join("member")).unwrap();
            Err(ImportError::Store("disk full".into()))
        });
        assert!(failed.is_err());
        assert!(dir.join("member.etcd/wal").is_dir());
        // The next start removes the half-made store and imports again.
        let again = import_restored(&dir, |_| {
            assert!(!dir.join("member").exists());
            Ok(Imported::default())
        })
        .unwrap();
        assert!(again.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
