//! The Election service's (v3electionpb) messages as JSON.

use super::encode::Object;
use super::jsonpb::{DecodeError, Fields};
use super::kv::{header, key_value};
use crate::pb::v3electionpb as epb;

/// A `CampaignRequest`.
pub fn campaign_request(f: &Fields<'_>) -> Result<epb::CampaignRequest, DecodeError> {
    Ok(epb::CampaignRequest {
        name: f.bytes("name", "name")?,
        lease: f.int64("lease", "lease")?,
        value: f.bytes("value", "value")?,
    })
}

/// A `CampaignResponse`.
pub fn campaign_response(r: &epb::CampaignResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .message("leader", r.leader.as_ref().map(leader_key))
        .finish()
}

fn read_leader_key(f: &Fields<'_>) -> Result<epb::LeaderKey, DecodeError> {
    Ok(epb::LeaderKey {
        name: f.bytes("name", "name")?,
        key: f.bytes("key", "key")?,
        rev: f.int64("rev", "rev")?,
        lease: f.int64("lease", "lease")?,
    })
}

fn leader_key(k: &epb::LeaderKey) -> String {
    Object::new()
        .bytes("name", &k.name)
        .bytes("key", &k.key)
        .int64("rev", k.rev)
        .int64("lease", k.lease)
        .finish()
}

/// A `ProclaimRequest`.
pub fn proclaim_request(f: &Fields<'_>) -> Result<epb::ProclaimRequest, DecodeError> {
    Ok(epb::ProclaimRequest {
        leader: f.message("leader", "leader", |f| read_leader_key(&f))?,
        value: f.bytes("value", "value")?,
    })
}

/// A `ProclaimResponse`.
pub fn proclaim_response(r: &epb::ProclaimResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .finish()
}

/// A `LeaderRequest` (of Leader and of Observe).
pub fn leader_request(f: &Fields<'_>) -> Result<epb::LeaderRequest, DecodeError> {
    Ok(epb::LeaderRequest {
        name: f.bytes("name", "name")?,
    })
}

/// A `LeaderResponse` (of Leader, and each message of Observe).
pub fn leader_response(r: &epb::LeaderResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .message("kv", r.kv.as_ref().map(key_value))
        .finish()
}

/// A `ResignRequest`.
pub fn resign_request(f: &Fields<'_>) -> Result<epb::ResignRequest, DecodeError> {
    Ok(epb::ResignRequest {
        leader: f.message("leader", "leader", |f| read_leader_key(&f))?,
    })
}

/// A `ResignResponse`.
pub fn resign_response(r: &epb::ResignResponse) -> String {
    Object::new()
        .message("header", r.header.as_ref().map(header))
        .finish()
}
