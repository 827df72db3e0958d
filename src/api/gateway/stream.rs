//! The streaming calls through the gateway: Watch and LeaseKeepAlive (the request body is
//! a sequence of JSON objects, one request each, decoded as they arrive), and
//! Election.Observe and Maintenance.Snapshot (one request, a stream of responses). Each
//! response is written as the line `{"result":<message>}\n` and flushed as it happens.
//!
//! What etcd 3.4's gateway (grpc-gateway v1) does, and so does this one (captured with
//! curl, see `tests/gateway_streams.rs`):
//! - Nothing is written before the call's first response: the status and headers go with
//!   it. A call that fails before its first response answers the failure's status
//!   (429 for ResourceExhausted, ...) and the body `{"error":{"grpc_code":8,"http_code":
//!   429,"message":M,"http_status":"Too Many Requests"}}`, with no newline; a failure
//!   after it is that same object written as the stream's last bytes (status 200).
//! - Watch and LeaseKeepAlive read their first request before the call: a body that does
//!   not start with a well-formed message is refused as a unary call is, but with gRPC
//!   code 2 (HTTP 500), since grpc-gateway passes the decoder's error on as it is. An
//!   empty body is a call with no requests, answered without `Grpc-Metadata-Content-Type`.
//! - A malformed object later in the body ends the requests silently, as the end of the
//!   body does: LeaseKeepAlive then answers what it was sent and ends; a watch stays open
//!   (etcd's watch server ignores the end of its client's requests) until the client
//!   goes away. A message over the gRPC size limit fails the call (ResourceExhausted),
//!   after the answers to the requests before it.
//! - Observe and Snapshot read their one request as a unary call does (code 3, HTTP 400).
//! - Snapshot answers one line per 32 KiB chunk of the file, then the SHA-256 line, and
//!   ends (see `maintenance::snapshot_response` for what a line holds).
//!
//! Not reproduced: etcd 3.4's HTTP/1 server discards the rest of the request body when it
//! writes the first response (Go's server is not full duplex before Go 1.21), so there a
//! request that arrives after the first response is lost. Here the body is read as it
//! arrives, for as long as the client sends it.
//!
//! Memory is bounded: a request is held decoded at most [`DECODED_REQUESTS_MAX`] deep
//! before the service takes it, the body is read only as fast as that, one partial JSON
//! value may hold at most the unary body bound, and the responses are bounded by the
//! services (the WatchHub's unread responses per stream, the keep-alive channel, the
//! snapshot's chunks in flight); a line is written only as fast as the client reads.

use std::convert::Infallible;
use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::web::{self, Bytes, Payload};
use actix_web::{HttpResponse, HttpResponseBuilder};
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::{Stream, StreamExt as _};
use tonic::Status;
use tonic::metadata::MetadataMap;

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use super::scan::ValueReader;
use super::value::Raw;
use super::{BODY_INFLATION_MAX, GRPC_OVERHEAD_BYTES};
use super::{
    cors, election, failure, http_status, lease, maintenance, request, request_fields, watch,
};
use crate::api::grpc::auth::Credentials;
use crate::api::grpc::election::ElectionService;
use crate::api::grpc::lease::LeaseService;
use crate::api::grpc::maintenance::MaintenanceService;
use crate::api::grpc::watch::WatchService;
use crate::pb::etcdserverpb::maintenance_server::Maintenance;
use crate::pb::v3electionpb::election_server::Election;
use crate::server::handle::MemberHandle;

/// Requests decoded from the body ahead of the service's taking them. Small: the body is
/// read only as fast as the service takes its requests.
pub const DECODED_REQUESTS_MAX: usize = 16;

/// The streaming calls.
#[derive(Clone, Copy, Debug)]
pub enum StreamCall {
    Watch,
    KeepAlive,
    Observe,
    Snapshot,
}

