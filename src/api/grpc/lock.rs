//! The Lock service (v3lockpb), as etcd serves it: a lock is a queue of keys under
//! `name/`, one per lease, held by the key created first.

use tonic::{Request, Response, Status};

use super::auth::caller;

use super::recipes::{
    client_error, create_or_get, delete_op, lease_key, session_lease, txn, wait_deletes,
};
use crate::pb::etcdserverpb as pb;
use crate::pb::v3lockpb::{self as lockpb, lock_server::Lock};
use crate::server::handle::MemberHandle;

/// etcd's Lock service on one member.
pub struct LockService {
    member: MemberHandle,
}

impl LockService {
    /// The service of `member`.
    pub fn new(member: MemberHandle) -> LockService {
        LockService { member }
    }
}

/// Deletes the caller's queue key if the call ends before it holds the lock (the client
/// gave up), as etcd's mutex does.
struct Abandon {
    member: MemberHandle,
    key: Option<Vec<u8>>,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let member = self.member.clone();
            tokio::spawn(async move {
                let _ = txn(
                    &member,
                    pb::TxnRequest {
                        success: vec![delete_op(&key)],
                        ..Default::default()
                    },
                )
                .await;
            });
        }
    }
}

/// etcd's `ErrEmptyKey`, which its client's Delete answers for an empty key.
const EMPTY_KEY: &str = "etcdserver: key is not provided";

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(
        &self,
        request: Request<lockpb::LockRequest>,
    ) -> Result<Response<lockpb::LockResponse>, Status> {
        let member = self
            .member
            .acting_as(caller(&self.member, &request).map_err(client_error)?);
        acquire(&member, request.into_inner())
            .await
            .map_err(client_error)
    }

    async fn unlock(
        &self,
        request: Request<lockpb::UnlockRequest>,
    ) -> Result<Response<lockpb::UnlockResponse>, Status> {
        let member = self
            .member
            .acting_as(caller(&self.member, &request).map_err(client_error)?);
        release(&member, request.into_inner().key)
            .await
            .map_err(client_error)
    }
}

/// Lock: queues a key for the lease and waits until it is the oldest.
async fn acquire(
    member: &MemberHandle,
    request: lockpb::LockRequest,
) -> Result<Response<lockpb::LockResponse>, Status> {
    let mut prefix = request.name.clone();
    prefix.push(b'/');
    let lease = session_lease(member, request.lease).await?;
    let key = lease_key(&prefix, lease);
    let (my_rev, _, _) = create_or_get(member, &key, b"", lease).await?;
    let mut abandon = Abandon {
        member: member.clone(),
        key: Some(key.clone()),
    };
    let header = wait_deletes(member, &prefix, my_rev - 1).await?;
    abandon.key = None;
    Ok(Response::new(lockpb::LockResponse {
        header: Some(header),
        key,
    }))
}

/// Unlock: deletes the key.
async fn release(
    member: &MemberHandle,
    key: Vec<u8>,
) -> Result<Response<lockpb::UnlockResponse>, Status> {
    if key.is_empty() {
        return Err(Status::invalid_argument(EMPTY_KEY));
    }
    let response = txn(
        member,
        pb::TxnRequest {
            success: vec![delete_op(&key)],
            ..Default::default()
        },
    )
    .await?;
    Ok(Response::new(lockpb::UnlockResponse {
        header: response.header,
    }))
}
