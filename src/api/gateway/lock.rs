//! The Lock service's (v3lockpb) messages as JSON.

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use super::kv::header;
use crate::pb::v3lockpb as lockpb;

/// A `LockRequest`.
pub fn lock_request(f: &Fields<'_>) -> Result<lockpb::LockRequest, DecodeError> {
    Ok(lockpb::LockRequest {
        name: f.bytes("name", "name")?,
        lease: f.int64("lease", "lease")?,
    })
}

/// A `LockResponse`.
pub fn lock_response(r: &lockpb::LockResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .bytes("key", &r.key)
        .finish()
}

/// An `UnlockRequest`.
pub fn unlock_request(f: &Fields<'_>) -> Result<lockpb::UnlockRequest, DecodeError> {
    Ok(lockpb::UnlockRequest {
        key: f.bytes("key", "key")?,
    })
}

/// An `UnlockResponse`.
pub fn unlock_response(r: &lockpb::UnlockResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .finish()
}
