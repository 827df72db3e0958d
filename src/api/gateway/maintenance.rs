//! The Maintenance service's Status as JSON.

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use super::kv::header;
use crate::pb::etcdserverpb as pb;

/// A `StatusRequest`: no fields, but the body must still be well-formed.
pub fn status_request(_: &Fields<'_>) -> Result<pb::StatusRequest, DecodeError> {
    Ok(pb::StatusRequest {})
}

/// A `StatusResponse` (the fields after `isLearner` are etcd 3.5's).
pub fn status_response(r: &pb::StatusResponse) -> String {
    let downgrade = r.downgrade_info.as_ref().map(|d| {
        Object::new()
            .boolean("enabled", d.enabled)
            .string("targetVersion", &d.target_version)
            .finish()
    });
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .string("version", &r.version)
        .int64("dbSize", r.db_size)
        .uint64("leader", r.leader)
        .uint64("raftIndex", r.raft_index)
        .uint64("raftTerm", r.raft_term)
        .uint64("raftAppliedIndex", r.raft_applied_index)
        .strings("errors", &r.errors)
        .int64("dbSizeInUse", r.db_size_in_use)
        .boolean("isLearner", r.is_learner)
        .string("storageVersion", &r.storage_version)
        .int64("dbSizeQuota", r.db_size_quota)
        .message("downgradeInfo", downgrade)
        .finish()
}
