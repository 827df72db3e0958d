//! The Lease service: grants and revokes go through Raft; keep-alives and TimeToLive are
//! answered by the leader's lessor (a follower forwards them), as in etcd.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};

use super::status::status;
use crate::pb::etcdserverpb::{self as pb, lease_server::Lease};
use crate::server::applier::AppliedResponse;
use crate::server::handle::{ApiError, MemberHandle};

/// etcd's Lease service on one member.
pub struct LeaseService {
    member: MemberHandle,
}

impl LeaseService {
    /// The service of `member`.
    pub fn new(member: MemberHandle) -> LeaseService {
        LeaseService { member }
    }
}

/// The responses of one keep-alive stream.
pub type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<pb::LeaseKeepAliveResponse, Status>> + Send>>;

/// Keep-alive responses computed ahead of the client's reading of them (a bound: a
/// client that stops reading stops the renewing of its leases).
const KEEP_ALIVE_RESPONSES_MAX: usize = 16;

fn unexpected() -> Status {
    Status::internal("etcd-rs: the applier answered a request of another kind")
}

impl LeaseService {
    /// Serves one keep-alive stream: renews the lease of each request of `requests` in
    /// order and answers its remaining TTL; ends when `requests` ends (after answering
    /// them all) or on the first error, which is its last item.
    pub fn keep_alive_stream<S>(&self, requests: S) -> KeepAliveStream
    where
        S: Stream<Item = pb::LeaseKeepAliveRequest> + Send + 'static,
    {
        let member = self.member.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(KEEP_ALIVE_RESPONSES_MAX);
        tokio::spawn(async move {
            let mut incoming = std::pin::pin!(requests);
            while let Some(keep_alive) = incoming.next().await {
                let id = keep_alive.id;
                let ttl = match member.keep_alive(id).await {
                    Ok(ttl) => ttl,
                    // An unknown (or just expired) lease answers TTL 0, as etcd does.
                    Err(ApiError::Lease(_)) => 0,
                    Err(e) => {
                        let _ = tx.send(Err(status(e))).await;
                        return;
                    }
                };
                let response = pb::LeaseKeepAliveResponse {
                    header: Some(member.header(member.applied().revision)),
                    id,
                    ttl,
                };
                if tx.send(Ok(response)).await.is_err() {
                    return;
                }
            }
        });
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let mut grant = request.into_inner();
        self.member.check_space().map_err(status)?;
        if grant.id == 0 {
            // etcd draws the id from its request id generator, 63 bits, never 0.
            loop {
                let candidate = (self.member.next_request_id() & ((1 << 63) - 1)) as i64;
                if candidate != 0 && !self.member.lease_exists(candidate).await {
                    grant.id = candidate;
                    break;
                }
            }
        }
        let request = pb::InternalRaftRequest {
            lease_grant: Some(grant),
            ..Default::default()
        };
        match self.member.propose(request).await.map_err(status)? {
            AppliedResponse::LeaseGrant { id, ttl, revision } => {
                Ok(Response::new(pb::LeaseGrantResponse {
                    header: Some(self.member.header(revision)),
                    id,
                    ttl,
                    error: String::new(),
                }))
            }
            _ => Err(unexpected()),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let request = pb::InternalRaftRequest {
            lease_revoke: Some(request.into_inner()),
            ..Default::default()
        };
        match self.member.propose(request).await.map_err(status)? {
            AppliedResponse::LeaseRevoke { revision } => {
                Ok(Response::new(pb::LeaseRevokeResponse {
                    header: Some(self.member.header(revision)),
                }))
            }
            _ => Err(unexpected()),
        }
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        // A transport error ends the requests, as the end of the client's stream does.
        let requests = request.into_inner().map_while(Result::ok);
        Ok(Response::new(self.keep_alive_stream(requests)))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let request = request.into_inner();
        let header = Some(self.member.header(self.member.applied().revision));
        match self
            .member
            .lease_time_to_live(request.id, request.keys)
            .await
        {
            Ok(ttl) => Ok(Response::new(pb::LeaseTimeToLiveResponse {
                header,
                id: request.id,
                ttl: ttl.remaining_ttl_secs,
                granted_ttl: ttl.granted_ttl_secs,
                keys: ttl.keys,
            })),
            // An unknown lease answers TTL -1, as etcd does.
            Err(ApiError::Lease(_)) => Ok(Response::new(pb::LeaseTimeToLiveResponse {
                header,
                id: request.id,
                ttl: -1,
                granted_ttl: 0,
                keys: Vec::new(),
            })),
            Err(e) => Err(status(e)),
        }
    }

    async fn lease_leases(
        &self,
        _: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        let ids = self.member.leases().await.map_err(status)?;
        Ok(Response::new(pb::LeaseLeasesResponse {
            header: Some(self.member.header(self.member.applied().revision)),
            leases: ids.into_iter().map(|id| pb::LeaseStatus { id }).collect(),
        }))
    }
}
