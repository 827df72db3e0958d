//! The Maintenance service: Status and Alarm today; the rest answers "not implemented
//! yet" (issue 5) rather than pretending.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::status::not_implemented;
use crate::pb::etcdserverpb::{self as pb, maintenance_server::Maintenance};
use crate::server::handle::MemberHandle;

/// The version this member reports: the etcd API version it implements.
pub const SERVER_VERSION: &str = "3.5.0";
/// The cluster version it reports.
pub const CLUSTER_VERSION: &str = "3.5.0";

/// etcd's Maintenance service on one member.
pub struct MaintenanceService {
    member: MemberHandle,
}

impl MaintenanceService {
    /// The service of `member`.
    pub fn new(member: MemberHandle) -> MaintenanceService {
        MaintenanceService { member }
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<pb::SnapshotResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        let request = request.into_inner();
        let header = Some(self.member.header(self.member.applied().revision));
        if request.action != pb::alarm_request::AlarmAction::Get as i32 {
            // As etcd: the answer lists the alarm raised or cleared, if anything changed.
            let member = pb::AlarmMember {
                member_id: request.member_id,
                alarm: request.alarm,
            };
            let internal = pb::InternalRaftRequest {
                alarm: Some(request),
                ..Default::default()
            };
            let applied = self
                .member
                .propose(internal)
                .await
                .map_err(super::status::status)?;
            let changed = matches!(
                applied,
                crate::server::applier::AppliedResponse::Alarm(true)
            );
            return Ok(Response::new(pb::AlarmResponse {
                header,
                alarms: if changed { vec![member] } else { Vec::new() },
            }));
        }
        let alarms = self
            .member
            .alarms
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|&(member_id, alarm)| pb::AlarmMember { member_id, alarm })
            .collect();
        Ok(Response::new(pb::AlarmResponse { header, alarms }))
    }

    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let raft = self.member.status();
        let applied = self.member.applied();
        let (db_size, in_use) = self.member.db_size().await;
        let (db_size, in_use) = (db_size as i64, in_use as i64);
        self.member.metrics.db_total_size.set(db_size);
        Ok(Response::new(pb::StatusResponse {
            header: Some(self.member.header(applied.revision)),
            version: SERVER_VERSION.to_string(),
            db_size,
            leader: raft.leader.0,
            raft_index: raft.commit.0,
            raft_term: raft.term.0,
            raft_applied_index: applied.index.0,
            errors: Vec::new(),
            db_size_in_use: in_use,
            is_learner: raft.is_learner,
            ..Default::default()
        }))
    }

    async fn defragment(
        &self,
        _: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        self.member
            .defragment()
            .await
            .map_err(super::status::status)?;
        Ok(Response::new(pb::DefragmentResponse {
            header: Some(self.member.header(self.member.applied().revision)),
        }))
    }

    async fn hash(
        &self,
        _: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        Err(not_implemented("Hash"))
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        let (hash, revision, compacted) = self
            .member
            .hash_kv(request.into_inner().revision)
            .await
            .map_err(super::status::status)?;
        Ok(Response::new(pb::HashKvResponse {
            // etcd's header carries the current revision, not the one hashed.
            header: Some(self.member.header(self.member.applied().revision)),
            hash,
            compact_revision: compacted.max(0),
            hash_revision: revision,
        }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        _: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(not_implemented("Snapshot"))
    }

    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        self.member
            .move_leader(request.into_inner().target_id)
            .await
            .map_err(super::status::status)?;
        Ok(Response::new(pb::MoveLeaderResponse {
            header: Some(self.member.header(self.member.applied().revision)),
        }))
    }

    async fn downgrade(
        &self,
        _: Request<pb::DowngradeRequest>,
    ) -> Result<Response<pb::DowngradeResponse>, Status> {
        Err(not_implemented("Downgrade"))
    }
}
