//! The JSON gateway on the client port, as etcd 3.4 serves it (grpc-gateway v1):
//! `POST /v3/kv/range` with `{"key":"Zm9v"}` answers the gRPC call's response as JSON.
//!
//! Each call goes through the same tonic service the gRPC clients use (checks, Raft,
//! errors), so the gateway adds only the JSON mapping and the HTTP framing:
//! - [`scan`]: syntax errors with Go's messages; [`value`]: lazy reading of the body;
//!   [`jsonpb`]: fields as golang/protobuf's jsonpb reads them; [`base64`]: bytes fields.
//! - [`encode`]: responses as jsonpb writes them; [`kv`], [`lease`], [`watch`], [`lock`],
//!   [`election`], [`maintenance`], [`cluster`], [`auth`]: the messages, field by field.
//! - [`stream`]: the streaming calls (Watch, LeaseKeepAlive, Election.Observe,
//!   Snapshot), one JSON line per response.
//!
//! Every call of etcd 3.4's gateway is served; so are two of etcd 3.5's: HashKV (on
//! `/v3/maintenance/hashkv`) and AuthStatus (`/v3/auth/status`), which etcd 3.4 answers
//! 404.
//!
//! Who a call is from: the request's `Authorization` header is its gRPC `authorization`
//! metadata, a `Grpc-Metadata-Token` header its `token` (see [`metadata`]), so a token
//! from `/v3/auth/authenticate` sent as `Authorization: <token>` is checked as a gRPC
//! client's is, streaming calls included (see `tests/gateway_auth.rs`). The calls have
//! no certificate common name, as in etcd: its gateway calls its member with the
//! member's own certificate, whose common name etcd ignores on a call that carries
//! grpc-gateway's `grpcgateway-accept` metadata.
//!
//! What etcd 3.4 answers, and so does this gateway (captured with curl, see
//! `tests/gateway.rs`):
//! - Paths under `/v3/` and `/v3beta/` (the same calls); another method than POST on a
//!   call's path is 405 `Method Not Allowed`; an unknown path under them is 404
//!   `Not Found` (grpc-gateway's words, not Go's "404 page not found"); OPTIONS is 200.
//! - An empty (or white-space) body is an empty request; what follows the first JSON
//!   value is ignored; the Content-Type is not looked at.
//! - A failure is `{"error":M,"message":M,"code":C}` with C the gRPC code and the HTTP
//!   status grpc-gateway v1 maps it to (InvalidArgument and OutOfRange 400,
//!   Unauthenticated 401, PermissionDenied 403, NotFound 404, FailedPrecondition 412,
//!   ResourceExhausted 429, Unavailable 503, ...). So with auth enabled a call without a
//!   token is 400 "etcdserver: user name is empty", with an unknown one 401 "etcdserver:
//!   invalid auth token", and one its user may not make 403 "etcdserver: permission
//!   denied". A body that does not decode is code 3 with Go's `encoding/json` or jsonpb
//!   message.
//!
//! Not reproduced: etcd sends a failure's body chunked with a `Grpc-Trailer-Content-Type`
//! trailer (clients read the same JSON either way), and drops the connection on a
//! `null` element of a repeated message field (read here as an empty message).

mod auth;
mod base64;
mod cluster;
mod election;
mod encode;
mod jsonpb;
mod kv;
mod lease;
mod lock;
mod maintenance;
mod scan;
mod stream;
mod value;
mod watch;

use actix_web::http::header::HeaderMap;
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use prost::Message;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::{Code, Request, Status};

use super::GRPC_OVERHEAD_BYTES;
use super::grpc::auth::AuthService;
use super::grpc::cluster::ClusterService;
use super::grpc::election::ElectionService;
use super::grpc::kv::KvService;
use super::grpc::lease::LeaseService;
use super::grpc::lock::LockService;
use super::grpc::maintenance::MaintenanceService;
use crate::pb::etcdserverpb::{
    auth_server::Auth, cluster_server::Cluster, kv_server::Kv, lease_server::Lease,
    maintenance_server::Maintenance,
};
use crate::pb::v3electionpb::election_server::Election;
use crate::pb::v3lockpb::lock_server::Lock;
use crate::server::handle::MemberHandle;
use jsonpb::{DecodeError, Fields};
use value::Raw;

/// The prefixes etcd 3.4 serves the gateway under (`/v3alpha` is gone since 3.4).
const PREFIXES: [&str; 2] = ["/v3", "/v3beta"];

