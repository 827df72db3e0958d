//! The Cluster service: MemberList today; membership changes come with issue 5.

use tonic::{Request, Response, Status};

use super::status::not_implemented;
use crate::pb::etcdserverpb::{self as pb, cluster_server::Cluster};
use crate::server::handle::MemberHandle;

/// etcd's Cluster service on one member.
pub struct ClusterService {
    member: MemberHandle,
}

impl ClusterService {
    /// The service of `member`.
    pub fn new(member: MemberHandle) -> ClusterService {
        ClusterService { member }
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        _: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        Err(not_implemented("MemberAdd"))
    }

    async fn member_remove(
        &self,
        _: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        Err(not_implemented("MemberRemove"))
    }

    async fn member_update(
        &self,
        _: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        Err(not_implemented("MemberUpdate"))
    }

    async fn member_list(
        &self,
        _: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let members = self
            .member
            .members
            .iter()
            .map(|m| pb::Member {
                id: m.id,
                name: m.name.clone(),
                peer_ur_ls: m.peer_urls.clone(),
                // What the member published through Raft; in one process, what it
                // was configured with.
                client_ur_ls: self
                    .member
                    .published_client_urls(m.id)
                    .unwrap_or_else(|| m.client_urls.clone()),
                is_learner: m.is_learner,
            })
            .collect();
        // etcd's MemberList header carries no revision.
        Ok(Response::new(pb::MemberListResponse {
            header: Some(self.member.header(0)),
            members,
        }))
    }

    async fn member_promote(
        &self,
        _: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(not_implemented("MemberPromote"))
    }
}
