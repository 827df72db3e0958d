//! The Lease service: grants and revokes go through Raft; keep-alives and TimeToLive are
//! answered by the leader's lessor (a follower forwards them), as in etcd.

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Credentials, authenticated, caller};
use super::status::{auth_status, status};
use crate::auth::{Access, AuthError};
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

/// Whether the client of `credentials` may use lease `id`: with auth enabled, a user
/// with `access` on every key attached to it (root: on anything).
async fn may_use_lease(
    member: &MemberHandle,
    credentials: &Credentials,
    id: i64,
    access: Access,
) -> Result<(), Status> {
    let user = credentials.user(member)?;
    {
        let auth = member.auth.read();
        if !auth.enabled() || auth.check_admin(user.as_ref()).is_ok() {
            return Ok(());
        }
        if user.is_none() {
            return Err(auth_status(&AuthError::UserEmpty));
        }
    }
    let keys = match member
        .with_token(credentials.token.clone())
        .lease_time_to_live(id, true)
        .await
    {
        Ok(ttl) => ttl.keys,
        // An unknown lease has no keys.
        Err(ApiError::Lease(_)) => Vec::new(),
        Err(e) => return Err(status(e)),
    };
    let auth = member.auth.read();
    for key in &keys {
        auth.check(user.as_ref(), access, key, b"")
            .map_err(|e| auth_status(&e))?;
    }
    Ok(())
}

fn unexpected() -> Status {
    Status::internal("etcd-rs: the applier answered a request of another kind")
}

impl LeaseService {
    /// Serves one keep-alive stream: renews the lease of each request of `requests` in
    /// order and answers its remaining TTL; ends when `requests` ends (after answering
    /// them all) or on the first error, which is its last item.
    ///
    /// With auth enabled, each renewal needs a user with write permission on every key
    /// of the lease (etcd 3.4 renewed for anyone).
    pub fn keep_alive_stream<S>(&self, requests: S, credentials: Credentials) -> KeepAliveStream
    where
        S: Stream<Item = pb::LeaseKeepAliveRequest> + Send + 'static,
    {
        let member = self.member.with_token(credentials.token.clone());
        let (tx, rx) = tokio::sync::mpsc::channel(KEEP_ALIVE_RESPONSES_MAX);
        tokio::spawn(async move {
            let mut incoming = std::pin::pin!(requests);
            while let Some(keep_alive) = incoming.next().await {
                let id = keep_alive.id;
                if let Err(refused) = may_use_lease(&member, &credentials, id, Access::Write).await
                {
                    let _ = tx.send(Err(refused)).await;
                    return;
                }
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
        let user = caller(&self.member, &request)?;
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
        let proposed = self.member.propose_as(request, user.as_ref()).await;
        match proposed.map_err(status)? {
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
        let user = caller(&self.member, &request)?;
        let request = pb::InternalRaftRequest {
            lease_revoke: Some(request.into_inner()),
            ..Default::default()
        };
        let proposed = self.member.propose_as(request, user.as_ref()).await;
        match proposed.map_err(status)? {
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
        let credentials = Credentials::of(&request);
        // A transport error ends the requests, as the end of the client's stream does.
        let requests = request.into_inner().map_while(Result::ok);
        Ok(Response::new(self.keep_alive_stream(requests, credentials)))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let user = authenticated(&self.member, &request)?;
        let member = self.member.with_token(Credentials::of(&request).token);
        let request = request.into_inner();
        let header = Some(self.member.header(self.member.applied().revision));
        match member.lease_time_to_live(request.id, request.keys).await {
            Ok(ttl) => {
                // The keys' names are shown only to a user who may read every one of
                // them (etcd 3.4 before 3.4.26 showed them to anyone).
                let auth = self.member.auth.read();
                for key in &ttl.keys {
                    auth.check(user.as_ref(), Access::Read, key, b"")
                        .map_err(|e| auth_status(&e))?;
                }
                drop(auth);
                Ok(Response::new(pb::LeaseTimeToLiveResponse {
                    header,
                    id: request.id,
                    ttl: ttl.remaining_ttl_secs,
                    granted_ttl: ttl.granted_ttl_secs,
                    keys: ttl.keys,
                }))
            }
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
        request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        let credentials = Credentials::of(&request);
        let ids = self.member.leases().await.map_err(status)?;
        // Only a user who may read every key of every lease sees them (etcd 3.4 showed
        // them to anyone).
        for &id in &ids {
            may_use_lease(&self.member, &credentials, id, Access::Read).await?;
        }
        Ok(Response::new(pb::LeaseLeasesResponse {
            header: Some(self.member.header(self.member.applied().revision)),
            leases: ids.into_iter().map(|id| pb::LeaseStatus { id }).collect(),
        }))
    }
}
