//! Conversions between the protobuf messages of the API (and of the raft log, which
//! carries them) and the MVCC store's request and response types.

use crate::mvcc::{self, Error};
use crate::pb::{etcdserverpb as pb, mvccpb};

/// A protobuf `RangeRequest` as the store's; an out-of-range sort option is etcd's
/// "invalid sort option".
pub fn range_request(r: &pb::RangeRequest) -> Result<mvcc::RangeRequest, Error> {
    Ok(mvcc::RangeRequest {
        key: r.key.clone(),
        range_end: r.range_end.clone(),
        limit: r.limit,
        revision: r.revision,
        sort_order: mvcc::SortOrder::try_from(r.sort_order)?,
        sort_target: mvcc::SortTarget::try_from(r.sort_target)?,
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    })
}

/// A protobuf `PutRequest` as the store's.
pub fn put_request(r: &pb::PutRequest) -> mvcc::PutRequest {
    mvcc::PutRequest {
        key: r.key.clone(),
        value: r.value.clone(),
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

/// A protobuf `DeleteRangeRequest` as the store's.
pub fn delete_request(r: &pb::DeleteRangeRequest) -> mvcc::DeleteRangeRequest {
    mvcc::DeleteRangeRequest {
        key: r.key.clone(),
        range_end: r.range_end.clone(),
        prev_kv: r.prev_kv,
    }
}

/// A protobuf `CompactionRequest` as the store's.
pub fn compaction_request(r: &pb::CompactionRequest) -> mvcc::CompactionRequest {
    mvcc::CompactionRequest {
        revision: r.revision,
        physical: r.physical,
    }
}

/// A protobuf `TxnRequest` (with its nested txns) as the store's.
pub fn txn_request(r: &pb::TxnRequest) -> Result<mvcc::TxnRequest, Error> {
    let ops = |ops: &[pb::RequestOp]| -> Result<Vec<mvcc::RequestOp>, Error> {
        ops.iter().map(request_op).collect()
    };
    Ok(mvcc::TxnRequest {
        compare: r.compare.iter().map(compare).collect(),
        success: ops(&r.success)?,
        failure: ops(&r.failure)?,
    })
}

fn request_op(op: &pb::RequestOp) -> Result<mvcc::RequestOp, Error> {
    use pb::request_op::Request as P;
    let request = match &op.request {
        None => None,
        Some(P::RequestRange(r)) => Some(mvcc::Request::Range(range_request(r)?)),
        Some(P::RequestPut(r)) => Some(mvcc::Request::Put(put_request(r))),
        Some(P::RequestDeleteRange(r)) => Some(mvcc::Request::DeleteRange(delete_request(r))),
        Some(P::RequestTxn(r)) => Some(mvcc::Request::Txn(txn_request(r)?)),
    };
    Ok(mvcc::RequestOp { request })
}

fn compare(c: &pb::Compare) -> mvcc::Compare {
    use pb::compare::TargetUnion as P;
    // Values outside the enums are read as the zero value, as protobuf does for an
    // unknown enum value in proto3.
    let result = match c.result {
        1 => mvcc::CompareResult::Greater,
        2 => mvcc::CompareResult::Less,
        3 => mvcc::CompareResult::NotEqual,
        _ => mvcc::CompareResult::Equal,
    };
    let target = match c.target {
        1 => mvcc::CompareTarget::Create,
        2 => mvcc::CompareTarget::Mod,
        3 => mvcc::CompareTarget::Value,
        4 => mvcc::CompareTarget::Lease,
        _ => mvcc::CompareTarget::Version,
    };
    let target_union = c.target_union.as_ref().map(|t| match t {
        P::Version(v) => mvcc::TargetUnion::Version(*v),
        P::CreateRevision(v) => mvcc::TargetUnion::CreateRevision(*v),
        P::ModRevision(v) => mvcc::TargetUnion::ModRevision(*v),
        P::Value(v) => mvcc::TargetUnion::Value(v.clone()),
        P::Lease(v) => mvcc::TargetUnion::Lease(*v),
    });
    mvcc::Compare {
        result,
        target,
        key: c.key.clone(),
        target_union,
        range_end: c.range_end.clone(),
    }
}

/// A stored key-value as protobuf.
pub fn key_value(kv: mvcc::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

/// The header of a response nested in a txn: only etcd's outermost header is filled.
fn nested_header(revision: i64) -> Option<pb::ResponseHeader> {
    Some(pb::ResponseHeader {
        revision,
        ..pb::ResponseHeader::default()
    })
}

/// A range response, with `header` as its header.
pub fn range_response(
    r: mvcc::RangeResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::RangeResponse {
    pb::RangeResponse {
        header,
        kvs: r.kvs.into_iter().map(key_value).collect(),
        more: r.more,
        count: r.count,
    }
}

/// A put response, with `header` as its header.
pub fn put_response(r: mvcc::PutResponse, header: Option<pb::ResponseHeader>) -> pb::PutResponse {
    pb::PutResponse {
        header,
        prev_kv: r.prev_kv.map(key_value),
    }
}

/// A delete response, with `header` as its header.
pub fn delete_response(
    r: mvcc::DeleteRangeResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header,
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(key_value).collect(),
    }
}

/// A txn response, with `header` as its (outermost) header.
pub fn txn_response(r: mvcc::TxnResponse, header: Option<pb::ResponseHeader>) -> pb::TxnResponse {
    use pb::response_op::Response as P;
    let responses = r
        .responses
        .into_iter()
        .map(|op| pb::ResponseOp {
            response: op.response.map(|response| match response {
                mvcc::Response::Range(r) => {
                    let h = nested_header(r.revision);
                    P::ResponseRange(range_response(r, h))
                }
                mvcc::Response::Put(r) => {
                    let h = nested_header(r.revision);
                    P::ResponsePut(put_response(r, h))
                }
                mvcc::Response::DeleteRange(r) => {
                    let h = nested_header(r.revision);
                    P::ResponseDeleteRange(delete_response(r, h))
                }
                mvcc::Response::Txn(r) => {
                    let h = nested_header(r.revision);
                    P::ResponseTxn(txn_response(r, h))
                }
            }),
        })
        .collect();
    pb::TxnResponse {
        header,
        succeeded: r.succeeded,
        responses,
    }
}
