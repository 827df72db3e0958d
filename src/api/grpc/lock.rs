//! The Lock service (v3lockpb), as etcd serves it: a lock is a queue of keys under
//! `name/`, one per lease, held by the key created first.

use tonic::{Request, Response, Status};

use super::recipes::{create_or_get, delete_op, lease_key, txn, wait_deletes};
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

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(
        &self,
        request: Request<lockpb::LockRequest>,
    ) -> Result<Response<lockpb::LockResponse>, Status> {
        let request = request.into_inner();
        let mut prefix = request.name.clone();
        prefix.push(b'/');
        let key = lease_key(&prefix, request.lease);
        let (my_rev, _, _) = create_or_get(&self.member, &key, b"", request.lease).await?;
        let mut abandon = Abandon {
            member: self.member.clone(),
            key: Some(key.clone()),
        };
        let header = wait_deletes(&self.member, &prefix, my_rev - 1).await?;
        abandon.key = None;
        Ok(Response::new(lockpb::LockResponse {
            header: Some(header),
            key,
        }))
    }

    async fn unlock(
        &self,
        request: Request<lockpb::UnlockRequest>,
    ) -> Result<Response<lockpb::UnlockResponse>, Status> {
        let key = request.into_inner().key;
        let response = txn(
            &self.member,
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
}
