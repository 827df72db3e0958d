//! The KV service's messages as JSON: requests read with [`super::jsonpb`], responses
//! written with [`super::encode`], field by field in the proto's declaration order.

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use crate::pb::etcdserverpb::{self as pb, compare, range_request};
use crate::pb::mvccpb;

/// How deep txns may nest in a request: the KV service's bound (see there).
pub use crate::api::grpc::kv::TXN_NESTING_MAX;

/// A `RangeRequest`.
pub fn range_request(f: &Fields<'_>) -> Result<pb::RangeRequest, DecodeError> {
    use range_request::{SortOrder, SortTarget};
    Ok(pb::RangeRequest {
        key: f.bytes("key", "key")?,
        range_end: f.bytes("range_end", "rangeEnd")?,
        limit: f.int64("limit", "limit")?,
        revision: f.int64("revision", "revision")?,
        sort_order: f.enumeration(
            "sort_order",
            "sortOrder",
            "etcdserverpb.RangeRequest_SortOrder",
            |name| SortOrder::from_str_name(name).map(|v| v as i32),
        )?,
        sort_target: f.enumeration(
            "sort_target",
            "sortTarget",
            "etcdserverpb.RangeRequest_SortTarget",
            |name| SortTarget::from_str_name(name).map(|v| v as i32),
        )?,
        serializable: f.boolean("serializable", "serializable")?,
        keys_only: f.boolean("keys_only", "keysOnly")?,
        count_only: f.boolean("count_only", "countOnly")?,
        min_mod_revision: f.int64("min_mod_revision", "minModRevision")?,
        max_mod_revision: f.int64("max_mod_revision", "maxModRevision")?,
        min_create_revision: f.int64("min_create_revision", "minCreateRevision")?,
        max_create_revision: f.int64("max_create_revision", "maxCreateRevision")?,
    })
}

/// A `PutRequest`.
pub fn put_request(f: &Fields<'_>) -> Result<pb::PutRequest, DecodeError> {
    Ok(pb::PutRequest {
        key: f.bytes("key", "key")?,
        value: f.bytes("value", "value")?,
        lease: f.int64("lease", "lease")?,
        prev_kv: f.boolean("prev_kv", "prevKv")?,
        ignore_value: f.boolean("ignore_value", "ignoreValue")?,
        ignore_lease: f.boolean("ignore_lease", "ignoreLease")?,
    })
}

/// A `DeleteRangeRequest`.
pub fn delete_range_request(f: &Fields<'_>) -> Result<pb::DeleteRangeRequest, DecodeError> {
    Ok(pb::DeleteRangeRequest {
        key: f.bytes("key", "key")?,
        range_end: f.bytes("range_end", "rangeEnd")?,
        prev_kv: f.boolean("prev_kv", "prevKv")?,
    })
}

/// A `CompactionRequest`.
pub fn compaction_request(f: &Fields<'_>) -> Result<pb::CompactionRequest, DecodeError> {
    Ok(pb::CompactionRequest {
        revision: f.int64("revision", "revision")?,
        physical: f.boolean("physical", "physical")?,
    })
}

/// A `TxnRequest`, its nested txns at most `TXN_NESTING_MAX` deep.
pub fn txn_request(f: &Fields<'_>) -> Result<pb::TxnRequest, DecodeError> {
    txn_request_at(f, 0)
}

fn txn_request_at(f: &Fields<'_>, depth: usize) -> Result<pb::TxnRequest, DecodeError> {
    if depth > TXN_NESTING_MAX {
        return Err(format!(
            "etcd-rs: txns nested more than {TXN_NESTING_MAX} deep"
        ));
    }
    let op = |f: Fields<'_>| request_op(&f, depth);
    Ok(pb::TxnRequest {
        compare: f.repeated("compare", "compare", |f| compare(&f))?,
        success: f.repeated("success", "success", op)?,
        failure: f.repeated("failure", "failure", op)?,
    })
}

/// A `RequestOp`: its `request` oneof, given under one of the members' names. jsonpb
/// reads the members of a oneof in no fixed order; here the last one named in the proto
/// wins when a body gives several.
fn request_op(f: &Fields<'_>, depth: usize) -> Result<pb::RequestOp, DecodeError> {
    use pb::request_op::Request;
    let mut request = None;
    if let Some(r) = f.message("request_range", "requestRange", |f| range_request(&f))? {
        request = Some(Request::RequestRange(r));
    }
    if let Some(r) = f.message("request_put", "requestPut", |f| put_request(&f))? {
        request = Some(Request::RequestPut(r));
    }
    if let Some(r) = f.message("request_delete_range", "requestDeleteRange", |f| {
        delete_range_request(&f)
    })? {
        request = Some(Request::RequestDeleteRange(r));
    }
    if let Some(r) = f.message("request_txn", "requestTxn", |f| {
        txn_request_at(&f, depth + 1)
    })? {
        request = Some(Request::RequestTxn(r));
    }
    Ok(pb::RequestOp { request })
}

