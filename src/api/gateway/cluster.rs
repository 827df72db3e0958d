//! The Cluster service's messages as JSON: MemberList and the membership changes (add,
//! remove, update, promote). The proto names its fields `ID`, `peerURLs`, `isLearner`,
//! so those are also their JSON names (`is_learner` is an unknown field).
//!
//! etcd 3.4's answers carry a header without a revision, and list the members sorted by
//! id; a member that has not started yet has no name and no client URLs.

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

/// A `MemberAddRequest`.
pub fn member_add_request(f: &Fields<'_>) -> Result<pb::MemberAddRequest, DecodeError> {
    Ok(pb::MemberAddRequest {
        peer_ur_ls: f.strings("peerURLs", "peerURLs")?,
        is_learner: f.boolean("isLearner", "isLearner")?,
    })
}

/// A `MemberRemoveRequest`.
pub fn member_remove_request(f: &Fields<'_>) -> Result<pb::MemberRemoveRequest, DecodeError> {
    Ok(pb::MemberRemoveRequest {
        id: f.uint64("ID", "ID")?,
    })
}

/// A `MemberUpdateRequest`.
pub fn member_update_request(f: &Fields<'_>) -> Result<pb::MemberUpdateRequest, DecodeError> {
    Ok(pb::MemberUpdateRequest {
        id: f.uint64("ID", "ID")?,
        peer_ur_ls: f.strings("peerURLs", "peerURLs")?,
    })
}

/// A `MemberPromoteRequest`.
pub fn member_promote_request(f: &Fields<'_>) -> Result<pb::MemberPromoteRequest, DecodeError> {
    Ok(pb::MemberPromoteRequest {
        id: f.uint64("ID", "ID")?,
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

fn members(ms: &[pb::Member]) -> Vec<String> {
    ms.iter().map(member).collect()
}

/// A `MemberListResponse`.
pub fn member_list_response(r: &pb::MemberListResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .array("members", members(&r.members))
        .finish()
}

/// A `MemberAddResponse`: the new member, then all of them.
pub fn member_add_response(r: &pb::MemberAddResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .message("member", r.member.as_ref().map(member))
        .array("members", members(&r.members))
        .finish()
}

/// A `MemberRemoveResponse`: the members left.
pub fn member_remove_response(r: &pb::MemberRemoveResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .array("members", members(&r.members))
        .finish()
}

/// A `MemberUpdateResponse`.
pub fn member_update_response(r: &pb::MemberUpdateResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .array("members", members(&r.members))
        .finish()
}

/// A `MemberPromoteResponse`.
pub fn member_promote_response(r: &pb::MemberPromoteResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .array("members", members(&r.members))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::super::jsonpb::fields;
    use super::*;

    #[test]
    fn reads_membership_requests_under_their_proto_names() {
        let add = member_add_request(&fields(
            r#"{"peerURLs":["http://a:1"],"isLearner":true,"is_learner":false}"#,
        ))
        .unwrap();
        assert_eq!(add.peer_ur_ls, ["http://a:1"]);
        assert!(add.is_learner);
        // `peer_ur_ls` or `id` are no names of these fields.
        let update =
            member_update_request(&fields(r#"{"ID":"7","id":"8","peer_ur_ls":["x"]}"#)).unwrap();
        assert_eq!((update.id, update.peer_ur_ls.len()), (7, 0));
        // Fields are read in declaration order: the ID's error comes first.
        assert_eq!(
            member_update_request(&fields(r#"{"peerURLs":"x","ID":"abc"}"#)).unwrap_err(),
            "invalid character 'a' looking for beginning of value"
        );
    }

    #[test]
    fn writes_a_member_add_response_as_etcd_does() {
        let learner = pb::Member {
            id: 15_092_419_251_233_372_298,
            peer_ur_ls: vec!["http://127.0.0.1:42390".to_string()],
            is_learner: true,
            ..Default::default()
        };
        let response = pb::MemberAddResponse {
            header: Some(pb::ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 0,
                raft_term: 2,
            }),
            member: Some(learner.clone()),
            members: vec![learner],
        };
        let learner_json = r#"{"ID":"15092419251233372298","peerURLs":["http://127.0.0.1:42390"],"isLearner":true}"#;
        assert_eq!(
            member_add_response(&response),
            format!(
                r#"{{"header":{{"cluster_id":"1","member_id":"2","raft_term":"2"}},"member":{learner_json},"members":[{learner_json}]}}"#
            )
        );
    }
}
