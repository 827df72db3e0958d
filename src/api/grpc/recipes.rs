//! The building blocks of the Lock and Election services, as etcd's `concurrency`
//! package builds them from KV and watches: a queue of keys under a prefix, ordered by
//! creation revision, where each waiter watches only the key just ahead of it.

use tokio::sync::mpsc;
use tonic::Status;

use super::lease::LeaseService;
use super::status::status;
use crate::pb::etcdserverpb::lease_server::Lease as _;
use crate::pb::{etcdserverpb as pb, mvccpb};
use crate::server::applier::AppliedResponse;
use crate::server::handle::MemberHandle;
use crate::server::watch_hub::{CloseStream, OpenStream, StreamRequest, StreamSink};

/// An error of a Lock or Election call as etcd answers it: its v3lock and v3election
/// servers call the KV through an in-process client, which turns each error into a plain
/// Go error, so gRPC passes it on with code Unknown (and the same message).
pub fn client_error(status: Status) -> Status {
    Status::unknown(status.message())
}

/// The key a lease holds under a prefix: `prefix` + the lease id in lowercase hex, as
/// etcd's sessions name them.
pub fn lease_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{lease:x}").as_bytes());
    key
}

/// The end of the range of every key starting with `prefix` (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Runs a txn through Raft.
pub async fn txn(
    member: &MemberHandle,
    request: pb::TxnRequest,
) -> Result<pb::TxnResponse, Status> {
    let internal = pb::InternalRaftRequest {
        txn: Some(request),
        ..Default::default()
    };
    match member.propose(internal).await.map_err(status)? {
        AppliedResponse::Txn(response) => {
            let header = member.header(response.revision);
            Ok(crate::server::convert::txn_response(response, Some(header)))
        }
        _ => Err(Status::internal(
            "etcd-rs: the applier answered another kind",
        )),
    }
}

/// A linearizable range.
pub async fn range(
    member: &MemberHandle,
    request: pb::RangeRequest,
) -> Result<pb::RangeResponse, Status> {
    let request = crate::server::convert::range_request(&request)
        .map_err(|e| super::status::mvcc_status(&e))?;
    let response = member.range(request).await.map_err(status)?;
    let header = member.header(response.revision);
    Ok(crate::server::convert::range_response(
        response,
        Some(header),
    ))
}

/// A compare on a key's creation revision.
pub fn create_revision_is(key: &[u8], revision: i64) -> pb::Compare {
    pb::Compare {
        result: pb::compare::CompareResult::Equal as i32,
        target: pb::compare::CompareTarget::Create as i32,
        key: key.to_vec(),
        target_union: Some(pb::compare::TargetUnion::CreateRevision(revision)),
        range_end: Vec::new(),
    }
}

/// A put op.
pub fn put_op(key: &[u8], value: &[u8], lease: i64) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease,
            ..Default::default()
        })),
    }
}

/// A get op.
pub fn get_op(key: &[u8]) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
            key: key.to_vec(),
            ..Default::default()
        })),
    }
}

/// A delete op.
pub fn delete_op(key: &[u8]) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestDeleteRange(
            pb::DeleteRangeRequest {
                key: key.to_vec(),
                ..Default::default()
            },
        )),
    }
}

/// etcd's `concurrency` session TTL when the caller gives no lease, in seconds.
const SESSION_TTL_SECS: i64 = 60;

/// The lease a Lock or Campaign call queues its key under: the request's, or for none (0)
/// a new lease of [`SESSION_TTL_SECS`], as etcd's servers make a `concurrency` session
/// for the call. They never keep that session alive, so the key goes when it expires.
pub async fn session_lease(member: &MemberHandle, lease: i64) -> Result<i64, Status> {
    if lease != 0 {
        return Ok(lease);
    }
    let grant = pb::LeaseGrantRequest {
        ttl: SESSION_TTL_SECS,
        id: 0,
    };
    let granted = LeaseService::new(member.clone())
        .lease_grant(tonic::Request::new(grant))
        .await?;
    Ok(granted.into_inner().id)
}

/// Creates `key` with `value` under `lease` unless it exists; answers its creation
/// revision, its current value, and the txn's header.
pub async fn create_or_get(
    member: &MemberHandle,
    key: &[u8],
    value: &[u8],
    lease: i64,
) -> Result<(i64, Vec<u8>, pb::ResponseHeader), Status> {
    let response = txn(
        member,
        pb::TxnRequest {
            compare: vec![create_revision_is(key, 0)],
            success: vec![put_op(key, value, lease)],
            failure: vec![get_op(key)],
        },
    )
    .await?;
    let header = response.header.unwrap_or_default();
    if response.succeeded {
        return Ok((header.revision, value.to_vec(), header));
    }
    let existing = response
        .responses
        .into_iter()
        .find_map(|r| match r.response {
            Some(pb::response_op::Response::ResponseRange(range)) => range.kvs.into_iter().next(),
            _ => None,
        })
        .ok_or_else(|| Status::internal("etcd-rs: a key vanished inside a txn"))?;
    Ok((existing.create_revision, existing.value, header))
}