/// A `Compare`. A member of the `target_union` oneof given as `null` is set to zero, as
/// jsonpb does.
fn compare(f: &Fields<'_>) -> Result<pb::Compare, DecodeError> {
    use compare::{CompareResult, CompareTarget, TargetUnion};
    let result = f.enumeration(
        "result",
        "result",
        "etcdserverpb.Compare_CompareResult",
        |name| CompareResult::from_str_name(name).map(|v| v as i32),
    )?;
    let target = f.enumeration(
        "target",
        "target",
        "etcdserverpb.Compare_CompareTarget",
        |name| CompareTarget::from_str_name(name).map(|v| v as i32),
    )?;
    let key = f.bytes("key", "key")?;
    let range_end = f.bytes("range_end", "rangeEnd")?;
    let mut target_union = None;
    if f.get("version", "version").is_some() {
        target_union = Some(TargetUnion::Version(f.int64("version", "version")?));
    }
    if f.get("create_revision", "createRevision").is_some() {
        let v = f.int64("create_revision", "createRevision")?;
        target_union = Some(TargetUnion::CreateRevision(v));
    }
    if f.get("mod_revision", "modRevision").is_some() {
        let v = f.int64("mod_revision", "modRevision")?;
        target_union = Some(TargetUnion::ModRevision(v));
    }
    if f.get("value", "value").is_some() {
        target_union = Some(TargetUnion::Value(f.bytes("value", "value")?));
    }
    if f.get("lease", "lease").is_some() {
        target_union = Some(TargetUnion::Lease(f.int64("lease", "lease")?));
    }
    Ok(pb::Compare {
        result,
        target,
        key,
        target_union,
        range_end,
    })
}

/// A `ResponseHeader`.
pub fn header(h: &pb::ResponseHeader) -> String {
    Object::new()
        .uint64("cluster_id", h.cluster_id)
        .uint64("member_id", h.member_id)
        .int64("revision", h.revision)
        .uint64("raft_term", h.raft_term)
        .finish()
}

/// A stored key-value (`mvccpb.KeyValue`).
pub fn key_value(kv: &mvccpb::KeyValue) -> String {
    Object::new()
        .bytes("key", &kv.key)
        .int64("create_revision", kv.create_revision)
        .int64("mod_revision", kv.mod_revision)
        .int64("version", kv.version)
        .bytes("value", &kv.value)
        .int64("lease", kv.lease)
        .finish()
}

/// A `RangeResponse`.
pub fn range_response(r: &pb::RangeResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .array("kvs", r.kvs.iter().map(key_value).collect())
        .boolean("more", r.more)
        .int64("count", r.count)
        .finish()
}

/// A `PutResponse`.
pub fn put_response(r: &pb::PutResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .message("prev_kv", r.prev_kv.as_ref().map(key_value))
        .finish()
}

/// A `DeleteRangeResponse`.
pub fn delete_range_response(r: &pb::DeleteRangeResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .int64("deleted", r.deleted)
        .array("prev_kvs", r.prev_kvs.iter().map(key_value).collect())
        .finish()
}

/// A `TxnResponse`.
pub fn txn_response(r: &pb::TxnResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .boolean("succeeded", r.succeeded)
        .array("responses", r.responses.iter().map(response_op).collect())
        .finish()
}

fn response_op(op: &pb::ResponseOp) -> String {
    use pb::response_op::Response;
    let mut object = Object::new();
    match &op.response {
        None => {}
        Some(Response::ResponseRange(r)) => {
            object.message("response_range", Some(range_response(r)));
        }
        Some(Response::ResponsePut(r)) => {
            object.message("response_put", Some(put_response(r)));
        }
        Some(Response::ResponseDeleteRange(r)) => {
            object.message("response_delete_range", Some(delete_range_response(r)));
        }
        Some(Response::ResponseTxn(r)) => {
            object.message("response_txn", Some(txn_response(r)));
        }
    }
    object.finish()
}

/// A `CompactionResponse`.
pub fn compaction_response(r: &pb::CompactionResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::super::jsonpb::fields;
    use super::*;

    #[test]
    fn reads_a_txn_with_enums_by_name_and_oneofs() {
        let txn = txn_request(&fields(
            r#"{"compare":[{"key":"YQ==","target":"MOD","result":"GREATER","mod_revision":"1"}],
                "success":[{"requestTxn":{"success":[{"requestPut":{"key":"eA==","prev_kv":true}}]}}],
                "failure":[{"request_range":{"key":"Yg==","sort_order":2}},{}]}"#,
        ))
        .unwrap();
        let c = &txn.compare[0];
        assert_eq!((c.result, c.target, c.key.as_slice()), (1, 2, &b"a"[..]));
        assert_eq!(c.target_union, Some(compare::TargetUnion::ModRevision(1)));
        let Some(pb::request_op::Request::RequestTxn(inner)) = &txn.success[0].request else {
            panic!("a nested txn: {txn:?}");
        };
        let Some(pb::request_op::Request::RequestPut(put)) = &inner.success[0].request else {
            panic!("a put: {inner:?}");
        };
        assert!(put.prev_kv);
        assert_eq!(put.key, b"x");
        let Some(pb::request_op::Request::RequestRange(range)) = &txn.failure[0].request else {
            panic!("a range: {txn:?}");
        };
        assert_eq!(range.sort_order, 2);
        assert_eq!(txn.failure[1].request, None);
    }

    #[test]
    fn refuses_txns_nested_too_deep() {
        let mut body = String::from("{}");
        for _ in 0..=TXN_NESTING_MAX + 1 {
            body = format!(r#"{{"success":[{{"request_txn":{body}}}]}}"#);
        }
        assert!(txn_request(&fields(&body)).is_err());
    }

    #[test]
    fn writes_a_range_response_as_etcd_does() {
        let response = pb::RangeResponse {
            header: Some(pb::ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 6,
                raft_term: 3,
            }),
            kvs: vec![mvccpb::KeyValue {
                key: b"c".to_vec(),
                create_revision: 6,
                mod_revision: 6,
                version: 1,
                value: Vec::new(),
                lease: 0,
            }],
            more: true,
            count: 3,
        };
        assert_eq!(
            range_response(&response),
            r#"{"header":{"cluster_id":"1","member_id":"2","revision":"6","raft_term":"3"},"kvs":[{"key":"Yw==","create_revision":"6","mod_revision":"6","version":"1"}],"more":true,"count":"3"}"#
        );
    }
}
