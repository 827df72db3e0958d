//! The Cluster service's MemberList as JSON.

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use super::kv::header;
use crate::pb::etcdserverpb as pb;

/// A `MemberListRequest` (`linearizable` is etcd 3.5's; 3.4 ignores it).
pub fn member_list_request(f: &Fields<'_>) -> Result<pb::MemberListRequest, DecodeError> {
    Ok(pb::MemberListRequest {
        linearizable: f.boolean("linearizable", "linearizable")?,
    })
}

fn member(m: &pb::Member) -> String {
    Object::new()
        .uint64("ID", m.id)
        .string("name", &m.name)
        .strings("peerURLs", &m.peer_ur_ls)
        .strings("clientURLs", &m.client_ur_ls)
        .boolean("isLearner", m.is_learner)
        .finish()
}

/// A `MemberListResponse`.
pub fn member_list_response(r: &pb::MemberListResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .array("members", r.members.iter().map(member).collect())
        .finish()
}
