//! What the fuzz targets share: a small member state (an MVCC store in memory and a
//! Lessor) and the steps the server takes with a decoded request, through the crate's
//! public functions:
//! - [`serve_kv`]: the KV service's checks on a client's request (`api/grpc/kv.rs`:
//!   `server::convert`, then `validate`), then, through its encoding in the raft log, its
//!   execution on the store, as the applier executes it once committed;
//! - [`apply`]: the applier's execution of a committed `InternalRaftRequest`
//!   (`server/applier.rs`, `Applier::apply`, without its actors): the auth checks of a
//!   client's request (`auth::apply::check_request`), then auth requests on the auth
//!   store (`auth::apply::apply_request`), KV requests on the store, lease requests on
//!   the Lessor.
//!
//! Every result is dropped: a target asserts only that nothing panics, hangs or
//! allocates without bound.

use etcd_rs::auth::apply::{apply_request, check_request};
use etcd_rs::auth::AuthStore;
use etcd_rs::lease::{Lessor, LessorConfig};
use etcd_rs::mvcc::{self, LeaseChange, MemBackend, MvccStore};
use etcd_rs::pb::etcdserverpb as pb;
use etcd_rs::server::convert;
use prost::Message;

/// The lease the member holds, with key `c` attached.
pub const LEASE: i64 = 7;

/// A member's state machine, small and in memory: keys `a`, `b` and `c` (on [`LEASE`])
/// written at revisions 2 to 5 (`b` twice), `a` deleted at 6, compacted at 3; auth
/// enabled, with users `root` and `alice`, who may read [a, c) and write `b`.
pub struct Member {
    /// The MVCC store.
    pub store: MvccStore<MemBackend>,
    /// The leases.
    pub lessor: Lessor,
    /// The applier's clock, in milliseconds.
    pub now_ms: u64,
    /// The auth store.
    pub auth: AuthStore,
}

impl Member {
    /// The member described on [`Member`].
    pub fn new() -> Member {
        let mut member = Member {
            store: MvccStore::open(MemBackend::new()).expect("a fresh store opens"),
            lessor: Lessor::new(LessorConfig::default()),
            now_ms: 1_000,
            auth: auth_store(),
        };
        member.lessor.promote(member.now_ms, 0);
        member
            .lessor
            .grant(LEASE, 60, member.now_ms)
            .expect("the lease is granted");
        for (key, value, lease) in [
            (&b"a"[..], &b"1"[..], 0),
            (b"b", b"2", 0),
            (b"b", b"3", 0),
            (b"c", b"4", LEASE),
        ] {
            let put = pb::PutRequest {
                key: key.to_vec(),
                value: value.to_vec(),
                lease,
                ..Default::default()
            };
            apply(
                &mut member,
                &pb::InternalRaftRequest {
                    put: Some(put),
                    ..Default::default()
                },
            );
        }
        let delete = pb::DeleteRangeRequest {
            key: b"a".to_vec(),
            ..Default::default()
        };
        for request in [
            pb::InternalRaftRequest {
                delete_range: Some(delete),
                ..Default::default()
            },
            pb::InternalRaftRequest {
                compaction: Some(pb::CompactionRequest {
                    revision: 3,
                    physical: true,
                }),
                ..Default::default()
            },
        ] {
            apply(&mut member, &request);
        }
        member
    }

    fn lease_changes(&mut self, changes: &[LeaseChange]) {
        self.lessor.apply_lease_changes(changes);
    }
}

impl Default for Member {
    fn default() -> Self {
        Member::new()
    }
}