/// How much longer than the largest gRPC message a body may be: base64 makes bytes 4/3
/// as long, and names and punctuation add a little. A longer body is refused before it
/// is read whole; a shorter one is decoded and then measured as gRPC would measure it.
const BODY_INFLATION_MAX: usize = 2;

/// The calls this gateway serves.
#[derive(Clone, Copy, Debug)]
enum Call {
    Range,
    Put,
    DeleteRange,
    Txn,
    Compact,
    LeaseGrant,
    LeaseRevoke,
    LeaseTimeToLive,
    LeaseLeases,
    Lock,
    Unlock,
    Campaign,
    Proclaim,
    Leader,
    Resign,
    Status,
    Alarm,
    Defragment,
    MoveLeader,
    Hash,
    HashKv,
    MemberList,
    MemberAdd,
    MemberRemove,
    MemberUpdate,
    MemberPromote,
    AuthEnable,
    AuthDisable,
    AuthStatus,
    Authenticate,
    UserAdd,
    UserGet,
    UserList,
    UserDelete,
    UserChangePassword,
    UserGrantRole,
    UserRevokeRole,
    RoleAdd,
    RoleGet,
    RoleList,
    RoleDelete,
    RoleGrantPermission,
    RoleRevokePermission,
}

/// Each call's path under a prefix.
const CALLS: &[(&str, Call)] = &[
    ("/kv/range", Call::Range),
    ("/kv/put", Call::Put),
    ("/kv/deleterange", Call::DeleteRange),
    ("/kv/txn", Call::Txn),
    ("/kv/compaction", Call::Compact),
    // etcd 3.4 serves these lease calls under both paths (but keep-alive only under
    // `/lease/`, and grant not under `/kv/lease/`).
    ("/lease/grant", Call::LeaseGrant),
    ("/lease/revoke", Call::LeaseRevoke),
    ("/kv/lease/revoke", Call::LeaseRevoke),
    ("/lease/timetolive", Call::LeaseTimeToLive),
    ("/kv/lease/timetolive", Call::LeaseTimeToLive),
    ("/lease/leases", Call::LeaseLeases),
    ("/kv/lease/leases", Call::LeaseLeases),
    ("/lock/lock", Call::Lock),
    ("/lock/unlock", Call::Unlock),
    ("/election/campaign", Call::Campaign),
    ("/election/proclaim", Call::Proclaim),
    ("/election/leader", Call::Leader),
    ("/election/resign", Call::Resign),
    ("/maintenance/status", Call::Status),
    ("/maintenance/alarm", Call::Alarm),
    ("/maintenance/defragment", Call::Defragment),
    ("/maintenance/transfer-leadership", Call::MoveLeader),
    // Both Hash and HashKV are declared on this path in etcd 3.4; its gateway answers
    // Hash (and skips a `revision` field, unknown to HashRequest).
    ("/maintenance/hash", Call::Hash),
    // etcd 3.5's path: etcd 3.4 serves HashKV nowhere (404 here).
    ("/maintenance/hashkv", Call::HashKv),
    ("/cluster/member/list", Call::MemberList),
    ("/cluster/member/add", Call::MemberAdd),
    ("/cluster/member/remove", Call::MemberRemove),
    ("/cluster/member/update", Call::MemberUpdate),
    ("/cluster/member/promote", Call::MemberPromote),
    ("/auth/enable", Call::AuthEnable),
    ("/auth/disable", Call::AuthDisable),
    // etcd 3.5's path: etcd 3.4 serves AuthStatus nowhere (404 here).
    ("/auth/status", Call::AuthStatus),
    ("/auth/authenticate", Call::Authenticate),
    ("/auth/user/add", Call::UserAdd),
    ("/auth/user/get", Call::UserGet),
    ("/auth/user/list", Call::UserList),
    ("/auth/user/delete", Call::UserDelete),
    ("/auth/user/changepw", Call::UserChangePassword),
    ("/auth/user/grant", Call::UserGrantRole),
    ("/auth/user/revoke", Call::UserRevokeRole),
    ("/auth/role/add", Call::RoleAdd),
    ("/auth/role/get", Call::RoleGet),
    ("/auth/role/list", Call::RoleList),
    ("/auth/role/delete", Call::RoleDelete),
    ("/auth/role/grant", Call::RoleGrantPermission),
    ("/auth/role/revoke", Call::RoleRevokePermission),
];

