//! etcd's backend schema, over a view of this member's store: the buckets etcd's bolt
//! database holds, with the keys and values etcd writes in them.
//!
//! | bucket | key | value | from |
//! |---|---|---|---|
//! | `alarm` | `AlarmMember` (protobuf) | empty | meta `alarm/` entries |
//! | `auth` | `authEnabled`, `authRevision` | 1 byte (1: enabled), 8 bytes big-endian | the meta `auth` entry (without one: revision 1, no `authEnabled`, as a store where auth was never touched) |
//! | `authRoles`, `authUsers` | role or user name | `authpb.Role`, `authpb.User` (bcrypt hashes, as etcd's) | the meta `auth` entry |
//! | `cluster` | `clusterVersion` | e.g. `3.5.0` | the version this member reports |
//! | `etcdrs` | this project's own meta entries | as stored | any other meta entry |
//! | `key` | revision (17 bytes, `t` appended for a tombstone) | `mvccpb.KeyValue` | records, as stored |
//! | `lease` | lease id, 8 bytes big-endian | `leasepb.Lease` | meta `lease/` entries |
//! | `members` | member id in hex | JSON `{"id","peerURLs","isLearner","name","clientURLs"}` | the member list and meta `member_attributes/` |
//! | `members_removed` | (none) | | |
//! | `meta` | `consistent_index`, `term`, `scheduledCompactRev`, `finishedCompactRev` | as etcd encodes them | the same meta entries |
//!
//! Records and the lease and compaction entries are stored byte for byte as etcd stores
//! them, so only the buckets change. `etcdrs` keeps the replicated state etcd has no
//! bucket for (an unknown bucket, which etcd carries along and otherwise ignores), so
//! that [`hash`] covers every replicated entry; the redundant list of lease ids is left
//! out.

use std::collections::BTreeMap;

use prost::Message as _;

use super::bolt::{BoltError, ItemFn, Source};
use crate::mvcc::{BackendError, BackendView, Record, SCAN_CHUNK_RECORDS, meta};
use crate::pb::etcdserverpb as pb;

/// The bucket of the key-value records.
pub const KEY_BUCKET: &[u8] = b"key";
/// The bucket of etcd's meta entries.
pub const META_BUCKET: &[u8] = b"meta";
/// The bucket of this project's meta entries that etcd has no bucket for.
pub const OWN_BUCKET: &[u8] = b"etcdrs";

/// Meta entry prefixes of the applier (see `server::applier`).
mod own {
    /// Alarms: + member id (8 bytes) + alarm type (4 bytes), big-endian.
    pub const ALARM: &[u8] = b"alarm/";
    /// Published member attributes: + member id (8 bytes), a `pb::MemberAttributes`.
    pub const MEMBER_ATTRIBUTES: &[u8] = b"member_attributes/";
    /// The list of lease ids (each lease also has its own entry).
    pub const LEASE_IDS: &[u8] = b"lease_ids";
}

/// A member of the cluster as the cluster's configuration knows it (its name and client
/// URLs come from what it published through Raft, read from the store).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberEntry {
    /// The member id.
    pub id: u64,
    /// Its peer URLs.
    pub peer_urls: Vec<String>,
    /// Whether it is a learner.
    pub is_learner: bool,
}

/// etcd's buckets over a view of the store, as a [`Source`] for the bolt writer and for
/// [`hash`]. Every bucket but `key` is small and built in memory when this is made; the
/// `key` bucket is read from the view, a chunk at a time, each time it is walked.
pub struct EtcdBuckets {
    view: Box<dyn BackendView>,
    /// Every bucket in name order; the `key` bucket's items are not held here.
    buckets: Vec<(Vec<u8>, Vec<Record>)>,
}

