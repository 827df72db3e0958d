//! etcd 3.4's rule for learners: a learner serves endpoint status and serializable
//! reads only; every other call answers `etcdserver: rpc not supported for learner`
//! (gRPC Unavailable), so that clients go to another member.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::codegen::http;

use crate::server::handle::MemberHandle;

/// etcd's `ErrGRPCNotSupportedForLearner`.
pub const NOT_SUPPORTED_FOR_LEARNER: &str = "etcdserver: rpc not supported for learner";

/// The gRPC methods a learner serves (Range only when serializable: checked by the KV
/// service, which sees the request).
const SERVED_BY_LEARNERS: &[&str] = &[
    "/etcdserverpb.Maintenance/Status",
    "/etcdserverpb.KV/Range",
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
];

/// The refusal of a call a learner does not serve.
pub fn not_supported() -> tonic::Status {
    tonic::Status::unavailable(NOT_SUPPORTED_FOR_LEARNER)
}

/// Wraps the gRPC routes of `member`'s client port.
pub fn layer<S>(member: MemberHandle) -> impl tower::Layer<S, Service = LearnerGuard<S>> + Clone {
    tower::layer::layer_fn(move |inner| LearnerGuard {
        inner,
        member: member.clone(),
    })
}

/// Refuses, while the member is a learner, the calls a learner does not serve.
#[derive(Clone)]
pub struct LearnerGuard<S> {
    inner: S,
    member: MemberHandle,
}

impl<S, B> tower::Service<http::Request<B>> for LearnerGuard<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if self.member.status().is_learner && !SERVED_BY_LEARNERS.contains(&request.uri().path()) {
            let refused = not_supported().into_http();
            return Box::pin(async move { Ok(refused) });
        }
        Box::pin(self.inner.call(request))
    }
}