/// A client's KV request, as the KV service and then the applier handle it.
pub enum KvRequest<'a> {
    /// `KV.Range` (served by the member itself, not through Raft).
    Range(&'a pb::RangeRequest),
    /// `KV.Put`.
    Put(&'a pb::PutRequest),
    /// `KV.DeleteRange`.
    DeleteRange(&'a pb::DeleteRangeRequest),
    /// `KV.Txn`.
    Txn(&'a pb::TxnRequest),
    /// `KV.Compact` (no checks before it is proposed).
    Compact(&'a pb::CompactionRequest),
}

/// The KV service's checks on `request` (etcd's default `--max-txn-ops`); a request
/// that passes them is executed on `member`, as the applier would once it is committed.
pub fn serve_kv(member: &mut Member, request: KvRequest<'_>) {
    let internal = |f: &dyn Fn(&mut pb::InternalRaftRequest)| {
        let mut internal = pb::InternalRaftRequest::default();
        f(&mut internal);
        internal
    };
    let proposal = match request {
        KvRequest::Range(r) => {
            if let Ok(range) = convert::range_request(r)
                && range.validate().is_ok()
            {
                let _ = member.store.range(&range);
            }
            return;
        }
        KvRequest::Put(p) => {
            if convert::put_request(p).validate().is_err() {
                return;
            }
            internal(&|i| i.put = Some(p.clone()))
        }
        KvRequest::DeleteRange(d) => {
            if convert::delete_request(d).validate().is_err() {
                return;
            }
            internal(&|i| i.delete_range = Some(d.clone()))
        }
        KvRequest::Txn(t) => {
            let checked =
                convert::txn_request(t).and_then(|txn| txn.validate(mvcc::DEFAULT_MAX_TXN_OPS));
            if checked.is_err() {
                return;
            }
            internal(&|i| i.txn = Some(t.clone()))
        }
        KvRequest::Compact(c) => internal(&|i| i.compaction = Some(*c)),
    };
    // Through the raft log: the applier decodes the entry's data, and skips an entry it
    // cannot decode.
    if let Ok(committed) = pb::InternalRaftRequest::decode(proposal.encode_to_vec().as_slice()) {
        apply(member, &committed);
    }
}

/// The applier's execution of a committed request (the first kind it holds, in the
/// applier's order), then the commit of the store's batch.
pub fn apply(member: &mut Member, request: &pb::InternalRaftRequest) {
    // As the applier: a client's request is checked against the auth store first.
    let lessor = &member.lessor;
    let lease_keys =
        |id: i64| -> Vec<Vec<u8>> { lessor.keys(id).into_iter().flatten().cloned().collect() };
    if check_request(&member.auth, request, &lease_keys).is_err() {
        return;
    }
    if apply_request(&mut member.auth, request).is_some() {
        return;
    }
    let lessor = &member.lessor;
    let leases = |id: i64| lessor.contains(id);
    if let Some(put) = &request.put {
        if let Ok(applied) = member.store.put(&convert::put_request(put), &leases) {
            member.lease_changes(&applied.lease_changes);
        }
    } else if let Some(delete) = &request.delete_range {
        if let Ok(applied) = member.store.delete_range(&convert::delete_request(delete)) {
            member.lease_changes(&applied.lease_changes);
        }
    } else if let Some(txn) = &request.txn {
        if let Ok(txn) = convert::txn_request(txn)
            && let Ok(applied) = member.store.txn(&txn, &leases)
        {
            member.lease_changes(&applied.lease_changes);
        }
    } else if let Some(compaction) = &request.compaction {
        let _ = member
            .store
            .compact(&convert::compaction_request(compaction));
    } else if let Some(grant) = &request.lease_grant {
        let _ = member.lessor.grant(grant.id, grant.ttl, member.now_ms);
    } else if let Some(revoke) = &request.lease_revoke {
        if let Ok(keys) = member.lessor.revoke(revoke.id)
            && !keys.is_empty()
        {
            // As the applier's revoke: every key of the lease in one revision.
            let txn = mvcc::TxnRequest::delete_keys(keys);
            if let Ok(applied) = member.store.txn(&txn, &|_| false) {
                member.lease_changes(&applied.lease_changes);
            }
        }
    } else if let Some(checkpoint) = &request.lease_checkpoint {
        for c in &checkpoint.checkpoints {
            member.lessor.checkpoint(c.id, c.remaining_ttl);
        }
    }
    let _ = member.store.commit();
}

/// The auth store of [`Member`].
fn auth_store() -> AuthStore {
    use etcd_rs::pb::authpb::{Permission, permission::Type};
    let mut auth = AuthStore::default();
    let grant = |kind: Type, key: &[u8], range_end: &[u8]| Permission {
        perm_type: kind as i32,
        key: key.to_vec(),
        range_end: range_end.to_vec(),
    };
    let steps: [&dyn Fn(&mut AuthStore) -> Result<(), etcd_rs::auth::AuthError>; 7] = [
        &|a| a.user_add("root", "", false),
        &|a| a.user_grant_role("root", "root"),
        &|a| a.user_add("alice", "", false),
        &|a| a.role_add("reader"),
        &|a| a.role_grant_permission("reader", Some(&grant(Type::Read, b"a", b"c"))),
        &|a| a.role_grant_permission("reader", Some(&grant(Type::Write, b"b", b""))),
        &|a| a.user_grant_role("alice", "reader"),
    ];
    for step in steps {
        step(&mut auth).expect("the auth store is set up");
    }
    auth.enable().expect("auth is enabled");
    auth
}