impl EtcdBuckets {
    /// The buckets of the store seen by `view`, with `members` for the `members` bucket
    /// and `cluster_version` for the `cluster` bucket.
    pub fn new(
        view: Box<dyn BackendView>,
        members: &[MemberEntry],
        cluster_version: &str,
    ) -> Result<EtcdBuckets, BackendError> {
        let mut buckets: BTreeMap<&[u8], BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
        for name in [
            &b"alarm"[..],
            b"auth",
            b"authRoles",
            b"authUsers",
            b"cluster",
            KEY_BUCKET,
            b"lease",
            b"members",
            b"members_removed",
            META_BUCKET,
        ] {
            buckets.insert(name, BTreeMap::new());
        }
        let mut put = |bucket: &'static [u8], key: Vec<u8>, value: Vec<u8>| {
            buckets.entry(bucket).or_default().insert(key, value);
        };
        // etcd's auth store when auth was never touched: revision 1 (replaced below by
        // the store's own record, if there is one).
        put(
            b"auth",
            b"authRevision".to_vec(),
            1u64.to_be_bytes().to_vec(),
        );
        put(
            b"cluster",
            b"clusterVersion".to_vec(),
            cluster_version.as_bytes().to_vec(),
        );
        let mut attributes = BTreeMap::new();
        for (key, value) in view.scan_meta()? {
            if [
                meta::CONSISTENT_INDEX,
                meta::TERM,
                meta::SCHEDULED_COMPACT_REV,
                meta::FINISHED_COMPACT_REV,
            ]
            .contains(&key.as_slice())
            {
                put(META_BUCKET, key, value);
            } else if let Some(id) = crate::lease::id_of_meta_key(&key) {
                put(b"lease", id.to_be_bytes().to_vec(), value);
            } else if let Some(alarm) = alarm_of(&key) {
                put(b"alarm", alarm.encode_to_vec(), Vec::new());
            } else if key == crate::auth::store::AUTH_META {
                let auth = pb::AuthStoreState::decode(value.as_slice())
                    .map_err(|e| BackendError::new(format!("the auth store: {e}")))?;
                put(
                    b"auth",
                    b"authEnabled".to_vec(),
                    vec![u8::from(auth.enabled)],
                );
                put(
                    b"auth",
                    b"authRevision".to_vec(),
                    auth.revision.to_be_bytes().to_vec(),
                );
                for user in auth.users {
                    put(b"authUsers", user.name.clone(), user.encode_to_vec());
                }
                for role in auth.roles {
                    put(b"authRoles", role.name.clone(), role.encode_to_vec());
                }
            } else if key.starts_with(own::MEMBER_ATTRIBUTES) {
                let published = pb::MemberAttributes::decode(value.as_slice())
                    .map_err(|e| BackendError::new(format!("member attributes: {e}")))?;
                attributes.insert(published.id, published);
            } else if key != own::LEASE_IDS {
                put(OWN_BUCKET, key, value);
            }
        }
        for member in members {
            let published = attributes.get(&member.id);
            put(
                b"members",
                format!("{:x}", member.id).into_bytes(),
                member_json(member, published).into_bytes(),
            );
        }
        Ok(EtcdBuckets {
            view,
            buckets: buckets
                .into_iter()
                .map(|(name, items)| (name.to_vec(), items.into_iter().collect()))
                .collect(),
        })
    }
}

impl Source for EtcdBuckets {
    fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    fn bucket_name(&self, bucket: usize) -> &[u8] {
        &self.buckets[bucket].0
    }

    fn for_each(&self, bucket: usize, item: &mut ItemFn<'_>) -> Result<(), BoltError> {
        let (name, items) = &self.buckets[bucket];
        if name != KEY_BUCKET {
            for (key, value) in items {
                item(key, value)?;
            }
            return Ok(());
        }
        let mut start = Vec::new();
        loop {
            let chunk = self
                .view
                .scan_records(&start, SCAN_CHUNK_RECORDS)
                .map_err(|e| BoltError::Source(e.to_string()))?;
            for (key, value) in &chunk {
                item(key, value)?;
            }
            match chunk.last() {
                Some((last, _)) if chunk.len() == SCAN_CHUNK_RECORDS => {
                    start.clone_from(last);
                    start.push(0);
                }
                _ => return Ok(()),
            }
        }
    }
}

/// The alarm a meta key of the applier records, if it is one.
fn alarm_of(key: &[u8]) -> Option<pb::AlarmMember> {
    let rest = key.strip_prefix(own::ALARM)?;
    let member_id = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
    let alarm = i32::from_be_bytes(rest.get(8..)?.try_into().ok()?);
    Some(pb::AlarmMember { member_id, alarm })
}

/// etcd's `Hash`: a CRC-32C (Castagnoli) over every bucket in name order: its name, then
/// each key and value, except the meta entries that may differ between members for the
/// same data (etcd 3.5's `DefaultIgnores`: `consistent_index` and `term`).
pub fn hash(source: &dyn Source) -> Result<u32, BoltError> {
    let mut crc = 0;
    for bucket in 0..source.bucket_count() {
        let name = source.bucket_name(bucket);
        crc = crate::storage::crc32c_update(crc, name);
        let meta = name == META_BUCKET;
        source.for_each(bucket, &mut |key, value| {
            if meta && (key == meta::CONSISTENT_INDEX || key == meta::TERM) {
                return Ok(());
            }
            crc = crate::storage::crc32c_update(crc, key);
            crc = crate::storage::crc32c_update(crc, value);
            Ok(())
        })?;
    }
    Ok(crc)
}

