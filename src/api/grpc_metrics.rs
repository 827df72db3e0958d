//! The tower layer that counts the client port's gRPC calls into
//! [`crate::metrics::grpc`], as go-grpc-prometheus and etcd's codec count them in etcd:
//!
//! - `grpc_server_started_total` when a call of a known method arrives;
//! - `grpc_server_msg_received_total` / `_msg_sent_total` for each length-prefixed gRPC
//!   message read from the request body / written to the response body, and
//!   `etcd_network_client_grpc_received_bytes_total` / `_sent_bytes_total` for their
//!   protobuf bytes (the 5-byte gRPC prefix excluded, as etcd's codec sees them);
//! - `grpc_server_handled_total{grpc_code}` once per call, with the call's gRPC status:
//!   from the response headers when the answer is trailers-only (an error before any
//!   message, which is how tonic answers a failed unary call), else from the trailers at
//!   the end of the response body. A body dropped before its trailers (the client reset
//!   the stream or went away, or a future dropped) counts as `Canceled`, as grpc-go
//!   reports a call whose client cancelled.
//!
//! It sits inside the learner guard ([`super::learner`]): etcd's prometheus interceptor
//! runs after its learner check, so a call a learner refuses is not counted there either.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body as _, Frame, SizeHint};
use tonic::body::Body;
use tonic::codegen::{Bytes, http};

use crate::metrics::grpc::{CODE_CANCELED, CODE_UNKNOWN, GrpcMetrics, MethodMetrics};

/// Wraps the gRPC routes of a client port.
pub fn layer<S>(
    metrics: Arc<GrpcMetrics>,
) -> impl tower::Layer<S, Service = GrpcMetered<S>> + Clone {
    tower::layer::layer_fn(move |inner| GrpcMetered {
        inner,
        metrics: metrics.clone(),
    })
}

/// Counts the calls of the wrapped service.
#[derive(Clone)]
pub struct GrpcMetered<S> {
    inner: S,
    metrics: Arc<GrpcMetrics>,
}

impl<S> tower::Service<http::Request<Body>> for GrpcMetered<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let Some(method) = self.metrics.method(request.uri().path()) else {
            return Box::pin(self.inner.call(request));
        };
        method.started.inc();
        let call = Call {
            method: method.clone(),
            started: Instant::now(),
            finished: false,
        };
        let metrics = self.metrics.clone();
        let request = request.map(|body| {
            Body::new(Counted {
                inner: body,
                messages: Messages::default(),
                on_message: Direction::Received(method, metrics.clone()),
                call: None,
            })
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            // Dropped before the answer (the client went away): `call` counts Canceled.
            let response = response.await?;
            Ok(answer(response, call, metrics))
        })
    }
}

/// Finishes `call` now if the answer is trailers-only, and wraps the body to count what
/// it sends and how it ends.
fn answer(
    response: http::Response<Body>,
    mut call: Call,
    metrics: Arc<GrpcMetrics>,
) -> http::Response<Body> {
    if let Some(code) = grpc_status(response.headers()) {
        call.finish(code);
    } else if response.body().is_end_stream() {
        // No status anywhere: not a gRPC answer grpc-go would give.
        call.finish(CODE_UNKNOWN);
    }
    let method = call.method.clone();
    response.map(|body| {
        Body::new(Counted {
            inner: body,
            messages: Messages::default(),
            on_message: Direction::Sent(method, metrics),
            call: Some(call),
        })
    })
}

/// The `grpc-status` of a header map (headers or trailers), if it has one.
fn grpc_status(headers: &http::HeaderMap) -> Option<usize> {
    let value = headers.get("grpc-status")?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CODE_UNKNOWN),
    )
}

/// One call of a counted method: counted handled exactly once, as Canceled if it is
/// dropped unfinished.
struct Call {
    method: Arc<MethodMetrics>,
    started: Instant,
    finished: bool,
}