/// Registers the gateway's routes on an actix-web app; they all lie under
/// [`PREFIXES`], so the app's own default service stays the answer elsewhere.
pub fn configure(config: &mut web::ServiceConfig) {
    for prefix in PREFIXES {
        for &(path, call) in CALLS {
            config.service(
                web::resource(format!("{prefix}{path}"))
                    .route(web::post().to(
                        move |member: web::Data<MemberHandle>,
                              http: HttpRequest,
                              body: web::Payload| {
                            serve(call, member, metadata(http.headers()), body)
                        },
                    ))
                    .route(web::method(Method::OPTIONS).to(preflight))
                    .default_service(web::to(method_not_allowed)),
            );
        }
        for &(path, call) in stream::STREAM_CALLS {
            config.service(
                web::resource(format!("{prefix}{path}"))
                    .route(web::post().to(
                        move |member: web::Data<MemberHandle>,
                              http: HttpRequest,
                              body: web::Payload| {
                            stream::serve_stream(call, member, metadata(http.headers()), body)
                        },
                    ))
                    .route(web::method(Method::OPTIONS).to(preflight))
                    .default_service(web::to(method_not_allowed)),
            );
        }
        config.service(
            web::resource(format!("{prefix}/{{rest:.*}}"))
                .route(web::method(Method::OPTIONS).to(preflight))
                .default_service(web::to(not_found)),
        );
    }
}

/// The gRPC metadata etcd's gateway makes of a request's headers, as far as etcd's
/// services read it: grpc-gateway v1's `AnnotateContext` passes `Authorization` on as
/// `authorization`, and every `Grpc-Metadata-K` header as `k` (so
/// `Grpc-Metadata-Token` as `token`, which etcd reads before `authorization`). Of a
/// header sent twice, the first value counts, as etcd reads the first.
fn metadata(headers: &HeaderMap) -> MetadataMap {
    const PASSED_ON: [(&str, &str); 3] = [
        ("authorization", "authorization"),
        ("grpc-metadata-authorization", "authorization"),
        ("grpc-metadata-token", "token"),
    ];
    let mut metadata = MetadataMap::new();
    for (header, key) in PASSED_ON {
        if metadata.contains_key(key) {
            continue;
        }
        // An HTTP header value is always a valid metadata value: both are `http`'s
        // `HeaderValue` (one that is not text is an invalid token to the services).
        if let Some(value) = headers
            .get(header)
            .and_then(|v| AsciiMetadataValue::try_from(v.as_bytes()).ok())
        {
            metadata.insert(key, value);
        }
    }
    metadata
}

/// Reads the body, decodes the request, calls the service (as the client `metadata`
/// names), writes the answer.
async fn serve(
    call: Call,
    member: web::Data<MemberHandle>,
    metadata: MetadataMap,
    body: web::Payload,
) -> HttpResponse {
    let member = member.get_ref().clone();
    let message_bytes_max = member.limits.max_request_bytes + GRPC_OVERHEAD_BYTES;
    let body_bytes_max = message_bytes_max.saturating_mul(BODY_INFLATION_MAX);
    let body = match body.to_bytes_limited(body_bytes_max).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            return failure(&Status::invalid_argument(format!(
                "etcd-rs: cannot read the request body: {e}"
            )));
        }
        Err(_) => {
            return failure(&Status::resource_exhausted(format!(
                "etcd-rs: the request body is over the gateway's bound of {body_bytes_max} bytes"
            )));
        }
    };
    match answer(call, &member, &metadata, &body, message_bytes_max).await {
        Ok(json) => cors(&mut HttpResponse::Ok())
            .content_type("application/json")
            .insert_header(("Grpc-Metadata-Content-Type", "application/grpc"))
            .body(json),
        Err(status) => failure(&status),
    }
}

