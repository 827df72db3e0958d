//! Leases: etcd's `lease` package (`server/lease/lessor.go` in etcd 3.5) as pure logic.
//! No actor, no clock, no storage, no randomness: the Lessor actor, the applier and the
//! gRPC Lease service feed it inputs and carry out what it returns.
//!
//! - [`Lessor`] holds every granted lease ([`Lease`]: id, TTL, checkpointed remaining
//!   TTL), its attached keys, and on the leader its deadline.
//! - [`encode_lease`] / [`decode_lease`] and [`meta_key`] are the stored form: etcd's
//!   `leasepb.Lease` under meta key `lease/` + big-endian id.
//! - [`pick_id`] chooses the id of a grant that asked for id 0.
//! - [`LessorConfig`] and the constants are etcd's: [`min_lease_ttl_secs`],
//!   [`MAX_LEASE_TTL_SECS`], the revoke rate, the checkpoint interval.
//! - [`LeaseError`] carries etcd's messages and gRPC codes.
//!
//! # How a member drives it
//!
//! Time is milliseconds on one monotonic clock per member (`now_ms`), e.g.
//! `start.elapsed().as_millis()`; it MUST NOT go backwards.
//!
//! 1. Start-up: read every meta entry under [`META_PREFIX`] with [`decode_lease_entry`]
//!    (a [`LeaseError::Corrupt`] stops the member), then [`Lessor::restore`] with them and
//!    `MvccStore::take_restored_lease_attachments()`. Do it again after installing a
//!    snapshot.
//! 2. Proposing: a `LeaseGrant` with ID 0 gets [`pick_id`] before it is proposed, so
//!    every member applies the same id. `LeaseRevoke` and `LeaseCheckpoint` are proposed
//!    as they come.
//! 3. Applying, in log order, on every member, in the same atomic batch as the KV
//!    changes and the applied index:
//!    - `LeaseGrant`: [`Lessor::grant`]; store the returned lease at [`meta_key`].
//!    - `LeaseRevoke`: [`Lessor::revoke`]; delete the returned keys in ONE revision
//!      (their DELETE events reach watchers) and delete the meta entry.
//!    - `LeaseCheckpoint`: [`Lessor::checkpoint`] for each; store each returned lease.
//!    - Every put, delete and txn: pass the Lessor as mvcc's
//!      [`LeaseLookup`](crate::mvcc::LeaseLookup), then [`Lessor::apply_lease_changes`] with the
//!      write's lease changes.
//! 4. Leadership: when the member becomes leader and has applied its term's first
//!    (empty) entry, [`Lessor::promote`] with `extend_ms` = the election timeout; when it
//!    stops being leader, [`Lessor::demote`].
//! 5. On the leader, every [`EXPIRY_CHECK_INTERVAL_MS`] (or at
//!    [`Lessor::next_wakeup_ms`]): propose a `LeaseRevoke` for each id of
//!    [`Lessor::expired`] (after checking leadership, as etcd does), and one
//!    `LeaseCheckpoint` request with [`Lessor::checkpoints_due`].
//! 6. Keep-alive and TimeToLive are served by the leader without Raft:
//!    [`Lessor::renew`] (LeaseNotFound and Expired answer TTL 0; a
//!    [`Renewal::clear_checkpoint`] MUST be proposed) and [`Lessor::time_to_live`]
//!    (LeaseNotFound answers TTL -1); a follower forwards both to the leader.
//!    [`Lessor::leases`] is served by any member.
//!
//! A lease's remaining TTL survives a leader change and a restart through checkpoints
//! (issue 4 asks to keep it; etcd 3.4 restarts leases at their full TTL unless
//! `--experimental-enable-lease-checkpoint` is set). A lease shorter than the checkpoint
//! interval is never checkpointed and so restarts at its full TTL, as in etcd.

mod config;
mod error;
mod id;
mod lessor;
mod record;

pub use config::{
    DEFAULT_CHECKPOINT_BATCH_MAX, DEFAULT_CHECKPOINT_INTERVAL_MS, DEFAULT_ELECTION_TICKS,
    DEFAULT_HEARTBEAT_MS, DEFAULT_REVOKE_BATCH_MAX, DEFAULT_REVOKE_RATE_PER_SEC,
    ETCD_RS_CHECKPOINT_INTERVAL_MS, EXPIRY_CHECK_INTERVAL_MS, LessorConfig, MAX_LEASE_TTL_SECS,
    expired_retry_interval_ms, min_lease_ttl_secs,
};
pub use error::{GrpcCode, LeaseError};
pub use id::pick_id;
pub use lessor::{Checkpoint, Lessor, Renewal, TimeToLive};
pub use record::{
    Lease, META_PREFIX, decode_lease, decode_lease_entry, encode_lease, id_of_meta_key, meta_key,
};

#[cfg(test)]
mod lessor_tests;
#[cfg(test)]
mod model_tests;