/// Each streaming call's path under a prefix.
pub const STREAM_CALLS: &[(&str, StreamCall)] = &[
    ("/watch", StreamCall::Watch),
    ("/lease/keepalive", StreamCall::KeepAlive),
    ("/election/observe", StreamCall::Observe),
    ("/maintenance/snapshot", StreamCall::Snapshot),
];

/// Serves one streaming call, as the client `metadata` names (see [`super::metadata`]).
pub async fn serve_stream(
    call: StreamCall,
    member: web::Data<MemberHandle>,
    metadata: MetadataMap,
    payload: Payload,
) -> HttpResponse {
    let member = member.get_ref().clone();
    // A learner serves no stream (etcd's stream interceptor refuses them all).
    if member.status().is_learner {
        return first_failure(&crate::api::learner::not_supported());
    }
    let message_bytes_max = member.limits.max_request_bytes + GRPC_OVERHEAD_BYTES;
    let body = BodyReader::new(
        payload,
        message_bytes_max.saturating_mul(BODY_INFLATION_MAX),
    );
    let answer = match call {
        StreamCall::Watch => watch_call(member, metadata, body, message_bytes_max).await,
        StreamCall::KeepAlive => keep_alive_call(member, metadata, body, message_bytes_max).await,
        StreamCall::Observe => observe_call(member, metadata, body, message_bytes_max).await,
        StreamCall::Snapshot => snapshot_call(member, metadata, body, message_bytes_max).await,
    };
    answer.unwrap_or_else(|refused| refused)
}

/// The credentials of a call with `metadata`, as the gRPC service reads them from its
/// request (a token; the gateway passes on no certificate).
fn credentials(metadata: MetadataMap) -> Credentials {
    Credentials::of(&tonic::Request::from_parts(
        metadata,
        tonic::Extensions::default(),
        (),
    ))
}

/// Watch: the body's requests in, the watch stream's responses out.
async fn watch_call(
    member: MemberHandle,
    metadata: MetadataMap,
    body: BodyReader,
    message_bytes_max: usize,
) -> Result<HttpResponse, HttpResponse> {
    let (requests, first) = Requests::start(body, watch::watch_request, message_bytes_max).await?;
    let responses = WatchService::new(member)
        .watch_stream(requests.stream, credentials(metadata))
        .await
        .map_err(|status| failure(&status))?;
    let lines = Lines::new(responses, requests.fault, watch::watch_response);
    Ok(respond(lines, first).await)
}

/// LeaseKeepAlive: the body's requests in, one response per request out.
async fn keep_alive_call(
    member: MemberHandle,
    metadata: MetadataMap,
    body: BodyReader,
    message_bytes_max: usize,
) -> Result<HttpResponse, HttpResponse> {
    let (requests, first) =
        Requests::start(body, lease::keep_alive_request, message_bytes_max).await?;
    let responses =
        LeaseService::new(member).keep_alive_stream(requests.stream, credentials(metadata));
    let lines = Lines::new(responses, requests.fault, lease::keep_alive_response);
    Ok(respond(lines, first).await)
}

/// Election.Observe: one request, read as a unary call's, and its stream of leaders.
async fn observe_call(
    member: MemberHandle,
    metadata: MetadataMap,
    body: BodyReader,
    message_bytes_max: usize,
) -> Result<HttpResponse, HttpResponse> {
    let observed =
        one_request(body, election::leader_request, message_bytes_max, &metadata).await?;
    let responses = ElectionService::new(member)
        .observe(observed)
        .await
        .map_err(|status| failure(&status))?;
    Ok(respond(
        one_request_lines(responses.into_inner(), election::leader_response),
        true,
    )
    .await)
}