impl Call {
    fn finish(&mut self, code: usize) {
        if !self.finished {
            self.finished = true;
            self.method
                .handled(code, self.started.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(CODE_CANCELED);
    }
}

/// Which way a body's messages go, and where they are counted.
enum Direction {
    Received(Arc<MethodMetrics>, Arc<GrpcMetrics>),
    Sent(Arc<MethodMetrics>, Arc<GrpcMetrics>),
}

impl Direction {
    fn count(&self, length: u64) {
        match self {
            Direction::Received(method, metrics) => {
                method.msg_received.inc();
                metrics.received_bytes.inc_by(length);
            }
            Direction::Sent(method, metrics) => {
                method.msg_sent.inc();
                metrics.sent_bytes.inc_by(length);
            }
        }
    }
}

/// Bytes of the prefix of each gRPC message: compressed flag (1), length (4, big-endian).
const PREFIX_BYTES: usize = 5;

/// Finds the gRPC messages in a body's data, however it is split into chunks.
#[derive(Default)]
struct Messages {
    prefix: [u8; PREFIX_BYTES],
    /// Bytes of `prefix` read so far for the current message.
    prefix_read: usize,
    /// The current message's length, once its prefix is complete.
    length: u64,
    /// Bytes of the current message still to come.
    remaining: u64,
}

impl Messages {
    /// Reads `data`, calling `complete` with the length of each message it completes.
    fn feed(&mut self, mut data: &[u8], mut complete: impl FnMut(u64)) {
        while !data.is_empty() {
            if self.prefix_read < PREFIX_BYTES {
                let n = (PREFIX_BYTES - self.prefix_read).min(data.len());
                self.prefix[self.prefix_read..self.prefix_read + n].copy_from_slice(&data[..n]);
                self.prefix_read += n;
                data = &data[n..];
                if self.prefix_read == PREFIX_BYTES {
                    let length = [
                        self.prefix[1],
                        self.prefix[2],
                        self.prefix[3],
                        self.prefix[4],
                    ];
                    self.length = u64::from(u32::from_be_bytes(length));
                    self.remaining = self.length;
                }
            } else {
                let n = self.remaining.min(data.len() as u64);
                self.remaining -= n;
                data = &data[n as usize..];
            }
            if self.prefix_read == PREFIX_BYTES && self.remaining == 0 {
                complete(self.length);
                self.prefix_read = 0;
            }
        }
    }
}

/// A request or response body that counts its messages; a response body also ends its
/// call.
struct Counted {
    inner: Body,
    messages: Messages,
    on_message: Direction,
    /// The call, on a response body whose answer did not end it yet.
    call: Option<Call>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let direction = &this.on_message;
                    this.messages.feed(data, |length| direction.count(length));
                }
                if let (Some(trailers), Some(call)) = (frame.trailers_ref(), &mut this.call) {
                    call.finish(grpc_status(trailers).unwrap_or(CODE_UNKNOWN));
                }
            }
            Poll::Ready(Some(Err(status))) => {
                if let Some(call) = &mut this.call {
                    call.finish(status.code() as usize);
                }
            }
            Poll::Ready(None) => {
                if let Some(call) = &mut this.call {
                    call.finish(CODE_UNKNOWN);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn messages_are_found_however_the_data_is_split() {
        let mut data = message(b"abc");
        data.extend(message(b""));
        data.extend(message(&[7; 300]));
        for split in 1..data.len() {
            let mut found = Vec::new();
            let mut messages = Messages::default();
            for chunk in data.chunks(split) {
                messages.feed(chunk, |length| found.push(length));
            }
            assert_eq!(found, [3, 0, 300], "chunks of {split} bytes");
        }
    }

    #[test]
    fn the_status_is_read_from_headers_and_a_bad_one_is_unknown() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_status(&headers), None);
        headers.insert("grpc-status", http::HeaderValue::from_static("11"));
        assert_eq!(grpc_status(&headers), Some(11));
        headers.insert("grpc-status", http::HeaderValue::from_static("x"));
        assert_eq!(grpc_status(&headers), Some(CODE_UNKNOWN));
    }
}
