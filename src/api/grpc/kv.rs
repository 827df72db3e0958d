//! The KV service: requests are checked as etcd checks them, then reads go through
//! [`MemberHandle::range`] and writes through Raft.

use tonic::{Request, Response, Status};

use super::status::{mvcc_status, status};
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

    async fn propose(&self, request: pb::InternalRaftRequest) -> Result<AppliedResponse, Status> {
        self.member.propose(request).await.map_err(status)
    }
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
        let request = convert::range_request(request.get_ref()).map_err(|e| mvcc_status(&e))?;
        request.validate().map_err(|e| mvcc_status(&e))?;
        if !request.serializable && self.member.status().is_learner {
            return Err(crate::api::learner::not_supported());
        }
        let response = self.member.range(request).await.map_err(status)?;
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
        let put = request.into_inner();
        convert::put_request(&put)
            .validate()
            .map_err(|e| mvcc_status(&e))?;
        self.member.check_space().map_err(status)?;
        let request = pb::InternalRaftRequest {
            put: Some(put),
            ..Default::default()
        };
        match self.propose(request).await? {
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
        let delete = request.into_inner();
        convert::delete_request(&delete)
            .validate()
            .map_err(|e| mvcc_status(&e))?;
        let request = pb::InternalRaftRequest {
            delete_range: Some(delete),
            ..Default::default()
        };
        match self.propose(request).await? {
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
        let txn = request.into_inner();
        convert::txn_request(&txn)
            .and_then(|t| t.validate(self.member.limits.max_txn_ops))
            .map_err(|e| mvcc_status(&e))?;
        if txn_puts(&txn) {
            self.member.check_space().map_err(status)?;
        }
        let request = pb::InternalRaftRequest {
            txn: Some(txn),
            ..Default::default()
        };
        match self.propose(request).await? {
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
        let request = pb::InternalRaftRequest {
            compaction: Some(request.into_inner()),
            ..Default::default()
        };
        match self.propose(request).await? {
            AppliedResponse::Compaction(response) => Ok(Response::new(pb::CompactionResponse {
                header: Some(self.member.header(response.revision)),
            })),
            _ => Err(unexpected()),
        }
    }
}
