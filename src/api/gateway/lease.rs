//! The Lease service's messages as JSON. Its fields are named `ID` and `TTL` in the
//! proto, and so in JSON (`{"TTL":60}`; `ttl` is an unknown field).

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use super::kv::header;
use crate::pb::etcdserverpb as pb;

/// A `LeaseGrantRequest`.
pub fn grant_request(f: &Fields<'_>) -> Result<pb::LeaseGrantRequest, DecodeError> {
    Ok(pb::LeaseGrantRequest {
        ttl: f.int64("TTL", "TTL")?,
        id: f.int64("ID", "ID")?,
    })
}

/// A `LeaseGrantResponse`.
pub fn grant_response(r: &pb::LeaseGrantResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .int64("ID", r.id)
        .int64("TTL", r.ttl)
        .string("error", &r.error)
        .finish()
}

/// A `LeaseRevokeRequest`.
pub fn revoke_request(f: &Fields<'_>) -> Result<pb::LeaseRevokeRequest, DecodeError> {
    Ok(pb::LeaseRevokeRequest {
        id: f.int64("ID", "ID")?,
    })
}

/// A `LeaseRevokeResponse`.
pub fn revoke_response(r: &pb::LeaseRevokeResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .finish()
}

/// A `LeaseKeepAliveRequest` (one message of the stream).
pub fn keep_alive_request(f: &Fields<'_>) -> Result<pb::LeaseKeepAliveRequest, DecodeError> {
    Ok(pb::LeaseKeepAliveRequest {
        id: f.int64("ID", "ID")?,
    })
}

/// A `LeaseKeepAliveResponse`.
pub fn keep_alive_response(r: &pb::LeaseKeepAliveResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .int64("ID", r.id)
        .int64("TTL", r.ttl)
        .finish()
}

/// A `LeaseTimeToLiveRequest`.
pub fn time_to_live_request(f: &Fields<'_>) -> Result<pb::LeaseTimeToLiveRequest, DecodeError> {
    Ok(pb::LeaseTimeToLiveRequest {
        id: f.int64("ID", "ID")?,
        keys: f.boolean("keys", "keys")?,
    })
}

/// A `LeaseTimeToLiveResponse`.
pub fn time_to_live_response(r: &pb::LeaseTimeToLiveResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .int64("ID", r.id)
        .int64("TTL", r.ttl)
        .int64("grantedTTL", r.granted_ttl)
        .bytes_array("keys", &r.keys)
        .finish()
}

/// A `LeaseLeasesRequest`: no fields, but the body must still be well-formed.
pub fn leases_request(_: &Fields<'_>) -> Result<pb::LeaseLeasesRequest, DecodeError> {
    Ok(pb::LeaseLeasesRequest {})
}

/// A `LeaseLeasesResponse`.
pub fn leases_response(r: &pb::LeaseLeasesResponse) -> String {
    let leases = r
        .leases
        .iter()
        .map(|l| Object::new().int64("ID", l.id).finish())
        .collect();
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .array("leases", leases)
        .finish()
}
