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
    pub async fn watch_stream<S>(&self, requests: S) -> Result<ResponseStream, Status>
    where
        S: Stream<Item = pb::WatchRequest> + Send + 'static,
    {
        let hub = self.member.watch_hub().clone();
        let (tx, rx) = mpsc::unbounded_channel();
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
        let requests = request.into_inner().map_while(Result::ok);
        self.watch_stream(requests).await.map(Response::new)
    }
}
