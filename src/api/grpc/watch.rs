//! The Watch service: one bidirectional stream per call, many watchers per stream, all
//! served by the member's WatchHub.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use actix::Addr;
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status, Streaming};

use super::auth::Credentials;
use super::status::auth_status;
use crate::auth::Access;
use crate::pb::etcdserverpb::{self as pb, watch_server::Watch};
use crate::server::handle::MemberHandle;
use crate::server::watch_hub::{
    CloseStream, OpenStream, Outgoing, StreamRequest, StreamSink, WatchHub,
};

/// etcd's Watch service on one member.
pub struct WatchService {
    member: MemberHandle,
}

impl WatchService {
    /// The service of `member`.
    pub fn new(member: MemberHandle) -> WatchService {
        WatchService { member }
    }
}

/// The responses of one stream, as tonic sends them. Dropping it (the client went away)
/// closes the stream's watchers.
pub struct ResponseStream {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    unread: Arc<AtomicUsize>,
    hub: Addr<WatchHub>,
    id: u64,
}

impl Stream for ResponseStream {
    type Item = Result<pb::WatchResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(outgoing)) => {
                if outgoing.counted {
                    self.unread.fetch_sub(1, Ordering::AcqRel);
                }
                Poll::Ready(Some(Ok(outgoing.response)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        self.hub.do_send(CloseStream(self.id));
    }
}

impl WatchService {
    /// Serves one watch stream: the requests of `requests` in order, the responses as the
    /// returned stream. The watchers outlive the end of `requests` (etcd keeps a stream
    /// whose client stopped sending): they close when the returned stream is dropped.
    /// Requests are read only as fast as the WatchHub takes them, so a fast sender waits.
    ///
    /// With auth enabled, each watch is created only if the stream's user (its token's
    /// or its certificate's, checked at each create) may read the watched range; if
    /// not, the create is answered as created and canceled, with etcd's reason.
    pub async fn watch_stream<S>(
        &self,
        requests: S,
        credentials: Credentials,
    ) -> Result<ResponseStream, Status>
    where
        S: Stream<Item = pb::WatchRequest> + Send + 'static,
    {
        let hub = self.member.watch_hub().clone();
        let (tx, rx) = mpsc::unbounded_channel();
        let refusals = tx.clone();
        let member = self.member.clone();
        let unread = Arc::new(AtomicUsize::new(0));
        let sink = StreamSink {
            tx,
            unread: unread.clone(),
        };
        let id = hub
            .send(OpenStream(sink))
            .await
            .map_err(|_| Status::unavailable("etcdserver: server stopped"))?;
        let requests_to = hub.clone();
        tokio::spawn(async move {
            let mut incoming = std::pin::pin!(requests);
            while let Some(message) = incoming.next().await {
                if let Some(request) = message.request_union {
                    if let Some(refusal) = refuse_create(&member, &credentials, &request) {
                        let _ = refusals.send(Outgoing {
                            response: refusal,
                            counted: false,
                        });
                        continue;
                    }
                    // Sent in order; a full mailbox waits rather than drop a request.
                    if requests_to
                        .send(StreamRequest {
                            stream: id,
                            request,
                        })
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        });
        Ok(ResponseStream {
            rx,
            unread,
            hub,
            id,
        })
    }
}

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = ResponseStream;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        // A transport error ends the requests, as the end of the client's stream does.
        let credentials = Credentials::of(&request);
        let requests = request.into_inner().map_while(Result::ok);
        self.watch_stream(requests, credentials)
            .await
            .map(Response::new)
    }
}

/// The name Go's gRPC gives `code` in an error's text.
fn go_code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::InvalidArgument => "InvalidArgument",
        tonic::Code::Unauthenticated => "Unauthenticated",
        tonic::Code::PermissionDenied => "PermissionDenied",
        tonic::Code::FailedPrecondition => "FailedPrecondition",
        _ => "Unknown",
    }
}

/// etcd's answer to a watch create the stream's user may not make: created, canceled,
/// with the reason (None: the request may go on).
fn refuse_create(
    member: &MemberHandle,
    credentials: &Credentials,
    request: &pb::watch_request::RequestUnion,
) -> Option<pb::WatchResponse> {
    let pb::watch_request::RequestUnion::CreateRequest(create) = request else {
        return None;
    };
    let refused = match credentials.user(member) {
        Err(status) => status,
        Ok(user) => match member.auth.read().check(
            user.as_ref(),
            Access::Read,
            &create.key,
            &create.range_end,
        ) {
            Ok(()) => return None,
            Err(e) => auth_status(&e),
        },
    };
    // etcd's reason is the Go text of the gRPC error, and the watch has no id.
    let reason = format!(
        "rpc error: code = {} desc = {}",
        go_code_name(refused.code()),
        refused.message()
    );
    Some(pb::WatchResponse {
        header: Some(member.header(member.applied().revision)),
        watch_id: -1,
        created: true,
        canceled: true,
        cancel_reason: reason,
        ..Default::default()
    })
}
