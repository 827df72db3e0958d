//! The Election service (v3electionpb), as etcd serves it: candidates queue as keys under
//! `name/`, one per lease; the key created first leads, and its value is the proclaimed
//! one.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::auth::caller;
use crate::auth::Access;

use super::recipes::{
    InternalWatch, client_error, create_or_get, create_revision_is, delete_op, first_created,
    lease_key, prefix_end, put_op, session_lease, txn, wait_deletes,
};
use crate::pb::etcdserverpb as pb;
use crate::pb::mvccpb;
use crate::pb::v3electionpb::{self as epb, election_server::Election};
use crate::server::handle::MemberHandle;

/// etcd's `concurrency.ErrElectionNotLeader`.
const NOT_LEADER: &str = "election: not leader";
/// etcd's `concurrency.ErrElectionNoLeader`.
const NO_LEADER: &str = "election: no leader";
/// etcd's v3election `ErrMissingLeaderKey`.
const MISSING_LEADER_KEY: &str = "\"leader\" field must be provided";

/// etcd's Election service on one member.
pub struct ElectionService {
    member: MemberHandle,
}

impl ElectionService {
    /// The service of `member`.
    pub fn new(member: MemberHandle) -> ElectionService {
        ElectionService { member }
    }
}

fn prefix_of(name: &[u8]) -> Vec<u8> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    prefix
}

async fn proclaim(
    member: &MemberHandle,
    leader: &epb::LeaderKey,
    value: &[u8],
) -> Result<pb::ResponseHeader, Status> {
    let response = txn(
        member,
        pb::TxnRequest {
            compare: vec![create_revision_is(&leader.key, leader.rev)],
            success: vec![put_op(&leader.key, value, leader.lease)],
            failure: Vec::new(),
        },
    )
    .await?;
    if !response.succeeded {
        return Err(Status::unknown(NOT_LEADER));
    }
    Ok(response.header.unwrap_or_default())
}

type ObserveStream = Pin<Box<dyn Stream<Item = Result<epb::LeaderResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Election for ElectionService {
    async fn campaign(
        &self,
        request: Request<epb::CampaignRequest>,
    ) -> Result<Response<epb::CampaignResponse>, Status> {
        let member = self
            .member
            .acting_as(caller(&self.member, &request).map_err(client_error)?);
        let request = request.into_inner();
        let prefix = prefix_of(&request.name);
        let lease = session_lease(&member, request.lease)
            .await
            .map_err(client_error)?;
        let key = lease_key(&prefix, lease);
        let (rev, value, _) = create_or_get(&member, &key, &request.value, lease)
            .await
            .map_err(client_error)?;
        let leader = epb::LeaderKey {
            name: request.name.clone(),
            key,
            rev,
            lease,
        };
        if value != request.value {
            proclaim(&member, &leader, &request.value)
                .await
                .map_err(client_error)?;
        }
        let header = wait_deletes(&member, &prefix, rev - 1)
            .await
            .map_err(client_error)?;
        Ok(Response::new(epb::CampaignResponse {
            header: Some(header),
            leader: Some(leader),
        }))
    }

    async fn proclaim(
        &self,
        request: Request<epb::ProclaimRequest>,
    ) -> Result<Response<epb::ProclaimResponse>, Status> {
        let member = self
            .member
            .acting_as(caller(&self.member, &request).map_err(client_error)?);
        let request = request.into_inner();
        let leader = request
            .leader
            .ok_or_else(|| Status::unknown(MISSING_LEADER_KEY))?;
        let header = proclaim(&member, &leader, &request.value)
            .await
            .map_err(client_error)?;
        Ok(Response::new(epb::ProclaimResponse {
            header: Some(header),
        }))
    }

    async fn leader(
        &self,
        request: Request<epb::LeaderRequest>,
    ) -> Result<Response<epb::LeaderResponse>, Status> {
        let member = self
            .member
            .acting_as(caller(&self.member, &request).map_err(client_error)?);
        let prefix = prefix_of(&request.into_inner().name);
        let (first, header) = first_created(&member, &prefix)
            .await
            .map_err(client_error)?;
        let kv = first.ok_or_else(|| Status::unknown(NO_LEADER))?;
        Ok(Response::new(epb::LeaderResponse {
            header: Some(header),
            kv: Some(kv),
        }))
    }

    type ObserveStream = ObserveStream;

    async fn observe(
        &self,
        request: Request<epb::LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let user = caller(&self.member, &request);
        let prefix = prefix_of(&request.into_inner().name);
        // etcd's refusal of an Observe the caller may not make: the stream just ends.
        let Ok(user) = user else {
            return Ok(Response::new(Box::pin(tokio_stream::empty())));
        };
        let refused = self
            .member
            .auth
            .read()
            .check(user.as_ref(), Access::Read, &prefix, &prefix_end(&prefix))
            .is_err();
        if refused {
            return Ok(Response::new(Box::pin(tokio_stream::empty())));
        }
        let member = self.member.acting_as(user);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let result = observe(&member, &prefix, &tx).await;
            if let Err(status) = result {
                let _ = tx.send(Err(client_error(status))).await;
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn resign(
        &self,
        request: Request<epb::ResignRequest>,
    ) -> Result<Response<epb::ResignResponse>, Status> {
        let member = self
            .member
            .acting_as(caller(&self.member, &request).map_err(client_error)?);
        let leader = request
            .into_inner()
            .leader
            .ok_or_else(|| Status::unknown(MISSING_LEADER_KEY))?;
        let response = txn(
            &member,
            pb::TxnRequest {
                compare: vec![create_revision_is(&leader.key, leader.rev)],
                success: vec![delete_op(&leader.key)],
                failure: Vec::new(),
            },
        )
        .await
        .map_err(client_error)?;
        Ok(Response::new(epb::ResignResponse {
            header: response.header,
        }))
    }
}

/// etcd's `Election.Observe`: the current leader, then each put of its key (a proclaim,
/// even of the same value) and each new leader, until the client goes away.
async fn observe(
    member: &MemberHandle,
    prefix: &[u8],
    tx: &tokio::sync::mpsc::Sender<Result<epb::LeaderResponse, Status>>,
) -> Result<(), Status> {
    loop {
        let (first, header) = first_created(member, prefix).await?;
        let Some(leader) = first else {
            // No leader yet: wait for the first candidate.
            let mut watch =
                InternalWatch::start(member, prefix, &prefix_end(prefix), header.revision + 1)
                    .await?;
            watch.next_events().await?;
            continue;
        };
        let mut watch = InternalWatch::start(member, &leader.key, &[], header.revision + 1).await?;
        if tx
            .send(Ok(epb::LeaderResponse {
                header: Some(header),
                kv: Some(leader),
            }))
            .await
            .is_err()
        {
            return Ok(());
        }
        'leader: loop {
            for event in watch.next_events().await? {
                if event.r#type == mvccpb::event::EventType::Delete as i32 {
                    break 'leader;
                }
                if let Some(kv) = event.kv {
                    let header = member.header(kv.mod_revision);
                    if tx
                        .send(Ok(epb::LeaderResponse {
                            header: Some(header),
                            kv: Some(kv),
                        }))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                }
            }
        }
    }
}