/// The call's response as JSON, or the status it failed with; `max` is the largest
/// message the gRPC server takes.
async fn answer(
    call: Call,
    member: &MemberHandle,
    metadata: &MetadataMap,
    body: &[u8],
    max: usize,
) -> Result<String, Status> {
    let fields = request_fields(body).map_err(Status::invalid_argument)?;
    // etcd's gateway calls its member's gRPC port, which refuses a learner's calls
    // (Range checks itself: a serializable one is served).
    if !matches!(call, Call::Range | Call::Status) && member.status().is_learner {
        return Err(super::learner::not_supported());
    }
    match call {
        Call::Range => {
            let r = request(kv::range_request(&fields), max, metadata)?;
            let response = KvService::new(member.clone()).range(r).await?;
            Ok(kv::range_response(response.get_ref()))
        }
        Call::Put => {
            let r = request(kv::put_request(&fields), max, metadata)?;
            let response = KvService::new(member.clone()).put(r).await?;
            Ok(kv::put_response(response.get_ref()))
        }
        Call::DeleteRange => {
            let r = request(kv::delete_range_request(&fields), max, metadata)?;
            let response = KvService::new(member.clone()).delete_range(r).await?;
            Ok(kv::delete_range_response(response.get_ref()))
        }
        Call::Txn => {
            let r = request(kv::txn_request(&fields), max, metadata)?;
            let response = KvService::new(member.clone()).txn(r).await?;
            Ok(kv::txn_response(response.get_ref()))
        }
        Call::Compact => {
            let r = request(kv::compaction_request(&fields), max, metadata)?;
            let response = KvService::new(member.clone()).compact(r).await?;
            Ok(kv::compaction_response(response.get_ref()))
        }
        Call::LeaseGrant => {
            let r = request(lease::grant_request(&fields), max, metadata)?;
            let response = LeaseService::new(member.clone()).lease_grant(r).await?;
            Ok(lease::grant_response(response.get_ref()))
        }
        Call::LeaseRevoke => {
            let r = request(lease::revoke_request(&fields), max, metadata)?;
            let response = LeaseService::new(member.clone()).lease_revoke(r).await?;
            Ok(lease::revoke_response(response.get_ref()))
        }
        Call::LeaseTimeToLive => {
            let r = request(lease::time_to_live_request(&fields), max, metadata)?;
            let service = LeaseService::new(member.clone());
            let response = service.lease_time_to_live(r).await?;
            Ok(lease::time_to_live_response(response.get_ref()))
        }
        Call::LeaseLeases => {
            let r = request(lease::leases_request(&fields), max, metadata)?;
            let response = LeaseService::new(member.clone()).lease_leases(r).await?;
            Ok(lease::leases_response(response.get_ref()))
        }
        Call::Lock => {
            let r = request(lock::lock_request(&fields), max, metadata)?;
            let response = LockService::new(member.clone()).lock(r).await?;
            Ok(lock::lock_response(response.get_ref()))
        }
        Call::Unlock => {
            let r = request(lock::unlock_request(&fields), max, metadata)?;
            let response = LockService::new(member.clone()).unlock(r).await?;
            Ok(lock::unlock_response(response.get_ref()))
        }
        Call::Campaign => {
            let r = request(election::campaign_request(&fields), max, metadata)?;
            let response = ElectionService::new(member.clone()).campaign(r).await?;
            Ok(election::campaign_response(response.get_ref()))
        }
        Call::Proclaim => {
            let r = request(election::proclaim_request(&fields), max, metadata)?;
            let response = ElectionService::new(member.clone()).proclaim(r).await?;
            Ok(election::proclaim_response(response.get_ref()))
        }
        Call::Leader => {
            let r = request(election::leader_request(&fields), max, metadata)?;
            let response = ElectionService::new(member.clone()).leader(r).await?;
            Ok(election::leader_response(response.get_ref()))
        }
        Call::Resign => {
            let r = request(election::resign_request(&fields), max, metadata)?;
            let response = ElectionService::new(member.clone()).resign(r).await?;
            Ok(election::resign_response(response.get_ref()))
        }
        Call::Status => {
            let r = request(maintenance::status_request(&fields), max, metadata)?;
            let response = MaintenanceService::new(member.clone()).status(r).await?;
            Ok(maintenance::status_response(response.get_ref()))
        }
        Call::Alarm => {
            let r = request(maintenance::alarm_request(&fields), max, metadata)?;
            let response = MaintenanceService::new(member.clone()).alarm(r).await?;
            Ok(maintenance::alarm_response(response.get_ref()))
        }
        Call::Defragment => {
            let r = request(maintenance::defragment_request(&fields), max, metadata)?;
            let response = MaintenanceService::new(member.clone())
                .defragment(r)
                .await?;
            Ok(maintenance::defragment_response(response.get_ref()))
        }
        Call::MoveLeader => {
            let r = request(maintenance::move_leader_request(&fields), max, metadata)?;
            let response = MaintenanceService::new(member.clone())
                .move_leader(r)
                .await?;
            Ok(maintenance::move_leader_response(response.get_ref()))
        }
        Call::Hash => {
            let r = request(maintenance::hash_request(&fields), max, metadata)?;
            let response = MaintenanceService::new(member.clone()).hash(r).await?;
            Ok(maintenance::hash_response(response.get_ref()))
        }
        Call::HashKv => {
            let r = request(maintenance::hash_kv_request(&fields), max, metadata)?;
            let response = MaintenanceService::new(member.clone()).hash_kv(r).await?;
            Ok(maintenance::hash_kv_response(response.get_ref()))
        }
        Call::MemberList => {
            let r = request(cluster::member_list_request(&fields), max, metadata)?;
            let response = ClusterService::new(member.clone()).member_list(r).await?;
            Ok(cluster::member_list_response(response.get_ref()))
        }
        Call::MemberAdd => {
            let r = request(cluster::member_add_request(&fields), max, metadata)?;
            let response = ClusterService::new(member.clone()).member_add(r).await?;
            Ok(cluster::member_add_response(response.get_ref()))
        }
        Call::MemberRemove => {
            let r = request(cluster::member_remove_request(&fields), max, metadata)?;
            let response = ClusterService::new(member.clone()).member_remove(r).await?;
            Ok(cluster::member_remove_response(response.get_ref()))
        }
        Call::MemberUpdate => {
            let r = request(cluster::member_update_request(&fields), max, metadata)?;
            let response = ClusterService::new(member.clone()).member_update(r).await?;
            Ok(cluster::member_update_response(response.get_ref()))
        }
        Call::MemberPromote => {
            let r = request(cluster::member_promote_request(&fields), max, metadata)?;
            let response = ClusterService::new(member.clone())
                .member_promote(r)
                .await?;
            Ok(cluster::member_promote_response(response.get_ref()))
        }
        Call::AuthEnable => {
            let r = request(auth::enable_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).auth_enable(r).await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::AuthDisable => {
            let r = request(auth::disable_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).auth_disable(r).await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::AuthStatus => {
            let r = request(auth::status_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).auth_status(r).await?;
            Ok(auth::status_response(response.get_ref()))
        }
        Call::Authenticate => {
            let r = request(auth::authenticate_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).authenticate(r).await?;
            Ok(auth::authenticate_response(response.get_ref()))
        }
        Call::UserAdd => {
            let r = request(auth::user_add_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).user_add(r).await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::UserGet => {
            let r = request(auth::user_get_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).user_get(r).await?;
            Ok(auth::user_get_response(response.get_ref()))
        }
        Call::UserList => {
            let r = request(auth::user_list_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).user_list(r).await?;
            Ok(auth::user_list_response(response.get_ref()))
        }
        Call::UserDelete => {
            let r = request(auth::user_delete_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).user_delete(r).await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::UserChangePassword => {
            let r = request(auth::user_change_password_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone())
                .user_change_password(r)
                .await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::UserGrantRole => {
            let r = request(auth::user_grant_role_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).user_grant_role(r).await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::UserRevokeRole => {
            let r = request(auth::user_revoke_role_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).user_revoke_role(r).await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::RoleAdd => {
            let r = request(auth::role_add_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).role_add(r).await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::RoleGet => {
            let r = request(auth::role_get_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).role_get(r).await?;
            Ok(auth::role_get_response(response.get_ref()))
        }
        Call::RoleList => {
            let r = request(auth::role_list_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).role_list(r).await?;
            Ok(auth::role_list_response(response.get_ref()))
        }
        Call::RoleDelete => {
            let r = request(auth::role_delete_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone()).role_delete(r).await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::RoleGrantPermission => {
            let r = request(auth::role_grant_permission_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone())
                .role_grant_permission(r)
                .await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
        Call::RoleRevokePermission => {
            let r = request(auth::role_revoke_permission_request(&fields), max, metadata)?;
            let response = AuthService::new(member.clone())
                .role_revoke_permission(r)
                .await?;
            Ok(auth::header_response(response.get_ref().header.as_ref()))
        }
    }
}

/// The body's top-level message, read as grpc-gateway reads it: an empty body or
/// `null` is an empty message.
fn request_fields(body: &[u8]) -> Result<Fields<'_>, DecodeError> {
    match scan::first_value(body)? {
        None => Ok(Fields::empty()),
        Some(at) => Ok(Fields::of(Raw::new(&body[at..]))?.unwrap_or_else(Fields::empty)),
    }
}

/// A decoded request as a tonic request carrying `metadata` (see [`metadata`]):
/// refused as etcd's gRPC server refuses a message over its limit (etcd's gateway is a
/// gRPC client of its own member).
fn request<M: Message>(
    decoded: Result<M, DecodeError>,
    message_bytes_max: usize,
    metadata: &MetadataMap,
) -> Result<Request<M>, Status> {
    let message = decoded.map_err(Status::invalid_argument)?;
    let len = message.encoded_len();
    if len > message_bytes_max {
        return Err(Status::resource_exhausted(format!(
            "grpc: received message larger than max ({len} vs. {message_bytes_max})"
        )));
    }
    let mut request = Request::new(message);
    *request.metadata_mut() = metadata.clone();
    Ok(request)
}

/// What the gateway makes of a request body before it calls a service, for the fuzz
/// target `fuzz/fuzz_targets/gateway_json.rs` (not an API): for every call, its path
/// (under `/v3`) and the request the service would get, as protobuf bytes, or the
/// message of the error the call would answer. The unary calls, Election.Observe and
/// Maintenance.Snapshot read the body's first value, as [`configure`]'s handlers do;
/// Watch and LeaseKeepAlive read it as a sequence of values, arriving in pieces of the
/// lengths `pieces` gives, and have one entry per request (see `stream::decode_pieces`).
/// `message_bytes_max` is the largest message the gRPC server takes.
#[doc(hidden)]
pub fn decode_for_fuzzing(
    body: &[u8],
    pieces: &[usize],
    message_bytes_max: usize,
) -> Vec<(&'static str, Result<Vec<u8>, String>)> {
    fn encoded<M: Message>(decoded: Result<M, DecodeError>, max: usize) -> Result<Vec<u8>, String> {
        request(decoded, max, &MetadataMap::new())
            .map(|r| r.into_inner().encode_to_vec())
            .map_err(|status| status.message().to_string())
    }
    let max = message_bytes_max;
    let mut out = Vec::new();
    match request_fields(body) {
        Err(e) => out.push(("", Err(e))),
        Ok(f) => {
            for &(path, call) in CALLS {
                let request = match call {
                    Call::Range => encoded(kv::range_request(&f), max),
                    Call::Put => encoded(kv::put_request(&f), max),
                    Call::DeleteRange => encoded(kv::delete_range_request(&f), max),
                    Call::Txn => encoded(kv::txn_request(&f), max),
                    Call::Compact => encoded(kv::compaction_request(&f), max),
                    Call::LeaseGrant => encoded(lease::grant_request(&f), max),
                    Call::LeaseRevoke => encoded(lease::revoke_request(&f), max),
                    Call::LeaseTimeToLive => encoded(lease::time_to_live_request(&f), max),
                    Call::LeaseLeases => encoded(lease::leases_request(&f), max),
                    Call::Lock => encoded(lock::lock_request(&f), max),
                    Call::Unlock => encoded(lock::unlock_request(&f), max),
                    Call::Campaign => encoded(election::campaign_request(&f), max),
                    Call::Proclaim => encoded(election::proclaim_request(&f), max),
                    Call::Leader => encoded(election::leader_request(&f), max),
                    Call::Resign => encoded(election::resign_request(&f), max),
                    Call::Status => encoded(maintenance::status_request(&f), max),
                    Call::Alarm => encoded(maintenance::alarm_request(&f), max),
                    Call::Defragment => encoded(maintenance::defragment_request(&f), max),
                    Call::MoveLeader => encoded(maintenance::move_leader_request(&f), max),
                    Call::Hash => encoded(maintenance::hash_request(&f), max),
                    Call::HashKv => encoded(maintenance::hash_kv_request(&f), max),
                    Call::MemberList => encoded(cluster::member_list_request(&f), max),
                    Call::MemberAdd => encoded(cluster::member_add_request(&f), max),
                    Call::MemberRemove => encoded(cluster::member_remove_request(&f), max),
                    Call::MemberUpdate => encoded(cluster::member_update_request(&f), max),
                    Call::MemberPromote => encoded(cluster::member_promote_request(&f), max),
                    Call::AuthEnable => encoded(auth::enable_request(&f), max),
                    Call::AuthDisable => encoded(auth::disable_request(&f), max),
                    Call::AuthStatus => encoded(auth::status_request(&f), max),
                    Call::Authenticate => encoded(auth::authenticate_request(&f), max),
                    Call::UserAdd => encoded(auth::user_add_request(&f), max),
                    Call::UserGet => encoded(auth::user_get_request(&f), max),
                    Call::UserList => encoded(auth::user_list_request(&f), max),
                    Call::UserDelete => encoded(auth::user_delete_request(&f), max),
                    Call::UserChangePassword => {
                        encoded(auth::user_change_password_request(&f), max)
                    }
                    Call::UserGrantRole => encoded(auth::user_grant_role_request(&f), max),
                    Call::UserRevokeRole => encoded(auth::user_revoke_role_request(&f), max),
                    Call::RoleAdd => encoded(auth::role_add_request(&f), max),
                    Call::RoleGet => encoded(auth::role_get_request(&f), max),
                    Call::RoleList => encoded(auth::role_list_request(&f), max),
                    Call::RoleDelete => encoded(auth::role_delete_request(&f), max),
                    Call::RoleGrantPermission => {
                        encoded(auth::role_grant_permission_request(&f), max)
                    }
                    Call::RoleRevokePermission => {
                        encoded(auth::role_revoke_permission_request(&f), max)
                    }
                };
                out.push((path, request));
            }
            out.push((
                "/election/observe",
                encoded(election::leader_request(&f), max),
            ));
            out.push((
                "/maintenance/snapshot",
                encoded(maintenance::snapshot_request(&f), max),
            ));
        }
    }
    for request in stream::decode_pieces(body, pieces, watch::watch_request, max) {
        out.push(("/watch", request));
    }
    for request in stream::decode_pieces(body, pieces, lease::keep_alive_request, max) {
        out.push(("/lease/keepalive", request));
    }
    out
}

/// grpc-gateway v1's `HTTPStatusFromCode`.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A failed call as grpc-gateway v1 answers it.
fn failure(status: &Status) -> HttpResponse {
    let message = encode::go_string(status.message());
    let body = encode::Object::new()
        .raw("error", &message)
        .raw("message", &message)
        .raw("code", &(status.code() as i32).to_string())
        .finish();
    cors(&mut HttpResponse::build(http_status(status.code())))
        .content_type("application/json")
        .body(body)
}

/// etcd's CORS headers, on every answer of its client port.
fn cors(response: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    response
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .insert_header((
            "Access-Control-Allow-Methods",
            "POST, GET, OPTIONS, PUT, DELETE",
        ))
        .insert_header((
            "Access-Control-Allow-Headers",
            "accept, content-type, authorization",
        ))
}

/// A plain-text answer as Go's `http.Error` writes it.
fn text_error(status: StatusCode) -> HttpResponse {
    let reason = status.canonical_reason().unwrap_or("Error");
    cors(&mut HttpResponse::build(status))
        .content_type("text/plain; charset=utf-8")
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(format!("{reason}\n"))
}

async fn preflight() -> HttpResponse {
    cors(&mut HttpResponse::Ok()).finish()
}

async fn method_not_allowed() -> HttpResponse {
    text_error(StatusCode::METHOD_NOT_ALLOWED)
}

async fn not_found() -> HttpResponse {
    text_error(StatusCode::NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_null_bodies_are_empty_requests() {
        for body in [&b""[..], b" \n", b"null", b"{}"] {
            let fields = request_fields(body).unwrap();
            assert_eq!(kv::range_request(&fields).unwrap(), Default::default());
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused_as_etcd_does() {
        let error = |body: &[u8]| request_fields(body).err();
        assert_eq!(
            error(b"[1]").as_deref(),
            Some("json: cannot unmarshal array into Go value of type map[string]json.RawMessage")
        );
        assert_eq!(error(br#"{"key":"#).as_deref(), Some("unexpected EOF"));
    }

    /// Every body decodes to a request or an error, never a panic: bodies made by
    /// cutting, dropping and replacing bytes of valid ones (a fixed-seed xorshift, so a
    /// failure reproduces).
    #[test]
    fn mangled_bodies_never_panic() {
        const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
        const ROUNDS: usize = 20_000;
        let samples: &[&[u8]] = &[
            br#"{"key":"Zm9v","range_end":"Zm9w","limit":"1","sort_order":"DESCEND","keys_only":true}"#,
            br#"{"compare":[{"key":"YQ==","target":"MOD","result":"GREATER","mod_revision":"1"}],"success":[{"requestTxn":{"success":[{"requestPut":{"key":"eA==","value":"eQ=="}}]}}],"failure":[{"request_range":{"key":[1,2]}}]}"#,
            br#"{"key":"YQ=\u003d","value":"\ud83d\ude00","lease":null,"prev_kv":false}"#,
            br#"{"create_request":{"key":"d2s=","watch_id":"7","filters":["NODELETE",0]},"cancel_request":{"watch_id":1}}"#,
            br#"{"leader":{"name":"ZWw=","key":"ZWwvM2U4","rev":"2","lease":1000},"value":"djI=","ID":"5","TTL":60}"#,
            br#"{"ID":"18446744073709551615","peerURLs":["http://a:1",null,"\u00e9"],"isLearner":true,"action":"ACTIVATE","memberID":7,"alarm":"NOSPACE"}"#,
        ];
        let bytes: &[u8] = b"{}[]\",:\\u0123456789.eE+-tfnYQ= \n\xff";
        let mut state = SEED;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let (mut decoded, mut refused) = (0, 0);
        for _ in 0..ROUNDS {
            let mut body = samples[next() % samples.len()].to_vec();
            for _ in 0..1 + next() % 4 {
                let at = next() % (body.len() + 1);
                match next() % 3 {
                    0 => body.truncate(at),
                    1 if at < body.len() => {
                        body.remove(at);
                    }
                    _ => body.insert(at, bytes[next() % bytes.len()]),
                }
            }
            let Ok(fields) = request_fields(&body) else {
                refused += 1;
                continue;
            };
            let results = [
                kv::range_request(&fields).is_ok(),
                kv::put_request(&fields).is_ok(),
                kv::txn_request(&fields).is_ok(),
                watch::watch_request(&fields).is_ok(),
                election::proclaim_request(&fields).is_ok(),
                lease::grant_request(&fields).is_ok(),
                cluster::member_update_request(&fields).is_ok(),
                cluster::member_add_request(&fields).is_ok(),
                maintenance::alarm_request(&fields).is_ok(),
            ];
            if results.contains(&true) {
                decoded += 1;
            } else {
                refused += 1;
            }
        }
        // Both paths were taken often enough to mean something.
        assert!(
            decoded > ROUNDS / 10 && refused > ROUNDS / 10,
            "{decoded} {refused}"
        );
    }

    #[test]
    fn the_authorization_header_and_a_metadata_token_become_the_calls_metadata() {
        use actix_web::http::header::{HeaderName, HeaderValue};
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for &(name, value) in pairs {
                map.append(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            map
        };
        let get = |m: &MetadataMap, key: &str| m.get(key).map(|v| v.to_str().unwrap().to_owned());
        let m = metadata(&headers(&[
            ("authorization", "abc.12"),
            ("content-type", "x"),
        ]));
        assert_eq!(get(&m, "authorization").as_deref(), Some("abc.12"));
        assert_eq!((m.len(), get(&m, "token")), (1, None));
        // The first of repeated headers; `Authorization` before its prefixed form.
        let m = metadata(&headers(&[
            ("grpc-metadata-authorization", "c"),
            ("authorization", "a"),
            ("authorization", "b"),
            ("grpc-metadata-token", "t"),
        ]));
        assert_eq!(get(&m, "authorization").as_deref(), Some("a"));
        assert_eq!(get(&m, "token").as_deref(), Some("t"));
        // The services read it as they read a gRPC client's.
        let request = request(
            Ok(crate::pb::etcdserverpb::RangeRequest::default()),
            100,
            &m,
        );
        let credentials = super::super::grpc::auth::Credentials::of(&request.unwrap());
        assert_eq!(credentials.token.as_deref(), Some("t"));
        assert!(metadata(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn a_message_over_the_limit_is_refused_as_grpc_does() {
        let put = crate::pb::etcdserverpb::PutRequest {
            key: b"k".to_vec(),
            value: vec![b'x'; 100],
            ..Default::default()
        };
        let status = request(Ok(put), 50, &MetadataMap::new()).unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "grpc: received message larger than max (105 vs. 50)"
        );
    }
}