/// Maintenance.Snapshot: one (empty) request, read as a unary call's, and the file's
/// chunks, then its SHA-256.
async fn snapshot_call(
    member: MemberHandle,
    metadata: MetadataMap,
    body: BodyReader,
    message_bytes_max: usize,
) -> Result<HttpResponse, HttpResponse> {
    let snapshot = one_request(
        body,
        maintenance::snapshot_request,
        message_bytes_max,
        &metadata,
    )
    .await?;
    let responses = MaintenanceService::new(member)
        .snapshot(snapshot)
        .await
        .map_err(|status| failure(&status))?;
    Ok(respond(
        one_request_lines(responses.into_inner(), maintenance::snapshot_response),
        true,
    )
    .await)
}

/// The one request of a server-streaming call: the whole body, read as a unary call's
/// (a refusal is a unary call's failure), carrying `metadata`.
async fn one_request<M: Message>(
    body: BodyReader,
    decode: fn(&Fields<'_>) -> Result<M, DecodeError>,
    message_bytes_max: usize,
    metadata: &MetadataMap,
) -> Result<tonic::Request<M>, HttpResponse> {
    let refuse = |status: Status| failure(&status);
    let body = body.into_bytes().await.map_err(refuse)?;
    let fields = request_fields(&body)
        .map_err(Status::invalid_argument)
        .map_err(refuse)?;
    request(decode(&fields), message_bytes_max, metadata).map_err(refuse)
}

/// The lines of a server-streaming call: its one request was read before the call, so
/// none can be refused later.
fn one_request_lines<S, M>(responses: S, encode: fn(&M) -> String) -> Lines<S, M> {
    let (_, no_fault) = oneshot::channel();
    Lines::new(responses, no_fault, encode)
}

/// Answers the call's lines: waits for the first, which sets the status (see the module
/// doc). `metadata`: the call had a first request (grpc-gateway then passes the gRPC
/// headers on).
async fn respond<S, M>(mut lines: Lines<S, M>, metadata: bool) -> HttpResponse
where
    S: Stream<Item = Result<M, Status>> + Unpin + 'static,
    M: 'static,
{
    let first = lines.next().await;
    if let Some(Chunk::Failure(status)) = &first {
        return cors(&mut HttpResponse::build(http_status(status.code())))
            .content_type("application/json")
            .body(stream_error(status));
    }
    let mut response = HttpResponse::Ok();
    cors(&mut response).content_type("application/json");
    if metadata {
        response.insert_header(("Grpc-Metadata-Content-Type", "application/grpc"));
    }
    let first = first.map(Chunk::into_bytes);
    let rest = lines.map(Chunk::into_bytes);
    streaming(&mut response, tokio_stream::iter(first).chain(rest))
}

fn streaming(
    response: &mut HttpResponseBuilder,
    body: impl Stream<Item = Bytes> + 'static,
) -> HttpResponse {
    response.streaming(body.map(Ok::<_, Infallible>))
}

/// A failure of a streaming call as grpc-gateway v1 writes it (its `StreamError`).
fn stream_error(status: &Status) -> String {
    let http = http_status(status.code());
    let error = Object::new()
        .raw("grpc_code", &(status.code() as i32).to_string())
        .raw("http_code", &http.as_u16().to_string())
        .string("message", status.message())
        .string("http_status", http.canonical_reason().unwrap_or_default())
        .finish();
    Object::new().raw("error", &error).finish()
}

/// One piece of a streaming answer.
enum Chunk {
    /// `{"result":...}\n`.
    Line(Bytes),
    /// The failure that ends the stream.
    Failure(Status),
}

impl Chunk {
    fn into_bytes(self) -> Bytes {
        match self {
            Chunk::Line(line) => line,
            Chunk::Failure(status) => Bytes::from(stream_error(&status)),
        }
    }
}

/// A call's responses as the chunks of its answer, ended by the call's failure, if any:
/// an error from the service, or the refusal of a request (`fault`), which comes after
/// the answers to the requests before it.
struct Lines<S, M> {
    responses: S,
    /// Fires when a request was refused; its sender is dropped when none was.
    fault: Option<oneshot::Receiver<Status>>,
    encode: fn(&M) -> String,
    done: bool,
}

impl<S, M> Lines<S, M> {
    fn new(responses: S, fault: oneshot::Receiver<Status>, encode: fn(&M) -> String) -> Self {
        Lines {
            responses,
            fault: Some(fault),
            encode,
            done: false,
        }
    }

    /// The refusal of a request, if one was made (and registers for it otherwise).
    fn poll_fault(&mut self, cx: &mut Context<'_>) -> Option<Status> {
        let fault = self.fault.as_mut()?;
        match Pin::new(fault).poll(cx) {
            Poll::Ready(Ok(status)) => {
                self.fault = None;
                Some(status)
            }
            Poll::Ready(Err(_)) => {
                // No request was refused: the requests ended or the body did.
                self.fault = None;
                None
            }
            Poll::Pending => None,
        }
    }
}

impl<S, M> Stream for Lines<S, M>
where
    S: Stream<Item = Result<M, Status>> + Unpin,
{
    type Item = Chunk;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        if self.done {
            return Poll::Ready(None);
        }
        // Responses already made come first: the refusal follows them.
        let polled = Pin::new(&mut self.responses).poll_next(cx);
        let chunk = match polled {
            Poll::Ready(Some(Ok(message))) => {
                let line = format!("{{\"result\":{}}}\n", (self.encode)(&message));
                return Poll::Ready(Some(Chunk::Line(Bytes::from(line))));
            }
            Poll::Ready(Some(Err(status))) => Some(Chunk::Failure(status)),
            Poll::Ready(None) => self.poll_fault(cx).map(Chunk::Failure),
            Poll::Pending => match self.poll_fault(cx) {
                Some(status) => Some(Chunk::Failure(status)),
                None => return Poll::Pending,
            },
        };
        self.done = true;
        Poll::Ready(chunk)
    }
}