/// The key under `prefix` created last at or before `max_create_revision`, if any.
pub async fn last_created_before(
    member: &MemberHandle,
    prefix: &[u8],
    max_create_revision: i64,
) -> Result<(Option<mvccpb::KeyValue>, pb::ResponseHeader), Status> {
    by_creation(
        member,
        prefix,
        pb::range_request::SortOrder::Descend,
        max_create_revision,
    )
    .await
}

/// The key under `prefix` created first, if any.
pub async fn first_created(
    member: &MemberHandle,
    prefix: &[u8],
) -> Result<(Option<mvccpb::KeyValue>, pb::ResponseHeader), Status> {
    by_creation(member, prefix, pb::range_request::SortOrder::Ascend, 0).await
}

/// The first key under `prefix` in creation order `order`, among those created at or
/// before `max_create_revision` (0: any).
async fn by_creation(
    member: &MemberHandle,
    prefix: &[u8],
    order: pb::range_request::SortOrder,
    max_create_revision: i64,
) -> Result<(Option<mvccpb::KeyValue>, pb::ResponseHeader), Status> {
    let response = range(
        member,
        pb::RangeRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            limit: 1,
            sort_order: order as i32,
            sort_target: pb::range_request::SortTarget::Create as i32,
            max_create_revision,
            ..Default::default()
        },
    )
    .await?;
    Ok((
        response.kvs.into_iter().next(),
        response.header.unwrap_or_default(),
    ))
}

/// A watcher inside the member, on the member's WatchHub.
pub struct InternalWatch {
    rx: mpsc::UnboundedReceiver<crate::server::watch_hub::Outgoing>,
    unread: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    hub: actix::Addr<crate::server::watch_hub::WatchHub>,
    stream: u64,
}

impl InternalWatch {
    /// Watches `[key, range_end)` from `start_revision`.
    pub async fn start(
        member: &MemberHandle,
        key: &[u8],
        range_end: &[u8],
        start_revision: i64,
    ) -> Result<InternalWatch, Status> {
        let hub = member.watch_hub().clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let unread = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let stream = hub
            .send(OpenStream(StreamSink {
                tx,
                unread: unread.clone(),
            }))
            .await
            .map_err(|_| Status::unavailable("etcdserver: server stopped"))?;
        let create = pb::WatchCreateRequest {
            key: key.to_vec(),
            range_end: range_end.to_vec(),
            start_revision,
            ..Default::default()
        };
        hub.send(StreamRequest {
            stream,
            request: pb::watch_request::RequestUnion::CreateRequest(create),
        })
        .await
        .map_err(|_| Status::unavailable("etcdserver: server stopped"))?;
        Ok(InternalWatch {
            rx,
            unread,
            hub,
            stream,
        })
    }

    /// The next events (skipping control responses); an error if the watch was
    /// cancelled (its revision was compacted) or the member stopped.
    pub async fn next_events(&mut self) -> Result<Vec<mvccpb::Event>, Status> {
        loop {
            let outgoing = self
                .rx
                .recv()
                .await
                .ok_or_else(|| Status::unavailable("etcdserver: server stopped"))?;
            if outgoing.counted {
                self.unread
                    .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            }
            let response = outgoing.response;
            if response.canceled {
                return Err(Status::unknown(response.cancel_reason));
            }
            if !response.events.is_empty() {
                return Ok(response.events);
            }
        }
    }
}

impl Drop for InternalWatch {
    fn drop(&mut self) {
        self.hub.do_send(CloseStream(self.stream));
    }
}

/// Waits until `key` is deleted (watching from `revision`).
pub async fn wait_deleted(member: &MemberHandle, key: &[u8], revision: i64) -> Result<(), Status> {
    let mut watch = InternalWatch::start(member, key, &[], revision).await?;
    loop {
        let events = watch.next_events().await?;
        if events
            .iter()
            .any(|e| e.r#type == mvccpb::event::EventType::Delete as i32)
        {
            return Ok(());
        }
    }
}

/// etcd's `waitDeletes`: waits until no key under `prefix` was created at or before
/// `max_create_revision`; answers the header of the last check.
pub async fn wait_deletes(
    member: &MemberHandle,
    prefix: &[u8],
    max_create_revision: i64,
) -> Result<pb::ResponseHeader, Status> {
    loop {
        let (last, header) = last_created_before(member, prefix, max_create_revision).await?;
        let Some(ahead) = last else {
            return Ok(header);
        };
        wait_deleted(member, &ahead.key, header.revision + 1).await?;
    }
}
