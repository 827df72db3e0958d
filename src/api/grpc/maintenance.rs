//! The Maintenance service. Snapshot streams the store as etcd's backend file (a bbolt
//! database in etcd's schema, see [`crate::snapshot`]) and Hash is etcd's hash of that
//! file's buckets; Downgrade answers "not implemented yet" rather than pretending.

use std::pin::Pin;

use super::auth::{admin, admin_unconverted, authenticated};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::status::not_implemented;
use crate::pb::etcdserverpb::{self as pb, maintenance_server::Maintenance};
use crate::server::handle::MemberHandle;
use crate::snapshot::bolt::BoltError;
use crate::snapshot::schema::{EtcdBuckets, MemberEntry};

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

/// Chunks of a snapshot buffered ahead of the client (32 KiB each): the writer waits
/// for a slow client rather than filling memory.
const SNAPSHOT_CHUNKS_IN_FLIGHT: usize = 4;

impl MaintenanceService {
    /// A view of the member's store, in etcd's buckets, and the revision it shows.
    async fn etcd_buckets(&self) -> Result<(EtcdBuckets, i64), Status> {
        let (view, revision) = self
            .member
            .open_view()
            .await
            .map_err(super::status::status)?;
        let members: Vec<MemberEntry> = self
            .member
            .members()
            .iter()
            .map(|m| MemberEntry {
                id: m.id,
                peer_urls: m.peer_urls.clone(),
                is_learner: m.is_learner,
            })
            .collect();
        // Reading the meta entries may touch the disk: not on an async thread.
        let buckets =
            tokio::task::spawn_blocking(move || EtcdBuckets::new(view, &members, CLUSTER_VERSION))
                .await
                .map_err(|e| Status::unknown(e.to_string()))?
                .map_err(|e| Status::unknown(e.to_string()))?;
        Ok((buckets, revision))
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        // Alarms stop writes cluster-wide: raising or clearing one is for admins (etcd
        // 3.4 let anyone raise one); listing them, for users.
        let user = if request.get_ref().action == pb::alarm_request::AlarmAction::Get as i32 {
            authenticated(&self.member, &request)?
        } else {
            admin(&self.member, &request)?
        };
        let request = request.into_inner();
        let header = Some(self.member.header(self.member.applied().revision));
        if request.action != pb::alarm_request::AlarmAction::Get as i32 {
            // As etcd: the answer lists the alarm raised (or already raised) or cleared.
            let activate = request.action == pb::alarm_request::AlarmAction::Activate as i32;
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
                .propose_as(internal, user.as_ref())
                .await
                .map_err(super::status::status)?;
            let changed = matches!(
                applied,
                crate::server::applier::AppliedResponse::Alarm(true)
            );
            return Ok(Response::new(pb::AlarmResponse {
                header,
                alarms: if changed || activate {
                    vec![member]
                } else {
                    Vec::new()
                },
            }));
        }
        let alarms = self
            .member
            .alarms
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            // etcd's GET lists the alarms of the type asked for (NONE: every alarm).
            .filter(|(_, alarm)| {
                request.alarm == pb::AlarmType::None as i32 || *alarm == request.alarm
            })
            .map(|&(member_id, alarm)| pb::AlarmMember { member_id, alarm })
            .collect();
        Ok(Response::new(pb::AlarmResponse { header, alarms }))
    }

    async fn status(
        &self,
        request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        authenticated(&self.member, &request)?;
        let raft = self.member.status();
        let applied = self.member.applied();
        let (db_size, in_use) = self.member.db_size().await;
        let (db_size, in_use) = (db_size as i64, in_use as i64);
        self.member.metrics.db_total_size.set(db_size);
        // As etcd: no leader, then every raised alarm as Go prints an `AlarmMember`.
        let mut errors = Vec::new();
        if raft.leader.is_none() {
            errors.push("etcdserver: no leader".to_string());
        }
        for &(member_id, alarm) in self
            .member
            .alarms
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            // Go's compact text format: each non-zero field then a space.
            let mut text = String::new();
            if member_id != 0 {
                text.push_str(&format!("memberID:{member_id} "));
            }
            if let Some(name) = pb::AlarmType::try_from(alarm)
                .ok()
                .filter(|a| *a != pb::AlarmType::None)
            {
                text.push_str(&format!("alarm:{} ", name.as_str_name()));
            }
            errors.push(text);
        }
        Ok(Response::new(pb::StatusResponse {
            header: Some(self.member.header(applied.revision)),
            version: SERVER_VERSION.to_string(),
            db_size,
            leader: raft.leader.0,
            raft_index: raft.commit.0,
            raft_term: raft.term.0,
            raft_applied_index: applied.index.0,
            errors,
            db_size_in_use: in_use,
            is_learner: raft.is_learner,
            ..Default::default()
        }))
    }

    async fn defragment(
        &self,
        request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        admin_unconverted(&self.member, &request)?;
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
        request: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        admin_unconverted(&self.member, &request)?;
        let (buckets, revision) = self.etcd_buckets().await?;
        let hash = tokio::task::spawn_blocking(move || crate::snapshot::schema::hash(&buckets))
            .await
            .map_err(|e| Status::unknown(e.to_string()))?
            .map_err(|e| Status::unknown(e.to_string()))?;
        Ok(Response::new(pb::HashResponse {
            // etcd's header carries the revision hashed.
            header: Some(self.member.header(revision)),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        admin_unconverted(&self.member, &request)?;
        let (hash, revision, compacted) = self
            .member
            .hash_kv(request.into_inner().revision)
            .await
            .map_err(super::status::status)?;
        Ok(Response::new(pb::HashKvResponse {
            // etcd's header carries the current revision, not the one hashed.
            header: Some(self.member.header(self.member.applied().revision)),
            hash,
            compact_revision: compacted,
            hash_revision: revision,
        }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        admin_unconverted(&self.member, &request)?;
        let (buckets, _) = self.etcd_buckets().await?;
        let (tx, rx) = tokio::sync::mpsc::channel(SNAPSHOT_CHUNKS_IN_FLIGHT);
        // The file is written on a blocking thread from the view, while the member goes
        // on serving writes; it stops when the client goes away.
        tokio::task::spawn_blocking(move || {
            let sender = tx.clone();
            // A failed assertion of the writer ends the stream with an error too, never
            // with a short file that looks complete.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                crate::snapshot::stream(&buckets, &mut |blob, remaining_bytes| {
                    // etcd 3.4 and 3.5 send no header and no version.
                    let chunk = pb::SnapshotResponse {
                        remaining_bytes,
                        blob,
                        ..Default::default()
                    };
                    sender
                        .blocking_send(Ok(chunk))
                        .map_err(|_| BoltError::Sink("the client went away".into()))
                })
            }));
            let failure = match result {
                Ok(Ok(_)) | Ok(Err(BoltError::Sink(_))) => return,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "the snapshot writer failed an assertion".to_string(),
            };
            eprintln!("etcd-rs: a snapshot failed: {failure}");
            let _ = tx.blocking_send(Err(Status::unknown(failure)));
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        admin(&self.member, &request)?;
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