/// The requests of a call, decoded from its body by a task that reads it as it arrives.
struct Requests<M> {
    stream: RequestStream<M>,
    /// Fires when the task refused a request (one over the gRPC size limit).
    fault: oneshot::Receiver<Status>,
}

impl<M: Send + 'static> Requests<M> {
    /// Reads the first request, then starts the task that decodes the others. Answers
    /// the requests and whether there was a first one, or the answer refusing the call.
    async fn start(
        mut body: BodyReader,
        decode: fn(&Fields<'_>) -> Result<M, DecodeError>,
        message_bytes_max: usize,
    ) -> Result<(Requests<M>, bool), HttpResponse>
    where
        M: Message,
    {
        let first = match body.next_value().await {
            Ok(None) => None,
            Ok(Some(value)) => match decode_request(&value, decode, message_bytes_max) {
                Ok(first) => Some(first),
                Err(Refusal::Malformed(e)) => return Err(failure(&Status::unknown(e))),
                Err(Refusal::Failed(status)) => return Err(first_failure(&status)),
            },
            Err(Refusal::Malformed(e)) => return Err(failure(&Status::unknown(e))),
            Err(Refusal::Failed(status)) => return Err(first_failure(&status)),
        };
        let had_first = first.is_some();
        let (tx, rx) = mpsc::channel(DECODED_REQUESTS_MAX);
        let (fault_tx, fault) = oneshot::channel();
        if had_first {
            // The body is not `Send`: its task runs on this (actix) thread.
            actix_web::rt::spawn(decode_body(body, decode, message_bytes_max, tx));
        }
        let stream = RequestStream {
            first,
            rx,
            fault: Some(fault_tx),
        };
        Ok((Requests { stream, fault }, had_first))
    }
}

/// A refusal before the first response, with the stream error's status and body.
fn first_failure(status: &Status) -> HttpResponse {
    cors(&mut HttpResponse::build(http_status(status.code())))
        .content_type("application/json")
        .body(stream_error(status))
}

