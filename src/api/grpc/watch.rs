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

#[tonic::async_trait]
impl Watch for WatchService {
    type WatchStream = ResponseStream;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
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
        let mut incoming = request.into_inner();
        let requests = hub.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = incoming.next().await {
                if let Some(request) = message.request_union {
                    // Sent in order; a full mailbox waits rather than drop a request.
                    if requests
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
        Ok(Response::new(ResponseStream {
            rx,
            unread,
            hub,
            id,
        }))
    }
}
