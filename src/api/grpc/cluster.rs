//! The Cluster service: MemberList, and membership changes (add, remove, update,
//! promote), which the leader checks and proposes; another member forwards them.

use tonic::{Request, Response, Status};

use super::auth::{Credentials, admin, authenticated, forwarded};
use super::status::status;
use crate::pb::etcdserverpb::{self as pb, cluster_client::ClusterClient, cluster_server::Cluster};
use crate::server::handle::{LeaderRoute, MemberHandle};

/// etcd's Cluster service on one member.
pub struct ClusterService {
    member: MemberHandle,
}

impl ClusterService {
    /// The service of `member`.
    pub fn new(member: MemberHandle) -> ClusterService {
        ClusterService { member }
    }

    /// The leader to run a membership change on: this process's, or a client of the
    /// leader process's Cluster service.
    async fn leader(
        &self,
    ) -> Result<Result<MemberHandle, ClusterClient<tonic::transport::Channel>>, Status> {
        match self.member.leader_route().await.map_err(status)? {
            LeaderRoute::Local(handle) => Ok(Ok(handle)),
            LeaderRoute::Remote(channel) => Ok(Err(ClusterClient::new(channel))),
        }
    }

    fn header(&self) -> Option<pb::ResponseHeader> {
        // etcd's membership answers carry no revision.
        Some(self.member.header(0))
    }
}

/// A member as the API shows it.
fn member_pb(m: &crate::server::membership::Member) -> pb::Member {
    pb::Member {
        id: m.id,
        name: m.name.clone(),
        peer_ur_ls: m.peer_urls.clone(),
        client_ur_ls: Vec::new(),
        is_learner: m.is_learner,
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        admin(&self.member, &request)?;
        let credentials = Credentials::of(&request);
        let request = request.into_inner();
        let leader = match self.leader().await? {
            Ok(leader) => leader,
            Err(mut remote) => return remote.member_add(forwarded(&credentials, request)).await,
        };
        let member = leader
            .member_add(request.peer_ur_ls, request.is_learner)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::MemberAddResponse {
            header: self.header(),
            member: Some(member_pb(&member)),
            members: leader.member_list(),
        }))
    }

    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        admin(&self.member, &request)?;
        let credentials = Credentials::of(&request);
        let request = request.into_inner();
        let leader = match self.leader().await? {
            Ok(leader) => leader,
            Err(mut remote) => return remote.member_remove(forwarded(&credentials, request)).await,
        };
        leader.member_remove(request.id).await.map_err(status)?;
        Ok(Response::new(pb::MemberRemoveResponse {
            header: self.header(),
            members: leader.member_list(),
        }))
    }

    async fn member_update(
        &self,
        request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        let user = admin(&self.member, &request)?;
        let credentials = Credentials::of(&request);
        let request = request.into_inner();
        let leader = match self.leader().await? {
            Ok(leader) => leader,
            Err(mut remote) => return remote.member_update(forwarded(&credentials, request)).await,
        };
        leader
            .acting_as(user)
            .member_update(request.id, request.peer_ur_ls)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::MemberUpdateResponse {
            header: self.header(),
            members: leader.member_list(),
        }))
    }

    async fn member_list(
        &self,
        request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        authenticated(&self.member, &request)?;
        Ok(Response::new(pb::MemberListResponse {
            header: self.header(),
            members: self.member.member_list(),
        }))
    }

    async fn member_promote(
        &self,
        request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        admin(&self.member, &request)?;
        let credentials = Credentials::of(&request);
        let request = request.into_inner();
        let leader = match self.leader().await? {
            Ok(leader) => leader,
            Err(mut remote) => {
                return remote
                    .member_promote(forwarded(&credentials, request))
                    .await;
            }
        };
        leader.member_promote(request.id).await.map_err(status)?;
        Ok(Response::new(pb::MemberPromoteResponse {
            header: self.header(),
            members: leader.member_list(),
        }))
    }
}