/// Why a request was not passed on.
enum Refusal {
    /// Not a well-formed message: the requests end (grpc-gateway stops reading).
    Malformed(DecodeError),
    /// Refused as the gRPC server refuses it: the call fails.
    Failed(Status),
}

fn decode_request<M: Message>(
    value: &[u8],
    decode: fn(&Fields<'_>) -> Result<M, DecodeError>,
    message_bytes_max: usize,
) -> Result<M, Refusal> {
    let fields = Fields::of(Raw::new(value))
        .map_err(Refusal::Malformed)?
        .unwrap_or_else(Fields::empty);
    let message = decode(&fields).map_err(Refusal::Malformed)?;
    let len = message.encoded_len();
    if len > message_bytes_max {
        return Err(Refusal::Failed(Status::resource_exhausted(format!(
            "grpc: received message larger than max ({len} vs. {message_bytes_max})"
        ))));
    }
    Ok(message)
}

/// Decodes the rest of the body into `tx`, one request at a time, until the body ends,
/// a value is malformed (the requests end), a request is refused (sent as the last
/// item), or the service stops taking requests.
async fn decode_body<M: Message>(
    mut body: BodyReader,
    decode: fn(&Fields<'_>) -> Result<M, DecodeError>,
    message_bytes_max: usize,
    tx: mpsc::Sender<Result<M, Status>>,
) {
    loop {
        let item = match body.next_value().await {
            Ok(Some(value)) => match decode_request(&value, decode, message_bytes_max) {
                Ok(message) => Ok(message),
                Err(Refusal::Failed(status)) => Err(status),
                Err(Refusal::Malformed(_)) => return,
            },
            Ok(None) | Err(Refusal::Malformed(_)) => return,
            Err(Refusal::Failed(status)) => Err(status),
        };
        let last = item.is_err();
        if tx.send(item).await.is_err() || last {
            return;
        }
    }
}

/// The requests as the service reads them. A refused request ends them and fires the
/// fault: only when the service asks for the next request, so after it has answered
/// the ones before.
struct RequestStream<M> {
    first: Option<M>,
    rx: mpsc::Receiver<Result<M, Status>>,
    fault: Option<oneshot::Sender<Status>>,
}

impl<M: Unpin> Stream for RequestStream<M> {
    type Item = M;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<M>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(message))) => Poll::Ready(Some(message)),
            Poll::Ready(Some(Err(status))) => {
                if let Some(fault) = self.fault.take() {
                    let _ = fault.send(status);
                }
                self.rx.close();
                Poll::Ready(None)
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A request body read as a sequence of JSON values (Go's `json.Decoder` on it).
struct BodyReader {
    payload: Payload,
    values: Values,
}

/// The part of a [`BodyReader`] that needs no I/O: the body's pieces go in as they
/// arrive, its values come out as they complete.
struct Values {
    /// What arrived and is not yet answered: white space, then the value being read.
    buf: Vec<u8>,
    reader: ValueReader,
    /// The body has ended.
    ended: bool,
    /// The bound on one value.
    value_bytes_max: usize,
}

impl Values {
    fn new(value_bytes_max: usize) -> Values {
        Values {
            buf: Vec::new(),
            reader: ValueReader::new(),
            ended: false,
            value_bytes_max,
        }
    }

    /// The next value's text if what arrived holds all of it; `None` if more of the body
    /// is needed, or if the body ended (`ended`) with no value left.
    fn next(&mut self) -> Result<Option<Vec<u8>>, Refusal> {
        let found = if self.ended {
            self.reader.finish(&self.buf)
        } else {
            self.reader.next(&self.buf)
        };
        if let Some(range) = found.map_err(Refusal::Malformed)? {
            let value = self.buf[range.clone()].to_vec();
            self.buf.drain(..range.end);
            return Ok(Some(value));
        }
        if self.ended {
            return Ok(None);
        }
        let pending = self.reader.pending_len(&self.buf);
        if pending == 0 {
            // Only white space so far: nothing to keep.
            self.buf.clear();
            self.reader = ValueReader::new();
        } else if pending > self.value_bytes_max {
            return Err(Refusal::Failed(Status::resource_exhausted(format!(
                "etcd-rs: a request in the body is over the gateway's bound of {} bytes",
                self.value_bytes_max
            ))));
        }
        Ok(None)
    }
}

impl BodyReader {
    fn new(payload: Payload, value_bytes_max: usize) -> BodyReader {
        BodyReader {
            payload,
            values: Values::new(value_bytes_max),
        }
    }

    /// The next value's text, `None` at the end of the body.
    async fn next_value(&mut self) -> Result<Option<Vec<u8>>, Refusal> {
        loop {
            if let Some(value) = self.values.next()? {
                return Ok(Some(value));
            }
            if self.values.ended {
                return Ok(None);
            }
            match self.payload.next().await {
                Some(Ok(chunk)) => self.values.buf.extend_from_slice(&chunk),
                Some(Err(e)) => {
                    return Err(Refusal::Malformed(format!(
                        "etcd-rs: cannot read the request body: {e}"
                    )));
                }
                None => self.values.ended = true,
            }
        }
    }

    /// The whole body (for a call with one request), within the bound.
    async fn into_bytes(self) -> Result<Bytes, Status> {
        let bytes_max = self.values.value_bytes_max;
        match self.payload.to_bytes_limited(bytes_max).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(e)) => Err(Status::invalid_argument(format!(
                "etcd-rs: cannot read the request body: {e}"
            ))),
            Err(_) => Err(Status::resource_exhausted(format!(
                "etcd-rs: the request body is over the gateway's bound of {bytes_max} bytes"
            ))),
        }
    }
}

/// The requests of a streaming call's body as [`Requests::start`] and [`decode_body`]
/// read them, the body arriving in pieces of the lengths `pieces` gives (cycled; all at
/// once if it is empty): each request as protobuf bytes, until the body ends, or a value
/// is malformed or a request refused (its error last: that ends the requests).
/// For the gateway's fuzz target (see [`super::decode_for_fuzzing`]).
pub(super) fn decode_pieces<M: Message>(
    body: &[u8],
    pieces: &[usize],
    decode: fn(&Fields<'_>) -> Result<M, DecodeError>,
    message_bytes_max: usize,
) -> Vec<Result<Vec<u8>, String>> {
    let refused = |refusal: Refusal| match refusal {
        Refusal::Malformed(e) => Err(e),
        Refusal::Failed(status) => Err(status.message().to_string()),
    };
    let mut values = Values::new(message_bytes_max.saturating_mul(BODY_INFLATION_MAX));
    let mut rest = body;
    let mut sizes = pieces.iter().copied().filter(|&n| n > 0).cycle();
    let mut out = Vec::new();
    loop {
        match values.next() {
            Ok(Some(value)) => match decode_request(&value, decode, message_bytes_max) {
                Ok(message) => out.push(Ok(message.encode_to_vec())),
                Err(refusal) => {
                    out.push(refused(refusal));
                    return out;
                }
            },
            Ok(None) if values.ended => return out,
            Ok(None) if rest.is_empty() => values.ended = true,
            Ok(None) => {
                let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
                values.buf.extend_from_slice(&rest[..n]);
                rest = &rest[n..];
            }
            Err(refusal) => {
                out.push(refused(refusal));
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_error_is_written_as_grpc_gateway_writes_it() {
        let status = Status::resource_exhausted(
            "grpc: received message larger than max (2200010 vs. 2097152)",
        );
        assert_eq!(
            stream_error(&status),
            r#"{"error":{"grpc_code":8,"http_code":429,"message":"grpc: received message larger than max (2200010 vs. 2097152)","http_status":"Too Many Requests"}}"#
        );
    }
}