/// A member as Go's `encoding/json` marshals etcd's `membership.Member` (fields in
/// declaration order; `isLearner`, `name` and `clientURLs` omitted when empty; no peer
/// URLs is `null`).
fn member_json(member: &MemberEntry, published: Option<&pb::MemberAttributes>) -> String {
    let list = |urls: &[String]| {
        let items: Vec<String> = urls.iter().map(|u| go_json_string(u)).collect();
        format!("[{}]", items.join(","))
    };
    let mut out = format!("{{\"id\":{}", member.id);
    out.push_str(",\"peerURLs\":");
    if member.peer_urls.is_empty() {
        out.push_str("null");
    } else {
        out.push_str(&list(&member.peer_urls));
    }
    if member.is_learner {
        out.push_str(",\"isLearner\":true");
    }
    if let Some(published) = published {
        if !published.name.is_empty() {
            out.push_str(",\"name\":");
            out.push_str(&go_json_string(&published.name));
        }
        if !published.client_urls.is_empty() {
            out.push_str(",\"clientURLs\":");
            out.push_str(&list(&published.client_urls));
        }
    }
    out.push('}');
    out
}

/// A string as Go's `encoding/json` writes it (HTML-safe: `<`, `>` and `&` escaped).
fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets_of(source: &EtcdBuckets) -> Vec<(String, Vec<Record>)> {
        (0..source.bucket_count())
            .map(|b| {
                let mut items = Vec::new();
                source
                    .for_each(b, &mut |k, v| {
                        items.push((k.to_vec(), v.to_vec()));
                        Ok(())
                    })
                    .unwrap();
                (
                    String::from_utf8_lossy(source.bucket_name(b)).into_owned(),
                    items,
                )
            })
            .collect()
    }

    fn view(records: Vec<Record>, meta: Vec<Record>) -> Box<dyn BackendView> {
        let mut backend = crate::mvcc::MemBackend::new();
        let mut batch = crate::mvcc::WriteBatch::new();
        for (k, v) in records {
            batch.put_record(k, v);
        }
        for (k, v) in meta {
            batch.set_meta(&k, v);
        }
        crate::mvcc::Backend::commit(&mut backend, batch).unwrap();
        crate::mvcc::Backend::view(&backend).unwrap()
    }

    #[test]
    fn the_stores_entries_land_in_etcds_buckets() {
        let lease = crate::lease::encode_lease(&crate::lease::Lease {
            id: 7,
            ttl_secs: 100,
            remaining_ttl_secs: 0,
        });
        let mut alarm_key = own::ALARM.to_vec();
        alarm_key.extend_from_slice(&0u64.to_be_bytes());
        alarm_key.extend_from_slice(&(pb::AlarmType::Corrupt as i32).to_be_bytes());
        let mut attributes_key = own::MEMBER_ATTRIBUTES.to_vec();
        attributes_key.extend_from_slice(&0x2e12u64.to_be_bytes());
        let attributes = pb::MemberAttributes {
            id: 0x2e12,
            name: "e".into(),
            client_urls: vec!["http://127.0.0.1:23790".into()],
        };
        let source = EtcdBuckets::new(
            view(
                vec![(b"rec".to_vec(), b"kv".to_vec())],
                vec![
                    (meta::CONSISTENT_INDEX.to_vec(), 9u64.to_be_bytes().to_vec()),
                    (crate::lease::meta_key(7), lease.clone()),
                    (own::LEASE_IDS.to_vec(), 7u64.to_be_bytes().to_vec()),
                    (alarm_key, Vec::new()),
                    (attributes_key, attributes.encode_to_vec()),
                    (b"something_new".to_vec(), b"x".to_vec()),
                ],
            ),
            &[
                MemberEntry {
                    id: 0x2e12,
                    peer_urls: vec!["http://127.0.0.1:23800".into()],
                    is_learner: false,
                },
                MemberEntry {
                    id: 0xab,
                    peer_urls: vec!["http://a<b>&c".into()],
                    is_learner: true,
                },
            ],
            "3.5.0",
        )
        .unwrap();
        let s = |x: &str| x.as_bytes().to_vec();
        assert_eq!(
            buckets_of(&source),
            vec![
                ("alarm".into(), vec![(vec![0x10, 0x02], vec![])]),
                (
                    "auth".into(),
                    vec![(s("authRevision"), vec![0, 0, 0, 0, 0, 0, 0, 1])]
                ),
                ("authRoles".into(), vec![]),
                ("authUsers".into(), vec![]),
                ("cluster".into(), vec![(s("clusterVersion"), s("3.5.0"))]),
                ("etcdrs".into(), vec![(s("something_new"), s("x"))]),
                ("key".into(), vec![(s("rec"), s("kv"))]),
                ("lease".into(), vec![(7u64.to_be_bytes().to_vec(), lease)]),
                (
                    "members".into(),
                    vec![
                        (
                            s("2e12"),
                            s(concat!(
                                r#"{"id":11794,"peerURLs":["http://127.0.0.1:23800"],"#,
                                r#""name":"e","clientURLs":["http://127.0.0.1:23790"]}"#
                            ))
                        ),
                        (
                            s("ab"),
                            s(
                                r#"{"id":171,"peerURLs":["http://a\u003cb\u003e\u0026c"],"isLearner":true}"#
                            )
                        ),
                    ]
                ),
                ("members_removed".into(), vec![]),
                (
                    "meta".into(),
                    vec![(s("consistent_index"), 9u64.to_be_bytes().to_vec())]
                ),
            ]
        );
    }

    #[test]
    fn the_auth_store_lands_in_etcds_auth_buckets() {
        let mut store = crate::auth::AuthStore::default();
        store.user_add("root", "$2b$04$hash", false).unwrap();
        store.user_grant_role("root", "root").unwrap();
        store.role_add("reader").unwrap();
        store.enable().unwrap();
        let source = EtcdBuckets::new(
            view(
                Vec::new(),
                vec![(crate::auth::store::AUTH_META.to_vec(), store.encode())],
            ),
            &[],
            "3.5.0",
        )
        .unwrap();
        let buckets = buckets_of(&source);
        let bucket = |name: &str| {
            buckets
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, items)| items.clone())
                .unwrap()
        };
        assert_eq!(
            bucket("auth"),
            vec![
                (b"authEnabled".to_vec(), vec![1]),
                (b"authRevision".to_vec(), 4u64.to_be_bytes().to_vec()),
            ]
        );
        let users = bucket("authUsers");
        assert_eq!(users.len(), 1);
        let root = crate::pb::authpb::User::decode(users[0].1.as_slice()).unwrap();
        assert_eq!(
            (root.name, root.password, root.roles),
            (
                b"root".to_vec(),
                b"$2b$04$hash".to_vec(),
                vec!["root".to_string()]
            )
        );
        assert_eq!(bucket("authRoles")[0].0, b"reader".to_vec());
        // Nothing of it is left in this project's own bucket.
        assert!(!buckets.iter().any(|(n, _)| n == "etcdrs"));
    }

    #[test]
    fn the_hash_leaves_out_what_may_differ_between_members_with_the_same_data() {
        let at = |index: u64, term: u64, value: &[u8]| {
            let source = EtcdBuckets::new(
                view(
                    vec![(b"rec".to_vec(), value.to_vec())],
                    vec![
                        (
                            meta::CONSISTENT_INDEX.to_vec(),
                            index.to_be_bytes().to_vec(),
                        ),
                        (meta::TERM.to_vec(), term.to_be_bytes().to_vec()),
                    ],
                ),
                &[],
                "3.5.0",
            )
            .unwrap();
            hash(&source).unwrap()
        };
        assert_eq!(at(5, 2, b"v"), at(9, 3, b"v"));
        assert_ne!(at(5, 2, b"v"), at(5, 2, b"w"));
    }

    #[test]
    fn the_key_bucket_is_read_in_chunks_and_whole() {
        let records: Vec<Record> = (0..(2 * SCAN_CHUNK_RECORDS + 3) as u32)
            .map(|i| (i.to_be_bytes().to_vec(), vec![1]))
            .collect();
        let source = EtcdBuckets::new(view(records.clone(), vec![]), &[], "3.5.0").unwrap();
        let all = buckets_of(&source);
        let key = all.iter().find(|(name, _)| name == "key").unwrap();
        assert_eq!(key.1, records);
    }

    #[test]
    fn json_strings_are_escaped_as_go_escapes_them() {
        assert_eq!(
            go_json_string("a\"b\\c\n\u{1}<é"),
            r#""a\"b\\c\n\u0001\u003cé""#
        );
    }
}
