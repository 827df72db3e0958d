//! The Maintenance service's messages as JSON: Status, Alarm, Defragment, MoveLeader
//! (`/v3/maintenance/transfer-leadership`), Hash, HashKV and Snapshot (a stream, see
//! [`super::stream`]).
//!
//! etcd 3.4's Alarm, Defragment and MoveLeader answers carry no header (its servers
//! never fill one in), and so do these, whatever header the service gives: a client
//! reading the JSON gets the same bytes as from etcd 3.4.

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use super::kv::header;
use crate::pb::etcdserverpb::{self as pb, alarm_request::AlarmAction};

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

/// An `AlarmRequest`: the action and the alarm by name or number.
pub fn alarm_request(f: &Fields<'_>) -> Result<pb::AlarmRequest, DecodeError> {
    Ok(pb::AlarmRequest {
        action: f.enumeration(
            "action",
            "action",
            "etcdserverpb.AlarmRequest_AlarmAction",
            |name| AlarmAction::from_str_name(name).map(|v| v as i32),
        )?,
        member_id: f.uint64("memberID", "memberID")?,
        alarm: f.enumeration("alarm", "alarm", "etcdserverpb.AlarmType", |name| {
            pb::AlarmType::from_str_name(name).map(|v| v as i32)
        })?,
    })
}

fn alarm_type_name(value: i32) -> Option<&'static str> {
    pb::AlarmType::try_from(value).ok().map(|t| t.as_str_name())
}

/// An `AlarmResponse`, without its header as etcd 3.4 answers it.
pub fn alarm_response(r: &pb::AlarmResponse) -> String {
    let alarms = r
        .alarms
        .iter()
        .map(|a| {
            Object::new()
                .uint64("memberID", a.member_id)
                .enumeration("alarm", a.alarm, alarm_type_name)
                .finish()
        })
        .collect();
    Object::new().array("alarms", alarms).finish()
}

/// A `DefragmentRequest`: no fields, but the body must still be well-formed.
pub fn defragment_request(_: &Fields<'_>) -> Result<pb::DefragmentRequest, DecodeError> {
    Ok(pb::DefragmentRequest {})
}

/// A `DefragmentResponse`: `{}`, as etcd 3.4 answers it.
pub fn defragment_response(_: &pb::DefragmentResponse) -> String {
    Object::new().finish()
}

/// A `MoveLeaderRequest`.
pub fn move_leader_request(f: &Fields<'_>) -> Result<pb::MoveLeaderRequest, DecodeError> {
    Ok(pb::MoveLeaderRequest {
        target_id: f.uint64("targetID", "targetID")?,
    })
}

/// A `MoveLeaderResponse`: `{}`, as etcd 3.4 answers it.
pub fn move_leader_response(_: &pb::MoveLeaderResponse) -> String {
    Object::new().finish()
}

/// A `HashKVRequest`.
pub fn hash_kv_request(f: &Fields<'_>) -> Result<pb::HashKvRequest, DecodeError> {
    Ok(pb::HashKvRequest {
        revision: f.int64("revision", "revision")?,
    })
}

/// A `HashKVResponse` (`hash_revision` is etcd 3.5's).
pub fn hash_kv_response(r: &pb::HashKvResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .uint32("hash", r.hash)
        .int64("compact_revision", r.compact_revision)
        .int64("hash_revision", r.hash_revision)
        .finish()
}

/// A `HashRequest`: no fields (etcd 3.4 serves Hash on `/v3/maintenance/hash`, where
/// HashKV is declared too: a `revision` there is an unknown field, skipped).
pub fn hash_request(_: &Fields<'_>) -> Result<pb::HashRequest, DecodeError> {
    Ok(pb::HashRequest {})
}

/// A `HashResponse`: the header (at the revision hashed) and the hash, a number.
pub fn hash_response(r: &pb::HashResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .uint32("hash", r.hash)
        .finish()
}

/// A `SnapshotRequest`: no fields, but the body must still be well-formed.
pub fn snapshot_request(_: &Fields<'_>) -> Result<pb::SnapshotRequest, DecodeError> {
    Ok(pb::SnapshotRequest {})
}

/// A `SnapshotResponse`: one chunk of the file. etcd 3.4's server fills in neither the
/// header nor the version (3.5's), so its chunks are `{"remaining_bytes":"N","blob":B}`,
/// and the last one of the file and the SHA-256 trailer after it have no
/// `remaining_bytes` (0).
pub fn snapshot_response(r: &pb::SnapshotResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .uint64("remaining_bytes", r.remaining_bytes)
        .bytes("blob", &r.blob)
        .string("version", &r.version)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::super::jsonpb::fields;
    use super::*;

    #[test]
    fn reads_alarm_requests_by_name_or_number() {
        let request =
            alarm_request(&fields(r#"{"action":"ACTIVATE","memberID":"7","alarm":2}"#)).unwrap();
        assert_eq!(
            (request.action, request.member_id, request.alarm),
            (1, 7, 2)
        );
        // The action is read first, whatever the order in the body.
        assert_eq!(
            alarm_request(&fields(r#"{"alarm":"BAD","action":"BAD"}"#)).unwrap_err(),
            r#"unknown value "BAD" for enum etcdserverpb.AlarmRequest_AlarmAction"#
        );
        assert_eq!(
            alarm_request(&fields(r#"{"alarm":"BAD","memberID":"x"}"#)).unwrap_err(),
            "invalid character 'x' looking for beginning of value"
        );
    }

    #[test]
    fn writes_alarms_without_a_header_as_etcd_3_4_does() {
        let response = pb::AlarmResponse {
            header: Some(pb::ResponseHeader::default()),
            alarms: vec![
                pb::AlarmMember {
                    member_id: 7_383_792_418_829_112_008,
                    alarm: pb::AlarmType::Nospace as i32,
                },
                pb::AlarmMember {
                    member_id: 1,
                    alarm: 9,
                },
            ],
        };
        assert_eq!(
            alarm_response(&response),
            r#"{"alarms":[{"memberID":"7383792418829112008","alarm":"NOSPACE"},{"memberID":"1","alarm":9}]}"#
        );
        assert_eq!(alarm_response(&pb::AlarmResponse::default()), "{}");
    }

    #[test]
    fn writes_hash_and_snapshot_answers_as_etcd_3_4_does() {
        let hash = pb::HashResponse {
            header: Some(pb::ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 3,
                raft_term: 4,
            }),
            hash: 2_716_588_411,
        };
        assert_eq!(
            hash_response(&hash),
            r#"{"header":{"cluster_id":"1","member_id":"2","revision":"3","raft_term":"4"},"hash":2716588411}"#
        );
        let chunk = pb::SnapshotResponse {
            remaining_bytes: 176_128,
            blob: b"\0\0\x04".to_vec(),
            ..Default::default()
        };
        assert_eq!(
            snapshot_response(&chunk),
            r#"{"remaining_bytes":"176128","blob":"AAAE"}"#
        );
        let trailer = pb::SnapshotResponse {
            blob: vec![0xff; 2],
            ..Default::default()
        };
        assert_eq!(snapshot_response(&trailer), r#"{"blob":"//8="}"#);
    }
}
