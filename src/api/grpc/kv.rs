//! The KV service: requests are checked as etcd checks them, then reads go through
//! [`MemberHandle::range`] and writes through Raft.

use tonic::{Request, Response, Status};

use super::auth::caller;
use super::status::{mvcc_status, status};
use crate::auth::AuthInfo;
use crate::pb::etcdserverpb::{self as pb, kv_server::Kv};
use crate::server::applier::AppliedResponse;
use crate::server::convert;
use crate::server::handle::MemberHandle;

/// etcd's KV service on one member.
pub struct KvService {
    member: MemberHandle,
}

impl KvService {
    /// The service of `member`.
    pub fn new(member: MemberHandle) -> KvService {
        KvService { member }
    }

    /// Proposes `request` as `user`.
    async fn propose(
        &self,
        user: Option<AuthInfo>,
        request: pb::InternalRaftRequest,
    ) -> Result<AppliedResponse, Status> {
        self.member
            .propose_as(request, user.as_ref())
            .await
            .map_err(status)
    }
}

/// How deep txns may nest in a request (a txn inside a txn's branch is one level). Each
/// level is two protobuf messages, and the raft log carries the txn inside an
/// `InternalRaftRequest`, one more: this is the deepest nesting whose proposal the
/// applier can still decode within prost's recursion limit of 100. (prost's limit lets
/// the gRPC server decode one level more, which the applier could not read back: it
/// would skip the committed entry and the client would wait until its timeout.) etcd
/// has no such bound; the JSON gateway refuses the same requests.
pub const TXN_NESTING_MAX: usize = 48;

/// [`TXN_NESTING_MAX`]'s check, with the gateway's words.
pub fn check_txn_nesting(txn: &pb::TxnRequest) -> Result<(), Status> {
    fn depth(txn: &pb::TxnRequest) -> usize {
        txn.success
            .iter()
            .chain(&txn.failure)
            .filter_map(|op| match &op.request {
                Some(pb::request_op::Request::RequestTxn(nested)) => Some(1 + depth(nested)),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
    if depth(txn) > TXN_NESTING_MAX {
        return Err(Status::invalid_argument(format!(
            "etcd-rs: txns nested more than {TXN_NESTING_MAX} deep"
        )));
    }
    Ok(())
}

/// Whether a txn may put (etcd refuses those under a NOSPACE alarm).
fn txn_puts(txn: &pb::TxnRequest) -> bool {
    txn.success
        .iter()
        .chain(&txn.failure)
        .any(|op| match &op.request {
            Some(pb::request_op::Request::RequestPut(_)) => true,
            Some(pb::request_op::Request::RequestTxn(nested)) => txn_puts(nested),
            _ => false,
        })
}

fn unexpected() -> Status {
    Status::internal("etcd-rs: the applier answered a request of another kind")
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let user = caller(&self.member, &request)?;
        let request = convert::range_request(request.get_ref()).map_err(|e| mvcc_status(&e))?;
        request.validate().map_err(|e| mvcc_status(&e))?;
        if !request.serializable && self.member.status().is_learner {
            return Err(crate::api::learner::not_supported());
        }
        let response = self
            .member
            .range_as(request, user.as_ref())
            .await
            .map_err(status)?;
        let header = self.member.header(response.revision);
        Ok(Response::new(convert::range_response(
            response,
            Some(header),
        )))
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let user = caller(&self.member, &request)?;
        let put = request.into_inner();
        convert::put_request(&put)
            .validate()
            .map_err(|e| mvcc_status(&e))?;
        self.member.check_space().map_err(status)?;
        let internal = pb::InternalRaftRequest {
            put: Some(put),
            ..Default::default()
        };
        match self.propose(user, internal).await? {
            AppliedResponse::Put(response) => {
                let header = self.member.header(response.revision);
                Ok(Response::new(convert::put_response(response, Some(header))))
            }
            _ => Err(unexpected()),
        }
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let user = caller(&self.member, &request)?;
        let delete = request.into_inner();
        convert::delete_request(&delete)
            .validate()
            .map_err(|e| mvcc_status(&e))?;
        let internal = pb::InternalRaftRequest {
            delete_range: Some(delete),
            ..Default::default()
        };
        match self.propose(user, internal).await? {
            AppliedResponse::DeleteRange(response) => {
                let header = self.member.header(response.revision);
                Ok(Response::new(convert::delete_response(
                    response,
                    Some(header),
                )))
            }
            _ => Err(unexpected()),
        }
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let user = caller(&self.member, &request)?;
        let txn = request.into_inner();
        check_txn_nesting(&txn)?;
        convert::txn_request(&txn)
            .and_then(|t| t.validate(self.member.limits.max_txn_ops))
            .map_err(|e| mvcc_status(&e))?;
        if txn_puts(&txn) {
            self.member.check_space().map_err(status)?;
        }
        let internal = pb::InternalRaftRequest {
            txn: Some(txn),
            ..Default::default()
        };
        match self.propose(user, internal).await? {
            AppliedResponse::Txn(response) => {
                let header = self.member.header(response.revision);
                Ok(Response::new(convert::txn_response(response, Some(header))))
            }
            _ => Err(unexpected()),
        }
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let user = caller(&self.member, &request)?;
        let internal = pb::InternalRaftRequest {
            compaction: Some(request.into_inner()),
            ..Default::default()
        };
        match self.propose(user, internal).await? {
            AppliedResponse::Compaction(response) => Ok(Response::new(pb::CompactionResponse {
                header: Some(self.member.header(response.revision)),
            })),
            _ => Err(unexpected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// A txn with `depth` txns nested in its success branch, a put at the bottom.
    fn nested(depth: usize) -> pb::TxnRequest {
        let mut txn = pb::TxnRequest {
            success: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                    key: b"k".to_vec(),
                    ..Default::default()
                })),
            }],
            ..Default::default()
        };
        for _ in 0..depth {
            txn = pb::TxnRequest {
                success: vec![pb::RequestOp {
                    request: Some(pb::request_op::Request::RequestTxn(txn)),
                }],
                ..Default::default()
            };
        }
        txn
    }

    /// Found while writing the fuzz targets: a txn nested 49 deep decoded on the gRPC
    /// path and passed the checks, but its proposal could not be decoded by the applier.
    #[test]
    fn every_txn_accepted_is_one_the_applier_can_decode() {
        for depth in [
            0,
            1,
            TXN_NESTING_MAX - 1,
            TXN_NESTING_MAX,
            TXN_NESTING_MAX + 1,
        ] {
            let txn = nested(depth);
            let from_client = pb::TxnRequest::decode(txn.encode_to_vec().as_slice());
            let proposal = pb::InternalRaftRequest {
                header: Some(pb::RequestHeader {
                    id: u64::MAX,
                    ..Default::default()
                }),
                txn: Some(txn.clone()),
                ..Default::default()
            };
            let committed = pb::InternalRaftRequest::decode(proposal.encode_to_vec().as_slice());
            let accepted = check_txn_nesting(&txn).is_ok();
            assert_eq!(accepted, depth <= TXN_NESTING_MAX, "depth {depth}");
            assert_eq!(from_client.is_ok(), depth <= TXN_NESTING_MAX + 1);
            assert_eq!(committed.is_ok(), accepted, "depth {depth}");
        }
        let refused = check_txn_nesting(&nested(TXN_NESTING_MAX + 1)).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert_eq!(refused.message(), "etcd-rs: txns nested more than 48 deep");
        let mut in_failure = nested(0);
        in_failure.failure = nested(TXN_NESTING_MAX + 1).success;
        assert!(check_txn_nesting(&in_failure).is_err());
    }
}
