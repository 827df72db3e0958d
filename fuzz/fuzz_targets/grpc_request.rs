//! Requests as the gRPC server receives them: the message's protobuf bytes decoded with
//! prost (as tonic decodes them), for every request message the services take, picked
//! by the first input byte. Then what the server does with a decoded request that needs
//! no running member:
//! - KV requests: the KV service's conversion and checks (`server::convert`, `validate`),
//!   then, if they pass, the execution on a small MVCC store in memory, as the applier
//!   executes the committed request (see `etcd_rs_fuzz::serve_kv`);
//! - `InternalRaftRequest` (a raft log entry's data): the applier's execution, with no
//!   checks before it (see `etcd_rs_fuzz::apply`).
//!
//! The other services' requests are only decoded: their handling is in actors (the
//! WatchHub, the Lessor's and the cluster's) that need a running member.

#![no_main]

use etcd_rs::pb::etcdserverpb as pb;
use etcd_rs::pb::{v3electionpb as election, v3lockpb as lock};
use etcd_rs_fuzz::{KvRequest, Member, apply, serve_kv};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % 32 {
        0 => {
            if let Ok(r) = pb::RangeRequest::decode(bytes) {
                serve_kv(&mut Member::new(), KvRequest::Range(&r));
            }
        }
        1 => {
            if let Ok(r) = pb::PutRequest::decode(bytes) {
                serve_kv(&mut Member::new(), KvRequest::Put(&r));
            }
        }
        2 => {
            if let Ok(r) = pb::DeleteRangeRequest::decode(bytes) {
                serve_kv(&mut Member::new(), KvRequest::DeleteRange(&r));
            }
        }
        // Txns and raft log requests get three values each: they reach the most code.
        3..=5 => {
            if let Ok(r) = pb::TxnRequest::decode(bytes) {
                serve_kv(&mut Member::new(), KvRequest::Txn(&r));
            }
        }
        6 => {
            if let Ok(r) = pb::CompactionRequest::decode(bytes) {
                serve_kv(&mut Member::new(), KvRequest::Compact(&r));
            }
        }
        7..=9 => {
            if let Ok(r) = pb::InternalRaftRequest::decode(bytes) {
                apply(&mut Member::new(), &r);
            }
        }
        10 => drop(pb::WatchRequest::decode(bytes)),
        11 => drop(pb::LeaseGrantRequest::decode(bytes)),
        12 => drop(pb::LeaseRevokeRequest::decode(bytes)),
        13 => drop(pb::LeaseKeepAliveRequest::decode(bytes)),
        14 => drop(pb::LeaseTimeToLiveRequest::decode(bytes)),
        15 => drop(pb::LeaseLeasesRequest::decode(bytes)),
        16 => drop(pb::MemberAddRequest::decode(bytes)),
        17 => drop(pb::MemberRemoveRequest::decode(bytes)),
        18 => drop(pb::MemberUpdateRequest::decode(bytes)),
        19 => drop(pb::MemberListRequest::decode(bytes)),
        20 => drop(pb::MemberPromoteRequest::decode(bytes)),
        21 => drop(pb::AlarmRequest::decode(bytes)),
        22 => drop(pb::StatusRequest::decode(bytes)),
        23 => drop(pb::HashRequest::decode(bytes)),
        24 => drop(pb::HashKvRequest::decode(bytes)),
        25 => drop(pb::MoveLeaderRequest::decode(bytes)),
        26 => drop(pb::DefragmentRequest::decode(bytes)),
        27 => drop(lock::LockRequest::decode(bytes)),
        28 => drop(lock::UnlockRequest::decode(bytes)),
        29 => drop(election::CampaignRequest::decode(bytes)),
        30 => drop(election::ProclaimRequest::decode(bytes)),
        _ => {
            drop(election::LeaderRequest::decode(bytes));
            drop(election::ResignRequest::decode(bytes));
            // The Auth service's requests: each is proposed as an InternalRaftRequest
            // (applied in 7..=9), so here they are only decoded.
            drop(pb::AuthenticateRequest::decode(bytes));
            drop(pb::AuthUserAddRequest::decode(bytes));
            drop(pb::AuthUserChangePasswordRequest::decode(bytes));
            drop(pb::AuthUserGrantRoleRequest::decode(bytes));
            drop(pb::AuthRoleGrantPermissionRequest::decode(bytes));
            drop(pb::AuthRoleRevokePermissionRequest::decode(bytes));
        }
    }
});
